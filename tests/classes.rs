//! The phase promises on documents written for each class of guest libvirt accepts: every
//! kind of `<os>` (hvm on x86, aarch64 and s390x, direct kernel with and without firmware,
//! Xen PV and PVH, containers, Cloud Hypervisor, bhyve, VMware), every boot style (`<os>`'s
//! boot list, per-device boot orders with extra attributes such as s390's loadparm, none),
//! and every disk type (file, block, volume, network) for the hard disk and for an empty
//! CD-ROM drive. See `common::phases` for the promises.

mod common;

use std::fs;

use common::phases::{self, Method, Tally};

/// One kind of `<os>` and hypervisor: (name, domain type, `<os>` start tag and type line,
/// extra `<os>` children, bus for CD-ROMs, which boot styles apply).
struct Kind {
    name: &'static str,
    domain_type: &'static str,
    os_open: &'static str,
    os_type: &'static str,
    os_extra: &'static str,
    top_extra: &'static str,
    cdrom_bus: (&'static str, &'static str),
    boot_styles: &'static [Style],
    disks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    List,
    PerDevice,
    None,
}

const ALL_STYLES: &[Style] = &[Style::List, Style::PerDevice, Style::None];

const KINDS: &[Kind] = &[
    Kind {
        name: "kvm-x86-pc",
        domain_type: "kvm",
        os_open: "<os>",
        os_type: "<type arch='x86_64' machine='pc'>hvm</type>",
        os_extra: "",
        top_extra: "  <features>\n    <acpi/>\n  </features>\n",
        cdrom_bus: ("hdc", "ide"),
        boot_styles: ALL_STYLES,
        disks: true,
    },
    Kind {
        name: "kvm-x86-q35-uefi",
        domain_type: "kvm",
        os_open: "<os firmware='efi'>",
        os_type: "<type arch='x86_64' machine='q35'>hvm</type>",
        os_extra: "",
        top_extra: "  <features>\n    <acpi/>\n  </features>\n",
        cdrom_bus: ("sdb", "sata"),
        boot_styles: ALL_STYLES,
        disks: true,
    },
    Kind {
        name: "kvm-x86-direct-kernel",
        domain_type: "kvm",
        os_open: "<os>",
        os_type: "<type arch='x86_64' machine='q35'>hvm</type>",
        os_extra: "    <kernel>/boot/vmlinuz</kernel>\n    <initrd>/boot/initrd.img</initrd>\n    <cmdline>root=/dev/vda1 console=ttyS0</cmdline>\n",
        top_extra: "",
        cdrom_bus: ("sdb", "sata"),
        boot_styles: ALL_STYLES,
        disks: true,
    },
    Kind {
        name: "kvm-aarch64-direct-kernel",
        domain_type: "kvm",
        os_open: "<os>",
        os_type: "<type arch='aarch64' machine='virt'>hvm</type>",
        os_extra: "    <kernel>/boot/Image</kernel>\n    <initrd>/boot/initrd.img</initrd>\n    <cmdline>root=/dev/vda1</cmdline>\n    <dtb>/boot/virt.dtb</dtb>\n",
        top_extra: "",
        cdrom_bus: ("sdb", "scsi"),
        boot_styles: ALL_STYLES,
        disks: true,
    },
    Kind {
        name: "kvm-aarch64-uefi",
        domain_type: "kvm",
        os_open: "<os firmware='efi'>",
        os_type: "<type arch='aarch64' machine='virt'>hvm</type>",
        os_extra: "",
        top_extra: "",
        cdrom_bus: ("sdb", "scsi"),
        boot_styles: ALL_STYLES,
        disks: true,
    },
    Kind {
        name: "kvm-s390x",
        domain_type: "kvm",
        os_open: "<os>",
        os_type: "<type arch='s390x' machine='s390-ccw-virtio'>hvm</type>",
        os_extra: "",
        top_extra: "",
        cdrom_bus: ("sdb", "scsi"),
        boot_styles: ALL_STYLES,
        disks: true,
    },
    Kind {
        name: "xen-hvm",
        domain_type: "xen",
        os_open: "<os>",
        os_type: "<type arch='x86_64' machine='xenfv'>hvm</type>",
        os_extra: "    <loader type='rom'>/usr/lib/xen/boot/hvmloader</loader>\n",
        top_extra: "  <features>\n    <acpi/>\n    <apic/>\n    <pae/>\n  </features>\n",
        cdrom_bus: ("hdc", "ide"),
        boot_styles: &[Style::List, Style::None],
        disks: true,
    },
    Kind {
        name: "xen-pv-pygrub",
        domain_type: "xen",
        os_open: "<os>",
        os_type: "<type arch='x86_64' machine='xenpv'>linux</type>",
        os_extra: "",
        top_extra: "  <bootloader>/usr/bin/pygrub</bootloader>\n",
        cdrom_bus: ("xvdb", "xen"),
        boot_styles: &[Style::None],
        disks: true,
    },
    Kind {
        name: "xen-pv-kernel",
        domain_type: "xen",
        os_open: "<os>",
        os_type: "<type arch='x86_64' machine='xenpv'>linux</type>",
        os_extra: "    <kernel>/boot/vmlinuz-xen</kernel>\n    <cmdline>root=/dev/xvda1</cmdline>\n",
        top_extra: "",
        cdrom_bus: ("xvdb", "xen"),
        boot_styles: &[Style::None],
        disks: true,
    },
    Kind {
        name: "xen-pvh",
        domain_type: "xen",
        os_open: "<os>",
        os_type: "<type arch='x86_64' machine='xenpvh'>xenpvh</type>",
        os_extra: "    <kernel>/boot/vmlinuz</kernel>\n",
        top_extra: "",
        cdrom_bus: ("xvdb", "xen"),
        boot_styles: &[Style::None],
        disks: true,
    },
    Kind {
        name: "lxc-container",
        domain_type: "lxc",
        os_open: "<os>",
        os_type: "<type arch='x86_64'>exe</type>",
        os_extra: "    <init>/sbin/init</init>\n",
        top_extra: "",
        cdrom_bus: ("sdb", "scsi"),
        boot_styles: &[Style::None],
        disks: false,
    },
    Kind {
        name: "cloud-hypervisor",
        domain_type: "ch",
        os_open: "<os>",
        os_type: "<type arch='x86_64'>hvm</type>",
        os_extra: "    <kernel>/usr/share/cloud-hypervisor/hypervisor-fw</kernel>\n",
        top_extra: "",
        cdrom_bus: ("vdb", "virtio"),
        boot_styles: &[Style::None],
        disks: true,
    },
    Kind {
        name: "bhyve",
        domain_type: "bhyve",
        os_open: "<os>",
        os_type: "<type>hvm</type>",
        os_extra: "",
        top_extra: "",
        cdrom_bus: ("hdc", "sata"),
        boot_styles: ALL_STYLES,
        disks: true,
    },
    Kind {
        name: "vmware",
        domain_type: "vmware",
        os_open: "<os>",
        os_type: "<type arch='x86_64'>hvm</type>",
        os_extra: "",
        top_extra: "",
        cdrom_bus: ("hdc", "ide"),
        boot_styles: &[Style::None],
        disks: true,
    },
];

