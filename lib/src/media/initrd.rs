//! Files added to an initrd, as virt-install's `--initrd-inject` does: the initrd is
//! copied unchanged and a newc cpio archive holding the files is appended. Linux unpacks
//! concatenated archives into its rootfs one after the other, whatever the first one's
//! compression (`init/initramfs.c`), so a preseed or kickstart lands beside the
//! installer's own files without unpacking or recompressing them.
//!
//! newc is written here (about sixty lines): the `cpio` crate would take names unchecked,
//! and every name here is checked first.

/// Largest file added: answer files, scripts and small drivers, not payloads.
pub const MAX_FILE: u64 = 256 << 20;

/// Longest path inside the archive (Linux's `PATH_MAX`, NUL included).
const MAX_PATH: usize = 4095;

/// What the first archive of an initrd is, by its magic number: Linux's own table
/// (`lib/decompress.c`) and uncompressed cpio. Anything else is refused: appending to it
/// would give an initrd the kernel cannot unpack.
pub fn compression(head: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"070701", "none"),
        (b"070702", "none"),
        (&[0x1f, 0x8b], "gzip"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0], "xz"),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
        (b"BZh", "bzip2"),
        (&[0x02, 0x21, 0x4c, 0x18], "lz4"),
        (&[0x89, b'L', b'Z', b'O'], "lzo"),
        (&[0x5d, 0, 0], "lzma"),
    ];
    MAGICS
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, name)| *name)
}

/// A path inside the archive, checked: relative to the archive's root (a leading `/` is
/// the root), no empty, `.` or `..` components, no control characters.
///
/// # Errors
/// Why the path is refused, in a phrase.
pub fn archive_path(path: &str) -> Result<String, String> {
    let relative = path.strip_prefix('/').unwrap_or(path);
    if relative.is_empty() {
        return Err("names no file (the archive's root)".into());
    }
    if relative.len() > MAX_PATH {
        return Err(format!("longer than {MAX_PATH} bytes"));
    }
    if let Some(c) = relative.chars().find(|c| c.is_control()) {
        return Err(format!("holds the control character {c:?}"));
    }
    for component in relative.split('/') {
        match component {
            "" => return Err("has an empty component (// or a trailing /)".into()),
            "." | ".." => return Err(format!("has a {component:?} component")),
            _ => {}
        }
    }
    Ok(relative.to_string())
}

/// One file of the archive.
pub struct Entry<'a> {
    /// Checked path, relative to the root ([`archive_path`]).
    pub path: &'a str,
    /// Permission bits (`0o644`, `0o755`).
    pub mode: u32,
    /// Contents.
    pub data: &'a [u8],
}

const REGULAR: u32 = 0o100_000;
const DIRECTORY: u32 = 0o040_000;

/// One newc header, name and padding (and the data, padded, for files).
fn member(
    out: &mut Vec<u8>,
    inode: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    name: &str,
    data: &[u8],
) {
    let fields = [
        inode,
        mode,
        0, // uid: root
        0, // gid: root
        nlink,
        mtime,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0, // check: newc (070701) has none
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// Zeros up to the next multiple of 4 bytes: newc aligns headers and data to 4.
pub fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The newc archive: each file's parent directories first (mode 0755; an existing
/// directory of that name takes that mode, as with any cpio), then the file, then
/// `TRAILER!!!`. `mtime` is every member's time. Paths must be checked and distinct.
pub fn newc(entries: &[Entry<'_>], mtime: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directories: Vec<&str> = Vec::new();
    let mut inode = 1u32;
    for entry in entries {
        let mut at = 0;
        while let Some(slash) = entry.path[at..].find('/') {
            let parent = &entry.path[..at + slash];
            if !directories.contains(&parent) {
                member(&mut out, inode, DIRECTORY | 0o755, 2, mtime, parent, &[]);
                inode += 1;
                directories.push(parent);
            }
            at += slash + 1;
        }
        let mode = REGULAR | (entry.mode & 0o777);
        member(&mut out, inode, mode, 1, mtime, entry.path, entry.data);
        inode += 1;
    }
    member(&mut out, 0, 0, 1, 0, "TRAILER!!!", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(compression(&[0x1f, 0x8b, 8, 0]), Some("gzip"));
        assert_eq!(compression(b"\xfd7zXZ\0\0"), Some("xz"));
        assert_eq!(compression(&[0x28, 0xb5, 0x2f, 0xfd, 1]), Some("zstd"));
        assert_eq!(compression(b"070701000"), Some("none"));
        for bad in [&b""[..], b"\x7fELF", b"07070", b"<?xml", b"\x1f"] {
            assert_eq!(compression(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn paths_stay_inside_the_root() {
        assert_eq!(archive_path("/preseed.cfg").unwrap(), "preseed.cfg");
        assert_eq!(archive_path("etc/ks.cfg").unwrap(), "etc/ks.cfg");
        for bad in [
            "",
            "/",
            "..",
            "/../etc/passwd",
            "a/../../b",
            "a//b",
            "a/",
            "./a",
            "a\0b",
            "a\nb",
            "//a",
        ] {
            assert!(archive_path(bad).is_err(), "{bad:?}");
        }
        assert!(archive_path(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn newc_layout() {
        let archive = newc(
            &[Entry {
                path: "d/x",
                mode: 0o755,
                data: b"hello",
            }],
            7,
        );
        let header = |fields: [u32; 13]| {
            let mut h = String::from("070701");
            for f in fields {
                h.push_str(&format!("{f:08X}"));
            }
            h.into_bytes()
        };
        let mut want = header([1, 0o40755, 0, 0, 2, 7, 0, 0, 0, 0, 0, 2, 0]);
        want.extend_from_slice(b"d\0"); // 112: aligned
        want.extend(header([2, 0o100755, 0, 0, 1, 7, 5, 0, 0, 0, 0, 4, 0]));
        want.extend_from_slice(b"d/x\0\0\0hello\0\0\0"); // name to 228, data to 236
        want.extend(header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0]));
        want.extend_from_slice(b"TRAILER!!!\0\0\0\0");
        assert_eq!(archive, want);
    }
}
