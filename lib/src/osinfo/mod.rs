//! A read-only view of the osinfo database (the Debian package osinfo-db,
//! `/usr/share/osinfo`): OS lookup by short-id with libosinfo's inheritance, what an OS
//! supports (firmware, machine type, virtio and fallback devices, TPM, resources), and
//! install-media identification by volume descriptor, with libosinfo's matching rules.
//!
//! Files are found as libosinfo finds them: `$OSINFO_SYSTEM_DIR` (else
//! `/usr/share/osinfo`), then `$OSINFO_LOCAL_DIR` (else `/etc/osinfo`), then
//! `$OSINFO_USER_DIR` (else `$XDG_CONFIG_HOME/osinfo`); a later folder's OS replaces an
//! earlier one with the same id. A short-id lookup parses only the files that mention the
//! short-id or an ancestor's id (a byte search over all of them first); identification
//! parses only the `<media>` elements of the files that have install media.

mod load;
mod matching;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

pub use matching::{Match, MediaIds};

/// One `<firmware>` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firmware {
    /// Architecture (`x86_64`, ...).
    pub arch: String,
    /// `efi` or `bios`.
    pub kind: String,
    /// False for `supported="false"` (the OS cannot boot with it).
    pub supported: bool,
}

/// One `<device>` link of an OS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLink {
    /// The device id (`http://pcisig.com/pci/1af4/1041`).
    pub id: String,
    /// False for `supported="false"`: removes an inherited device.
    pub supported: bool,
}

/// Which `<resources>` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `<minimum>`.
    Minimum,
    /// `<recommended>`.
    Recommended,
    /// `<maximum>`.
    Maximum,
    /// `<network-install>`.
    NetworkInstall,
}

/// One resources entry for one architecture (`all` when the OS gave none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Minimum, recommended, ...
    pub kind: ResourceKind,
    /// Architecture, or `all`.
    pub arch: String,
    /// `<resources inherit="true">`: missing values come from the OS it derives from.
    pub inherit: bool,
    /// Virtual CPUs.
    pub n_cpus: Option<u32>,
    /// CPU speed in Hz.
    pub cpu: Option<u64>,
    /// Memory in bytes.
    pub ram: Option<u64>,
    /// Disk in bytes.
    pub storage: Option<u64>,
}

/// One `<media>` entry: how to recognise the install medium, and what is on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// Architecture, or `all`.
    pub arch: String,
    /// A live image.
    pub live: bool,
    /// It can install the OS (osinfo's default: true).
    pub installer: bool,
    /// How often the installer reboots.
    pub installer_reboots: Option<u32>,
    /// Whether the installer ejects it.
    pub eject_after_install: bool,
    /// Download URL.
    pub url: Option<String>,
    /// Regular expression for the volume id.
    pub volume_id: Option<String>,
    /// Regular expression for the system id.
    pub system_id: Option<String>,
    /// Regular expression for the publisher id.
    pub publisher_id: Option<String>,
    /// Regular expression for the application id.
    pub application_id: Option<String>,
    /// Exact volume size in bytes.
    pub volume_size: Option<i64>,
    /// Kernel path on the medium.
    pub kernel: Option<String>,
    /// Initrd path on the medium.
    pub initrd: Option<String>,
    /// The OS variants it installs.
    pub variants: Vec<String>,
}

/// One `<tree>` entry: an install tree (a mirror's layout).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    /// Architecture, or `all`.
    pub arch: String,
    /// Tree URL.
    pub url: Option<String>,
    /// `.treeinfo` family regex.
    pub family: Option<String>,
    /// `.treeinfo` variant regex.
    pub variant: Option<String>,
    /// `.treeinfo` version regex.
    pub version: Option<String>,
    /// `.treeinfo` arch regex.
    pub treeinfo_arch: Option<String>,
    /// Kernel path in the tree.
    pub kernel: Option<String>,
    /// Initrd path in the tree.
    pub initrd: Option<String>,
    /// Boot ISO path in the tree.
    pub boot_iso: Option<String>,
}

