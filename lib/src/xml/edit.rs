//! Edits on a domain document, each computed as byte-range patches over the original text:
//! insert a child where libvirt would put it, replace or remove an element with its line,
//! and the explicit edits `domxml-rewrite` offers (`--boot`, `--kernel`, `--eject`, ...).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::error::{Error, Result};
use crate::xml::domain::{self, DISK_ORDER, DOMAIN_ORDER, OS_ORDER};
use crate::xml::{self, Document, Fragment, Id, Patch};

/// Runs `edit` on a freshly parsed `text` and applies the patches it returns.
///
/// # Errors
/// Whatever parsing or the edit reports.
pub fn with_doc<F>(source: &str, text: &str, edit: F) -> Result<String>
where
    F: FnOnce(&Document<'_>) -> Result<Vec<Patch>>,
{
    let doc = Document::parse(source, text)?;
    let patches = edit(&doc)?;
    if patches.is_empty() {
        return Ok(text.to_string());
    }
    xml::apply(text, patches)
}

/// The byte range removing element `id` takes: its own line(s) when it stands alone,
/// otherwise the element and the blanks between it and what precedes it.
pub fn removal_range(doc: &Document<'_>, id: Id) -> Range<usize> {
    removal_ranges(doc, &[id])
        .pop()
        .expect("one range per element")
}

/// The byte ranges removing all of `ids` (siblings or not) take, one per element, in the
/// order given. An element that stands alone on its lines takes them with it; so does a run
/// of removed siblings that together fill their lines (`<boot dev='cdrom'/> <boot
/// dev='hd'/>` on one line): the first takes the line's start, the last its end, each the
/// blanks before it, so the ranges meet without overlapping and no blank line stays
/// behind. Any other element takes itself and the blanks back to what precedes it.
pub fn removal_ranges(doc: &Document<'_>, ids: &[Id]) -> Vec<Range<usize>> {
    let removed: HashSet<Id> = ids.iter().copied().collect();
    // Runs of removed siblings with only blanks between them, found in one pass over
    // each parent's children: element -> (first, last) of its run.
    let mut runs: HashMap<Id, (Id, Id)> = HashMap::with_capacity(ids.len());
    let mut parents_seen = HashSet::new();
    for &id in ids {
        let Some(parent) = doc.el(id).parent else {
            continue;
        };
        if !parents_seen.insert(parent) {
            continue;
        }
        let mut run: Vec<Id> = Vec::new();
        let mut close = |run: &mut Vec<Id>| {
            if let (Some(&first), Some(&last)) = (run.first(), run.last()) {
                for &member in run.iter() {
                    runs.insert(member, (first, last));
                }
            }
            run.clear();
        };
        for &c in &doc.el(parent).children {
            if !removed.contains(&c) {
                close(&mut run);
                continue;
            }
            let joined = run.last().is_some_and(|&prev| {
                doc.text[doc.el(prev).end..doc.el(c).start]
                    .bytes()
                    .all(|b| b.is_ascii_whitespace())
            });
            if !joined {
                close(&mut run);
            }
            run.push(c);
        }
        close(&mut run);
    }
    ids.iter()
        .map(|&id| removal_range_in_run(doc, id, runs.get(&id).copied()))
        .collect()
}

fn removal_range_in_run(doc: &Document<'_>, id: Id, run: Option<(Id, Id)>) -> Range<usize> {
    let e = doc.el(id);
    // A run of one is no run.
    let run = run.filter(|(first, last)| first != last);
    // The run member just before `id` (every member but the first has one).
    let member_before = || {
        doc.previous_sibling(id)
            .expect("a run member after the first")
    };
    // A run whose last member is directly followed by a sibling (elements inserted before
    // it on its line): the blanks before the run are that sibling's, even where the first
    // members fill lines of their own; the blanks between members go with them.
    if let Some((first, last)) = run {
        if doc
            .next_sibling(last)
            .is_some_and(|next| doc.el(next).start == doc.el(last).end)
        {
            return if id == first {
                e.start..e.end
            } else {
                doc.el(member_before()).end..e.end
            };
        }
    }
    // A run that starts on a line with what stays before it (siblings inserted after an
    // element that shares its line): every member after the first takes the blanks back to
    // the member before it, line breaks included, and leaves the end of its own line,
    // which was there before the run was (it may be a CRLF where the run's are LFs).
    // Where the run's line starts, when the run's first member starts it (blanks aside).
    let run_line = run.map(|(first, _)| doc.blank_line_start(doc.el(first).start));
    let alone_before = run_line.is_none_or(|line| line.is_some());
    if !alone_before && run.is_some_and(|(first, _)| id != first) {
        return doc.el(member_before()).end..e.end;
    }
    if let Some(lines) = doc.own_lines(id) {
        return lines;
    }
    if let (Some((first, last)), Some(Some(line))) = (run, run_line) {
        let run_end = doc.el(last).end;
        let after = doc.after_line(run_end);
        let alone_after = after > run_end || run_end == doc.text.len();
        if alone_before && alone_after {
            let start = if id == first {
                line
            } else {
                own_lines_end(doc, member_before())
            };
            let end = if id != last || run_end == doc.text.len() {
                e.end
            } else {
                after
            };
            return start..end;
        }
    }
    // Inside a run that shares its lines with what stays: every member after the first
    // takes the blanks back to the member before it, so none stay between the removals.
    // (A member alone on its lines took them, newline included: start after that.)
    if run.is_some_and(|(first, _)| id != first) {
        return own_lines_end(doc, member_before())..e.end;
    }
    // Directly followed by a sibling (as when something was inserted just before it):
    // the blanks before belong to that sibling's place, and stay.
    if doc
        .next_sibling(id)
        .is_some_and(|next| doc.el(next).start == e.end)
    {
        return e.start..e.end;
    }
    let before = doc.text[..e.start]
        .trim_end_matches([' ', '\t', '\r', '\n'])
        .len();
    before.max(preceding_end(doc, id))..e.end
}

/// Where the removal of run member `member` ends: after its lines, newline included, when
/// it stands alone on them (so that the ranges of a run meet without overlapping, whatever
/// the blanks between them hold), else at its end.
fn own_lines_end(doc: &Document<'_>, member: Id) -> usize {
    doc.own_lines(member)
        .map_or(doc.el(member).end, |lines| lines.end)
}

/// Where whatever precedes element `id` inside its parent ends: the previous sibling's end,
/// or the parent's start tag's end.
pub fn preceding_end(doc: &Document<'_>, id: Id) -> usize {
    match doc.previous_sibling(id) {
        Some(previous) => doc.el(previous).end,
        None => {
            let parent = doc.el(id).parent.expect("the root is never removed");
            doc.el(parent).start_tag_end
        }
    }
}

/// A patch removing element `id` (with its line when it has one to itself).
pub fn remove(doc: &Document<'_>, id: Id) -> Patch {
    Patch::remove(removal_range(doc, id))
}

/// Patches removing all of `ids` together (see [`removal_ranges`]).
pub fn remove_all(doc: &Document<'_>, ids: &[Id]) -> Vec<Patch> {
    removal_ranges(doc, ids)
        .into_iter()
        .map(Patch::remove)
        .collect()
}

/// A patch replacing element `id` by `fragment`, indented like the element was.
pub fn replace(doc: &Document<'_>, id: Id, fragment: &Fragment) -> Patch {
    let e = doc.el(id);
    let indent = doc.indent_at(e.start);
    let rendered = fragment.render(indent, &doc.indent_unit(), doc.newline(), doc.quote());
    Patch::replace(e.start..e.end, rendered[indent.len()..].to_string())
}

/// A patch inserting `render(indent)` as a child of `parent`, after sibling `after` (or as
/// the first child when `None`), following the siblings' indentation. `render` gets the
/// indentation the first line needs and must return text without a trailing newline.
pub fn insert_rendered(
    doc: &Document<'_>,
    parent: Id,
    after: Option<Id>,
    render: &dyn Fn(&str) -> String,
) -> Patch {
    let p = doc.el(parent);
    let nl = doc.newline();
    let parent_indent = doc.indent_at(p.start);
    let unit = doc.indent_unit();
    let child_indent = format!("{parent_indent}{unit}");
    if p.self_closing {
        let raw = &doc.text[p.start..p.end];
        let open = raw.trim_end_matches('>').trim_end_matches('/').trim_end();
        return Patch::replace(
            p.start..p.end,
            format!(
                "{open}>{nl}{}{nl}{parent_indent}</{}>",
                render(&child_indent),
                p.name
            ),
        );
    }
    match after {
        Some(sibling) => {
            let s = doc.el(sibling);
            if doc.own_lines(sibling).is_some() {
                let indent = doc.indent_at(s.start);
                Patch::insert(doc.after_line(s.end), format!("{}{nl}", render(indent)))
            } else {
                Patch::insert(s.end, render(""))
            }
        }
        None => match p.children.first() {
            Some(&first) if let Some(lines) = doc.own_lines(first) => {
                let indent = &doc.text[lines.start..doc.el(first).start];
                Patch::insert(lines.start, format!("{}{nl}", render(indent)))
            }
            Some(&first) => Patch::insert(doc.el(first).start, render("")),
            None => {
                let close_line = doc
                    .blank_line_start(p.content_end)
                    .filter(|&line| line > p.start_tag_end);
                let blank = doc.text[p.start_tag_end..p.content_end]
                    .bytes()
                    .all(|b| b.is_ascii_whitespace());
                if let Some(close_line) = close_line {
                    Patch::insert(close_line, format!("{}{nl}", render(&child_indent)))
                } else if !blank {
                    // Comments or processing instructions only: right after the start tag,
                    // the one place from which removing the element again takes exactly
                    // what went in (it takes the blanks back to the start tag). Indented
                    // as the line it is on, as a later edit of it would be.
                    Patch::insert(p.start_tag_end, render(parent_indent))
                } else {
                    Patch::insert(
                        p.content_end,
                        format!(
                            "{nl}{}{nl}{}",
                            render(&child_indent),
                            doc.indent_at(p.content_end)
                        ),
                    )
                }
            }
        },
    }
}

/// A patch inserting `fragment` into `parent` where `order` (libvirt's element order) puts it.
pub fn insert_ordered(
    doc: &Document<'_>,
    parent: Id,
    fragment: &Fragment,
    order: &[&str],
) -> Patch {
    let after = ordered_position(doc, parent, fragment.name(), order);
    let unit = doc.indent_unit();
    let nl = doc.newline();
    let quote = doc.quote();
    insert_rendered(doc, parent, after, &|indent| {
        fragment.render(indent, &unit, nl, quote)
    })
}

/// The sibling a new `name` child goes after in `parent`, by libvirt's `order`; `None`
/// means first. Names `order` does not know go last.
pub fn ordered_position(doc: &Document<'_>, parent: Id, name: &str, order: &[&str]) -> Option<Id> {
    let children = &doc.el(parent).children;
    let Some(rank) = order.iter().position(|n| *n == name) else {
        return children.last().copied();
    };
    let mut after = None;
    for &c in children {
        match order.iter().position(|n| *n == doc.el(c).name) {
            Some(r) if r <= rank => after = Some(c),
            Some(_) => break,
            None if after.is_some() => after = Some(c),
            None => {}
        }
    }
    after
}

/// Patches that make `parent` have exactly one `name` child equal to `fragment` (replacing
/// the first, removing the rest), or none when `fragment` is `None`.
pub fn set_child(
    doc: &Document<'_>,
    parent: Id,
    name: &str,
    fragment: Option<&Fragment>,
    order: &[&str],
) -> Vec<Patch> {
    let existing: Vec<Id> = doc.children_named(parent, name).collect();
    let mut patches = Vec::new();
    match (fragment, existing.first()) {
        (Some(f), Some(&first)) => {
            if doc.raw(first) != f.render("", &doc.indent_unit(), doc.newline(), doc.quote()) {
                patches.push(replace(doc, first, f));
            }
            patches.extend(remove_all(doc, &existing[1..]));
        }
        (Some(f), None) => patches.push(insert_ordered(doc, parent, f, order)),
        (None, _) => patches.extend(remove_all(doc, &existing)),
    }
    patches
}

/// The `<os>` element, or a bad-input error.
///
/// # Errors
/// The domain has no `<os>`.
pub fn require_os(doc: &Document<'_>) -> Result<Id> {
    domain::os(doc)
        .ok_or_else(|| Error::Edit(format!("{}: the domain has no <os> element", doc.source)))
}

/// The `<devices>` element, or a bad-input error.
///
/// # Errors
/// The domain has no `<devices>`.
pub fn require_devices(doc: &Document<'_>) -> Result<Id> {
    domain::devices(doc).ok_or_else(|| {
        Error::Edit(format!(
            "{}: the domain has no <devices> element",
            doc.source
        ))
    })
}

/// Sets (or with `None` removes) a text child of `<os>`: `kernel`, `initrd`, `cmdline`.
///
/// # Errors
/// No `<os>` to edit.
pub fn set_os_text(doc: &Document<'_>, name: &str, value: Option<&str>) -> Result<Vec<Patch>> {
    let os = require_os(doc)?;
    let fragment = value.map(|v| Fragment::new(name).text(v));
    Ok(set_child(doc, os, name, fragment.as_ref(), OS_ORDER))
}

/// Sets several text children of `<os>` at once (`kernel`, `initrd`, `cmdline`, given in
/// `<os>`'s order). Into an `<os>` with no children (`<os/>`, `<os></os>`) they go as one
/// block: one patch per child would each rewrite the same `<os/>`, or each open a line of
/// its own at the same place, leaving blank lines between them.
///
/// # Errors
/// No `<os>` to edit.
pub fn set_os_texts(doc: &Document<'_>, items: &[(&str, &str)]) -> Result<Vec<Patch>> {
    let os = require_os(doc)?;
    if !doc.el(os).children.is_empty() {
        let mut patches = Vec::new();
        for &(name, value) in items {
            patches.extend(set_os_text(doc, name, Some(value))?);
        }
        return Ok(patches);
    }
    let fragments: Vec<Fragment> = items
        .iter()
        .map(|&(name, value)| Fragment::new(name).text(value))
        .collect();
    let (unit, nl, quote) = (doc.indent_unit(), doc.newline(), doc.quote());
    Ok(vec![insert_rendered(doc, os, None, &|indent| {
        fragments
            .iter()
            .map(|f| f.render(indent, &unit, nl, quote))
            .collect::<Vec<_>>()
            .join(nl)
    })])
}

/// Sets (or removes) a text child of `<domain>` such as `on_reboot` or `bootloader`.
pub fn set_domain_text(doc: &Document<'_>, name: &str, value: Option<&str>) -> Vec<Patch> {
    let fragment = value.map(|v| Fragment::new(name).text(v));
    set_child(doc, 0, name, fragment.as_ref(), DOMAIN_ORDER)
}

/// Replaces `<os>`'s `<boot dev>` list with `devs` (none removes them all).
///
/// # Errors
/// No `<os>` to edit.
pub fn set_os_boot(doc: &Document<'_>, devs: &[&str]) -> Result<Vec<Patch>> {
    let os = require_os(doc)?;
    let existing: Vec<Id> = doc.children_named(os, "boot").collect();
    let current: Vec<&str> = existing
        .iter()
        .filter_map(|&b| doc.attr(b, "dev"))
        .collect();
    if current == devs {
        return Ok(Vec::new());
    }
    let mut patches = remove_all(doc, &existing);
    if !devs.is_empty() {
        let unit = doc.indent_unit();
        let nl = doc.newline().to_string();
        let quote = doc.quote();
        let fragments: Vec<Fragment> = devs
            .iter()
            .map(|d| Fragment::new("boot").attr("dev", *d))
            .collect();
        // The new list takes the old one's place, else where libvirt orders <boot>.
        let after = match existing.first() {
            Some(&first) => doc.previous_sibling(first),
            None => ordered_position(doc, os, "boot", OS_ORDER),
        };
        // Each fragment renders with its own indent; lines join with the document's newline.
        let render_lines = |indent: &str| {
            fragments
                .iter()
                .map(|f| f.render(indent, &unit, &nl, quote))
                .collect::<Vec<_>>()
                .join(&nl)
        };
        patches.push(insert_rendered(doc, os, after, &render_lines));
    }
    Ok(patches)
}

/// Sets a device's per-device `<boot order>` (or removes it with `None`). A new one goes
/// last in the device, where virt-install puts it (libvirt accepts any place).
pub fn set_boot_order(doc: &Document<'_>, device: Id, order: Option<u32>) -> Vec<Patch> {
    let fragment = order.map(|o| Fragment::new("boot").attr("order", o.to_string()));
    set_child(doc, device, "boot", fragment.as_ref(), &[])
}

/// Finds a device by disk target or interface MAC.
///
/// # Errors
/// [`Error::Edit`] naming the missing device.
pub fn require_device(doc: &Document<'_>, target: &str) -> Result<Id> {
    domain::find_device(doc, target).ok_or_else(|| {
        Error::Edit(format!(
            "{}: no device with target or MAC '{target}'",
            doc.source
        ))
    })
}

/// Ejects the media of a cdrom or floppy: its `<source>` and `<driver>` go, the drive stays.
///
/// # Errors
/// No such device, or it is not removable media.
pub fn eject(doc: &Document<'_>, target: &str) -> Result<Vec<Patch>> {
    let disk = require_device(doc, target)?;
    check_removable(doc, disk, target)?;
    Ok(eject_disk(doc, disk))
}

/// The patches ejecting disk `disk`'s media as virt-install does (`set_source_path(None)`,
/// `sync_path_props`): the `<source>` goes, the drive becomes `type='file'` (a network,
/// volume or block drive has no source to name any more), and the driver's name and
/// format, which described the media, go with it (the whole `<driver>` when that is all
/// it held).
pub fn eject_disk(doc: &Document<'_>, disk: Id) -> Vec<Patch> {
    let mut patches = set_disk_type(doc, disk, "file");
    let mut gone: Vec<Id> = doc.child(disk, "source").into_iter().collect();
    if let Some(driver) = doc.child(disk, "driver") {
        let media_only = doc.el(driver).children.is_empty()
            && doc
                .el(driver)
                .attrs
                .iter()
                .all(|a| matches!(a.name, "name" | "type"));
        if media_only {
            gone.push(driver);
        } else {
            patches.extend(
                ["name", "type"]
                    .iter()
                    .filter_map(|a| remove_attr(doc, driver, a)),
            );
        }
    }
    gone.sort_by_key(|&id| doc.el(id).start);
    patches.extend(remove_all(doc, &gone));
    patches
}

/// Puts `path` into drive `disk` (replacing any media it had). The drive's type follows the
/// source, as virt-install's `sync_path_props` makes it: a host device (`/dev/...`) is a
/// `type='block'` drive with `<source dev>`, `vol=POOL/NAME` a `type='volume'` drive with
/// `<source pool volume>`, anything else a `type='file'` drive with `<source file>`,
/// whatever the drive was before (network, volume, ...).
pub fn set_disk_source(doc: &Document<'_>, disk: Id, path: &str) -> Vec<Patch> {
    let source =
        crate::xml::disk::Source::parse("", path).unwrap_or(crate::xml::disk::Source::File(path));
    let mut patches = set_disk_type(doc, disk, source.kind());
    patches.extend(set_child(
        doc,
        disk,
        "source",
        Some(&source.fragment()),
        DISK_ORDER,
    ));
    patches
}

/// A disk's `type`, set only where it changes what libvirt reads (no `type` means file).
fn set_disk_type(doc: &Document<'_>, disk: Id, kind: &str) -> Vec<Patch> {
    if kind == "file" && doc.attr(disk, "type").is_none() {
        return Vec::new();
    }
    set_attr(doc, disk, "type", kind)
}

/// A patch giving element `id`'s attribute `name` the value `value`: the value alone is
/// replaced, or the attribute is added at the end of the start tag's attributes.
pub fn set_attr(doc: &Document<'_>, id: Id, name: &str, value: &str) -> Vec<Patch> {
    let e = doc.el(id);
    let quote = doc.quote();
    let escaped = match quote {
        '\'' => xml::escape(value)
            .replace("&apos;", "'")
            .replace('\'', "&apos;"),
        _ => xml::escape(value),
    };
    match e.attrs.iter().find(|a| a.name == name) {
        Some(a) if a.value == value => Vec::new(),
        Some(a) => vec![Patch::replace(a.value_range.clone(), escaped)],
        None => {
            let at = e
                .attrs
                .last()
                .map_or(e.start + 1 + e.name.len(), |a| a.value_range.end + 1);
            vec![Patch::insert(
                at,
                format!(" {name}={quote}{escaped}{quote}"),
            )]
        }
    }
}

/// A patch removing element `id`'s attribute `name` with the blanks before it.
pub fn remove_attr(doc: &Document<'_>, id: Id, name: &str) -> Option<Patch> {
    let a = doc.el(id).attrs.iter().find(|a| a.name == name)?;
    let before = doc.text[..a.start]
        .trim_end_matches([' ', '\t', '\r', '\n'])
        .len();
    Some(Patch::remove(before..a.value_range.end + 1))
}

fn check_removable(doc: &Document<'_>, disk: Id, target: &str) -> Result<()> {
    let kind = domain::disk_device(doc, disk);
    if doc.el(disk).name != "disk" || !matches!(kind, "cdrom" | "floppy") {
        return Err(Error::Edit(format!(
            "{}: '{target}' is not a cdrom or floppy drive",
            doc.source
        )));
    }
    Ok(())
}

/// Puts `path` into cdrom/floppy `target` (replacing any media it had); see
/// [`set_disk_source`].
///
/// # Errors
/// No such device, or it is not removable media.
pub fn insert_media(doc: &Document<'_>, target: &str, path: &str) -> Result<Vec<Patch>> {
    let disk = require_device(doc, target)?;
    check_removable(doc, disk, target)?;
    Ok(set_disk_source(doc, disk, path))
}

/// Removes a device by disk target or interface MAC.
///
/// # Errors
/// No such device.
pub fn remove_device(doc: &Document<'_>, target: &str) -> Result<Vec<Patch>> {
    let device = require_device(doc, target)?;
    Ok(vec![remove(doc, device)])
}

/// Sets `<os><boot dev>` to `devs`, removing any per-device `<boot order>` (libvirt refuses
/// the two together).
///
/// # Errors
/// No `<os>`.
pub fn set_boot(doc: &Document<'_>, devs: &[&str]) -> Result<Vec<Patch>> {
    let mut patches = set_os_boot(doc, devs)?;
    if let Some(devices) = domain::devices(doc) {
        for &d in &doc.el(devices).children {
            patches.extend(doc.children_named(d, "boot").map(|b| remove(doc, b)));
        }
    }
    Ok(patches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, f: impl FnOnce(&Document<'_>) -> Result<Vec<Patch>>) -> String {
        with_doc("t.xml", text, f).unwrap()
    }

    const DOC: &str = "<domain type='kvm'>\n  <name>a</name>\n  <os>\n    <type>hvm</type>\n    <boot dev='hd'/>\n  </os>\n  <devices>\n    <disk type='file' device='cdrom'>\n      <driver name='qemu'/>\n      <source file='/x.iso'/>\n      <target dev='hdc' bus='ide'/>\n    </disk>\n  </devices>\n</domain>\n";

    #[test]
    fn kernel_goes_where_libvirt_puts_it_and_comes_out_again() {
        let with = edit(DOC, |d| set_os_text(d, "kernel", Some("/k")));
        assert!(
            with.contains("    <type>hvm</type>\n    <kernel>/k</kernel>\n    <boot dev='hd'/>\n"),
            "{with}"
        );
        let without = edit(&with, |d| set_os_text(d, "kernel", None));
        assert_eq!(without, DOC);
    }

    #[test]
    fn boot_list_is_replaced_in_place() {
        let out = edit(DOC, |d| set_os_boot(d, &["cdrom", "hd"]));
        assert!(
            out.contains(
                "    <type>hvm</type>\n    <boot dev='cdrom'/>\n    <boot dev='hd'/>\n  </os>"
            ),
            "{out}"
        );
        assert_eq!(edit(&out, |d| set_os_boot(d, &["hd"])), DOC);
    }

    #[test]
    fn eject_keeps_the_drive() {
        let out = edit(DOC, |d| eject(d, "hdc"));
        assert!(out.contains("    <disk type='file' device='cdrom'>\n      <target dev='hdc' bus='ide'/>\n    </disk>"), "{out}");
        let back = edit(&out, |d| insert_media(d, "hdc", "/x.iso"));
        assert!(
            back.contains("      <source file='/x.iso'/>\n      <target"),
            "{back}"
        );
        assert!(with_doc("t", DOC, |d| eject(d, "vdz")).is_err());
    }

    #[test]
    fn on_reboot_is_inserted_before_devices_and_removed_exactly() {
        let out = edit(DOC, |d| {
            Ok(set_domain_text(d, "on_reboot", Some("destroy")))
        });
        assert!(
            out.contains("  </os>\n  <on_reboot>destroy</on_reboot>\n  <devices>"),
            "{out}"
        );
        assert_eq!(
            edit(&out, |d| Ok(set_domain_text(d, "on_reboot", None))),
            DOC
        );
    }

    #[test]
    fn self_closing_parents_are_opened() {
        let out = edit("<domain>\n  <os/>\n</domain>", |d| {
            set_os_text(d, "kernel", Some("k"))
        });
        assert_eq!(
            out,
            "<domain>\n  <os>\n    <kernel>k</kernel>\n  </os>\n</domain>"
        );
        let both = edit("<domain>\n  <os/>\n</domain>", |d| {
            set_os_texts(d, &[("kernel", "k"), ("initrd", "i")])
        });
        assert_eq!(
            both,
            "<domain>\n  <os>\n    <kernel>k</kernel>\n    <initrd>i</initrd>\n  </os>\n</domain>"
        );
    }
}
