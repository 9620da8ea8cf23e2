//! What domkit knows about libvirt's `<domain>` document: where things live, and the keys
//! that name the top-level and device elements a boot profile swaps.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::xml::{Document, Id};

/// The children of `<domain>` in libvirt's canonical order, for placing new elements.
pub const DOMAIN_ORDER: &[&str] = &[
    "name",
    "uuid",
    "genid",
    "title",
    "description",
    "metadata",
    "maxMemory",
    "memory",
    "currentMemory",
    "blkiotune",
    "memtune",
    "memoryBacking",
    "vcpu",
    "vcpus",
    "iothreads",
    "iothreadids",
    "cputune",
    "numatune",
    "resource",
    "sysinfo",
    "bootloader",
    "bootloader_args",
    "os",
    "idmap",
    "features",
    "cpu",
    "clock",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "on_lockfailure",
    "pm",
    "perf",
    "devices",
    "seclabel",
    "keywrap",
    "launchSecurity",
];

/// The children of `<os>` in libvirt's canonical order.
pub const OS_ORDER: &[&str] = &[
    "type",
    "firmware",
    "loader",
    "nvram",
    "varstore",
    "kernel",
    "initrd",
    "cmdline",
    "shim",
    "dtb",
    "acpi",
    "boot",
    "bootmenu",
    "smbios",
    "bios",
    "init",
    "initarg",
    "initenv",
    "initdir",
    "inituser",
    "initgroup",
];

/// The children of `<disk>` in libvirt's canonical order.
pub const DISK_ORDER: &[&str] = &[
    "driver",
    "source",
    "backingStore",
    "target",
    "iotune",
    "boot",
    "encryption",
    "readonly",
    "shareable",
    "transient",
    "serial",
    "wwn",
    "vendor",
    "product",
    "address",
    "alias",
];

/// The children of `<domain>` that libvirt takes once are those of [`DOMAIN_ORDER`] but
/// these: a second one of the others is never read by libvirt, so a rewrite could not say
/// which one it edited.
const REPEATABLE_IN_DOMAIN: &[&str] = &["sysinfo", "seclabel"];

fn single_in_domain(name: &str) -> bool {
    DOMAIN_ORDER.contains(&name) && !REPEATABLE_IN_DOMAIN.contains(&name)
}

fn single_in_os(name: &str) -> bool {
    SINGLE_IN_OS.contains(&name)
}
const SINGLE_IN_OS: &[&str] = &[
    "type",
    "firmware",
    "loader",
    "nvram",
    "kernel",
    "initrd",
    "cmdline",
    "shim",
    "dtb",
    "bootmenu",
    "smbios",
    "bios",
    "init",
    "initdir",
    "inituser",
    "initgroup",
];

/// Checks that the document is a libvirt domain, with each element libvirt takes once
/// given once.
///
/// # Errors
/// [`Error::BadInput`] naming the root element found instead, or the repeated element.
pub fn check_domain(doc: &Document<'_>) -> Result<()> {
    let root = doc.root();
    if root.name != "domain" {
        return Err(Error::at(
            doc.source,
            doc.text,
            root.start,
            format!(
                "not a libvirt domain: the root element is <{}>, not <domain>",
                root.name
            ),
        ));
    }
    match second_of_a_single(doc) {
        Some((c, why)) => Err(Error::at(doc.source, doc.text, doc.el(c).start, why)),
        None => Ok(()),
    }
}

/// The first element that repeats one libvirt takes once (in `<domain>` or `<os>`), and
/// the words saying so.
pub fn second_of_a_single(doc: &Document<'_>) -> Option<(Id, String)> {
    let parents = [
        (Some(0), single_in_domain as fn(&str) -> bool, "domain"),
        (os(doc), single_in_os, "os"),
    ];
    for (parent, single, parent_name) in parents {
        let Some(parent) = parent else {
            continue;
        };
        let mut seen = std::collections::HashSet::new();
        for &c in &doc.el(parent).children {
            let name = doc.el(c).name;
            if single(name) && !seen.insert(name) {
                return Some((
                    c,
                    format!("a second <{name}> in <{parent_name}>: libvirt takes only one"),
                ));
            }
        }
    }
    None
}

/// The `<devices>` element, if any.
pub fn devices(doc: &Document<'_>) -> Option<Id> {
    doc.child(0, "devices")
}

/// The `<os>` element, if any.
pub fn os(doc: &Document<'_>) -> Option<Id> {
    doc.child(0, "os")
}

/// A disk's target device name (`<target dev='vda'/>`).
pub fn disk_target<'a>(doc: &'a Document<'_>, disk: Id) -> Option<&'a str> {
    doc.child(disk, "target").and_then(|t| doc.attr(t, "dev"))
}

