//! Mutations: byte-level ones, XML lexical ones (characters and constructs XML forbids or
//! namespaces break), structure-aware ones on element spans found by roxmltree, edits of
//! a recorded boot profile's numbers, keys, CDATA and namespace, and JSON mutations for
//! specs and records. Every mutation is a pure function of the text and the `Rng`.

use std::ops::Range;

use serde_json::{Map, Value};

use crate::rng::Rng;

/// Tokens XML handles specially, or that domkit's own syntax uses.
const TOKENS: &[&str] = &[
    "<",
    ">",
    "&",
    "&amp;",
    "&foo;",
    "&#0;",
    "&#x1;",
    "&#xFFFE;",
    "&#1114112;",
    "&#65;",
    "]]>",
    "<![CDATA[",
    "<![CDATA[x",
    "<!-- a -- b -->",
    "<!--",
    "-->",
    "<?pi x?>",
    "<?xml version='1.0'?>",
    "\u{a0}",
    "\u{feff}",
    "\u{2028}",
    "\u{85}",
    "\u{3000}",
    "\r\n",
    "\r",
    "\t",
    "\0",
    "\u{1}",
    "\u{1b}",
    "\u{7f}",
    "\u{fffe}",
    "\u{ffff}",
    "'",
    "\"",
    " xmlns:u='urn:x'",
    " u:a='1'",
    " v:a='1'",
    " xmlns=''",
    " xmlns:xml='urn:x'",
    " xmlns:v=''",
    "<!DOCTYPE domain [<!ENTITY e 'x'>]>",
    "&e;",
    "<boot dev='cdrom'/>",
    "<boot dev='hd'/>",
    "<boot order='1'/>",
    "</devices>",
    "<devices>",
    "<devices/>",
    "<os>",
    "</os>",
    "<metadata>",
    "</metadata>",
    "<kernel>/k</kernel>",
    "<on_reboot>destroy</on_reboot>",
    "domkit:",
    "<x:y/>",
    "<a b='1' b='2'/>",
    "<domkit:slot key='os'><![CDATA[<os/>]]></domkit:slot>",
    "é",
    "😀",
];

/// Numbers that break parsers and arithmetic.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "-0",
    "+1",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "99999999999999999999999999",
    "1e9",
    "0x10",
    "",
    " 1",
    "1 ",
    "\u{663}",
    "1.5",
    "00",
    "2147483648",
];

/// libvirt URIs a record may carry, harmless and hostile.
const URIS: &[&str] = &[
    "test:///default",
    "qemu:///session",
    "qemu:///system",
    "qemu+ssh://root@host/system",
    "qemu+ssh://host/system?keyfile=/root/.ssh/id&no_verify=1",
    "qemu+ext:///system?command=/bin/sh",
    "qemu+unix:///system?socket=/tmp/evil.sock",
    "qemu+tcp://host:16509/system",
    "xen:///",
    "lxc:///",
    "file:///etc/passwd",
    "qemu:///session?mode=legacy",
    "",
    "qemu",
    "qemu+ssh://h/system?command=rm%20-rf",
    "test:///default\u{0}",
    "QEMU+EXT:///system?COMMAND=/bin/sh",
];

/// Element names for renames.
const NAMES: &[&str] = &[
    "os",
    "devices",
    "disk",
    "boot",
    "features",
    "metadata",
    "kernel",
    "initrd",
    "cmdline",
    "on_reboot",
    "bootloader",
    "interface",
    "source",
    "target",
    "x:os",
    "domkit:slot",
    "zz:devices",
    "domain",
    "sysinfo",
];

/// Keys a recorded profile may name.
const KEYS: &[&str] = &[
    "os",
    "features",
    "on_reboot",
    "bootloader",
    "bootloader_args",
    "devices/disk[hda]",
    "devices/disk[hdc]",
    "devices/disk[sda]",
    "devices/disk[vda]",
    "devices/disk[zzz]",
    "devices/interface[52:54:00:00:00:01]",
    "devices",
    "sysinfo",
    "",
    "../x",
    "os/boot",
    "devices/disk[]",
    "metadata",
    "domain",
];

/// Non-ASCII and odd whitespace to put next to elements.
const SPACES: &[&str] = &[
    "\u{a0}", "\u{2028}", "\u{3000}", "\u{feff}", "\u{85}", "\t", "\r",
];

