//! What `domxml-gen` chooses for a guest from its operating system (osinfo-db, `--os`)
//! and, with `-c`, from the host's domain capabilities ([`super::host`]): domain type,
//! machine, firmware and secure boot, TPM, CPU, disk bus, NIC model, video, RNG, memory
//! and vCPUs. What the OS cannot run (less than its minimum, a firmware it does not boot)
//! and what the host cannot run (UEFI without OVMF, a TPM without swtpm) is refused here,
//! in one line, before any XML is written.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};
use crate::media;
use crate::osinfo::{Db, Resolved, ResourceKind, ResourceValues, device};
use crate::xml::disk::DiskSpec;

use super::host::{Caps, Host};
use super::{Args, Firmware, Graphics, VirtType, parse_memory_kib};

/// Why the guest has a TPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tpm {
    /// `--tpm`.
    Asked,
    /// The OS requires one (Windows 11).
    Required,
    /// virt-install's default TPM (`_add_default_tpm`): a UEFI guest on a host whose
    /// domain capabilities offer the TPM emulator (`-c`).
    Default,
}

/// Every choice the XML steps need.
pub(super) struct Choices {
    /// The domain type.
    pub virt_type: VirtType,
    /// The OS (`--os`), with what it inherits.
    pub os: Option<Resolved>,
    /// The machine type.
    pub machine: Option<String>,
    /// UEFI, BIOS, or the hypervisor's default (`None`).
    pub firmware: Option<Firmware>,
    /// Secure boot (UEFI only).
    pub secure_boot: bool,
    /// An emulated TPM 2.0, and why.
    pub tpm: Option<Tpm>,
    /// The CPU mode or model; `None` leaves the hypervisor's default.
    pub cpu: Option<String>,
    /// The bus of hard disks given without `bus=`; `None` for the machine's default.
    pub disk_bus: Option<&'static str>,
    /// The model of interfaces given without `model=`; `None` for the default.
    pub nic_model: Option<&'static str>,
    /// The video model, when there are graphics.
    pub video: &'static str,
    /// A virtio RNG fed from the host's /dev/urandom.
    pub rng: bool,
    /// Memory in KiB.
    pub memory_kib: u64,
    /// Virtual CPUs.
    pub vcpus: u32,
}

/// What the guest's settings decide, with the OS's and the host's say.
///
/// # Errors
/// An unknown OS, an ISO that names none (`--os detect`), less than the OS's minimum, a
/// firmware the OS does not boot, something the host cannot run, or a database or host
/// that cannot be read.
pub(super) fn choose(args: &Args) -> Result<Choices> {
    let os = operating_system(args)?;
    let host = args.connect.as_deref().map(Host::open).transpose()?;
    let arch = args.arch.as_deref().unwrap_or("x86_64");
    let virt_type = domain_type(args, host.as_ref(), arch)?;
    let kvm_or_qemu = matches!(virt_type, VirtType::Kvm | VirtType::Qemu);
    let full_virt = !args.paravirt;
    let secure_boot = secure_boot(args, os.as_ref(), kvm_or_qemu)?;
    let machine = machine(args, os.as_ref(), kvm_or_qemu, secure_boot, arch);
    let caps = match &host {
        Some(host) => Some(host_caps(
            host,
            virt_type,
            arch,
            machine.as_deref(),
            args.machine.is_some() || secure_boot,
        )?),
        None => None,
    };
    // The host's answer may have fallen back to its default machine.
    let machine = match &caps {
        Some(c) if machine.is_some() && c.machine.is_empty() => None,
        _ => machine,
    };
    let firmware = firmware(args, os.as_ref(), full_virt, secure_boot, arch)?;
    let uefi = firmware == Some(Firmware::Uefi);
    if let (Some(caps), Some(host)) = (&caps, &host) {
        check_firmware(host, caps, uefi, secure_boot, arch)?;
    }
    let tpm = tpm(args, os.as_ref(), caps.as_ref(), uefi, kvm_or_qemu)?;
    if let (Some(caps), Some(host), Some(why)) = (&caps, &host, tpm) {
        if why != Tpm::Default && !(caps.tpm_emulator && caps.tpm_2) {
            return Err(Error::Libvirt(format!(
                "{}: the host has no TPM 2.0 emulator (install swtpm and swtpm-tools)",
                host.shown()
            )));
        }
    }
    let q35 = machine.as_deref().is_some_and(|m| m.contains("q35"));
    let supports = |ids: &[&str]| os.as_ref().is_none_or(|o| o.supports_any(ids));
    let (memory_kib, vcpus) = resources(args, os.as_ref(), arch)?;
    Ok(Choices {
        virt_type,
        cpu: cpu(args, virt_type, caps.as_ref()),
        disk_bus: (kvm_or_qemu && !supports(device::VIRTIO_BLOCK)).then_some(if q35 {
            "sata"
        } else {
            "ide"
        }),
        nic_model: (kvm_or_qemu && !supports(device::VIRTIO_NET)).then_some(
            if q35 || os.as_ref().is_some_and(|o| o.supports_any(device::E1000E)) {
                "e1000e"
            } else {
                "e1000"
            },
        ),
        video: video(args, os.as_ref()),
        rng: kvm_or_qemu
            && os
                .as_ref()
                .is_some_and(|o| o.supports_any(device::VIRTIO_RNG)),
        os,
        machine,
        firmware,
        secure_boot,
        tpm,
        memory_kib,
        vcpus,
    })
}