/// A disk's `device` attribute (`disk` when absent, as in libvirt).
pub fn disk_device<'a>(doc: &'a Document<'_>, disk: Id) -> &'a str {
    doc.attr(disk, "device").unwrap_or("disk")
}

/// An interface's MAC address.
pub fn interface_mac<'a>(doc: &'a Document<'_>, iface: Id) -> Option<&'a str> {
    doc.child(iface, "mac").and_then(|m| doc.attr(m, "address"))
}

/// The keys of `parent`'s children, which name elements across the install and final
/// phases: `os`, `on_reboot`, `sysinfo[smbios]`, `devices/disk[vda]`,
/// `devices/interface[52:54:00:..]`, and `name#N` for the N-th of the same-named
/// siblings without a unique natural key (counted among those only). One pass, so 10,000 devices stay cheap.
pub fn child_keys(doc: &Document<'_>, parent: Id) -> Vec<(String, Id)> {
    let children = &doc.el(parent).children;
    let natural: Vec<Option<Cow<'_, str>>> =
        children.iter().map(|&c| natural_key(doc, c)).collect();
    let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
    for (&c, key) in children.iter().zip(&natural) {
        if let Some(k) = key {
            *counts.entry((doc.el(c).name, k.as_ref())).or_default() += 1;
        }
    }
    let prefix = if parent == 0 { "" } else { doc.el(parent).name };
    let mut ordinals: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::with_capacity(children.len());
    // Built by hand: this runs for every device of 10,000-device domains, several times.
    for (&c, key) in children.iter().zip(&natural) {
        let name = doc.el(c).name;
        let mut full = String::with_capacity(prefix.len() + name.len() + 24);
        if !prefix.is_empty() {
            full.push_str(prefix);
            full.push('/');
        }
        full.push_str(name);
        match key {
            Some(k) if counts[&(name, k.as_ref())] == 1 => {
                full.push('[');
                full.push_str(k);
                full.push(']');
            }
            // Counted among the siblings without a key of their own only, so that adding
            // or removing a keyed sibling (an install CD-ROM) renames none of them.
            _ => {
                let nth = ordinals.entry(name).or_default();
                *nth += 1;
                if *nth > 1 {
                    full.push('#');
                    full.push_str(&nth.to_string());
                }
            }
        }
        out.push((full, c));
    }
    out
}

fn natural_key<'d>(doc: &'d Document<'_>, id: Id) -> Option<Cow<'d, str>> {
    match doc.el(id).name {
        "disk" => disk_target(doc, id).map(Cow::Borrowed),
        "interface" => interface_mac(doc, id).map(|m| {
            if m.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(m.to_ascii_lowercase())
            } else {
                Cow::Borrowed(m)
            }
        }),
        "sysinfo" => doc.attr(id, "type").map(Cow::Borrowed),
        _ => None,
    }
}

/// The elements a boot profile can swap, with their keys: every child of `<domain>` but
/// `<devices>` and `<metadata>`, and every child of `<devices>`.
pub fn keyed_elements(doc: &Document<'_>) -> Vec<(String, Id)> {
    let mut out: Vec<(String, Id)> = child_keys(doc, 0)
        .into_iter()
        .filter(|&(_, c)| !matches!(doc.el(c).name, "metadata" | "devices"))
        .collect();
    if let Some(d) = devices(doc) {
        out.extend(child_keys(doc, d));
    }
    out
}

/// The keys of a document's swappable elements (children of `<domain>` and of
/// `<devices>`), computed once, both ways.
#[derive(Debug, Default)]
pub struct Keys {
    by_key: HashMap<String, Id>,
    by_id: HashMap<Id, String>,
}

impl Keys {
    /// Indexes `doc`.
    pub fn new(doc: &Document<'_>) -> Keys {
        let mut keys = Keys::default();
        let parents = std::iter::once(0).chain(devices(doc));
        for (key, id) in parents.flat_map(|p| child_keys(doc, p)) {
            keys.by_key.insert(key.clone(), id);
            keys.by_id.insert(id, key);
        }
        keys
    }

    /// The element a key names.
    pub fn find(&self, key: &str) -> Option<Id> {
        self.by_key.get(key).copied()
    }

    /// The key of element `id`, if it is one of the indexed elements.
    pub fn key(&self, id: Id) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }
}