/// An element of the text: its byte span, qualified name, start tag end, and attributes.
#[derive(Debug, Clone)]
struct Elem {
    range: Range<usize>,
    start_tag_end: usize,
    name: String,
    parent: Option<usize>,
    attrs: Vec<Range<usize>>,
    values: Vec<Range<usize>>,
}

/// Elements of `text` in document order, when roxmltree can parse it.
fn elements(text: &str) -> Option<Vec<Elem>> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options).ok()?;
    let mut out: Vec<Elem> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        let range = node.range();
        let start_tag_end = tag_end(text, range.start).unwrap_or(range.end);
        let name: String = text[range.start + 1..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect();
        let parent = node
            .parent_element()
            .and_then(|p| index.get(&p.id()).copied());
        index.insert(node.id(), out.len());
        out.push(Elem {
            range,
            start_tag_end,
            name,
            parent,
            attrs: node.attributes().map(|a| a.range()).collect(),
            values: node.attributes().map(|a| a.range_value()).collect(),
        });
    }
    Some(out)
}

/// The end of the tag starting at `start` (just past its `>`), skipping quoted values.
fn tag_end(text: &str, start: usize) -> Option<usize> {
    let mut quote = None;
    for (i, b) in text.as_bytes()[start..].iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if *b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(*b),
            (None, b'>') => return Some(start + i + 1),
            _ => {}
        }
    }
    None
}

/// `pos` moved back to a char boundary of `text`.
fn boundary(text: &str, mut pos: usize) -> usize {
    pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

fn random_pos(rng: &mut Rng, text: &str) -> usize {
    boundary(text, rng.below(text.len() + 1))
}

/// `text` with `range` replaced; a range off the text or off char boundaries is clamped
/// (a mutation's arithmetic may be off after earlier mutations, never the run).
fn replace(text: &str, range: Range<usize>, with: &str) -> String {
    let start = boundary(text, range.start);
    let range = start..boundary(text, range.end.max(start));
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..range.start]);
    out.push_str(with);
    out.push_str(&text[range.end..]);
    out
}

/// Start of the line holding `pos`, when only spaces and tabs come before it there.
fn line_indent_start(text: &str, pos: usize) -> usize {
    let line = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    if text[line..pos].bytes().all(|b| b == b' ' || b == b'\t') {
        line
    } else {
        pos
    }
}

/// Applies 1 to 8 mutations to an XML document; `other` lends elements for splices.
pub fn mutate_xml(rng: &mut Rng, text: &str, other: &str) -> (String, Vec<&'static str>) {
    let mut text = text.to_string();
    let mut names = Vec::new();
    let mut count = 1;
    while count < 8 && rng.chance(45) {
        count += 1;
    }
    for _ in 0..count {
        let profiled = text.contains("domkit");
        let choice = rng.below(100);
        let (name, out) = if profiled && choice < 30 {
            profile_mutation(rng, &text)
        } else if choice < 65 {
            structural(rng, &text, other)
        } else if choice < 85 {
            lexical(rng, &text)
        } else {
            bytes(rng, &text)
        };
        names.push(name);
        text = out;
    }
    (text, names)
}

/// Byte flips, inserts, deletes and duplications, repaired to UTF-8 (the tools read
/// UTF-8 only; invalid bytes are turned into U+FFFD).
fn bytes(rng: &mut Rng, text: &str) -> (&'static str, String) {
    let mut b = text.as_bytes().to_vec();
    let name = match rng.below(5) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
            "byte-flip"
        }
        1 => {
            let i = rng.below(b.len() + 1);
            let byte = if rng.chance(50) {
                rng.below(0x20) as u8
            } else {
                rng.below(0x80) as u8
            };
            b.insert(i, byte);
            "byte-insert"
        }
        2 if !b.is_empty() => {
            let i = rng.below(b.len());
            let n = 1 + rng.below(16.min(b.len() - i));
            b.drain(i..i + n);
            "byte-delete"
        }
        3 if !b.is_empty() => {
            let i = rng.below(b.len());
            let n = 1 + rng.below(64.min(b.len() - i));
            let copy = b[i..i + n].to_vec();
            let at = rng.below(b.len() + 1);
            b.splice(at..at, copy);
            "byte-duplicate"
        }
        _ => {
            let keep = rng.below(b.len() + 1);
            b.truncate(keep);
            "truncate"
        }
    };
    (name, String::from_utf8_lossy(&b).into_owned())
}

