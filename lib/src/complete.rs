//! The libvirt tools' hidden completion mode, `--complete-domains`: the shell completions
//! (completions/) call the tool itself for the domain names of a connection, as virsh's
//! bash completion calls `virsh complete`.

use std::sync::mpsc;
use std::time::Duration;

use virt::connect::Connect;

/// The hidden flag's name (its clap id too).
pub const FLAG: &str = "complete-domains";

/// Longest a completion may wait for the daemon: a shell must not hang on a <TAB>.
const DEADLINE: Duration = Duration::from_secs(3);

/// `command` with the hidden `--complete-domains` flag when it is a libvirt tool (one with
/// `--connect`). Only the running tool gets it: man pages, --help and the generated
/// completions are made from `cli::command` and stay without it (clap_complete would offer
/// a hidden flag).
pub fn with_flag(command: clap::Command) -> clap::Command {
    if !command.get_arguments().any(|a| a.get_id() == "connect") {
        return command;
    }
    command.arg(
        clap::Arg::new(FLAG)
            .long(FLAG)
            .action(clap::ArgAction::SetTrue)
            .hide(true)
            .help("Print the names of the connection's domains, one per line, for completion"),
    )
}

/// When the flag was given: `Some(the -c URI, if any)`.
pub fn asked(matches: &clap::ArgMatches) -> Option<Option<&str>> {
    let given = matches
        .try_get_one::<bool>(FLAG)
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false);
    given.then(|| matches.get_one::<String>("connect").map(String::as_str))
}

/// Prints [`domain_names`] one per line; a closed stdout is ignored, as a completion never
/// reports errors.
pub fn print_domain_names(uri: Option<&str>) {
    let text: String = domain_names(uri).iter().map(|n| format!("{n}\n")).collect();
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
}

/// The names of every domain on `uri` (None: libvirt's default, which honours
/// `LIBVIRT_DEFAULT_URI`), sorted; empty when the daemon cannot be reached within the
/// deadline or fails in any way. Read-only and without an authentication callback, so it
/// never prompts; libvirt's own error printing is off, so it prints nothing.
pub fn domain_names(uri: Option<&str>) -> Vec<String> {
    let uri = uri.map(str::to_string);
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("complete-domains".into())
        .spawn(move || {
            virt::error::clear_error_callback();
            let names: Vec<String> = Connect::open_read_only(uri.as_deref())
                .ok()
                .and_then(|conn| conn.list_all_domains(0).ok())
                .map(|domains| domains.iter().filter_map(|d| d.name().ok()).collect())
                .unwrap_or_default();
            let _ = tx.send(names);
        });
    if spawned.is_err() {
        return Vec::new();
    }
    // A daemon that does not answer in time leaves the thread behind; the process exits.
    let mut names = rx.recv_timeout(DEADLINE).unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_libvirt_tools_get_the_hidden_flag() {
        use clap::CommandFactory;
        let create = with_flag(crate::cli::command::<crate::tools::create::Args>(
            "dom-create",
        ));
        create.clone().debug_assert();
        let m = create
            .clone()
            .try_get_matches_from(["dom-create", "--complete-domains", "-c", "test:///default"])
            .unwrap();
        assert_eq!(asked(&m), Some(Some("test:///default")));
        let m = create.try_get_matches_from(["dom-create", "vm1"]).unwrap();
        assert_eq!(asked(&m), None);
        let gen_ = with_flag(crate::tools::generate::Args::command());
        assert!(gen_.get_arguments().all(|a| a.get_id() != FLAG));
    }

    #[test]
    fn names_come_from_the_connection_and_nothing_from_an_unreachable_one() {
        // A fresh test driver has its stock domain "test" (other tests may add more).
        assert!(domain_names(Some("test:///default")).contains(&"test".to_string()));
        let none = domain_names(Some("qemu+unix:///session?socket=/nonexistent/sock"));
        assert_eq!(none, Vec::<String>::new());
    }
}
