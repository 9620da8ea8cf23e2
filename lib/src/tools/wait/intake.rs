//! The domains to wait for, and the first look at each: the targets from the arguments and
//! the records on stdin, read on a thread of their own and each admitted as its line
//! arrives, their connections subscribed before any state is read, and what a running
//! domain gets attached (install state, console, screenshot).

use std::io::BufReader;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::session::lose;
use super::{Args, Seen, Session, Supervisor, Watch, console, look};
use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::connect::Conn;
use crate::libvirt::console as libvirt_console;
use crate::libvirt::events::{Notice, Subscription};
use crate::libvirt::install;
use crate::libvirt::record::{Record, Records, Target};

/// What the record reader passes on from stdin.
pub(super) enum Intake {
    /// A record's domain, as soon as its line arrived.
    Target(Target),
    /// Stdin has ended: at its end, or at the error that stopped the reading (a bad line,
    /// a read error).
    End(Result<()>),
}

/// Reads the records on stdin on a thread of its own and passes each on as its line
/// arrives, waking the wait loop with `Notice::Input`. The thread may be left blocked in
/// a read when the wait stops early: the process exits with it.
///
/// # Errors
/// The thread cannot be started.
pub(super) fn read_records(
    stdin: cli::Stdin,
    uri_override: bool,
    wake: mpsc::Sender<Notice>,
) -> Result<mpsc::Receiver<Intake>> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("records".into())
        .spawn(move || {
            let mut records = Records::new(BufReader::new(stdin), uri_override);
            loop {
                let (intake, last) = match records.next_target() {
                    Ok(Some(target)) => (Intake::Target(target), false),
                    Ok(None) => (Intake::End(Ok(())), true),
                    Err(e) => (Intake::End(Err(e)), true),
                };
                // A wait that has ended takes no more.
                if tx.send(intake).is_err() || wake.send(Notice::Input).is_err() || last {
                    break;
                }
            }
        })
        .map_err(|e| Error::io("<stdin>", e))?;
    Ok(rx)
}

/// --console-log and --screenshot name one file for every domain unless it has "{name}":
/// refused once a second domain is given (in arguments, or by a record as it arrives).
pub(super) fn check_one_file_each(args: &Args, domains: usize) -> Result<()> {
    for (flag, path) in [
        ("--console-log", &args.console_log),
        ("--screenshot", &args.screenshot),
    ] {
        if let Some(path) = path
            && domains > 1
            && !path.to_string_lossy().contains("{name}")
        {
            return Err(Error::Usage(format!(
                "{flag} {}: several domains need {{name}} in the file name",
                path.display()
            )));
        }
    }
    Ok(())
}

impl Supervisor<'_, '_> {
    /// Takes what the record reader has passed on: each record's domain is waited for from
    /// now on; its end closes the intake.
    ///
    /// # Errors
    /// The reader's error (bad record, read error), and `admit`'s.
    pub(super) fn take_input(&mut self) -> Result<()> {
        while let Some(intake) = &self.intake {
            match intake.try_recv() {
                Ok(Intake::Target(target)) => self.admit(target)?,
                Ok(Intake::End(result)) => {
                    self.intake = None;
                    result?;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => self.intake = None,
            }
        }
        Ok(())
    }

    /// Waits for one more domain: its connection opened and subscribed to (once per URI)
    /// before its state is read, so a stop in between is queued, never missed; then its
    /// first look.
    ///
    /// # Errors
    /// A second domain where a file needs "{name}", connection failures, an unknown
    /// domain, and the first look's.
    pub(super) fn admit(&mut self, target: Target) -> Result<()> {
        check_one_file_each(self.args, self.watches.len() + 1)?;
        let args = self.args;
        let uri = args.conn.connect.clone().or_else(|| target.uri.clone());
        let session = match self.sessions.iter().position(|s| s.uri == uri) {
            Some(i) => i,
            None => {
                let conn = Conn::open(uri.as_deref(), args.readonly)?;
                let sub = Subscription::new(&conn.connect, self.tx.clone(), self.sessions.len())
                    .map_err(|e| conn.error(&e, None))?;
                self.sessions.push(Session {
                    uri,
                    shown: conn.shown.clone(),
                    conn: Some(conn),
                    sub: Some(sub),
                    lost_at: None,
                    next_try: Instant::now(),
                    backoff: Duration::from_millis(100),
                });
                self.sessions.len() - 1
            }
        };
        let name = target.label().to_string();
        self.watches.push(Watch {
            target,
            session,
            uuid: None,
            name,
            state: "?".into(),
            looked: false,
            done: false,
            vanished: None,
            since: Instant::now(),
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
        let index = self.watches.len() - 1;
        match self.first_look(index) {
            // The connection broke just now: the look follows the reconnection, or the
            // wait ends with exit 7 after --reconnect-timeout.
            Err(Error::Connect(_)) => {
                lose(&mut self.sessions[session]);
                Ok(())
            }
            other => other,
        }
    }

    /// The first look at a domain, once its connection is up (at once, or when a lost one
    /// is back): stopped, it is reported at once; running, it gets its console, screenshot
    /// and install state read.
    pub(super) fn first_look(&mut self, index: usize) -> Result<()> {
        let looked = self.look_first(index);
        if looked.is_err() {
            // Made again after a reconnection, or the error ends the wait.
            self.watches[index].looked = false;
        }
        looked
    }

    /// `first_look`, whatever it finds.
    fn look_first(&mut self, index: usize) -> Result<()> {
        let session = self.watches[index].session;
        let Some(conn) = self.sessions[session].conn.as_ref() else {
            return Ok(());
        };
        let watch = &mut self.watches[index];
        watch.looked = true;
        if watch.target.action.as_deref() == Some("already-installed") {
            // dom-create --resume skipped its installer: nothing to wait for.
            let dom = conn.lookup(&watch.target.key)?;
            watch.done = true;
            return self.out.emit(&Record::of(conn, &dom, "already-installed")?);
        }
        match look(conn, watch) {
            Ok(Seen::Live(state)) => {
                watch.state = state;
                // Refused before any console is followed (a running guest only: a stopped
                // or vanished one is reported as it is).
                console::check_offers(self.args, conn, &watch.target.key, &watch.name)?;
            }
            Ok(Seen::Stopped(state, reason)) => {
                let args = self.args;
                return self
                    .out
                    .finish(args, conn, watch, &state, &reason, "already-stopped");
            }
            // Gone between its lookup and its state (a transient guest stopping): its
            // Stopped event, subscribed to already, or VANISH_GRACE settles it.
            Ok(Seen::Vanished) => {
                watch.vanished.get_or_insert_with(Instant::now);
                return Ok(());
            }
            // A transient guest from a record that is gone already has stopped.
            Err(Error::NoDomain(_)) if watch.target.persistent == Some(false) => {
                watch.uuid = Some(watch.target.key.clone());
                let args = self.args;
                return self
                    .out
                    .finish(args, conn, watch, "shutoff", "unknown", "already-stopped");
            }
            Err(e) => return Err(e),
        }
        self.attach_if_running(index)
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
