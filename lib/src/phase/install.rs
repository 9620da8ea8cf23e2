//! The install phase made from a final config: install media in, the boot pointed at it,
//! `<on_reboot>destroy</on_reboot>` so the installer's last reboot stops the guest.
//! Shared by `domxml-gen` (which records it) and `domxml-rewrite --to install`; what a
//! guest cannot boot is refused in `boot`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::phase::boot::{BootFacts, Method};
use crate::xml::disk::{self, DiskSpec};
use crate::xml::domain::{self, DOMAIN_ORDER};
use crate::xml::edit;
use crate::xml::lexical;
use crate::xml::{self, Document, Fragment, Id, Patch};

/// How the guest is installed: the flags both XML tools share.
#[derive(clap::Args, Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstallMedia {
    /// Install from this ISO image (or vol=POOL/NAME, a storage volume): a CD-ROM drive
    /// with it, booted first (full virtualization).
    #[arg(long, value_name = "ISO", help_heading = "Install method")]
    pub cdrom: Option<String>,
    /// Install by booting this kernel directly (direct kernel boot, Xen paravirt included):
    /// a path on the host; domxml-gen -c also takes vol=POOL/NAME and writes its host path.
    #[arg(long, value_name = "PATH", help_heading = "Install method")]
    pub kernel: Option<String>,
    /// The initrd for --kernel (a host path; like --kernel, vol=POOL/NAME with -c).
    #[arg(long, value_name = "PATH", help_heading = "Install method")]
    pub initrd: Option<String>,
    /// The kernel command line for --kernel.
    #[arg(
        long,
        value_name = "TEXT",
        help_heading = "Install method",
        allow_hyphen_values = true
    )]
    pub cmdline: Option<String>,
    /// Install from the network: boot the first interface first.
    #[arg(long, help_heading = "Install method")]
    #[serde(default)]
    pub pxe: bool,
    /// Extra install-only media, e.g. an unattended or cloud-init seed:
    /// PATH[,device=cdrom|disk|floppy][,bus=BUS][,target=DEV] (repeatable; cdrom for *.iso).
    #[arg(
        long = "install-disk",
        value_name = "PATH[,OPT=VAL...]",
        help_heading = "Install method"
    )]
    #[serde(default)]
    pub install_disk: Vec<String>,
}

impl InstallMedia {
    /// Checks the flags that only make sense together.
    ///
    /// # Errors
    /// `--initrd` or `--cmdline` without `--kernel`; `--pxe` with another boot method.
    pub fn validate(&self) -> Result<()> {
        if self.pxe && (self.cdrom.is_some() || self.kernel.is_some()) {
            return Err(Error::Usage(
                "--pxe installs from the network: not with --cdrom or --kernel".into(),
            ));
        }
        if self.kernel.is_none() && (self.initrd.is_some() || self.cmdline.is_some()) {
            return Err(Error::Usage(
                "--initrd and --cmdline need --kernel for the install".into(),
            ));
        }
        for (flag, value) in [
            ("--cdrom", &self.cdrom),
            ("--kernel", &self.kernel),
            ("--initrd", &self.initrd),
            ("--cmdline", &self.cmdline),
        ] {
            if let Some(value) = value {
                check_text(flag, value)?;
            }
        }
        for spec in &self.install_disk {
            check_text("--install-disk", spec)?;
        }
        if let Some(iso) = &self.cdrom {
            crate::xml::disk::Source::parse("--cdrom", iso)?;
        }
        for (flag, value) in [("--kernel", &self.kernel), ("--initrd", &self.initrd)] {
            if let Some(v) = value.as_deref().filter(|v| v.starts_with("vol=")) {
                return Err(Error::Usage(format!(
                    "{flag} '{v}': a kernel or initrd is a path on the host: give the volume's path (dom-vol's record has it), or let domxml-gen -c URI look it up"
                )));
            }
        }
        Ok(())
    }

    /// The ways this install boots (and attaches media), for the checks of [`BootFacts`].
    pub fn methods(&self) -> Vec<Method> {
        let mut methods = Vec::new();
        if self.cdrom.is_some() {
            methods.push(Method::Cdrom);
        }
        if self.pxe {
            methods.push(Method::Network);
        }
        if self.kernel.is_some() {
            methods.push(Method::Kernel);
        }
        if !self.install_disk.is_empty() {
            methods.push(Method::Media);
        }
        methods
    }

