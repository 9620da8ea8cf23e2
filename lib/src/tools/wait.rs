//! `dom-wait-shutdown`: wait on libvirt's lifecycle events until domains stop, tell a clean
//! shutdown (the installer's final reboot under on_reboot=destroy included) from a guest
//! that was destroyed, crashed or failed, and supervise a running install: reboots, stalls,
//! console output, screenshots, and the install state.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use regex::Regex;

use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::connect::{Conn, DomainArgs, Kind, classify};
use crate::libvirt::console;
use crate::libvirt::events::{self, Lifecycle, Notice, Subscription};
use crate::libvirt::install;
use crate::libvirt::record::{self, Record, Target};

/// How often the state is re-read in case an event was lost (events are the main path; see
/// `events.rs`, "Lost events"): a lost event costs at most this long.
const POLL: Duration = Duration::from_secs(5);
/// How often the terminal progress line is redrawn.
const TICK: Duration = Duration::from_secs(1);
/// How long a domain that vanished (a transient guest) waits for its Stopped event, which
/// libvirt may deliver after the domain is gone: that event has the real stop reason.
const VANISH_GRACE: Duration = Duration::from_secs(1);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often `--screenshot` refreshes the picture kept for an abnormal stop.
const SCREENSHOT_EVERY: Duration = Duration::from_secs(10);
/// How long a stopped domain's record waits for the rest of its console output (the
/// stream ends once QEMU is gone), so a last line still counts for --fail-on / --expect.
const CONSOLE_DRAIN: Duration = Duration::from_secs(2);
/// How long after the reset that ends an install (--reboots) the guest is stopped: the
/// console still carries what the installer printed just before it (libvirt drops a
/// console stream's unread bytes when the domain stops), and a boot takes longer.
const REBOOT_DRAIN: Duration = Duration::from_millis(500);
/// Reset events closer together than this are one guest reboot: QEMU reports a reboot
/// as a burst of 2-3 resets within ~150 ms (Linux tries one reset method after another),
/// and no firmware plus kernel boots that fast.
const RESET_BURST: Duration = Duration::from_secs(2);
/// Longest console line kept for `--fail-on` / `--expect` (longer ones are cut).
const LINE_MAX: usize = 4096;

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-create ./install.xml | dom-wait-shutdown --timeout 3600 --idle-timeout 600 && dom-create vm1\n  dom-wait-shutdown --reboots 3 --min-uptime 10 --expect 'Installation complete' win11\n  dom-wait-shutdown --fail-on 'Kernel panic|FAILED' --console-log '{name}.log' --screenshot '{name}.png' vm1 vm2\n  dom-wait-shutdown -c qemu:///system vm1 vm2";

/// Wait until domains have stopped, and report why each stopped.
///
/// Registers for libvirt's lifecycle events first and only then reads each domain's state,
/// so no stop is missed; a domain already shut off is reported at once. Prints one JSON
/// record per domain as it stops, with its stop `reason` (shutdown, destroyed, crashed,
/// failed, saved, migrated, from-snapshot, unknown) and `waited_ms`. A transient guest that
/// vanishes counts as stopped. Domains are NAMEs or UUIDs, or JSON records on stdin (as
/// dom-define and dom-create print). If the connection drops (libvirtd restarted) it
/// reconnects, follows the console again (what the guest printed while the connection was
/// down goes unseen) and goes on waiting. Exits 0 only if every domain shut down cleanly
/// (a guest's own power-off, or its reboot under on_reboot=destroy), else 9; 11 if one
/// stalled.
///
/// For every unattended install, give --timeout and --idle-timeout: an installer that
/// waits for an answer nobody gives otherwise waits for ever. --reboots N ends the install
/// at the guest's Nth reset (for an install config with on_reboot=restart: Windows and
/// UEFI shims reset during an install); --expect, --fail-on, --console-log read the serial
/// console (a pty: <serial type='pty'>) from the moment the wait starts; --screenshot
/// keeps a picture of the display for a timeout, stall or abnormal stop. A guest that
/// stalls, times out or prints a --fail-on match is left running for inspection.
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
    /// Resets during the first SECONDS of the run do not count toward --reboots (firmware
    /// and TPM resets early in a boot).
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

/// One connection and its event subscription; both absent while it is lost.
struct Session {
    uri: Option<String>,
    conn: Option<Conn>,
    sub: Option<Subscription>,
    shown: String,
    lost_at: Option<Instant>,
    next_try: Instant,
    backoff: Duration,
}

