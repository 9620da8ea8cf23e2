//! The install phase made from a final config: install media in, the boot pointed at it,
//! `<on_reboot>destroy</on_reboot>` so the installer's last reboot stops the guest.
//! Shared by `domxml-gen` (which records it) and `domxml-rewrite --to install`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::xml::domain;
use crate::xml::edit;
use crate::xml::{self, Document, Fragment, Id, Patch};

/// How the guest is installed: the flags both XML tools share.
#[derive(clap::Args, Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InstallMedia {
    /// Install from this ISO image: a CD-ROM drive with it, booted first (full virtualization).
    #[arg(long, value_name = "ISO", help_heading = "Install method")]
    pub cdrom: Option<String>,
    /// Install by booting this kernel directly (direct kernel boot, Xen paravirt included).
    #[arg(long, value_name = "PATH", help_heading = "Install method")]
    pub kernel: Option<String>,
    /// The initrd for --kernel.
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
        Ok(())
    }

    /// True when any install method is given.
    pub fn any(&self) -> bool {
        self.cdrom.is_some() || self.kernel.is_some() || self.pxe || !self.install_disk.is_empty()
    }
}

/// A disk as given on the command line: `PATH[,bus=,format=,device=,target=,readonly]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskSpec {
    /// Image path (a block device when it starts with `/dev/`).
    pub path: String,
    /// `disk`, `cdrom`, `floppy` or `lun`.
    pub device: String,
    /// Bus; chosen from the domain when absent.
    pub bus: Option<String>,
    /// Image format for the driver (`raw`, `qcow2`).
    pub format: Option<String>,
    /// Target device name; the first free one on the bus when absent.
    pub target: Option<String>,
    /// Read-only (always for cdroms).
    pub readonly: bool,
}

impl DiskSpec {
    /// Parses `PATH[,OPT=VAL...]`; `default_device` applies when `device=` is absent.
    ///
    /// # Errors
    /// An unknown option or a bad value, as a usage error.
    pub fn parse(flag: &str, spec: &str, default_device: &str) -> Result<DiskSpec> {
        let mut parts = spec.split(',');
        let path = parts.next().unwrap_or_default().to_string();
        if path.is_empty() {
            return Err(Error::Usage(format!("{flag} '{spec}': no path")));
        }
        let mut disk = DiskSpec {
            path,
            device: default_device.to_string(),
            ..DiskSpec::default()
        };
        for part in parts {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            match key {
                "bus" => disk.bus = Some(non_empty(flag, spec, key, value)?),
                "format" => disk.format = Some(non_empty(flag, spec, key, value)?),
                "target" => disk.target = Some(non_empty(flag, spec, key, value)?),
                "device" => {
                    if !matches!(value, "disk" | "cdrom" | "floppy" | "lun") {
                        return Err(Error::Usage(format!(
                            "{flag} '{spec}': device must be disk, cdrom, floppy or lun"
                        )));
                    }
                    disk.device = value.to_string();
                }
                "readonly" if value.is_empty() || value == "yes" || value == "on" => {
                    disk.readonly = true
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "{flag} '{spec}': unknown option '{part}' (known: bus=, format=, device=, target=, readonly)"
                    )));
                }
            }
        }
        Ok(disk)
    }

    /// The `<disk>` fragment for this disk on `bus` as `target`, with an optional boot order.
    pub fn fragment(&self, bus: &str, target: &str, boot_order: Option<u32>) -> Fragment {
        let block = self.path.starts_with("/dev/");
        Fragment::new("disk")
            .attr("type", if block { "block" } else { "file" })
            .attr("device", self.device.as_str())
            .child_opt(self.format.as_ref().map(|f| {
                Fragment::new("driver")
                    .attr("name", "qemu")
                    .attr("type", f.as_str())
            }))
            .child(
                Fragment::new("source")
                    .attr(if block { "dev" } else { "file" }, self.path.as_str()),
            )
            .child(Fragment::new("target").attr("dev", target).attr("bus", bus))
            .child_opt(boot_order.map(|o| Fragment::new("boot").attr("order", o.to_string())))
            .child_opt((self.readonly || self.device == "cdrom").then(|| Fragment::new("readonly")))
    }
}

fn non_empty(flag: &str, spec: &str, key: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::Usage(format!(
            "{flag} '{spec}': {key}= needs a value"
        )));
    }
    Ok(value.to_string())
}

