//! The final config `domxml-gen` writes, one named step per part of the domain: the
//! settings checked first ([`Base`]), the OS's and the host's choices ([`guest`]), then
//! `<os>`, `<features>`, `<cpu>` and each kind of device, then the `<domain>` around
//! them. Every guest is reachable: a serial console without graphics, a tablet and a
//! video card with them.

use crate::error::{Error, Result};
use crate::phase::install::InstallMedia;
use crate::xml::Fragment;
use crate::xml::disk::{self, DiskSpec};

use super::guest::{self, Choices, Tpm};
use super::{Args, Firmware, Graphics, KNOWN_FEATURES, VirtType, stable_mac};

/// libosinfo's namespace for the OS of a domain, as virt-install records it.
pub const LIBOSINFO_NAMESPACE: &str = "http://libosinfo.org/xmlns/libvirt/domain/1.0";

/// The settings every step needs, checked once.
struct Base<'a> {
    name: &'a str,
    uuid: uuid::Uuid,
    virt_type: VirtType,
    type_name: &'static str,
    arch: String,
    x86: bool,
}

/// What `domxml-gen` made: the final config, and the install method to record against it.
pub(super) struct Generated {
    /// The final config.
    pub xml: String,
    /// The install method, with what reaching the installer needs added (`console=`).
    pub media: InstallMedia,
    /// The TPM was added by default (virt-install's rule for the install phase needs to
    /// know).
    pub default_tpm: bool,
}

/// The final config for `args` (already merged with any spec, paths absolute).
///
/// # Errors
/// Missing name, bad values, flags that do not go together, or what the OS or the host
/// cannot run (see [`guest::choose`]).
pub(super) fn final_config(args: &Args) -> Result<Generated> {
    let (name, uuid) = identity(args)?;
    check_combinations(args)?;
    let choices = guest::choose(args)?;
    let arch = args.arch.clone().unwrap_or_else(|| "x86_64".into());
    let base = Base {
        name,
        uuid,
        virt_type: choices.virt_type,
        type_name: guest::type_name(choices.virt_type),
        x86: matches!(arch.as_str(), "x86_64" | "i686"),
        arch,
    };
    let os = os_element(args, &base, &choices);
    let features = features(args, &base, &choices)?;
    let cpu = cpu(choices.cpu.as_deref())?;
    let mut devices = Fragment::new("devices");
    for disk in disks(args, &base, &choices)? {
        devices = devices.child(disk);
    }
    for iface in interfaces(args, &base, &choices)? {
        devices = devices.child(iface);
    }
    for serial in serials_and_console(args)? {
        devices = devices.child(serial);
    }
    for device in graphics_and_more(args, &choices) {
        devices = devices.child(device);
    }
    let domain = domain(args, &base, &choices, os, features, cpu, devices);
    let mut xml = domain.render("", "  ", "\n", '\'');
    xml.push('\n');
    Ok(Generated {
        xml,
        media: install_media(args),
        default_tpm: choices.tpm == Some(Tpm::Default),
    })
}

/// Name and UUID.
fn identity(args: &Args) -> Result<(&str, uuid::Uuid)> {
    let name = args
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Usage("--name is required".into()))?;
    let uuid = match &args.uuid {
        Some(u) => uuid::Uuid::parse_str(u)
            .map_err(|_| Error::Usage(format!("--uuid '{u}': not a UUID")))?,
        None => uuid::Uuid::new_v4(),
    };
    Ok((name, uuid))
}

/// Flags that do not go together.
fn check_combinations(args: &Args) -> Result<()> {
    if args.paravirt && args.virt_type != Some(VirtType::Xen) {
        return Err(Error::Usage("--paravirt is for --type xen".into()));
    }
    if args.media.pxe && args.network.iter().all(|n| n == "none") {
        return Err(Error::Usage(
            "--pxe needs a --network interface to boot from".into(),
        ));
    }
    if args.paravirt && (args.media.cdrom.is_some() || args.media.pxe) {
        return Err(Error::Usage(
            "a Xen paravirt guest installs from --kernel/--initrd, not --cdrom or --pxe".into(),
        ));
    }
    if args.firmware == Some(Firmware::Uefi) && args.paravirt {
        return Err(Error::Usage(
            "--firmware uefi is not for paravirt guests".into(),
        ));
    }
    Ok(())
}

