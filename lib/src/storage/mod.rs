//! libvirt storage, beside `libvirt/` and over its connections: pools (a named one, or the
//! default pool as virt-install makes it), volumes (create with a capacity, format and
//! backing volume; look up; delete), sparse uploads of local files into volumes, and the
//! one-line JSON record `dom-vol` prints. Nothing here reads a path of the host: every
//! host path comes from libvirt, so it works the same over `qemu+ssh://`.

pub mod pool;
pub mod record;
pub mod sha256;
pub mod upload;
pub mod volume;

pub use record::VolRecord;

use crate::error::{Error, Result};

/// The longest volume name domkit accepts: a file name in a directory pool has at most
/// 255 bytes, and an upload's completion stamp adds 75 (`.dk-sha256-` and 64 hex digits).
pub const NAME_MAX: usize = 180;

/// Checks a pool or volume name given by the user (`what` names the flag or argument):
/// not empty, no `/`, not `.` or `..` nor containing `..`, no control characters, not
/// longer than [`NAME_MAX`], and (volumes) not ending like one of domkit's stamps.
///
/// # Errors
/// Bad input naming `what`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.contains('/') {
        Some("has a '/'")
    } else if name.contains("..") || name == "." {
        Some("is or has '..' or '.'")
    } else if name.chars().any(char::is_control) {
        Some("has a control character")
    } else if name.len() > NAME_MAX {
        Some("is longer than 180 bytes")
    } else if name.contains(volume::STAMP_MARK) {
        Some("has '.dk-', which marks domkit's upload stamps")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::input(what, format!("name '{name}' {why}"))),
        None => Ok(()),
    }
}

/// `POOL/NAME`, as `--backing`, `dom-vol delete` and domxml-gen's `vol=` take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolRef {
    /// The pool's name.
    pub pool: String,
    /// The volume's name in it.
    pub name: String,
}

impl VolRef {
    /// Parses `POOL/NAME` given as `what`.
    ///
    /// # Errors
    /// Bad input when it is not two good names joined by one `/`.
    pub fn parse(what: &str, text: &str) -> Result<VolRef> {
        let Some((pool, name)) = text.split_once('/') else {
            return Err(Error::input(
                what,
                format!("'{text}' is not POOL/NAME (a pool, '/', a volume)"),
            ));
        };
        check_name(what, pool)?;
        check_name(what, name)?;
        Ok(VolRef {
            pool: pool.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for VolRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.pool, self.name)
    }
}

/// Parses a volume size in bytes: a whole number with an optional unit, as `virsh
/// vol-create-as` takes it: none or B (bytes), K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024),
/// KB, MB, GB, TB (powers of 1000). Zero is refused.
///
/// # Errors
/// Bad input naming `what`.
pub fn parse_size(what: &str, text: &str) -> Result<u64> {
    let bad = |why: &str| Error::input(what, format!("bad size '{text}': {why}"));
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad(
            "a whole number of bytes, optionally with a unit (8GiB, 512M)",
        ));
    }
    let number: u64 = text[..digits].parse().map_err(|_| bad("too large"))?;
    let scale: u64 = match text[digits..].trim_start() {
        "" | "B" | "b" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "KB" | "kB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => {
            return Err(bad(
                "unknown unit (B, K/KiB, M/MiB, G/GiB, T/TiB, KB, MB, GB, TB)",
            ));
        }
    };
    match number.checked_mul(scale) {
        Some(0) => Err(bad("a volume needs at least one byte")),
        Some(n) if n <= i64::MAX as u64 => Ok(n),
        _ => Err(bad("too large")),
    }
}

/// The libvirt error of a storage call, in domkit's terms: no such pool or volume is bad
/// input (the user named it), an existing volume a conflict, anything else as for domains.
pub fn error(conn: &crate::libvirt::Conn, e: &virt::error::Error) -> Error {
    let msg = crate::libvirt::connect::one_line(e.message());
    match e.code().to_raw() {
        virt::sys::VIR_ERR_NO_STORAGE_POOL | virt::sys::VIR_ERR_NO_STORAGE_VOL => {
            Error::input(&conn.shown, msg)
        }
        virt::sys::VIR_ERR_STORAGE_VOL_EXIST => Error::Conflict(format!("{}: {msg}", conn.shown)),
        // An upload or clone of the volume runs (libvirt's `in_use`), e.g. another dom-vol's.
        _ if msg.contains("is still in use") => Error::Conflict(format!("{}: {msg}", conn.shown)),
        _ => conn.error(e, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_virsh_units() {
        assert_eq!(parse_size("--size", "512").unwrap(), 512);
        assert_eq!(parse_size("--size", "8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("--size", "8G").unwrap(), 8 << 30);
        assert_eq!(parse_size("--size", "1 MB").unwrap(), 1_000_000);
        for bad in ["", "G", "-1", "1.5G", "0", "8X", "99999999999T", "１G"] {
            let e = parse_size("--size", bad).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{bad}");
            assert!(e.to_string().starts_with("--size: bad size"), "{e}");
        }
    }

    #[test]
    fn names_never_leave_the_pool() {
        for bad in ["", "a/b", "..", "a..b", ".", "x\ny", "v.dk-partial"] {
            assert_eq!(
                check_name("--name", bad).unwrap_err().exit_code(),
                3,
                "{bad:?}"
            );
        }
        assert!(check_name("--name", "vm1.qcow2").is_ok());
        assert!(check_name("--name", &"a".repeat(181)).is_err());
        assert_eq!(
            VolRef::parse("--backing", "default/base.qcow2").unwrap(),
            VolRef {
                pool: "default".into(),
                name: "base.qcow2".into()
            }
        );
        for bad in ["base.qcow2", "default/a/b", "/x", "x/", "default/.."] {
            assert!(VolRef::parse("--backing", bad).is_err(), "{bad}");
        }
    }
}