/// Characters and constructs XML forbids or treats specially, at random places and at
/// tag boundaries; whole-document changes (BOM, CRLF, tabs, no whitespace).
fn lexical(rng: &mut Rng, text: &str) -> (&'static str, String) {
    match rng.below(8) {
        0 | 1 => {
            let at = random_pos(rng, text);
            ("token-anywhere", replace(text, at..at, rng.word(TOKENS)))
        }
        2 | 3 => {
            // Next to a '<' or '>', or inside a quoted value: where the lexer decides.
            let marks: Vec<usize> = text
                .bytes()
                .enumerate()
                .filter(|(_, b)| matches!(b, b'<' | b'>' | b'\'' | b'"' | b'='))
                .map(|(i, _)| i)
                .collect();
            if marks.is_empty() {
                return ("token-anywhere", text.to_string());
            }
            let at = *rng.pick(&marks) + rng.below(2);
            ("token-at-tag", replace(text, at..at, rng.word(TOKENS)))
        }
        4 => (
            "bom",
            format!("\u{feff}{}", text.trim_start_matches('\u{feff}')),
        ),
        5 => ("crlf", text.replace("\r\n", "\n").replace('\n', "\r\n")),
        6 => {
            let out: String = text
                .split('\n')
                .map(|l| {
                    let trimmed = l.trim_start_matches(' ');
                    let n = (l.len() - trimmed.len()) / 2;
                    format!("{}{trimmed}", "\t".repeat(n))
                })
                .collect::<Vec<_>>()
                .join("\n");
            ("tabs", out)
        }
        _ => {
            // No whitespace between tags at all: every element on one line.
            let mut out = String::with_capacity(text.len());
            let mut pending = String::new();
            let mut after_tag = false;
            for c in text.chars() {
                if after_tag && c.is_ascii_whitespace() {
                    pending.push(c);
                    continue;
                }
                if c != '<' {
                    out.push_str(&pending);
                }
                pending.clear();
                after_tag = c == '>';
                out.push(c);
            }
            out.push_str(&pending);
            ("one-line", out)
        }
    }
}

