//! The XML tools in real pipes (trycmd has no shell): gen | rewrite | rewrite round trips,
//! --swap twice, --check statuses, --print-diff that patch(1) applies, a reader that closes
//! stdout early, and errors that leave stdout empty.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;

const GEN: &str = env!("CARGO_BIN_EXE_domxml-gen");
const REWRITE: &str = env!("CARGO_BIN_EXE_domxml-rewrite");
const UUID: &str = "11111111-2222-3333-4444-555555555555";

/// Install methods that each take a different path through the boot profile.
const GUESTS: &[&[&str]] = &[
    &[
        "--name",
        "vm1",
        "--type",
        "kvm",
        "--disk",
        "/img/vm1.qcow2",
        "--network",
        "network=default",
        "--cdrom",
        "/iso/debian.iso",
    ],
    &[
        "--name",
        "vm2",
        "--type",
        "qemu",
        "--disk",
        "/img/vm2.img",
        "--kernel",
        "/boot/vmlinuz",
        "--initrd",
        "/boot/initrd.gz",
        "--cmdline",
        "console=ttyS0",
        "--serial",
        "file=/tmp/vm2.log",
        "--console",
    ],
    &[
        "--name",
        "pv1",
        "--type",
        "xen",
        "--paravirt",
        "--disk",
        "/dev/vg/pv1",
        "--kernel",
        "/boot/vmlinuz",
        "--initrd",
        "/boot/initrd.gz",
        "--bootloader",
        "pygrub",
        "--bootloader-args=--entry=0",
    ],
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
    &[
        "--name",
        "win",
        "--type",
        "kvm",
        "--firmware",
        "uefi",
        "--machine",
        "q35",
        "--disk",
        "/img/win.img,bus=sata",
        "--cdrom",
        "/iso/win.iso",
        "--install-disk",
        "/iso/unattend.img,device=floppy",
    ],
    &[
        "--name",
        "cloud",
        "--type",
        "test",
        "--disk",
        "/img/cloud.qcow2",
        "--install-disk",
        "/img/seed.iso",
    ],
];

fn gen_args<'a>(guest: &[&'a str], phase: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--uuid", UUID, "--phase", phase];
    args.extend_from_slice(guest);
    args
}

