//! Key sequences typed into a guest (`dom-send-keys`), in packer's `boot_command`
//! vocabulary: text is typed as it reads (US layout), `<enter>`, `<tab>`, `<esc>` and the
//! other names press one key, `<wait>`, `<wait5>`, `<wait500ms>`, `<wait1m>` pause. A
//! sequence is data: every `<` starts a name, and an unknown name refuses the whole
//! sequence before anything is typed (`<lt>` and `<gt>` type `<` and `>`).

use std::time::Duration;

/// Longest sequence taken.
pub const MAX_SEQUENCE: usize = 64 << 10;

/// Longest single wait.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// One step of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Keys pressed together, then released (Linux input keycodes, libvirt's
    /// `VIR_KEYCODE_SET_LINUX`); `shown` is what the step types, for the progress line.
    Keys {
        /// The keycodes, held down together.
        codes: Vec<u32>,
        /// What the step types.
        shown: String,
    },
    /// A pause.
    Wait(Duration),
}

const LEFT_SHIFT: u32 = 42;

/// Named keys: packer's names (case-insensitive) and their Linux keycodes.
const NAMES: &[(&str, u32)] = &[
    ("enter", 28),
    ("return", 28),
    ("tab", 15),
    ("esc", 1),
    ("bs", 14),
    ("del", 111),
    ("spacebar", 57),
    ("insert", 110),
    ("home", 102),
    ("end", 107),
    ("pageup", 104),
    ("pagedown", 109),
    ("up", 103),
    ("down", 108),
    ("left", 105),
    ("right", 106),
    ("f1", 59),
    ("f2", 60),
    ("f3", 61),
    ("f4", 62),
    ("f5", 63),
    ("f6", 64),
    ("f7", 65),
    ("f8", 66),
    ("f9", 67),
    ("f10", 68),
    ("f11", 87),
    ("f12", 88),
];

/// The key (and whether Shift) that types `c` on a US keyboard.
fn key_of(c: char) -> Option<(u32, bool)> {
    const ROWS: &[(&str, u32)] = &[
        ("1234567890-=", 2),
        ("qwertyuiop[]", 16),
        ("asdfghjkl;'`", 30),
        ("zxcvbnm,./", 44),
    ];
    const SHIFTED: &[(&str, u32)] = &[
        ("!@#$%^&*()_+", 2),
        ("QWERTYUIOP{}", 16),
        ("ASDFGHJKL:\"~", 30),
        ("ZXCVBNM<>?", 44),
    ];
    match c {
        ' ' => return Some((57, false)),
        '\\' => return Some((43, false)),
        '|' => return Some((43, true)),
        _ => {}
    }
    for (table, shift) in [(ROWS, false), (SHIFTED, true)] {
        for (row, first) in table {
            if let Some(i) = row.chars().position(|r| r == c) {
                return Some((first + i as u32, shift));
            }
        }
    }
    None
}

/// A wait's length: `<wait>` is a second; `<waitN>` N seconds; `<waitNms>`, `<waitNs>`,
/// `<waitNm>` with a unit.
fn wait_of(rest: &str) -> Option<Duration> {
    if rest.is_empty() {
        return Some(Duration::from_secs(1));
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number: u64 = rest[..digits].parse().ok()?;
    let wait = match &rest[digits..] {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        _ => return None,
    };
    (wait <= MAX_WAIT).then_some(wait)
}

/// Parses a sequence into steps.
///
/// # Errors
/// Why the sequence is refused, naming the offending part: an unknown `<name>`, an
/// unterminated `<`, a character with no key on a US keyboard, a wait over an hour, a
/// sequence over 64 KiB.
pub fn parse(sequence: &str) -> Result<Vec<Step>, String> {
    if sequence.len() > MAX_SEQUENCE {
        return Err(format!("longer than {} KiB", MAX_SEQUENCE >> 10));
    }
    let mut steps = Vec::new();
    let mut rest = sequence;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').ok_or_else(|| {
                format!("{rest:?}: '<' starts a key name that has no '>' (type '<' as <lt>)")
            })?;
            let name = &rest[1..end];
            let lower = name.to_ascii_lowercase();
            let step = if let Some(wait) = lower.strip_prefix("wait") {
                Step::Wait(wait_of(wait).ok_or_else(|| {
                    format!("<{name}>: a wait is <wait>, <waitN>, <waitNms>, <waitNs> or <waitNm>, at most an hour")
                })?)
            } else if lower == "lt" || lower == "gt" {
                let typed = if lower == "lt" { '<' } else { '>' };
                typed_char(typed).expect("< and > have keys")
            } else {
                let code = NAMES
                    .iter()
                    .find(|(n, _)| *n == lower)
                    .map(|(_, code)| *code)
                    .ok_or_else(|| format!("<{name}>: no such key name"))?;
                Step::Keys {
                    codes: vec![code],
                    shown: format!("<{lower}>"),
                }
            };
            steps.push(step);
            rest = &rest[end + 1..];
        } else {
            steps.push(typed_char(c).ok_or_else(|| {
                format!("{c:?}: no key types it (US layout; use <enter>, <tab> for those)")
            })?);
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(steps)
}

/// The step that types one character.
fn typed_char(c: char) -> Option<Step> {
    let (code, shift) = key_of(c)?;
    let codes = if shift {
        vec![LEFT_SHIFT, code]
    } else {
        vec![code]
    };
    Some(Step::Keys {
        codes,
        shown: c.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(steps: &[Step]) -> Vec<Vec<u32>> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Keys { codes, .. } => Some(codes.clone()),
                Step::Wait(_) => None,
            })
            .collect()
    }

    #[test]
    fn text_names_and_waits() {
        let steps = parse("<wait2>aZ =<Enter><wait500ms><lt>").unwrap();
        assert_eq!(steps[0], Step::Wait(Duration::from_secs(2)));
        assert_eq!(
            codes(&steps),
            [
                vec![30],
                vec![42, 44],
                vec![57],
                vec![13],
                vec![28],
                vec![42, 51]
            ]
        );
        assert_eq!(steps[6], Step::Wait(Duration::from_millis(500)));
        assert_eq!(
            parse("<wait>").unwrap(),
            [Step::Wait(Duration::from_secs(1))]
        );
        assert_eq!(
            parse("<wait1m>").unwrap(),
            [Step::Wait(Duration::from_secs(60))]
        );
        // Every printable ASCII character has a key.
        for c in ' '..='~' {
            if c != '<' {
                assert!(parse(&c.to_string()).is_ok(), "{c:?}");
            }
        }
    }

    #[test]
    fn unknown_names_and_characters_are_refused() {
        for bad in [
            "<entre>",
            "<wait5x>",
            "<wait2h>",
            "<wait3601>",
            "a<b",
            "é",
            "\n",
            "<>",
            "x\t",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&"a".repeat(MAX_SEQUENCE + 1)).is_err());
    }
}
