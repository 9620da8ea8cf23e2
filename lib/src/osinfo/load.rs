//! Parsing one osinfo-db OS file (`os/<vendor>/<os>.xml`) with xmltree into [`Os`]: the
//! data is read-only and never written back, so xmltree's re-serialisation faults do not
//! matter here.

use std::path::Path;

use xmltree::{Element, XMLNode};

use super::{DeviceLink, Firmware, Media, Os, ResourceKind, Resources, Tree};

/// The child elements of `e` called `name`.
fn children<'a>(e: &'a Element, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
    e.children
        .iter()
        .filter_map(XMLNode::as_element)
        .filter(move |c| c.name == name)
}

/// The trimmed text of the first child `name` without an `xml:lang` (xmltree keeps the
/// local name `lang`): the untranslated value.
fn text(e: &Element, name: &str) -> Option<String> {
    children(e, name)
        .find(|c| !c.attributes.contains_key("lang"))
        .and_then(|c| c.get_text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn attr(e: &Element, name: &str) -> Option<String> {
    e.attributes.get(name).cloned()
}

/// An osinfo boolean attribute (`true`/`false`), with its default.
fn flag(e: &Element, name: &str, default: bool) -> bool {
    match e.attributes.get(name).map(String::as_str) {
        Some("true") => true,
        Some("false") => false,
        _ => default,
    }
}

fn number<T: std::str::FromStr>(e: &Element, name: &str) -> Option<T> {
    text(e, name).and_then(|t| t.parse().ok())
}

/// Every `<os>` element of one file (files hold one; the format allows more).
///
/// # Errors
/// The file cannot be read or is not well-formed XML; the message says which.
pub fn parse_file(path: &Path, bytes: &[u8]) -> Result<Vec<Os>, String> {
    let root = Element::parse(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(children(&root, "os")
        .filter_map(|os| parse_os(path, os))
        .collect())
}

fn parse_os(path: &Path, e: &Element) -> Option<Os> {
    let id = attr(e, "id")?;
    let related =
        |name: &str| -> Vec<String> { children(e, name).filter_map(|c| attr(c, "id")).collect() };
    let devices = children(e, "devices")
        .flat_map(|d| children(d, "device"))
        .filter_map(|d| {
            Some(DeviceLink {
                id: attr(d, "id")?,
                supported: flag(d, "supported", true),
            })
        })
        .collect();
    let firmware = children(e, "firmware")
        .filter_map(|f| {
            Some(Firmware {
                arch: attr(f, "arch")?,
                kind: attr(f, "type")?,
                supported: flag(f, "supported", true),
            })
        })
        .collect();
    Some(Os {
        short_ids: children(e, "short-id")
            .filter_map(|c| c.get_text().map(|t| t.trim().to_string()))
            .filter(|t| !t.is_empty())
            .collect(),
        name: text(e, "name").unwrap_or_else(|| id.clone()),
        version: text(e, "version"),
        vendor: text(e, "vendor"),
        family: text(e, "family"),
        distro: text(e, "distro"),
        release_status: text(e, "release-status"),
        derives_from: related("derives-from"),
        clones: related("clones"),
        upgrades: related("upgrades"),
        firmware,
        devices,
        resources: children(e, "resources").flat_map(parse_resources).collect(),
        media: children(e, "media").map(parse_media).collect(),
        trees: children(e, "tree").map(parse_tree).collect(),
        file: path.to_path_buf(),
        id,
    })
}

fn parse_resources(e: &Element) -> Vec<Resources> {
    let arch = attr(e, "arch").unwrap_or_else(|| "all".into());
    // `inherit` is on <resources>: with it, even an empty list takes its values from the
    // OS it derives from (libosinfo's osinfo_loader_resources).
    let inherit = flag(e, "inherit", false);
    let mut out = Vec::new();
    for (kind, name) in [
        (ResourceKind::Minimum, "minimum"),
        (ResourceKind::Recommended, "recommended"),
        (ResourceKind::Maximum, "maximum"),
        (ResourceKind::NetworkInstall, "network-install"),
    ] {
        let found: Vec<&Element> = children(e, name).collect();
        if found.is_empty() && inherit {
            out.push(Resources {
                kind,
                arch: arch.clone(),
                inherit,
                n_cpus: None,
                cpu: None,
                ram: None,
                storage: None,
            });
        }
        for r in found {
            out.push(Resources {
                kind,
                arch: arch.clone(),
                inherit,
                n_cpus: number(r, "n-cpus"),
                cpu: number(r, "cpu"),
                ram: number(r, "ram"),
                storage: number(r, "storage"),
            });
        }
    }
    out
}

fn parse_media(e: &Element) -> Media {
    let iso = children(e, "iso").next();
    let iso_text = |name: &str| iso.and_then(|i| text(i, name));
    Media {
        arch: attr(e, "arch").unwrap_or_else(|| "all".into()),
        live: flag(e, "live", false),
        installer: flag(e, "installer", true),
        installer_reboots: attr(e, "installer-reboots").and_then(|t| t.parse().ok()),
        eject_after_install: flag(e, "eject-after-install", true),
        url: text(e, "url"),
        volume_id: iso_text("volume-id"),
        system_id: iso_text("system-id"),
        publisher_id: iso_text("publisher-id"),
        application_id: iso_text("application-id"),
        volume_size: iso_text("volume-size").and_then(|t| t.parse().ok()),
        kernel: text(e, "kernel"),
        initrd: text(e, "initrd"),
        variants: children(e, "variant")
            .filter_map(|v| attr(v, "id"))
            .collect(),
    }
}

fn parse_tree(e: &Element) -> Tree {
    let info = children(e, "treeinfo").next();
    let info_text = |name: &str| info.and_then(|i| text(i, name));
    Tree {
        arch: attr(e, "arch").unwrap_or_else(|| "all".into()),
        url: text(e, "url"),
        family: info_text("family"),
        variant: info_text("variant"),
        version: info_text("version"),
        treeinfo_arch: info_text("arch"),
        kernel: text(e, "kernel"),
        initrd: text(e, "initrd"),
        boot_iso: text(e, "boot-iso"),
    }
}

/// The byte range of each `<tag ...>...</tag>` element in `text` (not nested in itself).
fn elements<'a>(text: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find(&open)?;
            let after = &rest[start + open.len()..];
            // `<media>` or `<media ...>`, not `<media-foo>`.
            if !after.starts_with(['>', ' ', '\t', '\n', '\r']) {
                rest = after;
                continue;
            }
            let end = after.find(&close)? + open.len() + close.len();
            let element = &rest[start..start + end];
            rest = &rest[start + end..];
            return Some(element);
        }
    })
}