/// One domain being waited for.
struct Watch {
    target: Target,
    session: usize,
    uuid: Option<String>,
    name: String,
    state: String,
    done: bool,
    /// When a look first found it gone without its Stopped event.
    vanished: Option<Instant>,
    /// When the wait first saw it running (--min-uptime counts from there).
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

/// The domains to wait for: arguments, and records on stdin.
fn read_targets(args: &Args, stdin: &mut dyn Read) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    if args.targets.is_empty() || args.targets.iter().any(|t| t == "-") {
        targets.extend(record::parse_records(
            &cli::read_input(None, stdin)?,
            args.conn.connect.is_some(),
        )?);
    }
    targets.extend(
        args.targets
            .iter()
            .filter(|t| *t != "-")
            .map(|t| Target::arg(t)),
    );
    if targets.is_empty() {
        return Err(Error::Usage(
            "no domain given (arguments or records on stdin)".into(),
        ));
    }
    for (flag, path) in [
        ("--console-log", &args.console_log),
        ("--screenshot", &args.screenshot),
    ] {
        if let Some(path) = path
            && targets.len() > 1
            && !path.to_string_lossy().contains("{name}")
        {
            return Err(Error::Usage(format!(
                "{flag} {}: several domains need {{name}} in the file name",
                path.display()
            )));
        }
    }
    Ok(targets)
}

/// Waits for every domain and prints their records as they stop.
///
/// # Errors
/// Unknown domain, connection failures, `--timeout` running out, a stall, and an abnormal
/// stop of any domain (after all records are printed).
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    let targets = read_targets(&args, stdin)?;
    let started = Instant::now();
    // A timeout past what the clock can represent is no limit at all.
    let deadline = args.timeout.and_then(|t| started.checked_add(t));
    let (tx, rx) = mpsc::channel();
    let (sessions, watches) = subscribe(&args, targets, &tx, started)?;
    let mut sup = Supervisor {
        args: &args,
        tx,
        sessions,
        watches,
        out: Output {
            stdout,
            started,
            abnormal: Vec::new(),
            stalled: Vec::new(),
        },
        progress: cli::ProgressLine::new(cli::stderr_is_terminal()),
    };
    sup.first_look()?;
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

/// Opens one connection per URI and subscribes to its events before any state is read:
/// a stop in between is queued, never missed.
fn subscribe(
    args: &Args,
    targets: Vec<Target>,
    tx: &mpsc::Sender<Notice>,
    started: Instant,
) -> Result<(Vec<Session>, Vec<Watch>)> {
    let mut sessions: Vec<Session> = Vec::new();
    let mut watches = Vec::new();
    for target in targets {
        let uri = args.conn.connect.clone().or_else(|| target.uri.clone());
        let session = match sessions.iter().position(|s| s.uri == uri) {
            Some(i) => i,
            None => {
                let conn = Conn::open(uri.as_deref(), args.readonly)?;
                let sub = Subscription::new(&conn.connect, tx.clone(), sessions.len())
                    .map_err(|e| conn.error(&e, None))?;
                sessions.push(Session {
                    uri,
                    shown: conn.shown.clone(),
                    conn: Some(conn),
                    sub: Some(sub),
                    lost_at: None,
                    next_try: started,
                    backoff: Duration::from_millis(100),
                });
                sessions.len() - 1
            }
        };
        let name = target.label().to_string();
        watches.push(Watch {
            target,
            session,
            uuid: None,
            name,
            state: "?".into(),
            done: false,
            vanished: None,
            since: started,
            reboots: 0,
            last_reset: None,
            io: None,
            line: Vec::new(),
            expected: false,
            log: None,
            shot: None,
            installing: false,
            consoles: 0,
            pending: None,
            stop_at: None,
        });
    }
    Ok((sessions, watches))
}

/// Everything one run of dom-wait-shutdown watches, and where its results go.
struct Supervisor<'a, 'o> {
    args: &'a Args,
    tx: mpsc::Sender<Notice>,
    sessions: Vec<Session>,
    watches: Vec<Watch>,
    out: Output<'o>,
    progress: cli::ProgressLine,
}

impl Supervisor<'_, '_> {
    fn wants_console(&self) -> bool {
        self.args.console_log.is_some() || self.args.fail_on.is_some() || self.args.expect.is_some()
    }

