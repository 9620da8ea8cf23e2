//! The promises of the phase change, checked on any domain document: a no-op keeps every
//! byte, a final config stays as it is, `--to install` with each install method either
//! refuses in one line or boots that method, and `--to final` gives the input back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use domkit::error::exit;
use domkit::phase::{Phase, active_phase};
use domkit::tools::rewrite;
use domkit::xml::{Document, domain};

/// The ISO every CD-ROM install uses.
pub const ISO: &str = "/var/lib/domkit-test/install.iso";
/// The kernel every direct-kernel install uses.
pub const KERNEL: &str = "/var/lib/domkit-test/vmlinuz";

/// An install method and the flags that ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Cdrom,
    Pxe,
    Kernel,
    Seed,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Cdrom, Method::Pxe, Method::Kernel, Method::Seed];

    pub fn flags(self) -> Vec<&'static str> {
        match self {
            Method::Cdrom => vec!["--to", "install", "--cdrom", ISO],
            Method::Pxe => vec!["--to", "install", "--pxe"],
            Method::Kernel => vec![
                "--to",
                "install",
                "--kernel",
                KERNEL,
                "--initrd",
                "/var/lib/domkit-test/initrd.gz",
                "--cmdline",
                "console=ttyS0",
            ],
            Method::Seed => vec![
                "--to",
                "install",
                "--install-disk",
                "/var/lib/domkit-test/seed.iso",
            ],
        }
    }
}

pub fn rewrite(name: &str, text: &str, flags: &[&str]) -> Result<String, domkit::Error> {
    let mut argv = vec!["domxml-rewrite"];
    argv.extend_from_slice(flags);
    rewrite::rewrite(
        name,
        text,
        &rewrite::Args::try_parse_from(argv).expect("flags"),
    )
}

/// What happened to one document under one method.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub documents: usize,
    pub installs: usize,
    pub refusals: usize,
    pub derived: usize,
}

/// Checks every promise on one document; returns the install configs it made (method,
/// text), for schema checks.
pub fn check_document(name: &str, text: &str, tally: &mut Tally) -> Vec<(Method, String)> {
    tally.documents += 1;
    assert_eq!(
        rewrite(name, text, &[]).unwrap(),
        text,
        "{name}: a no-op changed bytes"
    );
    let doc = Document::parse(name, text).unwrap();
    let phase = active_phase(&doc).unwrap_or_else(|e| panic!("{name}: {e}"));
    let to_final = rewrite(name, text, &["--to", "final"]);
    if phase == Phase::Final {
        assert_eq!(
            to_final.as_deref().ok(),
            Some(text),
            "{name}: --to final changed a final config: {to_final:?}"
        );
    } else {
        tally.derived += 1;
        match to_final {
            Ok(out) => well_formed(name, &out),
            Err(e) => one_line_refusal(name, &e),
        }
        return Vec::new();
    }
    let mut installs = Vec::new();
    for method in Method::ALL {
        match rewrite(name, text, &method.flags()) {
            Ok(install) => {
                tally.installs += 1;
                if let Err(why) = boots(&install, method) {
                    panic!(
                        "{name}: {method:?}: the install config does not boot it: {why}\n{install}"
                    );
                }
                let back = rewrite(name, &install, &["--to", "final"])
                    .unwrap_or_else(|e| panic!("{name}: {method:?}: back to final: {e}"));
                assert_eq!(back, text, "{name}: {method:?}: --to install | --to final");
                let swapped = rewrite(name, &install, &["--swap"]).unwrap();
                assert_eq!(
                    rewrite(name, &swapped, &["--swap"]).unwrap(),
                    install,
                    "{name}: {method:?}: swap twice"
                );
                installs.push((method, install));
            }
            Err(e) => {
                tally.refusals += 1;
                one_line_refusal(&format!("{name}: {method:?}"), &e);
            }
        }
    }
    installs
}

#[track_caller]
fn one_line_refusal(name: &str, e: &domkit::Error) {
    let msg = e.to_string();
    assert_eq!(e.exit_code(), exit::BAD_INPUT, "{name}: {msg}");
    assert!(
        !msg.contains('\n') && !msg.contains("internal error"),
        "{name}: {msg}"
    );
}

#[track_caller]
fn well_formed(name: &str, text: &str) {
    Document::parse(name, text).unwrap_or_else(|e| panic!("{name}: output not well-formed: {e}"));
}

