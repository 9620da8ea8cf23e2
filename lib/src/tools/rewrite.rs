//! `domxml-rewrite`: the boot-section swap between a guest's install and final configs,
//! and explicit boot edits, patching the document byte-faithfully.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::cli;
use crate::error::{Error, Result};
use crate::phase::active_phase;
use crate::phase::boot::BootFacts;
use crate::phase::derive;
use crate::phase::install::{self, InstallMedia};
use crate::phase::profile::{self, Phase};
use crate::xml::Document;
use crate::xml::domain;
use crate::xml::edit;

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  domxml-gen --name vm1 --disk /var/lib/vm1.img --cdrom debian.iso > vm1.xml\n  domxml-rewrite --to install vm1.xml | dom-create\n  domxml-rewrite --to install --cdrom debian.iso existing.xml > install.xml\n  domxml-rewrite --to final install.xml\n  domxml-rewrite --eject hdc --boot hd --on-reboot restart vm.xml\n  domxml-rewrite --check --to final vm.xml && echo already final";

/// Swap a libvirt domain's boot section between its install and final configs.
///
/// Reads domain XML (FILE, or stdin when FILE is absent or -) and writes it back with the
/// requested changes. Every byte outside the edited elements stays identical: comments,
/// quoting, attribute order, namespaces, indentation and the final newline.
///
/// Which phase a document is in: a document made by domxml-gen (or by --to install)
/// records the other phase's boot profile in <metadata>, and is in the phase its profile
/// does not hold. A document without a profile is an install config only when it shows
/// virt-install's install phase, <on_reboot>destroy</on_reboot>; any other document is a
/// final config already. The profile is found by its namespace name,
/// https://domkit.dev/xmlns/profile/1, however it is spelled (any prefix, a default
/// namespace, declared on an ancestor, CDATA or escaped text), as other XML tools and
/// libvirt write it back; domxml-rewrite writes it back in that spelling.
///
/// --to install / --to final switch to that phase (doing nothing when already there) and
/// --swap toggles. Without a recorded profile, --to final derives the final config of an
/// install config the way virt-install writes it (boot order back to the disk, the booted
/// install CD-ROM and virt-install's seeds ejected, Windows media kept, the installer's
/// kernel, initrd and cmdline and cloud-init's SMBIOS serial dropped, the on_reboot it
/// added removed; a Xen PV guest then boots pygrub, libvirt's default when it names
/// neither a kernel nor a bootloader), and gives a final config back unchanged. A Xen PVH
/// install config's final config needs --bootloader or --kernel: libvirt has no default
/// for PVH. --to install needs the install
/// method flags; it records the final profile, so a later --to final gives back the
/// original document byte for byte. New install method flags on a document that records a
/// profile are applied, and the profile recorded anew.
///
/// --to install refuses, in one line, a method the guest cannot boot: a container
/// (<os><type>exe</type>) boots no installer (under LXC, install media must be block
/// devices); Xen PV and PVH guests, and Cloud Hypervisor guests, boot only a kernel
/// (--kernel); libvirt's VMware and Hyper-V drivers ignore the boot order; an
/// architecture without built-in firmware (aarch64, riscv64, ...) boots a CD-ROM or the
/// network only with <os firmware='efi'> or a <loader>; libvirt's VMware, Hyper-V,
/// VirtualBox and bhyve drivers cannot boot a kernel directly; libvirt's Virtuozzo driver
/// refuses every install phase (<on_reboot>destroy</on_reboot>). A CD-ROM
/// or network install of a guest that boots a kernel directly moves its kernel, initrd,
/// cmdline and dtb into the recorded profile, and the install device always boots first.
///
/// Explicit edits apply after the phase change, in this order: --remove-device, --eject,
/// --insert-media, --boot, --kernel/--initrd/--cmdline, --bootloader, --on-*. Nothing
/// malformed is ever written: every result is parsed again before it is printed.
#[derive(Parser, Debug)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Domain XML to read; stdin when absent or -.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Switch to this phase; does nothing when the document is in it already.
    #[arg(long, value_enum, value_name = "PHASE", help_heading = "Phase")]
    pub to: Option<PhaseArg>,

    /// Switch to the recorded phase, whichever it is (its own inverse).
    #[arg(long, conflicts_with = "to", help_heading = "Phase")]
    pub swap: bool,

    /// The install method: with --to install; --kernel/--initrd/--cmdline also edit alone.
    #[command(flatten)]
    pub media: InstallMedia,

    /// Boot order of <os>: DEV[,DEV...] from hd, cdrom, network, fd; removes per-device
    /// <boot order> (libvirt refuses both at once).
    #[arg(long, value_name = "DEV[,DEV...]", value_delimiter = ',', value_parser = ["hd", "cdrom", "network", "fd"], help_heading = "Edits")]
    pub boot: Vec<String>,

    /// Set the host-side bootloader (Xen: pygrub); an empty value removes it.
    #[arg(long, value_name = "PATH", help_heading = "Edits")]
    pub bootloader: Option<String>,

    /// Arguments for --bootloader; an empty value removes them.
    #[arg(
        long = "bootloader-args",
        value_name = "ARGS",
        allow_hyphen_values = true,
        help_heading = "Edits"
    )]
    pub bootloader_args: Option<String>,

    /// What a guest reboot does.
    #[arg(
        long = "on-reboot",
        value_enum,
        value_name = "ACTION",
        help_heading = "Edits"
    )]
    pub on_reboot: Option<LifecycleAction>,

    /// What a guest power-off does.
    #[arg(
        long = "on-poweroff",
        value_enum,
        value_name = "ACTION",
        help_heading = "Edits"
    )]
    pub on_poweroff: Option<LifecycleAction>,

    /// What a guest crash does.
    #[arg(
        long = "on-crash",
        value_enum,
        value_name = "ACTION",
        help_heading = "Edits"
    )]
    pub on_crash: Option<LifecycleAction>,

    /// Eject the media of cdrom/floppy TARGET (the drive stays). Repeatable.
    #[arg(long, value_name = "TARGET", help_heading = "Edits")]
    pub eject: Vec<String>,

    /// Put PATH into cdrom/floppy TARGET. Repeatable.
    #[arg(
        long = "insert-media",
        value_name = "TARGET=PATH",
        help_heading = "Edits"
    )]
    pub insert_media: Vec<String>,

    /// Remove the device with disk target or MAC address TARGET. Repeatable.
    #[arg(long = "remove-device", value_name = "TARGET", help_heading = "Edits")]
    pub remove_device: Vec<String>,

    /// Print a unified diff of the change instead of the document.
    #[arg(long = "print-diff", help_heading = "Output")]
    pub print_diff: bool,

    /// Print nothing (but --print-diff); exit 1 if the document would change, 0 if not.
    #[arg(long, help_heading = "Output")]
    pub check: bool,
}