/// The hard disk in each disk type: (name, XML without the `<boot>` line).
const DISKS: &[(&str, &str, &str)] = &[
    (
        "file",
        "<disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      <source file='/var/lib/libvirt/images/g.qcow2'/>\n",
        "</disk>",
    ),
    (
        "block",
        "<disk type='block' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source dev='/dev/vg0/g'/>\n",
        "</disk>",
    ),
    (
        "volume",
        "<disk type='volume' device='disk'>\n      <source pool='default' volume='g.qcow2'/>\n",
        "</disk>",
    ),
    (
        "network",
        "<disk type='network' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source protocol='rbd' name='pool/g'>\n        <host name='ceph.example.org' port='6789'/>\n      </source>\n",
        "</disk>",
    ),
];

/// The CD-ROM drive already there: none, empty in each disk type, or holding media.
const CDROMS: &[&str] = &["none", "file", "block", "volume", "network", "media"];

fn cdrom_xml(kind: &str, (target, bus): (&str, &str), boot: &str) -> String {
    let (disk_type, source) = match kind {
        "none" => return String::new(),
        "media" => (
            "file",
            "      <source file='/var/lib/libvirt/images/drivers.iso'/>\n",
        ),
        other => (other, ""),
    };
    format!(
        "    <disk type='{disk_type}' device='cdrom'>\n{source}      <target dev='{target}' bus='{bus}'/>\n      <readonly/>\n{boot}    </disk>\n"
    )
}

