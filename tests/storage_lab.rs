//! dom-vol on a real, private libvirtd (`tests/lab/libvirtd.sh`, its storage driver with a
//! directory pool): volumes created, found again, refused when they differ, deleted;
//! sparse uploads that allocate on the host what the file holds; uploads killed halfway
//! and run again; bad input refused with nothing written. Each test has its own daemon.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

const VOL: &str = env!("CARGO_BIN_EXE_dom-vol");

/// A private daemon with a directory pool "default" under its folder (`pool/`), made by
/// the daemon itself; stopped and removed on drop.
struct Lab {
    dir: PathBuf,
    uri: String,
}

impl Lab {
    fn start() -> Lab {
        let (dir, uri) = common::lab::start("dkv");
        let lab = Lab { dir, uri };
        let target = lab.pool_dir();
        let target = target.to_str().unwrap();
        for args in [
            &["pool-define-as", "default", "dir", "--target", target][..],
            &["pool-build", "default"],
            &["pool-start", "default"],
        ] {
            lab.virsh(args);
        }
        lab
    }

    fn pool_dir(&self) -> PathBuf {
        self.dir.join("pool")
    }

    fn virsh(&self, args: &[&str]) -> String {
        common::lab::virsh(&self.uri, args)
    }

    /// The names of the pool's volumes, as libvirt lists them.
    fn volumes(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .virsh(&["vol-list", "default"])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        names.sort();
        names
    }

    /// Runs dom-vol on this lab.
    fn vol(&self, args: &[&str]) -> Run {
        run(&[&["-c", self.uri.as_str()], args].concat())
    }

