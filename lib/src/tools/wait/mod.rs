//! `dom-wait-shutdown`: wait on libvirt's lifecycle events until domains stop, tell a clean
//! shutdown (the installer's final reboot under on_reboot=destroy included) from a guest
//! that was destroyed, crashed or failed, and supervise a running install: reboots, stalls,
//! console output, screenshots, and the install state.

mod console;
mod evidence;
mod idle;
mod intake;
mod progress;
mod reboots;
mod report;
mod session;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::connect::{Conn, DomainArgs, Kind, classify};
use crate::libvirt::events::{self, Lifecycle, Notice};
use crate::libvirt::record::{self, Target};

use console::CONSOLE_DRAIN;
use evidence::{SCREENSHOT_EVERY, save_screenshot};
use intake::{Intake, check_one_file_each, read_records};
use progress::TICK;
use report::Output;
use session::{Session, lose};

/// How often the state is re-read in case an event was lost (events are the main path; see
/// `events.rs`, "Lost events"): a lost event costs at most this long.
const POLL: Duration = Duration::from_secs(5);
/// How long a domain that vanished (a transient guest) waits for its Stopped event, which
/// libvirt may deliver after the domain is gone: that event has the real stop reason.
const VANISH_GRACE: Duration = Duration::from_secs(1);

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-create ./install.xml | dom-wait-shutdown --timeout 3600 --idle-timeout 600 && dom-create vm1\n  dom-wait-shutdown --reboots 3 --min-uptime 10 --expect 'Installation complete' win11\n  dom-wait-shutdown --fail-on 'Kernel panic|FAILED' --console-log '{name}.log' --screenshot '{name}.png' vm1 vm2\n  dom-wait-shutdown -c qemu:///system vm1 vm2";

/// Wait until domains have stopped, and report why each stopped.
///
/// Registers for libvirt's lifecycle events first and only then reads each domain's state,
/// so no stop is missed; a domain already shut off is reported at once. Prints one JSON
/// record per domain as it stops, with its stop `reason` (shutdown, destroyed, crashed,
/// failed, saved, migrated, from-snapshot, unknown) and `waited_ms`. A transient guest that
/// vanishes counts as stopped. Domains are NAMEs or UUIDs, or JSON records on stdin (as
/// dom-define and dom-create print, one per line, at most 64 KiB), each waited on from the
/// moment its line arrives while the earlier ones are waited on: the wait ends once stdin
/// has ended and every domain has stopped. A bad record (exit 3, at `<stdin>:LINE:COLUMN`),
/// an unknown domain (5) or a second domain where --console-log or --screenshot has no
/// "{name}" (2) stops the wait when it arrives, as --timeout does: the records printed
/// stand, the domains not yet stopped are left as they are. If the connection drops
/// (libvirtd restarted) it reconnects, follows the console again (what the guest printed
/// while the connection was down goes unseen) and goes on waiting. Exits 0 only if every
/// domain shut down cleanly (a guest's own power-off, or its reboot under
/// on_reboot=destroy), else 9; 11 if one stalled.
///
/// For every unattended install, give --timeout and --idle-timeout: an installer that
/// waits for an answer nobody gives otherwise waits for ever. --reboots N ends the install
/// at the guest's Nth reset (for an install config with on_reboot=restart: Windows and
/// UEFI shims reset during an install); --expect, --fail-on, --console-log read the serial
/// console from the moment the wait starts: libvirt follows only a pty (<serial
/// type='pty'>, with <log file='PATH' append='on'/> to keep a copy, as domxml-gen --serial
/// file=PATH writes), so a running guest whose console is not one is refused at its first
/// look (exit 3), before its console is followed; --screenshot keeps a picture of the
/// display for a timeout, stall or abnormal stop (a guest without a video device is named
/// on stderr once). A guest that stalls, times out or prints a --fail-on match is left
/// running for inspection.
///
/// A domain whose install state (see dom-create) is "installing" is marked "installed"
/// after a clean stop, "failed" otherwise; a record with action "already-installed"
/// (dom-create --resume) is passed on at once.
#[derive(Debug, clap::Parser)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// NAMEs or UUIDs of the domains; `-` or none reads JSON records from stdin.
    #[arg(value_name = "NAME|UUID")]
    pub targets: Vec<String>,
    /// Connection options.
    #[command(flatten)]
    pub conn: DomainArgs,
    /// Open the connection read-only (waiting needs no more; the install state is then
    /// not updated, and the console and screenshots are not available).
    #[arg(long)]
    pub readonly: bool,
    /// Give up after SECONDS (exit 8), leaving the guests as they are; default: no limit.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Give up when a lost connection cannot be reopened within SECONDS (exit 7);
    /// 0 fails at once.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "60")]
    pub reconnect_timeout: Duration,
    /// A guest with neither disk nor network I/O for SECONDS has stalled (exit 11, reason
    /// "stalled"; it is left running). Read from libvirt's block and interface statistics.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub idle_timeout: Option<Duration>,
    /// End the wait at the guest's Nth reset (libvirt's reboot event, under
    /// on_reboot=restart): the guest is then stopped and counts as a clean stop (reason
    /// "reboot").
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub reboots: Option<u32>,
    /// Resets during the first SECONDS of the wait on a domain (from the start, or from
    /// when its record arrived) do not count toward --reboots (firmware and TPM resets
    /// early in a boot).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, requires = "reboots")]
    pub min_uptime: Option<Duration>,
    /// Append the serial console to FILE while waiting ("{name}" is replaced by the
    /// domain's name; required with several domains).
    #[arg(long, value_name = "FILE")]
    pub console_log: Option<PathBuf>,
    /// The wait fails (exit 9, reason "console") when a console line matches REGEX; the
    /// guest is left running.
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub fail_on: Option<Regex>,
    /// A clean stop counts only if a console line matched REGEX before it: an installer
    /// that gives up and powers off is not a finished install (exit 9).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub expect: Option<Regex>,
    /// Write a PNG of the display to FILE on a timeout, stall, --fail-on match or
    /// abnormal stop ("{name}" as for --console-log). Needs a video device.
    #[arg(long, value_name = "FILE")]
    pub screenshot: Option<PathBuf>,
}

