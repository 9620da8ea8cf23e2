//! The final config `domxml-gen` writes, one named step per part of the domain: the
//! settings checked and resolved first ([`Base`]), then `<os>`, `<features>` and each
//! kind of device, then the `<domain>` around them.

use crate::error::{Error, Result};
use crate::xml::Fragment;
use crate::xml::disk::{self, DiskSpec};

use super::{Args, Firmware, Graphics, KNOWN_FEATURES, VirtType, parse_memory_kib, stable_mac};

/// The settings every step needs, checked once.
struct Base<'a> {
    name: &'a str,
    uuid: uuid::Uuid,
    virt_type: VirtType,
    type_name: &'static str,
    arch: String,
    x86: bool,
    memory_kib: String,
    vcpus: u32,
}

/// The final config for `args` (already merged with any spec).
///
/// # Errors
/// Missing name, bad values, or flags that do not go together.
pub(super) fn final_config(args: &Args) -> Result<String> {
    let base = base(args)?;
    check_combinations(args, &base)?;
    let os = os_element(args, &base);
    let features = features(args, &base)?;
    let mut devices = Fragment::new("devices");
    for disk in disks(args, &base)? {
        devices = devices.child(disk);
    }
    for iface in interfaces(args, &base)? {
        devices = devices.child(iface);
    }
    for serial in serials_and_console(args)? {
        devices = devices.child(serial);
    }
    devices = devices.child_opt(graphics(args));
    let mut out = domain(args, &base, os, features, devices).render("", "  ", "\n", '\'');
    out.push('\n');
    Ok(out)
}

/// Name, UUID, hypervisor, architecture, memory and vCPUs.
fn base(args: &Args) -> Result<Base<'_>> {
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
    let virt_type = args.virt_type.unwrap_or_default();
    let type_name = match virt_type {
        VirtType::Kvm => "kvm",
        VirtType::Qemu => "qemu",
        VirtType::Xen => "xen",
        VirtType::Test => "test",
    };
    let arch = args.arch.clone().unwrap_or_else(|| "x86_64".into());
    let x86 = matches!(arch.as_str(), "x86_64" | "i686");
    let memory_kib = parse_memory_kib(args.memory.as_deref().unwrap_or("1024"))?.to_string();
    let vcpus = args.vcpus.unwrap_or(1);
    if vcpus == 0 {
        return Err(Error::Usage("--vcpus must be at least 1".into()));
    }
    Ok(Base {
        name,
        uuid,
        virt_type,
        type_name,
        arch,
        x86,
        memory_kib,
        vcpus,
    })
}