/// Structure-aware mutations on element spans.
fn structural(rng: &mut Rng, text: &str, other: &str) -> (&'static str, String) {
    let Some(els) = elements(text) else {
        return lexical(rng, text);
    };
    if els.len() < 2 {
        return lexical(rng, text);
    }
    let pick = |rng: &mut Rng| 1 + rng.below(els.len() - 1);
    let named = |name: &str| -> Vec<usize> {
        els.iter()
            .enumerate()
            .filter(|(_, e)| e.name == name)
            .map(|(i, _)| i)
            .collect()
    };
    let next_sibling = |i: usize| -> Option<usize> {
        els.iter()
            .enumerate()
            .skip(i + 1)
            .find(|(_, e)| e.parent == els[i].parent && e.range.start >= els[i].range.end)
            .map(|(j, _)| j)
    };
    match rng.below(14) {
        0 => {
            let e = &els[pick(rng)];
            let copy = &text[e.range.clone()];
            let sep = if rng.chance(50) { "" } else { " " };
            let at = e.range.end;
            (
                "duplicate-element",
                replace(text, at..at, &format!("{sep}{copy}")),
            )
        }
        1 => {
            let e = &els[pick(rng)];
            let start = if rng.chance(50) {
                line_indent_start(text, e.range.start)
            } else {
                e.range.start
            };
            ("drop-element", replace(text, start..e.range.end, ""))
        }
        2 => {
            let i = pick(rng);
            let Some(j) = next_sibling(i) else {
                return ("swap-siblings", text.to_string());
            };
            let (a, b) = (els[i].range.clone(), els[j].range.clone());
            let out = format!(
                "{}{}{}{}{}",
                &text[..a.start],
                &text[b.clone()],
                &text[a.end..b.start],
                &text[a.clone()],
                &text[b.end..]
            );
            ("swap-siblings", out)
        }
        3 => {
            let Some(theirs) = elements(other).filter(|o| o.len() > 1) else {
                return ("splice", text.to_string());
            };
            let from = &theirs[1 + rng.below(theirs.len() - 1)];
            let e = &els[rng.below(els.len())];
            let at = if rng.chance(50) || e.start_tag_end >= e.range.end {
                e.range.end.min(text.len())
            } else {
                e.start_tag_end
            };
            let at = if at >= els[0].range.end {
                els[0].start_tag_end
            } else {
                at
            };
            ("splice", replace(text, at..at, &other[from.range.clone()]))
        }
        4 => {
            let i = pick(rng);
            let Some(j) = next_sibling(i) else {
                return ("join-lines", text.to_string());
            };
            let between = els[i].range.end..els[j].range.start;
            let sep = if rng.chance(50) { "" } else { " " };
            ("join-lines", replace(text, between, sep))
        }
        5 => {
            let devices = named("devices");
            let Some(&d) = devices.first() else {
                return ("empty-devices", text.to_string());
            };
            let with = rng.word(&[
                "<devices></devices>",
                "<devices/>",
                "<devices>\n  </devices>",
                "<devices> </devices>",
            ]);
            ("empty-devices", replace(text, els[d].range.clone(), with))
        }
        6 => {
            let name = rng.word(&["devices", "os", "metadata", "on_reboot", "boot", "disk"]);
            let mut out = text.to_string();
            for &i in named(name).iter().rev() {
                let e = &els[i];
                let start = line_indent_start(text, e.range.start);
                out = replace(&out, start..e.range.end, "");
            }
            ("remove-named", out)
        }
        7 => {
            let e = &els[pick(rng)];
            let new = rng.word(NAMES);
            let open = e.range.start + 1..e.range.start + 1 + e.name.len();
            let close_tag = format!("</{}>", e.name);
            let mut out = text.to_string();
            if text[e.range.clone()].ends_with(&close_tag) {
                let close = e.range.end - close_tag.len() + 2..e.range.end - 1;
                out = replace(&out, close, new);
            }
            ("rename-element", replace(&out, open, new))
        }
        8 => {
            let i = pick(rng);
            let into = rng.below(els.len());
            let (e, t) = (&els[i], &els[into]);
            if t.range.start >= e.range.start && t.range.end <= e.range.end {
                return ("move-element", text.to_string());
            }
            let piece = text[e.range.clone()].to_string();
            let cut = replace(text, e.range.clone(), "");
            let at = if t.start_tag_end <= e.range.start {
                t.start_tag_end
            } else {
                t.start_tag_end - piece.len()
            };
            let at = boundary(&cut, at);
            ("move-element", replace(&cut, at..at, &piece))
        }
        9 => {
            let e = &els[pick(rng)];
            let tag = &text[e.range.start..e.start_tag_end];
            if let Some(open) = tag.strip_suffix("/>") {
                let out = format!("{}></{}>", open.trim_end(), e.name);
                ("expand-empty", replace(text, e.range.clone(), &out))
            } else if text[e.start_tag_end..e.range.end].starts_with("</") {
                let out = format!("{}/>", &tag[..tag.len() - 1]);
                ("collapse-empty", replace(text, e.range.clone(), &out))
            } else {
                let inner = e.start_tag_end..e.range.end.saturating_sub(e.name.len() + 3);
                if inner.start > inner.end || !text.is_char_boundary(inner.end) {
                    return ("cdata-content", text.to_string());
                }
                let cdata = format!("<![CDATA[{}]]>", &text[inner.clone()]);
                ("cdata-content", replace(text, inner, &cdata))
            }
        }
        10 | 11 => attribute(rng, text, &els),
        12 => {
            let e = &els[pick(rng)];
            let space = rng.word(SPACES);
            let at = if rng.chance(50) {
                e.range.start
            } else {
                e.range.end
            };
            ("odd-space-by-element", replace(text, at..at, space))
        }
        _ => {
            // Deep nesting around one element.
            let e = &els[pick(rng)];
            let depth = 1 + rng.below(3000);
            let out = format!(
                "{}{}{}{}{}",
                &text[..e.range.start],
                "<n>".repeat(depth),
                &text[e.range.clone()],
                "</n>".repeat(depth),
                &text[e.range.end..]
            );
            ("deep-nesting", out)
        }
    }
}

