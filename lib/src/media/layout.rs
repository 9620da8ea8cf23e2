//! Where an install ISO keeps the kernel and initrd for a direct-kernel install: the
//! layouts distributions use, else osinfo's media data when the OS is known, else the
//! ISO's own boot menu (GRUB or ISOLINUX), whose entry also gives the kernel command line.

use std::io::{Read, Seek};

use serde::Serialize;

use super::iso9660::{Iso, IsoError, Kind};

/// Largest boot menu read.
const MENU_LIMIT: u64 = 1 << 20;

/// A kernel and initrd pair inside the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Boot {
    /// Absolute path of the kernel inside the image.
    pub kernel: String,
    /// Absolute path of the initrd inside the image.
    pub initrd: String,
    /// The kernel command line of the boot menu entry that boots this kernel, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// What found it: `osinfo`, `debian`, `fedora`, `ubuntu`, `fai`, `grub`, `isolinux`.
    pub layout: String,
    /// The variant, for layouts that ship several (`gtk`, `xen`, `hwe`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Known layouts: (layout, variant, kernel, initrd candidates), in preference order.
const LAYOUTS: &[(&str, Option<&str>, &str, &[&str])] = &[
    (
        "debian",
        None,
        "/install.amd/vmlinuz",
        &["/install.amd/initrd.gz"],
    ),
    (
        "debian",
        Some("gtk"),
        "/install.amd/gtk/vmlinuz",
        &["/install.amd/gtk/initrd.gz"],
    ),
    (
        "debian",
        Some("xen"),
        "/install.amd/xen/vmlinuz",
        &["/install.amd/xen/initrd.gz"],
    ),
    (
        "debian",
        None,
        "/install.a64/vmlinuz",
        &["/install.a64/initrd.gz"],
    ),
    (
        "debian",
        None,
        "/install.386/vmlinuz",
        &["/install.386/initrd.gz"],
    ),
    ("debian", None, "/install/vmlinuz", &["/install/initrd.gz"]),
    (
        "fedora",
        None,
        "/images/pxeboot/vmlinuz",
        &["/images/pxeboot/initrd.img"],
    ),
    (
        "fedora",
        None,
        "/isolinux/vmlinuz",
        &["/isolinux/initrd.img"],
    ),
    (
        "ubuntu",
        None,
        "/casper/vmlinuz",
        &["/casper/initrd", "/casper/initrd.gz", "/casper/initrd.lz"],
    ),
    (
        "ubuntu",
        Some("hwe"),
        "/casper/hwe-vmlinuz",
        &["/casper/hwe-initrd"],
    ),
    ("fai", None, "/boot/vmlinuz", &["/boot/initrd.img"]),
];

/// Boot menus read for an entry's kernel, initrd and command line.
const MENUS: &[(&str, &str)] = &[
    ("grub", "/boot/grub/grub.cfg"),
    ("grub", "/EFI/BOOT/grub.cfg"),
    ("isolinux", "/isolinux/isolinux.cfg"),
    ("isolinux", "/isolinux/txt.cfg"),
    ("isolinux", "/boot/isolinux/isolinux.cfg"),
    ("isolinux", "/syslinux/syslinux.cfg"),
    ("isolinux", "/syslinux.cfg"),
];

/// One boot menu entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    /// `grub` or `isolinux`.
    pub menu: &'static str,
    /// The kernel path as written, made absolute.
    pub kernel: String,
    /// The initrd path, made absolute.
    pub initrd: Option<String>,
    /// The rest of the command line (isolinux's `initrd=` removed).
    pub cmdline: String,
}

fn is_file<R: Read + Seek>(iso: &mut Iso<R>, path: &str) -> Result<bool, IsoError> {
    Ok(iso.lookup(path)?.is_some_and(|e| e.kind == Kind::File))
}

/// Every kernel/initrd pair found, best first: the known layouts, osinfo's paths (given
/// by the caller: for layouts this list does not know), then boot menu entries. Command
/// lines come from the boot menus. Layouts first, so that `extract` needs no database
/// for the common ones and inspect and extract agree.
///
/// # Errors
/// Damaged directories or menus.
pub fn find<R: Read + Seek>(
    iso: &mut Iso<R>,
    osinfo: Option<(&str, &str)>,
) -> Result<Vec<Boot>, IsoError> {
    let menu = menu_entries(iso)?;
    let cmdline_for = |kernel: &str| {
        menu.iter()
            .find(|m| m.kernel.eq_ignore_ascii_case(kernel))
            .map(|m| m.cmdline.clone())
    };
    let mut found: Vec<Boot> = Vec::new();
    let push = |found: &mut Vec<Boot>, boot: Boot| {
        if !found
            .iter()
            .any(|b| b.kernel == boot.kernel && b.initrd == boot.initrd)
        {
            found.push(boot);
        }
    };
    for (layout, variant, kernel, initrds) in LAYOUTS {
        if *layout == "fai" && !is_file(iso, "/FAI-CD")? {
            continue;
        }
        if !is_file(iso, kernel)? {
            continue;
        }
        for initrd in *initrds {
            if is_file(iso, initrd)? {
                push(
                    &mut found,
                    Boot {
                        kernel: kernel.to_string(),
                        initrd: initrd.to_string(),
                        cmdline: cmdline_for(kernel),
                        layout: layout.to_string(),
                        variant: variant.map(str::to_string),
                    },
                );
                break;
            }
        }
    }
    if let Some((kernel, initrd)) = osinfo {
        let (kernel, initrd) = (absolute(kernel), absolute(initrd));
        if is_file(iso, &kernel)? && is_file(iso, &initrd)? {
            push(
                &mut found,
                Boot {
                    cmdline: cmdline_for(&kernel),
                    kernel,
                    initrd,
                    layout: "osinfo".into(),
                    variant: None,
                },
            );
        }
    }
    for entry in &menu {
        let Some(initrd) = &entry.initrd else {
            continue;
        };
        if is_file(iso, &entry.kernel)? && is_file(iso, initrd)? {
            push(
                &mut found,
                Boot {
                    kernel: entry.kernel.clone(),
                    initrd: initrd.clone(),
                    cmdline: Some(entry.cmdline.clone()),
                    layout: entry.menu.into(),
                    variant: None,
                },
            );
        }
    }
    Ok(found)
}

