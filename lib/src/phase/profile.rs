//! The recorded boot profile: the other phase's versions of every element that differs
//! between install and final, kept verbatim in `<metadata>` under domkit's namespace, and
//! the swap that trades them with the active ones byte for byte.
//!
//! Each slot holds one element's exact text (CDATA, so libvirt's re-formatting of the
//! document cannot touch it). A slot whose element is absent in the active phase also
//! records where it goes back: after which sibling (by key) and how many bytes later.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::error::{Error, Result};
use crate::xml::domain::{self, DOMAIN_ORDER};
use crate::xml::edit;
use crate::xml::{self, Document, Id, Patch};

/// The XML namespace of domkit's metadata.
pub const NAMESPACE: &str = "https://domkit.dev/xmlns/profile/1";
const PREFIX: &str = "domkit";

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
    /// The `<domkit:profile>` element.
    pub element: Id,
    /// Its `<metadata>` parent.
    pub metadata: Id,
}

fn local_name(name: &str) -> (&str, &str) {
    match name.split_once(':') {
        Some((prefix, local)) => (prefix, local),
        None => ("", name),
    }
}

/// Whether element `id` is in domkit's namespace (declared on it or an ancestor).
fn in_namespace(doc: &Document<'_>, id: Id) -> bool {
    let (prefix, _) = local_name(doc.el(id).name);
    let decl = if prefix.is_empty() {
        "xmlns".to_string()
    } else {
        format!("xmlns:{prefix}")
    };
    let mut at = Some(id);
    while let Some(e) = at {
        if let Some(ns) = doc.attr(e, &decl) {
            return ns == NAMESPACE;
        }
        at = doc.el(e).parent;
    }
    false
}

/// Finds and reads the document's recorded profile.
///
/// # Errors
/// A malformed or duplicated profile.
pub fn find(doc: &Document<'_>) -> Result<Option<Located>> {
    let Some(metadata) = doc.child(0, "metadata") else {
        return Ok(None);
    };
    let mut found: Option<Located> = None;
    for &c in &doc.el(metadata).children {
        if local_name(doc.el(c).name).1 != "profile" || !in_namespace(doc, c) {
            continue;
        }
        if found.is_some() {
            return Err(bad(doc, c, "two domkit boot profiles recorded; keep one"));
        }
        found = Some(Located {
            profile: read(doc, c)?,
            element: c,
            metadata,
        });
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
        if local_name(doc.el(s).name).1 != "slot" {
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
            Some(Recorded {
                text: doc.text_of(s)?,
                place,
            })
        };
        slots.push(Slot {
            key: key.to_string(),
            recorded,
        });
    }
    Ok(Profile {
        recorded,
        restores_original,
        metadata,
        slots,
    })
}

fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// Renders the profile element: `indent` before every line but the first, no final newline.
pub fn render(profile: &Profile, indent: &str, unit: &str, newline: &str, quote: char) -> String {
    let q = quote;
    let attr = |name: &str, value: &str| format!(" {name}={q}{}{q}", xml::escape(value));
    let mut out = format!(
        "<{PREFIX}:profile{}{}",
        attr(&format!("xmlns:{PREFIX}"), NAMESPACE),
        attr("recorded", profile.recorded.as_str())
    );
    if profile.restores_original {
        out.push_str(&attr("restore", "original"));
    }
    match profile.metadata {
        MetadataOrigin::Existing => {}
        MetadataOrigin::Created => out.push_str(&attr("metadata", "created")),
        MetadataOrigin::Expanded => out.push_str(&attr("metadata", "expanded")),
    }
    if profile.slots.is_empty() {
        out.push_str("/>");
        return out;
    }
    out.push('>');
    out.push_str(&render_slots(&profile.slots, indent, unit, newline, quote));
    out.push_str(&format!("</{PREFIX}:profile>"));
    out
}