/// A boot phase, as a flag value.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseArg {
    /// The installer's boot.
    Install,
    /// Every later boot.
    Final,
}

/// libvirt's lifecycle actions.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleAction {
    /// Stop the guest.
    Destroy,
    /// Start it again.
    Restart,
    /// Keep it as it is, stopped.
    Preserve,
    /// Rename it and start a new one.
    RenameRestart,
    /// Dump core, then stop.
    CoredumpDestroy,
    /// Dump core, then restart.
    CoredumpRestart,
}

impl LifecycleAction {
    fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Destroy => "destroy",
            LifecycleAction::Restart => "restart",
            LifecycleAction::Preserve => "preserve",
            LifecycleAction::RenameRestart => "rename-restart",
            LifecycleAction::CoredumpDestroy => "coredump-destroy",
            LifecycleAction::CoredumpRestart => "coredump-restart",
        }
    }
}

/// Runs `domxml-rewrite`.
///
/// # Errors
/// Bad input, an edit the document cannot take, unreadable input, or (with `--check`)
/// [`Error::WouldChange`].
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    let input = cli::read_input(args.file.as_deref(), stdin)?;
    let output = rewrite(&input.source, &input.text, &args)?;
    let changed = output != input.text;
    if args.print_diff {
        if changed {
            let diff = similar::TextDiff::from_lines(&input.text, &output);
            let text = diff
                .unified_diff()
                .context_radius(3)
                .header(&input.source, &input.source)
                .to_string();
            cli::write_out(stdout, &text)?;
        }
    } else if !args.check {
        cli::write_out(stdout, &output)?;
    }
    if args.check && changed {
        return Err(Error::WouldChange);
    }
    Ok(())
}

/// The rewritten document: the phase change, then the explicit edits; checked to be
/// well-formed before it is returned.
///
/// # Errors
/// See [`run`].
pub fn rewrite(source: &str, text: &str, args: &Args) -> Result<String> {
    let to_install = args.to == Some(PhaseArg::Install);
    if !to_install
        && (args.media.cdrom.is_some() || args.media.pxe || !args.media.install_disk.is_empty())
    {
        return Err(Error::Usage(
            "--cdrom, --pxe and --install-disk describe the install method and need --to install (to change a drive's media, use --insert-media TARGET=PATH)".into(),
        ));
    }
    let (phased, parsed) = change_phase(source, text, args)?;
    // What the phase change wrote and parsed already needs no second parse when no
    // explicit edit follows (a huge domain's parse is most of the cost).
    let checked = parsed.then(|| phased.clone());
    let edited = explicit_edits(source, phased, args)?;
    if edited != text && checked.as_ref() != Some(&edited) {
        // Nothing malformed leaves this tool, whatever went into it.
        Document::parse(source, &edited).map_err(|e| {
            Error::Edit(format!(
                "internal error: the result would not be well-formed XML ({e}); please report this document"
            ))
        })?;
    }
    Ok(edited)
}