    /// True when any install method is given.
    pub fn any(&self) -> bool {
        self.cdrom.is_some() || self.kernel.is_some() || self.pxe || !self.install_disk.is_empty()
    }
}

/// What a config's generator added on its own rather than because it was asked to: some
/// of virt-install's install-phase rules apply to its own defaults only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defaults {
    /// The emulated TPM was added by default (virt-install's `have_default_tpm`: a UEFI
    /// guest on a host with the TPM emulator), neither asked for nor required by the OS.
    pub tpm: bool,
}

/// Makes the install phase of a final config: the install media in, the boot pointed at
/// it, `<on_reboot>destroy</on_reboot>` so the installer's last reboot stops the guest
/// (virt-manager's `virtinst/install/installer.py`: `_alter_bootconfig`,
/// `_add_install_cdrom_device`).
///
/// # Errors
/// Nothing to install from, a method this guest cannot boot (see [`BootFacts`]), PXE
/// without an interface, a clash of disk targets, or values XML cannot hold.
pub fn to_install(doc: &Document<'_>, media: &InstallMedia) -> Result<String> {
    to_install_with(doc, media, Defaults::default())
}

/// [`to_install`] for a config whose generator says which of its devices are defaults
/// (see [`Defaults`]).
///
/// # Errors
/// As [`to_install`].
pub fn to_install_with(
    doc: &Document<'_>,
    media: &InstallMedia,
    defaults: Defaults,
) -> Result<String> {
    media.validate()?;
    if !media.any() {
        return Err(Error::Usage(
            "the install phase needs an install method: --cdrom, --kernel, --pxe or --install-disk"
                .into(),
        ));
    }
    let facts = BootFacts::of(doc)?;
    for method in media.methods() {
        facts.check(doc.source, method)?;
    }
    edit::require_os(doc)?;
    // One pass over one parse: every step patches different elements, and patches at the
    // same place keep their order (kernel, initrd, cmdline before the boot list, as libvirt
    // orders <os>; the CD-ROM before the seeds).
    let mut plan = Plan {
        doc,
        facts: &facts,
        patches: Vec::new(),
        new_disks: Vec::new(),
        targets: disk::Targets::of(doc),
    };
    plan.direct_kernel(media)?;
    let boot_device = match &media.cdrom {
        Some(iso) => Some(plan.install_cdrom(iso)?),
        None if media.pxe => Some(plan.network_interface()?),
        None => None,
    };
    for spec in &media.install_disk {
        plan.install_disk(spec)?;
    }
    if defaults.tpm && !media.install_disk.is_empty() {
        plan.leave_out_default_tpm()?;
    }
    if let Some(device) = boot_device {
        plan.boot_first(device)?;
    }
    plan.patches
        .extend(edit::set_domain_text(doc, "on_reboot", Some("destroy")));
    plan.finish()
}

/// The device the install boots.
#[derive(Debug, Clone, Copy)]
enum BootDevice {
    /// An existing drive or interface of the document.
    Existing(Id, &'static str),
    /// The new CD-ROM drive (the first of the plan's new disks).
    NewCdrom,
}

/// Where a new disk goes among the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Before this existing CD-ROM, so `<boot dev='cdrom'/>` picks the new one first.
    Before(Id),
    /// After the last disk (or the emulator, or first of all).
    AfterDisks,
}

/// The install phase being made: the patches so far and the disks still to add.
struct Plan<'p, 'd> {
    doc: &'p Document<'d>,
    facts: &'p BootFacts,
    patches: Vec<Patch>,
    new_disks: Vec<(Place, Fragment)>,
    targets: disk::Targets,
}