    /// A scratch file in the lab folder (the client's side of the test).
    fn file(&self, name: &str) -> PathBuf {
        let dir = self.dir.join("client");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        common::lab::script("stop", &self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn record(&self) -> Value {
        assert_eq!(self.code, 0, "{self:?}");
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{self:?}");
        serde_json::from_str(lines[0]).unwrap()
    }

    /// A refusal: the status, one line on stderr, nothing on stdout.
    fn refused(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        assert!(self.stderr.starts_with("dom-vol: "), "{self:?}");
        &self.stderr
    }
}

fn run(args: &[&str]) -> Run {
    let out = common::lab::spawn_tool("dom-vol", args, "")
        .wait_with_output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A sparse file of `len` bytes with `chunks` of pseudo-random data (1 MiB each) at the
/// given MiB offsets.
fn sparse_file(path: &Path, len: u64, chunks: &[u64], seed: u64) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(len).unwrap();
    let mut state = seed | 1;
    for &mib in chunks {
        let data: Vec<u8> = (0..1 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        file.write_all_at(&data, mib << 20).unwrap();
    }
}

/// Bytes the file occupies on disk.
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().blocks() * 512
}

fn same_content(a: &Path, b: &Path) -> bool {
    Command::new("cmp")
        .args(["-s"])
        .arg(a)
        .arg(b)
        .status()
        .unwrap()
        .success()
}

#[test]
fn volumes_are_created_once_refused_when_different_and_deleted() {
    let lab = Lab::start();
    let base = [
        "create",
        "--name",
        "base.qcow2",
        "--size",
        "1GiB",
        "--format",
        "qcow2",
    ];
    let made = lab.vol(&base).record();
    assert_eq!(made["action"], "created");
    assert_eq!(made["pool"], "default");
    assert_eq!(made["capacity"], 1u64 << 30);
    assert_eq!(made["format"], "qcow2");
    assert_eq!(made["uri"], lab.uri.as_str());
    let base_path = lab.pool_dir().join("base.qcow2");
    assert_eq!(made["path"], base_path.to_str().unwrap());

    // The same spec again: nothing made, the same record.
    let again = lab.vol(&base).record();
    assert_eq!(again["action"], "exists");
    assert_eq!(again["key"], made["key"]);

    // Another spec: a conflict, and the volume is as it was.
    let before = lab.volumes();
    let msg = lab
        .vol(&[
            "create",
            "--name",
            "base.qcow2",
            "--size",
            "2GiB",
            "--format",
            "qcow2",
        ])
        .refused(6)
        .to_string();
    assert!(msg.contains("exists with capacity 1073741824"), "{msg}");
    assert_eq!(lab.volumes(), before);

    // An overlay on it: qcow2, its backing the base's host path, its size the base's.
    let overlay = lab
        .vol(&[
            "create",
            "--name",
            "vm1.qcow2",
            "--backing",
            "default/base.qcow2",
            "--for",
            "disk",
        ])
        .record();
    assert_eq!(overlay["action"], "created");
    assert_eq!(overlay["format"], "qcow2");
    assert_eq!(overlay["backing"], base_path.to_str().unwrap());
    assert_eq!(overlay["capacity"], 1u64 << 30);
    assert_eq!(overlay["for"], "disk");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(lab.pool_dir().join("vm1.qcow2"))
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["backing-filename"], base_path.to_str().unwrap());

    // Bad input: exit 3, one line, nothing made.
    let before = lab.volumes();
    for (args, says) in [
        (
            &["create", "--name", "x", "--size", "1G", "--pool", "nope"][..],
            "no storage pool 'nope'",
        ),
        (
            &["create", "--name", "x", "--backing", "default/missing"],
            "no volume 'missing'",
        ),
        (&["create", "--name", "x", "--size", "lots"], "bad size"),
        (&["create", "--name", "a/b", "--size", "1G"], "has a '/'"),
        (&["create", "--name", "..", "--size", "1G"], "'..'"),
        (
            &[
                "create",
                "--name",
                "x",
                "--size",
                "1G",
                "--format",
                "raw",
                "--backing",
                "default/base.qcow2",
            ],
            "only a qcow2",
        ),
        (&["delete", "nope/x"], "no storage pool 'nope'"),
    ] {
        let msg = lab.vol(args).refused(3).to_string();
        assert!(msg.contains(says), "{args:?}: {msg}");
    }
    assert_eq!(lab.volumes(), before);

    // Delete: the record of what was there; then a no-op.
    let gone = lab.vol(&["delete", "default/vm1.qcow2"]).record();
    assert_eq!(gone["action"], "deleted");
    assert_eq!(gone["path"], overlay["path"]);
    assert!(!lab.volumes().contains(&"vm1.qcow2".to_string()));
    let absent = lab.vol(&["delete", "default/vm1.qcow2"]).record();
    assert_eq!(absent["action"], "already-absent");
    assert!(absent["path"].is_null());
}

#[test]
fn a_sparse_upload_sends_and_allocates_only_the_data() {
    let lab = Lab::start();
    let image = lab.file("sparse.img");
    // 256 MiB holding 4 MiB of data in four places, the last one at the very end.
    sparse_file(&image, 256 << 20, &[0, 1, 100, 255], 7);
    let up = lab.vol(&["upload", image.to_str().unwrap()]).record();
    assert_eq!(up["action"], "uploaded");
    assert_eq!(up["name"], "sparse.img");
    assert_eq!(up["capacity"], 256u64 << 20);
    assert_eq!(up["format"], "raw");
    let on_host = lab.pool_dir().join("sparse.img");
    assert!(same_content(&image, &on_host));
    let alloc = allocated(&on_host);
    assert!(
        (4 << 20..=16 << 20).contains(&alloc),
        "{alloc} bytes allocated on the host for 4 MiB of data"
    );
    // Complete: its digest stamp, no partial stamp.
    let vols = lab.volumes();
    assert!(
        vols.iter().any(|v| v.starts_with("sparse.img.dk-sha256-")),
        "{vols:?}"
    );
    assert!(
        !vols.contains(&"sparse.img.dk-partial".to_string()),
        "{vols:?}"
    );

    // The same content again, from a copy written densely: nothing sent.
    let copy = lab.file("copy.img");
    let status = Command::new("cp")
        .arg("--sparse=never")
        .arg(&image)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(allocated(&copy) >= 256 << 20);
    let again = lab
        .vol(&["upload", copy.to_str().unwrap(), "--name", "sparse.img"])
        .record();
    assert_eq!(again["action"], "exists");

    // Other content under that name: a conflict, the volume untouched.
    sparse_file(&copy, 256 << 20, &[5], 8);
    lab.vol(&["upload", copy.to_str().unwrap(), "--name", "sparse.img"])
        .refused(6);
    assert!(same_content(&image, &on_host));

    // A volume dom-vol did not upload is never taken to hold the file.
    lab.vol(&["create", "--name", "made.img", "--size", "1GiB"])
        .record();
    let msg = lab
        .vol(&["upload", image.to_str().unwrap(), "--name", "made.img"])
        .refused(6)
        .to_string();
    assert!(msg.contains("not uploaded by dom-vol"), "{msg}");
}

#[test]
fn a_qcow2_image_keeps_its_format_and_bytes() {
    let lab = Lab::start();
    let image = lab.file("cloud.qcow2");
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&image)
        .arg("2G")
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5a 1M 3M"])
        .arg(&image)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let up = lab
        .vol(&["upload", image.to_str().unwrap(), "--for", "disk"])
        .record();
    assert_eq!(up["format"], "qcow2");
    assert_eq!(up["capacity"], 2u64 << 30);
    assert!(same_content(&image, &lab.pool_dir().join("cloud.qcow2")));
    // An overlay on the uploaded base.
    let overlay = lab
        .vol(&[
            "create",
            "--name",
            "vm.qcow2",
            "--backing",
            "default/cloud.qcow2",
        ])
        .record();
    assert_eq!(overlay["backing"], up["path"]);
}

