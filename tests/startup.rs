//! The XML tools start as fast as a process can: they do not link libvirt's client
//! library, whose 56 shared libraries the dynamic loader would otherwise map at every run
//! (13 ms and 12 MiB more per document: bench/results/latest.md).

use std::process::Command;

/// The shared libraries `binary` needs, as the dynamic loader resolves them.
fn needed(binary: &str) -> String {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .expect("ldd (Debian package libc-bin) runs");
    assert!(out.status.success(), "ldd {binary} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_xml_tools_do_not_link_libvirt() {
    for binary in [
        env!("CARGO_BIN_EXE_domxml-rewrite"),
        env!("CARGO_BIN_EXE_dom-media"),
    ] {
        let libs = needed(binary);
        assert!(!libs.contains("libvirt"), "{binary} links libvirt:\n{libs}");
    }
}

#[test]
fn the_libvirt_tools_do() {
    // The check above would pass on a binary ldd cannot read: make sure it sees libvirt
    // where it must be.
    for binary in [
        env!("CARGO_BIN_EXE_dom-create"),
        env!("CARGO_BIN_EXE_domxml-gen"),
    ] {
        assert!(needed(binary).contains("libvirt.so"), "{binary}");
    }
}
