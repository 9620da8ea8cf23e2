//! A recorded boot profile is identified by its namespace name, never by its prefix
//! (Namespaces in XML 1.0): every namespace-equivalent spelling of it, as other XML tools
//! write it back, still swaps byte for byte, and what is in the profile's namespace but is
//! not a profile is refused in one line (exit 3).
//!
//! The tools are the real ones: Python's xml.etree.ElementTree, lxml where Python has it,
//! `xmllint --format`, and `virt-xml` (on libvirt's test driver). libvirt's own define and
//! dumpxml are tested on the lab daemon, in tests/libvirt_lab.rs.

use clap::Parser;
use domkit::error::exit;
use domkit::phase::profile::NAMESPACE;
use domkit::tools::generate;

mod common;

use common::phases::rewrite;
use common::respelled::{element_tree, lxml, still_swaps_exactly, through};

fn generate(flags: &[&str]) -> String {
    let mut argv = vec![
        "domxml-gen",
        "--name",
        "vm",
        "--uuid",
        "11111111-2222-3333-4444-555555555555",
        "--disk",
        "/var/lib/vm.qcow2",
    ];
    argv.extend_from_slice(flags);
    generate::generate(&generate::Args::try_parse_from(argv).unwrap()).unwrap()
}

/// domxml-gen's documents for each install method, in both phases: final configs with an
/// install profile, and the install configs `--to install` makes of them. The kernel
/// command line holds `&`, `<` and `>`, and the CD-ROM's path `é`, which escaped text
/// must carry exactly (ElementTree writes ASCII: `&#233;`).
fn documents() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (method, flags) in [
        ("cdrom", &["--cdrom", "/iso/café.iso"][..]),
        (
            "kernel",
            &[
                "--kernel",
                "/boot/vmlinuz",
                "--initrd",
                "/boot/initrd.gz",
                "--cmdline",
                "ks=http://h/a?x=1&y=<2> quiet",
            ][..],
        ),
        ("seed", &["--install-disk", "/iso/seed.iso"][..]),
    ] {
        let fin = generate(flags);
        let install = rewrite(method, &fin, &["--to", "install"]).unwrap();
        out.push((format!("{method} final"), fin));
        out.push((format!("{method} install"), install));
    }
    out
}

fn xmllint(text: &str) -> String {
    through("xmllint", &["--format", "-"], text).expect("xmllint is installed")
}

/// virt-xml edits the document (on libvirt's test driver, which only supplies defaults)
/// and writes it back whole, through libxml2.
fn virt_xml(text: &str, edit: &[&str]) -> String {
    let mut args = vec!["-c", "test:///default", "--edit"];
    args.extend_from_slice(edit);
    let out = through("virt-xml", &args, text).expect("virt-xml is installed");
    assert_ne!(out, text, "virt-xml {edit:?} changed nothing");
    out
}

#[test]
fn element_tree_round_trips_swap_exactly() {
    for (what, doc) in documents() {
        let et = element_tree(&doc);
        assert!(et.contains("<ns0:profile") && !et.contains("CDATA"), "{et}");
        assert!(et.is_ascii(), "{et}");
        still_swaps_exactly(&format!("{what} | ElementTree"), &et);
        // ElementTree over what domkit wrote from ElementTree's output: still exact.
        let again = element_tree(&rewrite(&what, &et, &["--swap"]).unwrap());
        still_swaps_exactly(
            &format!("{what} | ElementTree | swap | ElementTree"),
            &again,
        );
    }
}

#[test]
fn lxml_round_trips_swap_exactly_where_python_has_it() {
    let Some(_) = lxml("<a/>") else {
        eprintln!(
            "skipped: Python's lxml is not importable here (scripts/deps.sh installs python3-lxml)"
        );
        return;
    };
    for (what, doc) in documents() {
        let out = lxml(&doc).unwrap();
        still_swaps_exactly(&format!("{what} | lxml"), &out);
    }
}

