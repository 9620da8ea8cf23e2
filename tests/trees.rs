//! dom-media extract from install trees: a local HTTP server (a thread on 127.0.0.1)
//! serves the lab guest's kernel and installer initrd in Debian's installer layout and
//! with a `.treeinfo`; extract fetches them, checks the published SHA-256 sums, and the
//! files match. Hostile servers (wrong checksums, endless bodies, oversized lengths,
//! redirects to file://, 404s) are refused in one line, exit 3, with nothing written.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::thread;

use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;

const MEDIA: &str = env!("CARGO_BIN_EXE_dom-media");
const DEBIAN: &str = "/debian/dists/bookworm/main/installer-amd64/";
const NETBOOT: &str = "current/images/netboot/debian-installer/amd64/";

/// What the test server answers for one path.
#[derive(Clone)]
enum Reply {
    File(Vec<u8>),
    Redirect(String),
    /// Bytes without end, and no Content-Length.
    Endless,
    /// A Content-Length of this many bytes, then the connection closes.
    Claims(u64),
}

/// Serves `routes` on a free port of 127.0.0.1 from a thread (404 for any other path);
/// returns the base URL, `http://127.0.0.1:PORT`.
fn serve(routes: HashMap<String, Reply>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Arc::new(routes);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let routes = Arc::clone(&routes);
            thread::spawn(move || answer(stream, &routes));
        }
    });
    base
}