/// Starts `bin args`, reading from `stdin` (inherited from a previous stage, or empty).
fn spawn(bin: &str, args: &[&str], stdin: Stdio) -> Child {
    Command::new(bin)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

/// Runs the stages as `a | b | c` with real pipes between them; returns every stage's
/// output (stdout only for the last one, the others' went down the pipe).
fn pipeline(stages: &[(&str, Vec<&str>)]) -> Vec<Output> {
    let mut children = Vec::new();
    let mut next_stdin = Stdio::null();
    for (i, (bin, args)) in stages.iter().enumerate() {
        let mut child = spawn(bin, args, next_stdin);
        if i + 1 < stages.len() {
            next_stdin = Stdio::from(child.stdout.take().unwrap());
        } else {
            next_stdin = Stdio::null();
        }
        children.push(child);
    }
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// Runs `bin args` with `input` on stdin (written from a thread: inputs can exceed a pipe).
fn run(bin: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = spawn(bin, args, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        // The tool may refuse the input before reading all of it.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn ok_stdout(what: &str, out: &Output) -> String {
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{what}: {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("domkit-pipeline-{}-{test}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn rewrite_inputs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cmd/domxml-rewrite/inputs")
}

#[test]
fn gen_then_install_then_final_gives_back_the_gen_output() {
    for guest in GUESTS {
        let final_xml = ok_stdout("gen", &run(GEN, &gen_args(guest, "final"), b""));
        let install_xml = ok_stdout("gen", &run(GEN, &gen_args(guest, "install"), b""));
        let outs = pipeline(&[
            (GEN, gen_args(guest, "final")),
            (REWRITE, vec!["--to", "install"]),
            (REWRITE, vec!["--to", "final"]),
        ]);
        for (i, out) in outs.iter().enumerate() {
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{guest:?}: stage {i}: {out:?}"
            );
        }
        assert_eq!(
            String::from_utf8(outs[2].stdout.clone()).unwrap(),
            final_xml,
            "{guest:?}: gen | --to install | --to final"
        );
        // The middle stage is the install phase domxml-gen itself prints.
        let outs = pipeline(&[
            (GEN, gen_args(guest, "final")),
            (REWRITE, vec!["--to", "install"]),
        ]);
        assert_eq!(
            ok_stdout("gen | --to install", &outs[1]),
            install_xml,
            "{guest:?}: gen | --to install is not gen --phase install"
        );
        assert_ne!(
            install_xml, final_xml,
            "{guest:?}: the phases are identical"
        );
    }
}

#[test]
fn swap_twice_is_the_identity() {
    for guest in GUESTS {
        for phase in ["final", "install"] {
            let original = ok_stdout("gen", &run(GEN, &gen_args(guest, phase), b""));
            let outs = pipeline(&[
                (GEN, gen_args(guest, phase)),
                (REWRITE, vec!["--swap"]),
                (REWRITE, vec!["--swap"]),
            ]);
            let once = ok_stdout("swap", &run(REWRITE, &["--swap"], original.as_bytes()));
            assert_ne!(once, original, "{guest:?} {phase}: --swap changed nothing");
            assert_eq!(
                ok_stdout("swap | swap", &outs[2]),
                original,
                "{guest:?} {phase}: --swap | --swap"
            );
        }
    }
}

#[test]
fn bom_crlf_and_foreign_markup_survive_install_then_final() {
    // trycmd normalizes line endings, so byte fidelity of CRLF and a BOM is checked here.
    let text = "\u{feff}<?xml version=\"1.0\"?>\r\n<!-- keep me -->\r\n<domain type=\"test\">\r\n  \
                <name>crlf</name>\r\n  <os>\r\n    <type arch=\"x86_64\">hvm</type>\r\n  </os>\r\n  \
                <devices>\r\n    <disk type=\"file\" device=\"disk\">\r\n      \
                <source file=\"/img/a.img\"/>\r\n      <target dev=\"vda\" bus=\"virtio\"/>\r\n    \
                </disk>\r\n  </devices>\r\n</domain>\r\n";
    let install = ok_stdout(
        "--to install",
        &run(
            REWRITE,
            &["--to", "install", "--cdrom", "/iso/a.iso"],
            text.as_bytes(),
        ),
    );
    assert!(install.starts_with('\u{feff}'), "BOM lost");
    assert!(
        !install.replace("\r\n", "").contains('\n'),
        "a bare LF crept into a CRLF document:\n{install:?}"
    );
    assert!(install.contains("<boot dev=\"cdrom\"/>"), "{install}");
    let back = ok_stdout(
        "--to final",
        &run(REWRITE, &["--to", "final"], install.as_bytes()),
    );
    assert_eq!(back, text);
}

#[test]
fn check_exits_0_when_nothing_would_change_and_1_when_it_would() {
    for guest in GUESTS {
        // gen prints the final phase: --to final is a no-op, --to install is not.
        for (to, code) in [("final", 0), ("install", 1)] {
            let outs = pipeline(&[
                (GEN, gen_args(guest, "final")),
                (REWRITE, vec!["--check", "--to", to]),
            ]);
            let out = &outs[1];
            assert_eq!(out.status.code(), Some(code), "{guest:?} --check --to {to}");
            assert!(out.stdout.is_empty(), "--check printed {:?}", out.stdout);
            assert!(out.stderr.is_empty(), "--check: {:?}", out.stderr);
        }
    }
    // Explicit edits too: ejecting media that is there would change, ejecting twice not.
    let plain = fs::read(rewrite_inputs().join("plain.xml")).unwrap();
    let out = run(REWRITE, &["--check", "--eject", "hdc"], &plain);
    assert_eq!(out.status.code(), Some(1));
    let ejected = ok_stdout("eject", &run(REWRITE, &["--eject", "hdc"], &plain));
    let out = run(REWRITE, &["--check", "--eject", "hdc"], ejected.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Applies a unified diff to `old` with no fuzz: every context and removed line must match.
fn apply_unified_diff(old: &str, diff: &str) -> String {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let mut lines = diff.split_inclusive('\n').peekable();
    assert!(
        lines.next().is_some_and(|l| l.starts_with("--- ")),
        "{diff}"
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("+++ ")),
        "{diff}"
    );
    let mut out = String::new();
    let mut at = 0;
    while let Some(header) = lines.next() {
        let ranges = header
            .strip_prefix("@@ -")
            .and_then(|h| h.split_once(" @@"))
            .unwrap_or_else(|| panic!("not a hunk header: {header:?}"))
            .0;
        let old_start: usize = ranges.split([',', ' ']).next().unwrap().parse().unwrap();
        let start = old_start.saturating_sub(1);
        assert!(start >= at, "hunks out of order");
        out.extend(old_lines[at..start].iter().copied());
        at = start;
        while let Some(line) = lines.next_if(|l| !l.starts_with("@@")) {
            let (mark, body) = line.split_at(1);
            match mark {
                " " | "-" => {
                    assert_eq!(old_lines[at], body, "context mismatch at line {}", at + 1);
                    if mark == " " {
                        out.push_str(body);
                    }
                    at += 1;
                }
                "+" => out.push_str(body),
                _ => panic!("bad diff line {line:?}"),
            }
        }
    }
    out.extend(old_lines[at..].iter().copied());
    out
}

#[test]
fn print_diff_is_a_unified_diff_that_patch_applies() {
    let dir = scratch("diff");
    for (i, guest) in GUESTS.iter().enumerate() {
        let file = dir.join(format!("vm{i}.xml"));
        let final_xml = ok_stdout("gen", &run(GEN, &gen_args(guest, "final"), b""));
        fs::write(&file, &final_xml).unwrap();
        let path = file.to_str().unwrap();
        let install = ok_stdout(
            "--to install",
            &run(REWRITE, &["--to", "install", path], b""),
        );
        let diff = ok_stdout(
            "--print-diff",
            &run(REWRITE, &["--print-diff", "--to", "install", path], b""),
        );
        assert!(
            diff.starts_with(&format!("--- {path}\n+++ {path}\n@@ ")),
            "{diff}"
        );
        assert_eq!(apply_unified_diff(&final_xml, &diff), install, "{guest:?}");
        // --check --print-diff prints the same diff and says "would change".
        let out = run(
            REWRITE,
            &["--check", "--print-diff", "--to", "install", path],
            b"",
        );
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), diff);
        // No change, no diff.
        let out = run(REWRITE, &["--print-diff", "--to", "final", path], b"");
        assert_eq!(ok_stdout("--print-diff no-op", &out), "");

        // The real patch(1), when there is one, must agree.
        let Ok(mut patch) = Command::new("patch")
            .args(["--silent", "--force", "--no-backup-if-mismatch", path])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("patch(1) is not installed: checked the diff with the built-in applier only");
            continue;
        };
        patch
            .stdin
            .take()
            .unwrap()
            .write_all(diff.as_bytes())
            .unwrap();
        let out = patch.wait_with_output().unwrap();
        assert!(out.status.success(), "patch: {out:?}");
        assert_eq!(fs::read_to_string(&file).unwrap(), install, "{guest:?}");
    }
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_reader_that_stops_early_ends_the_tools_quietly() {
    // `domxml-gen ... | head -c1`: the reader goes away before the tool writes.
    let mut child = spawn(GEN, &gen_args(GUESTS[0], "final"), Stdio::null());
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A document larger than a pipe's buffer, so the write surely hits the closed pipe.
    let dir = scratch("epipe");
    let big = dir.join("big.xml");
    let plain = fs::read_to_string(rewrite_inputs().join("plain.xml")).unwrap();
    let padding = format!("<!-- {} -->\n", "x".repeat(4 << 20));
    fs::write(&big, format!("{padding}{plain}")).unwrap();
    let mut child = spawn(REWRITE, &[big.to_str().unwrap()], Stdio::null());
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"<");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_dir_all(&dir).ok();
}

/// A failing run: tool, flags, stdin, expected exit status, expected part of the message.
type ErrorCase<'a> = (&'a str, &'a [&'a str], &'a [u8], i32, &'a str);

