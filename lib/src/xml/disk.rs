//! Disks as domkit adds them: the `--disk`/`--install-disk` flag syntax, the bus a new
//! disk gets on a machine, and target names as libvirt numbers them.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::xml::domain;
use crate::xml::{Document, Fragment};

/// Where a disk's image is, from the first field of a disk flag: `vol=POOL/NAME` (a
/// libvirt storage volume, virt-install's syntax), a block device (`/dev/...`), or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    /// `<disk type='volume'><source pool= volume=/>`.
    Volume {
        /// The pool's name.
        pool: &'a str,
        /// The volume's name.
        volume: &'a str,
    },
    /// `<disk type='block'><source dev=/>`.
    Block(&'a str),
    /// `<disk type='file'><source file=/>`.
    File(&'a str),
}

impl<'a> Source<'a> {
    /// Reads a disk flag's first field.
    ///
    /// # Errors
    /// A `vol=` that is not `POOL/NAME` with good names, as a usage error naming `flag`.
    pub fn parse(flag: &str, field: &'a str) -> Result<Source<'a>> {
        let Some(reference) = field.strip_prefix("vol=") else {
            return Ok(if field.starts_with("/dev/") {
                Source::Block(field)
            } else {
                Source::File(field)
            });
        };
        let bad = |why: &str| Error::Usage(format!("{flag} '{field}': {why}"));
        let (pool, volume) = reference
            .split_once('/')
            .ok_or_else(|| bad("vol= takes POOL/NAME (a pool, '/', a volume)"))?;
        for name in [pool, volume] {
            if name.is_empty()
                || name.contains('/')
                || name == "."
                || name.contains("..")
                || name.chars().any(char::is_control)
            {
                return Err(bad(
                    "vol= takes POOL/NAME: names without '/', '..' or control characters",
                ));
            }
        }
        Ok(Source::Volume { pool, volume })
    }

    /// The `<disk type>` for it.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Volume { .. } => "volume",
            Source::Block(_) => "block",
            Source::File(_) => "file",
        }
    }

    /// Its `<source>` element.
    pub fn fragment(&self) -> Fragment {
        match self {
            Source::Volume { pool, volume } => Fragment::new("source")
                .attr("pool", *pool)
                .attr("volume", *volume),
            Source::Block(dev) => Fragment::new("source").attr("dev", *dev),
            Source::File(file) => Fragment::new("source").attr("file", *file),
        }
    }
}

/// A disk as given on the command line: `PATH[,bus=,format=,device=,target=,readonly]`,
/// where PATH may be `vol=POOL/NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskSpec {
    /// Image path (a block device when it starts with `/dev/`), or `vol=POOL/NAME`.
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
        Source::parse(flag, &path)?;
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
        let source = self.source();
        Fragment::new("disk")
            .attr("type", source.kind())
            .attr("device", self.device.as_str())
            .child_opt(self.format.as_ref().map(|f| {
                Fragment::new("driver")
                    .attr("name", "qemu")
                    .attr("type", f.as_str())
            }))
            .child(source.fragment())
            .child(Fragment::new("target").attr("dev", target).attr("bus", bus))
            .child_opt(boot_order.map(|o| Fragment::new("boot").attr("order", o.to_string())))
            .child_opt((self.readonly || self.device == "cdrom").then(|| Fragment::new("readonly")))
    }
}