/// Attribute mutations: duplicates (plain, and equal only after namespace expansion),
/// `<` in values, unbound prefixes, odd numbers, quote swaps, removal.
fn attribute(rng: &mut Rng, text: &str, els: &[Elem]) -> (&'static str, String) {
    let with_attrs: Vec<&Elem> = els.iter().filter(|e| !e.attrs.is_empty()).collect();
    if with_attrs.is_empty() {
        return ("attribute", text.to_string());
    }
    let e = *rng.pick(&with_attrs);
    let k = rng.below(e.attrs.len());
    let (attr, value) = (e.attrs[k].clone(), e.values[k].clone());
    let insert_at = e.start_tag_end
        - if text[..e.start_tag_end].ends_with("/>") {
            2
        } else {
            1
        };
    match rng.below(7) {
        0 => {
            let copy = format!(" {}", &text[attr]);
            (
                "duplicate-attribute",
                replace(text, insert_at..insert_at, &copy),
            )
        }
        1 => {
            let local = text[attr.clone()]
                .split('=')
                .next()
                .unwrap_or("a")
                .to_string();
            let local = local.rsplit(':').next().unwrap_or("a").to_string();
            let add =
                format!(" xmlns:p1='urn:same' xmlns:p2='urn:same' p1:{local}='1' p2:{local}='2'");
            (
                "attribute-duplicate-after-expansion",
                replace(text, insert_at..insert_at, &add),
            )
        }
        2 => ("lt-in-value", replace(text, value.start..value.start, "<")),
        3 => {
            let local = text[attr.clone()]
                .split('=')
                .next()
                .unwrap_or("a")
                .to_string();
            (
                "unbound-prefix-attribute",
                replace(
                    text,
                    attr.start..attr.start + local.len(),
                    &format!("zz:{local}"),
                ),
            )
        }
        4 => ("attribute-number", replace(text, value, rng.word(NUMBERS))),
        5 => {
            let quote = text.as_bytes()[value.start - 1];
            let other = if quote == b'\'' { "\"" } else { "'" };
            let out = replace(text, value.end..value.end + 1, other);
            ("mismatched-quotes", out)
        }
        _ => ("remove-attribute", replace(text, attr.start..attr.end, "")),
    }
}