#[test]
fn xmllint_format_round_trips_swap_exactly() {
    for (what, doc) in documents() {
        still_swaps_exactly(&format!("{what} | xmllint --format"), &xmllint(&doc));
        let et = xmllint(&element_tree(&doc));
        still_swaps_exactly(&format!("{what} | ElementTree | xmllint --format"), &et);
    }
}

#[test]
fn virt_xml_edits_round_trip_swap_exactly() {
    for (what, doc) in documents() {
        let edited = virt_xml(&doc, &["--memory", "2048"]);
        still_swaps_exactly(&format!("{what} | virt-xml --memory"), &edited);
        let et = virt_xml(&element_tree(&doc), &["--vcpus", "3"]);
        still_swaps_exactly(&format!("{what} | ElementTree | virt-xml --vcpus"), &et);
    }
}

/// The prefix-free and ancestor-declared spellings, and both quote styles, written here
/// from domxml-gen's output.
#[test]
fn every_namespace_equivalent_spelling_swaps_exactly() {
    let decl = format!("xmlns:domkit='{NAMESPACE}'");
    for (what, doc) in documents() {
        assert!(doc.contains(&decl), "{doc}");
        let spellings = [
            (
                "a default namespace",
                doc.replace(&decl, &format!("xmlns='{NAMESPACE}'"))
                    .replace("domkit:", ""),
            ),
            (
                "another prefix",
                doc.replace(&decl, &format!("xmlns:p0='{NAMESPACE}'"))
                    .replace("domkit:", "p0:"),
            ),
            (
                "declared on <domain>",
                doc.replacen("<domain ", &format!("<domain {decl} "), 1)
                    .replace(&format!(" {decl}"), "")
                    .replacen("<domain ", &format!("<domain {decl} "), 1),
            ),
            (
                "declared on <metadata>",
                doc.replace(&format!(" {decl}"), "")
                    .replace("<metadata>", &format!("<metadata {decl}>")),
            ),
            (
                "slots prefixed otherwise than their profile",
                doc.replace(&decl, &format!("{decl} xmlns:s='{NAMESPACE}'"))
                    .replace("domkit:slot", "s:slot"),
            ),
            ("double quotes", doc.replace('\'', "\"")),
        ];
        for (how, spelled) in spellings {
            assert_ne!(spelled, doc, "{what}, {how}");
            still_swaps_exactly(&format!("{what}, {how}"), &spelled);
        }
    }
}

/// A new profile uses the prefix the document already binds to the namespace.
#[test]
fn a_new_profile_takes_the_prefix_the_document_binds() {
    let plain = "<domain type='kvm' xmlns:p='https://domkit.dev/xmlns/profile/1'>\n  <name>vm</name>\n  <os>\n    <type>hvm</type>\n    <boot dev='hd'/>\n  </os>\n  <devices>\n    <disk type='file' device='disk'>\n      <source file='/vm.img'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n  </devices>\n</domain>\n";
    let install = rewrite("t", plain, &["--to", "install", "--cdrom", "/iso/a.iso"]).unwrap();
    assert!(
        install.contains("<p:profile xmlns:p=") && !install.contains("domkit:"),
        "{install}"
    );
    assert_eq!(rewrite("t", &install, &["--to", "final"]).unwrap(), plain);
}

/// Refused as bad input (exit 3), in one line naming `want`.
#[track_caller]
fn refused(text: &str, want: &str) {
    for flags in [&["--swap"][..], &["--to", "install"], &["--to", "final"]] {
        let err = rewrite("t.xml", text, flags).expect_err(text);
        let msg = err.to_string();
        assert_eq!(err.exit_code(), exit::BAD_INPUT, "{msg}");
        assert!(msg.contains(want), "{flags:?}: {msg}\n{text}");
        assert!(msg.starts_with("t.xml:") && !msg.contains('\n'), "{msg}");
    }
}