fn document(kind: &Kind, style: Style, disk: usize, cdrom: &str) -> String {
    let boot_list = match style {
        Style::List => "    <boot dev='hd'/>\n    <boot dev='network'/>\n",
        _ => "",
    };
    let (disk_boot, nic_boot) = match style {
        Style::PerDevice if kind.name.contains("s390") => (
            "      <boot order='1' loadparm='2'/>\n",
            "      <boot order='3'/>\n",
        ),
        Style::PerDevice => ("      <boot order='1'/>\n", "      <boot order='2'/>\n"),
        _ => ("", ""),
    };
    let (_, disk_open, disk_close) = DISKS[disk];
    let target = match kind.cdrom_bus.1 {
        "xen" => "xvda",
        "ide" if kind.domain_type == "vmware" => "sda",
        _ => "vda",
    };
    let bus = match target {
        "xvda" => "xen",
        "sda" => "scsi",
        _ => "virtio",
    };
    let hard_disk = if kind.disks {
        format!(
            "    {disk_open}      <target dev='{target}' bus='{bus}'/>\n{disk_boot}    {disk_close}\n"
        )
    } else {
        "    <filesystem type='mount'>\n      <source dir='/var/lib/lxc/g'/>\n      <target dir='/'/>\n    </filesystem>\n".to_string()
    };
    let cdrom_boot = if style == Style::PerDevice && cdrom == "media" {
        "      <boot order='4'/>\n"
    } else {
        ""
    };
    let cdrom = if kind.disks {
        cdrom_xml(cdrom, kind.cdrom_bus, cdrom_boot)
    } else {
        String::new()
    };
    format!(
        "<domain type='{}'>\n  <name>{}</name>\n  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n  <memory unit='KiB'>1048576</memory>\n  <vcpu>2</vcpu>\n{}  {}\n    {}\n{}{}  </os>\n  <on_poweroff>destroy</on_poweroff>\n  <devices>\n{hard_disk}{cdrom}    <interface type='network'>\n      <mac address='52:54:00:12:34:56'/>\n      <source network='default'/>\n{nic_boot}    </interface>\n    <serial type='pty'/>\n  </devices>\n</domain>\n",
        kind.domain_type,
        kind.name,
        kind.top_extra,
        kind.os_open,
        kind.os_type,
        kind.os_extra,
        boot_list,
    )
}

