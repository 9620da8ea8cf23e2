//! The progress line on a terminal's stderr: each domain still waited for, its phase,
//! state, reboots and idle time.

use std::time::Duration;

use super::Supervisor;

/// How often the terminal progress line is redrawn.
pub(super) const TICK: Duration = Duration::from_secs(1);

impl Supervisor<'_, '_> {
    /// The progress line: each pending domain with its phase, state, reboots and idle time.
    pub(super) fn draw_progress(&mut self) {
        if !self.progress.on() {
            return;
        }
        let mut pending: Vec<String> = self
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
        if self.intake.is_some() {
            pending.push("more records on stdin".into());
        }
        let text = format!(
            "dom-wait-shutdown: {} ({}s)",
            pending.join("; "),
            self.out.started.elapsed().as_secs()
        );
        self.progress.draw(&text);
    }
}