/// Parses a non-negative number of seconds, fractions allowed.
fn parse_seconds(text: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("not a number of seconds: {text}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a number of seconds: {text}"))
}

/// Compiles a regular expression (Rust `regex` syntax: no backreferences, linear time).
fn parse_regex(text: &str) -> std::result::Result<Regex, String> {
    Regex::new(text).map_err(|e| {
        e.to_string()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string()
    })
}

/// `path` for one domain: "{name}" replaced by its name.
fn per_domain(path: &Path, name: &str) -> PathBuf {
    PathBuf::from(path.to_string_lossy().replace("{name}", name))
}

/// One domain being waited for.
struct Watch {
    target: Target,
    session: usize,
    uuid: Option<String>,
    name: String,
    state: String,
    /// Its first look is made (a record that arrives while its connection is lost gets it
    /// once the connection is back).
    looked: bool,
    done: bool,
    /// When a look first found it gone without its Stopped event.
    vanished: Option<Instant>,
    /// When the wait on it began, from the start or when its record arrived: --min-uptime
    /// and `waited_ms` count from there.
    since: Instant,
    /// Resets counted toward --reboots.
    reboots: u32,
    /// The last reset event (bursts of resets are one reboot).
    last_reset: Option<Instant>,
    /// The last I/O counter and when it last changed (--idle-timeout).
    io: Option<(u64, Instant)>,
    /// The console line being assembled.
    line: Vec<u8>,
    /// --expect has matched.
    expected: bool,
    /// --console-log, once open.
    log: Option<File>,
    /// The last screenshot, for an abnormal stop.
    shot: Option<Vec<u8>>,
    /// Its install state said "installing" when the wait began.
    installing: bool,
    /// Console streams opened that have not ended yet: after a reconnection the new one
    /// may run while the dead connection's stream is still ending.
    consoles: usize,
    /// Stopped, but the console may still hold output: state, reason, action, since.
    pending: Option<(String, String, String, Instant)>,
    /// The --reboots limit was reached: the guest is stopped at this moment.
    stop_at: Option<Instant>,
}

