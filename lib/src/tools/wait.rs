//! `dom-wait-shutdown`: wait on libvirt's lifecycle events until domains stop, and tell a
//! clean shutdown (the installer's final reboot under on_reboot=destroy included) from a
//! guest that was destroyed, crashed or failed.

use std::io::{Read, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::connect::{Conn, DomainArgs, Kind, classify};
use crate::libvirt::events::{self, Lifecycle, Notice, Subscription};
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

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-create ./install.xml | dom-wait-shutdown --timeout 3600 && dom-create vm1\n  dom-wait-shutdown -c qemu:///system vm1 vm2";

/// Wait until domains have stopped, and report why each stopped.
///
/// Registers for libvirt's lifecycle events first and only then reads each domain's state,
/// so no stop is missed; a domain already shut off is reported at once. Prints one JSON
/// record per domain as it stops, with its stop `reason` (shutdown, destroyed, crashed,
/// failed, saved, migrated, from-snapshot, unknown) and `waited_ms`. A transient guest that
/// vanishes counts as stopped. Domains are NAMEs or UUIDs, or JSON records on stdin (as
/// dom-define and dom-create print). If the connection drops (libvirtd restarted) it
/// reconnects and goes on waiting. Exits 0 only if every domain shut down cleanly
/// (a guest's own power-off, or its reboot under on_reboot=destroy), else 9.
#[derive(Debug, clap::Parser)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// NAMEs or UUIDs of the domains; `-` or none reads JSON records from stdin.
    #[arg(value_name = "NAME|UUID")]
    pub targets: Vec<String>,
    /// Connection options.
    #[command(flatten)]
    pub conn: DomainArgs,
    /// Open the connection read-only (waiting needs no more).
    #[arg(long)]
    pub readonly: bool,
    /// Give up after SECONDS (exit 8), leaving the guests as they are; default: no limit.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Give up when a lost connection cannot be reopened within SECONDS (exit 7);
    /// 0 fails at once.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "60")]
    pub reconnect_timeout: Duration,
}

/// Parses a non-negative number of seconds, fractions allowed.
fn parse_seconds(text: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("not a number of seconds: {text}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a number of seconds: {text}"))
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

/// Clears the terminal progress line when dropped, so it is gone on every exit path.
struct Progress {
    on: bool,
    drawn: bool,
}

impl Progress {
    fn draw(&mut self, text: &str) {
        if self.on {
            let line: String = text.chars().take(99).collect();
            cli::write_err(&format!("\r\x1b[K{line}"));
            self.drawn = true;
        }
    }

