//! --reboots: guest resets counted (bursts as one, none before --min-uptime), and the guest
//! stopped at the Nth, once the console has passed on what it printed before it.

use std::time::{Duration, Instant};

use super::Supervisor;
use crate::error::Result;
use crate::libvirt::connect::{Kind, classify};

/// How long after the reset that ends an install (--reboots) the guest is stopped: the
/// console still carries what the installer printed just before it (libvirt drops a
/// console stream's unread bytes when the domain stops), and a boot takes longer.
pub(super) const REBOOT_DRAIN: Duration = Duration::from_millis(500);
/// Reset events closer together than this are one guest reboot: QEMU reports a reboot
/// as a burst of 2-3 resets within ~150 ms (Linux tries one reset method after another),
/// and no firmware plus kernel boots that fast.
pub(super) const RESET_BURST: Duration = Duration::from_secs(2);

impl Supervisor<'_, '_> {
    /// A guest reset: counted toward --reboots once past --min-uptime; the Nth ends it.
    pub(super) fn rebooted(&mut self, index: usize) -> Result<()> {
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
    pub(super) fn stop_rebooted(&mut self, index: usize) -> Result<()> {
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
}