/// What a look at a domain found.
enum Seen {
    /// Not stopped; its state word.
    Live(String),
    /// Stopped: state word and reason word.
    Stopped(String, String),
    /// Gone (a transient guest after it stopped).
    Vanished,
}

/// Looks at a domain: by UUID once known, else by what the user gave.
fn look(conn: &Conn, watch: &mut Watch) -> Result<Seen> {
    let key = watch
        .uuid
        .clone()
        .unwrap_or_else(|| watch.target.key.clone());
    let dom = match conn.lookup(&key) {
        Ok(dom) => dom,
        Err(Error::NoDomain(_)) if watch.uuid.is_some() => return Ok(Seen::Vanished),
        Err(e) => return Err(e),
    };
    if watch.uuid.is_none() {
        watch.uuid = Some(dom.uuid_string().map_err(|e| conn.error(&e, None))?);
        watch.name = dom.name().unwrap_or_else(|_| watch.name.clone());
    }
    let (state, reason) = match events::domain_state(&dom) {
        Ok(sr) => sr,
        Err(e) if classify(&e) == Kind::NoDomain => return Ok(Seen::Vanished),
        Err(e) => return Err(conn.error(&e, Some(&watch.name))),
    };
    Ok(match state {
        5 => Seen::Stopped("shutoff".into(), record::reason_word(state, reason).into()),
        // Preserved after a crash (on_crash=preserve): it will not stop by itself.
        6 => Seen::Stopped("crashed".into(), "crashed".into()),
        _ => Seen::Live(record::state_word(state).into()),
    })
}

/// Waits for every domain and prints their records as they stop: the arguments' from the
/// start, each record's on stdin from when its line arrives, until stdin has ended and
/// every domain has stopped.
///
/// # Errors
/// Unknown domain, bad record, connection failures, `--timeout` running out (each at
/// once, leaving the domains not yet stopped as they are), a stall, and an abnormal stop
/// of any domain (after all records are printed).
pub fn run(args: Args, stdin: cli::Stdin, stdout: &mut dyn Write) -> Result<()> {
    let named: Vec<&String> = args.targets.iter().filter(|t| *t != "-").collect();
    let reads_stdin = named.len() < args.targets.len() || args.targets.is_empty();
    check_one_file_each(&args, named.len())?;
    let started = Instant::now();
    // A timeout past what the clock can represent is no limit at all.
    let deadline = args.timeout.and_then(|t| started.checked_add(t));
    let (tx, rx) = mpsc::channel();
    let mut sup = Supervisor {
        args: &args,
        tx,
        sessions: Vec::new(),
        watches: Vec::new(),
        intake: None,
        out: Output {
            stdout,
            started,
            abnormal: Vec::new(),
            stalled: Vec::new(),
        },
        progress: cli::ProgressLine::new(cli::stderr_is_terminal()),
    };
    for target in named {
        sup.admit(Target::arg(target))?;
    }
    if reads_stdin {
        let uri_override = args.conn.connect.is_some();
        sup.intake = Some(read_records(stdin, uri_override, sup.tx.clone())?);
    }
    sup.wait(rx, deadline)?;
    sup.progress.clear();
    let out = sup.out;
    if !out.stalled.is_empty() {
        Err(Error::Stalled(out.stalled.join("; ")))
    } else if !out.abnormal.is_empty() {
        Err(Error::AbnormalStop(out.abnormal.join("; ")))
    } else {
        Ok(())
    }
}

/// Everything one run of dom-wait-shutdown watches, and where its results go.
struct Supervisor<'a, 'o> {
    args: &'a Args,
    tx: mpsc::Sender<Notice>,
    sessions: Vec<Session>,
    watches: Vec<Watch>,
    /// The records still coming from stdin; `None` once it has ended (or is not read).
    intake: Option<mpsc::Receiver<Intake>>,
    out: Output<'o>,
    progress: cli::ProgressLine,
}