/// Finds every `name='...'` or `name="..."` value span in `text`.
fn attr_values(text: &str, name: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for quote in ['\'', '"'] {
        let needle = format!(" {name}={quote}");
        let mut from = 0;
        while let Some(i) = text[from..].find(&needle) {
            let start = from + i + needle.len();
            if let Some(len) = text[start..].find(quote) {
                out.push(start..start + len);
            }
            from = start;
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

/// Spans of CDATA sections' contents.
fn cdata_spans(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("<![CDATA[") {
        let start = from + i + 9;
        match text[start..].find("]]>") {
            Some(len) => {
                out.push(start..start + len);
                from = start + len;
            }
            None => break,
        }
    }
    out
}

/// Edits of a recorded profile: the numbers, keys, phase words, namespace and CDATA
/// a hostile or damaged document could carry.
fn profile_mutation(rng: &mut Rng, text: &str) -> (&'static str, String) {
    let pick_span = |rng: &mut Rng, spans: Vec<Range<usize>>| -> Option<Range<usize>> {
        (!spans.is_empty()).then(|| spans[rng.below(spans.len())].clone())
    };
    match rng.below(13) {
        12 => respelled_profile(rng, text),
        0 | 1 => match pick_span(rng, attr_values(text, "gap")) {
            Some(r) => {
                let n = if rng.chance(70) {
                    rng.word(NUMBERS).to_string()
                } else {
                    (rng.below(200)).to_string()
                };
                ("profile-gap", replace(text, r, &n))
            }
            None => ("profile-gap", text.to_string()),
        },
        2 => match pick_span(rng, attr_values(text, "after")) {
            Some(r) => ("profile-after", replace(text, r, rng.word(KEYS))),
            None => ("profile-after", text.to_string()),
        },
        3 => match pick_span(rng, attr_values(text, "key")) {
            Some(r) => ("profile-key", replace(text, r, rng.word(KEYS))),
            None => ("profile-key", text.to_string()),
        },
        4 => {
            let name = rng.word(&["recorded", "metadata"]);
            match pick_span(rng, attr_values(text, name)) {
                Some(r) => {
                    let word = rng.word(&[
                        "install", "final", "created", "existing", "", "both", "INSTALL",
                    ]);
                    ("profile-phase-word", replace(text, r, word))
                }
                None => ("profile-phase-word", text.to_string()),
            }
        }
        5 => {
            let uri = "https://domkit.dev/xmlns/profile/1";
            let with = rng.word(&[
                "https://domkit.dev/xmlns/profile/2",
                "",
                "urn:other",
                "https://domkit.dev/xmlns/profile/1 ",
            ]);
            match text.find(uri) {
                Some(i) => ("profile-namespace", replace(text, i..i + uri.len(), with)),
                None => ("profile-namespace", text.to_string()),
            }
        }
        6 => match pick_span(rng, cdata_spans(text)) {
            // Truncated CDATA: the section never ends.
            Some(r) => (
                "profile-cdata-unterminated",
                replace(text, r.end..r.end + 3, ""),
            ),
            None => ("profile-cdata-unterminated", text.to_string()),
        },
        7 => match pick_span(rng, cdata_spans(text)) {
            Some(r) => {
                let cut = boundary(text, r.start + rng.below(r.len() + 1));
                ("profile-cdata-cut", replace(text, cut..r.end, ""))
            }
            None => ("profile-cdata-cut", text.to_string()),
        },
        8 => match pick_span(rng, cdata_spans(text)) {
            Some(r) => {
                let with = rng.word(&[
                    "<os><type>hvm</type></os>",
                    "<features/>",
                    "<devices/>",
                    "",
                    "   ",
                    "<os/><os/>",
                    "<disk type='file' device='cdrom'/><disk/>",
                    "<on_reboot>destroy</on_reboot>\n<on_reboot>x</on_reboot>",
                    "<boot dev='cdrom'/> <boot dev='hd'/>",
                    "<x:y/>",
                    "<a",
                    "text",
                    "<!-- c --><os/>",
                ]);
                ("profile-cdata-replace", replace(text, r, with))
            }
            None => ("profile-cdata-replace", text.to_string()),
        },
        9 => match pick_span(rng, cdata_spans(text)) {
            Some(r) => {
                let at = if rng.chance(50) { r.start } else { r.end };
                let with = rng.word(&[
                    "\u{a0}",
                    "]]>",
                    "<![CDATA[",
                    "\u{a0}\n",
                    "\n\u{a0} ",
                    "\u{0}",
                ]);
                ("profile-cdata-insert", replace(text, at..at, with))
            }
            None => ("profile-cdata-insert", text.to_string()),
        },
        10 => {
            // Duplicate or drop one slot.
            let Some(start) = text.find("<domkit:slot") else {
                return ("profile-slot", text.to_string());
            };
            let Some(len) = text[start..].find("</domkit:slot>") else {
                return ("profile-slot", text.to_string());
            };
            let slot = start..start + len + "</domkit:slot>".len();
            if rng.chance(50) {
                let copy = text[slot.clone()].to_string();
                (
                    "profile-slot-duplicate",
                    replace(text, slot.end..slot.end, &copy),
                )
            } else {
                ("profile-slot-drop", replace(text, slot, ""))
            }
        }
        _ => {
            // Whitespace with a non-ASCII character next to where slots go back.
            let spans = attr_values(text, "after");
            let key = pick_span(rng, spans).map(|r| text[r].to_string());
            let anchor = key
                .as_deref()
                .and_then(|k| k.split('/').next_back())
                .map(|k| format!("<{}", k.split('[').next().unwrap_or(k)))
                .and_then(|tag| {
                    let meta_end = text.find("</metadata>").unwrap_or(0);
                    text[meta_end..].find(&tag).map(|i| meta_end + i)
                });
            match anchor {
                Some(at) => {
                    let end = tag_end(text, at).unwrap_or(at);
                    let at = if rng.chance(50) { at } else { end };
                    ("profile-nbsp-at-anchor", replace(text, at..at, "\u{a0}"))
                }
                None => ("profile-nbsp-at-anchor", text.to_string()),
            }
        }
    }
}

/// The profile as other XML tools write it back (issue 16): another prefix, a default
/// namespace, the declaration on `<domain>`, CDATA as escaped text, characters beyond
/// ASCII as references, `<slot />`; every one namespace-equivalent to the original.
fn respelled_profile(rng: &mut Rng, text: &str) -> (&'static str, String) {
    let decl = "xmlns:domkit='https://domkit.dev/xmlns/profile/1'";
    if !text.contains(decl) {
        return ("profile-respelled", text.to_string());
    }
    let out = match rng.below(6) {
        0 => text
            .replace("xmlns:domkit=", "xmlns:ns0=")
            .replace("domkit:", "ns0:"),
        1 => text
            .replace("xmlns:domkit=", "xmlns=")
            .replace("domkit:", ""),
        2 => text.replacen(&format!(" {decl}"), "", 1).replacen(
            "<domain",
            &format!("<domain {decl}"),
            1,
        ),
        3 | 4 => {
            let mut out = String::with_capacity(text.len());
            let mut at = 0;
            for span in cdata_spans(text) {
                out.push_str(&text[at..span.start - "<![CDATA[".len()]);
                for c in text[span.clone()].chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        c if !c.is_ascii() && rng.chance(50) => {
                            out.push_str(&format!("&#{};", c as u32))
                        }
                        c => out.push(c),
                    }
                }
                at = span.end + "]]>".len();
            }
            out.push_str(&text[at..]);
            out
        }
        _ => text.replace("absent='yes'/>", "absent='yes' />"),
    };
    ("profile-respelled", out)
}

/// Odd JSON values: control characters, huge and negative numbers, deep structures.
fn json_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 10 } else { 13 }) {
        0 => Value::String("a\u{0}b".into()),
        1 => Value::String(format!("x{}y", char::from(rng.below(0x20) as u8))),
        2 => Value::String(rng.word(TOKENS).to_string()),
        3 => {
            let number = rng.word(NUMBERS).to_string();
            Value::String(number + rng.word(&["", "GB", "KB", "KiB", "MiB", "TiB", "b", "x"]))
        }
        4 => Value::String("x".repeat(rng.below(5000))),
        5 => serde_json::from_str(rng.word(&[
            "0",
            "-1",
            "18446744073709551615",
            "18446744073709551616",
            "1e400",
            "-0",
            "1.5",
            "4294967296",
            "99999999999999999999",
        ]))
        .unwrap_or(Value::Null),
        6 => Value::Bool(rng.chance(50)),
        7 => Value::Null,
        8 => Value::String(
            rng.word(&[
                "/img/a.img,bus=virtio,format=qcow2,target=vda",
                "/img/b.img,device=cdrom,readonly",
                "/img/c,bus=sata,target=hda",
                "network=default,mac=52:54:00:00:00:01",
                "bridge=br0,model=virtio",
                "file=/tmp/s.log",
                "pty",
                "user",
                "none",
                "acpi,apic,smm,gic",
                "install",
                "final",
                "kvm",
                "xen",
                "efi",
                "vnc",
            ])
            .to_string(),
        ),
        9 => Value::String("\u{a0}\u{feff}\u{2028}é😀\u{7f}".into()),
        10 => Value::Array(
            (0..rng.below(40))
                .map(|i| {
                    if rng.chance(70) {
                        Value::String(format!("/img/d{i}.img"))
                    } else {
                        json_value(rng, depth + 1)
                    }
                })
                .collect(),
        ),
        11 => {
            let mut m = Map::new();
            m.insert("k".into(), json_value(rng, depth + 1));
            Value::Object(m)
        }
        _ => Value::String(format!("{}[{}", "[".repeat(200), rng.below(9))),
    }
}

