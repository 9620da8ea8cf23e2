//! Input that must not take over the host, and exit statuses that must not lie (issue 7,
//! "Safety first"): hostile record URIs, a closed stdout or a full stderr, absurd timeouts,
//! and the NAME-versus-FILE rule of dom-create. Single-process checks on test:///default.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CREATE: &str = env!("CARGO_BIN_EXE_dom-create");
const WAIT: &str = env!("CARGO_BIN_EXE_dom-wait-shutdown");

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("domkit-safety-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `bin args` in `cwd` with `stdin`; `env` is set on top of a LIBVIRT_DEFAULT_URI-free
/// environment.
fn run(bin: &str, args: &[&str], stdin: &str, cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("LIBVIRT_DEFAULT_URI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // The tool may refuse the input before reading it.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn a_record_uri_never_runs_a_program() {
    let dir = scratch("ext");
    let marker = dir.join("ran");
    let prog = dir.join("prog");
    std::fs::write(&prog, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let record = format!(
        "{{\"name\":\"x\",\"uri\":\"qemu+ext:///system?command={}\"}}\n",
        prog.display()
    );
    type Env<'a> = &'a [(&'a str, &'a str)];
    let attempts: [(&str, &[&str], Env); 5] = [
        (CREATE, &[], &[]),
        (WAIT, &[], &[]),
        (WAIT, &["--readonly"], &[]),
        (CREATE, &[], &[("LIBVIRT_DEFAULT_URI", "test:///default")]),
        (
            WAIT,
            &["--readonly"],
            &[("LIBVIRT_DEFAULT_URI", "test:///default")],
        ),
    ];
    for (bin, args, env) in attempts {
        let out = run(bin, args, &record, &dir, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{bin} {args:?}: {stderr}");
        assert!(
            stderr.contains("<stdin>:1:1: record uri 'qemu+ext:///system?command=")
                && stderr.contains("transport 'ext' runs a local command"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
        assert!(!marker.exists(), "{bin} ran the record's program");
    }
    // The same URI as the user's own -c is the user's choice; not tested here (it runs it).
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_record_uri_never_reads_a_file() {
    let dir = scratch("file");
    let secret = dir.join("secret");
    std::fs::write(&secret, "TOPSECRET-LINE\n").unwrap();
    for uri in [
        format!("test://{}", secret.display()),
        "test:///etc/shadow".to_string(),
        format!("qemu:///system?name=test://{}", secret.display()),
        format!("qemu+ssh://host/system?keyfile={}", secret.display()),
        format!("qemu+unix:///system?socket={}", secret.display()),
    ] {
        // Records are acted on as their lines arrive: the first, a good one (the test
        // driver's own running domain "test"), is acted on before the second is refused.
        let record = format!(
            "{{\"name\":\"test\",\"uri\":\"test:///default\"}}\n\
             {{\"name\":\"x\",\"uri\":\"{uri}\"}}\n"
        );
        for (bin, args) in [(CREATE, &["--resume"][..]), (WAIT, &[])] {
            let out = run(bin, args, &record, &dir, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{uri}: {stderr}");
            assert!(stderr.contains("<stdin>:2:1: record uri"), "{stderr}");
            assert!(!stderr.contains("TOPSECRET") && !stderr.contains("root:"));
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
    }
    // With -c the records' URIs are not used, so not refused either.
    let out = run(
        CREATE,
        &["-c", "test:///default"],
        "{\"name\":\"nosuch\",\"uri\":\"test:///etc/shadow\"}\n",
        &dir,
        &[],
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    // The user's own LIBVIRT_DEFAULT_URI may come back in a record.
    let out = run(
        CREATE,
        &[],
        "{\"name\":\"nosuch\",\"uri\":\"test:///default?x=1\"}\n",
        &dir,
        &[("LIBVIRT_DEFAULT_URI", "test:///default?x=1")],
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `bin args` with `stdin`, its stdout a pipe whose reader is gone before the tool
/// has read its stdin (so before it writes a record).
fn with_closed_stdout(bin: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("LIBVIRT_DEFAULT_URI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn the_exit_status_is_the_outcomes_whatever_happens_to_stdout_and_stderr() {
    let c = ["-c", "test:///default"];
    // A transient guest that is gone: stopped, reason unknown, exit 9, record printed.
    let gone =
        "{\"name\":\"g\",\"uuid\":\"4b743948-0000-4000-8000-000000000001\",\"persistent\":false}\n";
    let out = with_closed_stdout(WAIT, &c, gone);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    let out = with_closed_stdout(CREATE, &[&c[..], &["nosuch"]].concat(), "");
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nosuch' not found"));
    // Success with nobody reading is still success.
    let out = with_closed_stdout(WAIT, &[&c[..], &["--timeout", "0.01", "test"]].concat(), "");
    assert_eq!(out.status.code(), Some(8), "{out:?}");

    // stderr on a full device: the message is lost, the status is not, no panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(CREATE)
        .args([&c[..], &["nosuch"]].concat())
        .env_remove("LIBVIRT_DEFAULT_URI")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");

    // A timeout beyond the clock: no limit, no panic (the guest is gone, exit 9 at once).
    let out = run(
        WAIT,
        &[&c[..], &["--timeout", "1e19"]].concat(),
        gone,
        Path::new("/"),
        &[],
    );
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    let out = run(
        WAIT,
        &[&c[..], &["--timeout", "1e300"]].concat(),
        gone,
        Path::new("/"),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn dom_create_reads_a_file_only_when_the_argument_has_a_slash() {
    let dir = scratch("name-file");
    // "test" is the test driver's stock domain, running: as a NAME, starting it again is a
    // conflict (exit 6). The file of the same name is never read.
    std::fs::write(
        dir.join("test"),
        "<domain type='test'><name>from-file</name><memory>8192</memory>\
         <os><type>hvm</type></os></domain>",
    )
    .unwrap();
    let c = ["-c", "test:///default"];
    let out = run(CREATE, &[&c[..], &["test"]].concat(), "", &dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("domain 'test' is already running"),
        "{stderr}"
    );
    // ./test is the file: booted as a transient guest.
    let out = run(CREATE, &[&c[..], &["./test"]].concat(), "", &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (rec["name"].as_str(), rec["action"].as_str()),
        (Some("from-file"), Some("created-transient"))
    );
    // A NAME that is no domain but a file here: the message says how to boot the file.
    std::fs::write(dir.join("vm.xml"), "<domain/>").unwrap();
    let out = run(CREATE, &[&c[..], &["vm.xml"]].concat(), "", &dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("to boot it, write ./vm.xml"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