    fn clear(&mut self) {
        if self.on && self.drawn {
            cli::write_err("\r\x1b[K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
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

/// Waits for every domain and prints their records as they stop.
///
/// # Errors
/// Unknown domain, connection failures, `--timeout` running out, and an abnormal stop of
/// any domain (after all records are printed).
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
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

    let started = Instant::now();
    // A timeout past what the clock can represent is no limit at all.
    let deadline = args.timeout.and_then(|t| started.checked_add(t));
    let (tx, rx) = mpsc::channel();
    let mut sessions: Vec<Session> = Vec::new();
    let mut watches = Vec::new();
    for target in targets {
        let uri = args.conn.connect.clone().or_else(|| target.uri.clone());
        let session = match sessions.iter().position(|s| s.uri == uri) {
            Some(i) => i,
            None => {
                let conn = Conn::open(uri.as_deref(), args.readonly)?;
                // Subscribe before the first look at any state: a stop in between is queued.
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
        });
    }

    let mut out = Output {
        stdout,
        started,
        abnormal: Vec::new(),
    };
    for watch in &mut watches {
        let session = &sessions[watch.session];
        let conn = session.conn.as_ref().expect("sessions start connected");
        match look(conn, watch) {
            Ok(Seen::Live(state)) => watch.state = state,
            Ok(Seen::Stopped(state, reason)) => {
                out.finish(conn, watch, &state, &reason, "already-stopped")?
            }
            Ok(Seen::Vanished) => unreachable!("a first look reports a missing domain as an error"),
            // A transient guest from a record that is gone already has stopped.
            Err(Error::NoDomain(_)) if watch.target.persistent == Some(false) => {
                watch.uuid = Some(watch.target.key.clone());
                out.finish(conn, watch, "shutoff", "unknown", "already-stopped")?
            }
            Err(e) => return Err(e),
        }
    }

    let mut progress = Progress {
        on: cli::stderr_is_terminal(),
        drawn: false,
    };
    let mut next_poll = Instant::now() + POLL;
    loop {
        if watches.iter().all(|w| w.done) {
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            progress.clear();
            return Err(timed_out(
                &watches,
                &sessions,
                args.timeout.unwrap_or_default(),
            ));
        }
        let pending: Vec<String> = watches
            .iter()
            .filter(|w| !w.done)
            .map(|w| {
                let lost = sessions[w.session].conn.is_none();
                format!(
                    "{} {}",
                    w.name,
                    if lost { "(reconnecting)" } else { &w.state }
                )
            })
            .collect();
        progress.draw(&format!(
            "dom-wait-shutdown: {} ({}s)",
            pending.join(", "),
            started.elapsed().as_secs()
        ));

        let mut wake = next_poll;
        if progress.on {
            wake = wake.min(now + TICK);
        }
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        for s in sessions.iter().filter(|s| s.conn.is_none()) {
            wake = wake.min(s.next_try);
        }
        for w in watches.iter().filter(|w| !w.done) {
            if let Some(since) = w.vanished {
                wake = wake.min(since + VANISH_GRACE);
            }
        }
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Notice::Lifecycle {
                source,
                uuid,
                event,
                detail,
                ..
            }) => {
                for watch in watches.iter_mut().filter(|w| {
                    !w.done && w.session == source && w.uuid.as_deref() == Some(uuid.as_str())
                }) {
                    let Some(conn) = sessions[source].conn.as_ref() else {
                        continue;
                    };
                    if event == Lifecycle::Stopped {
                        progress.clear();
                        out.finish(
                            conn,
                            watch,
                            "shutoff",
                            record::stopped_word(detail),
                            "stopped",
                        )?;
                    } else {
                        // Undefined, crashed, resumed...: the state says what it means now.
                        see(conn, watch, &mut out, &mut progress)?;
                    }
                }
            }
            Ok(Notice::Closed { source, .. }) => lose(&mut sessions[source]),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
        }

        let now = Instant::now();
        for watch in watches.iter_mut().filter(|w| !w.done) {
            if watch.vanished.is_some_and(|t| now >= t + VANISH_GRACE)
                && let Some(conn) = sessions[watch.session].conn.as_ref()
            {
                see(conn, watch, &mut out, &mut progress)?;
            }
        }
        let poll = now >= next_poll;
        if poll {
            next_poll = now + POLL;
        }
        for (index, session) in sessions.iter_mut().enumerate() {
            if session.conn.is_none() && now >= session.next_try {
                reconnect(session, index, &tx, args.readonly, args.reconnect_timeout)?;
                if session.conn.is_none() {
                    continue;
                }
            } else if !poll || session.conn.is_none() {
                continue;
            }
            // Just reconnected, or the fallback poll: re-read the state of its domains.
            for watch in watches.iter_mut().filter(|w| !w.done && w.session == index) {
                let conn = session.conn.as_ref().expect("checked above");
                match see(conn, watch, &mut out, &mut progress) {
                    Err(Error::Connect(_)) => {
                        lose(session);
                        break;
                    }
                    other => other?,
                }
            }
        }
    }
    progress.clear();
    if out.abnormal.is_empty() {
        Ok(())
    } else {
        Err(Error::AbnormalStop(out.abnormal.join("; ")))
    }
}

/// The `--timeout` error, naming every domain still running and where.
fn timed_out(watches: &[Watch], sessions: &[Session], timeout: Duration) -> Error {
    let secs = timeout.as_secs_f64();
    let mut parts = Vec::new();
    for (index, session) in sessions.iter().enumerate() {
        let names: Vec<String> = watches
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

/// Re-reads a domain's state and finishes it if it has stopped or vanished.
fn see(
    conn: &Conn,
    watch: &mut Watch,
    out: &mut Output<'_>,
    progress: &mut Progress,
) -> Result<()> {
    match look(conn, watch)? {
        Seen::Live(state) => watch.state = state,
        Seen::Stopped(state, reason) => {
            progress.clear();
            out.finish(conn, watch, &state, &reason, "stopped")?;
        }
        Seen::Vanished => {
            // Its Stopped event may still be on the way: give it VANISH_GRACE.
            let since = *watch.vanished.get_or_insert_with(Instant::now);
            if since.elapsed() >= VANISH_GRACE {
                progress.clear();
                out.finish(conn, watch, "shutoff", "unknown", "stopped")?;
            }
        }
    }
    Ok(())
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

/// Where finished domains go: records on stdout, abnormal stops remembered for the exit.
struct Output<'a> {
    stdout: &'a mut dyn Write,
    started: Instant,
    abnormal: Vec<String>,
}

impl Output<'_> {
    fn finish(
        &mut self,
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
        let waited = self.started.elapsed().as_millis();
        let record = Record {
            name: watch.name.clone(),
            uuid,
            id: None,
            state: state.to_string(),
            reason: reason.to_string(),
            persistent,
            uri: conn.uri.clone(),
            action: action.to_string(),
            waited_ms: Some(u64::try_from(waited).unwrap_or(u64::MAX)),
        };
        if reason != "shutdown" {
            self.abnormal.push(format!(
                "{}: domain '{}' stopped: {reason}",
                conn.shown, watch.name
            ));
        }
        cli::write_out(self.stdout, &record.to_line())?;
        // The next tool of a pipeline acts on each domain as soon as it stops.
        self.stdout.flush().map_err(|e| Error::io("<stdout>", e))
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
}