/// `--to` or `--swap`: the document in the phase asked for, and whether it was parsed as
/// a whole before it was returned (a swap checks what it wrote; a recording checks that its
/// result swaps back exactly).
fn change_phase(source: &str, text: &str, args: &Args) -> Result<(String, bool)> {
    let doc = Document::parse(source, text)?;
    domain::check_domain(&doc)?;
    let located = profile::find(&doc)?;
    let recorded = located.as_ref().map(|l| l.profile.recorded);
    let out = match (args.to, args.swap, &located) {
        (None, false, _) => text.to_string(),
        (_, true, None) => {
            return Err(Error::Edit(format!(
                "{source}: no recorded boot profile to swap with (domxml-gen records one; so does --to install with install flags)"
            )));
        }
        (_, true, Some(l)) => profile::swap(&doc, l, false)?,
        // New install media over a recorded profile: record the install phase anew.
        (Some(PhaseArg::Install), _, Some(l)) if args.media.any() => {
            let plain = profile::without(&doc, l)?;
            let plain_doc = Document::parse(source, &plain)?;
            let install = install::to_install(&plain_doc, &args.media)?;
            profile::record(
                &plain_doc,
                &install,
                Phase::Final,
                l.profile.restores_original,
            )?
        }
        (Some(PhaseArg::Final), _, Some(l)) if recorded == Some(Phase::Final) => {
            // What --to install recorded was a final config: one that reads as an install
            // config again was not (a damaged or hand-made profile).
            let restores_install_config = |out: &Document<'_>| {
                if l.profile.restores_original && active_phase(out)? == Phase::Install {
                    return Err(Error::Edit(format!(
                        "{source}: recorded boot profile: the document it restores is itself an install config (<on_reboot>destroy</on_reboot>)"
                    )));
                }
                Ok(())
            };
            profile::swap_then(
                &doc,
                l,
                l.profile.restores_original,
                &restores_install_config,
            )?
        }
        (Some(PhaseArg::Install), _, Some(l)) if recorded == Some(Phase::Install) => {
            profile::swap(&doc, l, false)?
        }
        (Some(_), _, Some(_)) => text.to_string(),
        (Some(PhaseArg::Final), _, None) => {
            let derived = derive::to_final(source, text)?;
            if derived != text {
                check_boots_after_install(source, &derived, args)?;
                check_derivation_settles(source, &derived, args)?;
            }
            // The one way whose output nothing here parsed as a whole.
            return Ok((derived, false));
        }
        // virt-install's install phase already, with nothing recorded to go back to.
        (Some(PhaseArg::Install), _, None) if active_phase(&doc)? == Phase::Install => {
            if args.media.any() {
                return Err(Error::Edit(format!(
                    "{source}: already an install config (virt-install's <on_reboot>destroy</on_reboot>, no recorded profile): make its final config first (--to final), then --to install with the new method"
                )));
            }
            text.to_string()
        }
        (Some(PhaseArg::Install), _, None) => {
            if !args.media.any() {
                return Err(Error::Usage(format!(
                    "{source}: records no install profile, so --to install needs the install method (--cdrom, --kernel, --pxe or --install-disk)"
                )));
            }
            let install = install::to_install(&doc, &args.media)?;
            profile::record(&doc, &install, Phase::Final, true)?
        }
    };
    // Every other way parsed its output whole (an unchanged one needs nothing).
    Ok((out, true))
}