#[test]
fn every_class_keeps_the_phase_promises() {
    let scratch = std::env::temp_dir().join(format!("domkit-classes-{}", std::process::id()));
    fs::create_dir_all(&scratch).unwrap();
    let mut tally = Tally::default();
    let mut outputs = Vec::new();
    let mut refused_kinds = std::collections::BTreeMap::new();
    for kind in KINDS {
        for &style in kind.boot_styles {
            for (disk, (disk_type, _, _)) in DISKS.iter().enumerate() {
                for &cdrom in CDROMS {
                    if !kind.disks && (disk > 0 || cdrom != "none") {
                        continue;
                    }
                    let name = format!("{}-{style:?}-{disk_type}-cdrom_{cdrom}", kind.name);
                    let text = document(kind, style, disk, cdrom);
                    let before = tally.refusals;
                    let installs = phases::check_document(&name, &text, &mut tally);
                    *refused_kinds.entry(kind.name).or_insert(0) += tally.refusals - before;
                    let input = scratch.join(format!("{name}.xml"));
                    fs::write(&input, &text).unwrap();
                    for (method, install) in installs {
                        let out = scratch.join(format!("{name}.{method:?}.xml"));
                        fs::write(&out, install).unwrap();
                        outputs.push((input.clone(), out));
                    }
                }
            }
        }
    }
    // Where the input passes libvirt's schema, every install config still does.
    let mut files: Vec<_> = outputs
        .iter()
        .flat_map(|(i, o)| [i.clone(), o.clone()])
        .collect();
    files.sort();
    files.dedup();
    let valid = phases::schema_valid(&files);
    let mut checked = 0;
    for (input, output) in &outputs {
        if valid[input] {
            assert!(
                valid[output],
                "{} is schema-valid, {} is not",
                input.display(),
                output.display()
            );
            checked += 1;
        }
    }
    fs::remove_dir_all(&scratch).unwrap();
    eprintln!("classes: {tally:?}, schema-checked {checked}, refusals per kind {refused_kinds:?}");
    assert!(tally.documents >= 200, "{tally:?}");
    assert!(
        checked >= 200,
        "only {checked} install configs were schema-checked"
    );
    // The classes that cannot boot media are refused, the others are not.
    for (kind, refusals) in refused_kinds {
        let expected = matches!(
            kind,
            "kvm-aarch64-direct-kernel"
                | "xen-pv-pygrub"
                | "xen-pv-kernel"
                | "xen-pvh"
                | "lxc-container"
                | "cloud-hypervisor"
                | "bhyve"
                | "vmware"
        );
        assert_eq!(refusals > 0, expected, "{kind}: {refusals} refusals");
    }
}

#[test]
fn refusals_name_the_class_and_the_way_out() {
    let cases = [
        (
            "xen-pv-kernel",
            Method::Cdrom,
            "a Xen PV guest cannot boot a CD-ROM; install with --kernel/--initrd",
        ),
        (
            "xen-pvh",
            Method::Pxe,
            "a Xen PVH guest cannot boot from the network",
        ),
        (
            "lxc-container",
            Method::Seed,
            "a container (<os><type>exe</type>)",
        ),
        (
            "kvm-aarch64-direct-kernel",
            Method::Cdrom,
            "a guest with arch='aarch64' can boot a CD-ROM only through firmware",
        ),
        ("cloud-hypervisor", Method::Cdrom, "Cloud Hypervisor"),
        (
            "vmware",
            Method::Kernel,
            "VMware driver cannot boot a kernel directly",
        ),
    ];
    for (name, method, want) in cases {
        let kind = KINDS.iter().find(|k| k.name == name).unwrap();
        let text = document(kind, kind.boot_styles[0], 0, "none");
        let err = phases::rewrite(name, &text, &method.flags()).unwrap_err();
        assert!(err.to_string().contains(want), "{name}: {err}");
    }
}

/// libvirt's LXC driver starts a container with a block device attached (a device node
/// inside it) and refuses any other disk (src/lxc/lxc_container.c, lxcContainerSetupDisk):
/// install media for a container are taken only as block devices.
#[test]
fn a_container_takes_block_devices_as_install_media() {
    let kind = KINDS.iter().find(|k| k.name == "lxc-container").unwrap();
    let text = document(kind, kind.boot_styles[0], 0, "none");
    let install = phases::rewrite(
        kind.name,
        &text,
        &[
            "--to",
            "install",
            "--install-disk",
            "/dev/vg/seed,device=disk",
        ],
    )
    .unwrap();
    assert!(
        install.contains("<source dev='/dev/vg/seed'/>"),
        "{install}"
    );
    let err = phases::rewrite(
        kind.name,
        &text,
        &["--to", "install", "--install-disk", "/var/lib/seed.img"],
    )
    .unwrap_err();
    assert!(err.to_string().contains("only block devices"), "{err}");
}