/// Only what media identification needs, without parsing whole files (most of a file is
/// translated names): each `<os>`'s id, short-ids, name, release status and `<media>`
/// elements, each of those parsed on its own by xmltree. Measured on osinfo-db
/// 20221203: about a fifth of the time of parsing every file whole.
///
/// # Errors
/// A media element is not well-formed.
pub fn parse_media_only(path: &Path, bytes: &[u8]) -> Result<Vec<Os>, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for os_text in elements(&text, "os") {
        // The start tag alone, closed, is a parsable element holding the id.
        let Some(tag_end) = os_text.find('>') else {
            continue;
        };
        let head = format!("{}/>", os_text[..tag_end].trim_end_matches('/'));
        let Ok(os_el) = Element::parse(head.as_bytes()) else {
            return Err(format!("{}: malformed <os> start tag", path.display()));
        };
        let Some(id) = attr(&os_el, "id") else {
            continue;
        };
        let simple = |tag: &str| -> Vec<String> {
            elements(os_text, tag)
                .filter(|e| !e.contains("xml:lang"))
                .filter_map(|e| Element::parse(e.as_bytes()).ok())
                .filter_map(|e| e.get_text().map(|t| t.trim().to_string()))
                .collect()
        };
        let mut media = Vec::new();
        for m in elements(os_text, "media") {
            let el = Element::parse(m.as_bytes())
                .map_err(|e| format!("{}: <media>: {e}", path.display()))?;
            media.push(parse_media(&el));
        }
        let name = simple("name")
            .into_iter()
            .next()
            .unwrap_or_else(|| id.clone());
        out.push(Os {
            short_ids: simple("short-id"),
            name,
            version: simple("version").into_iter().next(),
            vendor: None,
            family: None,
            distro: None,
            release_status: simple("release-status").into_iter().next(),
            derives_from: Vec::new(),
            clones: Vec::new(),
            upgrades: Vec::new(),
            firmware: Vec::new(),
            devices: Vec::new(),
            resources: Vec::new(),
            media,
            trees: Vec::new(),
            file: path.to_path_buf(),
            id,
        });
    }
    Ok(out)
}
