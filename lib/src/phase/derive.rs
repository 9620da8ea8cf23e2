//! The final config derived from an install config that records no profile, the way
//! virt-install writes it (see `tests/data/virt-manager/two-phase/`): boot the first disk, eject the
//! install media, drop kernel/initrd/cmdline and the cloud-init SMBIOS, restore on_reboot.

use crate::error::Result;
use crate::xml::domain;
use crate::xml::edit;
use crate::xml::{Document, Id, Patch};

/// Seeds virt-install generates for one install only (`virtinst-*-cloudinit.iso`,
/// `*-unattended.iso`): always ejected in the final config.
const SEED_SUFFIXES: &[&str] = &["cloudinit.iso", "unattended.iso", "unattended.img"];

/// Derives the final config of `text`.
///
/// # Errors
/// A malformed document.
pub fn to_final(source: &str, text: &str) -> Result<String> {
    let text = edit::with_doc(source, text, drop_direct_kernel_and_smbios)?;
    let text = edit::with_doc(source, &text, |doc| {
        let on_reboot = doc.child(0, "on_reboot");
        let destroy = on_reboot
            .map(|r| doc.text_of(r))
            .transpose()?
            .is_some_and(|v| v.trim() == "destroy");
        // virt-install adds on_reboot alone for the install; next to on_poweroff/on_crash
        // it is the user's own choice of events and stays.
        let user_events =
            doc.child(0, "on_poweroff").is_some() || doc.child(0, "on_crash").is_some();
        Ok(if destroy && !user_events {
            edit::set_domain_text(doc, "on_reboot", None)
        } else {
            Vec::new()
        })
    })?;
    edit::with_doc(source, &text, boot_disk_and_eject)
}

fn drop_direct_kernel_and_smbios(doc: &Document<'_>) -> Result<Vec<Patch>> {
    let mut patches = Vec::new();
    let Some(os) = domain::os(doc) else {
        return Ok(patches);
    };
    for name in ["kernel", "initrd", "cmdline"] {
        patches.extend(doc.children_named(os, name).map(|c| edit::remove(doc, c)));
    }
    // virt-install's cloud-init passes `ds=nocloud` through SMBIOS for the install only.
    let cloud_init = doc.children_named(0, "sysinfo").find(|&s| {
        doc.attr(s, "type") == Some("smbios")
            && doc.text_of(s).is_ok_and(|t| t.contains("ds=nocloud"))
    });
    if let Some(sysinfo) = cloud_init {
        patches.push(edit::remove(doc, sysinfo));
        patches.extend(
            doc.children_named(os, "smbios")
                .filter(|&s| doc.attr(s, "mode") == Some("sysinfo"))
                .map(|s| edit::remove(doc, s)),
        );
    }
    Ok(patches)
}

/// virt-install keeps Windows install media in the final config: Windows setup reads it
/// again after its first reboot.
fn is_windows(doc: &Document<'_>) -> bool {
    let Some(metadata) = doc.child(0, "metadata") else {
        return false;
    };
    let osinfo = doc
        .el(metadata)
        .children
        .iter()
        .flat_map(|&c| doc.el(c).children.iter().copied());
    osinfo.into_iter().any(|c| {
        doc.attr(c, "id")
            .is_some_and(|id| id.contains("microsoft.com/win"))
    })
}

fn is_seed(doc: &Document<'_>, disk: Id) -> bool {
    let source = doc
        .child(disk, "source")
        .and_then(|s| doc.attr(s, "file").or_else(|| doc.attr(s, "dev")));
    source.is_some_and(|path| {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        SEED_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
    })
}

fn removable(doc: &Document<'_>, disk: Id) -> bool {
    doc.el(disk).name == "disk" && matches!(domain::disk_device(doc, disk), "cdrom" | "floppy")
}

fn boot_disk_and_eject(doc: &Document<'_>) -> Result<Vec<Patch>> {
    let mut patches = Vec::new();
    let Some(devices) = domain::devices(doc) else {
        return Ok(patches);
    };
    let windows = is_windows(doc);
    let mut ejected: Vec<Id> = Vec::new();
    // The installed system's disk; a guest without one keeps booting its first CD-ROM.
    let boot_device = domain::hard_disks(doc).first().copied().or_else(|| {
        doc.children_named(devices, "disk")
            .find(|&d| domain::disk_device(doc, d) == "cdrom")
    });
    if let Some(first_disk) = boot_device {
        let os_boot = domain::os(doc).is_some_and(|os| doc.child(os, "boot").is_some());
        if os_boot {
            patches.extend(edit::set_os_boot(doc, &["hd"])?);
        } else {
            patches.extend(edit::set_boot_order(doc, first_disk, Some(1)));
            for &d in &doc.el(devices).children {
                if d == first_disk || doc.child(d, "boot").is_none() {
                    continue;
                }
                patches.extend(edit::set_boot_order(doc, d, None));
                if removable(doc, d) && !windows {
                    ejected.push(d);
                }
            }
        }
    }
    for &d in &doc.el(devices).children {
        if removable(doc, d) && is_seed(doc, d) && !ejected.contains(&d) {
            ejected.push(d);
        }
    }
    for d in ejected {
        patches.extend(edit::eject_disk(doc, d));
    }
    Ok(patches)
}
