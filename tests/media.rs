//! dom-media on real images: ISOs built by xorriso in the layouts distributions use (Rock
//! Ridge, Joliet, plain ISO 9660), FAI's, hostile ones (escaping symlinks, truncation,
//! flipped bytes), and seeds read back by domkit's reader, xorriso, blkid and mtools.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use domkit::media::iso9660::{Iso, Kind, Names};
use serde_json::Value;

const MEDIA: &str = env!("CARGO_BIN_EXE_dom-media");

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("media-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(MEDIA).args(args).output().unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "dom-media failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// domxml-gen's output for `args`, which it must accept.
fn domxml_gen(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_domxml-gen"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// Distinct contents per file, so that a copy of the wrong file is noticed.
fn blob(tag: &str, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ tag.len() as u8 ^ tag.as_bytes()[i % tag.len()])
        .collect()
}

/// xorriso builds the image: `extra` picks Rock Ridge / Joliet and the volume id.
fn xorriso(tree: &Path, iso: &Path, extra: &[&str]) {
    let status = Command::new("xorriso")
        .args(extra)
        .arg("-outdev")
        .arg(iso)
        .arg("-map")
        .arg(tree)
        .arg("/")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("xorriso (scripts/deps.sh installs it)");
    assert!(status.success());
}

/// A Debian netinst layout: install.amd with gtk and xen variants, an ISOLINUX menu.
fn debian_tree(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    for variant in ["", "gtk/", "xen/"] {
        write(
            &tree.join(format!("install.amd/{variant}vmlinuz")),
            &blob(&format!("kernel{variant}"), 300_000),
        );
        write(
            &tree.join(format!("install.amd/{variant}initrd.gz")),
            &blob(&format!("initrd{variant}"), 700_001),
        );
    }
    write(
        &tree.join("isolinux/txt.cfg"),
        b"label install\n\tmenu label ^Install\n\tkernel /install.amd/vmlinuz\n\tappend vga=788 initrd=/install.amd/initrd.gz --- quiet\n",
    );
    tree
}

#[test]
fn inspect_and_extract_a_debian_layout_with_rock_ridge() {
    let dir = scratch("debian");
    let tree = debian_tree(&dir);
    let iso = dir.join("debian.iso");
    xorriso(
        &tree,
        &iso,
        &["-volid", "Debian 12.5.0 amd64 n", "-joliet", "on"],
    );
    let info = json(&run(&["inspect", iso.to_str().unwrap()]));
    assert_eq!(info["volume-id"], "Debian 12.5.0 amd64 n");
    assert_eq!(info["names"], "rock-ridge");
    assert_eq!(info["kernel"], "/install.amd/vmlinuz");
    assert_eq!(info["initrd"], "/install.amd/initrd.gz");
    assert_eq!(info["layout"], "debian");
    assert_eq!(info["cmdline"], "vga=788 --- quiet");
    let variants: Vec<&str> = info["boots"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["variant"].as_str())
        .collect();
    assert_eq!(variants, ["gtk", "xen"]);

    // osinfo-db 20221203 (Debian 12's) has no Debian 12 yet: no OS, the layout decides.
    if info["osinfo-db"] == "20221203" {
        assert_eq!(info["os"], Value::Null);
    }
    // A Debian 11 netinst's volume id: osinfo names the OS, how it matched, and the
    // kernel and initrd paths, which the image has.
    let deb11 = dir.join("debian11.iso");
    xorriso(&tree, &deb11, &["-volid", "Debian 11.5.0 amd64 n"]);
    let info11 = json(&run(&["inspect", deb11.to_str().unwrap()]));
    assert_eq!(info11["os"]["short-id"], "debian11");
    assert_eq!(info11["os"]["name"], "Debian 11");
    assert_eq!(
        info11["os"]["matched"]["volume-id"],
        "Debian 11.\\d+.\\d+ amd64 n"
    );
    assert_eq!(info11["os"]["media"]["kernel"], "install.amd/vmlinuz");
    assert_eq!(info11["layout"], "debian");
    assert_eq!(info11["kernel"], "/install.amd/vmlinuz");
    assert_eq!(info11["cmdline"], "vga=788 --- quiet");

    let out = dir.join("boot");
    let spec = json(&run(&[
        "extract",
        iso.to_str().unwrap(),
        out.to_str().unwrap(),
    ]));
    let out = fs::canonicalize(&out).unwrap();
    assert_eq!(spec["kernel"], out.join("vmlinuz").to_str().unwrap());
    assert_eq!(spec["initrd"], out.join("initrd.gz").to_str().unwrap());
    assert_eq!(spec["cmdline"], "vga=788 --- quiet");
    let iso_abs = fs::canonicalize(&iso).unwrap();
    assert_eq!(
        spec["install-disk"][0],
        format!("{},device=cdrom", iso_abs.display())
    );
    assert_eq!(
        fs::read(out.join("vmlinuz")).unwrap(),
        fs::read(tree.join("install.amd/vmlinuz")).unwrap()
    );
    assert_eq!(
        fs::read(out.join("initrd.gz")).unwrap(),
        fs::read(tree.join("install.amd/initrd.gz")).unwrap()
    );
    // The JSON is a domxml-gen spec as it stands.
    let spec_file = dir.join("spec.json");
    let mut full = spec.clone();
    full["name"] = "vm1".into();
    full["disk"] = serde_json::json!(["/img/vm1.qcow2"]);
    fs::write(&spec_file, full.to_string()).unwrap();
    let xml = domxml_gen(&["--phase", "install", "--spec", spec_file.to_str().unwrap()]);
    assert!(xml.contains(&format!(
        "<kernel>{}</kernel>",
        out.join("vmlinuz").display()
    )));
    // Headless (no --graphics): domxml-gen appends console=ttyS0 so the installer is
    // reachable; the kernel reads it after d-i's "---" too, and d-i copies it into the
    // installed system's boot loader.
    assert!(xml.contains("<cmdline>vga=788 --- quiet console=ttyS0</cmdline>"));
    assert!(xml.contains(&iso_abs.display().to_string()));
}

/// A layout domkit does not list (openSUSE's boot/x86_64/loader/): osinfo's media entry,
/// found by the volume, system and publisher ids, names the kernel and initrd.
#[test]
fn osinfo_paths_for_layouts_not_listed() {
    let dir = scratch("opensuse");
    let tree = dir.join("tree");
    write(
        &tree.join("boot/x86_64/loader/linux"),
        &blob("suse-k", 4000),
    );
    write(
        &tree.join("boot/x86_64/loader/initrd"),
        &blob("suse-i", 9000),
    );
    let iso = dir.join("leap.iso");
    xorriso(
        &tree,
        &iso,
        &[
            "-volid",
            "openSUSE-Leap-15.3-DVD-x86_64",
            "-system_id",
            "LINUX",
        ],
    );
    // xorriso upper-cases the publisher (ECMA-119 a-characters); openSUSE's mkisofs does
    // not, and osinfo's regex is case-sensitive: write it into the PVD as they do.
    let mut bytes = fs::read(&iso).unwrap();
    let publisher = 16 * 2048 + 318;
    bytes[publisher..publisher + 128]
        .copy_from_slice(format!("{:<128}", "SUSE LINUX GmbH").as_bytes());
    fs::write(&iso, &bytes).unwrap();
    let info = json(&run(&["inspect", iso.to_str().unwrap()]));
    assert_eq!(info["os"]["short-id"], "opensuse15.3");
    assert_eq!(info["layout"], "osinfo");
    assert_eq!(info["kernel"], "/boot/x86_64/loader/linux");
    let out = dir.join("out");
    let spec = json(&run(&[
        "extract",
        iso.to_str().unwrap(),
        out.to_str().unwrap(),
    ]));
    assert!(spec["kernel"].as_str().unwrap().ends_with("/out/linux"));
    assert_eq!(
        fs::read(out.join("initrd")).unwrap(),
        fs::read(tree.join("boot/x86_64/loader/initrd")).unwrap()
    );
}

#[test]
fn extract_never_overwrites_unless_forced_and_never_through_a_symlink() {
    let dir = scratch("overwrite");
    let tree = debian_tree(&dir);
    let iso = dir.join("d.iso");
    xorriso(&tree, &iso, &[]);
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    let victim = dir.join("victim");
    fs::write(&victim, b"keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("initrd.gz")).unwrap();
    let args = ["extract", iso.to_str().unwrap(), out.to_str().unwrap()];

    let refused = run(&args);
    assert_eq!(refused.status.code(), Some(4));
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    // Nothing was written: not the kernel either, and no temporary files.
    let names: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["initrd.gz"]);

    let forced = run(&[
        "extract",
        "--force",
        iso.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    json(&forced);
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    assert!(
        !fs::symlink_metadata(out.join("initrd.gz"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(
        fs::read(out.join("initrd.gz")).unwrap(),
        fs::read(tree.join("install.amd/initrd.gz")).unwrap()
    );
}

#[test]
fn joliet_only_and_plain_images() {
    let dir = scratch("names");
    let tree = debian_tree(&dir);
    let joliet = dir.join("joliet.iso");
    xorriso(&tree, &joliet, &["-rockridge", "off", "-joliet", "on"]);
    let info = json(&run(&["inspect", joliet.to_str().unwrap()]));
    assert_eq!(info["names"], "joliet");
    assert_eq!(info["kernel"], "/install.amd/vmlinuz");

    let plain = dir.join("plain.iso");
    xorriso(&tree, &plain, &["-rockridge", "off", "-joliet", "off"]);
    let mut iso = Iso::open(fs::File::open(&plain).unwrap()).unwrap();
    assert_eq!(iso.names(), Names::Plain);
    // Level-1 names as a mount shows them: no version, lower case, any case looks them up.
    let kernel = iso.lookup("/INSTALL_AMD/VMLINUZ").unwrap().unwrap();
    assert_eq!(kernel.name, "vmlinuz");
    let mut data = Vec::new();
    iso.copy_to(&kernel, &mut data).unwrap();
    assert_eq!(data, fs::read(tree.join("install.amd/vmlinuz")).unwrap());
    assert!(iso.lookup("/install_amd/initrd.gz").unwrap().is_some());
}

#[test]
fn fai_cd_layout_with_its_grub_command_line() {
    let dir = scratch("fai");
    let tree = dir.join("tree");
    write(&tree.join("FAI-CD"), b"");
    write(&tree.join("boot/vmlinuz"), &blob("fai-kernel", 100_000));
    write(&tree.join("boot/initrd.img"), &blob("fai-initrd", 200_000));
    write(&tree.join("boot/config-6.1.0-18-amd64"), b"CONFIG_X=y\n");
    write(
        &tree.join("boot/grub/grub.cfg"),
        b"set default=\"0\"\nmenuentry \"FAI client installation\" --unrestricted {\n    search --set=root --file /FAI-CD\n    linux   /boot/vmlinuz FAI_FLAGS=\"menu,verbose,createvt\" FAI_ACTION=install FAI_CONFIG_SRC=file:///var/lib/fai/config rd.live.image root=live:CDLABEL=FAI_CD rd.neednet ip=dhcp quiet\n    initrd  /boot/initrd.img\n}\n",
    );
    write(&tree.join("LiveOS/squashfs.img"), &blob("squash", 50_000));
    let iso = dir.join("fai.iso");
    xorriso(
        &tree,
        &iso,
        &[
            "-volid",
            "FAI_CD",
            "-application_id",
            "Fully Automatic Installation by Thomas Lange, 6.0.5",
        ],
    );
    let info = json(&run(&["inspect", iso.to_str().unwrap()]));
    assert_eq!(info["volume-id"], "FAI_CD");
    assert_eq!(info["layout"], "fai");
    assert_eq!(info["kernel"], "/boot/vmlinuz");
    assert_eq!(info["initrd"], "/boot/initrd.img");
    let cmdline = info["cmdline"].as_str().unwrap();
    assert!(cmdline.starts_with("FAI_FLAGS=\"menu,verbose,createvt\" FAI_ACTION=install"));
    assert!(cmdline.contains("root=live:CDLABEL=FAI_CD"));
    let spec = json(&run(&[
        "extract",
        "--no-iso",
        iso.to_str().unwrap(),
        dir.join("k").to_str().unwrap(),
    ]));
    assert!(spec.get("install-disk").is_none());
    assert_eq!(spec["cmdline"], cmdline);
}

#[test]
fn symlinks_resolve_inside_the_image_only() {
    let dir = scratch("symlinks");
    let tree = dir.join("tree");
    write(&tree.join("boot/vmlinuz-6.1"), &blob("k", 1000));
    write(&tree.join("boot/initrd.img-6.1"), &blob("i", 1000));
    std::os::unix::fs::symlink("vmlinuz-6.1", tree.join("boot/vmlinuz")).unwrap();
    std::os::unix::fs::symlink("/boot/initrd.img-6.1", tree.join("boot/initrd.img")).unwrap();
    // Targets that name the host's files: inside the image they resolve to nothing (or
    // to the image's own root), never to /etc/passwd of the machine.
    std::os::unix::fs::symlink("../../../../etc/passwd", tree.join("boot/escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tree.join("abs")).unwrap();
    std::os::unix::fs::symlink("loop", tree.join("loop")).unwrap();
    let iso = dir.join("links.iso");
    xorriso(&tree, &iso, &[]);
    let mut img = Iso::open(fs::File::open(&iso).unwrap()).unwrap();
    let k = img.lookup("/boot/vmlinuz").unwrap().unwrap();
    assert_eq!((k.kind, k.size), (Kind::File, 1000));
    assert!(img.lookup("/boot/initrd.img").unwrap().is_some());
    assert!(img.lookup("/boot/escape").unwrap().is_none());
    assert!(img.lookup("/abs").unwrap().is_none());
    assert!(img.lookup("/loop").is_err(), "a symlink loop is an error");

    let out = dir.join("out");
    let spec = run(&[
        "extract",
        "--kernel",
        "/boot/escape",
        "--initrd",
        "/boot/initrd.img",
        iso.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(spec.status.code(), Some(3));
    assert!(!out.join("escape").exists());
}

/// Every prefix and many one-byte corruptions of a real image: an error or a result,
/// never a panic, a hang or a huge allocation.
#[test]
fn damaged_images_are_refused_without_panics() {
    let dir = scratch("damaged");
    let tree = debian_tree(&dir);
    let iso = dir.join("d.iso");
    xorriso(&tree, &iso, &["-joliet", "on"]);
    let good = fs::read(&iso).unwrap();
    // Only the metadata sectors matter: the first 40 sectors hold descriptors,
    // path tables and directories; file data comes later.
    let meta = 40 * 2048;
    let exercise = |data: Vec<u8>| {
        if let Ok(mut img) = Iso::open(Cursor::new(data)) {
            let _ = img.walk(10_000);
            if let Ok(Some(e)) = img.lookup("/install.amd/vmlinuz") {
                let _ = img.copy_to(&e, &mut std::io::sink());
            }
            let _ = domkit::media::layout::find(&mut img, None);
        }
    };
    for cut in (0..meta).step_by(512) {
        exercise(good[..cut].to_vec());
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut data = good.clone();
        let at = 16 * 2048 + (seed % (meta as u64 - 16 * 2048)) as usize;
        data[at] = (seed >> 32) as u8;
        exercise(data);
    }
    // Through the tool: a truncated image is bad input (3), stdout stays empty.
    let cut = dir.join("cut.iso");
    fs::write(&cut, &good[..20 * 2048]).unwrap();
    let out = run(&["inspect", cut.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn seed_iso_reads_back_everywhere() {
    let dir = scratch("seed-iso");
    let user = dir.join("user-data");
    let net = dir.join("network-config");
    fs::write(
        &user,
        "#cloud-config\nhostname: vm1\nruncmd:\n  - [sh, -c, 'echo DOMKIT-SEED > /dev/ttyS0']\n",
    )
    .unwrap();
    fs::write(&net, "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n").unwrap();
    let make = |output: &Path| {
        json(&run(&[
            "seed",
            "--user-data",
            user.to_str().unwrap(),
            "--network-config",
            net.to_str().unwrap(),
            "--instance-id",
            "vm1-1",
            "--hostname",
            "vm1",
            "-o",
            output.to_str().unwrap(),
        ]))
    };
    let seed = dir.join("seed.iso");
    let spec = make(&seed);
    assert_eq!(
        spec["install-disk"][0],
        format!(
            "{},device=cdrom",
            fs::canonicalize(&seed).unwrap().display()
        )
    );

    // domkit's own reader.
    let mut img = Iso::open(fs::File::open(&seed).unwrap()).unwrap();
    assert_eq!(img.volume().volume_id, "cidata");
    assert_eq!(img.names(), Names::RockRidge);
    let mut names: Vec<String> = img.walk(100).unwrap().into_iter().map(|(p, _)| p).collect();
    names.sort();
    assert_eq!(names, ["/meta-data", "/network-config", "/user-data"]);
    let meta = img.lookup("/meta-data").unwrap().unwrap();
    assert_eq!(
        img.read_small(&meta, 1000).unwrap(),
        b"instance-id: vm1-1\nlocal-hostname: vm1\n"
    );

    // blkid: what cloud-init's ds-identify asks.
    let blkid = Command::new("blkid")
        .args(["-o", "export"])
        .arg(&seed)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&blkid.stdout);
    assert!(text.contains("LABEL=cidata"), "{text}");
    assert!(text.contains("TYPE=iso9660"), "{text}");

    // xorriso reads the Rock Ridge names and the contents.
    let extracted = dir.join("x-user-data");
    let status = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&seed)
        .arg("-extract")
        .arg("/user-data")
        .arg(&extracted)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(fs::read(&extracted).unwrap(), fs::read(&user).unwrap());
    // Joliet too, for readers that skip Rock Ridge.
    let ls = Command::new("xorriso")
        .args(["-rockridge", "off", "-indev"])
        .arg(&seed)
        .args(["-ls", "/"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(listing.contains("'user-data'"), "{listing}");

    // The same inputs give the same bytes.
    let again = dir.join("again.iso");
    make(&again);
    assert_eq!(fs::read(&seed).unwrap(), fs::read(&again).unwrap());
}

#[test]
fn seed_vfat_reads_back_with_mtools() {
    let dir = scratch("seed-vfat");
    let user = dir.join("u.yaml");
    fs::write(&user, "#cloud-config\n").unwrap();
    let seed = dir.join("seed.img");
    json(&run(&[
        "seed",
        "--format",
        "vfat",
        "--user-data",
        user.to_str().unwrap(),
        "-o",
        seed.to_str().unwrap(),
    ]));
    let blkid = Command::new("blkid")
        .args(["-o", "export"])
        .arg(&seed)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&blkid.stdout);
    assert!(
        text.contains("LABEL=CIDATA") && text.contains("TYPE=vfat"),
        "{text}"
    );
    let mtype = Command::new("mtype")
        .arg("-i")
        .arg(&seed)
        .arg("::meta-data")
        .output()
        .unwrap();
    let meta = String::from_utf8(mtype.stdout).unwrap();
    assert!(meta.starts_with("instance-id: iid-"), "{meta}");
    let mtype = Command::new("mtype")
        .arg("-i")
        .arg(&seed)
        .arg("::user-data")
        .output()
        .unwrap();
    assert_eq!(mtype.stdout, b"#cloud-config\n");
}

#[test]
fn seed_refuses_values_that_would_change_the_yaml() {
    let out = run(&["seed", "--hostname", "a\nb: c", "-o", "/nonexistent/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// The members of a newc archive (name, mode, contents), read by GNU cpio into a folder.
fn cpio_members(archive: &[u8], dir: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir).unwrap();
    let mut child = Command::new("cpio")
        .args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("cpio (scripts/deps.sh installs it)");
    child.stdin.take().unwrap().write_all(archive).unwrap();
    assert!(child.wait().unwrap().success());
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).unwrap() {
            let path = e.unwrap().path();
            let meta = fs::metadata(&path).unwrap();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                stack.push(path.clone());
                found.push((name + "/", mode, Vec::new()));
            } else {
                found.push((name, mode, fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn inject_appends_a_newc_archive_after_the_untouched_initrd() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("inject");
    // A gzip initrd of 101 bytes before compression: its compressed length is no multiple
    // of 4 either way, so the padding is exercised.
    let base_tree = dir.join("base");
    write(&base_tree.join("init"), b"#!/bin/sh\n");
    let base = dir.join("initrd.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg("cd base && echo init | cpio -o -H newc --quiet | gzip -9n > ../initrd.gz")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let before = fs::read(&base).unwrap();
    let preseed = dir.join("preseed.cfg");
    fs::write(&preseed, "d-i debian-installer/locale string en_US\n").unwrap();
    let script = dir.join("hook.sh");
    fs::write(&script, "#!/bin/sh\necho hook\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
    let out = dir.join("out.gz");
    let record = json(&run(&[
        "inject",
        base.to_str().unwrap(),
        preseed.to_str().unwrap(),
        &format!("{}=/usr/lib/domkit/hook.sh", script.display()),
        "-o",
        out.to_str().unwrap(),
    ]));
    let written = fs::read(&out).unwrap();
    assert_eq!(
        fs::read(&base).unwrap(),
        before,
        "the input is never changed"
    );
    assert_eq!(&written[..before.len()], &before[..]);
    let archive_at = before.len().next_multiple_of(4);
    assert!(written[before.len()..archive_at].iter().all(|b| *b == 0));
    assert_eq!(&written[archive_at..archive_at + 6], b"070701");
    let members = cpio_members(&written[archive_at..], &dir.join("unpacked"));
    let names: Vec<(&str, u32)> = members.iter().map(|(n, m, _)| (n.as_str(), *m)).collect();
    assert_eq!(
        names,
        [
            ("preseed.cfg", 0o644),
            ("usr/", 0o755),
            ("usr/lib/", 0o755),
            ("usr/lib/domkit/", 0o755),
            ("usr/lib/domkit/hook.sh", 0o750),
        ]
    );
    assert_eq!(members[0].2, fs::read(&preseed).unwrap());

    // The record: the output, its size and digest, the files.
    assert_eq!(
        record["initrd"],
        fs::canonicalize(&out).unwrap().display().to_string()
    );
    assert_eq!(record["size"], written.len());
    assert_eq!(record["compression"], "gzip");
    let sum = Command::new("sha256sum").arg(&out).output().unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    assert_eq!(record["sha256"], sum.split_whitespace().next().unwrap());
    assert_eq!(record["files"][1]["path"], "/usr/lib/domkit/hook.sh");
    assert_eq!(record["files"][1]["mode"], "0750");
    assert_eq!(record["files"][0]["size"], 41);

    // The whole file is what the kernel reads: gzip's stream, then the archive. GNU cpio
    // reads the first archive after gunzip, which stops at the gzip stream's end.
    let gunzip = Command::new("sh")
        .arg("-c")
        .arg("gzip -dc < out.gz 2>/dev/null | cpio -it --quiet")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&gunzip.stdout), "init\n");

    // An existing OUT is kept unless --force; the input itself is never the output.
    let again = run(&[
        "inject",
        base.to_str().unwrap(),
        preseed.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(4));
    assert_eq!(fs::read(&out).unwrap(), written);
    let forced = run(&[
        "inject",
        "--force",
        base.to_str().unwrap(),
        &format!("{}=/other.cfg", preseed.display()),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(forced.status.success());
    assert_ne!(fs::read(&out).unwrap(), written);
    let onto_input = run(&[
        "inject",
        "--force",
        base.to_str().unwrap(),
        preseed.to_str().unwrap(),
        "-o",
        base.to_str().unwrap(),
    ]);
    assert_eq!(onto_input.status.code(), Some(2));
    assert_eq!(fs::read(&base).unwrap(), before);
}

#[test]
fn inject_takes_every_compression_the_kernel_unpacks_and_nothing_else() {
    let dir = scratch("inject-magic");
    let file = dir.join("f");
    fs::write(&file, "x").unwrap();
    for (name, head) in [
        ("gzip", &b"\x1f\x8b\x08\x00"[..]),
        ("xz", b"\xfd7zXZ\x00\x00"),
        ("zstd", b"\x28\xb5\x2f\xfd"),
        ("none", b"07070100000001"),
    ] {
        let base = dir.join(format!("initrd.{name}"));
        fs::write(&base, head).unwrap();
        let out = dir.join(format!("out.{name}"));
        let record = json(&run(&[
            "inject",
            base.to_str().unwrap(),
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]));
        assert_eq!(record["compression"], name);
    }
    for (name, head) in [
        ("elf", &b"\x7fELF\x02\x01"[..]),
        ("empty", b""),
        ("text", b"hello"),
    ] {
        let base = dir.join(format!("bad.{name}"));
        fs::write(&base, head).unwrap();
        let out = dir.join(format!("bad-out.{name}"));
        let refused = run(&[
            "inject",
            base.to_str().unwrap(),
            file.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(refused.status.code(), Some(3), "{name}");
        assert!(!out.exists(), "{name}: nothing written");
    }
}

#[test]
fn inject_refuses_paths_that_leave_the_archive_root() {
    let dir = scratch("inject-hostile");
    let base = dir.join("initrd");
    fs::write(&base, b"\x1f\x8b\x08\x00rest").unwrap();
    let file = dir.join("ks.cfg");
    fs::write(&file, "x").unwrap();
    let f = file.to_str().unwrap();
    for path in [
        "../etc/passwd",
        "/../../etc/shadow",
        "a/../../b",
        "a//b",
        "/",
        "",
        "dir/",
        "./x",
        "a\nb",
    ] {
        let out = dir.join("out");
        let refused = run(&[
            "inject",
            base.to_str().unwrap(),
            &format!("{f}={path}"),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(refused.status.code(), Some(3), "{path:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(refused.stdout.is_empty());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "{path:?}: nothing written"
        );
    }
    // Two files for one path, and a file below another file.
    for pair in [["/a.cfg", "a.cfg"], ["/a", "/a/b"]] {
        let refused = run(&[
            "inject",
            base.to_str().unwrap(),
            &format!("{f}={}", pair[0]),
            &format!("{f}={}", pair[1]),
            "-o",
            dir.join("out").to_str().unwrap(),
        ]);
        assert_eq!(refused.status.code(), Some(3), "{pair:?}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
    }
}

#[test]
fn image_with_a_label_reads_back_with_blkid_xorriso_and_mtools() {
    let dir = scratch("image");
    let ks = dir.join("vm1-ks.cfg");
    fs::write(&ks, "text\nreboot\n").unwrap();
    let unattend = dir.join("autounattend.xml");
    fs::write(&unattend, "<unattend/>\n").unwrap();
    let iso = dir.join("oemdrv.iso");
    let spec = json(&run(&[
        "image",
        "--label",
        "OEMDRV",
        &format!("{}=ks.cfg", ks.display()),
        unattend.to_str().unwrap(),
        "-o",
        iso.to_str().unwrap(),
    ]));
    assert_eq!(
        spec,
        serde_json::json!({"install-disk": [format!("{},device=cdrom", fs::canonicalize(&iso).unwrap().display())]})
    );
    let blkid = |image: &Path| {
        let out = Command::new("blkid")
            .args(["-o", "export"])
            .arg(image)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = blkid(&iso);
    // Padded as mkisofs pads: busybox's findfs reads 68 KiB before it looks for a label.
    assert!(fs::metadata(&iso).unwrap().len() >= 300 << 10);
    assert!(
        text.contains("LABEL=OEMDRV\n") && text.contains("TYPE=iso9660"),
        "{text}"
    );
    let mut img = Iso::open(fs::File::open(&iso).unwrap()).unwrap();
    let ks_entry = img.lookup("/ks.cfg").unwrap().unwrap();
    assert_eq!(img.read_small(&ks_entry, 100).unwrap(), b"text\nreboot\n");
    // Joliet, which Windows setup reads.
    let ls = Command::new("xorriso")
        .args(["-rockridge", "off", "-indev"])
        .arg(&iso)
        .args(["-ls", "/"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(
        listing.contains("'autounattend.xml'") && listing.contains("'ks.cfg'"),
        "{listing}"
    );

    let fat = dir.join("oemdrv.img");
    let spec = json(&run(&[
        "image",
        "--format",
        "fat",
        "--label",
        "OEMDRV",
        &format!("{}=ks.cfg", ks.display()),
        "-o",
        fat.to_str().unwrap(),
    ]));
    assert!(
        spec["install-disk"][0]
            .as_str()
            .unwrap()
            .ends_with("oemdrv.img,device=disk")
    );
    let text = blkid(&fat);
    assert!(
        text.contains("LABEL=OEMDRV\n") && text.contains("TYPE=vfat"),
        "{text}"
    );
    let mtype = Command::new("mtype")
        .arg("-i")
        .arg(&fat)
        .arg("::ks.cfg")
        .output()
        .unwrap();
    assert_eq!(mtype.stdout, b"text\nreboot\n");

    // Refused: labels the format cannot hold, names the image cannot, clashing names, an
    // existing OUT without --force; nothing is written.
    for (args, code) in [
        (vec!["--format", "fat", "--label", "oemdrv"], 2),
        (vec!["--format", "fat", "--label", "TWELVE_CHARS"], 2),
        (vec!["--label", "a b"], 2),
    ] {
        let mut all = vec!["image"];
        all.extend(args);
        let file = ks.to_str().unwrap();
        let out = dir.join("refused.iso");
        all.extend([file, "-o", out.to_str().unwrap()]);
        let refused = run(&all);
        assert_eq!(refused.status.code(), Some(code), "{all:?}");
        assert!(!out.exists());
    }
    for name in ["a/b", "..", "a:b", "x\ty"] {
        let out = dir.join("refused.iso");
        let refused = run(&[
            "image",
            "--label",
            "X",
            &format!("{}={name}", ks.display()),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(refused.status.code(), Some(3), "{name:?}");
        assert!(!out.exists());
    }
    let clash = run(&[
        "image",
        "--label",
        "X",
        &format!("{}=KS.CFG", ks.display()),
        &format!("{}=ks.cfg", unattend.display()),
        "-o",
        dir.join("refused.iso").to_str().unwrap(),
    ]);
    assert_eq!(clash.status.code(), Some(3));
    let before = fs::read(&iso).unwrap();
    let kept = run(&[
        "image",
        "--label",
        "X",
        ks.to_str().unwrap(),
        "-o",
        iso.to_str().unwrap(),
    ]);
    assert_eq!(kept.status.code(), Some(4));
    assert_eq!(fs::read(&iso).unwrap(), before);
}

#[test]
fn the_boot_menus_default_arguments_and_the_users_extra_args_reach_the_install_kernel() {
    let dir = scratch("extra-args");
    let tree = debian_tree(&dir);
    // Debian's menus: the graphical entry is the default and boots the same kernel with
    // the gtk initrd; the expert entry another command line; a GRUB menu for UEFI.
    write(
        &tree.join("isolinux/isolinux.cfg"),
        b"default vesamenu.c32\nlabel expert\n kernel /install.amd/vmlinuz\n append priority=low vga=788 initrd=/install.amd/initrd.gz ---\nlabel install\n menu default\n kernel /install.amd/vmlinuz\n append vga=788 initrd=/install.amd/initrd.gz --- quiet\n",
    );
    let iso = dir.join("debian.iso");
    xorriso(&tree, &iso, &["-volid", "Debian 12.5.0 amd64 n"]);
    let spec_path = dir.join("media.json");
    let out = run(&[
        "extract",
        iso.to_str().unwrap(),
        dir.join("boot").to_str().unwrap(),
    ]);
    let spec = json(&out);
    assert_eq!(
        spec["cmdline"], "vga=788 --- quiet",
        "the default entry's, without initrd="
    );
    fs::write(&spec_path, &out.stdout).unwrap();
    let xml = domxml_gen(&[
        "--spec",
        spec_path.to_str().unwrap(),
        "--name",
        "vm1",
        "--disk",
        "/img/vm1.img",
        "--phase",
        "install",
        "--extra-args",
        "auto=true priority=critical",
    ]);
    assert!(
        xml.contains(
            "<cmdline>vga=788 --- quiet auto=true priority=critical console=ttyS0</cmdline>"
        ),
        "{xml}"
    );
    // --extra-args adds to a kernel's command line: without --kernel it is refused.
    let refused = Command::new(env!("CARGO_BIN_EXE_domxml-gen"))
        .args([
            "--name",
            "vm1",
            "--cdrom",
            "/iso/x.iso",
            "--extra-args",
            "quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
