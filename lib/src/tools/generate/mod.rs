//! `domxml-gen`: a complete domain XML for a guest's final config from flags or a JSON
//! spec, with the install phase recorded in `<metadata>` (see [`crate::phase::profile`]).

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cli;
use crate::error::{Error, Result};
use crate::phase::install::{self, InstallMedia};
use crate::phase::profile::{self, Phase};
use crate::xml::Document;
use crate::xml::lexical;

mod config;
mod guest;
mod host;
mod paths;
mod volumes;

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  domxml-gen --name vm1 --memory 1GiB --disk vm1.qcow2 --cdrom debian.iso > vm1.xml\n  domxml-gen --name vm2 --type qemu --disk vm2.img --kernel vmlinuz --initrd initrd.gz\n  domxml-gen --name pv1 --type xen --paravirt --disk /dev/vg/pv1 --kernel vmlinuz --bootloader pygrub\n  domxml-gen --spec vm1.json --phase install | dom-create";

/// The hypervisor features `--features` takes: those libvirt writes as empty elements.
pub const KNOWN_FEATURES: &[&str] = &[
    "acpi",
    "apic",
    "pae",
    "hap",
    "viridian",
    "privnet",
    "pvspinlock",
    "vmcoreinfo",
    "smm",
    "gic",
];