/// A Xen PVH guest boots no device: once its installer's kernel is gone, the final config
/// must boot something else (a bootloader such as pygrub, or a kernel of its own). A PV
/// guest needs neither: libvirt's libxl driver boots pygrub when a PV config names
/// neither a kernel nor a `<bootloader>` (src/libxl/libxl_conf.c, libxlMakeDomBuildInfo:
/// "for compatibility with the legacy xen toolstack, default to pygrub"), which is the
/// final config virt-install writes (less its `<boot dev='hd'/>`, see
/// `derive::to_final`). Its PVH branch has no such default, and libxl
/// builds a PVH guest only from a kernel (tools/libs/light/libxl_dom.c,
/// libxl__domain_firmware: "PVH should always have a set kernel at this point").
fn check_boots_after_install(source: &str, derived: &str, args: &Args) -> Result<()> {
    let doc = Document::parse(source, derived)?;
    let facts = BootFacts::of(&doc)?;
    let boots = facts.direct_kernel
        || doc.child(0, "bootloader").is_some()
        || args.bootloader.as_deref().is_some_and(|b| !b.is_empty())
        || args.media.kernel.as_deref().is_some_and(|k| !k.is_empty());
    if facts.os_type == "xenpvh" && !boots {
        return Err(Error::Edit(format!(
            "{source}: the final config of a Xen PVH install boots neither a kernel nor a bootloader, and libvirt's libxl driver defaults to pygrub for PV guests only; give --bootloader (e.g. /usr/bin/pygrub) or --kernel"
        )));
    }
    Ok(())
}

/// A derived config that keeps `<on_reboot>destroy</on_reboot>` (in libvirt's place: the
/// user's own) still reads as an install config; it must be final in every other respect,
/// or a second `--to final` would change it again. Unless `--on-reboot` settles it, such
/// an ambiguous install config is refused rather than half derived.
fn check_derivation_settles(source: &str, derived: &str, args: &Args) -> Result<()> {
    let settled_by_flag = args
        .on_reboot
        .is_some_and(|a| a != LifecycleAction::Destroy);
    if settled_by_flag || derive::to_final(source, derived)? == derived {
        return Ok(());
    }
    Err(Error::Edit(format!(
        "{source}: cannot derive one final config: <on_reboot>destroy</on_reboot> stays (it is in libvirt's place, so it was the guest's own), so the result would still read as an install config and change again; give --on-reboot (restart, say), or record a profile with --to install"
    )))
}

/// The explicit edits, in their documented order, on the document in its new phase.
fn explicit_edits(source: &str, mut text: String, args: &Args) -> Result<String> {
    let to_install = args.to == Some(PhaseArg::Install);
    for (flag, values) in [
        ("--insert-media", &args.insert_media),
        ("--eject", &args.eject),
        ("--remove-device", &args.remove_device),
    ] {
        for value in values {
            install::check_text(flag, value)?;
        }
    }
    for (flag, value) in [
        ("--bootloader", &args.bootloader),
        ("--bootloader-args", &args.bootloader_args),
        ("--kernel", &args.media.kernel),
        ("--initrd", &args.media.initrd),
        ("--cmdline", &args.media.cmdline),
    ] {
        if let Some(value) = value {
            install::check_text(flag, value)?;
        }
    }
    let apply = |text: &str, f: &dyn Fn(&Document<'_>) -> Result<Vec<crate::xml::Patch>>| {
        edit::with_doc(source, text, f)
    };
    for target in &args.remove_device {
        text = apply(&text, &|d| edit::remove_device(d, target))?;
    }
    for target in &args.eject {
        text = apply(&text, &|d| edit::eject(d, target))?;
    }
    for spec in &args.insert_media {
        let (target, path) = spec.split_once('=').ok_or_else(|| {
            Error::Usage(format!("--insert-media '{spec}': expected TARGET=PATH"))
        })?;
        text = apply(&text, &|d| edit::insert_media(d, target, path))?;
    }
    if !args.boot.is_empty() {
        let devs: Vec<&str> = args.boot.iter().map(String::as_str).collect();
        text = apply(&text, &|d| edit::set_boot(d, &devs))?;
    }
    // With --to install these flags were the install method, already applied.
    if !to_install {
        for (name, value) in [
            ("kernel", &args.media.kernel),
            ("initrd", &args.media.initrd),
            ("cmdline", &args.media.cmdline),
        ] {
            if let Some(value) = value {
                let value = (!value.is_empty()).then_some(value.as_str());
                text = apply(&text, &|d| edit::set_os_text(d, name, value))?;
            }
        }
    }
    for (name, value) in [
        ("bootloader", &args.bootloader),
        ("bootloader_args", &args.bootloader_args),
    ] {
        if let Some(value) = value {
            let value = (!value.is_empty()).then_some(value.as_str());
            text = apply(&text, &|d| Ok(edit::set_domain_text(d, name, value)))?;
        }
    }
    for (name, action) in [
        ("on_poweroff", args.on_poweroff),
        ("on_reboot", args.on_reboot),
        ("on_crash", args.on_crash),
    ] {
        if let Some(action) = action {
            text = apply(&text, &|d| {
                Ok(edit::set_domain_text(d, name, Some(action.as_str())))
            })?;
        }
    }
    Ok(text)
}