#[test]
fn errors_go_to_stderr_with_their_status_and_nothing_on_stdout() {
    let cases: &[ErrorCase] = &[
        (GEN, &["--bogus"], b"", 2, "unexpected argument '--bogus'"),
        (
            GEN,
            &["--uuid", UUID],
            b"",
            2,
            "domxml-gen: --name is required",
        ),
        (
            GEN,
            &["--spec", "-"],
            b"{\"name\": 1,",
            3,
            "domxml-gen: <stdin>:",
        ),
        (
            GEN,
            &["--spec", "/nonexistent/vm.json"],
            b"",
            4,
            "domxml-gen: /nonexistent/vm.json: ",
        ),
        (
            REWRITE,
            &["--to", "final"],
            b"not xml",
            3,
            "domxml-rewrite: <stdin>:1:1: ",
        ),
        (
            REWRITE,
            &[],
            b"<domain type='test'>\n  <os>\n",
            3,
            "domxml-rewrite: <stdin>:2:3: unclosed <os>",
        ),
        (
            REWRITE,
            &["--swap"],
            b"<domain type='test'><name>a</name></domain>",
            3,
            "no recorded boot profile",
        ),
        (
            REWRITE,
            &["--to", "install"],
            b"<domain type='test'><name>a</name></domain>",
            2,
            "--to install needs the install method",
        ),
        (
            REWRITE,
            &["/nonexistent/vm.xml"],
            b"",
            4,
            "domxml-rewrite: /nonexistent/vm.xml: ",
        ),
    ];
    for (bin, args, input, code, message) in cases {
        let out = run(bin, args, input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{bin} {args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{bin} {args:?} printed to stdout");
        assert!(stderr.contains(message), "{bin} {args:?}: {stderr}");
        if !message.starts_with("unexpected") {
            // Our own errors are one line; clap's usage errors are clap's.
            assert_eq!(stderr.lines().count(), 1, "{bin} {args:?}: {stderr}");
        }
    }

    // In a pipe, the failing stage reports; the next one sees no document and says so.
    let outs = pipeline(&[
        (GEN, vec!["--uuid", UUID]),
        (REWRITE, vec!["--to", "install"]),
    ]);
    assert_eq!(outs[0].status.code(), Some(2));
    assert_eq!(outs[1].status.code(), Some(3));
    assert!(outs[1].stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&outs[1].stderr),
        "domxml-rewrite: <stdin>:1:1: no root element\n"
    );
}
