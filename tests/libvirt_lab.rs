//! End-to-end two-phase installs on a real, private libvirtd with real QEMU: the lab daemon
//! of `tests/lab/libvirtd.sh` and the tiny guest of `tests/lab/guest.sh`, driven through
//! the dom-define, dom-create and dom-wait-shutdown binaries, asserting on their records
//! and exit statuses and on what the guest printed on its serial port.
//!
//! Each test has its own daemon (its own lab folder under /var/tmp), so tests run in
//! parallel safely. The domain XML is written by hand here until domxml-gen and
//! domxml-rewrite produce it.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use domkit::libvirt::Conn;
use domkit::libvirt::events::{Lifecycle, Notice, Subscription};
use serde_json::Value;

/// Longest a guest boot may take under TCG before a test fails instead of hanging (boots
/// take 5-30 s here, longer when other builds load the machine; only a broken boot waits
/// this long).
const BOOT_DEADLINE: &str = "300";
/// The same for a run of several boots (an installer that reboots twice: four boots).
const BOOTS_DEADLINE: &str = "1200";

use common::lab::{bin, guest, run_script as script, spawn_tool, spawn_with_stdin, tool_command};

/// A private libvirtd in its own folder; stopped and removed on drop.
struct Lab {
    dir: PathBuf,
    uri: String,
    domtype: String,
}

impl Lab {
    fn start() -> Lab {
        let (dir, uri) = common::lab::start("dk");
        let mut lab = Lab {
            dir,
            uri,
            domtype: String::new(),
        };
        lab.domtype = common::lab::script("domtype", &lab.dir);
        lab
    }

    /// A fresh, empty 64 MiB disk image the daemon's user may write.
    fn disk(&self, name: &str) -> PathBuf {
        common::lab::disk(&self.dir, name)
    }

    fn serial(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.serial"))).unwrap_or_default()
    }

    /// The domain's persistent config, as libvirt keeps it.
    fn inactive_xml(&self, name: &str) -> String {
        self.virsh(&["dumpxml", "--inactive", name])
    }

    /// `virsh -q -c URI ARGS` on this lab; what it printed.
    fn virsh(&self, args: &[&str]) -> String {
        common::lab::virsh(&self.uri, args)
    }

    fn conn(&self) -> Conn {
        Conn::open(Some(&self.uri), false).unwrap()
    }
}

impl Drop for Lab {
    /// Stops the daemon and its guests. A passing test's folder goes; a failing test's
    /// stays, and its path and the tails of the guests' QEMU logs and of libvirtd.log are
    /// printed, so that a rare failure explains itself.
    fn drop(&mut self) {
        // No assert while unwinding: a second panic would abort before the logs print.
        let stopped = Command::new(common::lab::repo().join("tests/lab/libvirtd.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output();
        if std::thread::panicking() {
            eprintln!("{}", post_mortem(&self.dir));
            return;
        }
        let stopped = stopped.expect("run tests/lab/libvirtd.sh");
        assert!(
            stopped.status.success(),
            "libvirtd.sh stop {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&stopped.stderr)
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How many lines of each log a failed test prints.
const LOG_TAIL: usize = 30;

/// What a failed test leaves to read in its kept lab folder `dir`: the path, the end of
/// every guest's QEMU log (cache/libvirt/qemu/log/NAME.log: QEMU's command line and why
/// it exited), of the daemon's log, and the kernel's last words on QEMU processes (a
/// QEMU that dies of a signal, a segfault or its seccomp sandbox, writes nothing itself).
fn post_mortem(dir: &Path) -> String {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir.join("cache/libvirt/qemu/log"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs.push(dir.join("libvirtd.log"));
    let mut out = format!("lab folder kept for this failure: {}\n", dir.display());
    for log in logs {
        let text = std::fs::read(&log).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
        out += &format!("--- last {} lines of {}\n", tail.len(), log.display());
        for line in tail {
            out += line;
            out.push('\n');
        }
    }
    match Command::new("dmesg").output() {
        Ok(dmesg) if dmesg.status.success() => {
            let text = String::from_utf8_lossy(&dmesg.stdout);
            let qemu: Vec<&str> = text.lines().filter(|l| l.contains("qemu")).collect();
            let tail = &qemu[qemu.len().saturating_sub(LOG_TAIL)..];
            out += &format!("--- last {} kernel messages naming qemu\n", tail.len());
            for line in tail {
                out += line;
                out.push('\n');
            }
        }
        _ => out += "--- kernel messages: dmesg not readable here\n",
    }
    out
}

/// How the lab guest is installed.
#[derive(Clone, Copy, PartialEq)]
enum Boot {
    /// Install from the CD-ROM; the installer's reboot stops the guest.
    Cdrom,
    /// Install from an explicit kernel + initrd; the installer's reboot stops the guest.
    Kernel,
}

/// The guest's two configs, made by the tools themselves: `domxml-gen` writes the final
/// config with the install method recorded, `domxml-rewrite --to install` the installer's.
/// Both phases write the serial console to `{name}.serial` in the lab, appending to it.
fn configs(
    lab: &Lab,
    guest: &Path,
    name: &str,
    uuid: &str,
    method: Boot,
    disk: &Path,
) -> (String, String) {
    let serial = format!("file={}", lab.dir.join(format!("{name}.serial")).display());
    let guest = LabGuest {
        name,
        uuid,
        disk,
        serial: &serial,
        media: Media::in_dir(guest),
    };
    guest.configs(method, &["--type", &lab.domtype])
}

/// The lab guest's install media, by their paths on the host that runs the guest.
struct Media {
    iso: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
}

impl Media {
    /// The media as tests/lab/guest.sh names them, in `dir`.
    fn in_dir(dir: &Path) -> Media {
        Media {
            iso: dir.join("install.iso"),
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("installer.initrd"),
        }
    }
}

/// One lab guest (256 MiB, no display) as domxml-gen is told it.
struct LabGuest<'a> {
    name: &'a str,
    uuid: &'a str,
    disk: &'a Path,
    /// `--serial`'s value.
    serial: &'a str,
    media: Media,
}

impl LabGuest<'_> {
    /// The final config by `domxml-gen` with `host` (`--type T`, `-c URI`) and the
    /// install config by `domxml-rewrite --to install`.
    fn configs(&self, method: Boot, host: &[&str]) -> (String, String) {
        let disk = format!("{},format=raw", self.disk.display());
        let (iso, kernel, initrd) = (
            self.media.iso.display().to_string(),
            self.media.kernel.display().to_string(),
            self.media.initrd.display().to_string(),
        );
        let mut args = host.to_vec();
        args.extend([
            "--name",
            self.name,
            "--uuid",
            self.uuid,
            "--memory",
            "256MiB",
            "--disk",
            &disk,
            "--serial",
            self.serial,
            "--graphics",
            "none",
        ]);
        match method {
            Boot::Cdrom => args.extend(["--cdrom", iso.as_str()]),
            Boot::Kernel => args.extend([
                "--kernel",
                kernel.as_str(),
                "--initrd",
                initrd.as_str(),
                "--cmdline",
                "console=ttyS0 quiet loglevel=3 no_timer_check",
            ]),
        }
        let fin = tool("domxml-gen", &args, "").ok().stdout;
        let install = tool("domxml-rewrite", &["--to", "install"], &fin)
            .ok()
            .stdout;
        (fin, install)
    }
}

/// domxml-gen's flags for a lab guest with 256 MiB, `disk` and `serial`, no graphics.
fn guest_args<'a>(
    lab: &'a Lab,
    name: &'a str,
    uuid: &'a str,
    disk: &'a str,
    serial: &'a str,
) -> Vec<&'a str> {
    vec![
        "--name",
        name,
        "--uuid",
        uuid,
        "--type",
        &lab.domtype,
        "--memory",
        "256MiB",
        "--disk",
        disk,
        "--serial",
        serial,
        "--graphics",
        "none",
    ]
}

/// The XML without its `<metadata>` (where the recorded install profile lives), to check
/// what the config itself boots.
fn active(xml: &str) -> String {
    match (xml.find("<metadata>"), xml.find("</metadata>")) {
        (Some(a), Some(b)) => format!("{}{}", &xml[..a], &xml[b..]),
        _ => xml.to_string(),
    }
}

/// What a tool run left: exit status, records, stderr.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn records(&self) -> Vec<Value> {
        common::record::records(&self.stdout)
    }

    fn record(&self) -> Value {
        let recs = self.records();
        assert_eq!(recs.len(), 1, "{self:?}");
        recs.into_iter().next().unwrap()
    }

    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// Runs a tool with `args` and `stdin`; LIBVIRT_DEFAULT_URI is cleared so only `-c` or the
/// records decide the connection.
fn tool(name: &str, args: &[&str], stdin: &str) -> Run {
    finish(spawn_tool(name, args, stdin))
}

/// Waits for a tool started by `spawn_tool`.
fn finish(child: Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `dom-wait-shutdown -c URI --timeout BOOT_DEADLINE DOMAIN`: waits for one boot to end.
fn wait_for(c: &[&str], domain: &str) -> Run {
    tool(
        "dom-wait-shutdown",
        &[c, &["--timeout", BOOT_DEADLINE, domain]].concat(),
        "",
    )
}

/// A fresh random-enough UUID (version 4 layout) without a uuid dependency.
fn new_uuid() -> String {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNT.fetch_add(1, Ordering::SeqCst) as u128;
    let x = nanos ^ (u128::from(std::process::id()) << 64) ^ (n << 100);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (x >> 96) as u32,
        (x >> 80) as u16,
        (x >> 68) as u16 & 0xfff,
        (x >> 56) as u16 & 0xfff,
        x as u64 & 0xffff_ffff_ffff
    )
}

/// Waits for the named domain's next lifecycle event of kind `want` on a subscription made
/// before the action that causes it.
fn await_event(rx: &mpsc::Receiver<Notice>, name: &str, want: Lifecycle) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Notice::Lifecycle { name: n, event, .. }) if n == name && event == want => return,
            Ok(_) => {}
            Err(e) => panic!("no {want:?} event for {name}: {e}"),
        }
    }
}

/// The install then final boot of one guest, in the define-first order.
fn define_first_flow(boot: Boot) {
    let lab = Lab::start();
    let guest = guest();
    let name = if boot == Boot::Cdrom { "cd" } else { "kernel" };
    let uuid = new_uuid();
    let disk = lab.disk(name);
    let (fin, install) = configs(&lab, &guest, name, &uuid, boot, &disk);
    let c = ["-c", lab.uri.as_str()];

    let defined = tool("dom-define", &c, &fin).ok().record();
    assert_eq!(defined["action"], "defined");
    assert_eq!(defined["reason"], "defined");
    assert_eq!(defined["uuid"], uuid.as_str());
    assert_eq!(defined["uri"], lab.uri.as_str());

    let created = tool("dom-create", &c, &install).ok();
    let rec = created.record();
    assert_eq!(rec["action"], "created-one-off");
    assert_eq!(
        (rec["state"].as_str(), rec["persistent"].as_bool()),
        (Some("running"), Some(true))
    );
    // While the installer runs, the persistent config is still the final one.
    let persistent = active(&lab.inactive_xml(name));
    assert!(!persistent.contains("install.iso") && !persistent.contains("installer.initrd"));
    assert!(
        persistent.contains("<on_reboot>restart</on_reboot>"),
        "{persistent}"
    );

    // The records of dom-create tell dom-wait-shutdown what and where (no -c).
    let waited = tool(
        "dom-wait-shutdown",
        &["--timeout", BOOT_DEADLINE],
        &created.stdout,
    )
    .ok()
    .record();
    assert_eq!(
        (waited["reason"].as_str(), waited["state"].as_str()),
        (Some("shutdown"), Some("shutoff"))
    );
    assert!(waited["waited_ms"].is_u64());
    assert!(lab.serial(name).contains("DOMKIT-INSTALLER: disk written"));
    assert!(!active(&lab.inactive_xml(name)).contains("install"));

    let started = tool("dom-create", &[&c[..], &[name]].concat(), "")
        .ok()
        .record();
    assert_eq!(started["action"], "started");
    let done = wait_for(&c, name).ok().record();
    assert_eq!(done["reason"], "shutdown");
    // The serial file is appended to (append='on'): the installer's lines stay, and the
    // final boot's come after them.
    let serial = lab.serial(name);
    let installed = serial.find("DOMKIT-INSTALLER: disk written");
    let booted = serial.find("DOMKIT-GUEST: booted from disk");
    assert!(
        installed.is_some() && booted.is_some() && installed < booted,
        "final serial: {serial}"
    );
    assert!(
        !serial[booted.unwrap()..].contains("DOMKIT-INSTALLER"),
        "final serial: {serial}"
    );
}

