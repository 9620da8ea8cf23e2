//! `cargo bench --bench xml`: in-process throughput of `domkit::tools::rewrite::rewrite` over the corpus, and its scaling on huge generated domains.
//!
//! Not a libtest bench (`harness = false`): it prints markdown tables to stdout, for
//! `bench/run.sh` (`make bench`). Options, after `--`:
//!   --corpus DIR        the `<domain>` files to rewrite [tests/data/virt-manager/roundtrip]
//!   --seconds S         minimum measuring time per corpus row [1.0]
//!   --sizes N,N,...     device counts of the generated domains [1000,10000,100000]
//!   --slots N,N,...     install-disk counts for the --swap scaling rows, each on every
//!                       layout [1000,10000,30000]
//!   --emit-big DIR      only write the generated domains to DIR/devices-N.xml and exit
//!                       (run.sh times the CLI on the very same documents)
//! `cargo bench` also passes `--bench`, which is ignored.

#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use domkit::tools::rewrite::{Args, rewrite};

/// A document: (name for messages, text).
type Doc = (String, String);

const CDROM: &str = "/var/lib/libvirt/images/install.iso";

struct Options {
    corpus: PathBuf,
    seconds: f64,
    sizes: Vec<usize>,
    slots: Vec<usize>,
    emit_big: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/virt-manager/roundtrip"),
        seconds: 1.0,
        sizes: vec![1_000, 10_000, 100_000],
        slots: vec![1_000, 10_000, 30_000],
        emit_big: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| fail(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--corpus" => o.corpus = value().into(),
            "--seconds" => o.seconds = value().parse().unwrap_or_else(|_| fail("bad --seconds")),
            "--sizes" => {
                o.sizes = value()
                    .split(',')
                    .map(|s| s.parse().unwrap_or_else(|_| fail("bad --sizes")))
                    .collect()
            }
            "--slots" => {
                o.slots = value()
                    .split(',')
                    .map(|s| s.parse().unwrap_or_else(|_| fail("bad --slots")))
                    .collect()
            }
            "--emit-big" => o.emit_big = Some(value().into()),
            "--bench" => {}
            _ => fail(&format!("unknown argument {a}")),
        }
    }
    o
}

fn fail(msg: &str) -> ! {
    eprintln!("bench xml: {msg}");
    std::process::exit(2);
}

fn args(flags: &[&str]) -> Args {
    let argv = std::iter::once("domxml-rewrite").chain(flags.iter().copied());
    Args::try_parse_from(argv).unwrap_or_else(|e| fail(&e.to_string()))
}

fn run(name: &str, text: &str, a: &Args) -> String {
    rewrite(name, text, a).unwrap_or_else(|e| fail(&format!("{name}: {e}")))
}

