//! The recorded boot profile: the other phase's versions of every element that differs
//! between install and final, kept verbatim in `<metadata>` under domkit's namespace, and
//! the swap that trades them with the active ones byte for byte.
//!
//! Each slot holds one element's exact text (CDATA, so libvirt's re-formatting of the
//! document cannot touch it). A slot whose element is absent in the active phase also
//! records where it goes back: after which sibling (by key) and how many bytes later.
//!
//! The profile is found by its namespace name, never by its prefix, and is written back
//! in the spelling it has (see [`Spelling`]): other XML tools and libvirt re-serialise it
//! (ElementTree's `ns0:` and escaped text, libvirt's re-indented `<metadata>`), and the
//! swap stays byte-exact from what they wrote.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::error::{Error, Result};
use crate::xml::domain::{self, DOMAIN_ORDER};
use crate::xml::edit;
use crate::xml::{self, Document, Id, Patch, lexical};

/// The XML namespace of domkit's metadata.
pub const NAMESPACE: &str = "https://domkit.dev/xmlns/profile/1";
/// The prefix of a new profile where the document binds none to [`NAMESPACE`].
const DEFAULT_PREFIX: &str = "domkit";

/// One of the two boot phases of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The first boot: the installer.
    Install,
    /// Every later boot.
    Final,
}

impl Phase {
    /// The other phase.
    pub fn other(self) -> Phase {
        match self {
            Phase::Install => Phase::Final,
            Phase::Final => Phase::Install,
        }
    }

    /// The phase's name as written in documents and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Install => "install",
            Phase::Final => "final",
        }
    }
}

/// Where a recorded element goes back when the active phase lacks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Key of the sibling it follows; `None` for the first place in its parent.
    pub after: Option<String>,
    /// Bytes between that sibling's end (or the parent's start tag) and the element's text.
    pub gap: usize,
}

/// The recorded phase's version of one keyed element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Exact text: the element alone when it replaces the active one, or everything its
    /// removal took (indentation and newline included) when it is to be inserted.
    pub text: String,
    /// Set when the active phase lacks the element.
    pub place: Option<Place>,
}

/// One element that differs between the phases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The element's key (see [`domain::child_keys`]).
    pub key: String,
    /// Its recorded version; `None` when the recorded phase does not have it.
    pub recorded: Option<Recorded>,
}

/// How `<metadata>` came to hold the profile, so dropping the profile restores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataOrigin {
    /// The document had a `<metadata>` with content.
    Existing,
    /// domkit added `<metadata>` for the profile.
    Created,
    /// domkit opened the document's `<metadata/>`.
    Expanded,
}

/// A boot profile as recorded in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The phase the slots hold; the document's active config is the other one.
    pub recorded: Phase,
    /// Set by `domxml-rewrite --to install` on a document that had no profile: going back
    /// to the final phase gives back the original document, profile and all removed.
    pub restores_original: bool,
    /// How the profile got into `<metadata>`.
    pub metadata: MetadataOrigin,
    /// The differing elements.
    pub slots: Vec<Slot>,
}

/// A profile found in a document, with where it sits.
#[derive(Debug)]
pub struct Located {
    /// The profile.
    pub profile: Profile,
    /// The profile element (`<domkit:profile>`, however it is spelled).
    pub element: Id,
    /// Its `<metadata>` parent.
    pub metadata: Id,
}

/// Finds and reads the document's recorded profile: the `<metadata>` child whose namespace
/// name is [`NAMESPACE`], whatever prefix (or default namespace) spells it there.
///
/// # Errors
/// A malformed or duplicated profile, or any other element in its namespace: only a
/// `<profile>` in `<metadata>` and the `<slot>`s in it belong there.
pub fn find(doc: &Document<'_>) -> Result<Option<Located>> {
    let prefixes = doc.prefixes_bound_to(NAMESPACE);
    if prefixes.is_empty() {
        return Ok(None);
    }
    let metadata = doc.child(0, "metadata");
    let mut found: Option<Located> = None;
    for id in 0..doc.elements.len() {
        let prefix = lexical::split_qname(doc.el(id).name).0;
        if !prefixes.contains(&prefix) || doc.namespace_of(id) != Some(NAMESPACE) {
            continue;
        }
        let parent = doc.el(id).parent;
        match doc.local_name(id) {
            "profile" if parent.is_some() && parent == metadata => {
                if found.is_some() {
                    return Err(bad(doc, id, "two domkit boot profiles recorded; keep one"));
                }
                found = Some(Located {
                    profile: read(doc, id)?,
                    element: id,
                    metadata: parent.expect("checked above"),
                });
            }
            // Its profile, read above (document order), checked it.
            "slot" if parent.is_some() && parent == found.as_ref().map(|l| l.element) => {}
            _ => {
                return Err(bad(
                    doc,
                    id,
                    &format!(
                        "<{}> is in the profile's namespace ({NAMESPACE}), where only a <profile> in <metadata> and the <slot>s in it belong",
                        doc.el(id).name
                    ),
                ));
            }
        }
    }
    Ok(found)
}

fn bad(doc: &Document<'_>, id: Id, message: &str) -> Error {
    Error::at(
        doc.source,
        doc.text,
        doc.el(id).start,
        format!("recorded boot profile: {message}"),
    )
}

fn read(doc: &Document<'_>, id: Id) -> Result<Profile> {
    let recorded = match doc.attr(id, "recorded") {
        Some("install") => Phase::Install,
        Some("final") => Phase::Final,
        Some(other) => {
            return Err(bad(
                doc,
                id,
                &format!("recorded=\"{other}\" is neither install nor final"),
            ));
        }
        None => return Err(bad(doc, id, "no recorded=\"install|final\" attribute")),
    };
    let metadata = match doc.attr(id, "metadata") {
        None | Some("existing") => MetadataOrigin::Existing,
        Some("created") => MetadataOrigin::Created,
        Some("expanded") => MetadataOrigin::Expanded,
        Some(other) => return Err(bad(doc, id, &format!("unknown metadata=\"{other}\""))),
    };
    let restores_original = match doc.attr(id, "restore") {
        None => false,
        Some("original") => true,
        Some(other) => return Err(bad(doc, id, &format!("unknown restore=\"{other}\""))),
    };
    let mut slots = Vec::new();
    let mut keys = HashSet::new();
    for &s in &doc.el(id).children {
        // Anything else in domkit's own block (an unprefixed <slot>, another namespace's
        // element) is data nobody would read: a damaged profile, not something to skip.
        if doc.local_name(s) != "slot" || doc.namespace_of(s) != Some(NAMESPACE) {
            return Err(bad(doc, s, &format!("unexpected <{}>", doc.el(s).name)));
        }
        let Some(key) = doc.attr(s, "key") else {
            return Err(bad(doc, s, "a slot without key"));
        };
        if !keys.insert(key.to_string()) {
            return Err(bad(doc, s, &format!("slot '{key}' recorded twice")));
        }
        let recorded = if doc.attr(s, "absent") == Some("yes") {
            None
        } else {
            let place = match doc.attr(s, "gap") {
                None => None,
                Some(gap) => Some(Place {
                    after: doc.attr(s, "after").map(str::to_string),
                    gap: gap.parse().map_err(|_| {
                        bad(
                            doc,
                            s,
                            &format!("slot '{key}': gap=\"{gap}\" is not a number"),
                        )
                    })?,
                }),
            };
            let rec = Recorded {
                text: doc.text_of(s)?,
                place,
            };
            check_slot_text(key, &rec).map_err(|m| bad(doc, s, &m))?;
            Some(rec)
        };
        slots.push(Slot {
            key: key.to_string(),
            recorded,
        });
    }
    // domkit records <devices> either whole or device by device, never both: a swap would
    // take the devices away and then look for one of them inside.
    if keys.contains("devices") && keys.iter().any(|k| k.starts_with("devices/")) {
        return Err(bad(
            doc,
            id,
            "slot 'devices' recorded together with slots of devices inside it",
        ));
    }
    Ok(Profile {
        recorded,
        restores_original,
        metadata,
        slots,
    })
}