/// `--os ID` looked up, or `--os detect` read from the install ISO (virt-install's
/// `guess_os_by_iso`): `--cdrom`, else the first `--install-disk` ISO.
fn operating_system(args: &Args) -> Result<Option<Resolved>> {
    let Some(wanted) = args.os.as_deref() else {
        return Ok(None);
    };
    let mut db = Db::open().map_err(media::db_error)?;
    if wanted != "detect" {
        return match db.lookup(wanted).map_err(media::db_error)? {
            Some(os) => Ok(Some(os)),
            None => Err(Error::Usage(format!(
                "--os '{wanted}': not in the osinfo database{} (close: {}; osinfo-query os lists them)",
                version_note(&db),
                closest(&db.short_ids(), wanted).join(", ")
            ))),
        };
    }
    let iso = install_iso(args).ok_or_else(|| {
        Error::Usage(
            "--os detect reads the install ISO: give --cdrom (or an --install-disk ISO)".into(),
        )
    })?;
    if iso.starts_with("vol=") {
        return Err(Error::Usage(format!(
            "--os detect reads the install ISO on this machine, and '{iso}' is a volume on the host: give --os ID"
        )));
    }
    if let Some(uri) = args
        .connect
        .as_deref()
        .filter(|u| super::paths::names_another_host(u))
    {
        let host = crate::libvirt::connect::strip_userinfo(uri);
        return Err(Error::Usage(format!(
            "--os detect reads the install ISO on this machine, and -c {host} names another host, where '{iso}' is: give --os ID"
        )));
    }
    let (volume, found) = media::detect(Path::new(&iso), &mut db)?;
    match found {
        Some(m) => db.resolve(m.os).map(Some).map_err(media::db_error),
        None => Err(Error::Usage(format!(
            "--os detect: no OS in the osinfo database{} has install media like {iso} (volume id '{}'): give --os ID",
            version_note(&db),
            volume.volume_id.trim()
        ))),
    }
}

/// " (osinfo-db VERSION)", when the database says.
fn version_note(db: &Db) -> String {
    db.version()
        .map(|v| format!(" (osinfo-db {v})"))
        .unwrap_or_default()
}

/// Up to five short-ids sharing the longest prefix with `wanted`.
fn closest(ids: &[String], wanted: &str) -> Vec<String> {
    let common = |id: &str| {
        id.bytes()
            .zip(wanted.bytes())
            .take_while(|(a, b)| a == b)
            .count()
    };
    // The longest shared prefix first, then the closest length, then the newest name.
    let mut ranked: Vec<(usize, usize, &String)> = ids
        .iter()
        .map(|id| (common(id), id.len().abs_diff(wanted.len()), id))
        .collect();
    ranked.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| b.2.cmp(a.2))
    });
    ranked
        .into_iter()
        .take(5)
        .map(|(_, _, id)| id.clone())
        .collect()
}

/// The ISO `--os detect` reads.
fn install_iso(args: &Args) -> Option<String> {
    if let Some(iso) = &args.media.cdrom {
        return Some(iso.clone());
    }
    args.media.install_disk.iter().find_map(|spec| {
        let disk = DiskSpec::parse("--install-disk", spec, "disk").ok()?;
        let iso = disk.device == "cdrom" || disk.path.to_ascii_lowercase().ends_with(".iso");
        iso.then_some(disk.path)
    })
}

