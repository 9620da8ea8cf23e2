//! Golden files for domxml-gen (`tests/golden/<case>.<phase>.xml`), each also checked by
//! `virt-xml-validate` and defined on libvirt's test driver; plus the two-phase corpus
//! through `domxml-rewrite --to final`, defined the same way.
//!
//! Re-bless after an intended change: `DOMKIT_BLESS=1 cargo test --test golden`, then
//! review `git diff tests/golden`.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

const UUID: &str = "11111111-2222-3333-4444-555555555555";

/// Each case's domxml-gen flags, without `--phase` (every case is generated for both).
const CASES: &[(&str, &[&str])] = &[
    (
        "kvm-cdrom",
        &[
            "--name",
            "vm1",
            "--type",
            "kvm",
            "--memory",
            "2GiB",
            "--vcpus",
            "2",
            "--disk",
            "/var/lib/libvirt/images/vm1.qcow2",
            "--network",
            "network=default",
            "--graphics",
            "vnc",
            "--cdrom",
            "/iso/debian-12.iso",
        ],
    ),
    (
        "qemu-direct-kernel",
        &[
            "--name",
            "vm2",
            "--type",
            "qemu",
            "--machine",
            "pc",
            "--memory",
            "512MiB",
            "--disk",
            "/img/vm2.img,format=raw",
            "--kernel",
            "/boot/vmlinuz",
            "--initrd",
            "/boot/initrd.gz",
            "--cmdline",
            "console=ttyS0 auto=true priority=critical",
            "--serial",
            "file=/tmp/vm2.log",
            "--console",
        ],
    ),
    (
        "xen-paravirt",
        &[
            "--name",
            "pv1",
            "--type",
            "xen",
            "--paravirt",
            "--disk",
            "/dev/vg/pv1",
            "--kernel",
            "/boot/vmlinuz-xen",
            "--initrd",
            "/boot/initrd-xen.gz",
            "--cmdline",
            "console=hvc0",
            "--bootloader",
            "pygrub",
        ],
    ),
    (
        "pxe",
        &[
            "--name",
            "px",
            "--type",
            "kvm",
            "--disk",
            "/img/px.qcow2",
            "--network",
            "network=default",
            "--pxe",
        ],
    ),
    (
        "uefi-q35-sata",
        &[
            "--name",
            "win",
            "--type",
            "kvm",
            "--firmware",
            "uefi",
            "--machine",
            "q35",
            "--memory",
            "4GiB",
            "--vcpus",
            "2",
            "--disk",
            "/img/win.img,bus=sata,format=raw",
            "--cdrom",
            "/iso/win.iso",
            "--graphics",
            "spice",
        ],
    ),
    (
        "install-disk-seed",
        &[
            "--name",
            "cloud",
            "--type",
            "kvm",
            "--disk",
            "/img/cloud.qcow2",
            "--install-disk",
            "/img/seed.iso",
            "--serial",
            "pty",
            "--console",
        ],
    ),
    (
        "headless-default-console",
        &[
            "--name",
            "h1",
            "--type",
            "qemu",
            "--cpu",
            "host-model",
            "--disk",
            "/img/h1.qcow2",
            "--kernel",
            "/boot/vmlinuz",
            "--initrd",
            "/boot/initrd.gz",
        ],
    ),
    (
        "pty-log-custom-cpu",
        &[
            "--name",
            "h2",
            "--type",
            "kvm",
            "--cpu",
            "Skylake-Client-v4",
            "--disk",
            "/img/h2.qcow2",
            "--serial",
            "pty,log=/var/log/domkit/h2.log",
            "--console",
            "--cdrom",
            "/iso/h2.iso",
        ],
    ),
    (
        "os-debian11",
        &[
            "--name",
            "deb11",
            "--os",
            "debian11",
            "--disk",
            "/img/deb11.qcow2",
            "--network",
            "network=default",
            "--graphics",
            "spice",
            "--cdrom",
            "/iso/debian-11.iso",
        ],
    ),
    (
        "os-win11",
        &[
            "--name",
            "win11",
            "--os",
            "win11",
            "--disk",
            "/img/win11.qcow2",
            "--network",
            "network=default",
            "--graphics",
            "vnc",
            "--cdrom",
            "/iso/win11.iso",
            "--install-disk",
            "/img/autounattend.iso",
        ],
    ),
    (
        "uefi-secure-boot-tpm-kernel",
        &[
            "--name",
            "sb",
            "--type",
            "qemu",
            "--secure-boot",
            "--tpm",
            "--memory",
            "512MiB",
            "--disk",
            "/img/sb.img",
            "--kernel",
            "/boot/vmlinuz",
            "--initrd",
            "/boot/initrd.gz",
            "--cmdline",
            "console=ttyS0 quiet",
        ],
    ),
    (
        "test-type",
        &[
            "--name",
            "t1",
            "--type",
            "test",
            "--memory",
            "256MiB",
            "--disk",
            "/img/t1.img",
            "--cdrom",
            "/iso/t1.iso",
        ],
    ),
];