/// Generate libvirt domain XML for a guest whose install boot differs from later boots.
///
/// Prints the FINAL config (the one to define: it boots the disk), with the install
/// method recorded as a boot profile in <metadata> so that `domxml-rewrite --to install`
/// gives the installer's config: install media attached and booted first, and
/// <on_reboot>destroy</on_reboot> so the installer's last reboot stops the guest.
///
/// Settings come from flags, or from a JSON object (--spec) whose keys are the long flag
/// names: {"name": "vm1", "memory": "1GiB", "disk": ["/var/lib/vm1.img,bus=virtio"],
/// "cdrom": "debian.iso"}. Repeatable flags take arrays; flags override the spec. The
/// spec may also hold dom-vol records (one JSON object per line, as dom-vol prints them),
/// each taken as the setting its "for" names.
/// The output is deterministic given the same inputs and --uuid.
#[derive(Parser, Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Read settings from this JSON object (- for stdin); flags given too override it.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub spec: Option<PathBuf>,

    /// Which phase to print: final (to define; the default) or install (to boot once).
    #[arg(long, value_enum, value_name = "PHASE")]
    pub phase: Option<PhaseArg>,

    /// Guest name.
    #[arg(long, help_heading = "Identity")]
    pub name: Option<String>,
    /// Guest UUID; a random one when absent (printed in the XML, so every phase shares it).
    #[arg(long, help_heading = "Identity")]
    pub uuid: Option<String>,
    /// Short title.
    #[arg(long, help_heading = "Identity")]
    pub title: Option<String>,
    /// Free-form description.
    #[arg(long, help_heading = "Identity")]
    pub description: Option<String>,

    /// Hypervisor type.
    #[arg(
        long = "type",
        value_enum,
        value_name = "TYPE",
        help_heading = "Machine"
    )]
    #[serde(rename = "type")]
    pub virt_type: Option<VirtType>,
    /// Guest architecture [default: x86_64].
    #[arg(long, help_heading = "Machine")]
    pub arch: Option<String>,
    /// Machine type (pc, q35, virt, ...); libvirt's default when absent.
    #[arg(long, help_heading = "Machine")]
    pub machine: Option<String>,
    /// Memory: a number of MiB, or with a unit (512MiB, 2GiB, 1G) [default: 1024 MiB].
    #[arg(long, value_name = "SIZE", help_heading = "Machine")]
    pub memory: Option<String>,
    /// Virtual CPUs [default: 1].
    #[arg(long, help_heading = "Machine")]
    pub vcpus: Option<u32>,
    /// The guest's operating system, as an osinfo short-id (debian11, fedora36, win11, ...;
    /// `osinfo-query os` lists them), or "detect" to find it from the install ISO's volume
    /// descriptor (--cdrom), as virt-install does. It picks the machine (q35 where
    /// supported), firmware (UEFI where required), a TPM where required, virtio or
    /// SATA/e1000e devices, the video card, a virtio RNG, and memory and vCPUs (refusing
    /// less than the OS's minimum), and is recorded in libosinfo's metadata.
    #[arg(long, value_name = "ID|detect", help_heading = "Machine")]
    pub os: Option<String>,
    /// Firmware [default: uefi where the OS requires it or with --secure-boot, else the
    /// hypervisor's (bios)]. UEFI goes through libvirt's firmware autoselection, and
    /// libvirt keeps the guest's NVRAM across the install and final boots.
    #[arg(long, value_enum, help_heading = "Machine")]
    pub firmware: Option<Firmware>,
    /// UEFI secure boot, enforcing, with Microsoft's keys enrolled (implies --firmware
    /// uefi, a q35 machine and SMM) [default: where the OS requires it (win11)].
    #[arg(long = "secure-boot", help_heading = "Machine")]
    pub secure_boot: bool,
    /// No secure boot, not even where the OS requires it.
    #[arg(long = "no-secure-boot", help_heading = "Machine")]
    pub no_secure_boot: bool,
    /// CPU: host-passthrough, maximum, host-model, or a CPU model by name (Skylake-Client,
    /// EPYC, ...) [default: host-passthrough under KVM; maximum under QEMU's emulation
    /// (--type qemu), so guests built for x86-64-v2 and later boot there too].
    #[arg(long, value_name = "MODE|MODEL", help_heading = "Machine")]
    pub cpu: Option<String>,
    /// Hypervisor features, comma-separated, from: acpi, apic, pae, hap, viridian, privnet,
    /// pvspinlock, vmcoreinfo, smm, gic [default: acpi,apic on x86; acpi
    /// elsewhere; none for Xen paravirt]; "none" for none.
    #[arg(long, value_name = "FEATURE[,FEATURE...]", help_heading = "Machine")]
    pub features: Option<String>,
    /// Xen paravirtualized guest (<os><type>xen</type>); boots --kernel to install and
    /// --bootloader afterwards (without one, libvirt boots pygrub: its default for a PV
    /// guest that names neither a kernel nor a bootloader).
    #[arg(long, help_heading = "Machine")]
    pub paravirt: bool,

    /// A disk: PATH[,bus=BUS][,format=raw|qcow2][,device=disk|cdrom|floppy|lun]
    /// [,target=DEV][,readonly]. Repeatable; the first one is the boot disk. PATH may be
    /// vol=POOL/NAME, a libvirt storage volume (dom-vol makes them); its format is the
    /// volume's with -c, else qcow2 for a name ending in .qcow2, else raw.
    #[arg(long, value_name = "PATH[,OPT=VAL...]", help_heading = "Devices")]
    pub disk: Vec<String>,
    /// A network interface: network=NAME | bridge=BR | user | none, then [,model=M][,mac=MAC].
    /// Repeatable; MACs are derived from the UUID when not given.
    #[arg(long, value_name = "KIND[,OPT=VAL...]", help_heading = "Devices")]
    pub network: Vec<String>,
    /// Graphics, with a USB tablet and a video card [default: none: a serial console
    /// instead, see --serial].
    #[arg(long, value_enum, help_heading = "Devices")]
    pub graphics: Option<Graphics>,
    /// A serial port: pty (log=PATH keeps a copy of its output), or file=PATH (its
    /// output kept in PATH: the same pty with a log, so that `virsh console` and
    /// dom-wait-shutdown's --expect, --fail-on and --console-log still read it). The log
    /// is appended to, never truncated, so the installer's output survives later boots.
    /// Repeatable. [default with --graphics none and neither --serial nor --console: a
    /// pty serial port with a console on it].
    #[arg(
        long,
        value_name = "pty[,log=PATH]|file=PATH",
        help_heading = "Devices"
    )]
    pub serial: Vec<String>,
    /// Add a pty console (on the first serial port when there is one).
    #[arg(long, help_heading = "Devices")]
    pub console: bool,
    /// An emulated TPM 2.0 (swtpm) [default: where the OS requires one (win11), and with
    /// -c for a UEFI guest on a host with the TPM emulator, as virt-install does].
    #[arg(long, help_heading = "Devices")]
    pub tpm: bool,
    /// No TPM, not even a default one.
    #[arg(long = "no-tpm", help_heading = "Devices")]
    pub no_tpm: bool,

    /// Choose from this host's domain capabilities: kvm where it has KVM (else qemu), the
    /// machine, UEFI and secure boot where its firmware allows (refused where not), the
    /// CPU mode and the TPM emulator. Without -c nothing connects anywhere (not even to
    /// $LIBVIRT_DEFAULT_URI). Not read from --spec.
    // Its own clap id: domxml-gen names no domains, so it takes no `--complete-domains`
    // (complete.rs gives that flag to the tools whose argument id is "connect").
    #[arg(
        id = "host",
        short = 'c',
        long = "connect",
        value_name = "URI",
        help_heading = "Host"
    )]
    #[serde(skip)]
    pub connect: Option<String>,

    /// The final config's host-side bootloader (Xen paravirt: pygrub).
    #[arg(long, value_name = "PATH", help_heading = "Final boot")]
    pub bootloader: Option<String>,
    /// Arguments for --bootloader.
    #[arg(
        long = "bootloader-args",
        value_name = "ARGS",
        allow_hyphen_values = true,
        help_heading = "Final boot"
    )]
    pub bootloader_args: Option<String>,

    /// The install method, recorded for the install phase.
    #[command(flatten)]
    #[serde(flatten)]
    pub media: InstallMedia,

    /// Arguments appended to the install kernel's command line (virt-install's
    /// --extra-args): after --cmdline, or after the boot menu's arguments that
    /// `dom-media extract` puts in a spec, so they need not be typed again
    /// (auto=true priority=critical, inst.ks=file:/ks.cfg). Needs --kernel.
    #[arg(
        long = "extra-args",
        value_name = "ARGS",
        allow_hyphen_values = true,
        help_heading = "Install method"
    )]
    pub extra_args: Option<String>,
}

