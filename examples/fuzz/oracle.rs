//! The independent judge: roxmltree, a namespace-aware parser that shares no code with
//! domkit's, says whether a text is well-formed and namespace-well-formed XML, and the
//! properties every operation must keep are checked against it.

use crate::ops::{Op, Outcome};

/// Why roxmltree refused a text: its error's kind, without the position, so that one
/// kind of failure is one class however many inputs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed and namespace-well-formed.
    Good,
    /// Not: the kind of the first error.
    Bad(String),
    /// roxmltree gave up for its own reasons (resource limits): no verdict.
    Unknown,
}

/// roxmltree's verdict on `text` (DTDs allowed: they are well-formed XML).
pub fn judge(text: &str) -> Verdict {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    match roxmltree::Document::parse_with_options(text, options) {
        Ok(_) => Verdict::Good,
        Err(e) => {
            use roxmltree::Error as E;
            if matches!(
                e,
                E::NodesLimitReached
                    | E::AttributesLimitReached
                    | E::NamespacesLimitReached
                    | E::EntityResolver(..)
            ) {
                return Verdict::Unknown;
            }
            let debug = format!("{e:?}");
            let kind = debug.split(['(', ' ']).next().unwrap_or(&debug).to_string();
            Verdict::Bad(kind)
        }
    }
}

/// The kinds of failure the fuzzer looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// An operation panicked.
    Panic,
    /// An operation ran longer than the hang limit.
    Hang,
    /// Well-formed input, an Ok output that is not well-formed (or for generate, any Ok
    /// output that is not).
    NotWellFormed,
    /// domkit took (Ok) an input that is not well-formed or not namespace-well-formed.
    AcceptedMalformed,
    /// Well-formed input refused as an internal error ("please report").
    InternalError,
    /// `--swap` twice did not give back a swapped document.
    SwapNotInvolution,
    /// `--to final` (or `--to install`) on its own output changed it again.
    NotIdempotent,
    /// A refusal's message holds a character that starts a new line or drives a terminal
    /// (CR, LF, ESC, U+2028, ...): every message must stay one line.
    MessageNotOneLine,
}

impl Class {
    /// Folder and report name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Panic => "panic",
            Class::Hang => "hang",
            Class::NotWellFormed => "not-well-formed-output",
            Class::AcceptedMalformed => "accepted-malformed-input",
            Class::InternalError => "internal-error",
            Class::SwapNotInvolution => "swap-not-involution",
            Class::NotIdempotent => "not-idempotent",
            Class::MessageNotOneLine => "message-not-one-line",
        }
    }
}

/// One property broken by one operation on one input.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What kind of failure.
    pub class: Class,
    /// The operation.
    pub op: Op,
    /// What makes two findings the same bug: class, place and kind, no positions.
    pub signature: String,
    /// Details for the report.
    pub detail: String,
}