const PHASES: &[&str] = &["final", "install"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn blessing() -> bool {
    std::env::var_os("DOMKIT_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

fn run(bin: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// domxml-gen's output for `args`; panics with its stderr when it fails.
fn gen_xml(args: &[&str]) -> String {
    let out = run(env!("CARGO_BIN_EXE_domxml-gen"), args, b"");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "domxml-gen {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("domxml-gen prints UTF-8")
}

fn case_args<'a>(flags: &[&'a str], phase: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--uuid", UUID];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--phase", phase]);
    args
}

/// Compares `actual` with the golden file `name`, or writes it when blessing.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if blessing() {
        fs::create_dir_all(golden_dir()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (create it with DOMKIT_BLESS=1 cargo test --test golden)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from the golden file (re-bless with DOMKIT_BLESS=1 if intended)\n\
         --- expected\n{expected}\n+++ actual\n{actual}"
    );
}

/// Runs `virt-xml-validate FILE domain`. Returns false (after saying so) when the tool is not
/// installed; that is only allowed outside CI.
fn virt_xml_validate(path: &Path) -> bool {
    match Command::new("virt-xml-validate")
        .arg(path)
        .arg("domain")
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "virt-xml-validate {}: {}{}",
                path.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "virt-xml-validate is not installed, and CI must run the schema check \
                 (apt-get install libvirt-clients libxml2-utils)"
            );
            eprintln!(
                "SKIPPED: virt-xml-validate is not installed (libvirt-clients); \
                 {} was not schema-checked",
                path.display()
            );
            false
        }
        Err(e) => panic!("virt-xml-validate: {e}"),
    }
}

/// test:///default is one in-process driver shared by every connection of this process, and
/// the cases share a UUID: define/undefine one document at a time.
static TEST_DRIVER: Mutex<()> = Mutex::new(());

/// `virDomainDefineXMLFlags`' VIR_DOMAIN_DEFINE_VALIDATE: check against libvirt's schema too.
const DEFINE_VALIDATE: u32 = 1;

/// Defines `xml` on `test:///default` and undefines it again; panics with libvirt's message
/// when it is refused. The test driver accepts kvm, qemu and xen domain types as they are
/// (checked with libvirt 9.0), so documents are defined unchanged, `type` included.
fn define_on_test_driver(what: &str, xml: &str, flags: u32) {
    let _guard = TEST_DRIVER.lock().unwrap_or_else(|e| e.into_inner());
    let conn = virt::connect::Connect::open(Some("test:///default")).expect("open test:///default");
    let dom = conn
        .define_domain_xml_flags(xml, flags)
        .unwrap_or_else(|e| panic!("{what}: test:///default refused the document: {e}"));
    dom.undefine()
        .unwrap_or_else(|e| panic!("{what}: undefine: {e}"));
}

#[test]
fn domxml_gen_matches_the_golden_files() {
    let mut expected_files = BTreeSet::new();
    for (case, flags) in CASES {
        for phase in PHASES {
            let name = format!("{case}.{phase}.xml");
            let xml = gen_xml(&case_args(flags, phase));
            check_golden(&name, &xml);
            expected_files.insert(name);
        }
    }
    if !blessing() {
        // A golden file no case produces any more is stale: remove it, or it rots unchecked.
        let on_disk: BTreeSet<String> = fs::read_dir(golden_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".xml"))
            .collect();
        let stale: Vec<_> = on_disk.difference(&expected_files).collect();
        assert!(stale.is_empty(), "stale golden files: {stale:?}");
    }
}

#[test]
fn golden_phases_are_one_rewrite_apart() {
    // The recorded profile is what makes the two phases one `--swap` apart; a golden install
    // file that only matched by accident would fail here.
    let rewrite = env!("CARGO_BIN_EXE_domxml-rewrite");
    for (case, flags) in CASES {
        let final_xml = gen_xml(&case_args(flags, "final"));
        let install_xml = gen_xml(&case_args(flags, "install"));
        assert_ne!(final_xml, install_xml, "{case}: the phases are identical");
        let out = run(rewrite, &["--swap"], final_xml.as_bytes());
        assert!(out.status.success(), "{case}: {out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            install_xml,
            "{case}: final --swap is not the install phase"
        );
    }
}

#[test]
fn golden_files_pass_virt_xml_validate() {
    for (case, _) in CASES {
        for phase in PHASES {
            let path = golden_dir().join(format!("{case}.{phase}.xml"));
            assert!(path.exists(), "{} is missing", path.display());
            if !virt_xml_validate(&path) {
                return;
            }
        }
    }
}