/// `<os>`: firmware (UEFI through libvirt's autoselection, secure boot stated either
/// way so that libvirt picks the same firmware on every host), type and machine, and the
/// final config's boot from the disk.
fn os_element(args: &Args, base: &Base<'_>, choices: &Choices) -> Fragment {
    let uefi = choices.firmware == Some(Firmware::Uefi);
    let os = Fragment::new("os").attr_opt("firmware", uefi.then_some("efi"));
    let os_type = Fragment::new("type")
        .attr("arch", base.arch.as_str())
        .attr_opt("machine", choices.machine.clone());
    if args.paravirt {
        return os.child(os_type.text("xen"));
    }
    let feature = |name: &str, on: bool| {
        Fragment::new("feature")
            .attr("enabled", if on { "yes" } else { "no" })
            .attr("name", name)
    };
    let firmware = uefi.then(|| {
        let f = Fragment::new("firmware");
        if choices.secure_boot {
            f.child(feature("enrolled-keys", true))
                .child(feature("secure-boot", true))
        } else {
            f.child(feature("secure-boot", false))
        }
    });
    os.child(os_type.text("hvm"))
        .child_opt(firmware)
        .child(Fragment::new("boot").attr("dev", "hd"))
}

/// `<features>`' children: the flag's list, or acpi (and apic on x86) by default; SMM on
/// for secure boot (its firmware needs it).
fn features(args: &Args, base: &Base<'_>, choices: &Choices) -> Result<Vec<Fragment>> {
    let mut names: Vec<String> = match &args.features {
        Some(list) if list == "none" => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        None if args.paravirt => Vec::new(),
        None if base.x86 => vec!["acpi".into(), "apic".into()],
        None => vec!["acpi".into()],
    };
    for f in &names {
        if !KNOWN_FEATURES.contains(&f.as_str()) {
            return Err(Error::Usage(format!(
                "--features: unknown feature '{f}' (known: {})",
                KNOWN_FEATURES.join(", ")
            )));
        }
    }
    if choices.secure_boot && !names.iter().any(|n| n == "smm") {
        names.push("smm".into());
    }
    Ok(names
        .iter()
        .map(|name| {
            let f = Fragment::new(name);
            if name == "smm" && choices.secure_boot {
                f.attr("state", "on")
            } else {
                f
            }
        })
        .collect())
}

/// `<cpu>` for a mode or model ([`guest`] chose it: host-passthrough under KVM,
/// maximum under TCG, where QEMU's default qemu64 lacks the x86-64-v2 instructions RHEL 9
/// and its rebuilds need).
fn cpu(mode: Option<&str>) -> Result<Option<Fragment>> {
    let Some(mode) = mode else {
        return Ok(None);
    };
    let cpu = Fragment::new("cpu");
    Ok(Some(match mode {
        "host-passthrough" | "maximum" => cpu
            .attr("mode", mode)
            .attr("check", "none")
            .attr("migratable", "on"),
        "host-model" => cpu.attr("mode", mode).attr("check", "partial"),
        model if is_cpu_model(model) => cpu
            .attr("mode", "custom")
            .attr("match", "exact")
            .attr("check", "none")
            .child(
                Fragment::new("model")
                    .attr("fallback", "forbid")
                    .text(model),
            ),
        other => {
            return Err(Error::Usage(format!(
                "--cpu '{other}': expected host-passthrough, maximum, host-model or a CPU model name"
            )));
        }
    }))
}

