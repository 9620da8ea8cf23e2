//! --idle-timeout: a guest whose disk and network I/O counters stop moving has stalled.

use std::time::Instant;

use super::Supervisor;
use crate::error::Result;
use crate::libvirt::events;

impl Supervisor<'_, '_> {
    /// --idle-timeout: reads every connection's I/O counters in one call and fails the
    /// running domains whose counters have not moved for that long.
    pub(super) fn check_idle(&mut self, now: Instant) -> Result<()> {
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
}
