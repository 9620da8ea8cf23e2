//! `make fuzz`: a bounded, deterministic mutation fuzzer for domkit's XML half and its
//! JSON readers, run in-process on the stable toolchain (no libFuzzer, no nightly).
//!
//! Seeds are the vendored corpora under tests/data plus their recorded-profile versions
//! (see `corpus`); each mutant is a pure function of (--seed, its index), so
//! `--mutant INDEX` replays one alone. Every mutant runs the XML parser and one
//! `domxml-rewrite` flag set (or `domxml-gen` on a JSON spec, or the record reader), and
//! is judged by `oracle`: no panic, no hang (a watchdog), Ok output well-formed when the
//! input was, no Ok on input an independent parser rejects, a swap keeps every slot,
//! every refusal's message is one line. Failing inputs are saved
//! under --out with a one-line reproduction; the first of each kind is minimized.
//!
//! Options (after `--`):
//!   --seed N        the run's seed [1]
//!   --mutants N     how many mutants [1000000]
//!   --start N       index of the first mutant [0]
//!   --mutant I      run only mutant I and print what it did
//!   --replay FILE --op OP   run one operation on one saved input
//!   --out DIR       where failing inputs go [target/fuzz-failures]
//!   --data DIR      the seed corpus [tests/data]
//!   --hang-ms MS    an operation taking longer is a hang [5000]
//!   --save-per-kind N   inputs saved per failure signature [3]
//!   --no-seed-pass  skip running every operation on every unmutated seed first
//!   --no-minimize   save failures as found, without delta debugging
//!   --trace         print each mutant's index to stderr before it runs (to find one
//!                   that kills the process, e.g. a stack overflow)
//! Exit status: 0 when nothing failed, 1 when something did, 2 on a hang, 64 on bad options.

#![allow(missing_docs)]

mod corpus;
mod minimize;
mod mutate;
mod ops;
mod oracle;
mod rng;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corpus::Corpus;
use ops::{Op, Ops, Outcome, REWRITES};
use oracle::{Class, Finding, Verdict};
use rng::Rng;

struct Options {
    seed: u64,
    mutants: u64,
    start: u64,
    only: Option<u64>,
    replay: Option<(PathBuf, String)>,
    out: PathBuf,
    data: PathBuf,
    hang_ms: u64,
    save_per_kind: usize,
    seed_pass: bool,
    minimize: bool,
    trace: bool,
}

fn usage(message: &str) -> ! {
    eprintln!("fuzz: {message} (see the options at the top of examples/fuzz/main.rs)");
    std::process::exit(64)
}

fn options() -> Options {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut o = Options {
        seed: 1,
        mutants: 1_000_000,
        start: 0,
        only: None,
        replay: None,
        out: root.join("target/fuzz-failures"),
        data: root.join("tests/data"),
        hang_ms: 5000,
        save_per_kind: 3,
        seed_pass: true,
        minimize: true,
        trace: false,
    };
    let mut file = None;
    let mut op = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        let number = |v: String| -> u64 {
            v.replace('_', "")
                .parse()
                .unwrap_or_else(|_| usage(&format!("{a}: not a number: {v}")))
        };
        match a.as_str() {
            "--seed" => o.seed = number(value()),
            "--mutants" => o.mutants = number(value()),
            "--start" => o.start = number(value()),
            "--mutant" => o.only = Some(number(value())),
            "--replay" => file = Some(PathBuf::from(value())),
            "--op" => op = Some(value()),
            "--out" => o.out = value().into(),
            "--data" => o.data = value().into(),
            "--hang-ms" => o.hang_ms = number(value()),
            "--save-per-kind" => o.save_per_kind = number(value()) as usize,
            "--no-seed-pass" => o.seed_pass = false,
            "--no-minimize" => o.minimize = false,
            "--trace" => o.trace = true,
            "--bench" => {}
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    match (file, op) {
        (Some(f), Some(op)) => o.replay = Some((f, op)),
        (None, None) => {}
        _ => usage("--replay and --op go together"),
    }
    o
}

/// What the watchdog needs to report a hang: the running operation and its input.
struct Running {
    /// Milliseconds since `epoch` when the current operation started; 0 when idle.
    started: AtomicU64,
    epoch: Instant,
    what: Mutex<(String, String, Op)>,
}

impl Running {
    fn begin(&self, op: Op) {
        self.what.lock().expect("watchdog lock").2 = op;
        let ms = self.epoch.elapsed().as_millis() as u64 + 1;
        self.started.store(ms, Ordering::SeqCst);
    }

    fn end(&self) {
        self.started.store(0, Ordering::SeqCst);
    }

    fn set_input(&self, label: String, input: &str) {
        let mut what = self.what.lock().expect("watchdog lock");
        what.0 = label;
        what.1.clear();
        what.1.push_str(input);
    }
}

/// Aborts the run when one operation takes longer than `limit`, saving its input first:
/// a hang cannot be caught in-process, only reported.
fn watchdog(running: Arc<Running>, limit: Duration, out: PathBuf) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let started = running.started.load(Ordering::SeqCst);
            if started == 0 {
                continue;
            }
            let now = running.epoch.elapsed().as_millis() as u64 + 1;
            if now.saturating_sub(started) < limit.as_millis() as u64 {
                continue;
            }
            let what = running.what.lock().expect("watchdog lock");
            let (label, input, op) = (&what.0, &what.1, what.2);
            let dir = out.join(Class::Hang.name());
            let _ = fs::create_dir_all(&dir);
            let file = dir.join(format!("hang.{}", extension(op)));
            let _ = fs::write(&file, input);
            println!(
                "HANG: {} ran over {} ms on {label}\n  input: {}\n  reproduce: {}",
                op.label(),
                limit.as_millis(),
                file.display(),
                op.command(&file.display().to_string())
            );
            let _ = std::io::stdout().flush();
            std::process::exit(2);
        }
    });
}