/// How a profile's markup is spelled: the prefix of its elements, how slot text is written
/// and how an empty slot ends. Read from the profile in the document, so that a swap writes
/// it back as the document spells it (another tool's prefix, escaped text instead of CDATA,
/// `<slot ... />`): from any spelling, two swaps give the document back byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spelling {
    /// The prefix bound to [`NAMESPACE`] (`""`: the default namespace).
    pub prefix: String,
    /// Slot text as a CDATA section (domkit's own), or as escaped character data.
    pub cdata: bool,
    /// How escaped slot text writes characters beyond ASCII.
    pub beyond_ascii: BeyondAscii,
    /// How an empty slot element ends: `/>` or ` />`.
    pub empty_end: &'static str,
    /// The attribute values' quote.
    pub quote: char,
}

impl Spelling {
    /// domkit's own spelling of a new profile: the prefix the document already binds to
    /// [`NAMESPACE`] at `at`, if any, else `domkit`; CDATA; the document's quote.
    pub fn new_at(doc: &Document<'_>, at: Id) -> Spelling {
        Spelling {
            prefix: doc
                .prefix_for(at, NAMESPACE)
                .filter(|p| !p.is_empty())
                .unwrap_or(DEFAULT_PREFIX)
                .to_string(),
            cdata: true,
            beyond_ascii: BeyondAscii::AsIs,
            empty_end: "/>",
            quote: doc.quote(),
        }
    }

    /// The spelling of the profile element `located` as it stands in `doc`. What the
    /// profile shows of itself decides; where it shows nothing (no slot holds text, or none
    /// is empty), what a swap leaves as it is: its `text` attribute, the elements no slot
    /// names. So the spelling read after a swap is the one read before it.
    fn of(doc: &Document<'_>, located: &Located, keys: &domain::Keys) -> Spelling {
        let id = located.element;
        let e = doc.el(id);
        let own = lexical::split_qname(e.name).0;
        // The slots' prefix, where the profile's content has it in scope: slots may spell
        // the namespace otherwise than their profile does.
        let prefix = e
            .children
            .first()
            .map(|&c| lexical::split_qname(doc.el(c).name).0)
            .filter(|&p| doc.resolve_prefix(id, p) == Some(NAMESPACE))
            .unwrap_or(own);
        let content = |c: Id| &doc.text[doc.el(c).start_tag_end..doc.el(c).content_end];
        let says = |word: &str| {
            doc.attr(id, "text")
                .is_some_and(|t| t.split_ascii_whitespace().any(|w| w == word))
        };
        let cdata = match e
            .children
            .iter()
            .map(|&c| content(c))
            .find(|t| !t.is_empty())
        {
            Some(text) => text.contains("<![CDATA["),
            None => !says(ESCAPED),
        };
        let empty = e
            .children
            .iter()
            .copied()
            .find(|&c| doc.el(c).self_closing)
            .or_else(|| first_empty_element_in(doc, &unswapped_parts(doc, located, keys)));
        let spaced = empty.is_some_and(|c| doc.raw(c).ends_with(" />"));
        // The element's own quote style, so a profile libvirt re-quoted stays as it is.
        let quote = match e.attrs.iter().find(|a| a.name == "recorded") {
            Some(a) if doc.text.as_bytes()[a.value_range.start - 1] == b'\'' => '\'',
            Some(_) => '"',
            None => doc.quote(),
        };
        Spelling {
            prefix: prefix.to_string(),
            cdata,
            beyond_ascii: match beyond_ascii_in(doc, e) {
                _ if cdata => BeyondAscii::AsIs,
                Some(shown) => shown,
                None if says(BeyondAscii::Decimal.word()) => BeyondAscii::Decimal,
                None if says(BeyondAscii::Hex.word()) => BeyondAscii::Hex,
                None => BeyondAscii::AsIs,
            },
            empty_end: if spaced { " />" } else { "/>" },
            quote,
        }
    }

    /// The `text` attribute a profile with `slots` needs: what of its spelling the slots
    /// will not show (no slot holds text; none holds a character beyond ASCII), where it
    /// is not domkit's own (CDATA, characters as they are).
    fn text_attribute(&self, slots: &[Slot]) -> Option<String> {
        if self.cdata {
            return None;
        }
        let texts = || slots.iter().filter_map(|s| s.recorded.as_ref());
        let mut words = Vec::new();
        if texts().next().is_none() {
            words.push(ESCAPED);
        }
        if self.beyond_ascii != BeyondAscii::AsIs && texts().all(|r| r.text.is_ascii()) {
            words.push(self.beyond_ascii.word());
        }
        (!words.is_empty()).then(|| words.join(" "))
    }

    /// The qualified name of domkit's element `local`.
    fn name(&self, local: &str) -> String {
        if self.prefix.is_empty() {
            local.to_string()
        } else {
            format!("{}:{local}", self.prefix)
        }
    }

    fn attr(&self, name: &str, value: &str) -> String {
        let q = self.quote;
        format!(" {name}={q}{}{q}", xml::escape(value))
    }

    /// A slot's text as content: a CDATA section, or character data escaped as libxml2
    /// and ElementTree write it (`&`, `<`, `>`, CR, which a parser would drop, and
    /// beyond ASCII where the profile writes ASCII).
    fn text(&self, text: &str) -> String {
        if self.cdata {
            return format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"));
        }
        let mut out = String::with_capacity(text.len() + text.len() / 4);
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => out.push_str("&#13;"),
                c if c.is_ascii() => out.push(c),
                c => match self.beyond_ascii {
                    BeyondAscii::AsIs => out.push(c),
                    BeyondAscii::Decimal => out.push_str(&format!("&#{};", c as u32)),
                    BeyondAscii::Hex => out.push_str(&format!("&#x{:X};", c as u32)),
                },
            }
        }
        out
    }
}

/// The word of a profile's `text` attribute that says its slots hold escaped text rather
/// than CDATA, written while no slot holds text to show it.
const ESCAPED: &str = "escaped";

/// The parts of the text no swap changes: all but `<metadata>` and every element a slot
/// names, in document order.
fn unswapped_parts(
    doc: &Document<'_>,
    located: &Located,
    keys: &domain::Keys,
) -> Vec<Range<usize>> {
    let mut swapped: Vec<Range<usize>> = located
        .profile
        .slots
        .iter()
        .filter_map(|s| keys.find(&s.key))
        .chain([located.metadata])
        .map(|k| doc.el(k).start..doc.el(k).end)
        .collect();
    swapped.sort_unstable_by_key(|r| r.start);
    let mut parts = Vec::with_capacity(swapped.len() + 1);
    let mut at = 0;
    for r in swapped {
        if r.start > at {
            parts.push(at..r.start);
        }
        at = at.max(r.end);
    }
    parts.push(at..doc.text.len());
    parts
}