impl Plan<'_, '_> {
    /// `--kernel`: the install boots it (a paravirt install boots it instead of the final
    /// config's bootloader). A CD-ROM or network install of a guest that boots a kernel
    /// directly: the kernel, initrd, cmdline and device tree go (the profile keeps them),
    /// since QEMU and Xen boot the kernel and ignore the boot order.
    fn direct_kernel(&mut self, media: &InstallMedia) -> Result<()> {
        let doc = self.doc;
        if let Some(kernel) = &media.kernel {
            let texts: Vec<(&str, &str)> = [
                ("kernel", Some(kernel)),
                ("initrd", media.initrd.as_ref()),
                ("cmdline", media.cmdline.as_ref()),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?.as_str())))
            .collect();
            self.patches.extend(edit::set_os_texts(doc, &texts)?);
            self.patches
                .extend(edit::set_domain_text(doc, "bootloader", None));
            self.patches
                .extend(edit::set_domain_text(doc, "bootloader_args", None));
        } else if self.facts.direct_kernel && (media.cdrom.is_some() || media.pxe) {
            let os = edit::require_os(doc)?;
            let direct: Vec<Id> = doc
                .el(os)
                .children
                .iter()
                .copied()
                .filter(|&c| matches!(doc.el(c).name, "kernel" | "initrd" | "cmdline" | "dtb"))
                .collect();
            self.patches.extend(edit::remove_all(doc, &direct));
        }
        Ok(())
    }

    /// The install CD-ROM: the ISO goes into the first CD-ROM drive when that one is empty
    /// (virt-install's reinstall), else into a new drive put before every other CD-ROM.
    fn install_cdrom(&mut self, iso: &str) -> Result<BootDevice> {
        let doc = self.doc;
        let first_cdrom = domain::devices(doc).and_then(|d| {
            doc.children_named(d, "disk")
                .find(|&disk| domain::disk_device(doc, disk) == "cdrom")
        });
        match first_cdrom {
            Some(drive) if doc.child(drive, "source").is_none() => {
                self.patches.extend(edit::set_disk_source(doc, drive, iso));
                Ok(BootDevice::Existing(drive, "cdrom"))
            }
            _ => {
                let disk = DiskSpec {
                    path: iso.to_string(),
                    device: "cdrom".into(),
                    ..DiskSpec::default()
                };
                let (bus, target) = self.targets.claim_new(doc, "cdrom")?;
                let place = first_cdrom.map_or(Place::AfterDisks, Place::Before);
                self.new_disks
                    .push((place, disk.fragment(bus, &target, None)));
                Ok(BootDevice::NewCdrom)
            }
        }
    }

    /// `--pxe`: the first interface (without one, `<boot dev='network'>` has nothing to
    /// boot from: the firmware's PXE ROM belongs to a NIC).
    fn network_interface(&self) -> Result<BootDevice> {
        let doc = self.doc;
        domain::devices(doc)
            .and_then(|d| doc.child(d, "interface"))
            .map(|iface| BootDevice::Existing(iface, "network"))
            .ok_or_else(|| {
                Error::Edit(format!(
                    "{}: --pxe needs a network interface, and the domain has none",
                    doc.source
                ))
            })
    }

    /// `--install-disk`: install-only media (a seed), after the disks; not booted.
    fn install_disk(&mut self, spec: &str) -> Result<()> {
        let doc = self.doc;
        let path = spec.split(',').next().unwrap_or("").to_ascii_lowercase();
        let default_device = if path.ends_with(".iso") {
            "cdrom"
        } else {
            "disk"
        };
        let disk = DiskSpec::parse("--install-disk", spec, default_device)?;
        // libvirt's LXC driver makes a device node of a block device, and refuses any
        // other disk when the container starts (src/lxc/lxc_container.c,
        // lxcContainerSetupDisk: "Can't setup disk for non-block device").
        if self.facts.domain_type == "lxc" && !disk.path.starts_with("/dev/") {
            return Err(Error::Edit(format!(
                "{}: --install-disk '{spec}': a container (<os><type>exe</type>) under libvirt's LXC driver takes only block devices (/dev/...) as disks",
                doc.source
            )));
        }
        let (bus, target) = match (&disk.bus, &disk.target) {
            (None, None) => {
                let (bus, target) = self.targets.claim_new(doc, &disk.device)?;
                (bus.to_string(), target)
            }
            (bus, target) => {
                let bus = match bus {
                    Some(b) => b.clone(),
                    None => disk::default_bus(doc, &disk.device).to_string(),
                };
                let target = self.install_target(spec, &bus, target.as_deref())?;
                (bus, target)
            }
        };
        self.new_disks
            .push((Place::AfterDisks, disk.fragment(&bus, &target, None)));
        Ok(())
    }

    /// virt-install's `_build_postboot_xml`: a UEFI guest installed with a seed boots the
    /// install phase without its default TPM. shim, finding the new guest's NVRAM empty,
    /// runs fallback.efi to create the boot entries, and with a TPM present resets the
    /// guest once; the install phase's `<on_reboot>destroy</on_reboot>` would turn that
    /// reset into a stop before the seed was read. The recorded profile gives the final
    /// config its TPM back.
    fn leave_out_default_tpm(&mut self) -> Result<()> {
        let doc = self.doc;
        let uefi = domain::os(doc).is_some_and(|os| {
            doc.attr(os, "firmware") == Some("efi")
                || doc
                    .child(os, "loader")
                    .is_some_and(|l| doc.attr(l, "type") == Some("pflash"))
        });
        if !uefi {
            return Ok(());
        }
        let devices = edit::require_devices(doc)?;
        let tpms: Vec<Id> = doc
            .children_named(devices, "tpm")
            .filter(|&t| {
                doc.child(t, "backend")
                    .is_some_and(|b| doc.attr(b, "type") == Some("emulator"))
            })
            .collect();
        self.patches.extend(edit::remove_all(doc, &tpms));
        Ok(())
    }

    /// An `--install-disk` target: the one given (refused when another disk has it), or
    /// the first free one on `bus`.
    fn install_target(&mut self, spec: &str, bus: &str, target: Option<&str>) -> Result<String> {
        let what = format!("{}: --install-disk '{spec}'", self.doc.source);
        match target {
            Some(t) => {
                self.targets.claim(&what, t)?;
                Ok(t.to_string())
            }
            None => self.targets.claim_free(bus),
        }
    }

    /// The install device boots first: order 1 where the devices carry boot orders (the
    /// others move down, keeping their own attributes such as s390's loadparm), else first
    /// in `<os>`'s boot list. bhyve's own loader boots one device only.
    fn boot_first(&mut self, device: BootDevice) -> Result<()> {
        let doc = self.doc;
        let has_list = domain::os(doc).is_some_and(|os| doc.child(os, "boot").is_some());
        // libvirt's parser refuses the mix at define time ("per-device boot elements
        // cannot be used together with os/boot elements", src/conf/domain_conf.c).
        if has_list && domain::uses_boot_order(doc) {
            return Err(Error::Edit(format!(
                "{}: the domain has both <os><boot dev> and per-device <boot order>, which libvirt refuses; keep one of them",
                doc.source
            )));
        }
        let (existing, dev) = match device {
            BootDevice::Existing(id, dev) => (Some(id), dev),
            BootDevice::NewCdrom => (None, "cdrom"),
        };
        if domain::uses_boot_order(self.doc) {
            self.bump_device_orders(existing)
        } else if dev == "cdrom" && self.other_cdrom_has_media(existing) {
            self.convert_to_device_orders(existing)
        } else {
            self.boot_list_first(dev)
        }
    }

    /// `<boot dev='cdrom'/>` boots the firmware's first CD-ROM: when another drive holds
    /// media, only a per-device boot order names the install CD-ROM for sure.
    fn other_cdrom_has_media(&self, install_drive: Option<Id>) -> bool {
        let doc = self.doc;
        domain::devices(doc).is_some_and(|d| {
            doc.children_named(d, "disk").any(|disk| {
                Some(disk) != install_drive
                    && domain::disk_device(doc, disk) == "cdrom"
                    && doc.child(disk, "source").is_some()
            })
        })
    }

    /// `dev` first in `<os>`'s boot list, the rest after it (virt-install's
    /// `_build_boot_order`: the install device, then `hd`).
    fn boot_list_first(&mut self, dev: &str) -> Result<()> {
        let doc = self.doc;
        let os = edit::require_os(doc)?;
        let current: Vec<&str> = doc
            .children_named(os, "boot")
            .filter_map(|b| doc.attr(b, "dev"))
            .collect();
        let mut devs = vec![dev];
        if !self.facts.single_boot_device() {
            devs.extend(current.iter().copied().filter(|d| *d != dev));
            if devs.len() == 1 {
                devs.push("hd");
            }
        }
        self.patches.extend(edit::set_os_boot(doc, &devs)?);
        Ok(())
    }

    /// Per-device boot orders: the install device gets 1, every other order moves down by
    /// one (bhyve's loader: the others lose theirs).
    fn bump_device_orders(&mut self, install_device: Option<Id>) -> Result<()> {
        let doc = self.doc;
        let devices = edit::require_devices(doc)?;
        for &d in &doc.el(devices).children {
            let Some(boot) = doc.child(d, "boot") else {
                continue;
            };
            if Some(d) == install_device {
                self.patches.extend(set_order(doc, d, boot, 1)?);
            } else if self.facts.single_boot_device() {
                self.patches.push(edit::remove(doc, boot));
            } else {
                let order = boot_order(doc, boot)?;
                // libvirt reads a boot order as an unsigned int: one past its largest
                // value is a config it refuses.
                let bumped = order.checked_add(1).ok_or_else(|| {
                    Error::Edit(format!("{}: boot order {order} is too large", doc.source))
                })?;
                self.patches.extend(set_order(doc, d, boot, bumped)?);
            }
        }
        self.order_install_device(install_device, 1);
        Ok(())
    }

    /// `<os>`'s boot list becomes per-device orders (virt-install's
    /// `_convert_old_boot_order`), with the install device first: `hd` names the first hard
    /// disk, `network` the first interface, `fd` the first floppy.
    fn convert_to_device_orders(&mut self, install_device: Option<Id>) -> Result<()> {
        let doc = self.doc;
        let os = edit::require_os(doc)?;
        let mut list: Vec<&str> = doc
            .children_named(os, "boot")
            .filter_map(|b| doc.attr(b, "dev"))
            .collect();
        if list.is_empty() {
            list.push("hd");
        }
        self.patches.extend(edit::set_os_boot(doc, &[])?);
        self.order_install_device(install_device, 1);
        if self.facts.single_boot_device() {
            return Ok(());
        }
        let devices = edit::require_devices(doc)?;
        let first = |name: &str, device: Option<&str>| {
            doc.children_named(devices, name).find(|&d| {
                Some(d) != install_device
                    && device.is_none_or(|kind| domain::disk_device(doc, d) == kind)
            })
        };
        let mut order = 1;
        for dev in list {
            let target = match dev {
                "hd" => first("disk", Some("disk")),
                "network" => first("interface", None),
                "fd" => first("disk", Some("floppy")),
                _ => None,
            };
            if let Some(target) = target {
                order += 1;
                self.patches
                    .extend(edit::set_boot_order(doc, target, Some(order)));
            }
        }
        Ok(())
    }

    /// Gives the install device `<boot order>`: an existing device without one gets it
    /// added, the new CD-ROM gets it in its fragment.
    fn order_install_device(&mut self, install_device: Option<Id>, order: u32) {
        match install_device {
            Some(id) if self.doc.child(id, "boot").is_none() => {
                self.patches
                    .extend(edit::set_boot_order(self.doc, id, Some(order)));
            }
            Some(_) => {}
            None => {
                if let Some((_, fragment)) = self.new_disks.first_mut() {
                    *fragment = fragment
                        .clone()
                        .child(Fragment::new("boot").attr("order", order.to_string()));
                }
            }
        }
    }

    /// Adds the new disks (creating `<devices>` when the domain has none) and applies
    /// every patch.
    fn finish(mut self) -> Result<String> {
        let doc = self.doc;
        if !self.new_disks.is_empty() {
            match domain::devices(doc) {
                Some(devices) => {
                    let mut places: Vec<Place> = Vec::new();
                    for (place, _) in &self.new_disks {
                        if !places.contains(place) {
                            places.push(*place);
                        }
                    }
                    for place in places {
                        let fragments: Vec<&Fragment> = self
                            .new_disks
                            .iter()
                            .filter(|(p, _)| *p == place)
                            .map(|(_, f)| f)
                            .collect();
                        let after = match place {
                            Place::Before(cdrom) => doc.previous_sibling(cdrom),
                            Place::AfterDisks => doc
                                .children_named(devices, "disk")
                                .last()
                                .or_else(|| doc.child(devices, "emulator")),
                        };
                        self.patches
                            .push(insert_fragments(doc, devices, after, &fragments));
                    }
                }
                None => {
                    let devices = self
                        .new_disks
                        .iter()
                        .fold(Fragment::new("devices"), |d, (_, f)| d.child(f.clone()));
                    self.patches
                        .push(edit::insert_ordered(doc, 0, &devices, DOMAIN_ORDER));
                }
            }
        }
        xml::apply(doc.text, self.patches)
    }
}