fn extension(op: Op) -> &'static str {
    match op {
        Op::Generate | Op::Records => "json",
        _ => "xml",
    }
}

/// Everything known about one failure signature.
struct Kind {
    class: Class,
    count: u64,
    first: String,
    op: Op,
    detail: String,
    saved: Vec<PathBuf>,
    minimized: Option<(PathBuf, usize)>,
}

struct Fuzzer<'a> {
    ops: &'a Ops,
    corpus: &'a Corpus,
    running: Arc<Running>,
    options: &'a Options,
    kinds: BTreeMap<String, Kind>,
    operations: u64,
    /// Per operation: how many returned Ok, Err, or panicked (shows what the mutants reach).
    outcomes: BTreeMap<&'static str, [u64; 3]>,
    spec_keys: Vec<String>,
}

impl Fuzzer<'_> {
    fn run_op(&mut self, op: Op, input: &str) -> Outcome {
        self.operations += 1;
        self.running.begin(op);
        let outcome = self.ops.run(op, input);
        self.running.end();
        let slot = match outcome {
            Outcome::Ok(_) => 0,
            Outcome::Err(_) => 1,
            Outcome::Panic(_) => 2,
        };
        self.outcomes.entry(op.label()).or_default()[slot] += 1;
        outcome
    }

    /// Runs `op` on `input` and records what the oracle finds; returns the findings.
    fn check(&mut self, op: Op, input: &str, verdict: &Verdict, label: &str) -> usize {
        let outcome = self.run_op(op, input);
        let ops = self.ops;
        let findings = oracle::check(op, input, verdict, &outcome, &|op, out| ops.run(op, out));
        let n = findings.len();
        for finding in findings {
            self.record(finding, input, label);
        }
        n
    }

    fn record(&mut self, finding: Finding, input: &str, label: &str) {
        let options = self.options;
        let kind = self
            .kinds
            .entry(finding.signature.clone())
            .or_insert_with(|| Kind {
                class: finding.class,
                count: 0,
                first: label.to_string(),
                op: finding.op,
                detail: finding.detail.clone(),
                saved: Vec::new(),
                minimized: None,
            });
        kind.count += 1;
        if kind.saved.len() >= options.save_per_kind {
            return;
        }
        let dir = options.out.join(finding.class.name());
        let _ = fs::create_dir_all(&dir);
        let slug = slug(&finding.signature);
        let n = kind.saved.len();
        let file = dir.join(format!("{slug}-{n}.{}", extension(finding.op)));
        let _ = fs::write(&file, input);
        let note = format!(
            "signature: {}\noperation: {}\nfrom: {label}\ndetail: {}\nreproduce: {}\n",
            finding.signature,
            finding.op.label(),
            finding.detail,
            finding.op.command(&file.display().to_string())
        );
        let _ = fs::write(file.with_extension("txt"), note);
        kind.saved.push(file);
        if n == 0 && options.minimize {
            let small = self.minimize(&finding, input);
            let file = dir.join(format!("{slug}.min.{}", extension(finding.op)));
            let _ = fs::write(&file, &small);
            if let Some(kind) = self.kinds.get_mut(&finding.signature) {
                kind.minimized = Some((file, small.len()));
            }
        }
    }

    /// The smallest input found that still shows `finding`'s signature.
    fn minimize(&mut self, finding: &Finding, input: &str) -> String {
        let ops = self.ops;
        let running = Arc::clone(&self.running);
        let mut fails = |candidate: &str| {
            let verdict = oracle::judge(candidate);
            running.set_input(format!("minimizing {}", finding.signature), candidate);
            running.begin(finding.op);
            let outcome = ops.run(finding.op, candidate);
            running.end();
            oracle::check(finding.op, candidate, &verdict, &outcome, &|op, out| {
                ops.run(op, out)
            })
            .iter()
            .any(|f| f.signature == finding.signature)
        };
        minimize::minimize(input, &mut fails, 3000)
    }

    /// Mutant `index`: its input, what made it, and the operations it goes through.
    fn mutant(&self, index: u64) -> (String, String, Vec<Op>) {
        let mut rng = Rng::for_mutant(self.options.seed, index);
        let corpus = self.corpus;
        let roll = rng.below(100);
        if roll < 8 {
            let spec = rng.pick(&corpus.specs);
            let (text, names) = mutate::mutate_spec(&mut rng, spec, &self.spec_keys);
            (
                text,
                format!("spec mutant {index} [{}]", names.join(" ")),
                vec![Op::Generate],
            )
        } else if roll < 12 {
            let records = rng.pick(&corpus.records);
            let (text, names) = mutate::mutate_records(&mut rng, records);
            (
                text,
                format!("records mutant {index} [{}]", names.join(" ")),
                vec![Op::Records],
            )
        } else {
            let pool = if rng.chance(50) && !corpus.profiled.is_empty() {
                &corpus.profiled
            } else {
                &corpus.plain
            };
            let (name, seed) = rng.pick(pool);
            let (_, other) = rng.pick(&corpus.plain);
            let (text, names) = mutate::mutate_xml(&mut rng, seed, other);
            let op = Op::Rewrite(rng.below(REWRITES.len()));
            (
                text,
                format!("mutant {index} of {name} [{}]", names.join(" ")),
                vec![Op::Parse, op],
            )
        }
    }

    fn run_mutant(&mut self, index: u64) -> usize {
        if self.options.trace {
            eprintln!("mutant {index}");
        }
        let (input, label, ops) = self.mutant(index);
        self.running.set_input(label.clone(), &input);
        let verdict = match ops[0] {
            Op::Generate | Op::Records => Verdict::Good,
            _ => oracle::judge(&input),
        };
        ops.iter()
            .map(|&op| self.check(op, &input, &verdict, &label))
            .sum()
    }

    /// Every operation on every unmutated seed: real documents first.
    fn seed_pass(&mut self) {
        let corpus = self.corpus;
        let docs = corpus.plain.iter().chain(&corpus.profiled);
        for (name, text) in docs {
            self.running.set_input(format!("seed {name}"), text);
            let verdict = oracle::judge(text);
            let label = format!("seed {name}");
            self.check(Op::Parse, text, &verdict, &label);
            for i in 0..REWRITES.len() {
                self.check(Op::Rewrite(i), text, &verdict, &label);
            }
        }
        for (i, spec) in corpus.specs.iter().enumerate() {
            self.check(
                Op::Generate,
                spec,
                &Verdict::Good,
                &format!("seed spec {i}"),
            );
        }
        for (i, records) in corpus.records.iter().enumerate() {
            self.check(
                Op::Records,
                records,
                &Verdict::Good,
                &format!("seed records {i}"),
            );
        }
    }

    fn report(&self, mutants: u64, elapsed: Duration) -> bool {
        let mut by_class: BTreeMap<Class, (usize, u64)> = BTreeMap::new();
        for kind in self.kinds.values() {
            let e = by_class.entry(kind.class).or_default();
            e.0 += 1;
            e.1 += kind.count;
        }
        println!(
            "\n== fuzz: seed {}, {} mutants, {} operations in {:.1} s ({:.0} mutants/s)",
            self.options.seed,
            mutants,
            self.operations,
            elapsed.as_secs_f64(),
            mutants as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        println!("operation                   Ok        Err   panicked");
        for (label, [ok, err, panicked]) in &self.outcomes {
            println!("{label:<24}{ok:>9}{err:>11}{panicked:>11}");
        }
        for class in [
            Class::Panic,
            Class::Hang,
            Class::NotWellFormed,
            Class::AcceptedMalformed,
            Class::InternalError,
            Class::SwapNotInvolution,
            Class::NotIdempotent,
            Class::MessageNotOneLine,
        ] {
            let (kinds, count) = by_class.get(&class).copied().unwrap_or_default();
            println!("{:<26} {count:>9} failures, {kinds} kinds", class.name());
        }
        for (signature, kind) in &self.kinds {
            println!(
                "\n[{}] {signature}  ({} times)",
                kind.class.name(),
                kind.count
            );
            println!("  first: {}", kind.first);
            println!("  detail: {}", kind.detail.replace('\n', " "));
            if let Some(file) = kind.saved.first() {
                println!(
                    "  reproduce: {}",
                    kind.op.command(&file.display().to_string())
                );
            }
            if let Some((file, len)) = &kind.minimized {
                println!(
                    "  minimized ({len} bytes): {}",
                    kind.op.command(&file.display().to_string())
                );
            }
        }
        if !self.kinds.is_empty() {
            println!("\nfailing inputs: {}", self.options.out.display());
        }
        !self.kinds.is_empty()
    }
}

