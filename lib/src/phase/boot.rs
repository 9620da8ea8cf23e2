//! What a guest can boot: which install methods its hypervisor, `<os>` type, architecture
//! and firmware allow, and why the others cannot work. `--to install` refuses a method here,
//! in one line, rather than write a config that validates but never runs the installer.

use crate::error::{Error, Result};
use crate::xml::Document;
use crate::xml::domain;

/// How an install boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// From a CD-ROM (`--cdrom`).
    Cdrom,
    /// From the network (`--pxe`).
    Network,
    /// A kernel and initrd booted directly (`--kernel`).
    Kernel,
    /// Extra install-only media, booted by none of the above (`--install-disk`).
    Media,
}

impl Method {
    fn what(self) -> &'static str {
        match self {
            Method::Cdrom => "boot a CD-ROM",
            Method::Network => "boot from the network",
            Method::Kernel => "boot a kernel directly",
            Method::Media => "attach install media",
        }
    }
}

/// The facts about a domain that decide what it can boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFacts {
    /// The `type` of `<domain>` (kvm, qemu, xen, lxc, bhyve, vmware, ...).
    pub domain_type: String,
    /// The text of `<os><type>` (hvm, xen, linux, xenpvh, exe, uml, ...); hvm when absent.
    pub os_type: String,
    /// `<os><type arch>`, when given.
    pub arch: Option<String>,
    /// Firmware is configured: `<os firmware>` or a `<loader>`.
    pub firmware: bool,
    /// The config boots a kernel directly (`<os><kernel>`).
    pub direct_kernel: bool,
}

/// Architectures whose QEMU machines boot a CD-ROM or the network through firmware of
/// their own, without a `<loader>`: SeaBIOS on x86, SLOF and OpenBIOS on POWER, the
/// s390-ccw BIOS, OpenBIOS on SPARC.
const FIRMWARE_BUILT_IN: &[&str] = &[
    "x86_64", "i686", "i386", "ppc64", "ppc64le", "ppc", "s390x", "s390", "sparc", "sparc64",
];

impl BootFacts {
    /// Reads the facts from a domain document.
    ///
    /// # Errors
    /// An unknown entity in `<os><type>` (the parser refuses those already).
    pub fn of(doc: &Document<'_>) -> Result<BootFacts> {
        let os = domain::os(doc);
        let os_type = os.and_then(|o| doc.child(o, "type"));
        Ok(BootFacts {
            domain_type: domain::domain_type(doc).unwrap_or("").to_string(),
            os_type: match os_type {
                Some(t) => doc.text_of(t)?.trim().to_string(),
                None => "hvm".to_string(),
            },
            arch: os_type
                .and_then(|t| doc.attr(t, "arch"))
                .map(str::to_string),
            firmware: os.is_some_and(|o| {
                doc.attr(o, "firmware").is_some() || doc.child(o, "loader").is_some()
            }),
            direct_kernel: os.is_some_and(|o| doc.child(o, "kernel").is_some()),
        })
    }