/// The first empty element (`<x/>`) in `parts` (see [`unswapped_parts`]).
fn first_empty_element_in(doc: &Document<'_>, parts: &[Range<usize>]) -> Option<Id> {
    let mut part = parts.iter().peekable();
    doc.elements.iter().position(|e| {
        while part.next_if(|r| r.end <= e.start).is_some() {}
        e.self_closing && part.peek().is_some_and(|r| r.contains(&e.start))
    })
}

/// How a profile's escaped text writes characters beyond ASCII: as they are (UTF-8), or
/// as character references, decimal (`&#233;`: ElementTree and lxml writing ASCII) or
/// hexadecimal (`&#xE9;`: libxml2 writing ASCII).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeyondAscii {
    /// As they are.
    AsIs,
    /// `&#233;`.
    Decimal,
    /// `&#xE9;`.
    Hex,
}

impl BeyondAscii {
    /// The word in a profile's `text` attribute that says so.
    fn word(self) -> &'static str {
        match self {
            BeyondAscii::AsIs => "utf-8",
            BeyondAscii::Decimal => "ascii",
            BeyondAscii::Hex => "ascii-hex",
        }
    }
}

/// How the slots of profile element `e` write the first character beyond ASCII they
/// hold, if any does.
fn beyond_ascii_in(doc: &Document<'_>, e: &xml::Element<'_>) -> Option<BeyondAscii> {
    e.children.iter().find_map(|&c| {
        let raw = &doc.text[doc.el(c).start_tag_end..doc.el(c).content_end];
        let literal = raw.find(|c: char| !c.is_ascii());
        let reference = raw.match_indices("&#").map(|(i, _)| i).find(|&i| {
            let name = raw[i + 1..].split(';').next().unwrap_or("");
            lexical::resolve_reference(name).is_ok_and(|c| !c.is_ascii())
        });
        match (literal, reference) {
            (Some(l), Some(r)) if l < r => Some(BeyondAscii::AsIs),
            (Some(_), None) => Some(BeyondAscii::AsIs),
            (_, Some(r)) if raw[r..].starts_with("&#x") => Some(BeyondAscii::Hex),
            (_, Some(_)) => Some(BeyondAscii::Decimal),
            (None, None) => None,
        }
    })
}

/// Renders a new profile element, declaring its prefix: `indent` before every line but
/// the first, no final newline.
pub fn render(
    profile: &Profile,
    indent: &str,
    unit: &str,
    newline: &str,
    spelling: &Spelling,
) -> String {
    let declaration = if spelling.prefix.is_empty() {
        "xmlns".to_string()
    } else {
        format!("xmlns:{}", spelling.prefix)
    };
    let mut out = format!(
        "<{}{}{}",
        spelling.name("profile"),
        spelling.attr(&declaration, NAMESPACE),
        spelling.attr("recorded", profile.recorded.as_str())
    );
    if profile.restores_original {
        out.push_str(&spelling.attr("restore", "original"));
    }
    if let Some(text) = spelling.text_attribute(&profile.slots) {
        out.push_str(&spelling.attr("text", &text));
    }
    match profile.metadata {
        MetadataOrigin::Existing => {}
        MetadataOrigin::Created => out.push_str(&spelling.attr("metadata", "created")),
        MetadataOrigin::Expanded => out.push_str(&spelling.attr("metadata", "expanded")),
    }
    if profile.slots.is_empty() {
        out.push_str(spelling.empty_end);
        return out;
    }
    out.push('>');
    out.push_str(&render_slots(
        &profile.slots,
        indent,
        unit,
        newline,
        spelling,
    ));
    out.push_str(&format!("</{}>", spelling.name("profile")));
    out
}

/// The profile element's content: one line per slot, then the closing tag's indentation.
fn render_slots(
    slots: &[Slot],
    indent: &str,
    unit: &str,
    newline: &str,
    spelling: &Spelling,
) -> String {
    let slot = spelling.name("slot");
    let mut out = String::new();
    for s in slots {
        out.push_str(newline);
        out.push_str(indent);
        out.push_str(unit);
        out.push_str(&format!("<{slot}{}", spelling.attr("key", &s.key)));
        match &s.recorded {
            None => {
                out.push_str(&spelling.attr("absent", "yes"));
                out.push_str(spelling.empty_end);
            }
            Some(rec) => {
                if let Some(place) = &rec.place {
                    if let Some(after) = &place.after {
                        out.push_str(&spelling.attr("after", after));
                    }
                    out.push_str(&spelling.attr("gap", &place.gap.to_string()));
                }
                out.push_str(&format!(">{}</{slot}>", spelling.text(&rec.text)));
            }
        }
    }
    out.push_str(newline);
    out.push_str(indent);
    out
}

/// The parent a key's element lives in.
fn parent_of_key(doc: &Document<'_>, key: &str) -> Option<Id> {
    if key.starts_with("devices/") {
        domain::devices(doc)
    } else {
        Some(0)
    }
}

/// Removal ranges for `ids` (slot index, element), each with where it goes back: after the
/// nearest preceding sibling that stays, and the gap after it, not counting the other
/// removals in between. Linear: the removals of each parent are walked once, in order.
///
/// `domkits` is the `<metadata>` domkit created for its profile, with the bytes dropping it
/// takes: it was not in the document the places are for, so it is neither an anchor nor
/// counted in a gap.
fn removals(
    doc: &Document<'_>,
    keys: &domain::Keys,
    ids: &[(usize, Id)],
    domkits: Option<&Created>,
) -> Vec<(usize, Range<usize>, Place)> {
    let elements: Vec<Id> = ids.iter().map(|&(_, id)| id).collect();
    let ranges = edit::removal_ranges(doc, &elements);
    let removed: HashSet<Id> = elements.iter().copied().collect();
    // Document order, so that the removals between an anchor and an element come first.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| doc.el(ids[i].1).start);
    let mut out = Vec::with_capacity(ids.len());
    // The current anchor (parent, anchor), the bytes removed after it so far, and the last
    // element handled: a removed sibling right after it shares its anchor.
    let mut current: Option<(Id, Option<Id>)> = None;
    let mut skipped = 0usize;
    let mut last: Option<Id> = None;
    for i in order {
        let (slot, id) = ids[i];
        let range = ranges[i].clone();
        let parent = doc.el(id).parent.expect("not the root");
        let previous = doc.previous_sibling(id);
        let anchor = match (previous, current) {
            (Some(p), Some((_, anchor))) if Some(p) == last => anchor,
            _ => {
                let mut anchor = previous;
                let passed_over =
                    |a: &Id| removed.contains(a) || domkits.is_some_and(|c| c.id == *a);
                while let Some(a) = anchor.filter(passed_over) {
                    anchor = doc.previous_sibling(a);
                }
                anchor
            }
        };
        last = Some(id);
        if current != Some((parent, anchor)) {
            current = Some((parent, anchor));
            skipped = 0;
        }
        let anchor_end = anchor.map_or(doc.el(parent).start_tag_end, |a| doc.el(a).end);
        let created = domkits
            .filter(|c| anchor_end <= c.range.start && c.range.end <= range.start)
            .map_or(0, |c| c.range.len());
        let gap = range
            .start
            .saturating_sub(anchor_end)
            .saturating_sub(skipped)
            .saturating_sub(created);
        skipped += range.len();
        let after = anchor.and_then(|a| keys.key(a)).map(str::to_string);
        out.push((slot, range, Place { after, gap }));
    }
    out
}