#[test]
fn golden_files_are_accepted_by_libvirt() {
    for (case, _) in CASES {
        for phase in PHASES {
            let path = golden_dir().join(format!("{case}.{phase}.xml"));
            let xml =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            define_on_test_driver(&format!("{case}.{phase}"), &xml, DEFINE_VALIDATE);
        }
    }
}

#[test]
fn a_spec_file_gives_the_same_bytes_as_the_flags() {
    let spec = golden_dir().join("spec/kvm-cdrom.json");
    let spec = spec.to_str().unwrap();
    let (_, flags) = CASES.iter().find(|(c, _)| *c == "kvm-cdrom").unwrap();
    for phase in PHASES {
        let from_flags = gen_xml(&case_args(flags, phase));
        let from_spec = gen_xml(&["--spec", spec, "--phase", phase]);
        assert_eq!(from_spec, from_flags, "kvm-cdrom.{phase}: spec vs flags");
        // The spec on stdin is the same spec.
        let json = fs::read(spec).unwrap();
        let out = run(
            env!("CARGO_BIN_EXE_domxml-gen"),
            &["--spec", "-", "--phase", phase],
            &json,
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), from_flags);
    }
}

fn two_phase_corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/virt-manager/two-phase");
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    assert!(files.len() >= 26, "two-phase corpus: only {}", files.len());
    files
}

#[test]
fn the_two_phase_corpus_made_final_is_accepted_by_libvirt() {
    let rewrite = env!("CARGO_BIN_EXE_domxml-rewrite");
    let scratch = std::env::temp_dir().join(format!("domkit-golden-{}", std::process::id()));
    fs::create_dir_all(&scratch).unwrap();
    let mut schema_checked = 0;
    for path in two_phase_corpus() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = run(rewrite, &["--to", "final", path.to_str().unwrap()], b"");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let xml = String::from_utf8(out.stdout).unwrap();
        // Several corpus documents come from a newer virt-manager and use elements the
        // installed schema does not know (virt-xml-validate refuses the input itself): define
        // without schema validation, which still runs libvirt's full parser.
        define_on_test_driver(&name, &xml, 0);
        // Where the input is schema-valid, the rewrite must keep it so.
        if Command::new("virt-xml-validate")
            .arg(&path)
            .arg("domain")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            let copy = scratch.join(&name);
            fs::write(&copy, &xml).unwrap();
            assert!(virt_xml_validate(&copy));
            schema_checked += 1;
        }
    }
    fs::remove_dir_all(&scratch).ok();
    if Command::new("virt-xml-validate")
        .arg("--help")
        .output()
        .is_ok()
    {
        assert!(
            schema_checked >= 10,
            "only {schema_checked} corpus documents were schema-checked"
        );
    }
}

/// A config libvirt stored (re-indented, re-quoted, defaults such as `<on_reboot>` filled
/// in) still swaps: its install phase boots the CD-ROM, its final phase does not, both
/// are accepted by libvirt, and swapping back and forth is stable after the first swap.
#[test]
fn a_config_libvirt_stored_still_swaps() {
    let _guard = TEST_DRIVER.lock().unwrap_or_else(|e| e.into_inner());
    let fin = gen_xml(&[
        "--name",
        "stored",
        "--uuid",
        UUID,
        "--type",
        "test",
        "--disk",
        "/var/lib/stored.img",
        "--cdrom",
        "/iso/install.iso",
        "--install-disk",
        "/iso/seed.iso",
        "--network",
        "user",
    ]);
    let conn = virt::connect::Connect::open(Some("test:///default")).unwrap();
    let dom = conn.define_domain_xml_flags(&fin, DEFINE_VALIDATE).unwrap();
    let stored = dom.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE).unwrap();
    dom.undefine().unwrap();
    assert_ne!(stored, fin, "libvirt is expected to re-format the config");

    let rewrite = |args: &[&str], xml: &str| {
        let out = run(env!("CARGO_BIN_EXE_domxml-rewrite"), args, xml.as_bytes());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let install = rewrite(&["--to", "install"], &stored);
    let active = |xml: &str| xml[xml.find("</metadata>").unwrap()..].to_string();
    assert!(active(&install).contains("/iso/install.iso"));
    assert!(active(&install).contains("<on_reboot>destroy</on_reboot>"));
    let back = rewrite(&["--to", "final"], &install);
    assert!(!active(&back).contains("/iso/"));
    assert!(active(&back).contains("<on_reboot>restart</on_reboot>"));
    for xml in [&install, &back] {
        let dom = conn.define_domain_xml_flags(xml, DEFINE_VALIDATE).unwrap();
        dom.undefine().unwrap();
    }
    assert_eq!(rewrite(&["--swap"], &rewrite(&["--swap"], &back)), back);
}
