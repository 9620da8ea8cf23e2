//! The guest's serial console while waiting: followed from the moment a domain is
//! attached, appended to --console-log, and matched line by line against --fail-on and
//! --expect.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use virt::domain::Domain;

use super::{Args, Supervisor, Watch, per_domain};
use crate::error::{Error, Result};
use crate::libvirt::connect::Conn;
use crate::libvirt::console;
use crate::libvirt::events::Notice;

/// How long a stopped domain's record waits for the rest of its console output (the
/// stream ends once QEMU is gone), so a last line still counts for --fail-on / --expect.
pub(super) const CONSOLE_DRAIN: Duration = Duration::from_secs(2);
/// Longest console line kept for `--fail-on` / `--expect` (longer ones are cut).
pub(super) const LINE_MAX: usize = 4096;

/// Before a running domain's console is followed: one whose console libvirt cannot follow
/// (only a pty can be) is refused in one line when --expect, --fail-on or --console-log
/// needs it, rather than failing once attached; one without a screen is named once on
/// stderr for --screenshot. The domain is looked up (by `key`, named `shown` if libvirt
/// cannot say its name) only when one of those flags is given: without them a record's
/// first look costs nothing more.
///
/// # Errors
/// `BadInput` naming the domain and the flag that needs a pty console.
pub(super) fn check_offers(args: &Args, conn: &Conn, key: &str, shown: &str) -> Result<()> {
    let console_flag = [
        ("--expect", args.expect.is_some()),
        ("--fail-on", args.fail_on.is_some()),
        ("--console-log", args.console_log.is_some()),
    ]
    .into_iter()
    .find_map(|(flag, on)| on.then_some(flag));
    if console_flag.is_none() && args.screenshot.is_none() {
        return Ok(());
    }
    // Gone since its state was read: its stop is the first look's to report.
    let Ok(dom) = conn.lookup(key) else {
        return Ok(());
    };
    let name = dom.name().unwrap_or_else(|_| shown.to_string());
    let Ok(offers) = console::Offers::of(&dom) else {
        return Ok(());
    };
    if let Some(flag) = console_flag
        && offers.console.as_deref() != Some("pty")
    {
        let kind = match &offers.console {
            Some(kind) => format!("its console is type '{kind}'"),
            None => "it has no console".to_string(),
        };
        return Err(Error::BadInput {
            location: crate::error::Location {
                source: format!("{}: domain '{name}'", conn.shown),
                line_col: None,
            },
            message: format!(
                "{flag} reads the serial console, which libvirt follows only on a pty, and {kind}: give it <serial type='pty'> with <log file='PATH' append='on'/> to keep its output (domxml-gen --serial file=PATH does)"
            ),
        });
    }
    if args.screenshot.is_some() && !offers.video {
        crate::cli::write_err(&format!(
            "dom-wait-shutdown: {}: domain '{name}' has no video device: --screenshot writes no picture of it\n",
            conn.shown
        ));
    }
    Ok(())
}

/// Follows a running domain's console when --expect, --fail-on or --console-log asks for
/// it, its bytes tagged with the watch's `index`, and opens the --console-log file.
///
/// # Errors
/// libvirt's error for a console that cannot be read, or the log file's.
pub(super) fn follow(
    args: &Args,
    conn: &Conn,
    dom: &Domain,
    index: usize,
    watch: &mut Watch,
    tx: &mpsc::Sender<Notice>,
) -> Result<()> {
    if wants_console(args) {
        console::follow(&conn.connect, dom, index, tx.clone()).map_err(|e| {
            Error::Libvirt(format!(
                "{}: cannot read the console of domain '{}': {}",
                conn.shown,
                watch.name,
                crate::libvirt::connect::one_line(e.message())
            ))
        })?;
        watch.consoles += 1;
    }
    // After the console: the file appears once the guest's output is followed.
    if let Some(path) = &args.console_log {
        let path = per_domain(path, &watch.name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path.display().to_string(), e))?;
        watch.log = Some(file);
    }
    Ok(())
}

/// Whether any flag reads the console.
fn wants_console(args: &Args) -> bool {
    args.console_log.is_some() || args.fail_on.is_some() || args.expect.is_some()
}

impl Supervisor<'_, '_> {
    /// Console bytes: logged, and matched line by line against --fail-on and --expect.
    pub(super) fn console(&mut self, index: usize, data: &[u8]) -> Result<()> {
        let args = self.args;
        let Some(watch) = self.watches.get_mut(index) else {
            return Ok(());
        };
        if let Some(log) = &mut watch.log {
            let path = per_domain(
                args.console_log.as_deref().unwrap_or(Path::new("")),
                &watch.name,
            );
            log.write_all(data)
                .map_err(|e| Error::io(&path.display().to_string(), e))?;
        }
        if watch.done {
            return Ok(());
        }
        let mut lines = Vec::new();
        for &b in data {
            if b == b'\n' {
                lines.push(std::mem::take(&mut watch.line));
            } else if b != b'\r' && watch.line.len() < LINE_MAX {
                watch.line.push(b);
            }
        }
        // A prompt without a newline is matched as it stands.
        lines.push(watch.line.clone());
        for line in lines {
            let text = String::from_utf8_lossy(&line);
            if args.expect.as_ref().is_some_and(|re| re.is_match(&text)) {
                watch.expected = true;
            }
            if let Some(re) = &args.fail_on
                && re.is_match(&text)
            {
                let Some(conn) = self.sessions[watch.session].conn.as_ref() else {
                    return Ok(());
                };
                self.progress.clear();
                let shown: String = text.chars().take(200).collect();
                return self.out.give_up(
                    args,
                    conn,
                    watch,
                    "console",
                    "failed",
                    &format!("printed a line matching --fail-on: {shown}"),
                );
            }
        }
        Ok(())
    }
}