/// A value of the type `key` takes, at the edges of what it accepts: many disks (past
/// vdz), options and targets that collide, odd characters in strings, edge numbers.
fn spec_value(rng: &mut Rng, key: &str) -> Value {
    let odd = |rng: &mut Rng| -> String {
        rng.word(&[
            "", "x", "a b", "a\u{1}b", "é", "\u{a0}", "<&>", "]]>", "'\"", "--x", "x\ny",
        ])
        .to_string()
    };
    match key {
        "vcpus" => {
            serde_json::from_str(rng.word(&["0", "1", "4294967295", "4294967296", "-1", "2"]))
                .unwrap_or(Value::Null)
        }
        "memory" => Value::String(
            rng.word(&[
                "1KB",
                "1",
                "0",
                "99999999999GB",
                "18446744073709551615KiB",
                "512MiB",
                "1.5G",
                "2T",
                "1024b",
            ])
            .to_string(),
        ),
        "type" => Value::String(
            rng.word(&[
                "kvm", "qemu", "xen", "lxc", "test", "bhyve", "vmware", "KVM",
            ])
            .to_string(),
        ),
        "firmware" => Value::String(rng.word(&["bios", "efi", "uefi", ""]).to_string()),
        "graphics" => Value::String(rng.word(&["vnc", "spice", "none", "sdl"]).to_string()),
        "phase" => Value::String(rng.word(&["install", "final", "both"]).to_string()),
        "features" => Value::String(
            rng.word(&[
                "acpi,apic",
                "none",
                "acpi,,apic",
                "gic,hap,pae,privnet,pvspinlock,smm,vmcoreinfo,viridian",
                "acpi,acpi",
                "zz",
            ])
            .to_string(),
        ),
        "paravirt" | "console" | "pxe" => Value::Bool(rng.chance(70)),
        "disk" | "install-disk" => Value::Array(
            (0..rng.below(60))
                .map(|i| {
                    let opts = rng.word(&[
                        "",
                        ",bus=virtio",
                        ",bus=sata",
                        ",bus=ide",
                        ",bus=scsi",
                        ",device=cdrom",
                        ",device=floppy",
                        ",device=lun",
                        ",target=vda",
                        ",target=hda",
                        ",target=sdz",
                        ",format=qcow2",
                        ",readonly",
                        ",bus=usb,target=sdb",
                        ",bus=zz",
                        ",target=",
                    ]);
                    Value::String(format!("/img/d{i}.img{opts}"))
                })
                .collect(),
        ),
        "network" => Value::Array(
            (0..rng.below(6))
                .map(|_| {
                    Value::String(
                        rng.word(&[
                            "network=default",
                            "bridge=br0,model=virtio",
                            "user",
                            "none",
                            "network=default,mac=52:54:00:00:00:01",
                            "network=default,mac=52:54:00:00:00:01",
                            "bridge=",
                            "mac=zz",
                        ])
                        .to_string(),
                    )
                })
                .collect(),
        ),
        "serial" => Value::Array(
            (0..rng.below(4))
                .map(|_| {
                    Value::String(
                        rng.word(&["pty", "file=/tmp/s.log", "file=", "tcp"])
                            .to_string(),
                    )
                })
                .collect(),
        ),
        "uuid" => Value::String(
            rng.word(&[
                "11111111-2222-3333-4444-555555555555",
                "zz",
                "",
                "11111111222233334444555555555555",
                "{11111111-2222-3333-4444-555555555555}",
            ])
            .to_string(),
        ),
        _ => Value::String(format!(
            "{}{}",
            rng.word(&["/x", "vm", "console=ttyS0", "-q", "pygrub"]),
            odd(rng)
        )),
    }
}