/// One OS as its file describes it (no inheritance applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Os {
    /// The unique id (`http://debian.org/debian/11`).
    pub id: String,
    /// Short ids, the first the main one (`debian11`; aliases follow).
    pub short_ids: Vec<String>,
    /// The untranslated name.
    pub name: String,
    /// Version.
    pub version: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Family (`linux`, `winnt`, ...).
    pub family: Option<String>,
    /// Distribution (`debian`, `win`, ...).
    pub distro: Option<String>,
    /// `rolling`, `prerelease`, `snapshot`, or none (released).
    pub release_status: Option<String>,
    /// Ids this OS derives from (inherits devices, firmware, resources).
    pub derives_from: Vec<String>,
    /// Ids this OS is a clone of (inherits like derives-from).
    pub clones: Vec<String>,
    /// Ids this OS upgrades (no inheritance, as in libosinfo).
    pub upgrades: Vec<String>,
    /// Firmware entries.
    pub firmware: Vec<Firmware>,
    /// Device links.
    pub devices: Vec<DeviceLink>,
    /// Resources entries.
    pub resources: Vec<Resources>,
    /// Install media.
    pub media: Vec<Media>,
    /// Install trees.
    pub trees: Vec<Tree>,
    /// The file it came from.
    pub file: PathBuf,
}

/// PCI ids osinfo-db uses for the devices domkit chooses between (as virt-install's
/// osdict.py names them).
pub mod device {
    /// virtio-net, transitional and modern (virtio 1.0).
    pub const VIRTIO_NET: &[&str] = &[
        "http://pcisig.com/pci/1af4/1000",
        "http://pcisig.com/pci/1af4/1041",
    ];
    /// virtio-blk, transitional and modern.
    pub const VIRTIO_BLOCK: &[&str] = &[
        "http://pcisig.com/pci/1af4/1001",
        "http://pcisig.com/pci/1af4/1042",
    ];
    /// virtio-scsi, transitional and modern.
    pub const VIRTIO_SCSI: &[&str] = &[
        "http://pcisig.com/pci/1af4/1004",
        "http://pcisig.com/pci/1af4/1048",
    ];
    /// virtio-rng, transitional and modern.
    pub const VIRTIO_RNG: &[&str] = &[
        "http://pcisig.com/pci/1af4/1005",
        "http://pcisig.com/pci/1af4/1044",
    ];
    /// virtio-gpu (modern only): a virtio video card.
    pub const VIRTIO_GPU: &[&str] = &["http://pcisig.com/pci/1af4/1050"];
    /// virtio-input (modern only).
    pub const VIRTIO_INPUT: &[&str] = &["http://pcisig.com/pci/1af4/1052"];
    /// A modern (virtio 1.0) device: virt-install's supports_virtio1 test.
    pub const VIRTIO1: &[&str] = &["http://pcisig.com/pci/1af4/1041"];
    /// The Q35 chipset.
    pub const Q35: &[&str] = &["http://qemu.org/chipset/x86/q35"];
    /// Intel 82574 (e1000e).
    pub const E1000E: &[&str] = &["http://pcisig.com/pci/8086/10d3"];
    /// Intel 82540EM (e1000).
    pub const E1000: &[&str] = &["http://pcisig.com/pci/8086/100e"];
    /// ICH9 AHCI (SATA on q35).
    pub const AHCI: &[&str] = &["http://pcisig.com/pci/8086/2922"];
    /// USB 3 (qemu-xhci).
    pub const USB3: &[&str] = &["http://pcisig.com/pci/1b36/0004"];
}

/// An OS with the OSes it inherits from (derives-from and clones, transitively, nearest
/// first), as libosinfo's "complete" lists see it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The OS itself.
    pub os: Os,
    /// Its ancestors, nearest first, each once.
    pub ancestors: Vec<Os>,
}

/// Firmware support for one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirmwareSupport {
    /// UEFI: Some(true) listed as supported, Some(false) as unsupported, None not listed.
    pub efi: Option<bool>,
    /// BIOS, likewise.
    pub bios: Option<bool>,
}

