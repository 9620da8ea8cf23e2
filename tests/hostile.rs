//! Damaged and hostile input to the XML tools: every case either works and gives a
//! well-formed document, or is refused in one line as bad input (exit 3). Never a panic,
//! never an "internal error", never exit 0 with a document that is not well-formed.

use clap::Parser;
use domkit::error::exit;
use domkit::tools::{generate, rewrite};
use domkit::xml::Document;

fn rewrite(text: &str, flags: &[&str]) -> Result<String, domkit::Error> {
    let mut argv = vec!["domxml-rewrite"];
    argv.extend_from_slice(flags);
    rewrite::rewrite("t.xml", text, &rewrite::Args::try_parse_from(argv).unwrap())
}

fn generate(flags: &[&str]) -> Result<String, domkit::Error> {
    let mut argv = vec![
        "domxml-gen",
        "--uuid",
        "11111111-2222-3333-4444-555555555555",
    ];
    argv.extend_from_slice(flags);
    generate::generate(&generate::Args::try_parse_from(argv).unwrap())
}

/// Refused as bad input, in one line that contains `want`.
#[track_caller]
fn refused(result: Result<String, domkit::Error>, want: &str) {
    let err = result.expect_err("must be refused");
    let msg = err.to_string();
    assert_eq!(err.exit_code(), exit::BAD_INPUT, "{msg}");
    assert!(msg.contains(want), "{msg}");
    assert!(one_line(&msg) && !msg.contains("internal error"), "{msg:?}");
}

