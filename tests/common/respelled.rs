//! What a document that another XML tool re-serialised (ElementTree, lxml, xmllint,
//! libvirt's define and dumpxml, virt-xml) must still do, from where it stands: swap byte
//! for byte, go to the other phase and back byte for byte, and keep its own spelling of
//! the profile (prefix, escaped text or CDATA) in what domkit writes.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use domkit::phase::active_phase;
use domkit::phase::profile::{self, Phase};
use domkit::xml::{Document, lexical};

use super::phases::rewrite;

/// The profile's slot prefix and, where a slot holds text, whether as CDATA, in `text`.
fn spelling(what: &str, text: &str) -> (String, Option<bool>) {
    let doc = Document::parse(what, text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    let located = profile::find(&doc)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .unwrap_or_else(|| panic!("{what}: no profile found in\n{text}"));
    let e = doc.el(located.element);
    let first = e.children.first().copied().unwrap_or(located.element);
    let prefix = lexical::split_qname(doc.el(first).name).0.to_string();
    let cdata = e
        .children
        .iter()
        .map(|&c| &doc.text[doc.el(c).start_tag_end..doc.el(c).content_end])
        .find(|t| !t.is_empty())
        .map(|t| t.contains("<![CDATA["));
    (prefix, cdata)
}

/// Every promise of a recorded profile, checked on `doc` as it stands: two swaps and the
/// way to the other phase and back give it back byte for byte, and the swapped profile is
/// spelled as `doc`'s is.
#[track_caller]
pub fn still_swaps_exactly(what: &str, doc: &str) {
    let run = |text: &str, flags: &[&str]| {
        rewrite(what, text, flags)
            .unwrap_or_else(|e| panic!("{what}: domxml-rewrite {flags:?}: {e}\n{text}"))
    };
    let swapped = run(doc, &["--swap"]);
    assert_ne!(swapped, doc, "{what}: --swap changed nothing");
    assert_eq!(run(&swapped, &["--swap"]), doc, "{what}: two swaps");
    let phase = active_phase(&Document::parse(what, doc).unwrap()).unwrap();
    let (there, back) = match phase {
        Phase::Final => ("install", "final"),
        Phase::Install => ("final", "install"),
    };
    let other = run(doc, &["--to", there]);
    assert_eq!(other, swapped, "{what}: --to {there} is the swap");
    assert_eq!(
        run(&other, &["--to", back]),
        doc,
        "{what}: --to {there}, --to {back}"
    );
    let (prefix, cdata) = spelling(what, doc);
    let (swapped_prefix, swapped_cdata) = spelling(what, &swapped);
    assert_eq!(swapped_prefix, prefix, "{what}: another prefix:\n{swapped}");
    if let (Some(cdata), Some(swapped_cdata)) = (cdata, swapped_cdata) {
        assert_eq!(swapped_cdata, cdata, "{what}: CDATA or not:\n{swapped}");
    }
    if !doc.contains("<domkit:") {
        assert!(!swapped.contains("domkit:"), "{what}: {swapped}");
    }
}

/// `text` through `program args` (stdin to stdout); `None` when the program is not there.
pub fn through(program: &str, args: &[&str], text: &str) -> Option<String> {
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{program}: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Parse and write with Python's xml.etree.ElementTree, as provisioning scripts do: the
/// profile comes back as `ns0:`, declared on `<domain>`, its CDATA as escaped text.
pub fn element_tree(text: &str) -> String {
    let script =
        "import sys, xml.etree.ElementTree as ET\nET.parse(sys.stdin).write(sys.stdout.buffer)";
    through("python3", &["-c", script], text).expect("python3 is installed")
}

/// Parse and write with lxml, when Python has it: `None` otherwise.
pub fn lxml(text: &str) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import lxml.etree"])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let script = "import sys, lxml.etree as E\nsys.stdout.buffer.write(E.tostring(E.parse(sys.stdin.buffer)))";
    through("python3", &["-c", script], text)
}