/// Why no element of `doc` has key `key` (see [`child_keys`]), for a message: its parent
/// is missing, the element it names stands inside another one, or its parent holds none
/// with that natural key (or not that many without one).
pub fn why_no_element(doc: &Document<'_>, key: &str) -> String {
    let (parent, parent_name, rest) = match key.strip_prefix("devices/") {
        Some(rest) => (devices(doc), "devices", rest),
        None => (Some(0), "domain", key),
    };
    let Some(parent) = parent else {
        return "the document has no <devices>".to_string();
    };
    let (name, natural, nth) = match rest.split_once('[') {
        Some((name, k)) => (name, Some(k.strip_suffix(']').unwrap_or(k)), 1),
        None => match rest.split_once('#') {
            Some((name, n)) => (name, None, n.parse().unwrap_or(0)),
            None => (rest, None, 1),
        },
    };
    let field = match name {
        "disk" => "target dev",
        "interface" => "MAC address",
        _ => "type",
    };
    let Some(natural) = natural else {
        // Those named by their place among the same-named siblings (`serial`, `serial#2`).
        let by_place = child_keys(doc, parent)
            .into_iter()
            .filter(|(k, c)| doc.el(*c).name == name && !k.ends_with(']'))
            .count();
        return match (by_place, doc.children_named(parent, name).count()) {
            (0, 0) => format!("<{parent_name}> has no <{name}>"),
            (0, _) => format!("each <{name}> in <{parent_name}> is named by its {field}"),
            (n, _) => format!("<{parent_name}> has {n} <{name}> named by their place, not {nth}"),
        };
    };
    let named = |id: Id| {
        doc.el(id).name == name
            && natural_key(doc, id).is_some_and(|k| k.eq_ignore_ascii_case(natural))
    };
    if let Some(e) = (0..doc.elements.len()).find(|&e| named(e) && doc.el(e).parent != Some(parent))
    {
        let outer = doc.el(e).parent.map_or("", |p| doc.el(p).name);
        return format!(
            "the <{name}> with {field} '{natural}' is inside <{outer}>, not directly in <{parent_name}>"
        );
    }
    let same = doc
        .children_named(parent, name)
        .filter(|&c| named(c))
        .count();
    if same > 1 {
        return format!(
            "{same} <{name}> in <{parent_name}> have {field} '{natural}', so it names none of them"
        );
    }
    let without = doc
        .children_named(parent, name)
        .filter(|&c| natural_key(doc, c).is_none())
        .count();
    let without = match without {
        0 => String::new(),
        1 => format!(" (one has no {field} at all)"),
        n => format!(" ({n} have no {field} at all)"),
    };
    format!("no <{name}> in <{parent_name}> has {field} '{natural}'{without}")
}

/// Finds a device by the name users give it: a disk's target (`vda`, `hdc`) or an
/// interface's MAC address.
pub fn find_device(doc: &Document<'_>, target: &str) -> Option<Id> {
    let devices = devices(doc)?;
    doc.el(devices)
        .children
        .iter()
        .copied()
        .find(|&d| match doc.el(d).name {
            "disk" => disk_target(doc, d) == Some(target),
            "interface" => interface_mac(doc, d).is_some_and(|m| m.eq_ignore_ascii_case(target)),
            _ => false,
        })
}

/// True when any device carries a per-device `<boot order>`.
pub fn uses_boot_order(doc: &Document<'_>) -> bool {
    devices(doc).is_some_and(|d| {
        doc.el(d)
            .children
            .iter()
            .any(|&c| doc.child(c, "boot").is_some())
    })
}

/// Disks of device kind `disk` (not cdrom/floppy/lun), in document order.
pub fn hard_disks(doc: &Document<'_>) -> Vec<Id> {
    match devices(doc) {
        Some(d) => doc
            .children_named(d, "disk")
            .filter(|&c| disk_device(doc, c) == "disk")
            .collect(),
        None => Vec::new(),
    }
}

/// The domain's `type` attribute (`kvm`, `qemu`, `xen`, `test`, ...).
pub fn domain_type<'a>(doc: &'a Document<'_>) -> Option<&'a str> {
    doc.attr(0, "type")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_devices_by_target_and_mac() {
        let text = "<domain><os/><devices><disk><target dev='vda'/></disk><interface><mac address='52:54:00:AA:00:01'/></interface><serial/><serial/><interface><mac address='52:54:00:00:00:02'/></interface><interface><mac address='52:54:00:00:00:02'/></interface></devices></domain>";
        let doc = Document::parse("t", text).unwrap();
        let keys: Vec<String> = keyed_elements(&doc).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "os",
                "devices/disk[vda]",
                "devices/interface[52:54:00:aa:00:01]",
                "devices/serial",
                "devices/serial#2",
                "devices/interface",
                "devices/interface#2"
            ]
        );
        for key in &keys {
            let index = Keys::new(&doc);
            let id = index.find(key).unwrap();
            assert_eq!(index.key(id), Some(key.as_str()));
        }
        assert!(find_device(&doc, "52:54:00:aa:00:01").is_some());
        assert!(find_device(&doc, "vdb").is_none());
    }
}
