//! The two boot phases of a guest: the recorded boot profile and its byte-exact swap, the
//! install phase made from a final config, and the final config derived from an install
//! config the way virt-install writes it.

pub mod boot;
pub mod derive;
pub mod install;
pub mod profile;

pub use profile::Phase;

use crate::error::Result;
use crate::xml::Document;

/// Which phase a domain document is in: the one its recorded boot profile does not hold
/// or, without a profile, the install phase exactly when it shows virt-install's install
/// phase, `<on_reboot>destroy</on_reboot>` (virt-manager's `virtinst/install/installer.py`,
/// `_alter_bootconfig`, sets it for the installer's boot and nothing else does). Every
/// other document is a final config: an ordinary guest's config is already final.
///
/// # Errors
/// A malformed recorded profile, or an unknown entity in `<on_reboot>`.
pub fn active_phase(doc: &Document<'_>) -> Result<Phase> {
    if let Some(located) = profile::find(doc)? {
        return Ok(located.profile.recorded.other());
    }
    let on_reboot = doc.child_text(0, "on_reboot")?;
    Ok(match on_reboot.as_deref().map(str::trim) {
        Some("destroy") => Phase::Install,
        _ => Phase::Final,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase_of(text: &str) -> Phase {
        active_phase(&Document::parse("t", text).unwrap()).unwrap()
    }

    #[test]
    fn only_virt_installs_install_phase_or_a_recorded_profile_makes_an_install_config() {
        assert_eq!(phase_of("<domain><os/></domain>"), Phase::Final);
        assert_eq!(
            phase_of("<domain><on_reboot>restart</on_reboot></domain>"),
            Phase::Final
        );
        assert_eq!(
            phase_of("<domain><on_reboot> destroy </on_reboot></domain>"),
            Phase::Install
        );
        let ns = profile::NAMESPACE;
        for (recorded, active) in [("final", Phase::Install), ("install", Phase::Final)] {
            let text = format!(
                "<domain><metadata><d:profile xmlns:d='{ns}' recorded='{recorded}'/></metadata></domain>"
            );
            assert_eq!(phase_of(&text), active);
        }
    }
}