/// A patch inserting `fragments` into `parent` after `after`, one per line.
fn insert_fragments(
    doc: &Document<'_>,
    parent: Id,
    after: Option<Id>,
    fragments: &[&Fragment],
) -> Patch {
    let unit = doc.indent_unit();
    let nl = doc.newline();
    let quote = doc.quote();
    edit::insert_rendered(doc, parent, after, &|indent| {
        fragments
            .iter()
            .map(|f| f.render(indent, &unit, nl, quote))
            .collect::<Vec<_>>()
            .join(nl)
    })
}

/// The number in a device's `<boot order>`.
fn boot_order(doc: &Document<'_>, boot: Id) -> Result<u32> {
    let text = doc.attr(boot, "order").unwrap_or("");
    text.trim().parse().map_err(|_| {
        Error::at(
            doc.source,
            doc.text,
            doc.el(boot).start,
            format!("<boot order='{text}'> is not a boot order (a number from 1)"),
        )
    })
}

/// Patches setting a device's existing `<boot>` to `order`, touching only the number.
fn set_order(doc: &Document<'_>, device: Id, boot: Id, order: u32) -> Result<Vec<Patch>> {
    let Some(attr) = doc.el(boot).attrs.iter().find(|a| a.name == "order") else {
        return Ok(edit::set_boot_order(doc, device, Some(order)));
    };
    if boot_order(doc, boot)? == order {
        return Ok(Vec::new());
    }
    Ok(vec![Patch::replace(
        attr.value_range.clone(),
        order.to_string(),
    )])
}

