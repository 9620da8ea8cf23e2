//! The connections waited on, one per URI: their event subscriptions, and reconnection
//! with backoff when libvirtd goes away, after which every state is read again.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Supervisor;
use crate::error::{Error, Result};
use crate::libvirt::connect::Conn;
use crate::libvirt::events::{Notice, Subscription};

/// Longest pause between reconnection attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One connection and its event subscription; both absent while it is lost.
pub(super) struct Session {
    pub(super) uri: Option<String>,
    pub(super) conn: Option<Conn>,
    pub(super) sub: Option<Subscription>,
    pub(super) shown: String,
    pub(super) lost_at: Option<Instant>,
    pub(super) next_try: Instant,
    pub(super) backoff: Duration,
}

impl Supervisor<'_, '_> {
    /// Reconnects lost sessions, and on the fallback poll re-reads every state.
    pub(super) fn reconnect_and_poll(&mut self, now: Instant, poll: bool) -> Result<()> {
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
                let looked = self.watches[watch].looked;
                // A record that arrived while the connection was lost: its first look.
                let seen = if looked {
                    self.see(watch)
                } else {
                    self.first_look(watch)
                };
                match seen {
                    Err(Error::Connect(_)) => {
                        lose(&mut self.sessions[index]);
                        break;
                    }
                    other => other?,
                }
                if reconnected && looked {
                    self.attach_again(watch)?;
                }
            }
        }
        Ok(())
    }
}

/// Forgets a broken connection; the loop reopens it.
pub(super) fn lose(session: &mut Session) {
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
pub(super) fn reconnect(
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
