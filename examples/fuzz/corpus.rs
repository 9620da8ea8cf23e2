//! The seeds: every vendored document under tests/data, the same documents after
//! `domxml-rewrite --to install` (and `--swap`) so that recorded boot profiles are input
//! too, domxml-gen's output for a few specs, and JSON specs and records.

use std::fs;
use std::path::{Path, PathBuf};

use crate::ops::{Op, Ops, Outcome};

/// JSON specs for domxml-gen, one per install method and machine kind.
pub const SPECS: &[&str] = &[
    r#"{"name":"vm1","uuid":"11111111-2222-3333-4444-555555555555","type":"kvm","memory":"2GiB","vcpus":2,"disk":["/var/lib/libvirt/images/vm1.qcow2"],"network":["network=default"],"graphics":"vnc","cdrom":"/iso/debian-12.iso"}"#,
    r#"{"name":"k1","uuid":"11111111-2222-3333-4444-555555555556","type":"qemu","disk":["/img/k1.img,bus=virtio,format=raw"],"kernel":"/boot/vmlinuz","initrd":"/boot/initrd.gz","cmdline":"console=ttyS0 auto=true","serial":["pty"],"console":true}"#,
    r#"{"name":"p1","uuid":"11111111-2222-3333-4444-555555555557","type":"kvm","disk":["/img/p1.qcow2"],"network":["bridge=br0,model=virtio"],"pxe":true,"firmware":"efi"}"#,
    r#"{"name":"s1","uuid":"11111111-2222-3333-4444-555555555558","type":"kvm","disk":["/img/s1.qcow2","/img/data.raw,bus=sata,format=raw"],"install-disk":["/img/seed.iso"],"network":["user"],"features":"acpi,apic,smm"}"#,
    r#"{"name":"pv1","uuid":"11111111-2222-3333-4444-555555555559","type":"xen","paravirt":true,"disk":["/dev/vg/pv1"],"kernel":"vmlinuz","initrd":"initrd.gz","bootloader":"pygrub","bootloader-args":"-q"}"#,
    r#"{"name":"a1","uuid":"11111111-2222-3333-4444-55555555555a","type":"qemu","arch":"aarch64","machine":"virt","disk":["/img/a1.qcow2"],"cdrom":"/iso/a.iso","phase":"install","title":"t","description":"d & <e>"}"#,
    r#"{"name":"t1","type":"test","memory":512,"disk":["/img/t1.img","/img/t2.img,device=cdrom,readonly"],"serial":["file=/tmp/t1.log"],"graphics":"spice"}"#,
];

/// Record lines as the dom-* tools print them.
pub const RECORDS: &[&str] = &[
    "{\"name\":\"vm1\",\"uuid\":\"4b743948-7a5e-4b7e-9a55-0d2a2f6d3a10\",\"id\":1,\"state\":\"running\",\"reason\":\"booted\",\"persistent\":true,\"uri\":\"qemu:///session\",\"action\":\"created-one-off\"}\n",
    "{\"name\":\"a\"}\n\n{\"uuid\":\"u1\",\"uri\":\"test:///default\",\"persistent\":false}\n",
    "{\"name\":\"vm1\",\"state\":\"shutoff\",\"reason\":\"shutdown\",\"waited_ms\":7390}\n",
];

/// Every input the mutants start from.
pub struct Corpus {
    /// Vendored documents: (path relative to the data folder, text).
    pub plain: Vec<(String, String)>,
    /// Documents that record a boot profile in `<metadata>`.
    pub profiled: Vec<(String, String)>,
    /// JSON specs.
    pub specs: Vec<String>,
    /// Record streams.
    pub records: Vec<String>,
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "xml") {
            out.push(path);
        }
    }
}

impl Corpus {
    /// Reads `data` (sorted, so the corpus, and with it every mutant, is the same on every
    /// machine) and derives the profiled documents with `ops`.
    pub fn load(data: &Path, ops: &Ops) -> Corpus {
        let mut files = Vec::new();
        xml_files(data, &mut files);
        files.sort();
        let plain: Vec<(String, String)> = files
            .iter()
            .filter_map(|p| {
                let text = fs::read_to_string(p).ok()?;
                let name = p.strip_prefix(data).unwrap_or(p).display().to_string();
                Some((name, text))
            })
            .collect();
        let mut profiled = Vec::new();
        let install = Op::from_label("to-install-cdrom").expect("flag set");
        let seed = Op::from_label("to-install-cdrom-seed").expect("flag set");
        let swap = Op::from_label("swap").expect("flag set");
        for (i, (name, text)) in plain.iter().enumerate() {
            // Every third document also gets a seed disk and a cmdline: more slots.
            let op = if i % 3 == 0 { seed } else { install };
            if let Outcome::Ok(Some(out)) = ops.run(op, text) {
                if let Outcome::Ok(Some(swapped)) = ops.run(swap, &out) {
                    profiled.push((format!("{name} | {} | swap", op.label()), swapped));
                }
                profiled.push((format!("{name} | {}", op.label()), out));
            }
        }
        let generate = Op::Generate;
        for (i, spec) in SPECS.iter().enumerate() {
            if let Outcome::Ok(Some(out)) = ops.run(generate, spec) {
                profiled.push((format!("spec {i} | generate"), out));
            }
        }
        Corpus {
            plain,
            profiled,
            specs: SPECS.iter().map(|s| s.to_string()).collect(),
            records: RECORDS.iter().map(|s| s.to_string()).collect(),
        }
    }
}