    /// Why this guest cannot boot `method`, or `None` when it can. Each refusal names a
    /// config libvirt cannot boot, and the comment beside it the driver code that says so.
    pub fn refusal(&self, method: Method) -> Option<String> {
        let what = method.what();
        let kernel_instead = "install with --kernel/--initrd";
        // libvirt's parser keeps only <init> and its kin in an <os><type>exe</type>: a
        // <kernel> or <boot dev> is dropped when the config is defined (virsh define, then
        // dumpxml, on libvirt 9.0), and a container starts no firmware to boot a device.
        // Install media alone are not refused: the container starts with them attached.
        if self.os_type == "exe" && method != Method::Media {
            return Some(format!(
                "a container (<os><type>exe</type>) runs its own init and cannot {what}: there is no installer boot to configure"
            ));
        }
        // src/vz/vz_sdk.c, prlsdkCheckUnsupportedParams: the vz driver refuses any
        // <on_reboot> but restart, so no install phase (<on_reboot>destroy</on_reboot>)
        // can start there; nor does it implement virDomainCreateXML (virt-install's
        // `_manual_transient_create` says so).
        if self.domain_type == "vz" {
            return Some(format!(
                "libvirt's Virtuozzo driver refuses <on_reboot>destroy</on_reboot> and one-off starts, so no install phase can {what} there"
            ));
        }
        let driver = match self.domain_type.as_str() {
            "vmware" => Some("VMware"),
            "hyperv" => Some("Hyper-V"),
            "vbox" => Some("VirtualBox"),
            "bhyve" => Some("bhyve"),
            _ => None,
        };
        match method {
            Method::Media => None,
            // None of these drivers reads <os><kernel>: src/vmx/vmx.c (VMware) and
            // src/hyperv/hyperv_driver.c write no kernel into the VM they make,
            // src/vbox/vbox_common.c sets only the boot device order, and bhyve boots
            // through bhyveload, grub-bhyve (<bootloader>) or UEFI (<loader>) only
            // (src/bhyve/bhyve_command.c, virBhyveProcessBuildLoadCmd).
            Method::Kernel => driver.map(|d| {
                format!("libvirt's {d} driver cannot boot a kernel directly; install from --cdrom")
            }),
            Method::Cdrom | Method::Network => {
                // src/libxl/libxl_conf.c, libxlMakeDomBuildInfo: only the HVM branch reads
                // the boot order (b_info->u.hvm.boot); a PV guest boots its kernel or a
                // bootloader on its first disk, and a PVH guest its kernel.
                let pv = match self.os_type.as_str() {
                    "xen" | "linux" => Some("a Xen PV guest"),
                    "xenpvh" => Some("a Xen PVH guest"),
                    "hvm" => None,
                    _ => Some("this guest"),
                };
                if let Some(kind) = pv {
                    let kind = if kind == "this guest" {
                        format!("an <os><type>{}</type> guest", self.os_type)
                    } else {
                        kind.to_string()
                    };
                    return Some(format!("{kind} cannot {what}; {kernel_instead}"));
                }
                match self.domain_type.as_str() {
                    // src/ch/ch_monitor.c, virCHMonitorBuildPayloadJson: "Kernel image
                    // path in this domain is not defined" without <kernel>; Cloud
                    // Hypervisor boots that image (a kernel or a firmware such as
                    // hypervisor-fw), never a device.
                    "ch" => {
                        return Some(format!(
                            "a Cloud Hypervisor guest boots only a kernel or a firmware image and cannot {what}; {kernel_instead}"
                        ));
                    }
                    // src/vmx/vmx.c (virVMXFormatConfig) writes no bios.bootOrder, and
                    // src/hyperv/hyperv_driver.c sets no boot order on the VM it defines:
                    // neither driver can put the install device first.
                    "vmware" | "hyperv" => {
                        return Some(format!(
                            "libvirt's {} driver ignores the boot order, so the install device cannot be put first; set the boot order in the hypervisor itself",
                            driver.unwrap_or_default()
                        ));
                    }
                    // src/bhyve/bhyve_command.c: without a <loader>, bhyveload loads the
                    // kernel from the one boot disk or CD-ROM (virBhyveGetBootDisk); a
                    // network boot needs UEFI.
                    "bhyve" if method == Method::Network && !self.firmware => {
                        return Some(
                            "bhyve without a UEFI <loader> (bhyveload) cannot boot from the network; add a <loader> or install from --cdrom".into(),
                        );
                    }
                    _ => {}
                }
                // QEMU's machines for these architectures (arm virt, riscv virt, ...)
                // start only -kernel, -bios or pflash: libvirt starts the guest, and
                // nothing boots the device.
                match &self.arch {
                    Some(arch)
                        if !self.firmware
                            && !FIRMWARE_BUILT_IN.contains(&arch.as_str())
                            && self.domain_type != "bhyve" =>
                    {
                        Some(format!(
                            "a guest with arch='{arch}' can {what} only through firmware: add <os firmware='efi'> or a <loader>, or {kernel_instead}"
                        ))
                    }
                    _ => None,
                }
            }
        }
    }

    /// Refuses `method` when this guest cannot boot it.
    ///
    /// # Errors
    /// The method is impossible for this guest: bad input naming why.
    pub fn check(&self, source: &str, method: Method) -> Result<()> {
        match self.refusal(method) {
            Some(why) => Err(Error::Edit(format!("{source}: {why}"))),
            None => Ok(()),
        }
    }

