//! The final config derived from an install config that records no profile, the way
//! virt-install writes the pair (see `tests/data/virt-manager/two-phase/`). Every rule here
//! undoes one step of virt-manager's `virtinst/install/installer.py` and names it.
//!
//! Only a document that shows virt-install's install phase is derived from (see
//! [`crate::phase::active_phase`]): any other document is a final config already and is
//! given back byte for byte.
//!
//! Not derivable, because the install config does not carry it: a kernel command line or
//! `<on_reboot>` of the user's own final config, the memory `_alter_install_resources`
//! raised for a network install, the default TPM `_build_postboot_xml` leaves out of a
//! UEFI cloud-init install, and a reinstall's pre-existing config (`_pre_reinstall_xml`).

use crate::error::Result;
use crate::phase::boot::BootFacts;
use crate::phase::{Phase, active_phase};
use crate::xml::domain;
use crate::xml::edit;
use crate::xml::{self, Document, Id, Patch};

/// Derives the final config of `text`; a document that is not an install config comes
/// back unchanged.
///
/// # Errors
/// A malformed document.
pub fn to_final(source: &str, text: &str) -> Result<String> {
    let doc = Document::parse(source, text)?;
    if active_phase(&doc)? == Phase::Final {
        return Ok(text.to_string());
    }
    let facts = BootFacts::of(&doc)?;
    let mut patches = Vec::new();
    patches.extend(drop_install_on_reboot(&doc));
    // `_alter_treemedia_bootconfig`: the installer's kernel, initrd and kernel_args.
    patches.extend(drop_direct_kernel(&doc));
    // `_build_postboot_xml` -> `set_smbios_serial_cloudinit`: cloud-init's ds=nocloud.
    patches.extend(drop_cloud_init_smbios(&doc)?);
    let install = InstallBoot::of(&doc);
    // `_can_set_guest_bootorder` gives every guest but a container a final boot order,
    // Xen paravirt ones included. Not here: libvirt's schema has no `<boot dev>` for a
    // Xen PV or PVH `<os>` (domaincommon.rng, `osxen`), and libxl reads the boot order
    // of HVM guests only (src/libxl/libxl_conf.c, libxlMakeDomBuildInfo), so virt-install's
    // `<boot dev='hd'/>` there fails validation and changes nothing. A PV guest with
    // neither a kernel nor a `<bootloader>` boots pygrub (see `tools::rewrite`).
    if facts.os_type == "hvm" {
        patches.extend(final_boot_order(&doc, &install, &facts)?);
    }
    // `_remove_install_cdrom_media`, `_remove_unattended_install_cdrom_device`.
    for drive in ejected_drives(&doc, &install) {
        patches.extend(edit::eject_disk(&doc, drive));
    }
    xml::apply(text, patches)
}

/// How the install config boots, as virt-install set it up.
struct InstallBoot {
    /// `<os><boot dev>` in order, when the config uses the list.
    list: Vec<String>,
    /// The device with the lowest per-device `<boot order>`, when the config uses those.
    first_device: Option<Id>,
    /// virt-install's `_install_bootdev`: what the installer booted (cdrom, network, hd,
    /// fd), or `None` for a kernel (`--location`) or import install.
    bootdev: Option<String>,
}