/// Flags that do not go together.
fn check_combinations(args: &Args, base: &Base<'_>) -> Result<()> {
    if args.paravirt && base.virt_type != VirtType::Xen {
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

/// `<os>`: firmware, type and machine, and the final config's boot from the disk.
fn os_element(args: &Args, base: &Base<'_>) -> Fragment {
    let os = Fragment::new("os").attr_opt(
        "firmware",
        (args.firmware == Some(Firmware::Uefi)).then_some("efi"),
    );
    let os_type = Fragment::new("type")
        .attr("arch", base.arch.as_str())
        .attr_opt("machine", args.machine.clone());
    if args.paravirt {
        os.child(os_type.text("xen"))
    } else {
        os.child(os_type.text("hvm"))
            .child(Fragment::new("boot").attr("dev", "hd"))
    }
}

/// `<features>`' children: the flag's list, or acpi (and apic on x86) by default.
fn features(args: &Args, base: &Base<'_>) -> Result<Vec<String>> {
    let features: Vec<String> = match &args.features {
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
    for f in &features {
        if !KNOWN_FEATURES.contains(&f.as_str()) {
            return Err(Error::Usage(format!(
                "--features: unknown feature '{f}' (known: {})",
                KNOWN_FEATURES.join(", ")
            )));
        }
    }
    Ok(features)
}

/// `--disk`s: explicit targets claimed first, so that the first free one never takes
/// theirs; the bus is the machine's default unless given; a format from the file name.
fn disks(args: &Args, base: &Base<'_>) -> Result<Vec<Fragment>> {
    let machine = disk::Machine {
        domain_type: base.type_name,
        machine: args.machine.as_deref().unwrap_or(""),
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
        let bus = disk
            .bus
            .clone()
            .unwrap_or_else(|| disk::bus_for(&machine, &disk.device).to_string());
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

/// `--network`s, each with a MAC derived from the UUID unless given.
fn interfaces(args: &Args, base: &Base<'_>) -> Result<Vec<Fragment>> {
    let mut out = Vec::new();
    for (index, spec) in args.network.iter().enumerate() {
        if let Some(iface) = interface(spec, &base.uuid, index, base.virt_type)? {
            out.push(iface);
        }
    }
    Ok(out)
}

/// `--serial`s, then the `--console` (on the first serial port when there is one).
fn serials_and_console(args: &Args) -> Result<Vec<Fragment>> {
    let mut out = Vec::new();
    for (port, spec) in args.serial.iter().enumerate() {
        let target = Fragment::new("target").attr("port", port.to_string());
        let serial = match spec.split_once('=') {
            None if spec == "pty" => Fragment::new("serial").attr("type", "pty").child(target),
            Some(("file", path)) if !path.is_empty() => Fragment::new("serial")
                .attr("type", "file")
                .child(Fragment::new("source").attr("path", path))
                .child(target),
            _ => {
                return Err(Error::Usage(format!(
                    "--serial '{spec}': expected pty or file=PATH"
                )));
            }
        };
        out.push(serial);
    }
    if args.console {
        let console = Fragment::new("console").attr("type", "pty");
        let console = if args.serial.is_empty() {
            console
        } else {
            console.child(
                Fragment::new("target")
                    .attr("type", "serial")
                    .attr("port", "0"),
            )
        };
        out.push(console);
    }
    Ok(out)
}

/// `--graphics`.
fn graphics(args: &Args) -> Option<Fragment> {
    let kind = match args.graphics.unwrap_or(Graphics::None) {
        Graphics::None => return None,
        Graphics::Vnc => "vnc",
        Graphics::Spice => "spice",
    };
    Some(
        Fragment::new("graphics")
            .attr("type", kind)
            .attr("autoport", "yes"),
    )
}

/// The `<domain>` element around the parts, in libvirt's order.
fn domain(
    args: &Args,
    base: &Base<'_>,
    os: Fragment,
    features: Vec<String>,
    devices: Fragment,
) -> Fragment {
    let text = |name: &str, value: &Option<String>| {
        value.as_ref().map(|v| Fragment::new(name).text(v.as_str()))
    };
    let memory = |name: &str| {
        Fragment::new(name)
            .attr("unit", "KiB")
            .text(base.memory_kib.as_str())
    };
    let mut domain = Fragment::new("domain")
        .attr("type", base.type_name)
        .child(Fragment::new("name").text(base.name))
        .child(Fragment::new("uuid").text(base.uuid.hyphenated().to_string()))
        .child_opt(text("title", &args.title))
        .child_opt(text("description", &args.description))
        .child(memory("memory"))
        .child(memory("currentMemory"))
        .child(Fragment::new("vcpu").text(base.vcpus.to_string()))
        .child_opt(text("bootloader", &args.bootloader))
        .child_opt(text("bootloader_args", &args.bootloader_args))
        .child(os);
    if !features.is_empty() {
        let list = features.iter().fold(Fragment::new("features"), |f, name| {
            f.child(Fragment::new(name))
        });
        domain = domain.child(list);
    }
    domain
        .child(Fragment::new("clock").attr("offset", "utc"))
        .child(devices)
}

/// One `--network` interface; `None` for `none`.
fn interface(
    spec: &str,
    uuid: &uuid::Uuid,
    index: usize,
    virt_type: VirtType,
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
    let mut model = match virt_type {
        VirtType::Kvm | VirtType::Qemu => Some("virtio".to_string()),
        _ => None,
    };
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