#[test]
fn cdrom_install_then_boot_from_disk() {
    define_first_flow(Boot::Cdrom);
}

#[test]
fn direct_kernel_install_then_boot_from_disk() {
    define_first_flow(Boot::Kernel);
}

/// `domxml-gen --serial file=PATH` keeps the guest's output in PATH and leaves the console
/// to follow: the install's and the final boot's lines reach the file, appended, and
/// dom-wait-shutdown's --expect and --console-log see them in both boots (issue 16.3).
#[test]
fn a_kept_serial_log_and_console_supervision_work_together() {
    let lab = Lab::start();
    let guest = guest();
    let (name, uuid) = ("keptlog", new_uuid());
    let disk = lab.disk(name);
    let (fin, install) = configs(&lab, &guest, name, &uuid, Boot::Kernel, &disk);
    assert!(
        fin.contains("<serial type='pty'>") && fin.contains("append='on'/>"),
        "{fin}"
    );
    let c = ["-c", lab.uri.as_str()];
    tool("dom-define", &c, &fin).ok();

    let boots = [
        (install.as_str(), "DOMKIT-INSTALLER: disk written"),
        ("", "DOMKIT-GUEST: booted from disk"),
    ];
    for (i, (xml, line)) in boots.into_iter().enumerate() {
        let created = if xml.is_empty() {
            tool("dom-create", &[&c[..], &[name]].concat(), "").ok()
        } else {
            tool("dom-create", &c, xml).ok()
        };
        let console = lab.dir.join(format!("{name}-{i}.console"));
        let waited = tool(
            "dom-wait-shutdown",
            &[
                "--timeout",
                BOOT_DEADLINE,
                "--expect",
                line,
                "--console-log",
                console.to_str().unwrap(),
            ],
            &created.stdout,
        );
        let record = waited.ok().record();
        assert_eq!(record["reason"], "shutdown", "{record}");
        let followed = std::fs::read_to_string(&console).unwrap();
        assert!(followed.contains(line), "boot {i}: console: {followed}");
        assert!(
            lab.serial(name).contains(line),
            "boot {i}: kept log: {}",
            lab.serial(name)
        );
    }
    // One file across both boots: the installer's lines stay, the final boot's follow.
    let serial = lab.serial(name);
    let installed = serial.find("DOMKIT-INSTALLER: disk written").unwrap();
    let booted = serial.find("DOMKIT-GUEST: booted from disk").unwrap();
    assert!(installed < booted, "{serial}");
}

/// What cannot work is said before the waiter attaches: a user's own config whose serial
/// port is a file cannot be followed (libvirt follows only a pty), so --expect is refused
/// in one line with exit 3 and the guest is left alone; --screenshot on a guest without a
/// video device says once that it will write nothing.
#[test]
fn supervision_a_guest_cannot_give_is_said_up_front() {
    let lab = Lab::start();
    let guest = guest();
    let (name, uuid) = ("filecons", new_uuid());
    let disk = lab.disk(name);
    let (fin, install) = configs(&lab, &guest, name, &uuid, Boot::Kernel, &disk);
    let as_file = |xml: &str| {
        xml.replace("<serial type='pty'>", "<serial type='file'>")
            .replace("<log file=", "<source path=")
    };
    let (fin, install) = (as_file(&fin), as_file(&install));
    assert!(fin.contains("<serial type='file'>"), "{fin}");
    let c = ["-c", lab.uri.as_str()];
    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &c, &install).ok();

    let refused = tool(
        "dom-wait-shutdown",
        &["--timeout", BOOT_DEADLINE, "--expect", "disk written"],
        &created.stdout,
    );
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stdout.is_empty(), "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("domain 'filecons': --expect reads the serial console")
            && refused.stderr.contains("its console is type 'file'"),
        "{refused:?}"
    );
    // The guest was left alone: its installer runs on, and its file still gets the output.
    let shot = lab.dir.join("filecons.png");
    let waited = tool(
        "dom-wait-shutdown",
        &[
            "--timeout",
            BOOT_DEADLINE,
            "--screenshot",
            shot.to_str().unwrap(),
        ],
        &created.stdout,
    );
    assert_eq!(waited.code, 0, "{waited:?}");
    assert_eq!(waited.record()["reason"], "shutdown");
    assert_eq!(
        waited.stderr.matches("has no video device").count(),
        1,
        "{waited:?}"
    );
    assert!(!shot.exists());
    assert!(lab.serial(name).contains("DOMKIT-INSTALLER: disk written"));
}

#[test]
fn create_install_first_then_define_final_while_it_runs() {
    let lab = Lab::start();
    let guest = guest();
    let (name, uuid) = ("late", new_uuid());
    let disk = lab.disk(name);
    let (fin, install) = configs(&lab, &guest, name, &uuid, Boot::Cdrom, &disk);
    let c = ["-c", lab.uri.as_str()];

    let created = tool("dom-create", &c, &install).ok().record();
    assert_eq!(
        (created["action"].as_str(), created["persistent"].as_bool()),
        (Some("created-transient"), Some(false))
    );
    let defined = tool("dom-define", &c, &fin).ok().record();
    assert_eq!(defined["action"], "defined-next-boot");
    assert_eq!(defined["persistent"], true);

    let waited = wait_for(&c, &uuid).ok().record();
    assert_eq!(
        (waited["reason"].as_str(), waited["persistent"].as_bool()),
        (Some("shutdown"), Some(true))
    );
    assert!(lab.serial(name).contains("DOMKIT-INSTALLER: disk written"));

    tool("dom-create", &[&c[..], &[name]].concat(), "").ok();
    wait_for(&c, name).ok();
    assert!(lab.serial(name).contains("DOMKIT-GUEST: booted from disk"));
    assert!(!active(&lab.inactive_xml(name)).contains("install.iso"));
}

#[test]
fn a_flow_killed_mid_install_is_finished_by_waiting_and_starting() {
    let lab = Lab::start();
    let guest = guest();
    let (name, uuid) = ("killed", new_uuid());
    let disk = lab.disk(name);
    let (fin, _) = configs(&lab, &guest, name, &uuid, Boot::Cdrom, &disk);
    std::fs::write(lab.dir.join("vm.xml"), fin).unwrap();

    let conn = lab.conn();
    let (tx, rx) = mpsc::channel();
    let _sub = Subscription::new(&conn.connect, tx, 0).unwrap();
    // The whole flow as a user's shell would run it.
    let script = format!(
        "\"$DEFINE\" vm.xml && \"$REWRITE\" --to install vm.xml | \"$CREATE\" | \"$WAIT\" && \"$CREATE\" {name}"
    );
    let mut flow = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&lab.dir)
        .env("LIBVIRT_DEFAULT_URI", &lab.uri)
        .env("DEFINE", bin("dom-define"))
        .env("REWRITE", bin("domxml-rewrite"))
        .env("CREATE", bin("dom-create"))
        .env("WAIT", bin("dom-wait-shutdown"))
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    await_event(&rx, name, Lifecycle::Started);
    // Kill the shell and the tools it started (its process group).
    let pgid = flow.id().to_string();
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = flow.wait();

    // Nothing is lost: the final config is already defined, and the installer runs on.
    let persistent = active(&lab.inactive_xml(name));
    assert!(persistent.contains("<boot dev='hd'/>") && !persistent.contains("install.iso"));
    let c = ["-c", lab.uri.as_str()];
    let waited = wait_for(&c, name).ok().record();
    assert_eq!(waited["reason"], "shutdown");
    assert!(lab.serial(name).contains("DOMKIT-INSTALLER: disk written"));
    tool("dom-create", &[&c[..], &[name]].concat(), "").ok();
    wait_for(&c, name).ok();
    assert!(lab.serial(name).contains("DOMKIT-GUEST: booted from disk"));
}

#[test]
fn a_guest_destroyed_during_install_is_an_abnormal_stop() {
    let lab = Lab::start();
    let guest = guest();
    let (name, uuid) = ("destroyed", new_uuid());
    let disk = lab.disk(name);
    let c = ["-c", lab.uri.as_str()];
    let (fin, install) = configs(&lab, &guest, name, &uuid, Boot::Cdrom, &disk);
    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &c, &install).ok();

    let waiter = Command::new(bin("dom-wait-shutdown"))
        .args(["--timeout", BOOT_DEADLINE])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut waiter = waiter;
    waiter
        .stdin
        .take()
        .unwrap()
        .write_all(created.stdout.as_bytes())
        .unwrap();
    // Whether the waiter sees the destroy as an event or as the state it finds, the
    // verdict is the same.
    lab.conn().lookup(name).unwrap().destroy().unwrap();
    let out = waiter.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert_eq!(run.code, 9, "{run:?}");
    assert_eq!(run.record()["reason"], "destroyed");
    assert!(
        run.stderr
            .contains(&format!("domain '{name}' stopped: destroyed")),
        "{run:?}"
    );
    // Still defined, still final.
    assert!(lab.inactive_xml(name).contains("<boot dev='hd'/>"));
}

#[test]
fn errors_have_their_exit_statuses() {
    let lab = Lab::start();
    let guest = guest();
    let (name, uuid) = ("errs", new_uuid());
    let disk = lab.disk(name);
    let c = ["-c", lab.uri.as_str()];
    let (fin, _) = configs(&lab, &guest, name, &uuid, Boot::Cdrom, &disk);

    let run = tool("dom-create", &[&c[..], &["nosuch"]].concat(), "");
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(
        run.stderr,
        format!("dom-create: {}: domain 'nosuch' not found\n", lab.uri)
    );
    assert_eq!(
        tool("dom-wait-shutdown", &[&c[..], &["nosuch"]].concat(), "").code,
        5
    );

    tool("dom-define", &c, &fin).ok();
    // Paused: running for libvirt, no CPU spent.
    tool("dom-create", &[&c[..], &["--paused", name]].concat(), "").ok();
    let run = tool("dom-create", &[&c[..], &[name]].concat(), "");
    assert_eq!(run.code, 6, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("domain '{name}' is already running")),
        "{run:?}"
    );
    let run = tool("dom-create", &c, &fin);
    assert_eq!(run.code, 6, "{run:?}");

    let clash = fin.replace(&uuid, &new_uuid());
    let run = tool("dom-define", &c, &clash);
    assert_eq!(run.code, 6, "{run:?}");
    assert!(run.stderr.contains(&uuid), "{run:?}");

    let run = tool("dom-define", &c, "<domain type='qemu'><name>x</name>");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.starts_with("dom-define: <stdin>:"), "{run:?}");

    let dead = format!(
        "qemu+unix:///session?socket={}/no-such-sock",
        lab.dir.display()
    );
    for (t, arg) in [
        ("dom-define", "-"),
        ("dom-create", name),
        ("dom-wait-shutdown", name),
    ] {
        let run = tool(t, &["-c", &dead, arg], &fin);
        assert_eq!(run.code, 7, "{t}: {run:?}");
        assert!(run.stderr.contains("cannot connect"), "{run:?}");
    }
    lab.conn().lookup(name).unwrap().destroy().unwrap();
}