    /// bhyve's own loader (bhyveload, no `<loader>`) boots exactly one device: the boot
    /// list must name one, and only one device may carry a boot order.
    pub fn single_boot_device(&self) -> bool {
        self.domain_type == "bhyve" && !self.firmware
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(text: &str) -> BootFacts {
        BootFacts::of(&Document::parse("t", text).unwrap()).unwrap()
    }

    #[test]
    fn each_class_can_boot_what_its_hypervisor_boots() {
        let hvm = facts("<domain type='kvm'><os><type arch='x86_64'>hvm</type></os></domain>");
        for m in [
            Method::Cdrom,
            Method::Network,
            Method::Kernel,
            Method::Media,
        ] {
            assert_eq!(hvm.refusal(m), None, "{m:?}");
        }
        let pv = facts("<domain type='xen'><os><type>xen</type></os></domain>");
        assert!(
            pv.refusal(Method::Cdrom)
                .unwrap()
                .contains("a Xen PV guest cannot boot a CD-ROM; install with --kernel/--initrd")
        );
        assert_eq!(pv.refusal(Method::Kernel), None);
        let pvh = facts("<domain type='xen'><os><type>xenpvh</type></os></domain>");
        assert!(pvh.refusal(Method::Network).unwrap().contains("Xen PVH"));
        let lxc =
            facts("<domain type='lxc'><os><type>exe</type><init>/sbin/init</init></os></domain>");
        for m in [Method::Cdrom, Method::Network, Method::Kernel] {
            assert!(lxc.refusal(m).unwrap().contains("container"), "{m:?}");
        }
        // The container starts with install media attached (block devices: see install).
        assert_eq!(lxc.refusal(Method::Media), None);
        let vz = facts("<domain type='vz'><os><type>hvm</type></os></domain>");
        for m in [
            Method::Cdrom,
            Method::Network,
            Method::Kernel,
            Method::Media,
        ] {
            assert!(vz.refusal(m).unwrap().contains("Virtuozzo"), "{m:?}");
        }
        let arm = facts(
            "<domain type='kvm'><os><type arch='aarch64' machine='virt'>hvm</type><kernel>/k</kernel></os></domain>",
        );
        assert!(
            arm.refusal(Method::Cdrom)
                .unwrap()
                .contains("only through firmware")
        );
        assert_eq!(arm.refusal(Method::Kernel), None);
        // No article to get wrong ("an riscv64 guest", issue 16 item 7).
        for arch in ["riscv64", "mips", "loongarch64", "aarch64", "armv7l"] {
            let guest = facts(&format!(
                "<domain type='kvm'><os><type arch='{arch}'>hvm</type></os></domain>"
            ));
            let why = guest.refusal(Method::Cdrom).unwrap();
            assert!(
                why.starts_with(&format!("a guest with arch='{arch}' can boot a CD-ROM")),
                "{why}"
            );
        }
        let arm_efi = facts(
            "<domain type='kvm'><os firmware='efi'><type arch='aarch64'>hvm</type></os></domain>",
        );
        assert_eq!(arm_efi.refusal(Method::Cdrom), None);
        let s390 = facts("<domain type='kvm'><os><type arch='s390x'>hvm</type></os></domain>");
        assert_eq!(s390.refusal(Method::Cdrom), None);
        let vmware = facts("<domain type='vmware'><os><type>hvm</type></os></domain>");
        assert!(
            vmware
                .refusal(Method::Cdrom)
                .unwrap()
                .contains("ignores the boot order")
        );
        assert!(
            vmware
                .refusal(Method::Kernel)
                .unwrap()
                .contains("cannot boot a kernel")
        );
        let ch = facts("<domain type='ch'><os><type>hvm</type><kernel>/k</kernel></os></domain>");
        assert!(
            ch.refusal(Method::Cdrom)
                .unwrap()
                .contains("Cloud Hypervisor")
        );
        let bhyve = facts("<domain type='bhyve'><os><type>hvm</type></os></domain>");
        assert_eq!(bhyve.refusal(Method::Cdrom), None);
        assert!(bhyve.refusal(Method::Network).is_some());
        assert!(bhyve.single_boot_device());
    }
}
