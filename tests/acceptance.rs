//! The CI-sized smoke test of `make acceptance`: its scripts parse (and pass shellcheck
//! when it is installed), refuse bad arguments without touching anything, the FAI config
//! space is complete and consistent with the scripts, and the cloud image's mmdebstrap
//! command and customize hook do what the installs rely on. Nothing here downloads or
//! boots anything; the real installs are `make acceptance`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config_space() -> PathBuf {
    repo().join("tests/acceptance/fai/config")
}

/// The acceptance scripts written for this project (not FAI's own example scripts).
const SCRIPTS: &[&str] = &[
    "tests/acceptance/run.sh",
    "tests/acceptance/fai-iso.sh",
    "tests/acceptance/cloud-image.sh",
    "tests/acceptance/cloud/customize.sh",
    "scripts/deps-acceptance.sh",
    "tests/acceptance/fai/config/class/50-host-classes",
    "tests/acceptance/fai/config/hooks/updatebase.DOMKIT",
    "tests/acceptance/fai/config/scripts/DOMKIT/10-system",
    "tests/acceptance/fai/config/scripts/DOMKIT/20-serial-console",
    "tests/acceptance/fai/config/scripts/DOMKIT/30-boot-marker",
];

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The shell a script names on its first line, if it is a shell script.
fn shell_of(path: &Path) -> Option<&'static str> {
    let first = fs::read_to_string(path).ok()?.lines().next()?.to_owned();
    if !first.starts_with("#!") {
        None
    } else if first.contains("bash") {
        Some("bash")
    } else if first.ends_with("/sh") {
        Some("sh")
    } else {
        None
    }
}

