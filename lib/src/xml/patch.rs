//! Edits as byte-range patches over a document's original text: everything outside the
//! patched ranges keeps every byte.

use std::ops::Range;

use crate::error::{Error, Result};

/// One edit: replace the bytes in `range` with `text` (an empty range inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Bytes of the original text to replace.
    pub range: Range<usize>,
    /// What goes there instead.
    pub text: String,
}

impl Patch {
    /// Replace `range` with `text`.
    pub fn replace(range: Range<usize>, text: impl Into<String>) -> Patch {
        Patch {
            range,
            text: text.into(),
        }
    }

    /// Insert `text` at `at`.
    pub fn insert(at: usize, text: impl Into<String>) -> Patch {
        Patch {
            range: at..at,
            text: text.into(),
        }
    }

    /// Remove `range`.
    pub fn remove(range: Range<usize>) -> Patch {
        Patch {
            range,
            text: String::new(),
        }
    }
}

/// Applies patches to `text`. Insertions at the same offset keep their given order, and
/// come before a replacement that starts there. Removals may overlap one another (two
/// removed elements that each take the blanks between them), and an insertion inside
/// removed bytes goes where those bytes were: both follow from edits computed
/// independently on one document, and neither can lose a byte that stays.
///
/// # Errors
/// A replacement that overlaps another edit: a bug in the caller, reported rather than
/// producing a broken document.
pub fn apply(text: &str, mut patches: Vec<Patch>) -> Result<String> {
    // Stable sort: equal starts keep the order they were given in, inserts first.
    patches.sort_by_key(|p| (p.range.start, !p.range.is_empty()));
    let mut out =
        String::with_capacity(text.len() + patches.iter().map(|p| p.text.len()).sum::<usize>());
    let mut at = 0;
    // Whether the bytes up to `at` were last skipped by a pure removal.
    let mut removing = false;
    for p in &patches {
        let removal = p.text.is_empty() && !p.range.is_empty();
        let insertion = p.range.is_empty();
        if p.range.start < at {
            if removing && removal {
                at = at.max(p.range.end);
                continue;
            }
            if removing && insertion {
                out.push_str(&p.text);
                continue;
            }
            return Err(Error::Edit(format!(
                "internal error: overlapping edits at bytes {}..{}",
                p.range.start, p.range.end
            )));
        }
        out.push_str(&text[at..p.range.start]);
        out.push_str(&p.text);
        at = p.range.end;
        removing = removal;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_apply_in_order() {
        let out = apply(
            "abcdef",
            vec![
                Patch::replace(2..4, "X"),
                Patch::insert(0, "1"),
                Patch::insert(0, "2"),
                Patch::remove(5..6),
            ],
        )
        .unwrap();
        assert_eq!(out, "12abXe");
        // Overlapping removals merge; an insertion inside removed bytes takes their place.
        assert_eq!(
            apply("abcdef", vec![Patch::remove(0..3), Patch::remove(2..4)]).unwrap(),
            "ef"
        );
        assert_eq!(
            apply("abcdef", vec![Patch::remove(1..4), Patch::insert(2, "X")]).unwrap(),
            "aXef"
        );
        // A replacement overlapping anything is a bug.
        assert!(apply("abc", vec![Patch::replace(0..2, "x"), Patch::remove(1..3)]).is_err());
        assert!(apply("abc", vec![Patch::remove(0..2), Patch::replace(1..3, "y")]).is_err());
    }
}