#[test]
fn waiting_survives_a_libvirtd_restart() {
    use std::io::{BufRead, BufReader};

    let lab = Lab::start();
    let c = ["-c", lab.uri.as_str()];
    // No disk, no OS: kept paused, the guest costs nothing.
    let bare = |name: &str| {
        format!(
            "<domain type='{}'><name>{name}</name><memory unit='MiB'>64</memory>\
             <os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>\
             <devices><video><model type='none'/></video><memballoon model='none'/></devices>\
             </domain>",
            lab.domtype
        )
    };
    tool("dom-define", &c, &bare("paused")).ok();
    tool("dom-define", &c, &bare("never-run")).ok();
    tool(
        "dom-create",
        &[&c[..], &["--paused", "paused"]].concat(),
        "",
    )
    .ok();

    let mut waiter = Command::new(bin("dom-wait-shutdown"))
        .args([&c[..], &["--timeout", BOOT_DEADLINE, "paused", "never-run"]].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(waiter.stdout.take().unwrap()).lines();
    // The record of the domain that never ran comes once both are watched.
    let first: Value = common::record::record(&lines.next().unwrap().unwrap());
    assert_eq!(
        (first["name"].as_str(), first["action"].as_str()),
        (Some("never-run"), Some("already-stopped"))
    );

    // Stop the daemon under the waiter, then start it again (`start` finds no daemon and
    // also ends the lab's QEMU, so the guest is gone when the daemon comes back).
    stop_daemon_only(&lab);
    common::lab::script("start", &lab.dir);

    let second: Value = common::record::record(&lines.next().unwrap().unwrap());
    assert_eq!(
        (second["name"].as_str(), second["action"].as_str()),
        (Some("paused"), Some("stopped"))
    );
    assert_eq!(second["state"], "shutoff");
    let out = waiter.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Abnormal (neither stopped cleanly), but not a lost connection.
    assert_eq!(out.status.code(), Some(9), "{stderr}");
    assert!(!stderr.contains("connection"), "{stderr}");
}

/// The Makefile of domkit(7) and the README: one rule per guest, since the install state
/// in libvirt makes a re-run safe; `.SECONDARY` keeps make from deleting the stamps.
const MAKEFILE: &str = ".SECONDARY:
%.installed: %.xml
\tdom-define $< >/dev/null
\tdomxml-rewrite --to install $< | dom-create --resume | dom-wait-shutdown --timeout 3600 --idle-timeout 600 >/dev/null
\tdom-create --resume $* >/dev/null
\ttouch $@
";

#[test]
fn make_j_installs_several_guests_and_a_rerun_does_nothing() {
    let lab = Lab::start();
    let guest = guest();
    let names = ["mk1", "mk2"];
    for name in names {
        let disk = lab.disk(name);
        let (fin, _) = configs(&lab, &guest, name, &new_uuid(), Boot::Cdrom, &disk);
        std::fs::write(lab.dir.join(format!("{name}.xml")), fin).unwrap();
    }
    std::fs::write(lab.dir.join("Makefile"), MAKEFILE).unwrap();
    let targets = names.map(|n| format!("{n}.installed"));
    let env = [("LIBVIRT_DEFAULT_URI".to_string(), lab.uri.clone())];
    let make = || make_j2(&lab.dir, &targets, &env);

    let first = make();
    let c = ["-c", lab.uri.as_str()];
    for name in names {
        // make stops after starting the final boot: let it run to its end.
        assert_eq!(wait_for(&c, name).ok().record()["reason"], "shutdown");
        let serial = lab.serial(name);
        assert!(
            serial.contains("DOMKIT-GUEST: booted from disk"),
            "{name}: {serial}"
        );
        assert!(
            lab.dir.join(format!("{name}.installed")).exists(),
            "{first}"
        );
    }
    let again = make();
    assert!(
        !again.contains("dom-"),
        "a re-run must not run the tools again:\n{again}"
    );
}

// --- Install supervision (issue 7) -----------------------------------------------------

/// A direct-kernel lab guest for supervision tests: the installer's kernel command line
/// carries `switches` (tests/lab/guest.sh: domkit.reboots=N, domkit.hang, domkit.fail);
/// `--serial file={name}.serial`: a pty (for the console stream) whose output QEMU also
/// appends to that file in the lab, across boots, so installer runs can be counted; `vnc` adds a
/// display (and so a video device) for screenshots.
fn supervised_configs(
    lab: &Lab,
    guest: &Path,
    name: &str,
    switches: &str,
    vnc: bool,
) -> (String, String) {
    let g = guest.display();
    let disk = format!("{},format=raw", lab.disk(name).display());
    let (kernel, initrd) = (format!("{g}/vmlinuz"), format!("{g}/installer.initrd"));
    let cmdline = format!("console=ttyS0 quiet loglevel=3 no_timer_check {switches}");
    let uuid = new_uuid();
    let serial = format!("file={}", lab.dir.join(format!("{name}.serial")).display());
    let args = [
        "--name",
        name,
        "--uuid",
        &uuid,
        "--type",
        &lab.domtype,
        "--memory",
        "128MiB",
        "--disk",
        &disk,
        "--serial",
        &serial,
        "--graphics",
        if vnc { "vnc" } else { "none" },
        "--kernel",
        &kernel,
        "--initrd",
        &initrd,
        "--cmdline",
        &cmdline,
    ];
    let fin = tool("domxml-gen", &args, "").ok().stdout;
    assert!(
        fin.contains("<log file=") && fin.contains("append='on'"),
        "{fin}"
    );
    let install = tool("domxml-rewrite", &["--to", "install"], &fin)
        .ok()
        .stdout;
    (fin, install)
}

/// How many times the installer started, from the appended serial log.
fn installer_runs(lab: &Lab, name: &str) -> usize {
    lab.serial(name)
        .matches("DOMKIT-INSTALLER: started")
        .count()
}

/// The domain's install state word, from its persistent config.
fn install_state(lab: &Lab, name: &str) -> Option<String> {
    let dom = lab.conn().lookup(name).unwrap();
    domkit::libvirt::install::read(&dom)
        .unwrap()
        .map(|s| s.to_string())
}

#[test]
fn an_installer_that_reboots_twice_finishes_at_its_third_reset() {
    let lab = Lab::start();
    let guest = guest();
    let name = "reboots";
    let (fin, install) = supervised_configs(&lab, &guest, name, "domkit.reboots=2", false);
    // The install config keeps running through resets instead of stopping at the first.
    let install = install.replace(
        "<on_reboot>destroy</on_reboot>",
        "<on_reboot>restart</on_reboot>",
    );
    let c = ["-c", lab.uri.as_str()];
    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &c, &install).ok();
    let log = lab.dir.join("reboots.console");
    let waited = tool(
        "dom-wait-shutdown",
        &[
            "--timeout",
            BOOTS_DEADLINE,
            "--reboots",
            "3",
            "--expect",
            "DOMKIT-INSTALLER: disk written",
            "--console-log",
            log.to_str().unwrap(),
        ],
        &created.stdout,
    )
    .ok()
    .record();
    assert_eq!(
        (waited["reason"].as_str(), waited["state"].as_str()),
        (Some("reboot"), Some("shutoff"))
    );
    let serial = lab.serial(name);
    for boot in ["boot 1", "boot 2", "boot 3", "disk written"] {
        assert!(serial.contains(boot), "{boot}: {serial}");
    }
    assert_eq!(installer_runs(&lab, name), 3, "{serial}");
    let console = std::fs::read_to_string(&log).unwrap();
    assert!(
        console.contains("DOMKIT-INSTALLER: disk written"),
        "{console}"
    );
    assert_eq!(install_state(&lab, name).as_deref(), Some("installed"));
    // The final config boots the installed disk.
    tool("dom-create", &[&c[..], &[name]].concat(), "").ok();
    wait_for(&c, name).ok();
    assert!(lab.serial(name).contains("DOMKIT-GUEST: booted from disk"));
    assert_eq!(installer_runs(&lab, name), 3);
}

#[test]
fn a_hanging_installer_stalls_with_a_screenshot_left_running() {
    let lab = Lab::start();
    let guest = guest();
    let name = "hang";
    let (fin, install) = supervised_configs(&lab, &guest, name, "domkit.hang", true);
    let c = ["-c", lab.uri.as_str()];
    tool("dom-define", &c, &fin).ok();
    tool("dom-create", &c, &install).ok();
    // Booting from an initrd does no disk I/O either: wait until the installer hangs, so
    // the stall measured is the hang's, however slow the boot under load.
    let deadline = Instant::now() + Duration::from_secs(300);
    while !lab.serial(name).contains("waiting for an answer") {
        assert!(Instant::now() < deadline, "the installer never hung");
        std::thread::sleep(Duration::from_millis(100)); // poll interval, not synchronisation
    }
    let shot = lab.dir.join("hang.png");
    let run = tool(
        "dom-wait-shutdown",
        &[
            &c[..],
            &[
                "--timeout",
                BOOT_DEADLINE,
                "--idle-timeout",
                "4",
                "--screenshot",
                shot.to_str().unwrap(),
                name,
            ],
        ]
        .concat(),
        "",
    );
    assert_eq!(run.code, 11, "{run:?}");
    let rec = run.record();
    assert_eq!(
        (rec["reason"].as_str(), rec["action"].as_str()),
        (Some("stalled"), Some("stalled"))
    );
    assert!(
        run.stderr
            .contains("domain 'hang' stalled: no disk or network I/O for 4s"),
        "{run:?}"
    );
    assert_eq!(
        install_state(&lab, name).as_deref(),
        Some("failed (stalled)")
    );
    // Left running for inspection.
    assert!(lab.conn().lookup(name).unwrap().is_active().unwrap());
    // The PNG is a real image: it decodes, with the display's size.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert!(info.width >= 320 && info.height >= 200, "{info:?}");
    lab.conn().lookup(name).unwrap().destroy().unwrap();
}

#[test]
fn an_installer_that_gives_up_is_not_a_finished_install() {
    let lab = Lab::start();
    let guest = guest();
    let c = ["-c", lab.uri.as_str()];
    // domkit.fail: the installer prints "DOMKIT-INSTALLER: FAILED ..." and powers off,
    // a clean stop as far as libvirt can tell.
    let cases: [(&str, &[&str], &str); 2] = [
        ("giveup", &["--expect", "disk written"], "matching --expect"),
        (
            "failon",
            &["--fail-on", "INSTALLER: FAILED"],
            "matching --fail-on",
        ),
    ];
    for (name, flags, said) in cases {
        let (fin, install) = supervised_configs(&lab, &guest, name, "domkit.fail", false);
        tool("dom-define", &c, &fin).ok();
        tool("dom-create", &c, &install).ok();
        let run = tool(
            "dom-wait-shutdown",
            &[&c[..], &["--timeout", BOOT_DEADLINE], flags, &[name]].concat(),
            "",
        );
        assert_eq!(run.code, 9, "{name}: {run:?}");
        assert!(run.stderr.contains(said), "{name}: {run:?}");
        let state = install_state(&lab, name).unwrap();
        assert!(state.starts_with("failed"), "{name}: {state}");
        // A failed install may run again (no --reinstall needed) once it has stopped.
        wait_for(&c, name).ok();
        assert_eq!(tool("dom-create", &c, &install).code, 0);
        let _ = lab.conn().lookup(name).unwrap().destroy();
    }
}