/// The domain type: `--type`, else KVM where the host has it and QEMU's emulation where
/// it does not (`-c`), else KVM. With `-c`, a type the host cannot run is refused.
fn domain_type(args: &Args, host: Option<&Host>, arch: &str) -> Result<VirtType> {
    let Some(host) = host else {
        return Ok(args.virt_type.unwrap_or_default());
    };
    match args.virt_type {
        Some(t @ (VirtType::Kvm | VirtType::Qemu)) => {
            let name = type_name(t);
            if host.caps(name, arch, None)?.is_none() {
                let hint = if t == VirtType::Kvm {
                    " (no usable /dev/kvm?): --type qemu runs it in QEMU's emulation"
                } else {
                    ""
                };
                return Err(Error::Libvirt(format!(
                    "{}: the host cannot run {name} guests for {arch}{hint}",
                    host.shown()
                )));
            }
            Ok(t)
        }
        Some(other) => Ok(other),
        None if host.caps("kvm", arch, None)?.is_some() => Ok(VirtType::Kvm),
        None if host.caps("qemu", arch, None)?.is_some() => Ok(VirtType::Qemu),
        None => Err(Error::Libvirt(format!(
            "{}: the host can run no {arch} guests (neither kvm nor qemu)",
            host.shown()
        ))),
    }
}

/// libvirt's name of a domain type.
pub(super) fn type_name(t: VirtType) -> &'static str {
    match t {
        VirtType::Kvm => "kvm",
        VirtType::Qemu => "qemu",
        VirtType::Xen => "xen",
        VirtType::Test => "test",
    }
}

/// Secure boot: `--secure-boot`, `--no-secure-boot`, else on where the OS requires it.
/// Windows 11's setup checks for secure boot as it does for a TPM 2.0; osinfo-db records
/// neither, so both are known by name ([`Resolved::tpm_required`]). Secure boot needs
/// UEFI and SMM, so a KVM/QEMU guest with a q35 machine.
fn secure_boot(args: &Args, os: Option<&Resolved>, kvm_or_qemu: bool) -> Result<bool> {
    if args.secure_boot && args.no_secure_boot {
        return Err(Error::Usage(
            "--secure-boot and --no-secure-boot contradict each other".into(),
        ));
    }
    let possible = kvm_or_qemu
        && !args.paravirt
        && args.firmware != Some(Firmware::Bios)
        && args.machine.as_deref().is_none_or(|m| m.contains("q35"));
    if args.secure_boot && !possible {
        return Err(Error::Usage(
            "--secure-boot needs UEFI with SMM: a --type kvm or qemu guest, not --firmware bios, on a q35 machine".into(),
        ));
    }
    let required = os.is_some_and(Resolved::tpm_required);
    Ok(args.secure_boot || (!args.no_secure_boot && required && possible))
}

/// `--machine`, else q35 for an x86_64 KVM/QEMU guest whose OS supports it (osinfo's
/// Q35 chipset) or that needs it (secure boot: SMM), else the hypervisor's default.
fn machine(
    args: &Args,
    os: Option<&Resolved>,
    kvm_or_qemu: bool,
    secure_boot: bool,
    arch: &str,
) -> Option<String> {
    if args.machine.is_some() {
        return args.machine.clone();
    }
    let wants_q35 = secure_boot || os.is_some_and(|o| o.supports_any(device::Q35));
    (kvm_or_qemu && !args.paravirt && arch == "x86_64" && wants_q35).then(|| "q35".to_string())
}

/// The host's capabilities for the chosen type and machine; a machine the host lacks
/// falls back to its default, unless it is `needed` (the user named it, or secure boot
/// needs it).
fn host_caps(
    host: &Host,
    virt_type: VirtType,
    arch: &str,
    machine: Option<&str>,
    needed: bool,
) -> Result<Caps> {
    let name = type_name(virt_type);
    if let Some(caps) = host.caps(name, arch, machine)? {
        return Ok(caps);
    }
    let unknown = || {
        Error::Libvirt(format!(
            "{}: the host has no machine type '{}' for {name} {arch} guests",
            host.shown(),
            machine.unwrap_or_default()
        ))
    };
    if machine.is_none() || needed {
        return Err(unknown());
    }
    let mut caps = host.caps(name, arch, None)?.ok_or_else(unknown)?;
    // Marks the fallback: the caller drops the machine it wanted.
    caps.machine.clear();
    Ok(caps)
}