/// The findings of `op`'s `outcome` on `input`, whose verdict is `input_verdict`.
/// `run` runs another operation on an output, for the involution and idempotence checks.
pub fn check(
    op: Op,
    input: &str,
    input_verdict: &Verdict,
    outcome: &Outcome,
    run: &dyn Fn(Op, &str) -> Outcome,
) -> Vec<Finding> {
    let swap = Op::from_label("swap").expect("swap flag set");
    let swap_back = |text: &str| run(swap, text);
    let mut found = Vec::new();
    let mut add = |class: Class, signature: String, detail: String| {
        found.push(Finding {
            class,
            op,
            signature: format!("{}: {signature}", class.name()),
            detail,
        })
    };
    match outcome {
        Outcome::Panic(message) => {
            add(Class::Panic, panic_signature(message), message.clone());
        }
        Outcome::Err(message) => {
            if let Some(c) = message.chars().find(|&c| breaks_the_line(c)) {
                add(
                    Class::MessageNotOneLine,
                    format!("{} U+{:04X}", op_kind(op), c as u32),
                    message.clone(),
                );
            }
            let internal = message.contains("internal error") || message.contains("please report");
            if internal && *input_verdict == Verdict::Good {
                add(
                    Class::InternalError,
                    format!("{} {}", op_kind(op), normalize(message)),
                    message.clone(),
                );
            }
        }
        Outcome::Ok(output) => {
            let input_is_xml = !matches!(op, Op::Generate | Op::Records);
            if input_is_xml {
                if let Verdict::Bad(kind) = input_verdict {
                    add(
                        Class::AcceptedMalformed,
                        format!("input {kind}"),
                        format!(
                            "{} returned Ok on input roxmltree rejects ({kind})",
                            op.label()
                        ),
                    );
                }
            }
            let Some(output) = output else {
                return found;
            };
            let judge_output = !input_is_xml || *input_verdict == Verdict::Good;
            if judge_output {
                if let Verdict::Bad(kind) = judge(output) {
                    add(
                        Class::NotWellFormed,
                        format!("{} output {kind}", op_kind(op)),
                        format!("{} gave output roxmltree rejects ({kind})", op.label()),
                    );
                } else if op.label() == "swap" && slots(input) != slots(output) {
                    // A swap trades each slot's element with the active one: it keeps
                    // every slot, or a later swap cannot restore what it dropped.
                    add(
                        Class::SwapNotInvolution,
                        "a slot dropped".into(),
                        format!("slots {:?} -> {:?}", slots(input), slots(output)),
                    );
                } else if op.label() == "swap" {
                    // A swapped document is in domkit's own form: from there, two more
                    // swaps must give it back byte for byte (the first swap may
                    // normalise a hand-edited profile, so the input itself is no reference).
                    let again = swap_back(output);
                    let back = match &again {
                        Outcome::Ok(Some(once)) => swap_back(once),
                        _ => again,
                    };
                    match back {
                        Outcome::Ok(Some(twice)) if twice == *output => {}
                        other => add(
                            Class::SwapNotInvolution,
                            match &other {
                                Outcome::Ok(_) => "different bytes".into(),
                                Outcome::Err(m) => {
                                    format!("a later swap refused: {}", normalize(m))
                                }
                                Outcome::Panic(m) => {
                                    format!("a later swap panicked: {}", panic_signature(m))
                                }
                            },
                            format!("{other:?}").chars().take(300).collect(),
                        ),
                    }
                } else if matches!(op.label(), "to-final" | "to-install") {
                    // Already in the phase: the same flags again change nothing.
                    match run(op, output) {
                        Outcome::Ok(Some(again)) if again == *output => {}
                        other => add(
                            Class::NotIdempotent,
                            match &other {
                                Outcome::Ok(_) => "different bytes".into(),
                                Outcome::Err(m) => format!("second run refused: {}", normalize(m)),
                                Outcome::Panic(m) => {
                                    format!("second run panicked: {}", panic_signature(m))
                                }
                            },
                            format!("{other:?}").chars().take(300).collect(),
                        ),
                    }
                }
            }
        }
    }
    found
}

/// Whether `c` starts a new line or drives a terminal: control characters but tab, the
/// line and paragraph separators.
fn breaks_the_line(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

/// How many slots of domkit's profile namespace `text` holds (`None`: not XML roxmltree
/// reads).
fn slots(text: &str) -> Option<usize> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options).ok()?;
    Some(
        doc.descendants()
            .filter(|n| {
                n.tag_name().name() == "slot"
                    && n.tag_name().namespace() == Some("https://domkit.dev/xmlns/profile/1")
            })
            .count(),
    )
}

/// Rewrites that differ only in their install flags are one operation kind for signatures.
fn op_kind(op: Op) -> &'static str {
    match op.label() {
        l if l.starts_with("to-install-") => "to-install-with-media",
        l => l,
    }
}

/// A panic's place and message with numbers removed: `file:line: message`.
fn panic_signature(message: &str) -> String {
    let (at, text) = message.split_once(": ").unwrap_or(("", message));
    format!("{at}: {}", normalize(text))
}

/// A message with the parts that vary per input (numbers, quoted names) blanked.
pub fn normalize(message: &str) -> String {
    let mut out = String::new();
    let mut in_quote = None;
    for c in message.chars() {
        match in_quote {
            Some(q) if c == q => {
                out.push(c);
                in_quote = None;
            }
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => {
                out.push(c);
                in_quote = Some(c);
            }
            None if c.is_ascii_digit() => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            None => out.push(c),
        }
    }
    // The source location prefix `<fuzz>:N:N: ` is the same for every input.
    out.chars().take(160).collect()
}