/// Nothing in `msg` starts a new line or drives a terminal (issue 16, item 6).
fn one_line(msg: &str) -> bool {
    !msg.chars()
        .any(|c| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
}

#[track_caller]
fn well_formed(text: &str) {
    Document::parse("out.xml", text).unwrap_or_else(|e| panic!("{e}\n{text}"));
}

const FINAL: &str = "<domain type='kvm'>\n  <name>vm</name>\n  <uuid>11111111-2222-3333-4444-555555555555</uuid>\n  <memory>1048576</memory>\n  <os>\n    <type arch='x86_64'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n  <devices>\n    <disk type='file' device='disk'>\n      <source file='/vm.img'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n    <interface type='network'>\n      <mac address='52:54:00:00:00:01'/>\n      <source network='default'/>\n    </interface>\n  </devices>\n</domain>\n";

/// `--to install` with `flags`, then what a recorded profile promises: `--to final` gives
/// `doc` back byte for byte, and two swaps give the install config back.
fn install_round_trips(doc: &str, flags: &[&str]) {
    let install = rewrite(doc, flags).unwrap();
    assert_eq!(rewrite(&install, &["--to", "final"]).unwrap(), doc);
    let swapped = rewrite(&install, &["--swap"]).unwrap();
    assert_eq!(rewrite(&swapped, &["--swap"]).unwrap(), install);
}

fn install_of(text: &str) -> String {
    rewrite(text, &["--to", "install", "--cdrom", "/iso/a.iso"]).unwrap()
}

#[test]
fn non_ascii_blanks_and_huge_gaps_in_a_profile_do_not_panic() {
    let install = install_of(FINAL);
    // The final phase's profile records where the CD-ROM goes back.
    let fin = rewrite(&install, &["--swap"]).unwrap();
    assert!(fin.contains("gap="), "{fin}");
    // A no-break space right after the anchor: the recorded gap now ends inside it.
    let nbsp = fin.replace(
        "    </disk>\n    <interface",
        "    </disk>\u{a0}\n    <interface",
    );
    for variant in [
        nbsp,
        regex_gap(&fin, "18446744073709551615"),
        regex_gap(&fin, "99999999999999999999999"),
        regex_gap(&fin, "-1"),
    ] {
        match rewrite(&variant, &["--to", "install"]) {
            Ok(out) => well_formed(&out),
            Err(e) => assert_eq!(e.exit_code(), exit::BAD_INPUT, "{e}"),
        }
    }
}

fn regex_gap(text: &str, gap: &str) -> String {
    let at = text.find("gap='").expect("a gap") + 5;
    let end = at + text[at..].find('\'').unwrap();
    format!("{}{gap}{}", &text[..at], &text[end..])
}

#[test]
fn a_damaged_profile_is_bad_input_at_the_profile() {
    let install = install_of(FINAL);
    // Truncated recorded text: the final <os> lost its end tag.
    let truncated = install.replace("</os>]]>", "]]>");
    assert_ne!(truncated, install);
    refused(
        rewrite(&truncated, &["--to", "final"]),
        "recorded boot profile",
    );
    // A slot whose key says one element and whose text holds another.
    let features = install.replacen("key='os'", "key='features'", 1);
    refused(
        rewrite(&features, &["--to", "final"]),
        "holds <os>, not <features>",
    );
    // Extra elements hidden in a slot.
    let extra = install.replace("</os>]]>", "</os><devices><disk/></devices>]]>");
    refused(rewrite(&extra, &["--to", "final"]), "exactly one <os>");
    // A slot with a natural key that its element does not carry.
    let fin = rewrite(&install, &["--swap"]).unwrap();
    let wrong_target = fin.replace(
        "<target dev='hda' bus='ide'/>",
        "<target dev='vda' bus='ide'/>",
    );
    assert_ne!(wrong_target, fin);
    refused(
        rewrite(&wrong_target, &["--to", "install"]),
        "recorded boot profile",
    );
}

#[test]
fn two_edited_elements_on_one_line() {
    let doc = FINAL.replace(
        "    <boot dev='hd'/>\n",
        "    <boot dev='network'/> <boot dev='hd'/>\n",
    );
    let booted = rewrite(&doc, &["--boot", "hd"]).unwrap();
    assert!(
        booted
            .contains("  <os>\n    <type arch='x86_64'>hvm</type>\n    <boot dev='hd'/>\n  </os>"),
        "{booted}"
    );
    let install = rewrite(&doc, &["--to", "install", "--cdrom", "/iso/a.iso"]).unwrap();
    assert!(
        install.contains("<boot dev='cdrom'/>\n    <boot dev='network'/>\n    <boot dev='hd'/>"),
        "{install}"
    );
    assert_eq!(rewrite(&install, &["--to", "final"]).unwrap(), doc);
}

#[test]
fn new_install_media_over_a_recorded_profile_is_applied_not_ignored() {
    let install = install_of(FINAL);
    let other = rewrite(&install, &["--to", "install", "--cdrom", "/iso/b.iso"]).unwrap();
    assert!(
        other.contains("/iso/b.iso") && !other.contains("/iso/a.iso"),
        "{other}"
    );
    assert_eq!(rewrite(&other, &["--to", "final"]).unwrap(), FINAL);
    let pxe = rewrite(&install, &["--to", "install", "--pxe"]).unwrap();
    assert!(
        !pxe.contains("/iso/a.iso") && pxe.contains("<boot dev='network'/>"),
        "{pxe}"
    );
    assert_eq!(rewrite(&pxe, &["--to", "final"]).unwrap(), FINAL);
    // From a domxml-gen final config, whose profile records the install phase.
    let generated =
        generate(&["--name", "g", "--disk", "/g.img", "--cdrom", "/iso/a.iso"]).unwrap();
    let moved = rewrite(&generated, &["--to", "install", "--cdrom", "/iso/b.iso"]).unwrap();
    assert!(
        moved.contains("/iso/b.iso") && !moved.contains("/iso/a.iso"),
        "{moved}"
    );
    let back = rewrite(&moved, &["--to", "final"]).unwrap();
    assert_eq!(
        back,
        generate(&["--name", "g", "--disk", "/g.img", "--cdrom", "/iso/b.iso"]).unwrap()
    );
}

#[test]
fn other_tools_metadata_survives_the_way_back() {
    let install = install_of(FINAL);
    assert!(install.contains("metadata='created'"), "{install}");
    // libosinfo adds its element after the install phase was made.
    let osinfo = "<libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\"><libosinfo:os id=\"http://debian.org/debian/12\"/></libosinfo:libosinfo>";
    let tagged = install.replace("  </metadata>", &format!("    {osinfo}\n  </metadata>"));
    let fin = rewrite(&tagged, &["--to", "final"]).unwrap();
    assert!(fin.contains(osinfo), "{fin}");
    assert!(!fin.contains("domkit:profile"), "{fin}");
    well_formed(&fin);
}

#[test]
fn characters_xml_cannot_hold_are_refused() {
    refused(generate(&["--name", "a\u{1}b"]), "--name: contains U+0001");
    refused(
        generate(&["--name", "k", "--kernel", "/k", "--cmdline", "quiet\u{7}"]),
        "--cmdline: contains U+0007",
    );
    refused(
        generate(&["--name", "d", "--description", "x\u{fffe}"]),
        "U+FFFE",
    );
    refused(
        rewrite(FINAL, &["--to", "install", "--cdrom", "/iso/\u{0}.iso"]),
        "U+0000",
    );
    refused(rewrite(FINAL, &["--bootloader", "\u{1b}[31m"]), "U+001B");
    // The same from a JSON spec.
    let dir = std::env::temp_dir().join(format!("domkit-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("spec.json");
    std::fs::write(&spec, "{\"name\": \"a\\u0000b\"}").unwrap();
    let args =
        generate::Args::try_parse_from(["domxml-gen", "--spec", spec.to_str().unwrap()]).unwrap();
    let mut out = Vec::new();
    let err = generate::run(args, &mut std::io::empty(), &mut out).unwrap_err();
    assert_eq!(err.exit_code(), exit::BAD_INPUT, "{err}");
    assert!(out.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn numbers_and_disk_names() {
    for memory in ["99999999999GB", "1KB0", "0", "0.0K", "1e3"] {
        let err = generate(&["--name", "m", "--memory", memory]).unwrap_err();
        assert_eq!(err.exit_code(), exit::USAGE, "{memory}: {err}");
    }
    let xml = generate(&["--name", "m", "--memory", "1KB"]).unwrap();
    assert!(xml.contains(">1</memory>"), "{xml}");
    // 28 disks: after vdz come vdaa and vdab, as libvirt names them.
    let mut flags = vec!["--name".to_string(), "many".to_string()];
    for i in 0..28 {
        flags.push("--disk".into());
        flags.push(format!("/d{i}.img"));
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let xml = generate(&flags).unwrap();
    assert!(xml.contains("dev='vdz'") && xml.contains("dev='vdaa'") && xml.contains("dev='vdab'"));
    // An install disk may not take a target another disk has.
    refused(
        generate(&[
            "--name",
            "c",
            "--disk",
            "/c.img",
            "--install-disk",
            "/seed.iso,target=vda",
        ]),
        "target vda is already used",
    );
    refused(
        rewrite(
            FINAL,
            &["--to", "install", "--install-disk", "/s.iso,target=vda"],
        ),
        "target vda is already used",
    );
}

#[test]
fn empty_and_missing_devices() {
    for devices in [
        "<devices></devices>",
        "<devices/>",
        "<devices>\n  </devices>",
        "",
    ] {
        let doc = format!(
            "<domain type='kvm'>\n  <name>e</name>\n  <os>\n    <type>hvm</type>\n  </os>\n  {devices}\n</domain>\n"
        );
        let install = rewrite(&doc, &["--to", "install", "--cdrom", "/iso/e.iso"])
            .unwrap_or_else(|e| panic!("{devices:?}: {e}"));
        assert!(install.contains("/iso/e.iso"), "{install}");
        well_formed(&install);
        assert_eq!(
            rewrite(&install, &["--to", "final"]).unwrap(),
            doc,
            "{devices:?}"
        );
        let swapped = rewrite(&install, &["--swap"]).unwrap();
        assert_eq!(
            rewrite(&swapped, &["--swap"]).unwrap(),
            install,
            "{devices:?}"
        );
    }
}

/// What the mutation fuzzer (`make fuzz`) found, as its minimised reproducers: each either
/// works and round-trips, or is refused in one line.
#[test]
fn fuzz_findings_stay_fixed() {
    // F1: edits next to elements that share a line with their parent's end tag or with
    // each other ("internal error: overlapping edits").
    let a = "<domain><os>\n<boot dev='hd'/></os></domain>";
    let out = rewrite(a, &["--boot", "network"]).unwrap();
    assert_eq!(out, "<domain><os><boot dev='network'/></os></domain>");
    let a2 = "<domain><os> <boot dev='hd'/></os><devices/></domain>";
    for flags in [
        &["--to", "install", "--cdrom", "/x.iso"][..],
        &["--to", "install", "--pxe"],
    ] {
        match rewrite(a2, flags) {
            Ok(install) => assert_eq!(rewrite(&install, &["--to", "final"]).unwrap(), a2),
            Err(e) => refused(Err(e), "--pxe needs a network interface"),
        }
    }
    let b = "<domain><os>\n<boot dev='hd'/><boot dev='cdrom'/></os><on_reboot>destroy</on_reboot><devices/></domain>";
    well_formed(&rewrite(b, &["--to", "final"]).unwrap());
    let c = "<domain><devices>\n<disk device='cdrom'>\n<driver name='qemu'/>\n<source file='/x'/><target dev='sda'/>\n</disk>\n</devices></domain>";
    assert_eq!(
        rewrite(c, &["--eject", "sda"]).unwrap(),
        "<domain><devices>\n<disk device='cdrom'>\n<target dev='sda'/>\n</disk>\n</devices></domain>"
    );
    // F2: a new device before a sibling on the same line, and <metadata /> with a space.
    for doc in [
        "<domain><os/><devices> <video/></devices></domain>",
        "<domain><os/><devices>\n<video/></devices></domain>",
        "<domain>\n  <os/>\n  <devices>\n    <disk type='file' device='disk'/>\n  </devices>\n<metadata /></domain>",
    ] {
        let install = rewrite(doc, &["--to", "install", "--cdrom", "/x.iso"]).unwrap();
        assert_eq!(rewrite(&install, &["--to", "final"]).unwrap(), doc);
    }
    // F3: a derivation that would not settle is refused; --on-reboot settles it.
    let f3 = "<domain><on_reboot>destroy</on_reboot><devices><disk device='cdrom'><source file='/x.iso'/><target dev='hdc'/></disk></devices></domain>\n";
    refused(
        rewrite(f3, &["--to", "final"]),
        "cannot derive one final config",
    );
    let settled = rewrite(f3, &["--to", "final", "--on-reboot", "restart"]).unwrap();
    assert_eq!(rewrite(&settled, &["--to", "final"]).unwrap(), settled);
    // F4: XML declarations libxml2 refuses.
    refused(
        rewrite("<?xml version=\"1.0\" foo=\"x\"?><domain/>", &[]),
        "XML declaration",
    );
    refused(
        rewrite(
            "<?xml version=\"1.0\" standalone=\"yes\" encoding=\"utf-8\"?><domain/>",
            &[],
        ),
        "XML declaration",
    );
    // F5, F6: an element libvirt takes once, given twice.
    let p = "xmlns:domkit='https://domkit.dev/xmlns/profile/1'";
    let f5 = format!(
        "<domain><metadata><domkit:profile {p} recorded='final'/></metadata><metadata/><os><type>hvm</type></os><devices/></domain>"
    );
    refused(rewrite(&f5, &["--to", "final"]), "a second <metadata>");
    let f6 =
        "<domain><on_reboot>destroy</on_reboot><on_reboot>restart</on_reboot><devices/></domain>";
    refused(rewrite(f6, &["--swap"]), "a second <on_reboot>");
    // Found by `make fuzz` after those fixes: siblings without a key of their own keep
    // their names when a keyed one (the install CD-ROM) goes in before them.
    let unkeyed = "<domain> <os>\n</os>\n<features> </features> <devices> <disk device='cdrom'><source/>\n</disk>\n <disk>\n</disk>\n</devices>\n</domain>\n";
    let install = rewrite(unkeyed, &["--to", "install", "--cdrom", "/x.iso"]).unwrap();
    assert_eq!(rewrite(&install, &["--to", "final"]).unwrap(), unkeyed);
    // An install config without a profile is one already: --to install leaves it, and new
    // media over it are refused (its final config comes first).
    let virt_install = "<domain><os><type>hvm</type><boot dev='cdrom'/></os><devices/><on_reboot>destroy</on_reboot></domain>";
    assert_eq!(
        rewrite(virt_install, &["--to", "install"]).unwrap(),
        virt_install
    );
    refused(
        rewrite(virt_install, &["--to", "install", "--cdrom", "/y.iso"]),
        "already an install config",
    );
    // A profile that would restore an install config is damaged.
    let p = "xmlns:domkit='https://domkit.dev/xmlns/profile/1'";
    let damaged = format!(
        "<domain><metadata><domkit:profile {p} recorded='final' restore='original'/></metadata><os><type>hvm</type></os><on_reboot>destroy</on_reboot><devices/></domain>"
    );
    refused(
        rewrite(&damaged, &["--to", "final"]),
        "itself an install config",
    );
    // Two install devices added on one line after a disk (CD-ROM and seed), directly
    // followed by what stays: the blanks between them go with them, so the recorded
    // profile restores the document ("cannot record a boot profile ... please report").
    let one_line = "<domain><os><type>hvm</type></os><devices><disk type='file'></disk><interface type='user'></interface></devices></domain>";
    let flags = [
        "--to",
        "install",
        "--cdrom",
        "/x.iso",
        "--install-disk",
        "/s.iso",
    ];
    install_round_trips(one_line, &flags);
    // make fuzz, 10^6 mutants of seeds 1 and 2 on 758c5ca:
    // an encoding name that is not one (libxml2 refuses it), shown on one line;
    let err = rewrite("<?xml version='1.0' encoding='a\nb'?><domain/>", &[]).unwrap_err();
    assert!(
        err.to_string().contains("'a\\nb' is not an encoding name"),
        "{err}"
    );
    // an empty <metadata></metadata> keeps its bytes when the profile leaves it again;
    for doc in [
        "<domain><metadata></metadata><os></os><devices/></domain>",
        "<domain>\n  <metadata> </metadata>\n  <os/>\n  <devices/>\n</domain>\n",
    ] {
        for flags in [
            &flags[..],
            &["--to", "install", "--kernel", "/k", "--initrd", "/i"],
        ] {
            install_round_trips(doc, flags);
        }
    }
    // a kernel, initrd and cmdline into a self-closing <os/> ("overlapping edits");
    let os = "<domain><os/><devices/></domain>";
    let install = rewrite(
        os,
        &[
            "--to",
            "install",
            "--kernel",
            "/k",
            "--initrd",
            "/i",
            "--cmdline",
            "c",
        ],
    )
    .unwrap();
    assert!(
        install.contains(
            "<os>\n  <kernel>/k</kernel>\n  <initrd>/i</initrd>\n  <cmdline>c</cmdline>\n</os>"
        ),
        "{install}"
    );
    assert_eq!(rewrite(&install, &["--to", "final"]).unwrap(), os);
    // two install devices before two siblings that share a line (the first device then
    // fills lines of its own): the blanks before them stay the siblings';
    for doc in [
        "<domain><os><type>hvm</type></os><devices>\n  <controller type='usb'/><video/>\n</devices></domain>\n",
        "<domain><os><type>hvm</type></os><devices>\n  <controller type='usb'/><source usage='1'/>\n  <input type='mouse'/>\n</devices></domain>\n",
    ] {
        let install = rewrite(doc, &flags).unwrap();
        assert_eq!(rewrite(&install, &["--to", "final"]).unwrap(), doc);
    }
    // <metadata> holding text beside its elements gets no profile (one line, exit 3);
    refused(
        rewrite(
            "<domain><metadata>\n ot </metadata><os><type>hvm</type></os><devices/></domain>",
            &flags,
        ),
        "<metadata> holds text",
    );
    refused(
        rewrite(
            "<domain><metadata>\n \u{a0} </metadata><os><type>hvm</type></os><devices/></domain>",
            &flags,
        ),
        "<metadata> holds text",
    );
    // and so does text directly in <domain> (U+2028 is not a blank);
    refused(
        rewrite(
            "<domain><name>a</name>\u{2028}<bootloader>x</bootloader><os><type>hvm</type></os><devices/></domain>",
            &["--to", "install", "--kernel", "/k"],
        ),
        "<domain> holds text",
    );
    // a profile recording <devices> whole and devices inside it is damaged;
    let p = "xmlns:domkit='https://domkit.dev/xmlns/profile/1'";
    let both = format!(
        "<domain><metadata><domkit:profile {p} recorded='final'><domkit:slot key='devices' absent='yes'/><domkit:slot key='devices/disk[sda]' absent='yes'/></domkit:profile></metadata><os/><devices><disk><target dev='sda'/></disk></devices></domain>"
    );
    refused(
        rewrite(&both, &["--swap"]),
        "slot 'devices' recorded together",
    );
    // a byte order mark inside a slot's CDATA (a panic);
    let bom_char = '\u{feff}';
    let bom = format!(
        "<domain><metadata><domkit:profile {p} recorded='final'><domkit:slot key='os'><![CDATA[{bom_char}<os/>]]></domkit:slot></domkit:profile></metadata><os/><devices/></domain>"
    );
    refused(rewrite(&bom, &["--swap"]), "slot 'os'");
    // a run of removed siblings that stood out of their profile's order goes back in the
    // order it stood in: two swaps give the swapped document back.
    let out_of_order = format!(
        "<domain><metadata><domkit:profile {p} recorded='final'><domkit:slot key='devices/disk[sdb]' absent='yes'/><domkit:slot key='devices/disk[sda]' absent='yes'/></domkit:profile></metadata><os/><devices><disk><target dev='hda'/></disk><disk><target dev='sda'/></disk>\n<disk><target dev='sdb'/></disk><interface type='user'/></devices></domain>"
    );
    let once = rewrite(&out_of_order, &["--swap"]).unwrap();
    let twice = rewrite(&once, &["--swap"]).unwrap();
    assert_eq!(rewrite(&twice, &["--swap"]).unwrap(), once);
    assert!(
        twice.contains("<target dev='sda'/></disk>\n<disk><target dev='sdb'/>"),
        "{twice}"
    );
    // make fuzz seed 14 on 15f2881: the <metadata> domkit creates for its profile sits
    // between a removed element's anchor and the blanks before it, so its bytes are not
    // part of the recorded gap ("cannot record a boot profile ... please report");
    let kernel = ["--to", "install", "--kernel", "/k", "--initrd", "/i"];
    for doc in [
        "<domain t=''><name></name> <bootloader></bootloader><on_crash></on_crash><os></os><devices></devices></domain>",
        "<domain t=''><name></name> <bootloader></bootloader> <on_crash></on_crash><os></os><devices></devices></domain>",
        "<domain>\n  <name>x</name>\n\n  <bootloader>b</bootloader>\n  <os/>\n  <devices/>\n</domain>\n",
    ] {
        install_round_trips(doc, &kernel);
    }
    // and a run of removed devices whose second member's indentation holds a CR: the
    // ranges meet without sharing the newline, so two swaps give the document back.
    let cr = format!(
        "<domain><metadata><domkit:profile {p} recorded='final'><domkit:slot key='devices/disk[sda]' absent='yes'/><domkit:slot key='devices/disk[sdb]' absent='yes'/></domkit:profile></metadata><devices>\n<disk>\n <target dev='sda'/>\n </disk>\n  \r<disk>\n <target dev='sdb'/>\n </disk>\n  </devices>\n</domain>"
    );
    let once = rewrite(&cr, &["--swap"]).unwrap();
    assert!(
        once.contains("<devices>\n  </devices>"),
        "both disks and their lines go: {once}"
    );
    let twice = rewrite(&once, &["--swap"]).unwrap();
    assert!(
        twice.contains("<devices>\n<disk>\n <target dev='sda'/>\n </disk>\n  \r<disk>"),
        "{twice}"
    );
    assert_eq!(rewrite(&twice, &["--swap"]).unwrap(), once);
    // make fuzz seed 15 on eb45a33: install devices put after a disk that shares its line,
    // before a CRLF: the line break before each added device goes with it, the CR stays.
    let crlf = "<domain><metadata><m/></metadata>\n<os></os><devices><disk e=''></disk><disk e='k'>  </disk>\r\n </devices>\n</domain>\n";
    install_round_trips(crlf, &flags);
    // make fuzz seed 19 on 362b9ff: a <metadata> holding only a processing instruction or
    // a comment takes the profile right after its start tag, from where dropping it again
    // gives the metadata back exactly ("cannot record a boot profile");
    for doc in [
        "<domain><metadata>\n <?pi?> </metadata><os/><devices><disk/></devices></domain>",
        "<domain><metadata><!--c--></metadata><os/><devices><disk/></devices></domain>",
        "<domain><metadata>\r\n <?pi?>\r\n</metadata><os/><devices><disk/></devices></domain>",
    ] {
        install_round_trips(doc, &["--to", "install", "--cdrom", "/x.iso"]);
    }
    // and a profile re-rendered with the layout of its own lines, not of the line it starts
    // on, which a slot going in before it on that line changes.
    let moved_line = format!(
        "<domain t='q'\n  xmlns:s=\"s\"><name>6</name><os></os> <devices><disk/></devices><metadata><s:b/><domkit:profile {p} recorded='install'><domkit:slot key='os'><![CDATA[<os></os>]]></domkit:slot><domkit:slot key='on_reboot' gap='1'><![CDATA[  <on_reboot>oy</on_reboot>\n]]></domkit:slot></domkit:profile></metadata></domain>"
    );
    let once = rewrite(&moved_line, &["--swap"]).unwrap();
    let twice = rewrite(&once, &["--swap"]).unwrap();
    assert_eq!(rewrite(&twice, &["--swap"]).unwrap(), once);
}

/// Issue 16, item 6 (an independent fuzz run, 2,132 of 16,046 swaps): a slot for an element
/// of the active config that is not there (its disk lost its `<target>`, or stands inside
/// another device) was dropped, and the next swap could not restore it. It is refused in
/// one line that names the slot and why; the profile it came with still swaps.
#[test]
fn a_slot_whose_element_is_gone_is_refused_not_dropped() {
    let install = rewrite(
        FINAL,
        &["--to", "install", "--install-disk", "/seeds/s.img"],
    )
    .unwrap();
    assert!(
        install.contains("key='devices/disk[vdb]' absent='yes'"),
        "{install}"
    );
    let seed = "    <disk type='file' device='disk'>\n      <source file='/seeds/s.img'/>\n      <target dev='vdb' bus='virtio'/>\n    </disk>\n";
    assert!(install.contains(seed), "{install}");
    let nested = install.replacen(seed, "", 1).replacen(
        "      <source network='default'/>\n",
        &format!("      <source network='default'/>\n{seed}"),
        1,
    );
    let cases = [
        (
            install.replacen("<target dev='vdb' bus='virtio'/>", "", 1),
            "slot 'devices/disk[vdb]' is for an element of this config, which is not there: no <disk> in <devices> has target dev 'vdb' (one has no target dev at all)",
        ),
        (
            nested,
            "slot 'devices/disk[vdb]' is for an element of this config, which is not there: the <disk> with target dev 'vdb' is inside <interface>, not directly in <devices>",
        ),
        (
            install.replacen("  <on_reboot>destroy</on_reboot>\n", "", 1),
            "slot 'on_reboot' is for an element of this config, which is not there: <domain> has no <on_reboot>",
        ),
        (
            install.replacen(
                "key='on_reboot' absent='yes'/>",
                "key='on_reboot' absent='yes'/><domkit:slot key='devices/interface#2' absent='yes'/>",
                1,
            ),
            "slot 'devices/interface#2' is for an element of this config, which is not there: each <interface> in <devices> is named by its MAC address",
        ),
    ];
    for (damaged, why) in cases {
        assert_ne!(damaged, install);
        refused(rewrite(&damaged, &["--swap"]), why);
        refused(rewrite(&damaged, &["--to", "final"]), why);
    }
    install_round_trips(
        FINAL,
        &["--to", "install", "--install-disk", "/seeds/s.img"],
    );
}

/// Issue 16, item 6 (38 cases): a slot holding an `<os>` with two `<type>` (or `<loader>`)
/// was swapped in with exit 0, and the next swap refused its output. What a slot brings in
/// answers to the rules input does, at the swap that would bring it in.
#[test]
fn a_slot_cannot_bring_in_what_input_may_not_hold() {
    let install = install_of(FINAL);
    let recorded_os = "<![CDATA[<os>\n    <type arch='x86_64'>hvm</type>";
    assert!(install.contains(recorded_os), "{install}");
    for (extra, name) in [
        ("<type>hvm</type>", "type"),
        ("<loader>/a.fd</loader><loader>/b.fd</loader>", "loader"),
    ] {
        let damaged = install.replacen(recorded_os, &format!("{recorded_os}{extra}"), 1);
        let want = format!("slot 'os' brings in a second <{name}> in <os>: libvirt takes only one");
        refused(rewrite(&damaged, &["--to", "final"]), &want);
        refused(rewrite(&damaged, &["--swap"]), &want);
    }
}

/// Issue 16, item 6 (247 messages with a CR, 3 spanning lines): what a message quotes from
/// its input (a key, a target, a flag, a file name) is escaped, so each stays one line.
#[test]
fn messages_quoting_input_stay_on_one_line() {
    let install = install_of(FINAL);
    // A slot key with a CR, an LF and a line separator (character references in XML).
    let key = install.replacen("key='os'", "key='os&#13;&#10;\u{2028}x'", 1);
    refused(rewrite(&key, &["--to", "final"]), "os\\r\\n\\u{2028}x");
    // A disk target with a CR, named by the slot that lost it.
    let seeded = rewrite(FINAL, &["--to", "install", "--install-disk", "/s.img"]).unwrap();
    let target = seeded
        .replace("disk[vdb]", "disk[v&#13;b]")
        .replace("<target dev='vdb'", "<target dev='v&#13;c'");
    refused(rewrite(&target, &["--swap"]), "disk[v\\rb]");
    // A flag's value with a CR, a NEL and a line separator (ESC and BEL it refuses: XML
    // cannot hold them), and a file name with an LF, a CR and an ESC.
    for flag in ["--eject", "--remove-device"] {
        refused(
            rewrite(FINAL, &[flag, "\r\u{85}\u{2028}vdz"]),
            "'\\r\\u{85}\\u{2028}vdz'",
        );
    }
    let args = rewrite::Args::try_parse_from(["domxml-rewrite", "--boot", "hd"]).unwrap();
    let err = rewrite::rewrite("a\nb\r\u{1b}.xml", "<domain>", &args).unwrap_err();
    refused(Err(err), "a\\nb\\r\\u{1b}.xml:1:");
}