/// A CPU model name as QEMU and libvirt spell them (`Skylake-Client-v4`, `EPYC`,
/// `qemu64`, `POWER9`, `cortex-a57`).
fn is_cpu_model(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `--disk`s: explicit targets claimed first, so that the first free one never takes
/// theirs; the bus is the machine's default (SATA or IDE for hard disks of an OS without
/// virtio drivers) unless given; a format from the file name.
fn disks(args: &Args, base: &Base<'_>, choices: &Choices) -> Result<Vec<Fragment>> {
    let machine = disk::Machine {
        domain_type: base.type_name,
        machine: choices.machine.as_deref().unwrap_or(""),
        arch: &base.arch,
        paravirt: args.paravirt,
    };
    let mut targets = disk::Targets::default();
    let mut disks = Vec::new();
    for spec in &args.disk {
        let disk = DiskSpec::parse("--disk", spec, "disk")?;
        if let Some(t) = &disk.target {
            if targets.claim("--disk", t).is_err() {
                return Err(Error::Usage(format!(
                    "--disk '{spec}': target {t} is used twice"
                )));
            }
        }
        disks.push(disk);
    }
    let mut out = Vec::with_capacity(disks.len());
    for mut disk in disks {
        let os_bus = choices.disk_bus.filter(|_| disk.device == "disk");
        let bus = disk.bus.clone().unwrap_or_else(|| {
            os_bus
                .unwrap_or_else(|| disk::bus_for(&machine, &disk.device))
                .to_string()
        });
        let target = match &disk.target {
            Some(t) => t.clone(),
            None => targets.claim_free(&bus)?,
        };
        if disk.format.is_none() && base.virt_type != VirtType::Test && disk.device == "disk" {
            let format = if disk.path.ends_with(".qcow2") {
                "qcow2"
            } else {
                "raw"
            };
            disk.format = Some(format.into());
        }
        out.push(disk.fragment(&bus, &target, None));
    }
    Ok(out)
}

/// `--network`s, each with a MAC derived from the UUID unless given, and virtio unless
/// the OS has no driver for it (then e1000e, or e1000 on i440fx).
fn interfaces(args: &Args, base: &Base<'_>, choices: &Choices) -> Result<Vec<Fragment>> {
    let model = match base.virt_type {
        VirtType::Kvm | VirtType::Qemu => Some(choices.nic_model.unwrap_or("virtio")),
        _ => None,
    };
    let mut out = Vec::new();
    for (index, spec) in args.network.iter().enumerate() {
        if let Some(iface) = interface(spec, &base.uuid, index, base.virt_type, model)? {
            out.push(iface);
        }
    }
    Ok(out)
}

/// `--serial`s, then the `--console` (on the first serial port when there is one).
/// Without graphics and without either flag, a pty serial port with a console on it, so
/// that `virsh console` reaches the guest (virt-install's default console); a Xen
/// paravirt guest gets its own console instead.
fn serials_and_console(args: &Args) -> Result<Vec<Fragment>> {
    let mut out = Vec::new();
    for (port, spec) in args.serial.iter().enumerate() {
        out.push(serial(spec, port)?);
    }
    let console = Fragment::new("console").attr("type", "pty");
    let unreachable = args.graphics.unwrap_or(Graphics::None) == Graphics::None
        && args.serial.is_empty()
        && !args.console;
    if args.console && !args.serial.is_empty() {
        out.push(console.child(serial_target("0")));
    } else if args.console {
        out.push(console);
    } else if unreachable && args.paravirt {
        let target = Fragment::new("target")
            .attr("type", "xen")
            .attr("port", "0");
        out.push(console.child(target));
    } else if unreachable {
        out.push(
            Fragment::new("serial")
                .attr("type", "pty")
                .child(Fragment::new("target").attr("port", "0")),
        );
        out.push(console.child(serial_target("0")));
    }
    Ok(out)
}

/// A console's target: serial port `port`.
fn serial_target(port: &str) -> Fragment {
    Fragment::new("target")
        .attr("type", "serial")
        .attr("port", port)
}

/// One `--serial`: `pty[,log=PATH]` or `file=PATH`, which is `pty,log=PATH`: libvirt
/// follows only a pty console (virsh console, dom-wait-shutdown --expect: "character
/// device console0 is not using a PTY" for a `<serial type='file'>`), and its chardev
/// `<log>` keeps the same output in the file. Logs are opened with `append='on'`:
/// libvirt truncates them on every start otherwise, and the final boot would erase the
/// installer's output.
fn serial(spec: &str, port: usize) -> Result<Fragment> {
    let target = Fragment::new("target").attr("port", port.to_string());
    let bad = || {
        Error::Usage(format!(
            "--serial '{spec}': expected pty, pty,log=PATH or file=PATH"
        ))
    };
    let mut parts = spec.split(',');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let log = match first.split_once('=') {
        None if first == "pty" => match rest.as_slice() {
            [] => None,
            [part] => match part.split_once('=') {
                Some(("log", path)) if !path.is_empty() => Some(path),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        },
        Some(("file", path)) if !path.is_empty() && rest.is_empty() => Some(path),
        _ => return Err(bad()),
    };
    let mut serial = Fragment::new("serial").attr("type", "pty");
    if let Some(path) = log {
        serial = serial.child(Fragment::new("log").attr("file", path).attr("append", "on"));
    }
    Ok(serial.child(target))
}

/// `--graphics`, with a USB tablet (absolute pointing: the pointer follows the client's)
/// and the video card [`guest`] chose (a Xen paravirt guest gets its framebuffer from
/// the graphics alone); the TPM; a virtio RNG fed from the host's /dev/urandom. In
/// libvirt's order.
fn graphics_and_more(args: &Args, choices: &Choices) -> Vec<Fragment> {
    let kind = match args.graphics.unwrap_or(Graphics::None) {
        Graphics::None => None,
        Graphics::Vnc => Some("vnc"),
        Graphics::Spice => Some("spice"),
    };
    let mut out = Vec::new();
    if kind.is_some() && !args.paravirt {
        out.push(
            Fragment::new("input")
                .attr("type", "tablet")
                .attr("bus", "usb"),
        );
    }
    if choices.tpm.is_some() {
        let q35 = choices
            .machine
            .as_deref()
            .is_some_and(|m| m.contains("q35"));
        out.push(
            Fragment::new("tpm")
                .attr("model", if q35 { "tpm-crb" } else { "tpm-tis" })
                .child(
                    Fragment::new("backend")
                        .attr("type", "emulator")
                        .attr("version", "2.0"),
                ),
        );
    }
    if let Some(kind) = kind {
        out.push(
            Fragment::new("graphics")
                .attr("type", kind)
                .attr("autoport", "yes"),
        );
        if !args.paravirt {
            out.push(
                Fragment::new("video").child(Fragment::new("model").attr("type", choices.video)),
            );
        }
    }
    if choices.rng {
        out.push(
            Fragment::new("rng").attr("model", "virtio").child(
                Fragment::new("backend")
                    .attr("model", "random")
                    .text("/dev/urandom"),
            ),
        );
    }
    out
}

/// The install method, reachable: without graphics the installer's kernel gets
/// `console=ttyS0` (`hvc0` for Xen paravirt) unless the command line names a console.
fn install_media(args: &Args) -> InstallMedia {
    let mut media = args.media.clone();
    let headless = args.graphics.unwrap_or(Graphics::None) == Graphics::None;
    if media.kernel.is_some() && headless {
        let console = if args.paravirt { "hvc0" } else { "ttyS0" };
        let given = media.cmdline.as_deref().unwrap_or("");
        if !given
            .split_ascii_whitespace()
            .any(|w| w.starts_with("console="))
        {
            media.cmdline = Some(match given.trim() {
                "" => format!("console={console}"),
                _ => format!("{given} console={console}"),
            });
        }
    }
    media
}

/// The `<domain>` element around the parts, in libvirt's order; the OS in libosinfo's
/// metadata, as virt-install records it (`domxml-rewrite` reads it: Windows keeps its
/// install CD-ROM).
fn domain(
    args: &Args,
    base: &Base<'_>,
    choices: &Choices,
    os: Fragment,
    features: Vec<Fragment>,
    cpu: Option<Fragment>,
    devices: Fragment,
) -> Fragment {
    let text = |name: &str, value: &Option<String>| {
        value.as_ref().map(|v| Fragment::new(name).text(v.as_str()))
    };
    let memory_kib = choices.memory_kib.to_string();
    let memory = |name: &str| {
        Fragment::new(name)
            .attr("unit", "KiB")
            .text(memory_kib.as_str())
    };
    let metadata = choices.os.as_ref().map(|os| {
        Fragment::new("metadata").child(
            Fragment::new("libosinfo:libosinfo")
                .attr("xmlns:libosinfo", LIBOSINFO_NAMESPACE)
                .child(Fragment::new("libosinfo:os").attr("id", os.os.id.as_str())),
        )
    });
    let mut domain = Fragment::new("domain")
        .attr("type", base.type_name)
        .child(Fragment::new("name").text(base.name))
        .child(Fragment::new("uuid").text(base.uuid.hyphenated().to_string()))
        .child_opt(text("title", &args.title))
        .child_opt(text("description", &args.description))
        .child_opt(metadata)
        .child(memory("memory"))
        .child(memory("currentMemory"))
        .child(Fragment::new("vcpu").text(choices.vcpus.to_string()))
        .child_opt(text("bootloader", &args.bootloader))
        .child_opt(text("bootloader_args", &args.bootloader_args))
        .child(os);
    if !features.is_empty() {
        let list = features
            .into_iter()
            .fold(Fragment::new("features"), |f, feature| f.child(feature));
        domain = domain.child(list);
    }
    domain
        .child_opt(cpu)
        .child(Fragment::new("clock").attr("offset", "utc"))
        .child(devices)
}

/// One `--network` interface; `None` for `none`.
fn interface(
    spec: &str,
    uuid: &uuid::Uuid,
    index: usize,
    virt_type: VirtType,
    default_model: Option<&str>,
) -> Result<Option<Fragment>> {
    let mut parts = spec.split(',');
    let kind = parts.next().unwrap_or_default();
    let (iface_type, source) = match kind.split_once('=') {
        None if kind == "none" => return Ok(None),
        None if kind == "user" => ("user", None),
        Some(("network", n)) if !n.is_empty() => {
            ("network", Some(Fragment::new("source").attr("network", n)))
        }
        Some(("bridge", b)) if !b.is_empty() => {
            ("bridge", Some(Fragment::new("source").attr("bridge", b)))
        }
        _ => {
            return Err(Error::Usage(format!(
                "--network '{spec}': expected network=NAME, bridge=BR, user or none"
            )));
        }
    };
    let mut model = default_model.map(str::to_string);
    let mut mac = stable_mac(uuid, index, virt_type == VirtType::Xen);
    for part in parts {
        match part.split_once('=') {
            Some(("model", m)) if !m.is_empty() => model = Some(m.to_string()),
            Some(("mac", m)) if is_mac(m) => mac = m.to_ascii_lowercase(),
            _ => {
                return Err(Error::Usage(format!(
                    "--network '{spec}': unknown or bad option '{part}' (model=, mac=)"
                )));
            }
        }
    }
    Ok(Some(
        Fragment::new("interface")
            .attr("type", iface_type)
            .child(Fragment::new("mac").attr("address", mac))
            .child_opt(source)
            .child_opt(model.map(|m| Fragment::new("model").attr("type", m))),
    ))
}

/// A MAC address as libvirt writes them: six pairs of hex digits.
pub(super) fn is_mac(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}