impl InstallBoot {
    fn of(doc: &Document<'_>) -> InstallBoot {
        let list: Vec<String> = domain::os(doc)
            .map(|os| {
                doc.children_named(os, "boot")
                    .filter_map(|b| doc.attr(b, "dev"))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let first_device = domain::devices(doc).and_then(|devices| {
            doc.el(devices)
                .children
                .iter()
                .filter_map(|&d| {
                    let order = doc.child(d, "boot").and_then(|b| doc.attr(b, "order"))?;
                    Some((order.trim().parse::<u64>().ok()?, d))
                })
                .min()
                .map(|(_, d)| d)
        });
        let bootdev = match (list.first(), first_device) {
            (Some(dev), _) => Some(dev.clone()),
            (None, Some(d)) => device_kind(doc, d).map(str::to_string),
            (None, None) => None,
        };
        InstallBoot {
            list,
            first_device,
            bootdev,
        }
    }
}

/// The boot-list word for a device: `hd`, `cdrom`, `fd` or `network`.
fn device_kind(doc: &Document<'_>, device: Id) -> Option<&'static str> {
    match (doc.el(device).name, domain::disk_device(doc, device)) {
        ("interface", _) => Some("network"),
        ("disk", "cdrom") => Some("cdrom"),
        ("disk", "floppy") => Some("fd"),
        ("disk", _) => Some("hd"),
        _ => None,
    }
}

/// `_alter_bootconfig` sets `guest.on_reboot = "destroy"` for the installer's boot. On a
/// config that had no `<on_reboot>`, virt-install's XML builder appends the new element to
/// the parsed final config, after `<devices>`, where libvirt never puts it: that one goes.
/// One in libvirt's place was in the final config already and only had its value changed:
/// the final config keeps it (its earlier value is not in the document; `--on-reboot`
/// sets it).
fn drop_install_on_reboot(doc: &Document<'_>) -> Vec<Patch> {
    let added = doc
        .children_named(0, "on_reboot")
        .all(|r| domain::devices(doc).is_none_or(|d| doc.el(r).start > doc.el(d).start));
    if added {
        edit::set_domain_text(doc, "on_reboot", None)
    } else {
        Vec::new()
    }
}

/// `_alter_treemedia_bootconfig` set the installer's kernel, initrd and cmdline.
fn drop_direct_kernel(doc: &Document<'_>) -> Vec<Patch> {
    let Some(os) = domain::os(doc) else {
        return Vec::new();
    };
    let direct: Vec<Id> = doc
        .el(os)
        .children
        .iter()
        .copied()
        .filter(|&c| matches!(doc.el(c).name, "kernel" | "initrd" | "cmdline"))
        .collect();
    edit::remove_all(doc, &direct)
}

/// `set_smbios_serial_cloudinit` added `<entry name='serial'>ds=nocloud</entry>` to the
/// SMBIOS system info, and `<smbios mode='sysinfo'/>` to `<os>` when it made the sysinfo.
fn drop_cloud_init_smbios(doc: &Document<'_>) -> Result<Vec<Patch>> {
    let mut patches = Vec::new();
    for sysinfo in doc.children_named(0, "sysinfo") {
        if doc.attr(sysinfo, "type") != Some("smbios") {
            continue;
        }
        let Some(system) = doc.child(sysinfo, "system") else {
            continue;
        };
        let mut serial = None;
        for entry in doc.children_named(system, "entry") {
            if doc.attr(entry, "name") == Some("serial")
                && doc.text_of(entry)?.trim() == "ds=nocloud"
            {
                serial = Some(entry);
            }
        }
        let Some(serial) = serial else {
            continue;
        };
        let only = doc.el(sysinfo).children == [system] && doc.el(system).children == [serial];
        if only {
            patches.push(edit::remove(doc, sysinfo));
            if let Some(os) = domain::os(doc) {
                let modes: Vec<Id> = doc
                    .children_named(os, "smbios")
                    .filter(|&s| doc.attr(s, "mode") == Some("sysinfo"))
                    .collect();
                patches.extend(edit::remove_all(doc, &modes));
            }
        } else {
            patches.push(edit::remove(doc, serial));
        }
    }
    Ok(patches)
}

/// The final boot order: `set_install_defaults` gives the final config
/// `_build_boot_order(_get_postinstall_bootdev())`, in the style the install config uses
/// (per-device orders unless it has a boot list; newer virt-install writes per-device
/// orders, which an install booting a kernel lacks altogether). Without either, the
/// style is the driver's: `can_use_device_boot_order` (virtinst/support.py
/// `conn_device_boot_order`) holds for QEMU only, so Xen and the others get the list.
fn final_boot_order(
    doc: &Document<'_>,
    install: &InstallBoot,
    facts: &BootFacts,
) -> Result<Vec<Patch>> {
    let has_disk = !domain::hard_disks(doc).is_empty();
    let postinstall = postinstall_bootdev(doc, install, has_disk);
    let mut list = vec![postinstall.clone()];
    if has_disk && postinstall != "hd" {
        list.push("hd".to_string());
    }
    // A document without a type or an <os> (libvirt needs both) keeps per-device orders.
    let device_orders = matches!(facts.domain_type.as_str(), "kvm" | "qemu" | "test" | "");
    let list_style = install.first_device.is_none() && !device_orders && domain::os(doc).is_some();
    if !install.list.is_empty() || list_style {
        let devs: Vec<&str> = list.iter().map(String::as_str).collect();
        return edit::set_os_boot(doc, &devs);
    }
    let Some(devices) = domain::devices(doc) else {
        return Ok(Vec::new());
    };
    // One device per word, the first of its kind, in the list's order.
    let mut wanted: Vec<Id> = Vec::new();
    for word in &list {
        let device = doc.el(devices).children.iter().copied().find(|&d| {
            device_kind(doc, d) == Some(word.as_str())
                && (word != "cdrom"
                    || Some(d) == install.first_device
                    || install.first_device.is_none())
        });
        if let Some(d) = device.filter(|d| !wanted.contains(d)) {
            wanted.push(d);
        }
    }
    let mut patches = Vec::new();
    for &d in &doc.el(devices).children {
        let order = wanted.iter().position(|&w| w == d).map(|i| i as u32 + 1);
        match (doc.child(d, "boot"), order) {
            (None, None) => {}
            (Some(boot), Some(order)) => {
                let attr = doc.el(boot).attrs.iter().find(|a| a.name == "order");
                match attr {
                    Some(a) if a.value.trim() == order.to_string() => {}
                    Some(a) => {
                        patches.push(Patch::replace(a.value_range.clone(), order.to_string()))
                    }
                    None => patches.extend(edit::set_boot_order(doc, d, Some(order))),
                }
            }
            (_, order) => patches.extend(edit::set_boot_order(doc, d, order)),
        }
    }
    Ok(patches)
}

/// `_get_postinstall_bootdev`: the disk when there is one and the installer booted a
/// device, else what the installer booted; for a kernel or import install, the kind of
/// the first disk.
fn postinstall_bootdev(doc: &Document<'_>, install: &InstallBoot, has_disk: bool) -> String {
    if let Some(bootdev) = &install.bootdev {
        return if has_disk {
            "hd".into()
        } else {
            bootdev.clone()
        };
    }
    let first_disk = domain::devices(doc).and_then(|d| doc.child(d, "disk"));
    match first_disk.map(|d| domain::disk_device(doc, d)) {
        Some("cdrom") => "cdrom".into(),
        Some("floppy") => "fd".into(),
        _ => "hd".into(),
    }
}

/// The drives whose media the final config ejects: the install CD-ROM virt-install booted
/// (`_remove_install_cdrom_media`; Windows keeps it, its setup reads it again after the
/// first reboot), and the cloud-init or unattended seeds virt-install made
/// (`_remove_unattended_install_cdrom_device`).
fn ejected_drives(doc: &Document<'_>, install: &InstallBoot) -> Vec<Id> {
    let Some(devices) = domain::devices(doc) else {
        return Vec::new();
    };
    let mut drives = Vec::new();
    if install.bootdev.as_deref() == Some("cdrom") && !is_windows(doc) {
        let booted = install.first_device.or_else(|| {
            doc.children_named(devices, "disk")
                .find(|&d| domain::disk_device(doc, d) == "cdrom")
        });
        drives.extend(booted.filter(|&d| doc.child(d, "source").is_some()));
    }
    for disk in doc.children_named(devices, "disk") {
        if is_seed(doc, disk) && !drives.contains(&disk) {
            drives.push(disk);
        }
    }
    drives
}

/// `guest.osinfo.is_windows()`: the libosinfo metadata names a Windows release.
fn is_windows(doc: &Document<'_>) -> bool {
    let Some(metadata) = doc.child(0, "metadata") else {
        return false;
    };
    doc.el(metadata)
        .children
        .iter()
        .flat_map(|&c| doc.el(c).children.iter().copied())
        .any(|c| {
            doc.attr(c, "id")
                .is_some_and(|id| id.starts_with("http://microsoft.com/win"))
        })
}

/// A seed virt-install made for this install only: `perform_cdrom_injections` names it
/// `virtinst-XXXXXX-cloudinit.iso` or `virtinst-XXXXXX-unattended.iso` (its test suite
/// shortens that to `cloudinit.iso`, `unattended.iso`).
fn is_seed(doc: &Document<'_>, disk: Id) -> bool {
    let source = doc
        .child(disk, "source")
        .and_then(|s| doc.attr(s, "file").or_else(|| doc.attr(s, "dev")));
    source.is_some_and(|path| {
        let name = path.rsplit('/').next().unwrap_or(path);
        ["cloudinit.iso", "unattended.iso"].iter().any(|kind| {
            name == *kind || (name.starts_with("virtinst-") && name.ends_with(&format!("-{kind}")))
        })
    })
}
