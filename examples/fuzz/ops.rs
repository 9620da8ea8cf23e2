//! The operations a mutant goes through, each run in-process under `catch_unwind`: the
//! XML parser, `domxml-rewrite` with one flag set, `domxml-gen` on a JSON spec, and the
//! record reader of the dom-* tools.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use clap::Parser;
use domkit::libvirt::record::Records;
use domkit::tools::{generate, rewrite};
use domkit::xml::Document;

/// `domxml-rewrite` flag sets the fuzzer runs: (label, flags). The label names the
/// operation in reports and in `--op`.
pub const REWRITES: &[(&str, &[&str])] = &[
    ("no-flags", &[]),
    (
        "to-install-cdrom",
        &["--to", "install", "--cdrom", "/x.iso"],
    ),
    (
        "to-install-kernel",
        &["--to", "install", "--kernel", "/k", "--initrd", "/i"],
    ),
    ("to-install-pxe", &["--to", "install", "--pxe"]),
    (
        "to-install-install-disk",
        &["--to", "install", "--install-disk", "/s.iso"],
    ),
    (
        "to-install-cdrom-seed",
        &[
            "--to",
            "install",
            "--cdrom",
            "/x.iso",
            "--install-disk",
            "/s.iso",
        ],
    ),
    (
        "to-install-kernel-cmdline-seed",
        &[
            "--to",
            "install",
            "--kernel",
            "/k",
            "--initrd",
            "/i",
            "--cmdline",
            "console=ttyS0",
            "--install-disk",
            "/s.iso",
        ],
    ),
    ("to-install", &["--to", "install"]),
    ("to-final", &["--to", "final"]),
    ("swap", &["--swap"]),
    ("eject-hdc-boot-hd", &["--eject", "hdc", "--boot", "hd"]),
    (
        "eject-sda-boot-cdrom",
        &["--eject", "sda", "--boot", "cdrom,hd"],
    ),
    (
        "eject-hda-boot-network",
        &["--eject", "hda", "--boot", "network"],
    ),
    ("insert-media-hdc", &["--insert-media", "hdc=/m.iso"]),
    (
        "insert-media-hda-boot-cdrom",
        &["--insert-media", "hda=/m.iso", "--boot", "cdrom"],
    ),
    ("remove-device-vda", &["--remove-device", "vda"]),
    ("remove-device-hda", &["--remove-device", "hda"]),
    (
        "kernel-edits",
        &["--kernel", "/k", "--cmdline", "a b", "--initrd", ""],
    ),
    (
        "bootloader-lifecycle",
        &[
            "--bootloader",
            "/usr/bin/pygrub",
            "--bootloader-args",
            "-q",
            "--on-reboot",
            "destroy",
            "--on-crash",
            "restart",
        ],
    ),
];

/// One operation on one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `domkit::xml::Document::parse`.
    Parse,
    /// `domkit::tools::rewrite::rewrite` with `REWRITES[i]`.
    Rewrite(usize),
    /// `domkit::tools::generate::run` with the input as `--spec -`.
    Generate,
    /// `domkit::libvirt::record::Records`, read to the end.
    Records,
}

impl Op {
    /// The name used in reports and by `--op`.
    pub fn label(self) -> &'static str {
        match self {
            Op::Parse => "parse",
            Op::Rewrite(i) => REWRITES[i].0,
            Op::Generate => "generate",
            Op::Records => "records",
        }
    }

    /// The operation called `label`.
    pub fn from_label(label: &str) -> Option<Op> {
        match label {
            "parse" => Some(Op::Parse),
            "generate" => Some(Op::Generate),
            "records" => Some(Op::Records),
            _ => REWRITES
                .iter()
                .position(|(l, _)| *l == label)
                .map(Op::Rewrite),
        }
    }

    /// The command line that reproduces this operation on `file` outside the fuzzer,
    /// where one exists.
    pub fn command(self, file: &str) -> String {
        let fuzzer = format!(
            "cargo run --release --example fuzz -- --replay {file} --op {}",
            self.label()
        );
        match self {
            Op::Parse => format!("target/release/domxml-rewrite {file}   # or: {fuzzer}"),
            Op::Rewrite(i) => {
                let flags: Vec<String> = REWRITES[i].1.iter().map(|f| shell_word(f)).collect();
                let flags = flags.join(" ");
                let sep = if flags.is_empty() { "" } else { " " };
                format!("target/release/domxml-rewrite{sep}{flags} {file}   # or: {fuzzer}")
            }
            Op::Generate => format!("target/release/domxml-gen --spec {file}   # or: {fuzzer}"),
            Op::Records => fuzzer,
        }
    }
}

fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.=,".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{word}'")
    }
}

/// What an operation did.
#[derive(Debug)]
pub enum Outcome {
    /// It returned a document (or, for records and parse, nothing to check: `None`).
    Ok(Option<String>),
    /// It refused the input with this message.
    Err(String),
    /// It panicked: the panic's message and location.
    Panic(String),
}

/// Prebuilt `Args` for each rewrite flag set (clap parsing is not per mutant).
pub struct Ops {
    rewrites: Vec<rewrite::Args>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static IN_OP: Cell<bool> = const { Cell::new(false) };
}

/// Records panics of the operations instead of printing them (the fuzzer reports them
/// itself); a panic of the fuzzer's own code is printed as usual.
pub fn install_panic_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !IN_OP.with(Cell::get) {
            default(info);
            return;
        }
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string panic payload)".to_string()
        };
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".into());
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{at}: {message}")));
    }));
}

impl Ops {
    /// Parses every flag set once.
    pub fn new() -> Ops {
        let rewrites = REWRITES
            .iter()
            .map(|(label, flags)| {
                let argv = std::iter::once("domxml-rewrite").chain(flags.iter().copied());
                rewrite::Args::try_parse_from(argv)
                    .unwrap_or_else(|e| panic!("flag set {label}: {e}"))
            })
            .collect();
        Ops { rewrites }
    }

    /// Runs `op` on `input` under `catch_unwind`.
    pub fn run(&self, op: Op, input: &str) -> Outcome {
        IN_OP.with(|f| f.set(true));
        let result = panic::catch_unwind(AssertUnwindSafe(|| self.call(op, input)));
        IN_OP.with(|f| f.set(false));
        match result {
            Ok(Ok(out)) => Outcome::Ok(out),
            Ok(Err(e)) => Outcome::Err(e.to_string()),
            Err(_) => Outcome::Panic(
                LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "panic without a message".into()),
            ),
        }
    }

    fn call(&self, op: Op, input: &str) -> domkit::Result<Option<String>> {
        const SOURCE: &str = "<fuzz>";
        match op {
            Op::Parse => Document::parse(SOURCE, input).map(|_| None),
            Op::Rewrite(i) => rewrite::rewrite(SOURCE, input, &self.rewrites[i]).map(Some),
            Op::Generate => {
                let args = generate::Args {
                    spec: Some(PathBuf::from("-")),
                    ..Default::default()
                };
                let mut out = Vec::new();
                generate::run(args, &mut input.as_bytes(), &mut out)?;
                // domxml-gen writes what generate returned: a String, so UTF-8.
                Ok(Some(String::from_utf8(out).expect("generate wrote UTF-8")))
            }
            Op::Records => {
                let mut records = Records::new(input.as_bytes(), false);
                while records.next_target()?.is_some() {}
                Ok(None)
            }
        }
    }
}