// --- Records stream (issue 16, item 4) ---------------------------------------------------

/// How long one guest of the streaming test may take (two boots under TCG): well past any
/// boot here, and the time a pipeline that reads stdin to its end takes to fail the test.
const STREAM_DEADLINE: Duration = Duration::from_secs(600);

/// `producer | dom-create | dom-wait-shutdown --reboots 2 --expect ...`, the producer being
/// this test: it writes one guest's record, waits until the waiter reports that guest
/// installed (reset twice, its "disk written" line read from the console), and only then
/// writes the next. With tools that read stdin to its end first, the first guest never
/// starts and the test fails at its deadline, saying so.
#[test]
fn records_stream_through_create_and_wait_one_guest_at_a_time() {
    let lab = Lab::start();
    let guest = guest();
    let c = ["-c", lab.uri.as_str()];
    let names = ["stream1", "stream2"];
    for name in names {
        // The persistent config is the installer's, resetting once before it installs and
        // once after: started by name from a record, each reset is the waiter's to count.
        let (_, install) = supervised_configs(&lab, &guest, name, "domkit.reboots=1", false);
        let install = install.replace(
            "<on_reboot>destroy</on_reboot>",
            "<on_reboot>restart</on_reboot>",
        );
        tool("dom-define", &c, &install).ok();
    }
    let mut create = tool_command("dom-create", &c).spawn().unwrap();
    let wait_args = [
        "--timeout",
        BOOTS_DEADLINE,
        "--reboots",
        "2",
        "--expect",
        "DOMKIT-INSTALLER: disk written",
    ];
    let mut waiter = tool_command("dom-wait-shutdown", &[&c[..], &wait_args].concat())
        .stdin(Stdio::from(create.stdout.take().unwrap()))
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter_out = waiter.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(waiter_out).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut producer = create.stdin.take().unwrap();
    for (index, name) in names.iter().enumerate() {
        writeln!(producer, "{{\"name\":\"{name}\"}}").unwrap();
        producer.flush().unwrap();
        let line = rx.recv_timeout(STREAM_DEADLINE).unwrap_or_else(|e| {
            panic!(
                "no record of {name} from dom-wait-shutdown within {STREAM_DEADLINE:?} of its \
                 line, stdin still open: records do not stream ({e})"
            )
        });
        let rec = common::record::records(&line).remove(0);
        assert_eq!(
            (rec["name"].as_str(), rec["reason"].as_str()),
            (Some(*name), Some("reboot")),
            "{line}"
        );
        assert_eq!(installer_runs(&lab, name), 2, "{}", lab.serial(name));
        assert!(lab.serial(name).contains("DOMKIT-INSTALLER: disk written"));
        // The next guest has not been asked for yet: nothing started it.
        if let Some(next) = names.get(index + 1) {
            let dom = lab.conn().lookup(next).unwrap();
            assert!(
                !dom.is_active().unwrap(),
                "{next} started before its record"
            );
        }
    }
    drop(producer);
    let created = create.wait_with_output().unwrap();
    assert!(created.status.success(), "{created:?}");
    let waited = waiter.wait_with_output().unwrap();
    assert_eq!(waited.status.code(), Some(0), "{waited:?}");
}

#[test]
fn the_installer_reads_an_injected_file_and_an_answer_image_found_by_its_label() {
    let lab = Lab::start();
    let guest = guest();
    let name = "answers";
    let c = ["-c", lab.uri.as_str()];
    let path = |file: &str| lab.dir.join(file).display().to_string();
    // Words the guest can only print if it read them from these files.
    let token = new_uuid();
    let message = format!("DOMKIT-INJECTED-{}", &token[24..]);
    let answer = format!("DOMKIT-ANSWER-{}", &token[24..]);
    std::fs::write(path("message.txt"), format!("{message}\n")).unwrap();
    std::fs::write(path("answer.txt"), format!("{answer}\n")).unwrap();

    // dom-media inject: the lab installer's initrd, with /domkit-message added.
    let injected = tool(
        "dom-media",
        &[
            "inject",
            &format!("{}/installer.initrd", guest.display()),
            &format!("{}=/domkit-message", path("message.txt")),
            "-o",
            &path("installer.initrd"),
        ],
        "",
    )
    .ok();
    let injected: Value = serde_json::from_str(&injected.stdout).unwrap();
    // dom-media image: answer.txt on an ISO labelled DOMKIT_ANSWER; its spec attaches it
    // install-only. The cloud kernel has no AHCI driver: a virtio disk instead of a CD.
    let image = tool(
        "dom-media",
        &[
            "image",
            "--label",
            "DOMKIT_ANSWER",
            &path("answer.txt"),
            "-o",
            &path("answer.iso"),
        ],
        "",
    )
    .ok();
    let image: Value = serde_json::from_str(&image.stdout).unwrap();
    let install_disk = image["install-disk"][0].as_str().unwrap();
    assert_eq!(install_disk, format!("{},device=cdrom", path("answer.iso")));
    let answer_disk = install_disk.replace("device=cdrom", "device=disk,bus=virtio,readonly");

    let disk = format!("{},format=raw", lab.disk(name).display());
    let serial = format!("pty,log={}", path("answers.serial"));
    let uuid = new_uuid();
    let kernel = format!("{}/vmlinuz", guest.display());
    let mut args = guest_args(&lab, name, &uuid, &disk, &serial);
    args.extend([
        "--kernel",
        &kernel,
        "--initrd",
        injected["initrd"].as_str().unwrap(),
        "--cmdline",
        "quiet loglevel=3 no_timer_check",
        "--install-disk",
        &answer_disk,
    ]);
    let fin = tool("domxml-gen", &args, "").ok().stdout;
    let install = tool("domxml-rewrite", &["--to", "install"], &fin)
        .ok()
        .stdout;
    assert!(
        !active(&fin).contains("answer.iso"),
        "the final config drops it"
    );
    assert!(install.contains("answer.iso"));
    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &c, &install).ok();
    let waited = tool(
        "dom-wait-shutdown",
        &[
            "--timeout",
            BOOT_DEADLINE,
            "--expect",
            &format!("DOMKIT-INSTALLER: answer on /dev/vdb: {answer}"),
        ],
        &created.stdout,
    );
    let serial = lab.serial(name);
    assert_eq!(waited.code, 0, "{waited:?}\n{serial}");
    assert!(
        serial.contains(&format!("DOMKIT-INSTALLER: injected: {message}")),
        "{serial}"
    );
    assert!(
        serial.contains("DOMKIT-INSTALLER: disk written"),
        "{serial}"
    );
    // The final boot has neither: the disk, with the answer image dropped.
    tool("dom-create", &[&c[..], &[name]].concat(), "").ok();
    wait_for(&c, name).ok();
    assert!(lab.serial(name).contains("DOMKIT-GUEST: booted from disk"));
    assert!(!active(&lab.inactive_xml(name)).contains("answer.iso"));
}

#[test]
fn keys_typed_at_the_cds_boot_prompt_reach_the_installers_command_line() {
    let lab = Lab::start();
    let guest = guest();
    let name = "keys";
    let c = ["-c", lab.uri.as_str()];
    let disk = format!("{},format=raw", lab.disk(name).display());
    let serial = format!("pty,log={}", lab.dir.join("keys.serial").display());
    let uuid = new_uuid();
    let menu = format!("{}/menu.iso", guest.display());
    let mut args = guest_args(&lab, name, &uuid, &disk, &serial);
    args.extend(["--cdrom", &menu]);
    let fin = tool("domxml-gen", &args, "").ok().stdout;
    let install = tool("domxml-rewrite", &["--to", "install"], &fin)
        .ok()
        .stdout;
    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &c, &install).ok();
    // ISOLINUX waits at its prompt for ever: type once it is there (it shows on ttyS0).
    let deadline = Instant::now() + Duration::from_secs(300);
    while !lab.serial(name).contains("boot:") {
        assert!(
            Instant::now() < deadline,
            "no boot: prompt: {}",
            lab.serial(name)
        );
        std::thread::sleep(Duration::from_millis(100)); // poll interval, not synchronisation
    }
    let word = format!("Typed-{}", &new_uuid()[24..]);
    let sent = tool(
        "dom-send-keys",
        &[&format!("install domkit.say={word}<enter>")],
        &created.stdout,
    )
    .ok();
    // The record passes on with dom-create's action, for dom-wait-shutdown.
    assert_eq!(sent.record()["action"], "created-one-off");
    let waited = tool(
        "dom-wait-shutdown",
        &[
            "--timeout",
            BOOT_DEADLINE,
            "--expect",
            &format!("DOMKIT-INSTALLER: said {word}$"),
        ],
        &sent.stdout,
    );
    let serial = lab.serial(name);
    assert_eq!(waited.code, 0, "{waited:?}\n{serial}");
    assert!(
        serial.contains("DOMKIT-INSTALLER: disk written"),
        "{serial}"
    );
    // A sequence with an unknown name types nothing: exit 3 before any connection.
    let refused = tool("dom-send-keys", &[&c[..], &[name, "<entre>"]].concat(), "");
    assert_eq!(refused.code, 3, "{refused:?}");
}

/// `systemctl restart libvirtd` on the lab: SIGTERM to the daemon only, then a new one. The
/// pid changes, and a guest that ran before runs after (the new daemon reconnects to it).
fn restart_daemon(lab: &Lab, running: Option<&str>) {
    let pid = || std::fs::read_to_string(lab.dir.join("libvirtd.pid")).unwrap_or_default();
    let before = pid();
    common::lab::script("restart", &lab.dir);
    assert_ne!(pid().trim(), before.trim(), "libvirtd was not restarted");
    if let Some(name) = running {
        let dom = lab.conn().lookup(name).unwrap();
        assert!(
            dom.is_active().unwrap(),
            "{name} did not survive the restart"
        );
    }
}