/// What decides the bus of a new disk.
#[derive(Debug, Clone, Copy)]
pub struct Machine<'s> {
    /// The domain's `type` (kvm, qemu, xen, test).
    pub domain_type: &'s str,
    /// `<os><type machine>` (pc, q35, virt, ...), empty when unset.
    pub machine: &'s str,
    /// `<os><type arch>`.
    pub arch: &'s str,
    /// A Xen paravirt guest (`<os><type>xen</type>`).
    pub paravirt: bool,
}

/// The bus a new disk of kind `device` gets: virtio disks under KVM/QEMU, xen under Xen,
/// removable media on SATA for q35, IDE on other x86 machines, SCSI elsewhere.
pub fn bus_for(machine: &Machine<'_>, device: &str) -> &'static str {
    let x86 = matches!(machine.arch, "x86_64" | "i686" | "i386");
    match device {
        _ if machine.paravirt => "xen",
        "floppy" => "fdc",
        "disk" | "lun" if matches!(machine.domain_type, "kvm" | "qemu") => "virtio",
        "disk" | "lun" if machine.domain_type == "xen" => "xen",
        _ if machine.machine.contains("q35") => "sata",
        _ if x86 => "ide",
        _ => "scsi",
    }
}

/// The bus a new disk of kind `device` gets in this domain (see [`bus_for`]).
pub fn default_bus(doc: &Document<'_>, device: &str) -> &'static str {
    let os_type = domain::os(doc).and_then(|o| doc.child(o, "type"));
    let machine = Machine {
        domain_type: domain::domain_type(doc).unwrap_or(""),
        machine: os_type.and_then(|t| doc.attr(t, "machine")).unwrap_or(""),
        arch: os_type
            .and_then(|t| doc.attr(t, "arch"))
            .unwrap_or("x86_64"),
        paravirt: os_type
            .and_then(|t| doc.text_of(t).ok())
            .is_some_and(|t| t == "xen" || t == "linux"),
    };
    bus_for(&machine, device)
}

/// The first target name on `bus` (`vda`, `hdc`, `sdb`, ...) that `used` does not claim.
pub fn first_free_target(bus: &str, used: &dyn Fn(&str) -> bool) -> String {
    let prefix = match bus {
        "virtio" => "vd",
        "ide" => "hd",
        "xen" => "xvd",
        "fdc" => "fd",
        _ => "sd",
    };
    ('a'..='z')
        .map(|letter| format!("{prefix}{letter}"))
        .find(|name| !used(name))
        .unwrap_or_else(|| format!("{prefix}zz"))
}

/// The first target on `bus` free in the domain's disks and in `taken`.
pub fn free_target(doc: &Document<'_>, bus: &str, taken: &[String]) -> String {
    let used: Vec<&str> = match domain::devices(doc) {
        Some(d) => doc
            .children_named(d, "disk")
            .filter_map(|disk| domain::disk_target(doc, disk))
            .collect(),
        None => Vec::new(),
    };
    first_free_target(bus, &|name| {
        used.contains(&name) || taken.iter().any(|t| t == name)
    })
}

/// Makes the install phase of `text` (a final config): see the module docs.
///
/// # Errors
/// Nothing to install from, a method the domain cannot use (PXE without an interface),
/// or a malformed document.
pub fn to_install(doc: &Document<'_>, media: &InstallMedia) -> Result<String> {
    media.validate()?;
    if !media.any() {
        return Err(Error::Usage(
            "the install phase needs an install method: --cdrom, --kernel, --pxe or --install-disk"
                .into(),
        ));
    }
    // One pass over one parse: every step patches different elements, and patches at the
    // same place keep this order (kernel, initrd, cmdline before the boot list, as libvirt
    // orders <os>; the CD-ROM before the seeds).
    let mut patches = Vec::new();
    if let Some(kernel) = &media.kernel {
        patches.extend(edit::set_os_text(doc, "kernel", Some(kernel))?);
        // A paravirt install boots the kernel, not the final config's bootloader.
        patches.extend(edit::set_domain_text(doc, "bootloader", None));
        patches.extend(edit::set_domain_text(doc, "bootloader_args", None));
    }
    for (name, value) in [("initrd", &media.initrd), ("cmdline", &media.cmdline)] {
        if let Some(value) = value {
            patches.extend(edit::set_os_text(doc, name, Some(value))?);
        }
    }
    let mut taken = Vec::new();
    if let Some(iso) = &media.cdrom {
        patches.extend(add_install_cdrom(doc, iso, &mut taken)?);
    }
    for spec in &media.install_disk {
        let path = spec.split(',').next().unwrap_or("").to_ascii_lowercase();
        let default_device = if path.ends_with(".iso") {
            "cdrom"
        } else {
            "disk"
        };
        let disk = DiskSpec::parse("--install-disk", spec, default_device)?;
        let bus = disk
            .bus
            .clone()
            .unwrap_or_else(|| default_bus(doc, &disk.device).to_string());
        let target = disk
            .target
            .clone()
            .unwrap_or_else(|| free_target(doc, &bus, &taken));
        taken.push(target.clone());
        patches.push(add_disk_patch(doc, &disk.fragment(&bus, &target, None))?);
    }
    if media.pxe {
        patches.extend(boot_network_first(doc)?);
    }
    patches.extend(edit::set_domain_text(doc, "on_reboot", Some("destroy")));
    xml::apply(doc.text, patches)
}

/// A patch adding a `<disk>` after the last disk (or first among the devices).
fn add_disk_patch(doc: &Document<'_>, fragment: &Fragment) -> Result<Patch> {
    let devices = edit::require_devices(doc)?;
    let after = doc
        .children_named(devices, "disk")
        .last()
        .or_else(|| doc.child(devices, "emulator"));
    let unit = doc.indent_unit();
    let nl = doc.newline();
    let quote = doc.quote();
    Ok(edit::insert_rendered(doc, devices, after, &|indent| {
        fragment.render(indent, &unit, nl, quote)
    }))
}

/// Per-device boot orders all moved one down, to free order 1 (for `except`, which gets it).
fn bump_boot_orders(doc: &Document<'_>, except: Option<Id>) -> Vec<Patch> {
    let mut patches = Vec::new();
    if let Some(devices) = domain::devices(doc) {
        for &d in doc
            .el(devices)
            .children
            .iter()
            .filter(|&&d| Some(d) != except)
        {
            if let Some(b) = doc.child(d, "boot") {
                if let Some(order) = doc.attr(b, "order").and_then(|o| o.parse::<u32>().ok()) {
                    patches.extend(edit::set_boot_order(doc, d, Some(order + 1)));
                }
            }
        }
    }
    patches
}

/// Puts `first` at the head of `<os>`'s boot list.
fn os_boot_first(doc: &Document<'_>, first: &str) -> Result<Vec<Patch>> {
    let os = edit::require_os(doc)?;
    let current: Vec<&str> = doc
        .children_named(os, "boot")
        .filter_map(|b| doc.attr(b, "dev"))
        .collect();
    let mut devs = vec![first];
    devs.extend(current.iter().copied().filter(|d| *d != first));
    if devs.len() == 1 {
        devs.push("hd");
    }
    edit::set_os_boot(doc, &devs)
}

fn add_install_cdrom(doc: &Document<'_>, iso: &str, taken: &mut Vec<String>) -> Result<Vec<Patch>> {
    let per_device = domain::uses_boot_order(doc);
    let empty_drive: Option<Id> = domain::devices(doc).and_then(|d| {
        doc.children_named(d, "disk").find(|&disk| {
            domain::disk_device(doc, disk) == "cdrom" && doc.child(disk, "source").is_none()
        })
    });
    let mut patches = Vec::new();
    if per_device {
        patches.extend(bump_boot_orders(doc, empty_drive));
    } else {
        patches.extend(os_boot_first(doc, "cdrom")?);
    }
    match empty_drive {
        Some(drive) => {
            let target = domain::disk_target(doc, drive)
                .unwrap_or_default()
                .to_string();
            patches.extend(edit::insert_media(doc, &target, iso)?);
            if per_device {
                patches.extend(edit::set_boot_order(doc, drive, Some(1)));
            }
        }
        None => {
            let disk = DiskSpec {
                path: iso.to_string(),
                device: "cdrom".into(),
                ..DiskSpec::default()
            };
            let bus = default_bus(doc, "cdrom");
            let target = free_target(doc, bus, taken);
            taken.push(target.clone());
            patches.push(add_disk_patch(
                doc,
                &disk.fragment(bus, &target, per_device.then_some(1)),
            )?);
        }
    }
    Ok(patches)
}

fn boot_network_first(doc: &Document<'_>) -> Result<Vec<Patch>> {
    let iface = domain::devices(doc)
        .and_then(|d| doc.child(d, "interface"))
        .ok_or_else(|| {
            Error::Edit(format!(
                "{}: --pxe needs a network interface, and the domain has none",
                doc.source
            ))
        })?;
    if domain::uses_boot_order(doc) {
        let mut patches = bump_boot_orders(doc, Some(iface));
        patches.extend(edit::set_boot_order(doc, iface, Some(1)));
        Ok(patches)
    } else {
        os_boot_first(doc, "network")
    }
}