impl FirmwareSupport {
    /// UEFI is required: supported, and BIOS is not (virt-install's
    /// requires_firmware_efi, where an unlisted BIOS counts as supported).
    pub fn efi_required(&self) -> bool {
        self.efi == Some(true) && self.bios == Some(false)
    }
}

/// Resource values for one architecture, after inheritance and the `all` fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceValues {
    /// Virtual CPUs.
    pub n_cpus: Option<u32>,
    /// CPU speed in Hz.
    pub cpu: Option<u64>,
    /// Memory in bytes.
    pub ram: Option<u64>,
    /// Disk in bytes.
    pub storage: Option<u64>,
}

impl Resolved {
    /// The OS, then its ancestors.
    fn chain(&self) -> impl Iterator<Item = &Os> {
        std::iter::once(&self.os).chain(&self.ancestors)
    }

    /// Firmware support for `arch`; the nearest OS that lists a firmware type decides it.
    pub fn firmware(&self, arch: &str) -> FirmwareSupport {
        let mut support = FirmwareSupport::default();
        for os in self.chain() {
            for f in os.firmware.iter().filter(|f| f.arch == arch) {
                let slot = match f.kind.as_str() {
                    "efi" => &mut support.efi,
                    "bios" => &mut support.bios,
                    _ => continue,
                };
                slot.get_or_insert(f.supported);
            }
        }
        support
    }

    /// Every supported device id: the union over the OS and its ancestors, less any
    /// device one of them marks `supported="false"` (libosinfo's get_all_devices).
    pub fn devices(&self) -> Vec<&str> {
        let unsupported: Vec<&str> = self
            .chain()
            .flat_map(|os| &os.devices)
            .filter(|d| !d.supported)
            .map(|d| d.id.as_str())
            .collect();
        let mut out: Vec<&str> = Vec::new();
        for d in self.chain().flat_map(|os| &os.devices) {
            if d.supported && !unsupported.contains(&d.id.as_str()) && !out.contains(&d.id.as_str())
            {
                out.push(&d.id);
            }
        }
        out
    }

    /// True when the OS supports any of `ids` (see [`device`]).
    pub fn supports_any(&self, ids: &[&str]) -> bool {
        self.devices().iter().any(|d| ids.contains(d))
    }

    /// A TPM 2.0 is required. osinfo-db has no TPM data yet; Windows 11 requires one, so
    /// it and what derives from it do (virt-install hard-codes win11 for UEFI the same way).
    pub fn tpm_required(&self) -> bool {
        self.chain().any(|os| {
            os.short_ids.iter().any(|s| s == "win11")
                || os
                    .devices
                    .iter()
                    .any(|d| d.supported && d.id.contains("tpm"))
        })
    }

    /// `kind` resources for `arch`, as libosinfo and virt-install read them: the OS's own
    /// entry for `arch`, else for `all`; an entry marked `inherit="true"` takes missing
    /// values from the nearest ancestor's entry for the same architecture.
    pub fn resources(&self, kind: ResourceKind, arch: &str) -> ResourceValues {
        let entry = |os: &Os, a: &str| -> Option<Resources> {
            os.resources
                .iter()
                .find(|r| r.kind == kind && r.arch == a)
                .cloned()
        };
        let mut out = ResourceValues::default();
        for a in [arch, "all"] {
            let Some(own) = entry(&self.os, a) else {
                continue;
            };
            let mut r = own.clone();
            if own.inherit {
                for ancestor in &self.ancestors {
                    if let Some(p) = entry(ancestor, a) {
                        r.n_cpus = r.n_cpus.or(p.n_cpus);
                        r.cpu = r.cpu.or(p.cpu);
                        r.ram = r.ram.or(p.ram);
                        r.storage = r.storage.or(p.storage);
                    }
                }
            }
            out.n_cpus = out.n_cpus.or(r.n_cpus);
            out.cpu = out.cpu.or(r.cpu);
            out.ram = out.ram.or(r.ram);
            out.storage = out.storage.or(r.storage);
        }
        out
    }
}