#[test]
fn every_acceptance_and_fai_script_parses() {
    let mut all: Vec<PathBuf> = SCRIPTS.iter().map(|s| repo().join(s)).collect();
    all.extend(files(&config_space()));
    let mut checked = 0;
    for path in all {
        let Some(shell) = shell_of(&path) else {
            continue;
        };
        let out = run(Command::new(shell).arg("-n").arg(&path));
        assert!(
            out.status.success(),
            "{shell} -n {}: {}",
            path.display(),
            text(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= SCRIPTS.len(), "only {checked} scripts checked");
}

#[test]
fn acceptance_scripts_pass_shellcheck_when_installed() {
    if run(Command::new("sh").args(["-c", "command -v shellcheck"]))
        .status
        .code()
        != Some(0)
    {
        eprintln!("shellcheck is not installed (scripts/deps-acceptance.sh): skipped");
        return;
    }
    for script in SCRIPTS {
        let out = run(Command::new("shellcheck")
            .args(["-x", "-S", "warning"])
            .arg(repo().join(script)));
        assert!(
            out.status.success(),
            "shellcheck {script}:\n{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn scripts_refuse_bad_arguments_with_a_usage_line_and_status_2() {
    let scratch = std::env::temp_dir().join(format!("domkit-acc-args-{}", std::process::id()));
    let cases: &[(&str, &[&str])] = &[
        ("tests/acceptance/run.sh", &[]),
        ("tests/acceptance/run.sh", &["floppy"]),
        ("tests/acceptance/run.sh", &["cdrom", "--fast"]),
        ("tests/acceptance/fai-iso.sh", &[]),
        ("tests/acceptance/fai-iso.sh", &["--force"]),
        ("tests/acceptance/fai-iso.sh", &["a", "b"]),
        ("tests/acceptance/cloud-image.sh", &[]),
        ("tests/acceptance/cloud-image.sh", &["--print-command"]),
        ("tests/acceptance/cloud-image.sh", &["--bogus", "x"]),
    ];
    for (script, args) in cases {
        let out = run(Command::new(repo().join(script))
            .args(*args)
            .env("DOMKIT_ACCEPTANCE_LAB", &scratch)
            .env("DOMKIT_ACCEPTANCE_CACHE", &scratch));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{script} {args:?}: {stderr}");
        assert!(
            stderr.starts_with("usage: ") && stderr.lines().count() == 1,
            "{script} {args:?}: want one usage line, got {stderr:?}"
        );
        assert!(out.stdout.is_empty(), "{script} {args:?} printed on stdout");
    }
    assert!(
        !scratch.exists(),
        "a refused run created {}",
        scratch.display()
    );
}

#[test]
fn fai_config_space_is_complete_and_executable() {
    let cs = config_space();
    // FAI runs class scripts, hooks and configure scripts only if they are executable.
    for dir in ["class", "hooks", "scripts"] {
        for path in files(&cs.join(dir)) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".var") {
                continue;
            }
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert!(mode & 0o111 != 0, "{} is not executable", path.display());
        }
    }
    // Every host gets the classes whose files the install needs.
    let out = run(&mut Command::new(cs.join("class/50-host-classes")));
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "FAIBASE DEBIAN DOMKIT");
    let iso_script = fs::read_to_string(repo().join("tests/acceptance/fai-iso.sh")).unwrap();
    for class in ["FAIBASE", "DEBIAN", "DOMKIT", "GRUB_PC"] {
        assert!(
            iso_script.contains(class),
            "fai-iso.sh's fai-mirror classes miss {class}"
        );
    }
    // One ext4 partition, a kernel and a boot loader.
    let disk = fs::read_to_string(cs.join("disk_config/DOMKIT")).unwrap();
    let parts: Vec<&str> = disk
        .lines()
        .filter(|l| l.starts_with("primary") || l.starts_with("logical"))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert!(parts[0].split_whitespace().nth(1) == Some("/") && parts[0].contains("ext4"));
    let packages = fs::read_to_string(cs.join("package_config/DOMKIT")).unwrap();
    assert!(packages.contains("PACKAGES install"));
    assert!(packages.lines().any(|l| l.starts_with("linux-image-")));
    assert!(packages.lines().any(|l| l == "grub-pc"));
    // The installed system's marker is the one run.sh waits for, printed on ttyS0, and its
    // GRUB talks on the serial console.
    let marker = fs::read_to_string(cs.join("scripts/DOMKIT/30-boot-marker")).unwrap();
    let runner = fs::read_to_string(repo().join("tests/acceptance/run.sh")).unwrap();
    assert!(
        marker.contains("DOMKIT-ACCEPTANCE: booted from disk") && marker.contains("/dev/ttyS0")
    );
    assert!(runner.contains("readonly MARKER='DOMKIT-ACCEPTANCE: booted from disk'"));
    let serial = fs::read_to_string(cs.join("scripts/DOMKIT/20-serial-console")).unwrap();
    assert!(serial.contains("GRUB_CMDLINE_LINUX=\"console=ttyS0"));
    // The installer reboots at the end (the install config turns that into a stop) and
    // talks on the serial console.
    assert!(
        iso_script.contains("FAI_FLAGS=verbose,reboot") && iso_script.contains("console=ttyS0")
    );
}

#[test]
fn fai_disk_config_passes_setup_storage_syntax_check_when_installed() {
    if !Path::new("/usr/sbin/setup-storage").exists() {
        eprintln!("setup-storage is not installed (scripts/deps-acceptance.sh): skipped");
        return;
    }
    let logdir = std::env::temp_dir().join(format!("domkit-acc-ss-{}", std::process::id()));
    fs::create_dir_all(&logdir).unwrap();
    let out = run(Command::new("/usr/sbin/setup-storage")
        .arg("-s")
        .arg("-f")
        .arg(config_space().join("disk_config/DOMKIT"))
        .arg("-L")
        .arg(&logdir)
        .env("disklist", "vda"));
    fs::remove_dir_all(&logdir).ok();
    assert!(
        out.status.success(),
        "setup-storage -s: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn cloud_image_command_is_minbase_with_kernel_cloud_init_and_the_hook() {
    let out = run(Command::new(repo().join("tests/acceptance/cloud-image.sh"))
        .args(["--print-command", "/nonexistent/out"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let args: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(args[0], "mmdebstrap");
    assert!(args.contains(&"--variant=minbase".to_owned()), "{args:?}");
    let include = args
        .iter()
        .find_map(|a| a.strip_prefix("--include="))
        .expect("--include");
    for pkg in [
        "linux-image-cloud-amd64",
        "cloud-init",
        "systemd-sysv",
        "udev",
    ] {
        assert!(
            include.split(',').any(|p| p == pkg),
            "{pkg} not in {include}"
        );
    }
    let hook = args
        .iter()
        .find_map(|a| a.strip_prefix("--customize-hook="))
        .expect("--customize-hook");
    assert!(Path::new(hook).is_file(), "{hook}");
    assert!(
        args.contains(&"bookworm".to_owned()) && args.contains(&"/nonexistent/out/root".to_owned())
    );
    assert!(!Path::new("/nonexistent/out").exists());
}

#[test]
fn cloud_customize_hook_makes_a_seed_only_image_that_reports_each_boot() {
    let root = std::env::temp_dir().join(format!("domkit-acc-root-{}", std::process::id()));
    for d in ["etc/systemd/system", "usr/local/sbin"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let out = run(Command::new(repo().join("tests/acceptance/cloud/customize.sh")).arg(&root));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let read = |p: &str| fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert!(read("etc/fstab").starts_with("/dev/vda2 / ext4"));
    assert!(
        read("etc/cloud/cloud.cfg.d/90-domkit.cfg")
            .contains("datasource_list: [ NoCloud, ConfigDrive ]")
    );
    let report = read("usr/local/sbin/domkit-boot-report");
    assert!(
        report.contains(
            "DOMKIT-CLOUD: boot $boots from disk; seed $seed; runcmd has run $runs time(s)"
        )
    );
    let unit = root.join("etc/systemd/system/multi-user.target.wants/domkit-boot-report.service");
    assert!(
        fs::symlink_metadata(&unit).is_ok(),
        "the boot report is not enabled"
    );
    assert!(
        read("etc/systemd/system/domkit-boot-report.service")
            .contains("After=multi-user.target cloud-final.service")
    );
    fs::remove_dir_all(&root).ok();
    // The seed's user-data is cloud-config whose runcmd leaves the line run.sh counts.
    let user_data = fs::read_to_string(repo().join("tests/acceptance/cloud/user-data")).unwrap();
    assert!(user_data.starts_with("#cloud-config\n"));
    assert!(
        user_data.contains("runcmd:") && user_data.contains("DOMKIT-CLOUD: cloud-init runcmd ran")
    );
    let runner = fs::read_to_string(repo().join("tests/acceptance/run.sh")).unwrap();
    assert!(runner.contains("DOMKIT-CLOUD: cloud-init runcmd ran"));
    let meta = fs::read_to_string(repo().join("tests/acceptance/cloud/meta-data")).unwrap();
    assert!(meta.lines().any(|l| l.starts_with("instance-id: ")));
}

#[test]
fn the_preseed_prints_the_marker_the_preseed_variant_waits_for() {
    let run_sh = fs::read_to_string(repo().join("tests/acceptance/run.sh")).unwrap();
    let marker = run_sh
        .lines()
        .find_map(|l| l.strip_prefix("readonly PRESEED_MARKER='"))
        .and_then(|rest| rest.strip_suffix('\''))
        .expect("run.sh names PRESEED_MARKER");
    let preseed = fs::read_to_string(repo().join("tests/acceptance/preseed/preseed.cfg")).unwrap();
    let early = preseed
        .lines()
        .find(|l| l.starts_with("d-i preseed/early_command string "))
        .expect("an early_command");
    assert!(
        early.contains(&format!("echo \"{marker}\" > /dev/ttyS0")),
        "{early}"
    );
    assert!(early.ends_with("poweroff -f"), "{early}");
    let deps = fs::read_to_string(repo().join("scripts/deps-acceptance.sh")).unwrap();
    assert!(deps.contains("debian-installer-12-netboot-amd64"));
}

#[test]
fn fai_config_space_names_its_origin_and_licence() {
    let dir = repo().join("tests/acceptance/fai");
    let readme = fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("https://") && readme.contains("GPL-2+") && readme.contains("fai-doc"));
    let licence = fs::read_to_string(dir.join("COPYING")).unwrap();
    assert!(licence.contains("GNU GENERAL PUBLIC LICENSE") && licence.contains("Version 2"));
}