/// Where recorded text with `place` goes into `doc`: `gap` bytes after its anchor, when
/// those bytes hold no element and end inside the parent; otherwise just after the
/// anchor's line (libvirt re-formats what it stores, so recorded gaps may not fit).
///
/// # Errors
/// The anchor sibling is gone, or the parent is missing.
///
/// The gap does not count `domkits` (the `<metadata>` domkit created, see [`removals`]):
/// when it starts within the gap, the gap goes on after it.
fn insertion_point(
    doc: &Document<'_>,
    keys: &domain::Keys,
    key: &str,
    place: &Place,
    domkits: Option<&Created>,
) -> Result<usize> {
    let parent = parent_of_key(doc, key).ok_or_else(|| {
        Error::Edit(format!(
            "{}: recorded '{key}' needs a <devices> element",
            doc.source
        ))
    })?;
    let anchor_end = match &place.after {
        None => doc.el(parent).start_tag_end,
        Some(after) => {
            let a = keys.find(after).filter(|&a| doc.el(a).parent == Some(parent)).ok_or_else(|| {
                Error::Edit(format!("{}: recorded boot profile: '{key}' goes after '{after}', which the document lacks", doc.source))
            })?;
            doc.el(a).end
        }
    };
    let limit = doc.el(parent).content_end;
    let holds_no_element = |range: Range<usize>| {
        let between = &doc.text[range];
        !between
            .match_indices('<')
            .any(|(i, _)| !between[i + 1..].starts_with(['!', '?']))
    };
    // The bytes before domkit's <metadata> (checked here) and those after it (below).
    let skipped = domkits.map(|c| c.range.clone()).filter(|created| {
        anchor_end <= created.start
            && created.start - anchor_end <= place.gap
            && holds_no_element(anchor_end..created.start)
    });
    let (from, skip) = skipped.map_or((anchor_end, 0), |c| (c.end, c.len()));
    let fits = anchor_end
        .checked_add(place.gap)
        .and_then(|at| at.checked_add(skip))
        .filter(|&at| at <= limit && doc.text.is_char_boundary(at))
        .filter(|&at| holds_no_element(from..at));
    Ok(fits.unwrap_or_else(|| doc.after_line(anchor_end)))
}

/// The `<metadata>` domkit created to hold its profile, while the profile is all it holds:
/// the element and the bytes dropping the profile takes away with it.
struct Created {
    id: Id,
    range: Range<usize>,
}

fn created_metadata(doc: &Document<'_>, located: &Located) -> Option<Created> {
    (located.profile.metadata == MetadataOrigin::Created && holds_only_profile(doc, located)).then(
        || Created {
            id: located.metadata,
            range: edit::removal_range(doc, located.metadata),
        },
    )
}

/// True when the profile is the only thing in its `<metadata>`, blanks aside.
fn holds_only_profile(doc: &Document<'_>, located: &Located) -> bool {
    let m = doc.el(located.metadata);
    let p = doc.el(located.element);
    let blank = |range: Range<usize>| doc.text[range].bytes().all(|b| b.is_ascii_whitespace());
    m.children.len() == 1 && blank(m.start_tag_end..p.start) && blank(p.end..m.content_end)
}

/// Swaps the active phase with the recorded one: returns the document in the other phase,
/// its profile now holding the phase that was active. With `drop_profile` the profile is
/// removed instead (and a `<metadata>` domkit created with it, when nothing else was put
/// into it since).
///
/// # Errors
/// A profile inconsistent with the document, or one whose slots would not give a
/// well-formed document with each slot's element in place: bad input at the profile.
/// (A slot recorded as an insertion whose element is present replaces it: libvirt adds
/// defaults such as `<on_reboot>` when it stores a config.)
pub fn swap(doc: &Document<'_>, located: &Located, drop_profile: bool) -> Result<String> {
    swap_then(doc, located, drop_profile, &|_| Ok(()))
}