/// Which phase to print.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseArg {
    /// The installer's one-off config.
    Install,
    /// The config every later boot uses.
    Final,
}

/// Hypervisor types domxml-gen knows.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VirtType {
    /// KVM-accelerated QEMU.
    #[default]
    Kvm,
    /// QEMU's own emulation (TCG).
    Qemu,
    /// Xen.
    Xen,
    /// libvirt's test driver.
    Test,
}

/// Firmware kinds.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Firmware {
    /// Legacy BIOS.
    Bios,
    /// UEFI (libvirt picks the firmware files).
    Uefi,
}

/// Graphics kinds.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Graphics {
    /// No graphics.
    None,
    /// VNC.
    Vnc,
    /// SPICE.
    Spice,
}

/// Runs `domxml-gen`.
///
/// # Errors
/// A bad spec or flag value, or a spec file that cannot be read.
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    let args = match &args.spec {
        Some(path) => {
            let input = cli::read_input(Some(path), stdin)?;
            merge_spec(args, &input)?
        }
        None => args,
    };
    let xml = generate(&args)?;
    cli::write_out(stdout, &xml)
}

/// Overlays the flags given on the command line on the JSON spec.
fn merge_spec(cli_args: Args, spec: &cli::Input) -> Result<Args> {
    let mut merged = spec_objects(spec)?;
    let Value::Object(known) = serde_json::to_value(Args::default()).expect("Args serialize")
    else {
        unreachable!("Args is a struct");
    };
    for (key, value) in merged.iter_mut() {
        if !known.contains_key(key) {
            let mut names: Vec<&String> = known.keys().collect();
            names.sort();
            return Err(Error::input(
                &spec.source,
                format!(
                    "unknown key \"{key}\" (known: {})",
                    names
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        // Sizes may be written as plain numbers of MiB.
        if key == "memory" {
            if let Value::Number(n) = value {
                *value = Value::String(n.to_string());
            }
        }
    }
    let Value::Object(given) = serde_json::to_value(&cli_args).expect("Args serialize") else {
        unreachable!("Args is a struct");
    };
    for (key, value) in given {
        let set = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::Array(a) => !a.is_empty(),
            _ => true,
        };
        if set {
            merged.insert(key, value);
        }
    }
    let mut args: Args = serde_json::from_value(Value::Object(merged))
        .map_err(|e| Error::input(&spec.source, format!("bad value: {e}")))?;
    // Not spec keys: a spec is data, and must not open a connection.
    args.spec = cli_args.spec;
    args.connect = cli_args.connect;
    Ok(args)
}

/// The spec's JSON objects merged in order (a later key wins): settings, and `dom-vol`
/// records (one per line, as dom-vol prints them), each taken as the setting its `for`
/// names: kernel and initrd the volume's host path, disk and install-disk one more
/// `vol=POOL/NAME`, cdrom `vol=POOL/NAME`.
fn spec_objects(spec: &cli::Input) -> Result<serde_json::Map<String, Value>> {
    let mut merged = serde_json::Map::new();
    let mut any = false;
    for value in serde_json::Deserializer::from_str(&spec.text).into_iter::<Value>() {
        let value = value.map_err(|e| json_error(spec, &e))?;
        let Value::Object(object) = value else {
            return Err(Error::input(&spec.source, "the spec must be a JSON object"));
        };
        any = true;
        if ["pool", "action", "uri"]
            .iter()
            .all(|k| object.contains_key(*k))
        {
            add_volume(&mut merged, &object, &spec.source)?;
        } else {
            merged.extend(object);
        }
    }
    if !any {
        return Err(Error::input(&spec.source, "the spec must be a JSON object"));
    }
    Ok(merged)
}

/// A `dom-vol` record as the setting its `for` names.
fn add_volume(
    merged: &mut serde_json::Map<String, Value>,
    record: &serde_json::Map<String, Value>,
    source: &str,
) -> Result<()> {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    let (Some(pool), Some(name)) = (text("pool"), text("name")) else {
        return Err(Error::input(
            source,
            "a dom-vol record without \"pool\" or \"name\"",
        ));
    };
    if matches!(text("action"), Some("deleted" | "already-absent")) {
        return Err(Error::input(
            source,
            format!("the dom-vol record of {pool}/{name} says it was deleted"),
        ));
    }
    let reference = format!("vol={pool}/{name}");
    let Some(setting) = text("for") else {
        return Err(Error::input(
            source,
            format!(
                "the dom-vol record of {pool}/{name} has no \"for\": dom-vol --for SETTING says which setting it is"
            ),
        ));
    };
    match setting {
        "kernel" | "initrd" => {
            let path = text("path").ok_or_else(|| {
                Error::input(
                    source,
                    format!("the dom-vol record of {pool}/{name} has no \"path\""),
                )
            })?;
            merged.insert(setting.into(), Value::String(path.into()));
        }
        "cdrom" => {
            merged.insert(setting.into(), Value::String(reference));
        }
        "disk" | "install-disk" => {
            let list = merged
                .entry(setting)
                .or_insert_with(|| Value::Array(Vec::new()));
            match list {
                Value::Array(items) => items.push(Value::String(reference)),
                other => *other = Value::Array(vec![other.clone(), Value::String(reference)]),
            }
        }
        other => {
            return Err(Error::input(
                source,
                format!(
                    "the dom-vol record of {pool}/{name} is for \"{other}\": not kernel, initrd, disk, cdrom or install-disk"
                ),
            ));
        }
    }
    Ok(())
}

fn json_error(input: &cli::Input, e: &serde_json::Error) -> Error {
    Error::BadInput {
        location: crate::error::Location {
            source: input.source.clone(),
            line_col: Some((e.line(), e.column().max(1))),
        },
        message: format!("malformed JSON: {e}")
            .split(" at line")
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The generated document for `args` (already merged with any spec).
///
/// # Errors
/// Missing name, bad values, or an install method the guest cannot use.
pub fn generate(args: &Args) -> Result<String> {
    check_strings(args)?;
    let mut args = with_extra_args(args.clone())?;
    volumes::resolve(&mut args)?;
    let args = paths::absolute(args)?;
    let generated = config::final_config(&args)?;
    let final_xml = generated.xml.clone();
    let media = generated.media.clone();
    let source = "<generated>";
    // Nothing malformed leaves this tool: every phase it prints has been parsed.
    let original = Document::parse(source, &final_xml).map_err(|e| {
        Error::Edit(format!(
            "internal error: the generated document is not well-formed ({e}); please report it"
        ))
    })?;
    let phase = args.phase.unwrap_or(PhaseArg::Final);
    media.validate()?;
    if !media.any() {
        if phase == PhaseArg::Install {
            return Err(Error::Usage(
                "--phase install needs an install method: --cdrom, --kernel, --pxe or --install-disk".into(),
            ));
        }
        return Ok(final_xml);
    }
    let defaults = install::Defaults {
        tpm: generated.default_tpm,
    };
    let install = install::to_install_with(&original, &media, defaults)?;
    let install = profile::record(&original, &install, Phase::Final, false)?;
    if phase == PhaseArg::Install {
        return Ok(install);
    }
    let doc = Document::parse(source, &install)?;
    let located = profile::find(&doc)?.expect("recorded above");
    profile::swap(&doc, &located, false)
}

/// Parses a memory size into KiB: a plain number is MiB, as in virt-install; units are
/// libvirt's (K/KiB, M/MiB, G/GiB, T/TiB are powers of 1024; KB, MB, GB, TB powers of
/// 1000); a decimal fraction is allowed (1.5GiB). Rounded up to whole KiB, as libvirt does.
///
/// # Errors
/// Not a size, zero, or more than libvirt can hold.
pub fn parse_memory_kib(text: &str) -> Result<u64> {
    let t = text.trim();
    let bad = |why: &str| Error::Usage(format!("--memory '{text}': {why}"));
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || fraction.len() > 9 {
        return Err(bad("not a size (a number, then a unit such as MiB or GiB)"));
    }
    let unit_bytes: u128 = match unit.trim() {
        "" | "M" | "MiB" | "m" => 1 << 20,
        "B" | "b" => 1,
        "K" | "KiB" | "k" => 1 << 10,
        "G" | "GiB" | "g" => 1 << 30,
        "T" | "TiB" | "t" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => {
            return Err(bad(
                "unknown unit (use KiB, MiB, GiB, TiB, or KB, MB, GB, TB)",
            ));
        }
    };
    // Exact arithmetic: the number as a fraction over 10^digits, in bytes.
    let digits: u128 = format!("{whole}{fraction}")
        .parse()
        .map_err(|_| bad("out of range"))?;
    let scale = 10u128.pow(fraction.len() as u32);
    let bytes = digits
        .checked_mul(unit_bytes)
        .ok_or_else(|| bad("out of range"))?
        .div_ceil(scale);
    let kib = bytes.div_ceil(1024);
    if kib == 0 {
        return Err(bad("a guest needs memory"));
    }
    // libvirt keeps sizes as bytes in an unsigned long long.
    match u64::try_from(kib) {
        Ok(kib) if kib <= u64::MAX / 1024 => Ok(kib),
        _ => Err(bad("out of range")),
    }
}

/// Refuses any string setting that XML cannot hold (a control character in `--name`, a
/// `"\u0000"` in a JSON spec): it would give a document that is not well-formed.
/// `args` with --extra-args appended to the install kernel's command line.
///
/// # Errors
/// --extra-args without --kernel.
fn with_extra_args(mut args: Args) -> Result<Args> {
    let Some(extra) = args.extra_args.take() else {
        return Ok(args);
    };
    if args.media.kernel.is_none() {
        return Err(Error::Usage(
            "--extra-args adds to the install kernel's command line: it needs --kernel".into(),
        ));
    }
    let joined = [args.media.cmdline.as_deref().unwrap_or(""), &extra]
        .iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    args.media.cmdline = Some(joined);
    Ok(args)
}

fn check_strings(args: &Args) -> Result<()> {
    let Value::Object(fields) = serde_json::to_value(args).expect("Args serialize") else {
        unreachable!("Args is a struct");
    };
    for (key, value) in &fields {
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for v in values {
            if let Value::String(text) = v {
                lexical::check_text(&format!("--{key}"), text).map_err(Error::Edit)?;
            }
        }
    }
    Ok(())
}

/// A stable MAC for interface `index` of the guest with `uuid` (FNV-1a; the same inputs
/// always give the same address, so regenerated configs do not churn).
pub fn stable_mac(uuid: &uuid::Uuid, index: usize, xen: bool) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in uuid.as_bytes().iter().chain(&(index as u64).to_le_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let b = hash.to_be_bytes();
    let prefix = if xen { "00:16:3e" } else { "52:54:00" };
    format!("{prefix}:{:02x}:{:02x}:{:02x}", b[0] & 0x7f, b[1], b[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory_kib("1024").unwrap(), 1024 * 1024);
        assert_eq!(parse_memory_kib("2GiB").unwrap(), 2 * 1024 * 1024);
        assert_eq!(parse_memory_kib("512M").unwrap(), 512 * 1024);
        assert!(parse_memory_kib("lots").is_err());
        assert!(parse_memory_kib("0").is_err());
        assert!(parse_memory_kib("5 parsecs").is_err());
        assert_eq!(parse_memory_kib("1.5GiB").unwrap(), 1536 * 1024);
        assert_eq!(parse_memory_kib("1KB").unwrap(), 1);
        assert_eq!(parse_memory_kib("2048KB").unwrap(), 2000);
        assert_eq!(parse_memory_kib("1GB").unwrap(), 976_563);
        for bad in [
            "99999999999GB",
            "99999999999999999999999",
            "0.0",
            "1.2.3",
            ".",
            "0KB",
            "16777216TiB",
        ] {
            assert!(parse_memory_kib(bad).is_err(), "{bad}");
        }
        assert!(parse_memory_kib("16777215TiB").is_ok());
    }

    #[test]
    fn macs_are_stable_and_local() {
        let u = uuid::Uuid::parse_str("6a1f0c34-0d7e-4c41-9c1e-6f0f6a2d1b11").unwrap();
        assert_eq!(stable_mac(&u, 0, false), stable_mac(&u, 0, false));
        assert_ne!(stable_mac(&u, 0, false), stable_mac(&u, 1, false));
        assert!(stable_mac(&u, 0, false).starts_with("52:54:00:"));
        assert!(config::is_mac(&stable_mac(&u, 3, true)));
    }

    #[test]
    fn dom_vol_records_are_the_settings_they_are_for() {
        let rec = |name: &str, setting: &str| {
            format!(
                "{{\"pool\":\"default\",\"name\":\"{name}\",\"path\":\"/host/{name}\",\"uri\":\"qemu:///system\",\"action\":\"uploaded\",\"for\":\"{setting}\"}}\n"
            )
        };
        let text = [
            "{\"name\": \"vm1\", \"disk\": [\"/host/data.img\"]}\n".to_string(),
            rec("vmlinuz", "kernel"),
            rec("initrd.gz", "initrd"),
            rec("vm1.qcow2", "disk"),
            rec("debian.iso", "cdrom"),
            rec("seed.iso", "install-disk"),
        ]
        .concat();
        let input = cli::Input {
            source: "<stdin>".into(),
            text,
        };
        let args = merge_spec(Args::default(), &input).unwrap();
        assert_eq!(args.name.as_deref(), Some("vm1"));
        assert_eq!(args.media.kernel.as_deref(), Some("/host/vmlinuz"));
        assert_eq!(args.media.initrd.as_deref(), Some("/host/initrd.gz"));
        assert_eq!(args.disk, ["/host/data.img", "vol=default/vm1.qcow2"]);
        assert_eq!(args.media.cdrom.as_deref(), Some("vol=default/debian.iso"));
        assert_eq!(args.media.install_disk, ["vol=default/seed.iso"]);

        for (bad, says) in [
            (
                rec("x", "kernel").replace(",\"for\":\"kernel\"", ""),
                "has no \"for\"",
            ),
            (
                rec("x", "disk").replace("uploaded", "deleted"),
                "was deleted",
            ),
            (rec("x", "bios"), "is for \"bios\""),
        ] {
            let input = cli::Input {
                source: "<stdin>".into(),
                text: bad,
            };
            let e = merge_spec(Args::default(), &input).unwrap_err();
            assert_eq!(e.exit_code(), 3);
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