    /// The first look at every domain: stopped ones are reported at once, running ones get
    /// their console, screenshot and install state read.
    fn first_look(&mut self) -> Result<()> {
        for index in 0..self.watches.len() {
            let session = self.watches[index].session;
            let conn = self.sessions[session]
                .conn
                .as_ref()
                .expect("sessions start connected");
            let watch = &mut self.watches[index];
            if watch.target.action.as_deref() == Some("already-installed") {
                // dom-create --resume skipped its installer: nothing to wait for.
                let dom = conn.lookup(&watch.target.key)?;
                watch.done = true;
                cli::write_out(
                    self.out.stdout,
                    &Record::of(conn, &dom, "already-installed")?.to_line(),
                )?;
                continue;
            }
            match look(conn, watch) {
                Ok(Seen::Live(state)) => watch.state = state,
                Ok(Seen::Stopped(state, reason)) => {
                    let args = self.args;
                    self.out
                        .finish(args, conn, watch, &state, &reason, "already-stopped")?;
                    continue;
                }
                Ok(Seen::Vanished) => {
                    unreachable!("a first look reports a missing domain as an error")
                }
                // A transient guest from a record that is gone already has stopped.
                Err(Error::NoDomain(_)) if watch.target.persistent == Some(false) => {
                    watch.uuid = Some(watch.target.key.clone());
                    let args = self.args;
                    self.out
                        .finish(args, conn, watch, "shutoff", "unknown", "already-stopped")?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.attach_if_running(index)?;
        }
        Ok(())
    }

    /// For a running domain: its install state, its console, a first screenshot.
    fn attach(&mut self, index: usize) -> Result<()> {
        let wants_console = self.wants_console();
        let args = self.args;
        let watch = &mut self.watches[index];
        let Some(conn) = self.sessions[watch.session].conn.as_ref() else {
            return Ok(());
        };
        let Some(uuid) = watch.uuid.clone() else {
            return Ok(());
        };
        let dom = match conn.connect.lookup_domain_by_uuid_string(&uuid) {
            Ok(dom) => dom,
            Err(_) => return Ok(()),
        };
        watch.installing = install::read(&dom).ok().flatten() == Some(install::State::Installing);
        if wants_console {
            console::follow(&conn.connect, &dom, index, self.tx.clone()).map_err(|e| {
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
        if args.screenshot.is_some() {
            watch.shot = console::screenshot_png(&conn.connect, &dom).ok();
        }
        Ok(())
    }

    /// After a reconnection, for a domain still running: its console again (the stream
    /// ended with the old connection, and what the guest prints from now on, such as the
    /// line --expect waits for, must not go unseen) and a fresh screenshot.
    fn attach_again(&mut self, index: usize) -> Result<()> {
        let watch = &mut self.watches[index];
        if watch.done || watch.pending.is_some() || watch.vanished.is_some() {
            return Ok(());
        }
        // A line cut off by the lost connection ends there: nothing joins it to the next.
        watch.line.clear();
        self.attach_if_running(index)
    }

    /// `attach`, where a failure counts only while the domain still runs on a live
    /// connection: a guest that stopped meanwhile, or a daemon that went away (restarted),
    /// is reported by its event, the next look or the reconnection, as for any stop.
    fn attach_if_running(&mut self, index: usize) -> Result<()> {
        match self.attach(index) {
            Err(_) if !self.still_running(index) => Ok(()),
            other => other,
        }
    }

    /// Whether the watched domain runs, as far as its session can tell now.
    fn still_running(&self, index: usize) -> bool {
        let watch = &self.watches[index];
        let (Some(conn), Some(uuid)) = (&self.sessions[watch.session].conn, &watch.uuid) else {
            return false;
        };
        conn.connect
            .lookup_domain_by_uuid_string(uuid)
            .and_then(|dom| dom.is_active())
            .unwrap_or(false)
    }

    /// The event loop: until every domain is done, the deadline passes, or an error.
    fn wait(&mut self, rx: mpsc::Receiver<Notice>, deadline: Option<Instant>) -> Result<()> {
        let mut next_poll = Instant::now() + POLL;
        let stats_every = self
            .args
            .idle_timeout
            .map(|t| (t / 4).clamp(Duration::from_millis(250), Duration::from_secs(5)));
        let mut next_stats = Instant::now();
        let mut next_shot = Instant::now() + SCREENSHOT_EVERY;
        loop {
            if self.watches.iter().all(|w| w.done) {
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

    /// A guest reset: counted toward --reboots once past --min-uptime; the Nth ends it.
    fn rebooted(&mut self, index: usize) -> Result<()> {
        let args = self.args;
        let watch = &mut self.watches[index];
        let now = Instant::now();
        let burst = watch
            .last_reset
            .is_some_and(|t| now.duration_since(t) < RESET_BURST);
        watch.last_reset = Some(now);
        let min_uptime = args.min_uptime.unwrap_or_default();
        if burst || watch.since.elapsed() < min_uptime {
            return Ok(());
        }
        watch.reboots += 1;
        // A reset is a new boot: the idle clock starts again.
        if let Some((io, _)) = watch.io {
            watch.io = Some((io, Instant::now()));
        }
        let Some(limit) = args.reboots else {
            return Ok(());
        };
        if watch.reboots < limit {
            return Ok(());
        }
        // The install config would boot the installer again: stop it, once the console
        // has passed on the installer's last words.
        watch.stop_at.get_or_insert(Instant::now() + REBOOT_DRAIN);
        Ok(())
    }

    /// Stops a guest whose --reboots limit was reached; its record follows the console.
    fn stop_rebooted(&mut self, index: usize) -> Result<()> {
        self.stopped(index, "shutoff", "reboot", "stopped")?;
        let watch = &self.watches[index];
        let Some(conn) = self.sessions[watch.session].conn.as_ref() else {
            return Ok(());
        };
        let uuid = watch.uuid.clone().unwrap_or_default();
        if let Ok(dom) = conn.connect.lookup_domain_by_uuid_string(&uuid)
            && let Err(e) = dom.destroy()
            && classify(&e) != Kind::NoDomain
        {
            return Err(conn.error(&e, Some(&watch.name)));
        }
        Ok(())
    }

    /// Console bytes: logged, and matched line by line against --fail-on and --expect.
    fn console(&mut self, index: usize, data: &[u8]) -> Result<()> {
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

    /// --idle-timeout: reads every connection's I/O counters in one call and fails the
    /// running domains whose counters have not moved for that long.
    fn check_idle(&mut self, now: Instant) -> Result<()> {
        let Some(limit) = self.args.idle_timeout else {
            return Ok(());
        };
        for session in 0..self.sessions.len() {
            let Some(conn) = self.sessions[session].conn.as_ref() else {
                continue;
            };
            let Ok(activity) = events::io_activity(&conn.connect) else {
                // A connection that broke is noticed by the close callback or the poll.
                continue;
            };
            for index in 0..self.watches.len() {
                let watch = &mut self.watches[index];
                if watch.done || watch.session != session {
                    continue;
                }
                let Some(now_io) = activity
                    .iter()
                    .find(|a| Some(&a.uuid) == watch.uuid.as_ref())
                    .map(|a| a.io)
                else {
                    continue;
                };
                match watch.io {
                    Some((io, _)) if io != now_io => watch.io = Some((now_io, now)),
                    Some((_, since)) if now.duration_since(since) >= limit => {
                        self.progress.clear();
                        let args = self.args;
                        self.out.give_up(
                            args,
                            conn,
                            watch,
                            "stalled",
                            "stalled",
                            &format!(
                                "stalled: no disk or network I/O for {}s",
                                limit.as_secs_f64()
                            ),
                        )?;
                    }
                    Some(_) => {}
                    None => watch.io = Some((now_io, now)),
                }
            }
        }
        Ok(())
    }

    /// Keeps a recent screenshot of each running domain for an abnormal stop.
    fn refresh_screenshots(&mut self) {
        for watch in self.watches.iter_mut().filter(|w| !w.done) {
            let Some(conn) = self.sessions[watch.session].conn.as_ref() else {
                continue;
            };
            let uuid = watch.uuid.clone().unwrap_or_default();
            if let Ok(dom) = conn.connect.lookup_domain_by_uuid_string(&uuid)
                && let Ok(png) = console::screenshot_png(&conn.connect, &dom)
            {
                watch.shot = Some(png);
            }
        }
    }

    /// Reconnects lost sessions, and on the fallback poll re-reads every state.
    fn reconnect_and_poll(&mut self, now: Instant, poll: bool) -> Result<()> {
        for index in 0..self.sessions.len() {
            let session = &mut self.sessions[index];
            let reconnected = if session.conn.is_none() && now >= session.next_try {
                reconnect(
                    session,
                    index,
                    &self.tx,
                    self.args.readonly,
                    self.args.reconnect_timeout,
                )?;
                session.conn.is_some()
            } else {
                false
            };
            if !(reconnected || poll) || session.conn.is_none() {
                continue;
            }
            // Just reconnected, or the fallback poll: re-read the state of its domains.
            for watch in 0..self.watches.len() {
                if self.watches[watch].done || self.watches[watch].session != index {
                    continue;
                }
                match self.see(watch) {
                    Err(Error::Connect(_)) => {
                        lose(&mut self.sessions[index]);
                        break;
                    }
                    other => other?,
                }
                if reconnected {
                    self.attach_again(watch)?;
                }
            }
        }
        Ok(())
    }

    /// The progress line: each pending domain with its phase, state, reboots and idle time.
    fn draw_progress(&mut self) {
        if !self.progress.on() {
            return;
        }
        let pending: Vec<String> = self
            .watches
            .iter()
            .filter(|w| !w.done)
            .map(|w| {
                if self.sessions[w.session].conn.is_none() {
                    return format!("{} (reconnecting)", w.name);
                }
                let mut text = format!(
                    "{} {}{}",
                    w.name,
                    if w.installing { "install " } else { "" },
                    w.state
                );
                if w.reboots > 0 {
                    text.push_str(&format!(
                        ", {} reboot{}",
                        w.reboots,
                        if w.reboots == 1 { "" } else { "s" }
                    ));
                }
                if let Some((_, since)) = w.io {
                    text.push_str(&format!(", I/O {}s ago", since.elapsed().as_secs()));
                }
                text
            })
            .collect();
        let text = format!(
            "dom-wait-shutdown: {} ({}s)",
            pending.join("; "),
            self.out.started.elapsed().as_secs()
        );
        self.progress.draw(&text);
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
        Error::Timeout(parts.join("; "))
    }
}

/// Writes the domain's screenshot to `path` ({name} replaced): a fresh one when `fresh`
/// and it can be taken, else the last one kept. Best effort: evidence, not the outcome.
fn save_screenshot(conn: &Conn, watch: &Watch, path: &Path, fresh: bool) {
    let uuid = watch.uuid.clone().unwrap_or_default();
    let taken = fresh
        .then(|| conn.connect.lookup_domain_by_uuid_string(&uuid).ok())
        .flatten()
        .and_then(|dom| console::screenshot_png(&conn.connect, &dom).ok());
    if let Some(png) = taken.as_ref().or(watch.shot.as_ref()) {
        let _ = console::write_file(&per_domain(path, &watch.name), png);
    }
}

/// Forgets a broken connection; the loop reopens it.
fn lose(session: &mut Session) {
    if session.conn.is_some() {
        session.sub = None;
        session.conn = None;
        let now = Instant::now();
        session.lost_at = Some(now);
        session.next_try = now;
        session.backoff = Duration::from_millis(100);
    }
}

/// One reconnection attempt, with exponential backoff after a failure.
///
/// # Errors
/// `Error::Connect` once the connection has stayed lost longer than `limit`.
fn reconnect(
    session: &mut Session,
    index: usize,
    tx: &mpsc::Sender<Notice>,
    readonly: bool,
    limit: Duration,
) -> Result<()> {
    let attempt = Conn::open(session.uri.as_deref(), readonly).and_then(|conn| {
        let sub = Subscription::new(&conn.connect, tx.clone(), index)
            .map_err(|e| conn.error(&e, None))?;
        Ok((conn, sub))
    });
    match attempt {
        Ok((conn, sub)) => {
            session.conn = Some(conn);
            session.sub = Some(sub);
            session.lost_at = None;
        }
        Err(e) => {
            let lost_for = session.lost_at.map_or(Duration::ZERO, |t| t.elapsed());
            if lost_for >= limit {
                return Err(Error::Connect(format!(
                    "{}: connection lost and not back within {}s: {e}",
                    session.shown,
                    limit.as_secs_f64()
                )));
            }
            session.next_try = Instant::now() + session.backoff;
            session.backoff = (session.backoff * 2).min(MAX_BACKOFF);
        }
    }
    Ok(())
}

/// Where finished domains go: records on stdout, failures remembered for the exit.
struct Output<'a> {
    stdout: &'a mut dyn Write,
    started: Instant,
    abnormal: Vec<String>,
    stalled: Vec<String>,
}

impl Output<'_> {
    /// A domain stopped (or was found stopped): its record, its install state, and
    /// whether that was a clean end.
    fn finish(
        &mut self,
        args: &Args,
        conn: &Conn,
        watch: &mut Watch,
        state: &str,
        reason: &str,
        action: &str,
    ) -> Result<()> {
        watch.done = true;
        let uuid = watch
            .uuid
            .clone()
            .unwrap_or_else(|| watch.target.key.clone());
        // Still there means persistent (or restarted by someone else, which keeps its kind).
        let persistent = conn
            .connect
            .lookup_domain_by_uuid_string(&uuid)
            .and_then(|d| d.is_persistent())
            .unwrap_or(false);
        let record = self.record(conn, watch, &uuid, state, reason, action, persistent);
        let clean = reason == "shutdown" || reason == "reboot";
        let failure = if !clean {
            Some(format!("stopped: {reason}"))
        } else if args.expect.is_some() && !watch.expected {
            Some("stopped without printing a line matching --expect".to_string())
        } else {
            None
        };
        if persistent {
            let install_reason = match &failure {
                None => None,
                Some(_) if clean => Some("expect"),
                Some(_) => Some(reason),
            };
            mark_install(conn, &uuid, install_reason);
        }
        if let Some(what) = failure {
            if let Some(path) = &args.screenshot {
                // Stopped: only a crashed guest kept by on_crash=preserve still shows.
                save_screenshot(conn, watch, path, state == "crashed");
            }
            self.abnormal
                .push(format!("{}: domain '{}' {what}", conn.shown, watch.name));
        }
        self.emit(&record)
    }

    /// A running domain the wait gives up on (stall, --fail-on): left running, its
    /// install marked failed, a screenshot taken, and its record printed.
    fn give_up(
        &mut self,
        args: &Args,
        conn: &Conn,
        watch: &mut Watch,
        reason: &str,
        action: &str,
        what: &str,
    ) -> Result<()> {
        watch.done = true;
        let uuid = watch.uuid.clone().unwrap_or_default();
        if let Some(path) = &args.screenshot {
            save_screenshot(conn, watch, path, true);
        }
        let persistent = conn
            .connect
            .lookup_domain_by_uuid_string(&uuid)
            .and_then(|d| d.is_persistent())
            .unwrap_or(false);
        if persistent {
            mark_install(conn, &uuid, Some(reason));
        }
        let state = watch.state.clone();
        let record = self.record(conn, watch, &uuid, &state, reason, action, persistent);
        let message = format!("{}: domain '{}' {what}", conn.shown, watch.name);
        if reason == "stalled" {
            self.stalled.push(message);
        } else {
            self.abnormal.push(message);
        }
        self.emit(&record)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        conn: &Conn,
        watch: &Watch,
        uuid: &str,
        state: &str,
        reason: &str,
        action: &str,
        persistent: bool,
    ) -> Record {
        let waited = self.started.elapsed().as_millis();
        Record {
            name: watch.name.clone(),
            uuid: uuid.to_string(),
            id: None,
            state: state.to_string(),
            reason: reason.to_string(),
            persistent,
            uri: conn.uri.clone(),
            action: action.to_string(),
            waited_ms: Some(u64::try_from(waited).unwrap_or(u64::MAX)),
        }
    }

    fn emit(&mut self, record: &Record) -> Result<()> {
        cli::write_out(self.stdout, &record.to_line())?;
        // The next tool of a pipeline acts on each domain as soon as it stops.
        self.stdout.flush().map_err(|e| Error::io("<stdout>", e))
    }
}

/// An install config that ended: its domain is installed after a clean end (`failed`
/// None), failed with the reason otherwise. Only a domain marked "installing" changes.
/// Best effort: a read-only connection cannot write, and dom-create settles an install
/// left "installing" from the domain's stop reason anyway.
fn mark_install(conn: &Conn, uuid: &str, failed: Option<&str>) {
    let Ok(dom) = conn.connect.lookup_domain_by_uuid_string(uuid) else {
        return;
    };
    if install::read(&dom).ok().flatten() == Some(install::State::Installing) {
        let state = match failed {
            None => install::State::Installed,
            Some(why) => install::State::Failed(why.to_string()),
        };
        let _ = install::write(&dom, &state);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::Sender;

    use super::*;
    use crate::error::exit;
    use crate::libvirt::testing::{URI, domain_xml, records, run_tool};

    /// A stdout that hands each write to the test thread, so it knows how far `run` got.
    struct Chan(Sender<String>);

    impl Write for Chan {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn wait(argv: &[&str], stdin: &str) -> (String, Result<()>) {
        let mut all = vec!["-c", URI];
        all.extend_from_slice(argv);
        run_tool(run, &all, stdin)
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
            run(args, &mut std::io::empty(), &mut Chan(tx))
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