/// Whether an install config boots `method`: for a CD-ROM or the network, no direct kernel
/// is left and the install device comes first (lowest per-device boot order, or first in
/// `<os>`'s boot list with no other CD-ROM holding media); for a kernel, that kernel.
pub fn boots(text: &str, method: Method) -> Result<(), String> {
    let doc = Document::parse("install", text).map_err(|e| e.to_string())?;
    let os = domain::os(&doc).ok_or("no <os>")?;
    let kernel = doc.child_text(os, "kernel").map_err(|e| e.to_string())?;
    let on_reboot = doc.child_text(0, "on_reboot").map_err(|e| e.to_string())?;
    if on_reboot.as_deref().map(str::trim) != Some("destroy") {
        return Err("no <on_reboot>destroy</on_reboot>".into());
    }
    let devices: Vec<usize> = domain::devices(&doc)
        .map(|d| doc.el(d).children.clone())
        .unwrap_or_default();
    let source = |d: usize| {
        doc.child(d, "source")
            .and_then(|s| doc.attr(s, "file").or_else(|| doc.attr(s, "dev")))
    };
    let cdrom = |d: usize| doc.el(d).name == "disk" && domain::disk_device(&doc, d) == "cdrom";
    match method {
        Method::Kernel => {
            return match kernel.as_deref() {
                Some(KERNEL) => Ok(()),
                other => Err(format!("kernel is {other:?}")),
            };
        }
        Method::Seed => {
            return devices
                .iter()
                .any(|&d| source(d) == Some("/var/lib/domkit-test/seed.iso"))
                .then_some(())
                .ok_or_else(|| "no seed".into());
        }
        Method::Cdrom | Method::Pxe => {}
    }
    if kernel.is_some() {
        return Err("a direct kernel is left, which QEMU and Xen boot instead".into());
    }
    let ordered: Vec<(u64, usize)> = devices
        .iter()
        .filter_map(|&d| {
            let order = doc.child(d, "boot").and_then(|b| doc.attr(b, "order"))?;
            Some((order.trim().parse().ok()?, d))
        })
        .collect();
    let list: Vec<&str> = doc
        .children_named(os, "boot")
        .filter_map(|b| doc.attr(b, "dev"))
        .collect();
    if !ordered.is_empty() && !list.is_empty() {
        return Err("both <os><boot> and per-device boot orders".into());
    }
    let first = if let Some(&(_, d)) = ordered.iter().min() {
        d
    } else {
        let want = if method == Method::Cdrom {
            "cdrom"
        } else {
            "network"
        };
        if list.first() != Some(&want) {
            return Err(format!("boot list {list:?} does not start with {want}"));
        }
        if method == Method::Pxe {
            return Ok(());
        }
        let media: Vec<usize> = devices
            .iter()
            .copied()
            .filter(|&d| cdrom(d) && source(d).is_some())
            .collect();
        if media.len() != 1 {
            return Err(format!(
                "{} CD-ROMs hold media, so boot=cdrom is ambiguous",
                media.len()
            ));
        }
        media[0]
    };
    match method {
        Method::Cdrom if cdrom(first) && source(first) == Some(ISO) => Ok(()),
        Method::Pxe if doc.el(first).name == "interface" => Ok(()),
        _ => Err(format!("the first boot device is {}", doc.raw(first))),
    }
}

/// Every `<domain>` document under `dir`, recursively, sorted.
pub fn domain_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "xml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Which of `files` libvirt's schema accepts (virt-xml-validate's check: xmllint with
/// libvirt's domain.rng), in batches so the schema is loaded once per batch.
pub fn schema_valid(files: &[PathBuf]) -> HashMap<PathBuf, bool> {
    let rng = "/usr/share/libvirt/schemas/domain.rng";
    assert!(
        Path::new(rng).exists(),
        "{rng} missing: install libvirt-clients (make deps)"
    );
    let mut valid = HashMap::new();
    for batch in files.chunks(200) {
        let out = Command::new("xmllint")
            .args(["--noout", "--nonet", "--relaxng", rng])
            .args(batch)
            .output()
            .expect("run xmllint (libxml2-utils)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for file in batch {
            let ok = format!("{} validates", file.display());
            valid.insert(file.clone(), stderr.lines().any(|l| l == ok));
        }
    }
    valid
}
