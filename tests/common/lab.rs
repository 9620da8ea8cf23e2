//! The lab's scripts (`tests/lab/libvirtd.sh`, `remote.sh`), guest and tool runners, shared
//! by the tests that start a lab daemon.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tests/lab/libvirtd.sh ACTION DIR` and returns what it printed, trimmed.
pub fn script(action: &str, dir: &Path) -> String {
    run_script("libvirtd.sh", action, dir)
}

/// Runs `tests/lab/SCRIPT ACTION DIR`, which must succeed; its stdout, trimmed.
pub fn run_script(script: &str, action: &str, dir: &Path) -> String {
    let out = Command::new(repo().join("tests/lab").join(script))
        .arg(action)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("run tests/lab/{script}: {e}"));
    assert!(
        out.status.success(),
        "{script} {action} {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new lab folder, `/var/tmp/PREFIX-PID-N`. Short: QEMU's monitor socket path under it
/// must fit in 107 bytes.
pub fn folder(prefix: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    PathBuf::from(format!(
        "/var/tmp/{prefix}-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ))
}

/// Starts a lab daemon in a fresh `folder(prefix)`; returns the folder and the daemon's
/// URI.
pub fn start(prefix: &str) -> (PathBuf, String) {
    let dir = folder(prefix);
    let uri = script("start", &dir);
    (dir, uri)
}

/// The guest files, built once into a cache shared by every test run: guest.sh's own
/// default cache (its folder name has a hash of the script, so a changed script builds a
/// new guest), or DOMKIT_GUEST_DIR.
pub fn guest() -> PathBuf {
    let mut cmd = Command::new(repo().join("tests/lab/guest.sh"));
    if let Some(dir) = std::env::var_os("DOMKIT_GUEST_DIR") {
        cmd.arg(dir);
    }
    let out = cmd.output().expect("run tests/lab/guest.sh");
    assert!(
        out.status.success(),
        "tests/lab/guest.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = String::from_utf8(out.stdout).unwrap();
    let first = first.lines().next().expect("guest.sh prints its outputs");
    Path::new(first).parent().unwrap().to_path_buf()
}

/// Whether the tests run as root (the lab daemon then runs as the user domkit-lab).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A fresh, empty 64 MiB disk image `DIR/NAME.raw` the lab daemon's user may write.
pub fn disk(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.raw"));
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(64 << 20).unwrap();
    if is_root() {
        let status = Command::new("chown")
            .arg("domkit-lab:")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

/// The path of a domkit binary.
pub fn bin(tool: &str) -> &'static str {
    match tool {
        "dom-define" => env!("CARGO_BIN_EXE_dom-define"),
        "dom-create" => env!("CARGO_BIN_EXE_dom-create"),
        "dom-wait-shutdown" => env!("CARGO_BIN_EXE_dom-wait-shutdown"),
        "domxml-gen" => env!("CARGO_BIN_EXE_domxml-gen"),
        "domxml-rewrite" => env!("CARGO_BIN_EXE_domxml-rewrite"),
        "dom-vol" => env!("CARGO_BIN_EXE_dom-vol"),
        "dom-media" => env!("CARGO_BIN_EXE_dom-media"),
        "dom-send-keys" => env!("CARGO_BIN_EXE_dom-send-keys"),
        other => panic!("unknown tool {other}"),
    }
}

/// `virsh -q -c URI ARGS`, which must succeed; what it printed.
pub fn virsh(uri: &str, args: &[&str]) -> String {
    let out = Command::new("virsh")
        .args(["-q", "-c", uri])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "virsh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A tool with `args` and its streams piped; LIBVIRT_DEFAULT_URI is cleared so only `-c`
/// or the records decide the connection.
pub fn tool_command(name: &str, args: &[&str]) -> Command {
    use std::process::Stdio;
    let mut cmd = Command::new(bin(name));
    cmd.args(args)
        .env_remove("LIBVIRT_DEFAULT_URI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts a tool as `tool_command` makes it, its stdin written and closed, without
/// waiting for it.
pub fn spawn_tool(name: &str, args: &[&str], stdin: &str) -> std::process::Child {
    spawn_with_stdin(tool_command(name, args), stdin)
}

/// Runs a tool as `tool_command` makes it, with `stdin`, to its end; exit status 0
/// expected. Its stdout.
pub fn tool_ok(name: &str, args: &[&str], stdin: &str) -> String {
    let out = spawn_tool(name, args, stdin).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts a prepared command, its stdin written and closed, its output piped.
pub fn spawn_with_stdin(mut cmd: Command, stdin: &str) -> std::process::Child {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child
}