/// `--firmware`, else UEFI where the OS requires it (osinfo lists UEFI and marks BIOS
/// unsupported; virt-install's `requires_firmware_efi`) or secure boot is asked for,
/// else the hypervisor's default (BIOS: it boots faster, as virt-install reasons). A
/// firmware the OS marks unsupported is refused.
fn firmware(
    args: &Args,
    os: Option<&Resolved>,
    full_virt: bool,
    secure_boot: bool,
    arch: &str,
) -> Result<Option<Firmware>> {
    let support = os.map(|o| o.firmware(arch)).unwrap_or_default();
    let name = |o: Option<&Resolved>| {
        o.map(|o| format!("{} ({})", o.os.name, o.os.short_ids[0]))
            .unwrap_or_default()
    };
    match args.firmware {
        Some(Firmware::Uefi) if support.efi == Some(false) => Err(Error::Usage(format!(
            "--firmware uefi: {} does not boot with UEFI (osinfo-db)",
            name(os)
        ))),
        Some(Firmware::Bios) if support.bios == Some(false) => Err(Error::Usage(format!(
            "--firmware bios: {} does not boot with BIOS (osinfo-db); use --firmware uefi",
            name(os)
        ))),
        Some(f) => Ok(Some(f)),
        None if full_virt && (secure_boot || support.efi_required()) => Ok(Some(Firmware::Uefi)),
        None => Ok(None),
    }
}

/// With `-c`: UEFI (and secure boot) only where libvirt found firmware for it.
fn check_firmware(
    host: &Host,
    caps: &Caps,
    uefi: bool,
    secure_boot: bool,
    arch: &str,
) -> Result<()> {
    if uefi && !caps.efi {
        return Err(Error::Libvirt(format!(
            "{}: the host has no UEFI firmware for {arch} {} guests (libvirt found no firmware descriptor: install ovmf)",
            host.shown(),
            caps.machine
        )));
    }
    if secure_boot && !caps.secure_boot {
        return Err(Error::Libvirt(format!(
            "{}: the host has no secure-boot UEFI firmware for {arch} {} guests (install ovmf)",
            host.shown(),
            caps.machine
        )));
    }
    Ok(())
}

/// `--tpm`, `--no-tpm`, else one where the OS requires it, else virt-install's default:
/// a UEFI guest on a host that offers the TPM emulator (only known with `-c`).
fn tpm(
    args: &Args,
    os: Option<&Resolved>,
    caps: Option<&Caps>,
    uefi: bool,
    kvm_or_qemu: bool,
) -> Result<Option<Tpm>> {
    if args.tpm && args.no_tpm {
        return Err(Error::Usage(
            "--tpm and --no-tpm contradict each other".into(),
        ));
    }
    let why = if args.tpm {
        Tpm::Asked
    } else if args.no_tpm {
        return Ok(None);
    } else if os.is_some_and(Resolved::tpm_required) {
        Tpm::Required
    } else if uefi && caps.is_some_and(|c| c.tpm_emulator && c.tpm_2) {
        Tpm::Default
    } else {
        return Ok(None);
    };
    if !kvm_or_qemu || args.paravirt {
        if why == Tpm::Asked {
            return Err(Error::Usage(
                "--tpm (an emulated TPM, swtpm) needs a --type kvm or qemu guest".into(),
            ));
        }
        return Ok(None);
    }
    Ok(Some(why))
}

/// `--cpu`, else host-passthrough under KVM and maximum under TCG; with `-c`, the first
/// of those and host-model that the host offers.
fn cpu(args: &Args, virt_type: VirtType, caps: Option<&Caps>) -> Option<String> {
    if let Some(cpu) = &args.cpu {
        return Some(cpu.clone());
    }
    let preferred = match virt_type {
        VirtType::Kvm => "host-passthrough",
        VirtType::Qemu => "maximum",
        VirtType::Xen | VirtType::Test => return None,
    };
    match caps {
        None => Some(preferred.to_string()),
        Some(c) => [preferred, "host-model"]
            .into_iter()
            .find(|m| c.cpu_mode(m))
            .map(str::to_string),
    }
}

/// The video card with graphics: virtio where the OS has a virtio-gpu driver, QXL for
/// SPICE, VGA otherwise.
fn video(args: &Args, os: Option<&Resolved>) -> &'static str {
    if os.is_some_and(|o| o.supports_any(device::VIRTIO_GPU)) {
        "virtio"
    } else if args.graphics == Some(Graphics::Spice) {
        "qxl"
    } else {
        "vga"
    }
}