/// The profile element's content: one line per slot, then the closing tag's indentation.
fn render_slots(slots: &[Slot], indent: &str, unit: &str, newline: &str, q: char) -> String {
    let attr = |name: &str, value: &str| format!(" {name}={q}{}{q}", xml::escape(value));
    let mut out = String::new();
    for slot in slots {
        out.push_str(newline);
        out.push_str(indent);
        out.push_str(unit);
        out.push_str(&format!("<{PREFIX}:slot{}", attr("key", &slot.key)));
        match &slot.recorded {
            None => out.push_str(&format!("{}/>", attr("absent", "yes"))),
            Some(rec) => {
                if let Some(place) = &rec.place {
                    if let Some(after) = &place.after {
                        out.push_str(&attr("after", after));
                    }
                    out.push_str(&attr("gap", &place.gap.to_string()));
                }
                out.push_str(&format!(">{}</{PREFIX}:slot>", cdata(&rec.text)));
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

/// Removal ranges for `ids`, each with where it goes back: the nearest preceding sibling
/// that stays, and the gap after it, not counting the other removals in between.
fn removals(
    doc: &Document<'_>,
    keys: &domain::Keys,
    ids: &[(usize, Id)],
    keep: &dyn Fn(Id) -> bool,
) -> Vec<(usize, Range<usize>, Place)> {
    let removed: HashSet<Id> = ids.iter().map(|&(_, id)| id).collect();
    let ranges: HashMap<Id, Range<usize>> = ids
        .iter()
        .map(|&(_, id)| (id, edit::removal_range(doc, id)))
        .collect();
    let mut out = Vec::new();
    for &(slot, id) in ids {
        let range = ranges[&id].clone();
        let parent = doc.el(id).parent.expect("not the root");
        let siblings = &doc.el(parent).children;
        let pos = siblings.iter().position(|&s| s == id).expect("child");
        let anchor = siblings[..pos]
            .iter()
            .rev()
            .copied()
            .find(|s| !removed.contains(s) && keep(*s));
        let anchor_end = anchor.map_or(doc.el(parent).start_tag_end, |a| doc.el(a).end);
        let skipped: usize = ranges
            .values()
            .filter(|r| r.start >= anchor_end && r.end <= range.start)
            .map(|r| r.len())
            .sum();
        let gap = range
            .start
            .saturating_sub(anchor_end)
            .saturating_sub(skipped);
        let after = anchor.and_then(|a| keys.key(a)).map(str::to_string);
        out.push((slot, range, Place { after, gap }));
    }
    out
}

/// Where recorded text with `place` goes into `doc`: `gap` bytes after its anchor, when
/// those bytes hold no element; otherwise just after the anchor's line.
///
/// # Errors
/// The anchor sibling is gone, or the parent is missing.
fn insertion_point(
    doc: &Document<'_>,
    keys: &domain::Keys,
    key: &str,
    place: &Place,
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
            let a = keys.find(after).ok_or_else(|| {
                Error::Edit(format!("{}: recorded boot profile: '{key}' goes after '{after}', which the document lacks", doc.source))
            })?;
            doc.el(a).end
        }
    };
    let at = anchor_end + place.gap;
    let limit = doc.el(parent).content_end;
    let clean = at <= limit && {
        let between = &doc.text[anchor_end..at];
        !between
            .match_indices('<')
            .any(|(i, _)| !between[i + 1..].starts_with(['!', '?']))
    };
    Ok(if clean {
        at
    } else {
        doc.after_line(anchor_end)
    })
}

/// Swaps the active phase with the recorded one: returns the document in the other phase,
/// its profile now holding the phase that was active. With `drop_profile` the profile is
/// removed instead (and a `<metadata>` domkit created with it).
///
/// # Errors
/// A profile inconsistent with the document: a slot recorded as a replacement whose
/// element is missing. (One recorded as an insertion whose element is present replaces
/// it: libvirt adds defaults such as `<on_reboot>` when it stores a config.)
pub fn swap(doc: &Document<'_>, located: &Located, drop_profile: bool) -> Result<String> {
    let profile = &located.profile;
    let mut patches = Vec::new();
    let mut new_slots: Vec<Option<Slot>> = vec![None; profile.slots.len()];
    let mut to_remove: Vec<(usize, Id)> = Vec::new();
    let keys = domain::Keys::new(doc);
    for (i, slot) in profile.slots.iter().enumerate() {
        let current = keys.find(&slot.key);
        match (current, &slot.recorded) {
            (Some(id), Some(rec)) => {
                // Recorded as absent from the active config, yet there: libvirt fills in
                // defaults (`virsh dumpxml` adds <on_reboot>restart</on_reboot>, say), so
                // the recorded element replaces it, without the line it was recorded with.
                let text = match rec.place {
                    None => rec.text.as_str(),
                    Some(_) => rec.text.trim(),
                };
                patches.push(Patch::replace(doc.el(id).start..doc.el(id).end, text));
                new_slots[i] = Some(Slot {
                    key: slot.key.clone(),
                    recorded: Some(Recorded {
                        text: doc.raw(id).to_string(),
                        place: None,
                    }),
                });
            }
            (Some(id), None) => to_remove.push((i, id)),
            (None, Some(rec)) => {
                let Some(place) = &rec.place else {
                    return Err(bad(
                        doc,
                        located.element,
                        &format!(
                            "inconsistent: '{}' is recorded as a replacement, but the active config lacks it",
                            slot.key
                        ),
                    ));
                };
                patches.push(Patch::insert(
                    insertion_point(doc, &keys, &slot.key, place)?,
                    rec.text.clone(),
                ));
                new_slots[i] = Some(Slot {
                    key: slot.key.clone(),
                    recorded: None,
                });
            }
            (None, None) => {}
        }
    }
    for (i, range, place) in removals(doc, &keys, &to_remove, &|_| true) {
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
    if drop_profile {
        patches.push(drop_patch(doc, located));
    } else {
        let swapped = Profile {
            recorded: profile.recorded.other(),
            restores_original: profile.restores_original,
            metadata: profile.metadata,
            slots: new_slots.into_iter().flatten().collect(),
        };
        patches.extend(rewrite_profile(doc, located.element, &swapped));
    }
    xml::apply(doc.text, patches)
}

/// Patches turning profile element `id` into `profile`: only the `recorded` value and the
/// slots change, so the start tag keeps its bytes even after libvirt re-quoted it.
fn rewrite_profile(doc: &Document<'_>, id: Id, profile: &Profile) -> Vec<Patch> {
    let e = doc.el(id);
    let indent = doc.indent_at(e.start);
    let unit = doc.indent_unit();
    let recorded = e.attrs.iter().find(|a| a.name == "recorded");
    // The element's own quote style, so a profile libvirt re-quoted stays as it is.
    let quote = match recorded.map(|a| doc.text.as_bytes()[a.value_range.start - 1]) {
        Some(b'\'') => '\'',
        Some(b'"') => '"',
        _ => doc.quote(),
    };
    match recorded {
        Some(attr) if !e.self_closing && !profile.slots.is_empty() => vec![
            Patch::replace(attr.value_range.clone(), profile.recorded.as_str()),
            Patch::replace(
                e.start_tag_end..e.content_end,
                render_slots(&profile.slots, indent, &unit, doc.newline(), quote),
            ),
        ],
        _ => vec![Patch::replace(
            e.start..e.end,
            render(profile, indent, &unit, doc.newline(), quote),
        )],
    }
}

/// The patch that takes the profile out again, `<metadata>` as it was before domkit.
fn drop_patch(doc: &Document<'_>, located: &Located) -> Patch {
    match located.profile.metadata {
        MetadataOrigin::Created => edit::remove(doc, located.metadata),
        MetadataOrigin::Expanded => {
            let m = doc.el(located.metadata);
            Patch::replace(m.start..m.end, "<metadata/>")
        }
        MetadataOrigin::Existing => edit::remove(doc, located.element),
    }
}

/// Records `original`'s versions of every keyed element that `edited` (the other phase,
/// made from `original`) changes, and returns `edited` with that profile in its metadata.
/// The result swaps back to `original` exactly; this is checked, not assumed.
///
/// # Errors
/// `edited` is not well-formed, or the check fails.
pub fn record(
    original: &Document<'_>,
    edited_text: &str,
    recorded: Phase,
    restores_original: bool,
) -> Result<String> {
    let edited = Document::parse(original.source, edited_text)?;
    let before = domain::keyed_elements(original);
    let after: HashMap<String, Id> = domain::keyed_elements(&edited).into_iter().collect();
    let before_keys: HashSet<&str> = before.iter().map(|(k, _)| k.as_str()).collect();

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
    let original_keys: HashMap<Id, &str> = before.iter().map(|(k, id)| (*id, k.as_str())).collect();
    let stays = |id: Id| {
        original_keys
            .get(&id)
            .is_some_and(|k| after.contains_key(*k))
    };
    let original_index = if gone.is_empty() {
        domain::Keys::default()
    } else {
        domain::Keys::new(original)
    };
    for (i, range, place) in removals(original, &original_index, &gone, &stays) {
        slots[i].recorded = Some(Recorded {
            text: original.text[range].to_string(),
            place: Some(place),
        });
    }
    for (key, _) in domain::keyed_elements(&edited) {
        if !before_keys.contains(key.as_str()) {
            slots.push(Slot {
                key,
                recorded: None,
            });
        }
    }

    // An empty `<devices/>` that the other phase had to open cannot be restored child by
    // child: record the whole element instead.
    if let (Some(o), Some(e)) = (domain::devices(original), domain::devices(&edited)) {
        if original.el(o).self_closing && original.raw(o) != edited.raw(e) {
            slots.retain(|s| !s.key.starts_with("devices/"));
            slots.push(Slot {
                key: "devices".into(),
                recorded: Some(Recorded {
                    text: original.raw(o).to_string(),
                    place: None,
                }),
            });
        }
    }

    let patch = place_profile(&edited, &slots, recorded, restores_original);
    let out = xml::apply(edited_text, vec![patch])?;
    // Huge domains: free the edited phase's tree and keys before parsing the result.
    drop((after, before, edited));

    // The promise is exact reversal: check it rather than trust it.
    let doc = Document::parse(original.source, &out)?;
    let located = find(&doc)?.expect("just recorded");
    let back = swap(&doc, &located, true)?;
    if back != original.text {
        return Err(Error::Edit(format!(
            "{}: cannot record a boot profile that restores this document exactly; please report this document",
            original.source
        )));
    }
    Ok(out)
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
    let quote = doc.quote();
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
            let text = format!(
                "<metadata>{nl}{inner}{}{nl}{indent}</metadata>",
                render(&profile, &inner, &unit, nl, quote)
            );
            Patch::replace(doc.el(m).start..doc.el(m).end, text)
        }
        Some(m) => {
            let last = doc.el(m).children.last().copied();
            edit::insert_rendered(doc, m, last, &|indent| {
                format!("{indent}{}", render(&profile, indent, &unit, nl, quote))
            })
        }
        None => {
            profile.metadata = MetadataOrigin::Created;
            let after = edit::ordered_position(doc, 0, "metadata", DOMAIN_ORDER);
            edit::insert_rendered(doc, 0, after, &|indent| {
                let inner = format!("{indent}{unit}");
                format!(
                    "{indent}<metadata>{nl}{inner}{}{nl}{indent}</metadata>",
                    render(&profile, &inner, &unit, nl, quote)
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
                    text: "a]]>b".into(),
                    place: None,
                }),
            }],
        };
        let text = format!(
            "<domain><metadata>{}</metadata></domain>",
            render(&p, "", "  ", "\n", '"')
        );
        let doc = Document::parse("t", &text).unwrap();
        assert_eq!(find(&doc).unwrap().unwrap().profile, p);
    }
}