/// [`swap`], then `check` on the swapped document, parsed once for both checks (a huge
/// domain's parse is most of a swap's cost).
///
/// # Errors
/// As [`swap`], or what `check` finds.
pub fn swap_then(
    doc: &Document<'_>,
    located: &Located,
    drop_profile: bool,
    check: &dyn Fn(&Document<'_>) -> Result<()>,
) -> Result<String> {
    let out = swapped_text(doc, located, drop_profile)?;
    check_swapped(doc, located, &out, check)?;
    Ok(out)
}

/// The swap's text, not yet checked.
fn swapped_text(doc: &Document<'_>, located: &Located, drop_profile: bool) -> Result<String> {
    let profile = &located.profile;
    let keys = domain::Keys::new(doc);
    let domkits = created_metadata(doc, located);
    let mut patches = Vec::new();
    let mut new_slots: Vec<Option<Slot>> = vec![None; profile.slots.len()];
    let mut to_remove: Vec<(usize, Id)> = Vec::new();
    // Slots whose element comes or goes, with where in this document: the new profile
    // lists them in that order, so that elements going back in at the same place (a run
    // removed together: same anchor, same gap) go back in the order they stood in.
    let mut moved: Vec<(usize, usize)> = Vec::new();
    for (i, slot) in profile.slots.iter().enumerate() {
        let (patch, swapped) = match (keys.find(&slot.key), &slot.recorded) {
            (Some(id), Some(rec)) => replace_slot(doc, &slot.key, id, rec),
            (Some(id), None) => {
                to_remove.push((i, id));
                continue;
            }
            (None, Some(rec)) => {
                let (patch, swapped) =
                    insert_slot(doc, located, &keys, &slot.key, rec, domkits.as_ref())?;
                moved.push((i, patch.range.start));
                (patch, swapped)
            }
            // The slot stands for an element the active config has; without it, the swap
            // could not record it back, and the next swap would lose it.
            (None, None) => {
                return Err(bad(
                    doc,
                    located.element,
                    &format!(
                        "slot '{}' is for an element of this config, which is not there: {}",
                        slot.key,
                        domain::why_no_element(doc, &slot.key)
                    ),
                ));
            }
        };
        patches.push(patch);
        new_slots[i] = Some(swapped);
    }
    for (i, range, place) in removals(doc, &keys, &to_remove, domkits.as_ref()) {
        // Where its removal starts: an element removed with the blanks before it sits where
        // an element inserted after those blanks' anchor goes.
        moved.push((i, range.start));
        let text = doc.text[range.clone()].to_string();
        patches.push(Patch::remove(range));
        new_slots[i] = Some(Slot {
            key: profile.slots[i].key.clone(),
            recorded: Some(Recorded {
                text,
                place: Some(place),
            }),
        });
    }
    // The moved slots keep their places in the profile and fill them in document order;
    // slots at the same place keep the profile's order, the order they went in by.
    let mut places: Vec<usize> = moved.iter().map(|&(i, _)| i).collect();
    places.sort_unstable();
    moved.sort_unstable_by_key(|&(i, at)| (at, i));
    let taken: Vec<Option<Slot>> = moved.iter().map(|&(i, _)| new_slots[i].take()).collect();
    for (i, slot) in places.into_iter().zip(taken) {
        new_slots[i] = slot;
    }
    if drop_profile {
        patches.push(drop_patch(doc, located));
    } else {
        let swapped = Profile {
            recorded: profile.recorded.other(),
            restores_original: profile.restores_original,
            metadata: profile.metadata,
            slots: new_slots.into_iter().flatten().collect(),
        };
        patches.extend(rewrite_profile(doc, located, &keys, &swapped));
    }
    xml::apply(doc.text, patches).map_err(|_| {
        bad(
            doc,
            located.element,
            "inconsistent: its slots overlap in this document",
        )
    })
}

/// The recorded element replaces the active one; the active one is recorded instead, in
/// the form the slot had.
fn replace_slot(doc: &Document<'_>, key: &str, id: Id, rec: &Recorded) -> (Patch, Slot) {
    let active = doc.raw(id);
    let (text, recorded) = match &rec.place {
        None => (
            rec.text.as_str(),
            Recorded {
                text: active.to_string(),
                place: None,
            },
        ),
        // Recorded as absent from the active config, yet there: libvirt fills in defaults
        // (`virsh dumpxml` adds <on_reboot>restart</on_reboot>, say), so the recorded
        // element replaces it, without the line it was recorded with. The active one keeps
        // the slot's place and lines, so that swapping back records the slot exactly as it
        // was: an insertion, not a replacement.
        Some(place) => {
            let element = trim_blanks(&rec.text);
            let before = element.as_ptr() as usize - rec.text.as_ptr() as usize;
            let after = &rec.text[before + element.len()..];
            (
                element,
                Recorded {
                    text: format!("{}{active}{after}", &rec.text[..before]),
                    place: Some(place.clone()),
                },
            )
        }
    };
    let patch = Patch::replace(doc.el(id).start..doc.el(id).end, text);
    let slot = Slot {
        key: key.to_string(),
        recorded: Some(recorded),
    };
    (patch, slot)
}

/// The recorded element goes back where it was; the active phase records it as absent.
fn insert_slot(
    doc: &Document<'_>,
    located: &Located,
    keys: &domain::Keys,
    key: &str,
    rec: &Recorded,
    domkits: Option<&Created>,
) -> Result<(Patch, Slot)> {
    let Some(place) = &rec.place else {
        return Err(bad(
            doc,
            located.element,
            &format!(
                "inconsistent: '{key}' is recorded as a replacement, but the active config lacks it"
            ),
        ));
    };
    let at = insertion_point(doc, keys, key, place, domkits)?;
    let slot = Slot {
        key: key.to_string(),
        recorded: None,
    };
    Ok((Patch::insert(at, rec.text.clone()), slot))
}

/// The swapped document must be well-formed and hold an element for every slot that went
/// in: a damaged profile (truncated text, an element under another slot's key) is caught
/// here, before anything is written.
fn check_swapped(
    doc: &Document<'_>,
    located: &Located,
    out: &str,
    check: &dyn Fn(&Document<'_>) -> Result<()>,
) -> Result<()> {
    let swapped = Document::parse(doc.source, out).map_err(|e| {
        bad(
            doc,
            located.element,
            &format!("its slots do not give a well-formed document ({e})"),
        )
    })?;
    let keys = domain::Keys::new(&swapped);
    // What a slot brought in answers to the rules input does: a slot holding an <os> with
    // two <type> would give a document that domkit, like libvirt, refuses.
    if let Some((second, why)) = domain::second_of_a_single(&swapped) {
        let mut outer = second;
        while let Some(p) = swapped
            .el(outer)
            .parent
            .filter(|&p| keys.key(outer).is_none() && p != 0)
        {
            outer = p;
        }
        let brought = keys.key(outer).filter(|k| {
            located
                .profile
                .slots
                .iter()
                .any(|s| s.key == *k && s.recorded.is_some())
        });
        let what = brought.map_or("its slots bring in".to_string(), |k| {
            format!("slot '{k}' brings in")
        });
        return Err(bad(doc, located.element, &format!("{what} {why}")));
    }
    for slot in located
        .profile
        .slots
        .iter()
        .filter(|s| s.recorded.is_some())
    {
        if keys.find(&slot.key).is_none() {
            return Err(bad(
                doc,
                located.element,
                &format!(
                    "slot '{}' does not hold the element its key names",
                    slot.key
                ),
            ));
        }
    }
    check(&swapped)
}

/// `text` without the ASCII blanks and line ends around it.
fn trim_blanks(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// The element name a slot key names: `devices/disk[vda]` -> `disk`, `name#2` -> `name`.
fn key_element(key: &str) -> &str {
    let local = key.strip_prefix("devices/").unwrap_or(key);
    let end = local.find(['[', '#']).unwrap_or(local.len());
    &local[..end]
}

/// A recorded text must be exactly one element named as its key says, with nothing but
/// blanks around it where it is to be inserted.
fn check_slot_text(key: &str, rec: &Recorded) -> std::result::Result<(), String> {
    let element = match rec.place {
        None => rec.text.as_str(),
        Some(_) => trim_blanks(&rec.text),
    };
    let expected = key_element(key);
    match xml::single_element(element) {
        Ok(name) if name == expected => Ok(()),
        Ok(name) => Err(format!("slot '{key}' holds <{name}>, not <{expected}>")),
        Err(why) => Err(format!(
            "slot '{key}' does not hold exactly one <{expected}> element: {why}"
        )),
    }
}

/// The document in its final phase with the profile taken out (and a `<metadata>`
/// domkit created with it): what a new install method is recorded against.
///
/// # Errors
/// A profile inconsistent with the document.
pub fn without(doc: &Document<'_>, located: &Located) -> Result<String> {
    match located.profile.recorded {
        Phase::Final => swap(doc, located, true),
        Phase::Install => xml::apply(doc.text, vec![drop_patch(doc, located)]),
    }
}

/// Patches turning the located profile element into `profile`: only the `recorded` value,
/// the `text` attribute and the slots change, so the start tag keeps its bytes (quotes,
/// declarations, attribute order) whoever wrote it, and the slots are spelled as the
/// profile spells them.
fn rewrite_profile(
    doc: &Document<'_>,
    located: &Located,
    keys: &domain::Keys,
    profile: &Profile,
) -> Vec<Patch> {
    let id = located.element;
    let e = doc.el(id);
    let Layout {
        indent,
        unit,
        newline,
    } = layout(doc, id);
    let spelling = Spelling::of(doc, located, keys);
    let recorded = e.attrs.iter().find(|a| a.name == "recorded");
    let Some(recorded) = recorded.filter(|_| e.self_closing == profile.slots.is_empty()) else {
        return vec![Patch::replace(
            e.start..e.end,
            render(profile, &indent, &unit, newline, &spelling),
        )];
    };
    let mut patches = vec![Patch::replace(
        recorded.value_range.clone(),
        profile.recorded.as_str(),
    )];
    let text = e.attrs.iter().find(|a| a.name == "text");
    match (text, spelling.text_attribute(&profile.slots)) {
        (None, Some(wanted)) => patches.push(Patch::insert(
            recorded.value_range.end + 1,
            spelling.attr("text", &wanted),
        )),
        (Some(a), Some(wanted)) if a.value != wanted => {
            patches.push(Patch::replace(a.value_range.clone(), wanted));
        }
        (Some(a), None) => {
            // With the blanks before it, so the start tag is as it was without it.
            let from = doc.text[..a.start]
                .trim_end_matches([' ', '\t', '\r', '\n'])
                .len();
            patches.push(Patch::remove(from..a.value_range.end + 1));
        }
        _ => {}
    }
    if !e.self_closing {
        patches.push(Patch::replace(
            e.start_tag_end..e.content_end,
            render_slots(&profile.slots, &indent, &unit, newline, &spelling),
        ));
    }
    patches
}

/// How a profile's lines are laid out: the indentation of its end tag, the unit its slots
/// are indented by beyond that, and its line break.
struct Layout {
    indent: String,
    unit: String,
    newline: &'static str,
}

/// The layout profile element `id` already has, read from its own lines where domkit
/// rendered them (the end tag's line, the first slot's), else from the document. Not from
/// the line the profile starts on, nor the document's first line break or indentation
/// unit: the slots a swap moves can change those, and the profile must be re-rendered the
/// same way whichever phase is active, or two swaps would not give a document back.
fn layout(doc: &Document<'_>, id: Id) -> Layout {
    let e = doc.el(id);
    let content = &doc.text[e.start_tag_end..e.content_end];
    let blanks = |t: &str| t.bytes().all(|b| b == b' ' || b == b'\t');
    let indent = match content.rfind('\n') {
        Some(i) if blanks(&content[i + 1..]) => content[i + 1..].to_string(),
        _ => doc.indent_at(e.start).to_string(),
    };
    let newline = if content.starts_with("\r\n") {
        "\r\n"
    } else if content.starts_with('\n') {
        "\n"
    } else {
        doc.newline()
    };
    let first_slot_indent = e.children.first().and_then(|&c| {
        let start = doc.el(c).start;
        let line = doc
            .blank_line_start(start)
            .filter(|&l| l > e.start_tag_end)?;
        Some(&doc.text[line..start])
    });
    let unit = match first_slot_indent.and_then(|i| i.strip_prefix(indent.as_str())) {
        Some(unit) if !unit.is_empty() => unit.to_string(),
        _ => doc.indent_unit(),
    };
    Layout {
        indent,
        unit,
        newline,
    }
}

/// The patch that takes the profile out again: `<metadata>` as it was before domkit, when
/// the profile is all it holds; otherwise only the profile goes, and what other tools put
/// into `<metadata>` since (libosinfo, nova, boxes) stays.
fn drop_patch(doc: &Document<'_>, located: &Located) -> Patch {
    let m = doc.el(located.metadata);
    let alone = holds_only_profile(doc, located);
    match located.profile.metadata {
        MetadataOrigin::Created if alone => edit::remove(doc, located.metadata),
        MetadataOrigin::Expanded if alone => {
            // The start tag as written, closed again: `<metadata >` was `<metadata />`.
            let open = &doc.text[m.start..m.start_tag_end];
            Patch::replace(
                m.start..m.end,
                format!("{}/>", open.strip_suffix('>').unwrap_or(open)),
            )
        }
        _ => edit::remove(doc, located.element),
    }
}

/// Records `original`'s versions of every keyed element that `edited` (the other phase,
/// made from `original`) changes, and returns `edited` with that profile in its metadata.
/// The result swaps back to `original` exactly; this is checked, not assumed.
///
/// Devices are recorded one by one, so that what libvirt adds to the others (addresses,
/// aliases) stays theirs. Where that would not give `original` back exactly (blanks around
/// the added devices that no place rule foresaw), `<devices>` is recorded whole instead:
/// a larger profile, but an exact one, where a refusal would help nobody.
///
/// # Errors
/// `edited` is not well-formed, or neither way restores `original` exactly.
pub fn record(
    original: &Document<'_>,
    edited_text: &str,
    recorded: Phase,
    restores_original: bool,
) -> Result<String> {
    let edited = Document::parse(original.source, edited_text)?;
    refuse_mixed_content(original)?;
    refuse_mixed_content(&edited)?;
    let whole_devices = records_devices_whole(original, &edited);
    let tries: &[bool] = match (whole_devices, domain::devices(original)) {
        (false, Some(_)) => &[false, true],
        _ => &[whole_devices],
    };
    for &whole in tries {
        let slots = differing_slots(original, &edited, whole);
        let patch = place_profile(&edited, &slots, recorded, restores_original);
        let out = xml::apply(edited_text, vec![patch])?;
        if restores_exactly(original, &out)? {
            return Ok(out);
        }
    }
    Err(Error::Edit(format!(
        "{}: cannot record a boot profile that restores this document exactly; please report this document",
        original.source
    )))
}

/// The promise is exact reversal: checks that `out`'s profile gives `original` back.
fn restores_exactly(original: &Document<'_>, out: &str) -> Result<bool> {
    let doc = Document::parse(original.source, out)?;
    let located = find(&doc)?.ok_or_else(|| {
        Error::Edit(format!(
            "{}: internal error: the recorded profile is not found again",
            original.source
        ))
    })?;
    // A swap that fails here is a recording that does not fit: not the user's error. What
    // it gives is compared with `original`, so it needs no check of its own.
    Ok(swapped_text(&doc, &located, true).is_ok_and(|back| back == original.text))
}

/// libvirt's `<domain>`, `<os>`, `<devices>` and `<metadata>` hold elements only. Text
/// beside those elements has no place that a recorded element could be put next to and
/// taken away from exactly: bad input, said in one line.
fn refuse_mixed_content(doc: &Document<'_>) -> Result<()> {
    let parents = [
        Some(0),
        domain::os(doc),
        domain::devices(doc),
        doc.child(0, "metadata"),
    ];
    for m in parents.into_iter().flatten() {
        refuse_text_in(doc, m)?;
    }
    Ok(())
}

fn refuse_text_in(doc: &Document<'_>, m: Id) -> Result<()> {
    let e = doc.el(m);
    let mut at = e.start_tag_end;
    let mut text = String::new();
    for &c in &e.children {
        text.push_str(&doc.text[at..doc.el(c).start]);
        at = doc.el(c).end;
    }
    text.push_str(&doc.text[at.min(e.content_end)..e.content_end]);
    // Comments and processing instructions are markup, not text.
    let mut rest = text.as_str();
    let mut only_markup = true;
    while let Some(i) = rest.find('<') {
        only_markup &= xml_blank(&rest[..i]) && !rest[i..].starts_with("<![CDATA[");
        let (open, close) = if rest[i..].starts_with("<!--") {
            ("<!--", "-->")
        } else {
            ("<?", "?>")
        };
        let body = &rest[i + open.len()..];
        rest = body.find(close).map_or("", |j| &body[j + close.len()..]);
    }
    if only_markup && xml_blank(rest) {
        return Ok(());
    }
    Err(Error::at(
        doc.source,
        doc.text,
        e.start,
        format!(
            "<{}> holds text beside its elements; libvirt keeps elements only there, so no boot profile is recorded for it",
            e.name
        ),
    ))
}

/// Only XML's blanks (space, tab, CR, LF): U+00A0 is text.
fn xml_blank(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The elements a profile records for `doc`: every keyed element, except that a
/// `<devices>` recorded whole stands for its children.
fn slot_elements(doc: &Document<'_>, whole_devices: bool) -> Vec<(String, Id)> {
    if whole_devices {
        domain::child_keys(doc, 0)
            .into_iter()
            .filter(|&(_, c)| doc.el(c).name != "metadata")
            .collect()
    } else {
        domain::keyed_elements(doc)
    }
}

/// A `<devices>` that the original lacks or holds nothing in cannot be restored child by
/// child (the edited phase had to create or open it): it is recorded whole.
fn records_devices_whole(original: &Document<'_>, edited: &Document<'_>) -> bool {
    match (domain::devices(original), domain::devices(edited)) {
        (None, Some(_)) => true,
        (Some(o), Some(e)) => {
            original.el(o).children.is_empty() && original.raw(o) != edited.raw(e)
        }
        _ => false,
    }
}

/// One slot per element that differs between `original` and `edited`, holding the
/// original's version: replaced elements verbatim, removed ones with their lines and
/// where they go back, and added ones as absent.
/// With `whole_devices`, `<devices>` is one slot rather than one per device.
fn differing_slots(
    original: &Document<'_>,
    edited: &Document<'_>,
    whole_devices: bool,
) -> Vec<Slot> {
    let before = slot_elements(original, whole_devices);
    let after: HashMap<String, Id> = slot_elements(edited, whole_devices).into_iter().collect();
    let mut slots: Vec<Slot> = Vec::new();
    let mut gone: Vec<(usize, Id)> = Vec::new();
    for (key, id) in &before {
        match after.get(key) {
            Some(&e) if edited.raw(e) == original.raw(*id) => {}
            Some(_) => slots.push(Slot {
                key: key.clone(),
                recorded: Some(Recorded {
                    text: original.raw(*id).to_string(),
                    place: None,
                }),
            }),
            None => {
                gone.push((slots.len(), *id));
                slots.push(Slot {
                    key: key.clone(),
                    recorded: None,
                });
            }
        }
    }
    if !gone.is_empty() {
        let index = domain::Keys::new(original);
        for (i, range, place) in removals(original, &index, &gone, None) {
            slots[i].recorded = Some(Recorded {
                text: original.text[range].to_string(),
                place: Some(place),
            });
        }
    }
    let before_keys: HashSet<&str> = before.iter().map(|(k, _)| k.as_str()).collect();
    for (key, _) in slot_elements(edited, whole_devices) {
        if !before_keys.contains(key.as_str()) {
            slots.push(Slot {
                key,
                recorded: None,
            });
        }
    }
    slots
}

/// The patch putting a new profile into `doc`'s metadata (creating or opening it).
fn place_profile(
    doc: &Document<'_>,
    slots: &[Slot],
    recorded: Phase,
    restores_original: bool,
) -> Patch {
    let unit = doc.indent_unit();
    let nl = doc.newline();
    // A prefix the document binds to the namespace where the profile goes is reused.
    let spelling = Spelling::new_at(doc, doc.child(0, "metadata").unwrap_or(0));
    let mut profile = Profile {
        recorded,
        restores_original,
        metadata: MetadataOrigin::Existing,
        slots: slots.to_vec(),
    };
    match doc.child(0, "metadata") {
        Some(m) if doc.el(m).self_closing => {
            profile.metadata = MetadataOrigin::Expanded;
            let indent = doc.indent_at(doc.el(m).start);
            let inner = format!("{indent}{unit}");
            // Opened keeping every byte of the tag but its `/`, so dropping the profile
            // closes it again exactly.
            let raw = doc.raw(m);
            let open = raw.strip_suffix("/>").unwrap_or(raw);
            let text = format!(
                "{open}>{nl}{inner}{}{nl}{indent}</metadata>",
                render(&profile, &inner, &unit, nl, &spelling)
            );
            Patch::replace(doc.el(m).start..doc.el(m).end, text)
        }
        Some(m)
            if doc.el(m).children.is_empty()
                && !doc.text[doc.el(m).start_tag_end..doc.el(m).content_end].contains('\n') =>
        {
            // `<metadata></metadata>` (or blanks on one line): the profile goes right after
            // the start tag, adding no line of its own, so taking it out leaves the
            // element's content exactly as it was.
            // Indented as its line is, as later swaps re-render it.
            let at = doc.el(m).start_tag_end;
            let indent = doc.indent_at(doc.el(m).start);
            Patch::insert(at, render(&profile, indent, &unit, nl, &spelling))
        }
        Some(m) => {
            let last = doc.el(m).children.last().copied();
            edit::insert_rendered(doc, m, last, &|indent| {
                format!("{indent}{}", render(&profile, indent, &unit, nl, &spelling))
            })
        }
        None => {
            profile.metadata = MetadataOrigin::Created;
            let after = edit::ordered_position(doc, 0, "metadata", DOMAIN_ORDER);
            edit::insert_rendered(doc, 0, after, &|indent| {
                let inner = format!("{indent}{unit}");
                format!(
                    "{indent}<metadata>{nl}{inner}{}{nl}{indent}</metadata>",
                    render(&profile, &inner, &unit, nl, &spelling)
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINAL: &str = "<domain type='kvm'>\n  <name>vm</name>\n  <os>\n    <type>hvm</type>\n    <boot dev='hd'/>\n  </os>\n  <devices>\n    <disk type='file' device='disk'>\n      <source file='/d.img'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n    <!-- a comment the user keeps -->\n    <serial type='pty'/>\n  </devices>\n</domain>\n";

    fn install_of(text: &str) -> String {
        let a = edit::with_doc("t", text, |d| edit::set_os_boot(d, &["cdrom", "hd"])).unwrap();
        let b = edit::with_doc("t", &a, |d| {
            Ok(edit::set_domain_text(d, "on_reboot", Some("destroy")))
        })
        .unwrap();
        edit::with_doc("t", &b, |d| {
            let devices = domain::devices(d).unwrap();
            let cd = xml::Fragment::new("disk")
                .attr("type", "file")
                .attr("device", "cdrom")
                .child(xml::Fragment::new("target").attr("dev", "hdc"));
            let last = domain::hard_disks(d).last().copied();
            let unit = d.indent_unit();
            Ok(vec![edit::insert_rendered(d, devices, last, &|i| {
                cd.render(i, &unit, "\n", '\'')
            })])
        })
        .unwrap()
    }

    fn swap_text(text: &str, drop: bool) -> String {
        let doc = Document::parse("t", text).unwrap();
        let located = find(&doc).unwrap().unwrap();
        swap(&doc, &located, drop).unwrap()
    }

    #[test]
    fn record_then_swap_is_exact_both_ways() {
        let original = Document::parse("t", FINAL).unwrap();
        let install = record(&original, &install_of(FINAL), Phase::Final, true).unwrap();
        assert!(install.contains("<boot dev='cdrom'/>"));
        assert!(install.contains("metadata='created'"), "{install}");
        assert_eq!(swap_text(&install, true), FINAL);
        let final_with_profile = swap_text(&install, false);
        assert!(final_with_profile.contains("recorded='install'"));
        assert_eq!(swap_text(&final_with_profile, false), install);
    }

    /// The way `record` falls back to where device-by-device slots would not restore the
    /// document exactly: `<devices>` whole, which restores it, and swaps both ways.
    #[test]
    fn devices_recorded_whole_restore_exactly() {
        let original = Document::parse("t", FINAL).unwrap();
        let edited_text = install_of(FINAL);
        let edited = Document::parse("t", &edited_text).unwrap();
        let slots = differing_slots(&original, &edited, true);
        assert!(slots.iter().any(|s| s.key == "devices"));
        assert!(!slots.iter().any(|s| s.key.starts_with("devices/")));
        let patch = place_profile(&edited, &slots, Phase::Final, true);
        let install = xml::apply(&edited_text, vec![patch]).unwrap();
        assert!(restores_exactly(&original, &install).unwrap());
        let final_with_profile = swap_text(&install, false);
        assert_eq!(swap_text(&final_with_profile, false), install);
    }

    #[test]
    fn removed_elements_come_back_in_place() {
        // The install phase lacks the serial and the comment-preceded element order matters.
        let original = Document::parse("t", FINAL).unwrap();
        let edited = edit::with_doc("t", FINAL, |d| edit::remove_device(d, "vda")).unwrap();
        let recorded = record(&original, &edited, Phase::Final, true).unwrap();
        assert!(!recorded.contains("<target dev='vda'") || recorded.contains("CDATA"));
        assert_eq!(swap_text(&recorded, true), FINAL);
    }

    #[test]
    fn inconsistent_profiles_are_refused() {
        let text = "<domain><metadata><d:profile xmlns:d='https://domkit.dev/xmlns/profile/1' recorded='install'><d:slot key='os'><![CDATA[<os/>]]></d:slot></d:profile></metadata></domain>";
        let doc = Document::parse("t", text).unwrap();
        let located = find(&doc).unwrap().unwrap();
        let err = swap(&doc, &located, false).unwrap_err().to_string();
        assert!(err.contains("inconsistent"), "{err}");
        let twice = text.replace(
            "</metadata>",
            "<d:profile xmlns:d='https://domkit.dev/xmlns/profile/1' recorded='final'/></metadata>",
        );
        assert!(
            find(&Document::parse("t", &twice).unwrap())
                .unwrap_err()
                .to_string()
                .contains("two domkit")
        );
        let bad_phase = text.replace("recorded='install'", "recorded='later'");
        assert!(find(&Document::parse("t", &bad_phase).unwrap()).is_err());
        // A slot outside domkit's namespace is damage, not something to skip (fuzz F7).
        for stray in [
            "<slot key='x' absent='yes'/>",
            "<o:slot xmlns:o='urn:o' key='x'/>",
        ] {
            let strayed = text.replace("</d:profile>", &format!("{stray}</d:profile>"));
            let err = find(&Document::parse("t", &strayed).unwrap()).unwrap_err();
            assert!(err.to_string().contains("unexpected <"), "{err}");
        }
    }

    /// An install config whose profile records `n` install disks as absent, laid out with
    /// `slots` between the profile's slots, `devices` between the devices and `inside`
    /// between the elements inside a device (see benches/xml.rs for the same layouts at
    /// the sizes that take seconds).
    fn install_with_disks(n: usize, slots: &str, devices: &str, inside: &str) -> String {
        let target = |i: usize| {
            format!(
                "vd{}",
                (0..3)
                    .map(|d| char::from(b'a' + (i / 26usize.pow(d) % 26) as u8))
                    .collect::<String>()
            )
        };
        let mut profile = format!(
            "<domkit:profile xmlns:domkit='{NAMESPACE}' recorded='final' restore='original'>{slots}<domkit:slot key='on_reboot' absent='yes'/>"
        );
        let mut disks = String::new();
        for i in 0..=n {
            if i > 0 {
                profile.push_str(&format!(
                    "{slots}<domkit:slot key='devices/disk[{}]' absent='yes'/>",
                    target(i)
                ));
            }
            disks.push_str(&format!(
                "{devices}<disk type='file' device='disk'>{inside}<source file='/s/{i}.img'/>{inside}<target dev='{}' bus='virtio'/>{devices}</disk>",
                target(i)
            ));
        }
        format!(
            "<domain type='kvm'>{devices}<name>vm</name>{devices}<metadata>{slots}{profile}{slots}</domkit:profile>{devices}</metadata>{devices}<os>{inside}<type>hvm</type>{inside}<boot dev='hd'/>{devices}</os>{devices}<on_reboot>destroy</on_reboot>{devices}<devices>{disks}{devices}<serial type='pty'/>{devices}</devices>{devices}</domain>\n"
        )
    }

    /// Issue 16, item 5: a swap looked back to the start of the line of every device it
    /// removed, so on a document with long lines the work grew as devices times line
    /// length (12 s for 60,000 slots). The line queries count the bytes they look at:
    /// removing N disks and putting them back must look at no more than the document's
    /// size over again, on every layout.
    #[test]
    fn swap_work_is_linear_on_every_layout() {
        let layouts = [
            ("one line", " ", " ", " "),
            ("one line, no blanks", "", "", ""),
            ("one element per line", "\n", "\n", "\n"),
            ("libvirt's", "\n      ", "\n    ", "\n      "),
            ("slots on one line, devices one per line", "", "\n    ", ""),
        ];
        for (name, slots, devices, inside) in layouts {
            let install = install_with_disks(1000, slots, devices, inside);
            let before = crate::xml::document::scanned_bytes();
            // The first swap re-renders the hand-written profile; from then on every
            // swap gives the document before the last one back.
            let removed = swap_text(&install, false);
            let back = swap_text(&removed, false);
            let again = swap_text(&back, false);
            let scanned = crate::xml::document::scanned_bytes() - before;
            assert!(again == removed, "{name}: not its own inverse");
            let final_doc = Document::parse("t", &removed).unwrap();
            let devices = domain::devices(&final_doc).unwrap();
            assert_eq!(final_doc.el(devices).children.len(), 2, "{name}");
            let sizes = install.len() + removed.len() + back.len();
            assert!(
                scanned <= sizes,
                "{name}: three swaps looked at {scanned} bytes of line for documents of {sizes} bytes"
            );
        }
    }

    #[test]
    fn cdata_survives_its_terminator() {
        let p = Profile {
            recorded: Phase::Install,
            restores_original: false,
            metadata: MetadataOrigin::Existing,
            slots: vec![Slot {
                key: "os".into(),
                recorded: Some(Recorded {
                    text: "<os note='a]]>b'/>".into(),
                    place: None,
                }),
            }],
        };
        let text = format!(
            "<domain><metadata>{}</metadata></domain>",
            render(
                &p,
                "",
                "  ",
                "\n",
                &Spelling::new_at(&Document::parse("t", "<d/>").unwrap(), 0)
            )
        );
        let doc = Document::parse("t", &text).unwrap();
        assert_eq!(find(&doc).unwrap().unwrap().profile, p);
    }
}