fn answer(stream: TcpStream, routes: &HashMap<String, Reply>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request.split(' ').nth(1).unwrap_or("").to_string();
    let mut out = stream;
    let _ = match routes.get(&path) {
        Some(Reply::File(data)) => out
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    data.len()
                )
                .as_bytes(),
            )
            .and_then(|()| out.write_all(data)),
        Some(Reply::Redirect(to)) => out.write_all(
            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        Some(Reply::Endless) => {
            let chunk = vec![b'x'; 64 << 10];
            let mut result = out.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            // Until the client hangs up.
            while result.is_ok() {
                result = out.write_all(&chunk);
            }
            result
        }
        Some(Reply::Claims(length)) => out.write_all(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        None => out.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
    };
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The lab guest's kernel and installer initrd.
fn guest_files() -> (Vec<u8>, Vec<u8>) {
    let guest = common::lab::guest();
    (
        fs::read(guest.join("vmlinuz")).unwrap(),
        fs::read(guest.join("installer.initrd")).unwrap(),
    )
}

/// A Debian installer tree at [`DEBIAN`] with the guest's files and their SHA256SUMS.
fn debian_routes(kernel: &[u8], initrd: &[u8], sums: Option<String>) -> HashMap<String, Reply> {
    let sums = sums.unwrap_or_else(|| {
        format!(
            "{}  ./netboot/debian-installer/amd64/linux\n{}  ./netboot/debian-installer/amd64/initrd.gz\n{}  ./netboot/mini.iso\n",
            sha256(kernel),
            sha256(initrd),
            sha256(b"not fetched"),
        )
    });
    HashMap::from([
        (
            format!("{DEBIAN}current/images/SHA256SUMS"),
            Reply::File(sums.into_bytes()),
        ),
        (
            format!("{DEBIAN}{NETBOOT}linux"),
            Reply::File(kernel.to_vec()),
        ),
        (
            format!("{DEBIAN}{NETBOOT}initrd.gz"),
            Reply::File(initrd.to_vec()),
        ),
    ])
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("trees-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn extract(source: &str, out: &Path) -> Output {
    Command::new(MEDIA)
        .args(["extract", source, out.to_str().unwrap()])
        // The test's server is on this machine: no proxy of the environment in between.
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "dom-media failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts exit 3 with one line on stderr that contains `expected`, no output, and no
/// file in `dir` (temporary ones included).
fn refused(out: &Output, expected: &str, dir: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
    assert!(out.stdout.is_empty());
    let left: Vec<_> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "written: {left:?}");
}

#[test]
fn a_debian_tree_over_http_is_fetched_checked_and_a_domxml_gen_spec() {
    let (kernel, initrd) = guest_files();
    let mut routes = debian_routes(&kernel, &initrd, None);
    // The initrd behind a same-scheme redirect relative to it, up to /debian/pool/.
    routes.insert(
        format!("{DEBIAN}{NETBOOT}initrd.gz"),
        Reply::Redirect(format!("{}pool/initrd.gz", "../".repeat(9))),
    );
    routes.insert("/debian/pool/initrd.gz".into(), Reply::File(initrd.clone()));
    let base = serve(routes);
    let dir = scratch("debian");
    let out = dir.join("boot");
    let spec = json(&extract(&format!("{base}{DEBIAN}"), &out));
    let out = fs::canonicalize(&out).unwrap();
    assert_eq!(spec["kernel"], out.join("linux").to_str().unwrap());
    assert_eq!(spec["initrd"], out.join("initrd.gz").to_str().unwrap());
    assert_eq!(spec.as_object().unwrap().len(), 2, "{spec}");
    assert_eq!(fs::read(out.join("linux")).unwrap(), kernel);
    assert_eq!(fs::read(out.join("initrd.gz")).unwrap(), initrd);

    // The JSON is a domxml-gen spec as it stands.
    let mut full = spec.clone();
    full["name"] = "vm1".into();
    full["disk"] = serde_json::json!(["/img/vm1.qcow2"]);
    let spec_file = dir.join("spec.json");
    fs::write(&spec_file, full.to_string()).unwrap();
    let gen_out = Command::new(env!("CARGO_BIN_EXE_domxml-gen"))
        .args(["--phase", "install", "--spec", spec_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        gen_out.status.success(),
        "{}",
        String::from_utf8_lossy(&gen_out.stderr)
    );
    let xml = String::from_utf8(gen_out.stdout).unwrap();
    assert!(xml.contains(&format!("<kernel>{}</kernel>", out.join("linux").display())));
    assert!(xml.contains(&format!(
        "<initrd>{}</initrd>",
        out.join("initrd.gz").display()
    )));

    // Again: the files are there, refused without --force, kept as they were.
    refused_keeps(&extract(&format!("{base}{DEBIAN}"), &out), &out, &kernel);
}

fn refused_keeps(result: &Output, out: &Path, kernel: &[u8]) {
    assert_eq!(
        result.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(fs::read(out.join("linux")).unwrap(), kernel);
}

#[test]
fn a_treeinfo_tree_in_a_directory_and_over_http() {
    let (kernel, initrd) = guest_files();
    let treeinfo = format!(
        "[general]\nfamily = Fedora\narch = x86_64\n\n[images-x86_64]\nkernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\n\n[images-xen]\nkernel = images/pxeboot/xen-vmlinuz\ninitrd = images/pxeboot/xen-initrd.img\n\n[checksums]\nimages/pxeboot/vmlinuz = sha256:{}\nimages/pxeboot/initrd.img = sha256:{}\n",
        sha256(&kernel),
        sha256(&initrd)
    );
    let dir = scratch("treeinfo");
    let tree = dir.join("tree");
    fs::create_dir_all(tree.join("images/pxeboot")).unwrap();
    fs::write(tree.join(".treeinfo"), &treeinfo).unwrap();
    fs::write(tree.join("images/pxeboot/vmlinuz"), &kernel).unwrap();
    fs::write(tree.join("images/pxeboot/initrd.img"), &initrd).unwrap();

    let local = dir.join("local");
    let spec = json(&extract(tree.to_str().unwrap(), &local));
    let local = fs::canonicalize(&local).unwrap();
    assert_eq!(spec["kernel"], local.join("vmlinuz").to_str().unwrap());
    assert_eq!(spec["initrd"], local.join("initrd.img").to_str().unwrap());
    assert_eq!(
        spec.get("cmdline"),
        None,
        "a directory is no repo for the guest"
    );
    assert_eq!(fs::read(local.join("vmlinuz")).unwrap(), kernel);
    assert_eq!(fs::read(local.join("initrd.img")).unwrap(), initrd);

    let base = serve(HashMap::from([
        (
            "/f/.treeinfo".to_string(),
            Reply::File(treeinfo.clone().into_bytes()),
        ),
        (
            "/f/images/pxeboot/vmlinuz".to_string(),
            Reply::File(kernel.clone()),
        ),
        (
            "/f/images/pxeboot/initrd.img".to_string(),
            Reply::File(initrd.clone()),
        ),
    ]));
    let remote = dir.join("remote");
    let spec = json(&extract(&format!("{base}/f"), &remote));
    assert_eq!(spec["cmdline"], format!("inst.repo={base}/f/"));
    assert_eq!(fs::read(remote.join("vmlinuz")).unwrap(), kernel);

    // A .treeinfo naming a path out of the tree is refused before anything is read.
    let evil = dir.join("evil");
    fs::create_dir_all(&evil).unwrap();
    fs::write(
        evil.join(".treeinfo"),
        "[images-x86_64]\nkernel = ../tree/images/pxeboot/vmlinuz\ninitrd = images/initrd.img\n",
    )
    .unwrap();
    let target = dir.join("evil-out");
    refused(
        &extract(evil.to_str().unwrap(), &target),
        "not a path inside the tree",
        &target,
    );
    // So is a symlink out of it.
    fs::create_dir_all(evil.join("images")).unwrap();
    std::os::unix::fs::symlink(
        tree.join("images/pxeboot/vmlinuz"),
        evil.join("images/vmlinuz"),
    )
    .unwrap();
    fs::write(evil.join("images/initrd.img"), &initrd).unwrap();
    fs::write(
        evil.join(".treeinfo"),
        "[images-x86_64]\nkernel = images/vmlinuz\ninitrd = images/initrd.img\n",
    )
    .unwrap();
    refused(
        &extract(evil.to_str().unwrap(), &target),
        "a symlink out of the tree",
        &target,
    );
}

#[test]
fn a_debian_tree_without_sha256sums_is_found_by_its_kernel() {
    let (kernel, initrd) = guest_files();
    let mut routes = debian_routes(&kernel, &initrd, None);
    routes.remove(&format!("{DEBIAN}current/images/SHA256SUMS"));
    let base = serve(routes);
    let out = scratch("unsummed").join("boot");
    json(&extract(&format!("{base}{DEBIAN}"), &out));
    assert_eq!(fs::read(out.join("linux")).unwrap(), kernel);
    assert_eq!(fs::read(out.join("initrd.gz")).unwrap(), initrd);
}

#[test]
fn a_checksum_mismatch_writes_nothing() {
    let (kernel, initrd) = guest_files();
    let mut wrong = initrd.clone();
    wrong[1000] ^= 1;
    let mut routes = debian_routes(&kernel, &initrd, None);
    routes.insert(format!("{DEBIAN}{NETBOOT}initrd.gz"), Reply::File(wrong));
    let base = serve(routes);
    let out = scratch("mismatch").join("boot");
    refused(
        &extract(&format!("{base}{DEBIAN}"), &out),
        &format!("does not match the tree's published {}", sha256(&initrd)),
        &out,
    );
}

#[test]
fn hostile_servers_are_refused_in_one_line() {
    let (kernel, initrd) = guest_files();
    let dir = scratch("hostile");
    let cases: [(&str, Reply, &str); 4] = [
        // An index without end: refused past its 1 MiB cap.
        (
            "current/images/SHA256SUMS",
            Reply::Endless,
            "larger than 1 MiB",
        ),
        // A kernel announcing more than the 1 GiB cap: refused before reading it.
        (
            &format!("{NETBOOT}linux"),
            Reply::Claims(2 << 30),
            "larger than 1024 MiB",
        ),
        (
            &format!("{NETBOOT}linux"),
            Reply::Redirect("file:///etc/passwd".into()),
            "redirect to file:///etc/passwd: another scheme",
        ),
        (
            &format!("{NETBOOT}initrd.gz"),
            Reply::Redirect("/gone".into()),
            "not found in the tree",
        ),
    ];
    for (index, (path, reply, expected)) in cases.into_iter().enumerate() {
        let mut routes = debian_routes(&kernel, &initrd, None);
        routes.insert(format!("{DEBIAN}{path}"), reply);
        let base = serve(routes);
        let out = dir.join(format!("out-{index}"));
        refused(&extract(&format!("{base}{DEBIAN}"), &out), expected, &out);
    }
    // No tree at all: every probe is a 404.
    let base = serve(HashMap::new());
    let out = dir.join("none");
    refused(
        &extract(&format!("{base}/nothing/"), &out),
        "no install tree",
        &out,
    );
}

/// A lab daemon for one test: stopped when dropped; its folder kept (and named) when the
/// test fails.
struct LabDaemon {
    dir: PathBuf,
    uri: String,
}

impl Drop for LabDaemon {
    fn drop(&mut self) {
        let _ = Command::new(common::lab::repo().join("tests/lab/libvirtd.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
        if thread::panicking() {
            eprintln!("lab folder kept: {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[test]
fn what_extract_fetched_boots_the_lab_installer() {
    let (kernel, initrd) = guest_files();
    let base = serve(debian_routes(&kernel, &initrd, None));
    let (dir, uri) = common::lab::start("dkt");
    let lab = LabDaemon { dir, uri };
    let domtype = common::lab::script("domtype", &lab.dir);
    let boot = lab.dir.join("boot");
    let spec = json(&extract(&format!("{base}{DEBIAN}"), &boot));

    let disk = common::lab::disk(&lab.dir, "tree");
    let mut full = spec.clone();
    full["name"] = "tree".into();
    full["memory"] = "256MiB".into();
    full["disk"] = serde_json::json!([format!("{},format=raw", disk.display())]);
    let spec_file = lab.dir.join("spec.json");
    fs::write(&spec_file, full.to_string()).unwrap();
    let serial = lab.dir.join("tree.serial");
    let serial_arg = format!("file={}", serial.display());
    let fin = common::lab::tool_ok(
        "domxml-gen",
        &[
            "--spec",
            spec_file.to_str().unwrap(),
            "--type",
            &domtype,
            "--serial",
            &serial_arg,
            "--graphics",
            "none",
        ],
        "",
    );
    let install = common::lab::tool_ok("domxml-rewrite", &["--to", "install"], &fin);
    assert!(install.contains(&format!(
        "<kernel>{}</kernel>",
        boot.join("linux").display()
    )));
    let c = ["-c", lab.uri.as_str()];
    common::lab::tool_ok("dom-define", &c, &fin);
    let created = common::lab::tool_ok("dom-create", &c, &install);
    // Generous: a TCG boot on a loaded machine.
    common::lab::tool_ok("dom-wait-shutdown", &["--timeout", "300"], &created);
    let console = fs::read_to_string(&serial).unwrap_or_default();
    assert!(
        console.contains("DOMKIT-INSTALLER: disk written"),
        "serial: {console}"
    );
}
