//! --screenshot: a picture of the display kept while waiting, and written for a timeout,
//! a stall, a --fail-on match or an abnormal stop.

use std::path::Path;
use std::time::Duration;

use super::{Supervisor, Watch, per_domain};
use crate::libvirt::connect::Conn;
use crate::libvirt::console;

/// How often `--screenshot` refreshes the picture kept for an abnormal stop.
pub(super) const SCREENSHOT_EVERY: Duration = Duration::from_secs(10);

impl Supervisor<'_, '_> {
    /// Keeps a recent screenshot of each running domain for an abnormal stop.
    pub(super) fn refresh_screenshots(&mut self) {
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
}

/// Writes the domain's screenshot to `path` ({name} replaced): a fresh one when `fresh`
/// and it can be taken, else the last one kept. Best effort: evidence, not the outcome.
pub(super) fn save_screenshot(conn: &Conn, watch: &Watch, path: &Path, fresh: bool) {
    let uuid = watch.uuid.clone().unwrap_or_default();
    let taken = fresh
        .then(|| conn.connect.lookup_domain_by_uuid_string(&uuid).ok())
        .flatten()
        .and_then(|dom| console::screenshot_png(&conn.connect, &dom).ok());
    if let Some(png) = taken.as_ref().or(watch.shot.as_ref()) {
        let _ = console::write_file(&per_domain(path, &watch.name), png);
    }
}