/// A mutated domxml-gen spec: keys set to odd values, dropped or unknown, then
/// sometimes byte mutations of the JSON text.
pub fn mutate_spec(rng: &mut Rng, spec: &str, keys: &[String]) -> (String, Vec<&'static str>) {
    let mut names = Vec::new();
    let mut value: Value = serde_json::from_str(spec).unwrap_or(Value::Object(Map::new()));
    if let Value::Object(map) = &mut value {
        for _ in 0..1 + rng.below(4) {
            match rng.below(6) {
                0 => {
                    let k = rng.pick(keys).clone();
                    map.remove(&k);
                    names.push("spec-remove-key");
                }
                1 => {
                    map.insert(format!("zz{}", rng.below(3)), json_value(rng, 0));
                    names.push("spec-unknown-key");
                }
                2 | 3 => {
                    let k = rng.pick(keys).clone();
                    let v = spec_value(rng, &k);
                    map.insert(k, v);
                    names.push("spec-set-plausible");
                }
                _ => {
                    let k = rng.pick(keys).clone();
                    let v = json_value(rng, 0);
                    map.insert(k, v);
                    names.push("spec-set-key");
                }
            }
        }
    }
    let mut text = if rng.chance(20) {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .unwrap_or_default();
    if rng.chance(15) {
        let (name, out) = bytes(rng, &text);
        names.push(name);
        text = out;
    }
    (text, names)
}

/// A mutated record stream: fields set to odd values, lines duplicated or broken.
pub fn mutate_records(rng: &mut Rng, records: &str) -> (String, Vec<&'static str>) {
    let mut lines: Vec<String> = records.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let mut names = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let i = rng
            .below(lines.len().max(1))
            .min(lines.len().saturating_sub(1));
        match rng.below(5) {
            0 => {
                if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&lines[i]) {
                    let k = rng.word(&["name", "uuid", "uri", "persistent", "id", "state", ""]);
                    let v = if k == "uri" && rng.chance(60) {
                        Value::String(rng.word(URIS).to_string())
                    } else {
                        json_value(rng, 0)
                    };
                    m.insert(k.into(), v);
                    lines[i] = Value::Object(m).to_string();
                }
                names.push("record-field");
            }
            1 => {
                let copy = lines[i].clone();
                lines.insert(i, copy);
                names.push("record-duplicate-line");
            }
            2 => {
                lines.insert(
                    i,
                    rng.pick(&["", " ", "\t", "\u{a0}", "{}", "[]", "null", "\"x\""])
                        .to_string(),
                );
                names.push("record-odd-line");
            }
            3 => {
                lines.insert(i, format!("{}{}", "[".repeat(rng.below(100_000)), "1"));
                names.push("record-deep");
            }
            _ => {
                let (name, out) = bytes(rng, &lines[i]);
                lines[i] = out;
                names.push(name);
            }
        }
    }
    let sep = if rng.chance(20) { "\r\n" } else { "\n" };
    (lines.join(sep) + sep, names)
}