/// What went wrong reading the database.
#[derive(Debug)]
pub enum DbError {
    /// No database folder exists.
    Missing(String),
    /// A file could not be read or parsed.
    Bad(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Missing(m) | DbError::Bad(m) => f.write_str(m),
        }
    }
}

/// The database: its folders and their OS files' bytes, read once; OSes are parsed on
/// demand.
pub struct Db {
    /// The folders in precedence order (later wins).
    pub dirs: Vec<PathBuf>,
    /// (precedence, path, bytes) of every OS file.
    files: Vec<(usize, PathBuf, Vec<u8>)>,
    parsed: HashMap<PathBuf, Vec<Os>>,
}

/// The folders libosinfo reads, in its order.
pub fn default_dirs() -> Vec<PathBuf> {
    let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let user = env("OSINFO_USER_DIR").or_else(|| {
        env("XDG_CONFIG_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".config")))
            .map(|c| c.join("osinfo"))
    });
    [
        Some(env("OSINFO_SYSTEM_DIR").unwrap_or_else(|| "/usr/share/osinfo".into())),
        Some(env("OSINFO_LOCAL_DIR").unwrap_or_else(|| "/etc/osinfo".into())),
        user,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The `.xml` files under `dir`, sorted (libosinfo reads them in directory order; sorting
/// makes the first match the same on every machine).
fn xml_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() && depth < 4 {
            xml_files(&p, out, depth + 1);
        } else if p.extension().is_some_and(|e| e == "xml") {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Adds `os` from the folder of precedence `rank`, replacing an OS with the same id from
/// an earlier folder (libosinfo's local and user folders override the system one).
fn keep_latest(by_id: &mut Vec<(String, usize, Os)>, rank: usize, os: Os) {
    match by_id.iter_mut().find(|(id, _, _)| *id == os.id) {
        Some(slot) if slot.1 <= rank => *slot = (os.id.clone(), rank, os),
        Some(_) => {}
        None => by_id.push((os.id.clone(), rank, os)),
    }
}

impl Db {
    /// Reads the OS files of the default folders (see [`default_dirs`]).
    ///
    /// # Errors
    /// None of the folders has an `os` folder (osinfo-db is not installed).
    pub fn open() -> Result<Db, DbError> {
        Db::open_dirs(default_dirs())
    }

    /// Reads the OS files of `dirs` (each with an `os/` folder), later ones winning.
    ///
    /// # Errors
    /// None of them has an `os` folder.
    pub fn open_dirs(dirs: Vec<PathBuf>) -> Result<Db, DbError> {
        let mut files = Vec::new();
        let mut any = false;
        for (rank, dir) in dirs.iter().enumerate() {
            let os_dir = dir.join("os");
            if !os_dir.is_dir() {
                continue;
            }
            any = true;
            let mut paths = Vec::new();
            xml_files(&os_dir, &mut paths, 0);
            for p in paths {
                let bytes =
                    fs::read(&p).map_err(|e| DbError::Bad(format!("{}: {e}", p.display())))?;
                files.push((rank, p, bytes));
            }
        }
        if !any {
            return Err(DbError::Missing(format!(
                "no osinfo database (install osinfo-db; looked in {})",
                dirs.iter()
                    .map(|d| d.join("os").display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(Db {
            dirs,
            files,
            parsed: HashMap::new(),
        })
    }

    /// The database version (`VERSION` in the first folder that has one).
    pub fn version(&self) -> Option<String> {
        self.dirs.iter().find_map(|d| {
            fs::read_to_string(d.join("VERSION"))
                .ok()
                .map(|v| v.trim().to_string())
        })
    }

    /// The OSes of the files whose bytes satisfy `wanted`, parsed once each; later folders
    /// replace earlier OSes with the same id.
    fn oses_where(&mut self, wanted: impl Fn(&[u8]) -> bool) -> Result<Vec<Os>, DbError> {
        let mut by_id: Vec<(String, usize, Os)> = Vec::new();
        for (rank, path, bytes) in &self.files {
            if !wanted(bytes) {
                continue;
            }
            if !self.parsed.contains_key(path) {
                let oses = load::parse_file(path, bytes).map_err(DbError::Bad)?;
                self.parsed.insert(path.clone(), oses);
            }
            for os in &self.parsed[path] {
                keep_latest(&mut by_id, *rank, os.clone());
            }
        }
        Ok(by_id.into_iter().map(|(_, _, os)| os).collect())
    }

    /// The OS with this id.
    fn by_id(&mut self, id: &str) -> Result<Option<Os>, DbError> {
        let needle = format!("id=\"{id}\"");
        let found = self.oses_where(|b| contains(b, needle.as_bytes()))?;
        Ok(found.into_iter().find(|os| os.id == id))
    }

    /// Looks an OS up by short-id (aliases included) and resolves its ancestors.
    ///
    /// # Errors
    /// A file on the way is not well-formed.
    pub fn lookup(&mut self, short_id: &str) -> Result<Option<Resolved>, DbError> {
        let needle = format!("<short-id>{short_id}</short-id>");
        let found = self.oses_where(|b| contains(b, needle.as_bytes()))?;
        let Some(os) = found
            .into_iter()
            .find(|os| os.short_ids.iter().any(|s| s == short_id))
        else {
            return Ok(None);
        };
        self.resolve(os).map(Some)
    }

    /// The OS with its derives-from and clones ancestors, nearest first (breadth-first,
    /// each once, at most 64).
    ///
    /// # Errors
    /// A file on the way is not well-formed.
    pub fn resolve(&mut self, os: Os) -> Result<Resolved, DbError> {
        let mut ancestors: Vec<Os> = Vec::new();
        let mut queue: Vec<String> = os.derives_from.iter().chain(&os.clones).cloned().collect();
        let mut seen = vec![os.id.clone()];
        while !queue.is_empty() && ancestors.len() < 64 {
            let id = queue.remove(0);
            if seen.contains(&id) {
                continue;
            }
            seen.push(id.clone());
            if let Some(parent) = self.by_id(&id)? {
                queue.extend(parent.derives_from.iter().chain(&parent.clones).cloned());
                ancestors.push(parent);
            }
        }
        Ok(Resolved { os, ancestors })
    }

    /// Every short-id in the database (for "did you mean" messages), from a byte scan
    /// without parsing.
    pub fn short_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (_, _, bytes) in &self.files {
            let text = String::from_utf8_lossy(bytes);
            let mut rest = text.as_ref();
            while let Some(start) = rest.find("<short-id>") {
                rest = &rest[start + 10..];
                if let Some(end) = rest.find("</short-id>") {
                    out.push(rest[..end].trim().to_string());
                    rest = &rest[end..];
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Every OS in the database (parses all files: ~0.1 s).
    ///
    /// # Errors
    /// A file is not well-formed.
    pub fn all(&mut self) -> Result<Vec<Os>, DbError> {
        self.oses_where(|_| true)
    }

    /// The OS whose install media match `ids`, as libosinfo's osinfo_db_identify_media
    /// decides (see [`matching`]).
    ///
    /// # Errors
    /// A file is not well-formed, or a media regex does not compile.
    pub fn identify(&mut self, ids: &MediaIds) -> Result<Option<Match>, DbError> {
        // Media only: whole files are parsed for lookups, not for this scan of them all.
        let mut by_id: Vec<(String, usize, Os)> = Vec::new();
        for (rank, path, bytes) in &self.files {
            if !contains(bytes, b"<iso>") {
                continue;
            }
            for os in load::parse_media_only(path, bytes).map_err(DbError::Bad)? {
                keep_latest(&mut by_id, *rank, os);
            }
        }
        let oses: Vec<Os> = by_id.into_iter().map(|(_, _, os)| os).collect();
        let Some(mut found) = matching::identify(&oses, ids)? else {
            return Ok(None);
        };
        // The caller gets the whole OS, as a lookup gives it.
        if let Some(full) = self.by_id(&found.os.id)? {
            found.os = full;
        }
        Ok(Some(found))
    }
}
