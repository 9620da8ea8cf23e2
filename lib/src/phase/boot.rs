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

    /// A Xen paravirtualized guest (PV or PVH): it boots a kernel, never a device.
    pub fn xen_pv(&self) -> bool {
        matches!(self.os_type.as_str(), "xen" | "linux" | "xenpvh")
    }

    /// Why this guest cannot boot `method`, or `None` when it can.
    pub fn refusal(&self, method: Method) -> Option<String> {
        let what = method.what();
        let kernel_instead = "install with --kernel/--initrd";
        if self.os_type == "exe" {
            return Some(format!(
                "a container (<os><type>exe</type>) runs its own init and cannot {what}: there is no installer boot to configure"
            ));
        }
        let driver = match self.domain_type.as_str() {
            "vmware" => Some("VMware"),
            "hyperv" => Some("Hyper-V"),
            "vbox" => Some("VirtualBox"),
            "vz" => Some("Virtuozzo"),
            "bhyve" => Some("bhyve"),
            _ => None,
        };
        match method {
            Method::Media => None,
            Method::Kernel => driver.map(|d| {
                format!("libvirt's {d} driver cannot boot a kernel directly; install from --cdrom")
            }),
            Method::Cdrom | Method::Network => {
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
                    "ch" => {
                        return Some(format!(
                            "a Cloud Hypervisor guest boots only a kernel or a firmware image and cannot {what}; {kernel_instead}"
                        ));
                    }
                    "vmware" | "hyperv" => {
                        return Some(format!(
                            "libvirt's {} driver ignores the boot order, so the install device cannot be put first; set the boot order in the hypervisor itself",
                            driver.unwrap_or_default()
                        ));
                    }
                    "bhyve" if method == Method::Network && !self.firmware => {
                        return Some(
                            "bhyve without a UEFI <loader> (bhyveload) cannot boot from the network; add a <loader> or install from --cdrom".into(),
                        );
                    }
                    _ => {}
                }
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
        for m in [
            Method::Cdrom,
            Method::Network,
            Method::Kernel,
            Method::Media,
        ] {
            assert!(lxc.refusal(m).unwrap().contains("container"), "{m:?}");
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