/// Memory and vCPUs: the flags, else the OS's recommended (or minimum) values, else 1 GiB
/// and 1; less than the OS's minimum is refused, as is a boot disk image smaller than it.
fn resources(args: &Args, os: Option<&Resolved>, arch: &str) -> Result<(u64, u32)> {
    let (min, rec) = match os {
        Some(o) => (
            o.resources(ResourceKind::Minimum, arch),
            o.resources(ResourceKind::Recommended, arch),
        ),
        None => Default::default(),
    };
    let memory_kib = match &args.memory {
        Some(m) => parse_memory_kib(m)?,
        None => rec
            .ram
            .or(min.ram)
            .map_or(1 << 20, |b| b.div_ceil(1024).max(1 << 20)),
    };
    let vcpus = args.vcpus.unwrap_or_else(|| min.n_cpus.unwrap_or(1).max(1));
    if vcpus == 0 {
        return Err(Error::Usage("--vcpus must be at least 1".into()));
    }
    let Some(os) = os else {
        return Ok((memory_kib, vcpus));
    };
    let refuse = |what: String, needs: String| {
        Error::Usage(format!(
            "{what}: {} ({}) needs at least {needs}; recommended: {}",
            os.os.name,
            os.os.short_ids[0],
            recommended(&min, &rec)
        ))
    };
    if let Some(ram) = min.ram.filter(|&r| memory_kib.saturating_mul(1024) < r) {
        return Err(refuse(
            format!("--memory {}", size(memory_kib * 1024)),
            format!("{} of memory", size(ram)),
        ));
    }
    if let Some(n) = min.n_cpus.filter(|&n| vcpus < n) {
        return Err(refuse(format!("--vcpus {vcpus}"), self::vcpus(n)));
    }
    if let (Some(storage), Some((path, bytes))) = (min.storage, boot_disk_size(args)) {
        if bytes < storage {
            return Err(refuse(
                format!("--disk {path}: {}", size(bytes)),
                format!("{} of disk", size(storage)),
            ));
        }
    }
    Ok((memory_kib, vcpus))
}

/// "4 GiB memory, 2 vCPUs, 64 GiB disk": the recommended values, the minimum where the
/// OS recommends none.
fn recommended(min: &ResourceValues, rec: &ResourceValues) -> String {
    let mut parts = Vec::new();
    if let Some(ram) = rec.ram.or(min.ram) {
        parts.push(format!("{} memory", size(ram)));
    }
    if let Some(n) = rec.n_cpus.or(min.n_cpus) {
        parts.push(vcpus(n));
    }
    if let Some(storage) = rec.storage.or(min.storage) {
        parts.push(format!("{} disk", size(storage)));
    }
    parts.join(", ")
}

/// "1 vCPU", "2 vCPUs".
fn vcpus(n: u32) -> String {
    if n == 1 {
        "1 vCPU".into()
    } else {
        format!("{n} vCPUs")
    }
}

/// A size in GiB or MiB, as people write them.
fn size(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if bytes >= GIB && bytes % GIB == 0 {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes.div_ceil(MIB))
    }
}

/// The first `--disk` of device kind disk and its size, when its image exists and can be
/// read: a qcow2 image's virtual size, a raw file's length, a block device's size. Never
/// a volume's, nor with `-c` naming another host: nothing here is the host's.
fn boot_disk_size(args: &Args) -> Option<(String, u64)> {
    if args
        .connect
        .as_deref()
        .is_some_and(super::paths::names_another_host)
    {
        return None;
    }
    let spec = args
        .disk
        .iter()
        .filter_map(|s| DiskSpec::parse("--disk", s, "disk").ok())
        .find(|d| d.device == "disk")?;
    if spec.is_volume() {
        return None;
    }
    let mut file = File::open(&spec.path).ok()?;
    let mut header = [0u8; 32];
    let meta = file.metadata().ok()?;
    let bytes = if meta.is_file() {
        let qcow2 = file.read_exact(&mut header).is_ok() && header[..4] == *b"QFI\xfb";
        if qcow2 {
            u64::from_be_bytes(header[24..32].try_into().ok()?)
        } else {
            meta.len()
        }
    } else {
        file.seek(SeekFrom::End(0)).ok()?
    };
    Some((spec.path, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(4 << 30), "4 GiB");
        assert_eq!(size(512 << 20), "512 MiB");
        assert_eq!(size(3 << 29), "1.5 GiB");
    }

    #[test]
    fn close_short_ids_share_the_longest_prefix() {
        let ids: Vec<String> = ["debian10", "debian11", "debiantesting", "fedora36", "win11"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            closest(&ids, "debian12")[..2],
            ["debian11".to_string(), "debian10".to_string()]
        );
    }
}
