//! `domxml-gen -c URI`: what the host can run, from libvirt's domain capabilities
//! (`virConnectGetDomainCapabilities`, as virt-install's `lookup_domcaps`): KVM or only
//! QEMU's emulation, the machine type, UEFI firmware (libvirt's firmware descriptors, i.e.
//! OVMF installed), secure boot, CPU modes and the TPM emulator (swtpm installed).

use crate::error::{Error, Result};
use crate::libvirt::Conn;
use crate::libvirt::connect::one_line;
use crate::xml::Document;

/// One answer of the host: the capabilities of one (domain type, arch, machine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    /// `kvm` or `qemu`.
    pub domain: String,
    /// The machine type, as the host names it (`pc-q35-7.2`).
    pub machine: String,
    /// Firmware autoselection offers UEFI (`<os><enum name='firmware'>` has `efi`).
    pub efi: bool,
    /// A UEFI loader with secure boot exists (`<loader><enum name='secure'>` has `yes`).
    pub secure_boot: bool,
    /// CPU modes the host supports (`host-passthrough`, `maximum`, `host-model`, `custom`).
    pub cpu_modes: Vec<String>,
    /// The TPM emulator backend (swtpm) is available.
    pub tpm_emulator: bool,
    /// TPM 2.0 is among the backend versions (or libvirt does not list versions).
    pub tpm_2: bool,
}