/// libvirtd is restarted between every two steps of the documented flow and once while
/// dom-wait-shutdown waits: the install ends installed with nothing lost, its installer ran
/// once, and the final config boots the disk.
///
/// The guest is paused around each restart made while it runs, so that the installer's last
/// line comes after the restart: --expect then proves the console is followed again. A
/// guest that stops while no daemon runs is the next test's.
#[test]
fn the_flow_survives_a_libvirtd_restart_at_every_step() {
    let lab = Lab::start();
    let guest = guest();
    let name = "restarts";
    let (fin, install) = supervised_configs(&lab, &guest, name, "", false);
    let c = ["-c", lab.uri.as_str()];
    let resume = [&c[..], &["--resume"]].concat();
    let pause = |on: bool| {
        let dom = lab.conn().lookup(name).unwrap();
        if on { dom.suspend() } else { dom.resume() }.unwrap();
    };

    tool("dom-define", &c, &fin).ok();
    restart_daemon(&lab, None);

    let created = tool("dom-create", &resume, &install).ok();
    pause(true);
    restart_daemon(&lab, Some(name));

    // The wait, as the flow runs it, reading dom-create's record.
    let (mut waiter, log) = attached_waiter(
        &lab,
        "restarts",
        &["--expect", "DOMKIT-INSTALLER: disk written"],
        &created.stdout,
    );
    restart_daemon(&lab, Some(name));
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "the restart ended the wait"
    );
    pause(false);
    // The console too is followed again on the new daemon: the installer's last line,
    // printed after the restart, is in the log and satisfied --expect.
    stopped_cleanly(waiter, &log, "DOMKIT-INSTALLER: disk written");
    restart_daemon(&lab, None);
    assert_eq!(install_state(&lab, name).as_deref(), Some("installed"));

    // The install step again, as a re-run of the flow does it: skipped, not run twice.
    let again = tool("dom-create", &resume, &install).ok().record();
    assert_eq!(again["action"], "already-installed");
    tool("dom-create", &[&resume[..], &[name]].concat(), "").ok();
    pause(true);
    restart_daemon(&lab, Some(name));
    pause(false);
    assert_eq!(wait_for(&c, name).ok().record()["reason"], "shutdown");

    let serial = lab.serial(name);
    assert_eq!(installer_runs(&lab, name), 1, "{serial}");
    let last = serial.lines().rfind(|l| l.contains("DOMKIT-"));
    assert_eq!(
        last.map(str::trim),
        Some("DOMKIT-GUEST: booted from disk"),
        "{serial}"
    );
    assert_eq!(install_state(&lab, name).as_deref(), Some("installed"));
}

/// SIGTERM to the lab's libvirtd only, returning once it has exited (until then it still
/// answers); its guests run on. `restart` or `start` brings a daemon back.
fn stop_daemon_only(lab: &Lab) {
    let pid = std::fs::read_to_string(lab.dir.join("libvirtd.pid")).unwrap();
    let status = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success());
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while proc_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "libvirtd {} does not exit",
            pid.trim()
        );
        std::thread::sleep(Duration::from_millis(20)); // poll interval, not synchronisation
    }
}

/// Starts the wait as the flow runs it (deadlines, a console log) on dom-create's `record`,
/// with `extra` options, and returns it with its console log once it watches the domain:
/// only then is anything done to the daemon "during the wait" rather than before it.
fn attached_waiter(lab: &Lab, name: &str, extra: &[&str], record: &str) -> (Child, PathBuf) {
    let log = lab.dir.join(format!("{name}.console"));
    let mut args = vec![
        "--timeout",
        BOOT_DEADLINE,
        "--idle-timeout",
        "120",
        "--console-log",
        log.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut waiter = spawn_tool("dom-wait-shutdown", &args, record);
    await_attached(&mut waiter, &log);
    (waiter, log)
}

/// Waits for `waiter` (from `attached_waiter`): it must exit 0 with the guest shut off by
/// a clean shutdown, its --console-log holding `line`.
fn stopped_cleanly(waiter: Child, log: &Path, line: &str) {
    let waited = finish(waiter).ok().record();
    assert_eq!(
        (waited["state"].as_str(), waited["reason"].as_str()),
        (Some("shutoff"), Some("shutdown"))
    );
    let console = std::fs::read_to_string(log).unwrap();
    assert!(console.contains(line), "{console}");
}

/// Returns once `waiter` has created its --console-log file, i.e. has subscribed and looked
/// at its domain.
fn await_attached(waiter: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log.exists() {
        assert!(
            waiter.try_wait().unwrap().is_none(),
            "the waiter ended before it watched"
        );
        assert!(Instant::now() < deadline, "the waiter never attached");
        std::thread::sleep(Duration::from_millis(20)); // poll interval, not synchronisation
    }
}

/// An installer that finishes while no libvirtd runs (a slow restart, a daemon upgrade):
/// QEMU runs with -no-shutdown, so it keeps the guest's stop for the next daemon, which
/// finishes the shutdown and records reason "shutdown". The waiter, attached before the
/// daemon went, reconnects and reports a clean stop, the domain is installed, and the flow
/// run again skips the installer.
#[test]
fn an_install_that_ends_while_libvirtd_is_down_is_installed() {
    let lab = Lab::start();
    let guest = guest();
    let name = "downtime";
    let (fin, install) = supervised_configs(&lab, &guest, name, "", false);
    let c = ["-c", lab.uri.as_str()];
    let resume = [&c[..], &["--resume"]].concat();
    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &resume, &install).ok();
    let (waiter, _) = attached_waiter(&lab, "downtime", &[], &created.stdout);
    stop_daemon_only(&lab);
    // The installer's last line; its reset follows at once and QEMU holds the stopped
    // guest until a daemon comes (were the daemon back first, it would see the stop
    // itself: the result must be the same).
    let deadline = Instant::now() + Duration::from_secs(300);
    while !lab.serial(name).contains("DOMKIT-INSTALLER: disk written") {
        assert!(Instant::now() < deadline, "the installer never finished");
        std::thread::sleep(Duration::from_millis(50)); // poll interval, not synchronisation
    }
    common::lab::script("restart", &lab.dir);
    let waited = finish(waiter).ok().record();
    assert_eq!(
        (waited["state"].as_str(), waited["reason"].as_str()),
        (Some("shutoff"), Some("shutdown"))
    );
    assert_eq!(install_state(&lab, name).as_deref(), Some("installed"));
    let again = tool("dom-create", &resume, &install).ok().record();
    assert_eq!(again["action"], "already-installed");
    tool("dom-create", &[&resume[..], &[name]].concat(), "").ok();
    wait_for(&c, name).ok();
    let serial = lab.serial(name);
    assert_eq!(installer_runs(&lab, name), 1, "{serial}");
    assert!(
        serial.contains("DOMKIT-GUEST: booted from disk"),
        "{serial}"
    );
}

/// The documented flow, as a user's script runs it again after any kill: define, the
/// installer once (skipped when installed, attached to while running), the final boot.
const FLOW: &str = "\"$DEFINE\" vm.xml >/dev/null &&
\"$REWRITE\" --to install vm.xml | \"$CREATE\" --resume | \"$WAIT\" --timeout 300 --idle-timeout 120 >/dev/null &&
\"$CREATE\" --resume \"$NAME\" >/dev/null";

