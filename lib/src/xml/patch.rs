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

/// Applies non-overlapping patches to `text`. Insertions at the same offset keep their
/// given order, and come before a replacement that starts there.
///
/// # Errors
/// Overlapping patches: a bug in the caller, reported rather than producing a broken document.
pub fn apply(text: &str, mut patches: Vec<Patch>) -> Result<String> {
    // Stable sort: equal starts keep the order they were given in, inserts first.
    patches.sort_by_key(|p| (p.range.start, !p.range.is_empty()));
    let mut out =
        String::with_capacity(text.len() + patches.iter().map(|p| p.text.len()).sum::<usize>());
    let mut at = 0;
    for p in &patches {
        if p.range.start < at {
            return Err(Error::Edit(format!(
                "internal error: overlapping edits at bytes {}..{}",
                p.range.start, p.range.end
            )));
        }
        out.push_str(&text[at..p.range.start]);
        out.push_str(&p.text);
        at = p.range.end;
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
        assert!(apply("abc", vec![Patch::remove(0..2), Patch::remove(1..3)]).is_err());
    }
}
