//! domxml-gen's OS-aware choices on real files: `--os detect` reads install ISOs built by
//! xorriso with the volume ids distributions use, the boot disk's size (raw, and qcow2 as
//! qemu-img writes it) is held against the OS's minimum, and every config made from an
//! OS passes libvirt's schema (`virt-xml-validate`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GEN: &str = env!("CARGO_BIN_EXE_domxml-gen");

/// A scratch folder of this test process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("domkit-guests-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An ISO with volume id `volid` holding one small file.
fn iso(dir: &Path, name: &str, volid: &str) -> PathBuf {
    let tree = dir.join(format!("{name}.tree"));
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("README"), "domkit test medium\n").unwrap();
    let iso = dir.join(format!("{name}.iso"));
    let out = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", volid, "-o"])
        .arg(&iso)
        .arg(&tree)
        .output()
        .expect("xorriso (scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    iso
}

fn domxml_gen(args: &[&str]) -> Output {
    Command::new(GEN).args(args).output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `domxml-gen --os detect` on a guest installed from `iso`.
fn detect_from_cdrom(iso: &str) -> Output {
    domxml_gen(&[
        "--name",
        "d",
        "--os",
        "detect",
        "--disk",
        "/img/d.img",
        "--cdrom",
        iso,
    ])
}

/// `domxml-gen --os OS` on a guest whose boot disk is `disk`.
fn with_disk(os: &str, disk: &Path) -> Output {
    domxml_gen(&["--name", "d", "--os", os, "--disk", disk.to_str().unwrap()])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn os_detect_reads_the_install_isos_volume_id() {
    let dir = Scratch::new("detect");
    // Debian 11's netinst volume id, as osinfo-db's media entry matches it.
    let deb = iso(&dir.0, "deb11", "Debian 11.5.0 amd64 n");
    let deb = deb.to_str().unwrap();
    let xml = ok(detect_from_cdrom(deb));
    assert!(
        xml.contains("<libosinfo:os id='http://debian.org/debian/11'/>"),
        "{xml}"
    );
    assert!(xml.contains("machine='q35'"), "{xml}");
    // The same ISO given as install-only media (dom-media extract's spec) is read too.
    let xml = ok(domxml_gen(&[
        "--name",
        "d",
        "--os",
        "detect",
        "--disk",
        "/img/d.img",
        "--kernel",
        "/boot/vmlinuz",
        "--install-disk",
        &format!("{deb},device=cdrom"),
    ]));
    assert!(xml.contains("http://debian.org/debian/11"), "{xml}");

    // An ISO no OS claims: one line naming its volume id, nothing on stdout.
    let lab = iso(&dir.0, "lab", "DOMKIT_INSTALL");
    let out = detect_from_cdrom(lab.to_str().unwrap());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.starts_with("domxml-gen: --os detect: ") && err.contains("'DOMKIT_INSTALL'"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // Not an ISO at all: bad input, exit 3.
    let junk = dir.0.join("junk.iso");
    fs::write(&junk, vec![0u8; 40 * 2048]).unwrap();
    let out = detect_from_cdrom(junk.to_str().unwrap());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn a_boot_disk_smaller_than_the_oss_minimum_is_refused() {
    let dir = Scratch::new("disk");
    // Debian 11 needs 10 GiB of disk (osinfo-db's minimum); recommends 20 GiB.
    let small = dir.0.join("small.img");
    fs::File::create(&small).unwrap().set_len(1 << 30).unwrap();
    let out = with_disk("debian11", &small);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("1 GiB")
            && err.contains("needs at least 10 GiB of disk")
            && err.contains("recommended: 1 GiB memory, 1 vCPU, 20 GiB disk"),
        "{err}"
    );
    // A qcow2 image is judged by its virtual size, not its (tiny) file.
    let big = dir.0.join("big.qcow2");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&big)
        .arg("20G")
        .status()
        .expect("qemu-img (qemu-utils)");
    assert!(status.success());
    ok(with_disk("debian11", &big));
    let tiny = dir.0.join("tiny.qcow2");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&tiny)
        .arg("2G")
        .status()
        .unwrap();
    assert!(status.success());
    let out = with_disk("debian11", &tiny);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 GiB"), "{}", stderr(&out));
    // An image that does not exist yet is not judged (domxml-gen creates no files).
    ok(with_disk("debian11", &dir.0.join("later.img")));
}

/// Every OS family domxml-gen treats differently gives a config libvirt's schema accepts,
/// in both phases.
#[test]
fn configs_made_from_an_os_pass_libvirts_schema() {
    let dir = Scratch::new("schema");
    for os in [
        "debian11",
        "fedora36",
        "rhel9.0",
        "win11",
        "win10",
        "winxp",
        "freebsd13.0",
    ] {
        for phase in ["final", "install"] {
            let xml = ok(domxml_gen(&[
                "--name",
                "g",
                "--os",
                os,
                "--disk",
                "/img/g.qcow2",
                "--network",
                "network=default",
                "--graphics",
                "spice",
                "--cdrom",
                "/iso/g.iso",
                "--phase",
                phase,
            ]));
            let file = dir.0.join(format!("{os}.{phase}.xml"));
            fs::write(&file, &xml).unwrap();
            let out = Command::new("virt-xml-validate")
                .arg(&file)
                .arg("domain")
                .output()
                .expect("virt-xml-validate (libvirt-clients)");
            assert!(
                out.status.success(),
                "{os} {phase}: {}{}\n{xml}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
