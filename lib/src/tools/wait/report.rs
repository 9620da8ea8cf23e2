//! What a finished domain leaves: its record on stdout (flushed, for the next tool of a
//! pipeline), its install state, and the failures remembered for the exit status.

use std::io::Write;
use std::time::Instant;

use super::evidence::save_screenshot;
use super::{Args, Watch};
use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::connect::Conn;
use crate::libvirt::install;
use crate::libvirt::record::Record;

/// Where finished domains go: records on stdout, failures remembered for the exit.
pub(super) struct Output<'a> {
    pub(super) stdout: &'a mut dyn Write,
    pub(super) started: Instant,
    pub(super) abnormal: Vec<String>,
    pub(super) stalled: Vec<String>,
}

impl Output<'_> {
    /// A domain stopped (or was found stopped): its record, its install state, and
    /// whether that was a clean end.
    pub(super) fn finish(
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
    pub(super) fn give_up(
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
    pub(super) fn record(
        &self,
        conn: &Conn,
        watch: &Watch,
        uuid: &str,
        state: &str,
        reason: &str,
        action: &str,
        persistent: bool,
    ) -> Record {
        let waited = watch.since.elapsed().as_millis();
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

    pub(super) fn emit(&mut self, record: &Record) -> Result<()> {
        cli::write_out(self.stdout, &record.to_line())?;
        // The next tool of a pipeline acts on each domain as soon as it stops.
        self.stdout.flush().map_err(|e| Error::io("<stdout>", e))
    }
}

/// An install config that ended: its domain is installed after a clean end (`failed`
/// None), failed with the reason otherwise. Only a domain marked "installing" changes.
/// Best effort: a read-only connection cannot write, and dom-create settles an install
/// left "installing" from the domain's stop reason anyway.
pub(super) fn mark_install(conn: &Conn, uuid: &str, failed: Option<&str>) {
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
