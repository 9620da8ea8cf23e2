//! The domains to wait for, and the first look at each: the targets from the arguments and
//! the records on stdin, their connections subscribed before any state is read, and what a
//! running domain gets attached (install state, console, screenshot).

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Args, Seen, Session, Supervisor, Watch, console, look};
use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::connect::Conn;
use crate::libvirt::console as libvirt_console;
use crate::libvirt::events::{Notice, Subscription};
use crate::libvirt::install;
use crate::libvirt::record::{self, Record, Target};

/// The domains to wait for: arguments, and records on stdin.
pub(super) fn read_targets(args: &Args, stdin: &mut dyn Read) -> Result<Vec<Target>> {
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

/// Opens one connection per URI and subscribes to its events before any state is read:
/// a stop in between is queued, never missed.
pub(super) fn subscribe(
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

impl Supervisor<'_, '_> {
    /// The first look at every domain: stopped ones are reported at once, running ones get
    /// their console, screenshot and install state read.
    pub(super) fn first_look(&mut self) -> Result<()> {
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
    pub(super) fn attach(&mut self, index: usize) -> Result<()> {
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
        console::follow(args, conn, &dom, index, watch, &self.tx)?;
        if args.screenshot.is_some() {
            watch.shot = libvirt_console::screenshot_png(&conn.connect, &dom).ok();
        }
        Ok(())
    }

    /// After a reconnection, for a domain still running: its console again (the stream
    /// ended with the old connection, and what the guest prints from now on, such as the
    /// line --expect waits for, must not go unseen) and a fresh screenshot.
    pub(super) fn attach_again(&mut self, index: usize) -> Result<()> {
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
    pub(super) fn attach_if_running(&mut self, index: usize) -> Result<()> {
        match self.attach(index) {
            Err(_) if !self.still_running(index) => Ok(()),
            other => other,
        }
    }

    /// Whether the watched domain runs, as far as its session can tell now.
    pub(super) fn still_running(&self, index: usize) -> bool {
        let watch = &self.watches[index];
        let (Some(conn), Some(uuid)) = (&self.sessions[watch.session].conn, &watch.uuid) else {
            return false;
        };
        conn.connect
            .lookup_domain_by_uuid_string(uuid)
            .and_then(|dom| dom.is_active())
            .unwrap_or(false)
    }
}