impl Caps {
    /// Reads a `<domainCapabilities>` document.
    ///
    /// # Errors
    /// Not well-formed, or not domain capabilities.
    pub fn parse(source: &str, text: &str) -> Result<Caps> {
        let doc = Document::parse(source, text)?;
        if doc.el(0).name != "domainCapabilities" {
            return Err(Error::Libvirt(format!(
                "{source}: not libvirt domain capabilities (<{}>)",
                doc.el(0).name
            )));
        }
        let text_of = |parent: usize, name: &str| {
            doc.child(parent, name)
                .and_then(|c| doc.text_of(c).ok())
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        let supported = |id: usize| doc.attr(id, "supported") == Some("yes");
        let os = doc.child(0, "os").filter(|&o| supported(o));
        let loader = os
            .and_then(|o| doc.child(o, "loader"))
            .filter(|&l| supported(l));
        let cpu_modes = doc
            .child(0, "cpu")
            .map(|cpu| {
                doc.children_named(cpu, "mode")
                    .filter(|&m| supported(m))
                    .filter_map(|m| doc.attr(m, "name").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let tpm = doc
            .child(0, "devices")
            .and_then(|d| doc.child(d, "tpm"))
            .filter(|&t| supported(t));
        let versions = tpm.map(|t| enum_values(&doc, t, "backendVersion"));
        Ok(Caps {
            domain: text_of(0, "domain"),
            machine: text_of(0, "machine"),
            efi: os.is_some_and(|o| enum_values(&doc, o, "firmware").iter().any(|v| v == "efi")),
            secure_boot: loader
                .is_some_and(|l| enum_values(&doc, l, "secure").iter().any(|v| v == "yes")),
            cpu_modes,
            tpm_emulator: tpm.is_some_and(|t| {
                enum_values(&doc, t, "backendModel")
                    .iter()
                    .any(|v| v == "emulator")
            }),
            tpm_2: versions.is_some_and(|v| v.is_empty() || v.iter().any(|v| v == "2.0")),
        })
    }

    /// Whether the host offers CPU mode `mode`.
    pub fn cpu_mode(&self, mode: &str) -> bool {
        self.cpu_modes.iter().any(|m| m == mode)
    }
}

/// The values of `<enum name='NAME'>` under `parent`.
fn enum_values(doc: &Document<'_>, parent: usize, name: &str) -> Vec<String> {
    doc.children_named(parent, "enum")
        .filter(|&e| doc.attr(e, "name") == Some(name))
        .flat_map(|e| doc.children_named(e, "value").collect::<Vec<_>>())
        .filter_map(|v| doc.text_of(v).ok())
        .map(|v| v.trim().to_string())
        .collect()
}

/// A connection to the host whose capabilities decide.
pub struct Host {
    conn: Conn,
}

impl Host {
    /// Connects to `uri` (read-write: libvirt refuses domain capabilities to read-only
    /// connections, since answering may start QEMU to probe it).
    ///
    /// # Errors
    /// libvirt cannot be reached.
    pub fn open(uri: &str) -> Result<Host> {
        Ok(Host {
            conn: Conn::open(Some(uri), false)?,
        })
    }

    /// The capabilities for `domain` (`kvm`, `qemu`), `arch` and `machine` (the host's
    /// default machine when `None`); `None` when the host cannot run that combination
    /// (no KVM, an unknown machine).
    ///
    /// # Errors
    /// libvirt cannot answer at all (the driver has no domain capabilities), or the
    /// answer is not domain capabilities.
    pub fn caps(&self, domain: &str, arch: &str, machine: Option<&str>) -> Result<Option<Caps>> {
        match self
            .conn
            .connect
            .domain_capabilities(None, Some(arch), machine, Some(domain), 0)
        {
            Ok(xml) => Caps::parse(&self.conn.shown, &xml).map(Some),
            Err(e) if unsupported_combination(&e) => Ok(None),
            Err(e) => Err(Error::Libvirt(format!(
                "{}: cannot read the host's domain capabilities: {}",
                self.conn.shown,
                one_line(e.message())
            ))),
        }
    }

    /// The URI as messages show it.
    pub fn shown(&self) -> &str {
        &self.conn.shown
    }
}

/// libvirt's answer for a domain type, architecture or machine the host lacks
/// (VIR_ERR_INVALID_ARG, VIR_ERR_CONFIG_UNSUPPORTED), as opposed to a driver that has no
/// domain capabilities at all (VIR_ERR_NO_SUPPORT) or a broken connection.
fn unsupported_combination(e: &virt::error::Error) -> bool {
    use virt::sys;
    matches!(
        e.code().to_raw(),
        sys::VIR_ERR_INVALID_ARG
            | sys::VIR_ERR_CONFIG_UNSUPPORTED
            | sys::VIR_ERR_OPERATION_UNSUPPORTED
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: &str = "<domainCapabilities>
  <path>/usr/bin/qemu-system-x86_64</path>
  <domain>qemu</domain>
  <machine>pc-q35-7.2</machine>
  <arch>x86_64</arch>
  <os supported='yes'>
    <enum name='firmware'>
      <value>efi</value>
    </enum>
    <loader supported='yes'>
      <value>/usr/share/OVMF/OVMF_CODE_4M.ms.fd</value>
      <enum name='type'><value>rom</value><value>pflash</value></enum>
      <enum name='secure'><value>yes</value><value>no</value></enum>
    </loader>
  </os>
  <cpu>
    <mode name='host-passthrough' supported='no'/>
    <mode name='maximum' supported='yes'/>
    <mode name='host-model' supported='yes'/>
  </cpu>
  <devices>
    <tpm supported='yes'>
      <enum name='model'><value>tpm-tis</value><value>tpm-crb</value></enum>
      <enum name='backendModel'><value>passthrough</value><value>emulator</value></enum>
      <enum name='backendVersion'><value>1.2</value><value>2.0</value></enum>
    </tpm>
  </devices>
</domainCapabilities>";

    #[test]
    fn capabilities_are_read_from_libvirts_answer() {
        let caps = Caps::parse("t", CAPS).unwrap();
        assert_eq!(caps.domain, "qemu");
        assert_eq!(caps.machine, "pc-q35-7.2");
        assert!(caps.efi && caps.secure_boot && caps.tpm_emulator && caps.tpm_2);
        assert!(caps.cpu_mode("maximum") && !caps.cpu_mode("host-passthrough"));
        // No firmware descriptors (ovmf not installed), no swtpm: libvirt lists neither.
        let bare = CAPS
            .replace("<value>efi</value>", "")
            .replace("<value>yes</value><value>no</value>", "<value>no</value>")
            .replace(
                "<value>passthrough</value><value>emulator</value>",
                "<value>passthrough</value>",
            );
        let caps = Caps::parse("t", &bare).unwrap();
        assert!(!caps.efi && !caps.secure_boot && !caps.tpm_emulator);
        assert!(Caps::parse("t", "<capabilities/>").is_err());
    }
}
