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
    /// The rest of the command line (`initrd=` removed: the initrd is given apart).
    pub cmdline: String,
    /// The menu boots this entry by default (ISOLINUX `DEFAULT`/`ONTIMEOUT` or `MENU
    /// DEFAULT`, GRUB `set default=`).
    pub default: bool,
}

/// The command line of the menu entry that boots `kernel` (with `initrd`, if one does):
/// the menu's default entry among them, else the first in file order.
pub fn cmdline_for(menu: &[MenuEntry], kernel: &str, initrd: Option<&str>) -> Option<String> {
    menu.iter()
        .enumerate()
        .filter(|(_, m)| m.kernel.eq_ignore_ascii_case(kernel))
        .min_by_key(|(i, m)| {
            let same_initrd = initrd.is_some() && m.initrd.as_deref() == initrd;
            (!same_initrd, !m.default, *i)
        })
        .map(|(_, m)| m.cmdline.clone())
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
    let mut menu = menu_entries(iso)?;
    // Default entries first: of the entries a menu has, the one it boots untouched.
    menu.sort_by_key(|m| !m.default);
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
                        cmdline: cmdline_for(&menu, kernel, Some(initrd)),
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
                    cmdline: cmdline_for(&menu, &kernel, Some(&initrd)),
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

/// Words of a command line that mean something only to the boot loader: GRUB variables,
/// and `initrd=` (ISOLINUX's way to name the initrd, given apart here).
fn loader_only(word: &str) -> bool {
    word.contains('$') || word.starts_with("initrd=")
}

/// GRUB's `set default=N` (a menu entry's position) or `set default="TITLE"`.
enum GrubDefault {
    Position(usize),
    Title(String),
}

/// A GRUB menu entry's title: the first word after `menuentry`, quotes removed.
fn grub_title(rest: &str) -> String {
    let rest = rest.trim_start();
    match rest.chars().next() {
        Some(q @ ('\'' | '"')) => rest[1..].split(q).next().unwrap_or_default().to_string(),
        _ => rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// GRUB: `linux PATH ARGS` then `initrd PATH` inside each menuentry; `set default=`
/// marks the default entry.
pub fn parse_grub(text: &str) -> Vec<MenuEntry> {
    let mut out = Vec::new();
    // Each entry's menuentry (position, title).
    let mut owners: Vec<(usize, String)> = Vec::new();
    let mut current: Option<MenuEntry> = None;
    let mut position: Option<usize> = None;
    let mut title = String::new();
    let mut default = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("set") => {
                let setting = line.trim_start()[3..].trim();
                if let Some(value) = setting.strip_prefix("default=") {
                    let value = value.trim_matches(|c| c == '"' || c == '\'');
                    default = Some(match value.parse() {
                        Ok(n) => GrubDefault::Position(n),
                        Err(_) => GrubDefault::Title(value.to_string()),
                    });
                }
            }
            Some("linux" | "linuxefi" | "linux16") => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                let Some(kernel) = words.next() else { continue };
                if loader_only(kernel) {
                    continue;
                }
                let cmdline: Vec<&str> = words.filter(|w| !loader_only(w)).collect();
                owners.push((position.unwrap_or(usize::MAX), title.clone()));
                current = Some(MenuEntry {
                    menu: "grub",
                    kernel: absolute(kernel),
                    initrd: None,
                    cmdline: cmdline.join(" "),
                    default: false,
                });
            }
            Some("initrd" | "initrdefi" | "initrd16") => {
                if let (Some(entry), Some(path)) = (current.as_mut(), words.next()) {
                    if entry.initrd.is_none() && !loader_only(path) {
                        entry.initrd = Some(absolute(path));
                    }
                }
            }
            Some(word @ ("menuentry" | "}")) => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                if word == "menuentry" {
                    position = Some(position.map_or(0, |p| p + 1));
                    title = grub_title(line.trim_start()["menuentry".len()..].trim_start());
                }
            }
            _ => {}
        }
    }
    out.extend(current);
    for (entry, (position, title)) in out.iter_mut().zip(&owners) {
        entry.default = match &default {
            Some(GrubDefault::Position(n)) => position == n,
            Some(GrubDefault::Title(t)) => title == t,
            // GRUB boots the first entry when nothing says otherwise.
            None => *position == 0,
        };
    }
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
    // Each entry's label, and the label DEFAULT or ONTIMEOUT names.
    let mut labels: Vec<String> = Vec::new();
    let mut label = String::new();
    let mut default_label = None;
    let mut menu_default = None;
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
                label = rest.to_string();
            }
            "default" | "ontimeout" if !rest.is_empty() => {
                // `DEFAULT vesamenu.c32` names a menu module, not an entry; a DEFAULT
                // with arguments names its entry first.
                let name = rest.split_whitespace().next().unwrap_or(rest);
                if !name.ends_with(".c32") {
                    default_label = Some(name.to_string());
                }
            }
            "menu" if rest.eq_ignore_ascii_case("default") => {
                // A menu module (vesamenu.c32) boots this one rather than DEFAULT's.
                match current.as_mut() {
                    Some(entry) => entry.default = true,
                    None => menu_default = Some(label.clone()),
                }
            }
            "kernel" | "linux" if !rest.is_empty() => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                let path = rest.split_whitespace().next().unwrap_or(rest);
                labels.push(label.clone());
                current = Some(MenuEntry {
                    menu: "isolinux",
                    kernel: resolve(path),
                    initrd: None,
                    cmdline: String::new(),
                    default: false,
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
    if let Some(default) = menu_default.or(default_label) {
        for (entry, label) in out.iter_mut().zip(&labels) {
            entry.default |= label.eq_ignore_ascii_case(&default);
        }
    }
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
        // Without `set default`, GRUB boots the first entry.
        assert!(e[0].default && !e[1].default);
    }

    #[test]
    fn the_default_entry_gives_the_command_line() {
        let grub = "set default=\"1\"\nmenuentry 'Install' {\n linux /k quiet\n initrd /i\n}\nmenuentry 'Test media & install' {\n linux /k rd.live.check quiet initrd=/x\n initrd /i\n}\n";
        let e = parse_grub(grub);
        assert_eq!(
            cmdline_for(&e, "/k", Some("/i")).as_deref(),
            Some("rd.live.check quiet")
        );
        let by_title = parse_grub(&grub.replace("default=\"1\"", "default='Install'"));
        assert_eq!(
            cmdline_for(&by_title, "/k", Some("/i")).as_deref(),
            Some("quiet")
        );
        // Debian: the graphical installer's entry is the default, with another initrd.
        let isolinux = "default vesamenu.c32\nlabel installgui\n menu default\n kernel /install.amd/vmlinuz\n append vga=788 initrd=/install.amd/gtk/initrd.gz --- quiet\nlabel install\n kernel /install.amd/vmlinuz\n append vga=788 initrd=/install.amd/initrd.gz --- quiet\nlabel expert\n kernel /install.amd/vmlinuz\n append priority=low vga=788 initrd=/install.amd/initrd.gz ---\n";
        let e = parse_isolinux(isolinux, "/isolinux");
        assert!(e[0].default && !e[1].default && !e[2].default);
        assert_eq!(
            cmdline_for(&e, "/install.amd/vmlinuz", Some("/install.amd/initrd.gz")).as_deref(),
            Some("vga=788 --- quiet")
        );
        let plain = isolinux.replace(" menu default\n", "");
        let named = parse_isolinux(&format!("DEFAULT expert\n{plain}"), "/isolinux");
        assert!(named[2].default);
        assert_eq!(
            cmdline_for(
                &named,
                "/install.amd/vmlinuz",
                Some("/install.amd/initrd.gz")
            )
            .as_deref(),
            Some("priority=low vga=788 ---")
        );
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