fn flow(lab: &Lab, dir: &Path, name: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", FLOW])
        .current_dir(dir)
        .env("LIBVIRT_DEFAULT_URI", &lab.uri)
        .env("NAME", name)
        .env("DEFINE", bin("dom-define"))
        .env("REWRITE", bin("domxml-rewrite"))
        .env("CREATE", bin("dom-create"))
        .env("WAIT", bin("dom-wait-shutdown"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd
}

/// A small deterministic generator for kill times (no dependency for one number a run).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One run: the flow is SIGKILLed (its whole process group) after `kill_ms`, then run
/// again to its end; the guest must have run its installer exactly once and booted from
/// its disk.
fn killed_run(lab: &Lab, guest: &Path, index: usize, kill_ms: u64) {
    let name = format!("k{index}");
    let dir = lab.dir.join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let (fin, _) = supervised_configs(lab, guest, &name, "", false);
    std::fs::write(dir.join("vm.xml"), fin).unwrap();

    let mut first = flow(lab, &dir, &name).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_millis(kill_ms);
    // Kill at the chosen moment, or let it finish if it is done before.
    let done_early = loop {
        if first.try_wait().unwrap().is_some() {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(10)); // poll interval, not synchronisation
    };
    if !done_early {
        let pgid = format!("-{}", first.id());
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
    }
    let _ = first.wait();

    let again = flow(lab, &dir, &name).output().unwrap();
    assert!(
        again.status.success(),
        "{name} (killed at {kill_ms} ms): re-run failed: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    // The final boot was started (or is done): let it finish.
    let c = ["-c", lab.uri.as_str()];
    wait_for(&c, &name).ok();
    let serial = lab.serial(&name);
    assert_eq!(
        installer_runs(lab, &name),
        1,
        "{name} (killed at {kill_ms} ms): {serial}"
    );
    let last = serial.lines().rfind(|l| l.contains("DOMKIT-"));
    assert_eq!(
        last.map(str::trim),
        Some("DOMKIT-GUEST: booted from disk"),
        "{name} (killed at {kill_ms} ms): {serial}"
    );
    assert_eq!(install_state(lab, &name).as_deref(), Some("installed"));
    let _ = lab.conn().lookup(&name).map(|d| d.undefine());
}

/// A failed lab test keeps its lab folder and prints what explains the failure: here a
/// guest whose QEMU exits at start (its kernel is not one), as QEMU did in the rare
/// "process exited while connecting to monitor" failure of the killed-flow test.
#[test]
fn a_failed_lab_test_keeps_its_folder_and_shows_the_qemu_log() {
    let kept = std::sync::Mutex::new(None);
    let failed = std::panic::catch_unwind(|| {
        let lab = Lab::start();
        *kept.lock().unwrap() = Some(lab.dir.clone());
        let guest = guest();
        let (_, install) = supervised_configs(&lab, &guest, "nokernel", "", false);
        // An initrd where the kernel should be: libvirt starts QEMU, which exits at once.
        let kernel = format!("{}/vmlinuz", guest.display());
        assert!(install.contains(&kernel), "{install}");
        let install = install.replace(&kernel, &format!("{}/installer.initrd", guest.display()));
        let create = tool("dom-create", &["-c", lab.uri.as_str()], &install);
        assert_ne!(create.code, 0, "{create:?}");
        panic!("the failure this test makes on purpose");
    });
    assert!(failed.is_err());
    let dir = kept.into_inner().unwrap().unwrap();
    assert!(
        dir.join("libvirtd.log").exists(),
        "{} is gone",
        dir.display()
    );
    // What the dropped lab printed, made again from the kept folder.
    let text = post_mortem(&dir);
    assert!(
        text.contains("nokernel.log")
            && text.contains("-kernel ")
            && text.contains("shutting down, reason=failed")
            && text.contains("kernel messages"),
        "{text}"
    );
    common::lab::script("stop", &dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SIGKILL at random moments of the flow (a few runs here; DOMKIT_KILL_RUNS=50 for the
/// full count): every run ends with one installer run and a final boot.
#[test]
fn a_flow_killed_anywhere_installs_exactly_once_when_run_again() {
    let runs: usize = std::env::var("DOMKIT_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("DOMKIT_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill seed {seed} (DOMKIT_KILL_SEED to repeat)");
    let lab = Lab::start();
    let guest = guest();
    let mut state = seed;
    // Kill moments spread over the whole flow (~0-15 s under TCG): the first runs kill
    // right at the start, within a tool, and after the installer started.
    let times: Vec<u64> = (0..runs)
        .map(|i| match i {
            0 => 0,
            1 => 150,
            _ => xorshift(&mut state) % 15_000,
        })
        .collect();
    let parallel = 4.min(runs.max(1));
    std::thread::scope(|scope| {
        for lane in 0..parallel {
            let (lab, guest, times) = (&lab, &guest, &times);
            scope.spawn(move || {
                for (index, &ms) in times.iter().enumerate().skip(lane).step_by(parallel) {
                    killed_run(lab, guest, index, ms);
                }
            });
        }
    });
}

/// The lab guest's UEFI configs, made host-aware (`domxml-gen -c`), and a final config
/// booting the disk (shim, GRUB, the kernel). The install: from the CD (its El Torito EFI
/// image) on a q35 machine, or a direct-kernel install (OVMF boots the kernel QEMU hands
/// it) with the install CD attached as install-only media, standing in for a seed.
/// `secure`: secure boot with Microsoft's keys enrolled (shim is signed with them), and
/// 1 GiB: with 256 MiB, GRUB under OVMF's SMM build runs out of memory loading the kernel.
/// Returns (final, install).
fn uefi_configs(
    lab: &Lab,
    guest: &Path,
    name: &str,
    disk: &Path,
    boot: Boot,
    secure: bool,
) -> (String, String) {
    let g = guest.display();
    let (firmware, memory) = if secure {
        (["--secure-boot", "--tpm"], "1GiB")
    } else {
        (["--firmware", "uefi"], "256MiB")
    };
    let mut args = vec![
        "-c".to_string(),
        lab.uri.clone(),
        "--name".into(),
        name.into(),
        firmware[0].into(),
        firmware[1].into(),
        "--memory".into(),
        memory.into(),
        "--disk".into(),
        format!("{},format=raw", disk.display()),
        "--serial".into(),
        format!("file={}", lab.dir.join(format!("{name}.serial")).display()),
        "--graphics".into(),
        "none".into(),
    ];
    match boot {
        Boot::Cdrom => args.extend([
            "--machine".into(),
            "q35".into(),
            "--cdrom".into(),
            format!("{g}/install.iso"),
        ]),
        Boot::Kernel => args.extend([
            "--kernel".into(),
            format!("{g}/vmlinuz"),
            "--initrd".into(),
            format!("{g}/installer.initrd"),
            "--cmdline".into(),
            "console=ttyS0 quiet loglevel=3 no_timer_check".into(),
            "--install-disk".into(),
            format!("{g}/install.iso,device=cdrom"),
        ]),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let fin = tool("domxml-gen", &args, "").ok().stdout;
    let install = tool("domxml-rewrite", &["--to", "install"], &fin)
        .ok()
        .stdout;
    (fin, install)
}

/// Starts defined domain `name` paused (`dom-create --paused`, plus `extra` flags), returns
/// its live XML, resumes it and waits for it to stop.
fn boot_paused(lab: &Lab, name: &str, extra: &[&str]) -> String {
    let c = ["-c", lab.uri.as_str()];
    tool(
        "dom-create",
        &[&c[..], extra, &["--paused", name]].concat(),
        "",
    )
    .ok();
    let dom = lab.conn().lookup(name).unwrap();
    let live = dom.xml_desc(0).unwrap();
    dom.resume().unwrap();
    assert_eq!(wait_for(&c, name).ok().record()["reason"], "shutdown");
    live
}

/// Issue 8: a UEFI install of the lab guest with OVMF, booted from its disk afterwards,
/// the NVRAM kept across the phases (the installer's EFI variable is there at the final
/// boot). `-c` chose the domain type and CPU from the lab's capabilities and added swtpm's
/// TPM by default, which the guest sees; a direct-kernel install has install-only media,
/// so its install phase leaves that TPM out (the guest sees none), and `dom-create
/// --reset-nvram` then starts it with fresh variables. `secure`: the guest finds secure
/// boot enforcing in both phases, and has the TPM asked for with `--tpm` in both.
fn uefi_flow(boot: Boot, secure: bool) {
    let lab = Lab::start();
    let guest = guest();
    let name = match (boot, secure) {
        (Boot::Cdrom, false) => "uefi-cd",
        (Boot::Cdrom, true) => "uefi-secure",
        (Boot::Kernel, _) => "uefi-kernel",
    };
    let disk = lab.disk(name);
    let c = ["-c", lab.uri.as_str()];
    let (fin, install) = uefi_configs(&lab, &guest, name, &disk, boot, secure);
    let sb = if secure { "on" } else { "off" };
    assert!(
        fin.starts_with(&format!("<domain type='{}'>", lab.domtype)),
        "{fin}"
    );
    let cpu = if lab.domtype == "kvm" {
        "host-passthrough"
    } else {
        "maximum"
    };
    assert!(fin.contains(&format!("<cpu mode='{cpu}'")), "{fin}");
    assert!(active(&fin).contains("<os firmware='efi'>"), "{fin}");
    assert!(
        active(&fin).contains("<backend type='emulator' version='2.0'/>"),
        "{fin}"
    );
    let install_tpm = boot == Boot::Cdrom || secure;
    assert_eq!(active(&install).contains("<tpm"), install_tpm, "{install}");

    assert_eq!(
        tool("dom-define", &c, &fin).ok().record()["reason"],
        "defined"
    );
    let created = tool("dom-create", &c, &install).ok();
    tool(
        "dom-wait-shutdown",
        &["--timeout", BOOT_DEADLINE],
        &created.stdout,
    )
    .ok();
    let serial = lab.serial(name);
    let tpm = if install_tpm { "present" } else { "absent" };
    assert!(
        serial.contains(&format!(
            "DOMKIT-INSTALLER: UEFI, secure boot {sb}, TPM {tpm}\r\n\
             DOMKIT-INSTALLER: UEFI, install variable absent"
        )) && serial.contains("DOMKIT-INSTALLER: disk written"),
        "install serial: {serial}"
    );

    // The final boot: OVMF with the same NVRAM, the TPM, the disk's boot loader.
    let live = boot_paused(&lab, name, &[]);
    assert!(live.contains("<nvram") && live.contains("<tpm"), "{live}");
    assert!(
        !active(&live).contains("<kernel>") && !active(&live).contains("install.iso"),
        "{live}"
    );
    let serial = lab.serial(name);
    let after_install = &serial[serial.find("DOMKIT-INSTALLER: disk written").unwrap()..];
    assert!(
        after_install.contains(&format!(
            "DOMKIT-GUEST: UEFI, secure boot {sb}, TPM present\r\n\
             DOMKIT-GUEST: UEFI, install variable present\r\n\
             DOMKIT-GUEST: booted from disk"
        )),
        "final serial: {after_install}"
    );
    if boot == Boot::Cdrom {
        return;
    }

    // A start with fresh variables from the template: the installer's variable is gone.
    let before = serial.len();
    boot_paused(&lab, name, &["--reset-nvram"]);
    let serial = lab.serial(name);
    assert!(
        serial[before..].contains(
            "DOMKIT-GUEST: UEFI, install variable absent\r\nDOMKIT-GUEST: booted from disk"
        ),
        "serial after --reset-nvram: {}",
        &serial[before..]
    );
}

#[test]
fn a_uefi_cdrom_install_keeps_its_nvram_and_boots_from_disk() {
    uefi_flow(Boot::Cdrom, false);
}

/// Secure boot, enforcing: OVMF with Microsoft's keys runs shim, GRUB and the kernel
/// (all signed), for the installer and for the installed guest.
#[test]
fn a_secure_boot_cdrom_install_boots_signed_from_disk() {
    uefi_flow(Boot::Cdrom, true);
}

#[test]
fn a_uefi_direct_kernel_install_with_a_seed_then_reset_nvram() {
    uefi_flow(Boot::Kernel, false);
}

/// Secure boot, enforcing, with a direct-kernel install: OVMF starts the kernel QEMU hands
/// it, although Debian signs its kernel for shim and not with a key in db (edk2's x86
/// loader for QEMU's kernel falls back to the Linux boot protocol where the signature check
/// fails, edk2 bug 2785). The installer finds secure boot on; the final boot is shim's.
#[test]
fn a_secure_boot_direct_kernel_install() {
    uefi_flow(Boot::Kernel, true);
}

/// `domxml-gen -c`: UEFI is refused, in one line, on a host where libvirt finds no UEFI
/// firmware. The lab hides every firmware descriptor from its daemon the way QEMU's
/// firmware spec lets a user do: an empty file of the same name in a folder read first
/// ($XDG_CONFIG_HOME/qemu/firmware), as if ovmf were not installed.
#[test]
fn domxml_gen_c_refuses_uefi_without_firmware() {
    let lab = Lab::start();
    let args = [
        "-c",
        lab.uri.as_str(),
        "--name",
        "nofw",
        "--firmware",
        "uefi",
        "--disk",
        "/var/tmp/nofw.img",
    ];
    let ok = tool("domxml-gen", &args, "").ok();
    assert!(ok.stdout.contains("<os firmware='efi'>"), "{ok:?}");
    let masks = lab.dir.join("cfg/qemu/firmware");
    std::fs::create_dir_all(&masks).unwrap();
    for descriptor in std::fs::read_dir("/usr/share/qemu/firmware").unwrap() {
        std::fs::write(masks.join(descriptor.unwrap().file_name()), "").unwrap();
    }
    let refused = tool("domxml-gen", &args, "");
    assert_eq!(refused.code, 10, "{refused:?}");
    assert!(refused.stdout.is_empty());
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused.stderr.starts_with("domxml-gen: qemu+unix://")
            && refused.stderr.contains("no UEFI firmware")
            && refused.stderr.contains("install ovmf"),
        "{refused:?}"
    );
}

/// `virsh define` then `virsh dumpxml --inactive` on the lab daemon: libvirt re-indents
/// `<metadata>`, re-quotes the profile's attributes, declares ElementTree's `ns0` on
/// `<metadata>` instead of `<domain>`, and fills in defaults such as
/// `<on_reboot>restart</on_reboot>` where a slot records where `<on_reboot>` goes. From
/// what it returns, two swaps, and the way to the other phase and back, give it back byte
/// for byte (the on_reboot slot is recorded again in the form it had, issue 16 item 7).
#[test]
fn profiles_libvirt_stored_still_swap_exactly() {
    use common::respelled::{element_tree, still_swaps_exactly};
    let lab = Lab::start();
    let uuid = new_uuid();
    for (method, flags) in [
        ("cdrom", &["--cdrom", "/var/tmp/café.iso"][..]),
        ("seed", &["--install-disk", "/var/tmp/seed.iso"][..]),
        (
            "kernel",
            &["--kernel", "/var/tmp/k", "--cmdline", "a=1&b=<2>"][..],
        ),
    ] {
        let mut args = vec!["--name", "ns", "--uuid", &uuid, "--type", &lab.domtype];
        args.extend_from_slice(&["--disk", "/var/tmp/ns.img"]);
        args.extend_from_slice(flags);
        let fin = tool("domxml-gen", &args, "").ok().stdout;
        let install = tool("domxml-rewrite", &["--to", "install"], &fin)
            .ok()
            .stdout;
        for (phase, text) in [("final", &fin), ("install", &install)] {
            for (spelling, doc) in [
                ("domxml-gen", text.clone()),
                ("ElementTree", element_tree(text)),
            ] {
                let what = format!("{method} {phase} ({spelling}) | virsh define, dumpxml");
                let file = lab.dir.join("ns.xml");
                std::fs::write(&file, &doc).unwrap();
                lab.virsh(&["define", file.to_str().unwrap()]);
                let dumped = lab.inactive_xml("ns");
                assert_ne!(dumped, doc, "{what}: libvirt kept every byte");
                if phase == "final" {
                    assert!(
                        dumped.contains("<on_reboot>restart</on_reboot>"),
                        "{what}: {dumped}"
                    );
                }
                still_swaps_exactly(&what, &dumped);
                lab.virsh(&["undefine", "ns"]);
            }
        }
    }
}

// --- The remote host (issue 14) --------------------------------------------------------

/// `tests/lab/remote.sh`'s remote host: a private libvirtd run as the user domkit-remote,
/// reached only over ssh (libvirt's libssh2 transport) through a private sshd on
/// 127.0.0.1. The client's own files live in `client/` (root only, the daemon cannot read
/// them); what the daemon uses lives in `d/img/`, its own. Stopped and removed on drop.
struct Remote {
    dir: PathBuf,
    /// The URI that names the lab's key and known_hosts files: for `-c` and
    /// LIBVIRT_DEFAULT_URI (a record may not carry it).
    uri: String,
    /// The URI without files, as records may carry it: it works under `env`.
    plain_uri: String,
    /// HOME and XDG_CONFIG_HOME under which libvirt finds the lab's key and known hosts.
    env: Vec<(String, String)>,
    domtype: String,
}

impl Remote {
    fn start() -> Remote {
        let dir = common::lab::folder("dr");
        let uri = script("remote.sh", "start", &dir);
        let plain_uri = script("remote.sh", "plain-uri", &dir);
        let env = script("remote.sh", "env", &dir)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let domtype = script("remote.sh", "domtype", &dir);
        Remote {
            dir,
            uri,
            plain_uri,
            env,
            domtype,
        }
    }

    /// A path on the remote host's disk, in the daemon's own folder.
    fn img(&self, name: &str) -> PathBuf {
        self.dir.join("d/img").join(name)
    }

    /// A path in the client's folder, which the remote daemon cannot read.
    fn client(&self, name: &str) -> PathBuf {
        self.dir.join("client").join(name)
    }

    /// Gives a file on the remote host's disk to the daemon's user.
    fn own(&self, path: &Path) {
        let status = Command::new("chown")
            .arg("domkit-remote:")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// TEST SET-UP, NOT THE FLOW: puts the guest's install media on the remote host by
    /// copying them into the daemon's folder, as an admin of that host would. This is the
    /// seam for `dom-vol upload` (issue 14, the vol half), which sends them through the
    /// libvirt connection instead; the flow after it does not change.
    fn place_media(&self, guest: &Path) {
        for file in ["install.iso", "vmlinuz", "installer.initrd"] {
            let to = self.img(file);
            std::fs::copy(guest.join(file), &to).unwrap();
            self.own(&to);
        }
    }

    /// TEST SET-UP, the seam for `dom-vol create`: a fresh, empty 64 MiB raw disk on the
    /// remote host.
    fn disk(&self, name: &str) -> PathBuf {
        let path = self.img(&format!("{name}.raw"));
        std::fs::File::create(&path)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        self.own(&path);
        path
    }

    /// A new connection over ssh (each one is an ssh session of its own).
    fn conn(&self) -> Conn {
        Conn::open(Some(&self.uri), false).unwrap()
    }

    fn pause(&self, name: &str, on: bool) {
        let dom = self.conn().lookup(name).unwrap();
        if on { dom.suspend() } else { dom.resume() }.unwrap();
    }

    /// `systemctl restart libvirtd` on the remote host: its guests run on.
    fn restart(&self) {
        let pid = || std::fs::read_to_string(self.dir.join("d/libvirtd.pid")).unwrap_or_default();
        let before = pid();
        script("remote.sh", "restart", &self.dir);
        assert_ne!(pid().trim(), before.trim(), "libvirtd was not restarted");
    }

    /// How many ssh logins the host's sshd has accepted so far (its log).
    fn logins(&self) -> usize {
        std::fs::read_to_string(self.dir.join("ssh/sshd.log"))
            .unwrap_or_default()
            .matches("Accepted publickey for domkit-remote")
            .count()
    }

    /// What the guest wrote to its serial log on the remote host's disk: the test's look
    /// at that host, as its admin's, not part of the flow.
    fn serial(&self, name: &str) -> String {
        std::fs::read_to_string(self.img(&format!("{name}.serial"))).unwrap_or_default()
    }

    fn install_state(&self, name: &str) -> Option<String> {
        let dom = self.conn().lookup(name).unwrap();
        domkit::libvirt::install::read(&dom)
            .unwrap()
            .map(|s| s.to_string())
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        script("remote.sh", "stop", &self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The lab guest's two configs for the remote host, by `domxml-gen -c` over ssh (no
/// `--type`: the host's capabilities decide) from paths on that host; `iso` replaces
/// the install CD's path. Serial port 0 is a pty, so the console reaches the client over
/// the connection, and QEMU also appends it to `d/img/NAME.serial` on the host.
fn remote_configs(remote: &Remote, name: &str, boot: Boot, iso: Option<&Path>) -> (String, String) {
    let disk = remote.disk(name);
    let serial = format!(
        "pty,log={}",
        remote.img(&format!("{name}.serial")).display()
    );
    let mut media = Media::in_dir(&remote.img(""));
    if let Some(iso) = iso {
        media.iso = iso.to_path_buf();
    }
    let uuid = new_uuid();
    let guest = LabGuest {
        name,
        uuid: &uuid,
        disk: &disk,
        serial: &serial,
        media,
    };
    let (fin, install) = guest.configs(boot, &["-c", &remote.uri]);
    // The host chose the domain type: TCG here unless its user may open /dev/kvm.
    assert!(
        fin.contains(&format!("<domain type='{}'", remote.domtype)),
        "{fin}"
    );
    (fin, install)
}

/// The installed guest started by `dom-create ARGS NAME` on the remote host boots from
/// its disk and shuts down cleanly, the console followed over ssh.
fn boots_from_disk(remote: &Remote, args: &[&str], name: &str) {
    let started = tool("dom-create", &[args, &[name]].concat(), "").ok();
    assert_eq!(started.record()["action"], "started");
    let line = "DOMKIT-GUEST: booted from disk";
    let (waiter, log) = remote_waiter(remote, name, line, &started.stdout);
    stopped_cleanly(waiter, &log, line);
}

/// The wait of the flow on the remote host, `-c` over ssh, following the console into
/// the client's folder, started and attached.
fn remote_waiter(remote: &Remote, name: &str, expect: &str, record: &str) -> (Child, PathBuf) {
    let log = remote.client(&format!("{name}.console"));
    let args = [
        "-c",
        remote.uri.as_str(),
        "--timeout",
        BOOT_DEADLINE,
        "--expect",
        expect,
        "--console-log",
        log.to_str().unwrap(),
    ];
    let mut waiter = spawn_tool("dom-wait-shutdown", &args, record);
    await_attached(&mut waiter, &log);
    (waiter, log)
}

/// The documented flow on a host reached over ssh, from generating to booting from disk,
/// with its libvirtd restarted between the steps (once while the installer runs). The
/// daemon cannot read the client's files: a config naming one fails at start.
#[test]
fn the_flow_runs_on_an_ssh_host_across_daemon_restarts() {
    let remote = Remote::start();
    let guest = guest();
    remote.place_media(&guest);
    let c = ["-c", remote.uri.as_str()];
    let resume = [&c[..], &["--resume"]].concat();

    // A host whose key is not the one known is refused: the host key is verified.
    let wrong = remote.client("wrong_known_hosts");
    let port = remote
        .uri
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let other_key = std::fs::read_to_string(remote.client(".ssh/id_ed25519.pub")).unwrap();
    let other_key: Vec<&str> = other_key.split(' ').take(2).collect();
    std::fs::write(
        &wrong,
        format!("[127.0.0.1]:{port} {}\n", other_key.join(" ")),
    )
    .unwrap();
    let (base, _) = remote.uri.split_once("&known_hosts=").unwrap();
    let impostor = format!("{base}&known_hosts={}", wrong.display());
    let refused = tool("dom-define", &["-c", &impostor], "<domain/>");
    assert_eq!(refused.code, 7, "{refused:?}");
    assert!(
        refused.stderr.contains("HOST KEY VERIFICATION FAILED"),
        "{refused:?}"
    );

    // The client's own copy of the ISO is not the host's: refused at start, in one line.
    let mine = remote.client("install.iso");
    std::fs::copy(guest.join("install.iso"), &mine).unwrap();
    let (fin, install) = remote_configs(&remote, "clientpath", Boot::Cdrom, Some(&mine));
    tool("dom-define", &c, &fin).ok();
    let refused = tool("dom-create", &c, &install);
    assert_eq!(refused.code, 10, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused.stderr.contains("Permission denied")
            && refused.stderr.contains(&mine.display().to_string()),
        "{refused:?}"
    );

    let name = "rflow";
    let (fin, install) = remote_configs(&remote, name, Boot::Cdrom, None);
    let defined = tool("dom-define", &c, &fin).ok().record();
    assert_eq!(defined["uri"], remote.uri.as_str());
    remote.restart();

    let created = tool("dom-create", &resume, &install).ok();
    assert_eq!(created.record()["action"], "created-one-off");
    remote.pause(name, true);
    remote.restart();
    let (waiter, log) = remote_waiter(
        &remote,
        name,
        "DOMKIT-INSTALLER: disk written",
        &created.stdout,
    );
    remote.pause(name, false);
    // The console came over ssh into the client's folder.
    stopped_cleanly(waiter, &log, "DOMKIT-INSTALLER: disk written");
    remote.restart();
    assert_eq!(remote.install_state(name).as_deref(), Some("installed"));

    boots_from_disk(&remote, &resume, name);
    assert_eq!(
        remote
            .serial(name)
            .matches("DOMKIT-INSTALLER: started")
            .count(),
        1
    );
}

/// The documented flow on a host reached over ssh from the client's local files only: the
/// disk made and the kernel, initrd and ISO uploaded by `dom-vol` into the host's default
/// pool (which its admin made: a session daemon's home is not known through libvirt), the
/// configs generated by `domxml-gen -c` from dom-vol's records, the guest defined,
/// installed, waited on and booted from its volume disk; the install-only volumes deleted
/// afterwards, and the final config names none of them. Nothing is copied to the host by
/// the test.
#[test]
fn the_flow_runs_on_an_ssh_host_from_local_files_through_dom_vol() {
    let remote = Remote::start();
    let guest = guest();
    let c = ["-c", remote.uri.as_str()];
    let name = "rvol";
    let pool = remote.dir.join("d/pool");
    let file = |f: &str| guest.join(f).to_str().unwrap().to_string();
    let mut records = String::new();
    for args in [
        vec![
            "create", "--name", "rvol.img", "--size", "64MiB", "--for", "disk",
        ],
        vec![
            "upload",
            &file("vmlinuz"),
            "--name",
            "rvol-vmlinuz",
            "--for",
            "kernel",
        ],
        vec![
            "upload",
            &file("installer.initrd"),
            "--name",
            "rvol-initrd",
            "--for",
            "initrd",
        ],
        vec!["upload", &file("install.iso"), "--for", "install-disk"],
    ] {
        let rec = remote_vol(&remote, &args);
        assert_eq!(rec["pool"], "default", "{rec}");
        assert!(
            rec["path"]
                .as_str()
                .unwrap()
                .starts_with(pool.to_str().unwrap()),
            "{rec}"
        );
        records.push_str(&serde_json::to_string(&rec).unwrap());
        records.push('\n');
    }
    let serial = format!("file={}", remote.img(&format!("{name}.serial")).display());
    let fin = tool(
        "domxml-gen",
        &[
            &c[..],
            &[
                "--spec",
                "-",
                "--name",
                name,
                "--memory",
                "256MiB",
                "--serial",
                &serial,
                "--graphics",
                "none",
                "--cmdline",
                "console=ttyS0 quiet loglevel=3 no_timer_check",
            ],
        ]
        .concat(),
        &records,
    )
    .ok()
    .stdout;
    // The host chose the domain type; the disk is the volume; the kernel its host path.
    assert!(
        fin.contains(&format!("<domain type='{}'", remote.domtype)),
        "{fin}"
    );
    assert!(
        fin.contains("<source pool='default' volume='rvol.img'/>"),
        "{fin}"
    );
    let kernel = pool.join("rvol-vmlinuz");
    assert!(
        fin.contains(&format!("<kernel>{}</kernel>", kernel.display())),
        "{fin}"
    );
    let install = tool("domxml-rewrite", &["--to", "install"], &fin)
        .ok()
        .stdout;
    assert!(install.contains("volume='install.iso'"), "{install}");

    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &c, &install).ok();
    let (waiter, log) = remote_waiter(
        &remote,
        name,
        "DOMKIT-INSTALLER: disk written",
        &created.stdout,
    );
    stopped_cleanly(waiter, &log, "DOMKIT-INSTALLER: disk written");
    assert_eq!(remote.install_state(name).as_deref(), Some("installed"));

    // The install-only volumes go, with their stamps; the shared ISO stays.
    for v in ["default/rvol-vmlinuz", "default/rvol-initrd"] {
        let gone = remote_vol(&remote, &["delete", v]);
        assert_eq!(gone["action"], "deleted", "{gone}");
    }
    let vols = remote_volumes(&remote);
    assert!(vols.contains(&"install.iso".to_string()), "{vols:?}");
    assert!(vols.contains(&"rvol.img".to_string()), "{vols:?}");
    assert!(!vols.iter().any(|v| v.starts_with("rvol-")), "{vols:?}");
    // The final config, as the host keeps it, names no deleted volume in what it boots.
    let persistent = common::lab::virsh(&remote.uri, &["dumpxml", "--inactive", name]);
    assert!(!active(&persistent).contains("rvol-"), "{persistent}");

    boots_from_disk(&remote, &c, name);
}

/// `dom-vol -c URI ARGS` on the remote host, which must succeed: its one volume record
/// (dom-vol's own kind, not the domain records of doc/record.schema.json).
fn remote_vol(remote: &Remote, args: &[&str]) -> Value {
    let run = tool(
        "dom-vol",
        &[&["-c", remote.uri.as_str()], args].concat(),
        "",
    )
    .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{run:?}");
    serde_json::from_str(lines[0]).unwrap()
}

/// The names of the remote host's default pool's volumes, by virsh over ssh.
fn remote_volumes(remote: &Remote) -> Vec<String> {
    let mut names: Vec<String> = common::lab::virsh(&remote.uri, &["vol-list", "default"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The ssh connection is cut while `dom-vol upload` sends a file to the ssh host (the
/// upload seen in flight by its `.dk-partial` stamp volume): the upload fails, the volume
/// is left marked unfinished and never stamped complete, and the re-run sends it again
/// and stamps it complete, its bytes the file's.
#[test]
fn an_upload_cut_off_by_the_ssh_connection_completes_when_run_again() {
    let remote = Remote::start();
    let image = remote.client("big.img");
    // 2 GiB holding 512 MiB of data: the upload is still sending when the cut lands.
    let file = std::fs::File::create(&image).unwrap();
    file.set_len(2 << 30).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let chunk: Vec<u8> = (0..1 << 20).map(|_| xorshift(&mut state) as u8).collect();
    for mib in 0..512u64 {
        let mut data = chunk.clone();
        data[..8].copy_from_slice(&mib.to_le_bytes());
        std::os::unix::fs::FileExt::write_all_at(&file, &data, (mib * 4) << 20).unwrap();
    }
    drop(file);
    let image_arg = image.to_str().unwrap();
    let upload = spawn_tool("dom-vol", &["-c", &remote.uri, "upload", image_arg], "");
    let partial = "big.img.dk-partial".to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !remote_volumes(&remote).contains(&partial) {
        assert!(Instant::now() < deadline, "the upload never began");
        std::thread::sleep(Duration::from_millis(20)); // poll interval, not synchronisation
    }
    let cut: usize = script("remote.sh", "cut", &remote.dir).parse().unwrap();
    assert!(cut >= 1, "no ssh connection to cut");
    let failed = finish(upload);
    assert_ne!(
        failed.code, 0,
        "the upload finished before the cut: {failed:?}"
    );
    assert!(failed.stdout.is_empty(), "{failed:?}");
    assert_eq!(failed.stderr.lines().count(), 1, "{failed:?}");
    let vols = remote_volumes(&remote);
    assert!(vols.contains(&partial), "{vols:?}");
    assert!(!vols.iter().any(|v| v.contains("dk-sha256")), "{vols:?}");

    let rerun = remote_vol(&remote, &["upload", image_arg]);
    assert_eq!(rerun["action"], "uploaded", "{rerun}");
    assert_eq!(rerun["capacity"], 2u64 << 30);
    let vols = remote_volumes(&remote);
    assert!(!vols.contains(&partial), "{vols:?}");
    assert_eq!(
        vols.iter()
            .filter(|v| v.starts_with("big.img.dk-sha256-"))
            .count(),
        1,
        "{vols:?}"
    );
    // The host admin's look: the volume holds the file's bytes.
    let same = Command::new("cmp")
        .arg("-s")
        .arg(&image)
        .arg(remote.dir.join("d/pool/big.img"))
        .status()
        .unwrap();
    assert!(same.success(), "the re-run's volume differs from the file");
    // A third run finds it complete and sends nothing.
    assert_eq!(
        remote_vol(&remote, &["upload", image_arg])["action"],
        "exists"
    );
}

/// The ssh connection of the waiter is cut while the installer runs (its sshd session
/// killed, as a network drop or an sshd restart would): the waiter reconnects, follows
/// the console again and reports the installer's clean stop.
#[test]
fn the_waiter_reconnects_when_its_ssh_connection_is_cut() {
    let remote = Remote::start();
    let guest = guest();
    remote.place_media(&guest);
    let name = "rcut";
    let (fin, install) = remote_configs(&remote, name, Boot::Kernel, None);
    let c = ["-c", remote.uri.as_str()];
    tool("dom-define", &c, &fin).ok();
    let created = tool("dom-create", &c, &install).ok();
    // Paused, the installer cannot finish before the cut: its stop comes after.
    remote.pause(name, true);
    let (mut waiter, log) = remote_waiter(
        &remote,
        name,
        "DOMKIT-INSTALLER: disk written",
        &created.stdout,
    );
    // Every connection is cut: the waiter's (and the test's, from the pause, if its ssh
    // session has not ended yet).
    let logins = remote.logins();
    let cut: usize = script("remote.sh", "cut", &remote.dir).parse().unwrap();
    assert!(cut >= 1, "no ssh connection to cut");
    // The waiter reconnects: a new ssh login (nothing else logs in now), while it waits.
    let deadline = Instant::now() + Duration::from_secs(120);
    while remote.logins() == logins {
        assert!(
            waiter.try_wait().unwrap().is_none(),
            "the cut ended the wait"
        );
        assert!(Instant::now() < deadline, "the waiter did not reconnect");
        std::thread::sleep(Duration::from_millis(50)); // poll interval, not synchronisation
    }
    remote.pause(name, false);
    stopped_cleanly(waiter, &log, "DOMKIT-INSTALLER: disk written");
    assert_eq!(remote.install_state(name).as_deref(), Some("installed"));
}

/// The README's Makefile, one rule per guest, over two hosts: each guest's host is its
/// target's LIBVIRT_DEFAULT_URI. The stamp is the final boot's record, so that one
/// `dom-wait-shutdown` then reads the records of both hosts.
const MULTI_HOST_MAKEFILE: &str = ".SECONDARY:
.DELETE_ON_ERROR:
local.installed: export LIBVIRT_DEFAULT_URI = $(LOCAL)
remote.installed: export LIBVIRT_DEFAULT_URI = $(REMOTE)
%.installed: %.xml
\tdom-define $< >/dev/null
\tdomxml-rewrite --to install $< | dom-create --resume | dom-wait-shutdown --timeout 3600 --idle-timeout 600 >/dev/null
\tdom-create --resume $* > $@
";

/// Multi-host: `make -j2` installs one guest on the local lab daemon and one on the ssh
/// host at once, and one `dom-wait-shutdown`, without `-c`, waits for both final boots
/// from their records (each names its host; the ssh one without key files, which the
/// environment supplies as `~/.ssh` and `~/.config/libvirt/known_hosts` would).
#[test]
fn make_j_installs_on_two_hosts_and_one_waiter_reads_both() {
    let lab = Lab::start();
    let remote = Remote::start();
    let guest = guest();
    remote.place_media(&guest);
    let work = remote.client("");
    let (local_xml, _) = configs(
        &lab,
        &guest,
        "local",
        &new_uuid(),
        Boot::Cdrom,
        &lab.disk("local"),
    );
    std::fs::write(work.join("local.xml"), local_xml).unwrap();
    let (remote_xml, _) = remote_configs(&remote, "remote", Boot::Kernel, None);
    std::fs::write(work.join("remote.xml"), remote_xml).unwrap();
    std::fs::write(work.join("Makefile"), MULTI_HOST_MAKEFILE).unwrap();

    let args = [
        "local.installed".to_string(),
        "remote.installed".to_string(),
        format!("LOCAL={}", lab.uri),
        format!("REMOTE={}", remote.plain_uri),
    ];
    let make = || make_j2(&work, &args, &remote.env);
    make();

    let records = ["local", "remote"]
        .map(|n| std::fs::read_to_string(work.join(format!("{n}.installed"))).unwrap())
        .concat();
    let mut one = Command::new(bin("dom-wait-shutdown"));
    one.args(["--timeout", BOOT_DEADLINE])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .envs(remote.env.iter().map(|(k, v)| (k, v)));
    let waited = finish(spawn_with_stdin(one, &records));
    assert_eq!(waited.code, 0, "{waited:?}");
    let mut by_host: Vec<(String, String, String)> = waited
        .records()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["uri"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    by_host.sort();
    assert_eq!(
        by_host,
        [
            ("local".into(), lab.uri.clone(), "shutdown".into()),
            ("remote".into(), remote.plain_uri.clone(), "shutdown".into()),
        ]
    );
    // The same records with the URI that names the key files: refused without -c, in one
    // line, before any connection (a record may not choose local files).
    let mut refused = Command::new(bin("dom-wait-shutdown"));
    refused.env_remove("LIBVIRT_DEFAULT_URI");
    let with_files = records.replace(&remote.plain_uri, &remote.uri);
    let refused = finish(spawn_with_stdin(refused, &with_files));
    assert_eq!(refused.code, 3, "{refused:?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("parameter 'keyfile' names a local file"),
        "{refused:?}"
    );
    for serial in [lab.serial("local"), remote.serial("remote")] {
        assert_eq!(
            serial.matches("DOMKIT-INSTALLER: started").count(),
            1,
            "{serial}"
        );
        assert!(
            serial.contains("DOMKIT-GUEST: booted from disk"),
            "{serial}"
        );
    }
    let again = make();
    assert!(
        !again.contains("dom-"),
        "a re-run must not run the tools again:\n{again}"
    );
}

/// `make -j2 -C DIR ARGS` with the tools first in PATH, no LIBVIRT_DEFAULT_URI but what
/// `env` sets; fails the test unless make succeeds; its output.
fn make_j2(dir: &Path, args: &[String], env: &[(String, String)]) -> String {
    let bindir = Path::new(bin("dom-define")).parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("make")
        .arg("-j2")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("PATH", &path)
        .env_remove("LIBVIRT_DEFAULT_URI")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make failed:\n{log}");
    log
}