/// Polls the pool until `want` holds, within a deadline (the daemon's state, not a sleep).
fn await_volumes(lab: &Lab, what: &str, want: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let vols = lab.volumes();
        if want(&vols) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what}: {vols:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_upload_killed_halfway_is_never_trusted_and_the_rerun_completes() {
    let lab = Lab::start();
    let image = lab.file("big.img");
    // 64 MiB of data: long enough to be killed while sending.
    let chunks: Vec<u64> = (0..64).map(|i| i * 4).collect();
    sparse_file(&image, 512 << 20, &chunks, 11);
    let mut child = Command::new(VOL)
        .args(["-c", &lab.uri, "upload"])
        .arg(&image)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    await_volumes(&lab, "volume being uploaded", |v| {
        v.iter().any(|n| n == "big.img")
    });
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let vols = lab.volumes();
    if status.success() {
        // It finished before the kill landed: then it is complete.
        assert!(
            !vols.contains(&"big.img.dk-partial".to_string()),
            "{vols:?}"
        );
    } else {
        assert!(vols.contains(&"big.img.dk-partial".to_string()), "{vols:?}");
        assert!(!vols.iter().any(|v| v.contains("dk-sha256")), "{vols:?}");
    }
    let rerun = lab.vol(&["upload", image.to_str().unwrap()]).record();
    let expected = if status.success() {
        "exists"
    } else {
        "uploaded"
    };
    assert_eq!(rerun["action"], expected);
    assert!(same_content(&image, &lab.pool_dir().join("big.img")));
    let vols = lab.volumes();
    assert!(
        !vols.contains(&"big.img.dk-partial".to_string()),
        "{vols:?}"
    );
    assert_eq!(vols.iter().filter(|v| v.contains("dk-sha256")).count(), 1);

    // Deleting it takes its stamps along.
    lab.vol(&["delete", "default/big.img"]).record();
    assert!(lab.volumes().iter().all(|v| !v.starts_with("big.img")));
}

#[test]
fn a_directory_or_fifo_is_not_uploaded() {
    let lab = Lab::start();
    let fifo = lab.file("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let before = lab.volumes();
    let dir = lab.dir.join("client");
    for (path, says) in [(&fifo, "is a FIFO"), (&dir, "is a directory")] {
        let msg = lab
            .vol(&["upload", path.to_str().unwrap(), "--name", "x"])
            .refused(3)
            .to_string();
        assert!(msg.contains(says), "{msg}");
    }
    assert_eq!(lab.volumes(), before);
}

/// Runs a domkit tool with `stdin`; exit status 0 expected.
fn tool(name: &str, args: &[&str], stdin: &str) -> String {
    common::lab::tool_ok(name, args, stdin)
}

/// The documented flow, from local files only: the disk made and the install media
/// uploaded with dom-vol, the config generated from their records (-c looks the volumes
/// up), the guest installed and booted from its volume disk; the install-only kernel and
/// initrd deleted afterwards, the shared ISO kept.
#[test]
fn a_guest_installs_from_uploaded_volumes_onto_a_volume_disk() {
    let lab = Lab::start();
    let guest = common::lab::guest();
    let c = ["-c", lab.uri.as_str()];
    let name = "volguest";
    let file = |f: &str| guest.join(f).to_str().unwrap().to_string();
    let mut records = String::new();
    for args in [
        vec![
            "create",
            "--name",
            "volguest.img",
            "--size",
            "64MiB",
            "--for",
            "disk",
        ],
        vec![
            "upload",
            &file("vmlinuz"),
            "--name",
            "volguest-vmlinuz",
            "--for",
            "kernel",
        ],
        vec![
            "upload",
            &file("installer.initrd"),
            "--name",
            "volguest-initrd",
            "--for",
            "initrd",
        ],
        vec!["upload", &file("install.iso"), "--for", "install-disk"],
    ] {
        let rec = lab.vol(&args).record();
        assert!(
            rec["path"]
                .as_str()
                .unwrap()
                .starts_with(lab.pool_dir().to_str().unwrap()),
            "{rec}"
        );
        records.push_str(&serde_json::to_string(&rec).unwrap());
        records.push('\n');
    }
    let domtype = common::lab::script("domtype", &lab.dir);
    let serial = format!("file={}", lab.dir.join("volguest.serial").display());
    let fin = tool(
        "domxml-gen",
        &[
            &c[..],
            &[
                "--spec",
                "-",
                "--name",
                name,
                "--type",
                &domtype,
                "--memory",
                "256MiB",
                "--serial",
                &serial,
                "--cmdline",
                "console=ttyS0 quiet loglevel=3 no_timer_check",
            ],
        ]
        .concat(),
        &records,
    );
    // The final config boots the volume disk; the kernel is the uploaded volume's host path.
    assert!(
        fin.contains("<source pool='default' volume='volguest.img'/>"),
        "{fin}"
    );
    let kernel_path = lab.pool_dir().join("volguest-vmlinuz");
    assert!(
        fin.contains(&format!("<kernel>{}</kernel>", kernel_path.display())),
        "{fin}"
    );

    tool("dom-define", &c, &fin);
    let install = tool("domxml-rewrite", &["--to", "install"], &fin);
    assert!(install.contains("volume='install.iso'"), "{install}");
    let created = tool("dom-create", &c, &install);
    tool("dom-wait-shutdown", &["--timeout", "300"], &created);
    let serial_log =
        || std::fs::read_to_string(lab.dir.join("volguest.serial")).unwrap_or_default();
    assert!(
        serial_log().contains("DOMKIT-INSTALLER: disk written"),
        "{}",
        serial_log()
    );

    // Install-only volumes go; the shared ISO stays.
    for v in ["default/volguest-vmlinuz", "default/volguest-initrd"] {
        assert_eq!(lab.vol(&["delete", v]).record()["action"], "deleted");
    }
    let vols = lab.volumes();
    assert!(vols.contains(&"install.iso".to_string()), "{vols:?}");
    assert!(!vols.iter().any(|v| v.starts_with("volguest-")), "{vols:?}");
    // The persistent config names none of them in what it boots.
    let persistent = lab.virsh(&["dumpxml", "--inactive", name]);
    let active = match (
        persistent.find("<metadata>"),
        persistent.find("</metadata>"),
    ) {
        (Some(a), Some(b)) => format!("{}{}", &persistent[..a], &persistent[b..]),
        _ => persistent.clone(),
    };
    assert!(!active.contains("volguest-"), "{active}");

    tool("dom-create", &[&c[..], &[name]].concat(), "");
    tool(
        "dom-wait-shutdown",
        &[&c[..], &["--timeout", "300", name]].concat(),
        "",
    );
    let log = serial_log();
    assert!(log.contains("DOMKIT-GUEST: booted from disk"), "{log}");
}