/// A final-phase domain with `n` devices: half disks, a quarter interfaces, a quarter
/// filesystems. Disk targets are vdX (X in base 26), so an install CD-ROM's hdX is free.
fn big_domain(n: usize) -> String {
    fn letters(mut i: usize) -> String {
        let mut s = Vec::new();
        loop {
            s.push(b'a' + (i % 26) as u8);
            if i < 26 {
                break;
            }
            i = i / 26 - 1;
        }
        s.reverse();
        String::from_utf8(s).unwrap()
    }
    let mut x = String::with_capacity(n * 200 + 1024);
    x.push_str(
        "<domain type='kvm'>\n  <name>big</name>\n  \
         <uuid>6a1f0c2e-8d5b-4c3a-9e7f-0123456789ab</uuid>\n  \
         <memory unit='KiB'>1048576</memory>\n  <vcpu>1</vcpu>\n  \
         <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n  \
         <features>\n    <acpi/>\n  </features>\n  <clock offset='utc'/>\n  \
         <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  \
         <on_crash>destroy</on_crash>\n  <devices>\n",
    );
    let (mut disks, mut nics, mut fss) = (0usize, 0usize, 0usize);
    for i in 0..n {
        match i % 4 {
            0 | 1 => {
                let t = letters(disks);
                disks += 1;
                let _ = write!(
                    x,
                    "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      \
                     <source file='/var/lib/libvirt/images/big-{t}.qcow2'/>\n      \
                     <target dev='vd{t}' bus='virtio'/>\n    </disk>\n"
                );
            }
            2 => {
                let m = nics;
                nics += 1;
                let _ = write!(
                    x,
                    "    <interface type='network'>\n      <mac address='52:54:00:{:02x}:{:02x}:{:02x}'/>\n      \
                     <source network='default'/>\n      <model type='virtio'/>\n    </interface>\n",
                    (m >> 16) & 0xff,
                    (m >> 8) & 0xff,
                    m & 0xff
                );
            }
            _ => {
                let f = fss;
                fss += 1;
                let _ = write!(
                    x,
                    "    <filesystem type='mount' accessmode='passthrough'>\n      \
                     <source dir='/srv/share{f}'/>\n      <target dir='share{f}'/>\n    </filesystem>\n"
                );
            }
        }
    }
    x.push_str("  </devices>\n</domain>\n");
    x
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let o = options();

    if let Some(dir) = &o.emit_big {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
        for &n in &o.sizes {
            let p = dir.join(format!("devices-{n}.xml"));
            std::fs::write(&p, big_domain(n))
                .unwrap_or_else(|e| fail(&format!("{}: {e}", p.display())));
        }
        return;
    }

    // The corpus, and its install-phase twin (with a recorded profile) for --swap.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&o.corpus)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", o.corpus.display())))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let docs: Vec<Doc> = files
        .iter()
        .map(|p| {
            let t = std::fs::read_to_string(p)
                .unwrap_or_else(|e| fail(&format!("{}: {e}", p.display())));
            (p.display().to_string(), t)
        })
        .collect();
    let to_install = args(&["--to", "install", "--cdrom", CDROM]);
    let mut installable = Vec::new();
    let mut installed = Vec::new();
    for (n, t) in &docs {
        if let Ok(x) = rewrite(n, t, &to_install) {
            installable.push((n.clone(), t.clone()));
            installed.push((n.clone(), x));
        }
    }

    let rows: [(&str, Args, &[Doc]); 4] = [
        ("--to final", args(&["--to", "final"]), &docs),
        ("--boot hd", args(&["--boot", "hd"]), &docs),
        ("--to install --cdrom ISO", to_install, &installable),
        (
            "--swap (on the --to install output)",
            args(&["--swap"]),
            &installed,
        ),
    ];

    println!("### In-process `domkit::tools::rewrite::rewrite` over the corpus\n");
    println!(
        "Corpus: {} ({} documents; {} accept `--to install --cdrom`). Each row loops over all its documents for at least {:.1} s.\n",
        o.corpus.display(),
        docs.len(),
        installed.len(),
        o.seconds
    );
    println!("| edit | docs | docs/s | µs/doc (mean) | MiB/s |");
    println!("|---|---:|---:|---:|---:|");
    for (label, a, set) in &rows {
        let bytes: usize = set.iter().map(|(_, t)| t.len()).sum();
        for (n, t) in set.iter() {
            black_box(run(n, t, a)); // warm-up; fails loudly on an error
        }
        let min = Duration::from_secs_f64(o.seconds);
        let start = Instant::now();
        let mut passes = 0u64;
        while passes == 0 || start.elapsed() < min {
            for (n, t) in set.iter() {
                black_box(rewrite(black_box(n), black_box(t), a).ok());
            }
            passes += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let ndocs = passes as f64 * set.len() as f64;
        println!(
            "| `{label}` | {} | {:.0} | {:.1} | {:.1} |",
            set.len(),
            ndocs / secs,
            secs * 1e6 / ndocs,
            passes as f64 * bytes as f64 / secs / (1024.0 * 1024.0)
        );
    }

    println!("\n### In-process rewrite of huge generated domains\n");
    println!(
        "A final config with N devices (½ disks, ¼ interfaces, ¼ filesystems); `--to install --cdrom ISO`, then `--to final` on its output, which must give back the input byte for byte. Median of 5 runs (3 above 50,000 devices).\n"
    );
    println!(
        "| devices | size MiB | --to install ms | per 1k devices | --to final ms | per 1k devices | round trip exact |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---|");
    let to_install = args(&["--to", "install", "--cdrom", CDROM]);
    let to_final = args(&["--to", "final"]);
    for &n in &o.sizes {
        let doc = big_domain(n);
        let reps = if n > 50_000 { 3 } else { 5 };
        let (mut ti, mut tf) = (Vec::new(), Vec::new());
        let mut exact = true;
        for _ in 0..reps {
            let t = Instant::now();
            let inst = run("big", black_box(&doc), &to_install);
            ti.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let fin = run("big", black_box(&inst), &to_final);
            tf.push(t.elapsed().as_secs_f64() * 1e3);
            exact &= fin == doc && inst != doc;
        }
        let (mi, mf) = (median(&mut ti), median(&mut tf));
        let k = n as f64 / 1000.0;
        println!(
            "| {n} | {:.1} | {mi:.2} | {:.3} | {mf:.2} | {:.3} | {} |",
            doc.len() as f64 / (1024.0 * 1024.0),
            mi / k,
            mf / k,
            if exact { "yes" } else { "**NO**" }
        );
    }

    println!(
        "\n### Slots: `--to install` with N install disks, then `--swap` both ways, on every layout\n"
    );
    println!(
        "A small final config given N `--install-disk` seeds: the install config records N slots that its final phase lacks. It is laid out anew ({}), then `--swap` to the final phase removes the N disks and `--swap` back inserts them. Every path must grow linearly on every layout. Median of 3 runs.\n",
        LAYOUTS
            .iter()
            .map(|l| format!("{}: {}", l.name(), l.describe()))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!(
        "| slots | layout | --to install ms | --swap removing N ms | --swap inserting N ms | per 1k slots (remove / insert) | round trip exact |"
    );
    println!("|---:|---|---:|---:|---:|---:|---|");
    let small = big_domain(4);
    let swap = args(&["--swap"]);
    for &n in &o.slots {
        let mut flags: Vec<String> = vec!["--to".into(), "install".into()];
        for i in 0..n {
            flags.push("--install-disk".into());
            flags.push(format!("/var/lib/seeds/s{i}.img"));
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let install_args = args(&flags);
        let mut ti = Vec::new();
        let mut installed = String::new();
        for _ in 0..3 {
            let t = Instant::now();
            installed = run("slots", black_box(&small), &install_args);
            ti.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let mi = median(&mut ti);
        for layout in LAYOUTS {
            let inst = relayout(&installed, layout);
            let (mut tr, mut ts) = (Vec::new(), Vec::new());
            let mut exact = true;
            for _ in 0..3 {
                let t = Instant::now();
                let fin = run("slots", black_box(&inst), &swap);
                tr.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let back = run("slots", black_box(&fin), &swap);
                ts.push(t.elapsed().as_secs_f64() * 1e3);
                // The first swap re-renders the profile in domkit's layout; from then on
                // each swap gives the one before it back.
                exact &= back == inst || run("slots", &back, &swap) == fin;
            }
            let (mr, ms) = (median(&mut tr), median(&mut ts));
            let k = n as f64 / 1000.0;
            println!(
                "| {n} | {} | {mi:.1} | {mr:.1} | {ms:.1} | {:.2} / {:.2} | {} |",
                layout.name(),
                mr / k,
                ms / k,
                if exact { "yes" } else { "**NO**" }
            );
        }
    }
}

/// The layouts a document reaches domkit in: written by domkit or libvirt (two-space
/// indentation), by a tool that puts everything on one line or each element on a line of
/// its own, or by hand (mixed). A step that looks along a whole line once per element is
/// quadratic on some of them only (issue 16: 12 s for 60,000 slots).
#[derive(Clone, Copy)]
enum Layout {
    Indented,
    OneLine,
    ElementPerLine,
    Mixed,
}

const LAYOUTS: [Layout; 4] = [
    Layout::Indented,
    Layout::OneLine,
    Layout::ElementPerLine,
    Layout::Mixed,
];

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Indented => "libvirt's",
            Layout::OneLine => "one line",
            Layout::ElementPerLine => "element per line",
            Layout::Mixed => "mixed",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Layout::Indented => "two-space indentation, as domkit and libvirt write it",
            Layout::OneLine => "the whole document on one line, a blank between tags",
            Layout::ElementPerLine => "each tag on a line of its own, unindented",
            Layout::Mixed => {
                "the profile's slots on one line, each device on one line, the rest indented"
            }
        }
    }

    /// What goes between two tags, given the blanks written there and the elements open.
    fn between<'a>(self, blanks: &'a str, open: &[&str]) -> &'a str {
        match self {
            Layout::Indented => blanks,
            Layout::OneLine => " ",
            Layout::ElementPerLine => "\n",
            Layout::Mixed => {
                let in_profile = open.iter().any(|e| e.ends_with(":profile"));
                let in_device = open
                    .iter()
                    .position(|e| *e == "devices")
                    .is_some_and(|d| open.len() > d + 1);
                if in_profile || in_device { "" } else { blanks }
            }
        }
    }
}

/// `text` (a generated document: no comments, no `>` in values) with the blanks between
/// its tags laid out as `layout` says; where none were, none are added.
fn relayout(text: &str, layout: Layout) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut open: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        let (before, from_tag) = rest.split_at(lt);
        // A CDATA section is text, kept as it is.
        let close = if from_tag.starts_with("<![CDATA[") {
            "]]>"
        } else {
            ">"
        };
        let end = from_tag
            .find(close)
            .map_or(from_tag.len(), |i| i + close.len());
        let tag = &from_tag[..end];
        let between_tags = out.ends_with('>')
            && !before.is_empty()
            && before.bytes().all(|b| b.is_ascii_whitespace());
        out.push_str(if between_tags {
            layout.between(before, &open)
        } else {
            before
        });
        out.push_str(tag);
        if tag.starts_with("</") {
            open.pop();
        } else if !tag.ends_with("/>") && !tag.starts_with("<?") && !tag.starts_with("<!") {
            let name_end = tag[1..]
                .find(|c: char| c.is_whitespace() || c == '>')
                .map_or(tag.len(), |i| i + 1);
            open.push(&tag[1..name_end]);
        }
        rest = &from_tag[end..];
    }
    out.push_str(rest);
    out
}