impl DiskSpec {
    /// Where its image is (its path was checked when it was parsed).
    pub fn source(&self) -> Source<'_> {
        Source::parse("", &self.path).unwrap_or(Source::File(&self.path))
    }

    /// True when it is a libvirt volume (`vol=POOL/NAME`): nothing on this machine.
    pub fn is_volume(&self) -> bool {
        matches!(self.source(), Source::Volume { .. })
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

/// The bus a new disk of kind `device` gets: virtio disks under KVM/QEMU and bhyve, xen
/// under Xen, removable media on SATA for q35 and bhyve, IDE on other x86 machines, SCSI
/// elsewhere (libvirt adds the SCSI controller).
pub fn bus_for(machine: &Machine<'_>, device: &str) -> &'static str {
    let x86 = matches!(machine.arch, "x86_64" | "i686" | "i386");
    match device {
        _ if machine.paravirt => "xen",
        "floppy" => "fdc",
        // bhyve emulates virtio-blk and AHCI only; CD-ROMs must be on AHCI (SATA).
        "disk" | "lun" if machine.domain_type == "bhyve" => "virtio",
        _ if machine.domain_type == "bhyve" => "sata",
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

/// The target name of disk `index` with `prefix`, as libvirt numbers them
/// (`virIndexToDiskName`): vda..vdz, then vdaa..vdaz, vdba, ... vdzz, vdaaa.
pub fn target_name(prefix: &str, index: usize) -> String {
    let mut letters = Vec::new();
    let mut i = index;
    loop {
        letters.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    letters.reverse();
    format!(
        "{prefix}{}",
        String::from_utf8(letters).expect("ASCII letters")
    )
}

/// The target name prefix of `bus` and how many targets it has (`None`: no limit that
/// matters): IDE has two buses of two units (hda-hdd), the floppy controller two drives.
fn bus_targets(bus: &str) -> (&'static str, Option<usize>) {
    match bus {
        "virtio" => ("vd", None),
        "ide" => ("hd", Some(4)),
        "xen" => ("xvd", None),
        "fdc" => ("fd", Some(2)),
        _ => ("sd", None),
    }
}

/// Target names in use, and where the search for the next free one on each bus resumes:
/// names are only ever added, so each bus is scanned once however many disks are added.
#[derive(Debug, Default)]
pub struct Targets {
    used: HashSet<String>,
    next: HashMap<&'static str, usize>,
}

impl Targets {
    /// The targets of a domain's disks.
    pub fn of(doc: &Document<'_>) -> Targets {
        let used = match domain::devices(doc) {
            Some(d) => doc
                .children_named(d, "disk")
                .filter_map(|disk| domain::disk_target(doc, disk))
                .map(str::to_string)
                .collect(),
            None => HashSet::new(),
        };
        Targets {
            used,
            next: HashMap::new(),
        }
    }

    /// Whether a disk has target `name` already.
    pub fn is_used(&self, name: &str) -> bool {
        self.used.contains(name)
    }

    /// Claims `name`.
    ///
    /// # Errors
    /// Another disk has it: `what` names the disk in the message.
    pub fn claim(&mut self, what: &str, name: &str) -> Result<()> {
        if !self.used.insert(name.to_string()) {
            return Err(Error::Edit(format!(
                "{what}: target {name} is already used by another disk"
            )));
        }
        Ok(())
    }

    /// Claims the first free target name on `bus` (`vda`, `hdc`, `sdb`, ..., `vdaa`).
    ///
    /// # Errors
    /// Every target of a bus with few (IDE, floppy) is taken.
    pub fn claim_free(&mut self, bus: &str) -> Result<String> {
        let (prefix, limit) = bus_targets(bus);
        let index = self.next.entry(prefix).or_default();
        loop {
            if limit.is_some_and(|l| *index >= l) {
                return Err(Error::Edit(format!(
                    "no free {bus} target ({}..{} are taken): give the disk another bus= or a target=",
                    target_name(prefix, 0),
                    target_name(prefix, *index - 1)
                )));
            }
            let name = target_name(prefix, *index);
            *index += 1;
            if self.used.insert(name.clone()) {
                return Ok(name);
            }
        }
    }

    /// The bus and a claimed target for a new disk of kind `device` in `doc`: its default
    /// bus, or SATA when that is IDE and all four IDE places are taken (libvirt adds the
    /// AHCI controller; SeaBIOS boots from it).
    ///
    /// # Errors
    /// No free target (a third floppy).
    pub fn claim_new(
        &mut self,
        doc: &Document<'_>,
        device: &str,
    ) -> Result<(&'static str, String)> {
        let bus = default_bus(doc, device);
        match self.claim_free(bus) {
            Ok(target) => Ok((bus, target)),
            Err(_) if bus == "ide" => Ok(("sata", self.claim_free("sata")?)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_count_like_libvirt() {
        assert_eq!(target_name("vd", 0), "vda");
        assert_eq!(target_name("vd", 25), "vdz");
        assert_eq!(target_name("vd", 26), "vdaa");
        assert_eq!(target_name("vd", 27), "vdab");
        assert_eq!(target_name("vd", 701), "vdzz");
        assert_eq!(target_name("vd", 702), "vdaaa");
        let mut targets = Targets::default();
        for i in 0..27 {
            targets.claim("disk", &target_name("vd", i)).unwrap();
        }
        assert_eq!(targets.claim_free("virtio").unwrap(), "vdab");
        assert!(targets.claim("disk", "vdab").is_err());
        let mut ide = Targets::default();
        for _ in 0..4 {
            ide.claim_free("ide").unwrap();
        }
        let err = ide.claim_free("ide").unwrap_err();
        assert!(err.to_string().contains("hda..hdd"), "{err}");
    }
}