/// The entries of every boot menu the image has, in file order.
///
/// # Errors
/// Damaged directories; a menu larger than 1 MiB.
pub fn menu_entries<R: Read + Seek>(iso: &mut Iso<R>) -> Result<Vec<MenuEntry>, IsoError> {
    let mut entries = Vec::new();
    for (menu, path) in MENUS {
        let Some(file) = iso.lookup(path)? else {
            continue;
        };
        if file.kind != Kind::File {
            continue;
        }
        let text = iso.read_small(&file, MENU_LIMIT)?;
        let text = String::from_utf8_lossy(&text);
        let dir = path.rsplit_once('/').map_or("/", |(d, _)| d);
        match *menu {
            "grub" => entries.extend(parse_grub(&text)),
            _ => entries.extend(parse_isolinux(&text, dir)),
        }
    }
    Ok(entries)
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Words of a command line that mean something only to the boot loader: GRUB variables.
fn loader_only(word: &str) -> bool {
    word.contains('$')
}

/// GRUB: `linux PATH ARGS` then `initrd PATH` inside each menuentry.
pub fn parse_grub(text: &str) -> Vec<MenuEntry> {
    let mut out = Vec::new();
    let mut current: Option<MenuEntry> = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("linux" | "linuxefi" | "linux16") => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                let Some(kernel) = words.next() else { continue };
                if loader_only(kernel) {
                    continue;
                }
                let cmdline: Vec<&str> = words.filter(|w| !loader_only(w)).collect();
                current = Some(MenuEntry {
                    menu: "grub",
                    kernel: absolute(kernel),
                    initrd: None,
                    cmdline: cmdline.join(" "),
                });
            }
            Some("initrd" | "initrdefi" | "initrd16") => {
                if let (Some(entry), Some(path)) = (current.as_mut(), words.next()) {
                    if entry.initrd.is_none() && !loader_only(path) {
                        entry.initrd = Some(absolute(path));
                    }
                }
            }
            Some("menuentry" | "}") => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
            }
            _ => {}
        }
    }
    out.extend(current);
    out
}

/// ISOLINUX: `kernel PATH` (or `linux PATH`) with `append ... initrd=PATH ...` or `initrd
/// PATH`; relative paths are relative to the menu's folder.
pub fn parse_isolinux(text: &str, dir: &str) -> Vec<MenuEntry> {
    let resolve = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{p}", dir.trim_end_matches('/'))
        }
    };
    let mut out = Vec::new();
    let mut current: Option<MenuEntry> = None;
    for line in text.lines() {
        let line = line.trim();
        let (key, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match key.to_ascii_lowercase().as_str() {
            "label" => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
            }
            "kernel" | "linux" if !rest.is_empty() => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                let path = rest.split_whitespace().next().unwrap_or(rest);
                current = Some(MenuEntry {
                    menu: "isolinux",
                    kernel: resolve(path),
                    initrd: None,
                    cmdline: String::new(),
                });
            }
            "initrd" => {
                if let Some(entry) = current.as_mut() {
                    entry.initrd = Some(resolve(rest));
                }
            }
            "append" => {
                if let Some(entry) = current.as_mut() {
                    let mut words = Vec::new();
                    for word in rest.split_whitespace() {
                        match word.strip_prefix("initrd=") {
                            // A comma separates several initrds; the first is the installer's.
                            Some(p) => {
                                let first = p.split(',').next().unwrap_or(p);
                                entry.initrd = Some(resolve(first));
                            }
                            None => words.push(word),
                        }
                    }
                    entry.cmdline = words.join(" ");
                }
            }
            _ => {}
        }
    }
    out.extend(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_entries_with_quotes_and_variables() {
        let text = "set timeout=5\nmenuentry \"FAI\" {\n    search --set=root --file /FAI-CD\n    linux   /boot/vmlinuz FAI_FLAGS=\"menu,verbose\" root=live:CDLABEL=FAI_CD $vt_handoff quiet\n    initrd  /boot/initrd.img\n}\nmenuentry x {\n linux /b/k\n}\n";
        let e = parse_grub(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].kernel, "/boot/vmlinuz");
        assert_eq!(e[0].initrd.as_deref(), Some("/boot/initrd.img"));
        assert_eq!(
            e[0].cmdline,
            "FAI_FLAGS=\"menu,verbose\" root=live:CDLABEL=FAI_CD quiet"
        );
        assert_eq!(e[1].initrd, None);
    }

    #[test]
    fn isolinux_entries_relative_to_the_menu() {
        let text = "DEFAULT install\nLABEL install\n  KERNEL vmlinuz\n  APPEND initrd=initrd.gz,extra.gz console=ttyS0 --- quiet\nlabel two\n kernel /abs/k\n initrd /abs/i\n";
        let e = parse_isolinux(text, "/isolinux");
        assert_eq!(e[0].kernel, "/isolinux/vmlinuz");
        assert_eq!(e[0].initrd.as_deref(), Some("/isolinux/initrd.gz"));
        assert_eq!(e[0].cmdline, "console=ttyS0 --- quiet");
        assert_eq!(e[1].initrd.as_deref(), Some("/abs/i"));
    }
}