/// Refuses a value that XML cannot hold.
///
/// # Errors
/// [`Error::Edit`] naming the flag and the character.
pub fn check_text(flag: &str, value: &str) -> Result<()> {
    lexical::check_text(flag, value).map_err(Error::Edit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UEFI (or BIOS) guest with an emulated TPM 2.0.
    fn guest(os: &str) -> String {
        format!(
            "<domain type='kvm'><name>g</name><memory>1048576</memory>{os}\
             <devices><disk type='file' device='disk'><source file='/img/g.img'/>\
             <target dev='vda' bus='virtio'/></disk>\
             <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>\
             </devices></domain>"
        )
    }

    fn install(xml: &str, media: &InstallMedia, tpm: bool) -> String {
        let doc = Document::parse("t", xml).unwrap();
        to_install_with(&doc, media, Defaults { tpm }).unwrap()
    }

    #[test]
    fn a_uefi_install_with_a_seed_leaves_out_only_the_default_tpm() {
        let uefi = guest("<os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type></os>");
        let seed = InstallMedia {
            cdrom: Some("/iso/i.iso".into()),
            install_disk: vec!["/img/seed.iso".into()],
            ..InstallMedia::default()
        };
        let out = install(&uefi, &seed, true);
        assert!(!out.contains("<tpm"), "{out}");
        assert!(out.contains("/img/seed.iso"), "{out}");
        // Asked for or required by the OS: kept.
        assert!(install(&uefi, &seed, false).contains("<tpm"));
        // No seed: kept.
        let cdrom = InstallMedia {
            cdrom: Some("/iso/i.iso".into()),
            ..InstallMedia::default()
        };
        assert!(install(&uefi, &cdrom, true).contains("<tpm"));
        // BIOS: shim is not involved, kept.
        let bios = guest("<os><type arch='x86_64' machine='q35'>hvm</type></os>");
        assert!(install(&bios, &seed, true).contains("<tpm"));
        // A pflash loader given by hand is UEFI too.
        let pflash = guest(
            "<os><type arch='x86_64' machine='q35'>hvm</type>\
             <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader></os>",
        );
        assert!(!install(&pflash, &seed, true).contains("<tpm"));
    }
}