impl Supervisor<'_, '_> {
    /// The event loop: until stdin has ended and every domain is done, the deadline passes,
    /// or an error.
    fn wait(&mut self, rx: mpsc::Receiver<Notice>, deadline: Option<Instant>) -> Result<()> {
        let mut next_poll = Instant::now() + POLL;
        let stats_every = self
            .args
            .idle_timeout
            .map(|t| (t / 4).clamp(Duration::from_millis(250), Duration::from_secs(5)));
        let mut next_stats = Instant::now();
        let mut next_shot = Instant::now() + SCREENSHOT_EVERY;
        loop {
            if self.intake.is_none() && self.watches.iter().all(|w| w.done) {
                if self.watches.is_empty() {
                    return Err(Error::Usage(
                        "no domain given (arguments or records on stdin)".into(),
                    ));
                }
                return Ok(());
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(self.timed_out());
            }
            self.draw_progress();
            let mut wake = next_poll;
            if self.progress.on() {
                wake = wake.min(now + TICK);
            }
            if let Some(d) = deadline {
                wake = wake.min(d);
            }
            if stats_every.is_some() {
                wake = wake.min(next_stats);
            }
            if self.args.screenshot.is_some() {
                wake = wake.min(next_shot);
            }
            for s in self.sessions.iter().filter(|s| s.conn.is_none()) {
                wake = wake.min(s.next_try);
            }
            for w in self.watches.iter().filter(|w| !w.done) {
                if let Some(since) = w.vanished {
                    wake = wake.min(since + VANISH_GRACE);
                }
                if let Some((_, _, _, since)) = &w.pending {
                    wake = wake.min(*since + CONSOLE_DRAIN);
                }
                if let Some(at) = w.stop_at {
                    wake = wake.min(at);
                }
            }
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(notice) => self.notice(notice)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
            }
            let now = Instant::now();
            self.settle_vanished(now)?;
            if let Some(every) = stats_every
                && now >= next_stats
            {
                next_stats = now + every;
                self.check_idle(now)?;
            }
            if self.args.screenshot.is_some() && now >= next_shot {
                next_shot = now + SCREENSHOT_EVERY;
                self.refresh_screenshots();
            }
            let poll = now >= next_poll;
            if poll {
                next_poll = now + POLL;
            }
            self.reconnect_and_poll(now, poll)?;
        }
    }

    /// One notice from libvirt or a console thread.
    fn notice(&mut self, notice: Notice) -> Result<()> {
        match notice {
            Notice::Lifecycle {
                source,
                uuid,
                event,
                detail,
                ..
            } => {
                for index in self.matching(source, &uuid) {
                    if event == Lifecycle::Stopped {
                        let reason = record::stopped_word(detail);
                        self.stopped(index, "shutoff", reason, "stopped")?;
                    } else {
                        // Undefined, crashed, resumed...: the state says what it means now.
                        self.see(index)?;
                    }
                }
            }
            Notice::Reboot { source, uuid } => {
                for index in self.matching(source, &uuid) {
                    self.rebooted(index)?;
                }
            }
            Notice::Console { watch, data } => self.console(watch, &data)?,
            Notice::ConsoleEnd { watch } => {
                let Some(w) = self.watches.get_mut(watch) else {
                    return Ok(());
                };
                w.consoles = w.consoles.saturating_sub(1);
                if w.consoles == 0 {
                    self.flush_pending(watch, true)?;
                }
            }
            Notice::Closed { source, .. } => lose(&mut self.sessions[source]),
            Notice::Input => self.take_input()?,
        }
        Ok(())
    }

    /// Re-reads a domain's state; finishes it if it has stopped, or vanished for longer
    /// than VANISH_GRACE (its Stopped event, with the real reason, may still be on the way).
    fn see(&mut self, index: usize) -> Result<()> {
        let watch = &mut self.watches[index];
        if watch.pending.is_some() {
            return Ok(());
        }
        let Some(conn) = self.sessions[watch.session].conn.as_ref() else {
            return Ok(());
        };
        match look(conn, watch)? {
            Seen::Live(state) => watch.state = state,
            Seen::Stopped(state, reason) => self.stopped(index, &state, &reason, "stopped")?,
            Seen::Vanished => {
                let since = *watch.vanished.get_or_insert_with(Instant::now);
                if since.elapsed() >= VANISH_GRACE {
                    self.stopped(index, "shutoff", "unknown", "stopped")?;
                }
            }
        }
        Ok(())
    }

    /// A domain has stopped: finished now, or once its console has drained.
    fn stopped(&mut self, index: usize, state: &str, reason: &str, action: &str) -> Result<()> {
        let watch = &mut self.watches[index];
        if watch.done || watch.pending.is_some() {
            return Ok(());
        }
        watch.pending = Some((
            state.to_string(),
            reason.to_string(),
            action.to_string(),
            Instant::now(),
        ));
        self.flush_pending(index, false)
    }

    /// Finishes a stopped domain whose console has ended (or `force`d, or drained long
    /// enough).
    fn flush_pending(&mut self, index: usize, force: bool) -> Result<()> {
        let args = self.args;
        let Some(watch) = self.watches.get_mut(index) else {
            return Ok(());
        };
        let Some((state, reason, action, since)) = watch.pending.clone() else {
            return Ok(());
        };
        if watch.done || (watch.consoles > 0 && !force && since.elapsed() < CONSOLE_DRAIN) {
            return Ok(());
        }
        let Some(conn) = self.sessions[watch.session].conn.as_ref() else {
            return Ok(());
        };
        watch.pending = None;
        self.progress.clear();
        self.out.finish(args, conn, watch, &state, &reason, &action)
    }

    /// The watches (not done) of domain `uuid` on session `source`.
    fn matching(&self, source: usize, uuid: &str) -> Vec<usize> {
        (0..self.watches.len())
            .filter(|&i| {
                let w = &self.watches[i];
                !w.done && w.session == source && w.uuid.as_deref() == Some(uuid)
            })
            .collect()
    }

    /// Transient guests found gone on a non-Stopped event: finished once VANISH_GRACE has
    /// passed without their Stopped event; stopped domains whose console took too long to
    /// end: finished after CONSOLE_DRAIN.
    fn settle_vanished(&mut self, now: Instant) -> Result<()> {
        for index in 0..self.watches.len() {
            let watch = &self.watches[index];
            if watch.done {
                continue;
            }
            if watch.stop_at.is_some_and(|t| now >= t) && watch.pending.is_none() {
                self.stop_rebooted(index)?;
            } else if watch.pending.is_some() {
                self.flush_pending(index, false)?;
            } else if watch.vanished.is_some_and(|t| now >= t + VANISH_GRACE) {
                self.see(index)?;
            }
        }
        Ok(())
    }

    /// The `--timeout` error, naming every domain still running and where; screenshots
    /// of them first when asked.
    fn timed_out(&mut self) -> Error {
        self.progress.clear();
        if let Some(path) = &self.args.screenshot {
            for watch in self.watches.iter().filter(|w| !w.done) {
                if let Some(conn) = self.sessions[watch.session].conn.as_ref() {
                    save_screenshot(conn, watch, path, true);
                }
            }
        }
        let secs = self.args.timeout.unwrap_or_default().as_secs_f64();
        let mut parts = Vec::new();
        for (index, session) in self.sessions.iter().enumerate() {
            let names: Vec<String> = self
                .watches
                .iter()
                .filter(|w| !w.done && w.session == index)
                .map(|w| format!("domain '{}' is still {}", w.name, w.state))
                .collect();
            if !names.is_empty() {
                parts.push(format!(
                    "{}: timed out after {secs}s: {}",
                    session.shown,
                    names.join(", ")
                ));
            }
        }
        if self.intake.is_some() {
            parts.push(format!(
                "<stdin>: timed out after {secs}s: still open, more records may come"
            ));
        }
        Error::Timeout(parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;
    use crate::libvirt::install;
    use crate::libvirt::record::Record;
    use crate::libvirt::testing::{Chan, URI, domain_xml, next_record, records};

    fn wait(argv: &[&str], stdin: &str) -> (String, Result<()>) {
        let _conn = crate::libvirt::testing::open();
        let all = ["tool", "-c", URI].iter().chain(argv);
        let args = <Args as clap::Parser>::try_parse_from(all).unwrap();
        let mut out = Vec::new();
        let stdin = Box::new(std::io::Cursor::new(stdin.to_string()));
        let result = run(args, stdin, &mut out);
        (String::from_utf8(out).unwrap(), result)
    }

    /// Starts a waiter in a thread on `argv`, its stdin a pipe the test writes records to
    /// as it goes; returns the pipe, the waiter's output lines and its outcome.
    fn waiter_on_a_pipe(
        argv: &[&str],
    ) -> (
        std::io::PipeWriter,
        mpsc::Receiver<String>,
        std::thread::JoinHandle<Result<()>>,
    ) {
        let (reader, writer) = std::io::pipe().unwrap();
        let (tx, rx) = mpsc::channel();
        let argv: Vec<String> = ["tool", "-c", URI]
            .iter()
            .chain(argv)
            .map(|s| s.to_string())
            .collect();
        let waiter = std::thread::spawn(move || {
            let args = <Args as clap::Parser>::try_parse_from(argv).unwrap();
            run(args, Box::new(reader), &mut Chan(tx))
        });
        (writer, rx, waiter)
    }

    #[test]
    fn records_are_waited_on_as_their_lines_arrive() {
        let conn = crate::libvirt::testing::open();
        let mut doms = Vec::new();
        for name in ["wait-stream-a", "wait-stream-b"] {
            let (xml, _) = domain_xml(name);
            let dom = conn.connect.define_domain_xml(&xml).unwrap();
            dom.create().unwrap();
            doms.push(dom);
        }
        let (mut stdin, rx, waiter) = waiter_on_a_pipe(&[]);
        stdin
            .write_all(format!("{{\"name\":\"wait-stream-a\",\"uri\":\"{URI}\"}}\n").as_bytes())
            .unwrap();
        // The waiter has the first record only, stdin still open: it is waited on now.
        doms[0].shutdown().unwrap();
        let first = next_record(&rx, "wait-stream-a");
        assert_eq!(
            (first.name.as_str(), first.reason.as_str()),
            ("wait-stream-a", "shutdown")
        );
        stdin
            .write_all(b"\n{\"name\":\"wait-stream-b\"}\n")
            .unwrap();
        doms[1].shutdown().unwrap();
        let second = next_record(&rx, "wait-stream-b");
        assert_eq!(second.name, "wait-stream-b");
        // Every domain stopped, but stdin is open: more may come.
        assert!(!waiter.is_finished());
        drop(stdin);
        waiter.join().unwrap().unwrap();
        for dom in doms {
            dom.undefine().unwrap();
        }
        // --timeout counts while stdin stays open with no domain left to wait for.
        let (stdin, _rx, waiter) = waiter_on_a_pipe(&["--timeout", "0.2"]);
        let err = waiter.join().unwrap().unwrap_err();
        assert_eq!(err.exit_code(), exit::TIMEOUT);
        assert_eq!(
            err.to_string(),
            "<stdin>: timed out after 0.2s: still open, more records may come"
        );
        drop(stdin);
    }

    #[test]
    fn a_bad_record_after_good_ones_stops_the_wait_with_its_line() {
        let conn = crate::libvirt::testing::open();
        let (xml, _) = domain_xml("wait-bad-later");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        dom.create().unwrap();
        dom.shutdown().unwrap();
        let (out, result) = wait(&[], "{\"name\":\"wait-bad-later\"}\n{\"name\": }\n");
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT, "{err}");
        assert!(err.to_string().starts_with("<stdin>:2:"), "{err}");
        // The first record was acted on before the second line was read.
        assert_eq!(records(&out)[0].action, "already-stopped");
        let long = format!("{{\"name\":\"{}\"}}\n", "x".repeat(record::LINE_MAX));
        let err = wait(&[], &long).1.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "<stdin>:1:{}: line longer than {} bytes",
                record::LINE_MAX + 1,
                record::LINE_MAX
            )
        );
        // One --console-log file for a second domain: refused when its record arrives.
        let lines = "{\"name\":\"wait-bad-later\"}\n{\"name\":\"wait-bad-later\"}\n";
        let (out, result) = wait(&["--console-log", "/dev/null"], lines);
        assert_eq!(result.unwrap_err().exit_code(), exit::USAGE);
        assert_eq!(records(&out).len(), 1);
        dom.undefine().unwrap();
    }

    #[test]
    fn a_domain_already_shut_down_is_reported_at_once() {
        let conn = crate::libvirt::testing::open();
        let (xml, uuid) = domain_xml("wait-already");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        dom.create().unwrap();
        dom.shutdown().unwrap();
        let (out, result) = wait(&["--readonly", "wait-already"], "");
        result.unwrap();
        let rec = &records(&out)[0];
        assert_eq!(rec.uuid, uuid);
        assert_eq!(
            (rec.action.as_str(), rec.state.as_str(), rec.reason.as_str()),
            ("already-stopped", "shutoff", "shutdown")
        );
        assert!(rec.persistent && rec.waited_ms.is_some() && rec.id.is_none());

        // Never started: nothing says it shut down cleanly.
        let (never, _) = domain_xml("wait-never");
        let never = conn.connect.define_domain_xml(&never).unwrap();
        let (out, result) = wait(&["wait-never"], "");
        assert_eq!(result.unwrap_err().exit_code(), exit::ABNORMAL_STOP);
        assert_eq!(records(&out)[0].reason, "unknown");
        never.undefine().unwrap();
        dom.undefine().unwrap();
    }

    /// Waits (in a thread) for `first` then `already` (shut down before), stops `first`
    /// once the record of `already` shows `first` has been looked at, and returns the
    /// records and result.
    fn wait_then(first: &str, already: &str, stop: impl FnOnce()) -> (Vec<Record>, Result<()>) {
        let (tx, rx) = mpsc::channel();
        let argv: Vec<String> = ["tool", "-c", URI, first, already]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let waiter = std::thread::spawn(move || {
            let args = <Args as clap::Parser>::try_parse_from(argv).unwrap();
            run(args, Box::new(std::io::empty()), &mut Chan(tx))
        });
        let mut out = String::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !out.contains(already) {
            out.push_str(
                &rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .unwrap(),
            );
        }
        stop();
        let result = waiter.join().unwrap();
        out.extend(rx.try_iter());
        (records(&out), result)
    }

    #[test]
    fn a_domain_destroyed_while_waiting_is_an_abnormal_stop() {
        let conn = crate::libvirt::testing::open();
        let (xml, _) = domain_xml("wait-destroy");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        dom.create().unwrap();
        let (done, _) = domain_xml("wait-destroy-done");
        let done = conn.connect.define_domain_xml(&done).unwrap();
        done.create().unwrap();
        done.shutdown().unwrap();
        let (recs, result) = wait_then("wait-destroy", "wait-destroy-done", || {
            dom.destroy().unwrap()
        });
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), exit::ABNORMAL_STOP);
        assert_eq!(
            err.to_string(),
            "test:///default: domain 'wait-destroy' stopped: destroyed"
        );
        assert_eq!(recs.len(), 2);
        assert_eq!(
            (
                recs[1].name.as_str(),
                recs[1].action.as_str(),
                recs[1].reason.as_str()
            ),
            ("wait-destroy", "stopped", "destroyed")
        );
        dom.undefine().unwrap();
        done.undefine().unwrap();
    }

    #[test]
    fn a_clean_shutdown_while_waiting_exits_zero_and_a_transient_guest_may_vanish() {
        let conn = crate::libvirt::testing::open();
        let (xml, uuid) = domain_xml("wait-transient");
        let dom = conn.connect.create_domain_xml(&xml, 0).unwrap();
        let (done, _) = domain_xml("wait-transient-done");
        let done = conn.connect.define_domain_xml(&done).unwrap();
        done.create().unwrap();
        done.shutdown().unwrap();
        let (recs, result) = wait_then(&uuid, "wait-transient-done", || dom.shutdown().unwrap());
        result.unwrap();
        assert_eq!(recs[1].name, "wait-transient");
        assert_eq!(
            (
                recs[1].action.as_str(),
                recs[1].reason.as_str(),
                recs[1].persistent
            ),
            ("stopped", "shutdown", false)
        );
        done.undefine().unwrap();

        // A record of a transient guest that is gone: it stopped, nobody knows how.
        let line =
            format!("{{\"name\":\"wait-transient\",\"uuid\":\"{uuid}\",\"persistent\":false}}\n");
        let (out, result) = wait(&[], &line);
        assert_eq!(result.unwrap_err().exit_code(), exit::ABNORMAL_STOP);
        assert_eq!(records(&out)[0].reason, "unknown");
    }

    #[test]
    fn timeout_leaves_the_guest_running() {
        let conn = crate::libvirt::testing::open();
        let (xml, _) = domain_xml("wait-timeout");
        let dom = conn.connect.create_domain_xml(&xml, 0).unwrap();
        let (out, result) = wait(&["--timeout", "0.2", "wait-timeout"], "");
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), exit::TIMEOUT);
        assert_eq!(
            err.to_string(),
            "test:///default: timed out after 0.2s: domain 'wait-timeout' is still running"
        );
        assert!(out.is_empty());
        assert!(dom.is_active().unwrap());
        dom.destroy().unwrap();
    }

    #[test]
    fn unknown_domains_and_bad_records_fail_before_waiting() {
        let _conn = crate::libvirt::testing::open();
        let err = wait(&["wait-no-such"], "").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::NO_DOMAIN);
        let err = wait(&[], "{\"name\": 1}\n").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        let err = wait(&[], "\n\n").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::USAGE);
        assert!(parse_seconds("-1").is_err() && parse_seconds("x").is_err());
        assert_eq!(parse_seconds("1.5").unwrap(), Duration::from_millis(1500));
        // Past the clock's range: no limit, not a panic.
        let conn = crate::libvirt::testing::open();
        let (xml, _) = domain_xml("wait-huge-timeout");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        let (out, result) = wait(&["--timeout", "1e19", "wait-huge-timeout"], "");
        assert_eq!(result.unwrap_err().exit_code(), exit::ABNORMAL_STOP);
        assert_eq!(records(&out)[0].action, "already-stopped");
        dom.undefine().unwrap();
    }

    #[test]
    fn a_clean_stop_of_an_install_marks_it_installed_and_another_stop_failed() {
        let conn = crate::libvirt::testing::open();
        for (name, clean) in [("wait-mark-ok", true), ("wait-mark-bad", false)] {
            let (xml, _) = domain_xml(name);
            let dom = conn.connect.define_domain_xml(&xml).unwrap();
            install::write(&dom, &install::State::Installing).unwrap();
            dom.create().unwrap();
            let done = format!("{name}-done");
            let (other, _) = domain_xml(&done);
            let other = conn.connect.define_domain_xml(&other).unwrap();
            other.create().unwrap();
            other.shutdown().unwrap();
            let (_, result) = wait_then(name, &done, || {
                if clean {
                    dom.shutdown().unwrap()
                } else {
                    dom.destroy().unwrap()
                }
            });
            let want = if clean {
                result.unwrap();
                install::State::Installed
            } else {
                assert_eq!(result.unwrap_err().exit_code(), exit::ABNORMAL_STOP);
                install::State::Failed("destroyed".into())
            };
            assert_eq!(install::read(&dom).unwrap(), Some(want));
            // The state of the other domain (none) is left alone.
            assert_eq!(install::read(&other).unwrap(), None);
            dom.undefine().unwrap();
            other.undefine().unwrap();
        }
        // A record of an install that dom-create --resume skipped passes at once.
        let (xml, uuid) = domain_xml("wait-skipped");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        dom.create().unwrap();
        let line = format!(
            "{{\"name\":\"wait-skipped\",\"uuid\":\"{uuid}\",\"action\":\"already-installed\"}}\n"
        );
        let (out, result) = wait(&[], &line);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "already-installed");
        dom.destroy().unwrap();
        dom.undefine().unwrap();
    }
}