/// A file name for a signature.
fn slug(signature: &str) -> String {
    let mut out = String::new();
    for c in signature.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    // Long signatures keep a hash so that two of them cannot share a name.
    if out.len() > 80 {
        let hash = signature.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        format!("{}-{hash:016x}", &out[..64])
    } else {
        out
    }
}

fn main() {
    let options = options();
    ops::install_panic_hook();
    let ops = Ops::new();

    if let Some((file, op)) = &options.replay {
        let op = Op::from_label(op).unwrap_or_else(|| usage(&format!("no operation {op}")));
        let bytes = fs::read(file).unwrap_or_else(|e| usage(&format!("{}: {e}", file.display())));
        let input = String::from_utf8_lossy(&bytes);
        let verdict = match op {
            Op::Generate | Op::Records => Verdict::Good,
            _ => oracle::judge(&input),
        };
        let outcome = ops.run(op, &input);
        // Written, not println!: a closed pipe (`| head`) must not panic the replay.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "input verdict: {verdict:?}");
        let _ = match &outcome {
            Outcome::Ok(Some(out)) => writeln!(stdout, "Ok, output:\n{out}"),
            other => writeln!(stdout, "{other:?}"),
        };
        let findings = oracle::check(op, &input, &verdict, &outcome, &|op, out| ops.run(op, out));
        for f in &findings {
            let _ = writeln!(stdout, "FINDING {}: {}", f.signature, f.detail);
        }
        std::process::exit(i32::from(!findings.is_empty()));
    }

    let started = Instant::now();
    let corpus = Corpus::load(&options.data, &ops);
    println!(
        "corpus: {} documents, {} with a recorded profile, {} specs, {} record streams ({:.1} s)",
        corpus.plain.len(),
        corpus.profiled.len(),
        corpus.specs.len(),
        corpus.records.len(),
        started.elapsed().as_secs_f64()
    );
    let running = Arc::new(Running {
        started: AtomicU64::new(0),
        epoch: Instant::now(),
        what: Mutex::new((String::new(), String::new(), Op::Parse)),
    });
    watchdog(
        Arc::clone(&running),
        Duration::from_millis(options.hang_ms),
        options.out.clone(),
    );
    let spec_keys = match serde_json::to_value(domkit::tools::generate::Args::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut fuzzer = Fuzzer {
        ops: &ops,
        corpus: &corpus,
        running,
        options: &options,
        kinds: BTreeMap::new(),
        operations: 0,
        outcomes: BTreeMap::new(),
        spec_keys,
    };

    if let Some(index) = options.only {
        let (input, label, mutant_ops) = fuzzer.mutant(index);
        println!(
            "{label}\noperations: {:?}",
            mutant_ops.iter().map(|o| o.label()).collect::<Vec<_>>()
        );
        let found = fuzzer.run_mutant(index);
        let ext = extension(mutant_ops[0]);
        let file = options
            .out
            .join(format!("mutant-{}-{index}.{ext}", options.seed));
        let _ = fs::create_dir_all(&options.out);
        let _ = fs::write(&file, &input);
        println!("input: {}", file.display());
        fuzzer.report(1, started.elapsed());
        std::process::exit(i32::from(found > 0));
    }

    if options.seed_pass {
        let t = Instant::now();
        fuzzer.seed_pass();
        println!(
            "seed pass: every operation on every unmutated seed, {} operations ({:.1} s), {} failure kinds so far",
            fuzzer.operations,
            t.elapsed().as_secs_f64(),
            fuzzer.kinds.len()
        );
    }
    let t = Instant::now();
    let step = (options.mutants / 20).max(1);
    for index in options.start..options.start + options.mutants {
        fuzzer.run_mutant(index);
        let done = index - options.start + 1;
        if done % step == 0 {
            let failures: u64 = fuzzer.kinds.values().map(|k| k.count).sum();
            println!(
                "{done:>10} mutants  {:>8.0} mutants/s  {} failures of {} kinds",
                done as f64 / t.elapsed().as_secs_f64(),
                failures,
                fuzzer.kinds.len()
            );
        }
    }
    let failed = fuzzer.report(options.mutants, t.elapsed());
    std::process::exit(i32::from(failed));
}
