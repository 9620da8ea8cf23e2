//! The `main` of the tools that talk to libvirt (dom-define, dom-create,
//! dom-wait-shutdown, domxml-gen for `-c`): `cli`'s, plus what only they have, the
//! library's version in `--version` and the hidden `--complete-domains`. Kept apart from
//! `cli::main` so that the XML tools never reach a libvirt call and do not link libvirt.

use std::io::{Read, Write};
use std::sync::OnceLock;

use clap::{CommandFactory, FromArgMatches};

use crate::cli;
use crate::complete;
use crate::error::{Result, exit};
use crate::libvirt::connect;

/// What `--version` prints after the tool's name: domkit's version and the libvirt library
/// in use, as `virsh version` reports it. virGetVersion reads the library loaded into this
/// process: it connects to no daemon.
pub fn version_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let library = match virt::connect::Connect::version() {
            Ok(v) => format!("{}.{}.{}", v / 1_000_000, v / 1000 % 1000, v % 1000),
            Err(_) => "unknown".to_string(),
        };
        format!(
            "{}\nUsing library: libvirt {library}",
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// Runs a libvirt tool as `cli::main` runs any tool, after answering `--complete-domains`.
pub fn main<A, F>(name: &'static str, run: F) -> !
where
    A: CommandFactory + FromArgMatches,
    F: FnOnce(A, &mut dyn Read, &mut dyn Write) -> Result<()>,
{
    main_with_owned_stdin(name, |args, mut stdin: cli::Stdin, out| {
        run(args, &mut stdin, out)
    })
}

/// `main` for a tool that owns its stdin (`cli::Stdin`): dom-wait-shutdown reads records
/// on a thread of its own while it waits.
pub fn main_with_owned_stdin<A, F>(name: &'static str, run: F) -> !
where
    A: CommandFactory + FromArgMatches,
    F: FnOnce(A, cli::Stdin, &mut dyn Write) -> Result<()>,
{
    let command = cli::command::<A>(name).version(version_text());
    let matches = complete::with_flag(command).get_matches();
    if let Some(uri) = complete::asked(&matches) {
        complete::print_domain_names(uri);
        connect::exit(exit::OK);
    }
    connect::exit(cli::outcome(name, &matches, |args, out| {
        run(args, Box::new(std::io::stdin()), out)
    }))
}