#[test]
fn what_is_in_the_namespace_but_is_not_a_profile_is_refused() {
    let (_, doc) = documents().remove(0);
    let et = element_tree(&doc);
    let first_slot = et.find("<ns0:slot key=\"os\">").unwrap();
    for (how, text, want) in [
        (
            "a wrong element in <metadata>",
            et.replace("ns0:profile", "ns0:profil"),
            "<ns0:profil> is in the profile's namespace",
        ),
        (
            "a wrong element in the profile",
            et.replacen("ns0:slot", "ns0:slab", 2),
            "unexpected <ns0:slab>",
        ),
        (
            "an unbound prefix",
            et.replace("ns0:", "ns1:")
                .replacen("xmlns:ns1", "xmlns:ns0", 1),
            "the namespace prefix 'ns1' is not declared",
        ),
        (
            "a prefix bound to the namespace twice",
            et.replacen(
                "<domain ",
                &format!("<domain xmlns:ns0=\"{NAMESPACE}\" "),
                1,
            ),
            "t.xml:1:",
        ),
        (
            "two profiles under two prefixes",
            et.replace(
                "</metadata>",
                &format!("  <p:profile xmlns:p='{NAMESPACE}' recorded='final'/>\n  </metadata>"),
            ),
            "two domkit boot profiles",
        ),
        (
            "the namespace outside <metadata>",
            et.replace(
                "<devices>",
                "<devices>\n    <ns0:slot key='x' absent='yes'/>",
            ),
            "<ns0:slot> is in the profile's namespace",
        ),
        (
            "a slot whose prefix names another namespace there",
            format!(
                "{}<ns0:slot xmlns:ns0='urn:other' key='x' absent='yes'/>{}",
                &et[..first_slot],
                &et[first_slot..]
            ),
            "unexpected <ns0:slot>",
        ),
        (
            "a slot holding an element, not text",
            et.replacen("&lt;os&gt;", "<os>", 1)
                .replacen("&lt;/os&gt;", "</os>", 1),
            "slot 'os'",
        ),
        (
            "escaped text that is not the element its key names",
            et.replacen("&lt;os&gt;", "&lt;oz&gt;", 1)
                .replacen("&lt;/os&gt;", "&lt;/oz&gt;", 1),
            "slot 'os' holds <oz>, not <os>",
        ),
        (
            "an unprefixed slot in no namespace",
            et.replacen("<ns0:slot key=\"os\">", "<slot key=\"os\">", 1)
                .replacen("</ns0:slot>", "</slot>", 1),
            "unexpected <slot>",
        ),
    ] {
        assert_ne!(text, et, "{how}");
        eprintln!("{how}");
        refused(&text, want);
    }
}

/// What a swap leaves no slot to show of the profile's spelling (escaped text when every
/// slot is empty, character references when no slot holds a character beyond ASCII), the
/// profile says in a `text` attribute, gone again once the slots show it.
#[test]
fn a_profile_says_the_spelling_its_slots_no_longer_show() {
    let docs = documents();
    let doc = |what: &str| docs.iter().find(|(w, _)| w == what).unwrap().1.clone();
    for (what, spelled, says) in [
        (
            "seed final",
            element_tree(&doc("seed final")),
            "text=\"escaped\"",
        ),
        (
            "cdrom final",
            element_tree(&doc("cdrom final")),
            "text=\"ascii\"",
        ),
        (
            "cdrom final",
            xmllint(&element_tree(&doc("cdrom final"))),
            "text=\"ascii-hex\"",
        ),
    ] {
        let install = rewrite(what, &spelled, &["--to", "install"]).unwrap();
        assert!(install.contains(says), "{what}: {install}");
        let back = rewrite(what, &install, &["--to", "final"]).unwrap();
        assert!(!back.contains("text=\""), "{what}: {back}");
        assert_eq!(back, spelled, "{what}");
    }
}
