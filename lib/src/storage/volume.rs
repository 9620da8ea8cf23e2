//! Volumes in a pool: made from a spec (capacity, format, backing volume), compared with
//! a spec (the same spec is a no-op, another one a conflict), described as a record, and
//! deleted together with the stamps an upload leaves beside them.
//!
//! # Upload stamps
//! libvirt has no rename and no place for metadata on a volume, so an upload marks its
//! progress with empty volumes beside the data: `NAME.dk-partial` exists from before
//! NAME is made until after it is complete, and `NAME.dk-sha256-HEX` (HEX the digest of
//! the file's content, see `upload.rs`) is made once NAME holds all of it and its size was
//! checked. NAME is complete exactly when its sha256 stamp exists and no partial stamp
//! does; a run killed at any moment leaves either that or a partial stamp, which the next
//! run takes as "ours, unfinished" and uploads again.

use virt::storage_vol::StorageVol;

use super::pool::Pool;
use super::record::VolRecord;
use super::{VolRef, error};
use crate::error::{Error, Result};
use crate::libvirt::Conn;

/// What every stamp name has, and no volume name may have.
pub const STAMP_MARK: &str = ".dk-";

/// The partial stamp of `name`.
pub fn partial_stamp(name: &str) -> String {
    format!("{name}{STAMP_MARK}partial")
}

/// The digest stamps' common prefix for `name`.
pub fn digest_stamp_prefix(name: &str) -> String {
    format!("{name}{STAMP_MARK}sha256-")
}

/// Volume formats domkit makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A plain image, sparse on the host.
    Raw,
    /// QEMU copy-on-write: may have a backing volume.
    Qcow2,
}

impl Format {
    /// libvirt's name for it.
    pub fn word(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }
}

/// A volume to make.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Its name.
    pub name: String,
    /// Capacity in bytes; with a backing volume, `None` takes the backing's.
    pub capacity: Option<u64>,
    /// Its format.
    pub format: Format,
    /// The volume it is an overlay on (qcow2 only).
    pub backing: Option<VolRef>,
}

/// What libvirt says of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// libvirt's key.
    pub key: String,
    /// Host path.
    pub path: String,
    /// Capacity in bytes.
    pub capacity: u64,
    /// Allocated bytes on the host.
    pub allocation: u64,
    /// Format word.
    pub format: Option<String>,
    /// Backing store's host path.
    pub backing: Option<String>,
}

/// The volume `name` of `pool`, if it has one.
///
/// # Errors
/// Mapped libvirt errors.
pub fn lookup(conn: &Conn, pool: &Pool, name: &str) -> Result<Option<StorageVol>> {
    match pool.pool.lookup_storage_vol_by_name(name) {
        Ok(vol) => Ok(Some(vol)),
        Err(e) if e.code().to_raw() == virt::sys::VIR_ERR_NO_STORAGE_VOL => Ok(None),
        Err(e) => Err(error(conn, &e)),
    }
}

/// Reads a volume's description from libvirt (its XML: format and backing store).
///
/// # Errors
/// Mapped libvirt errors; bad XML from libvirt as a libvirt error.
pub fn describe(conn: &Conn, vol: &StorageVol) -> Result<Described> {
    let err = |e: virt::error::Error| error(conn, &e);
    let xml = vol.xml_desc(0).map_err(err)?;
    let root = xmltree::Element::parse(xml.as_bytes())
        .map_err(|e| Error::Libvirt(format!("{}: volume XML: {e}", conn.shown)))?;
    let format_of = |parent: Option<&xmltree::Element>| {
        parent
            .and_then(|p| p.get_child("format"))
            .and_then(|f| f.attributes.get("type").cloned())
    };
    let backing = root.get_child("backingStore");
    let number = |name: &str| {
        root.get_child(name)
            .and_then(|e| e.get_text())
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    let info = vol.info().map_err(err)?;
    Ok(Described {
        key: vol.key().map_err(err)?,
        path: vol.path().map_err(err)?,
        capacity: number("capacity").unwrap_or(info.capacity),
        allocation: number("allocation").unwrap_or(info.allocation),
        format: format_of(root.get_child("target")),
        backing: backing
            .and_then(|b| b.get_child("path"))
            .and_then(|p| p.get_text())
            .map(|t| t.trim().to_string()),
    })
}

/// The record of `vol` in `pool` after `action`.
///
/// # Errors
/// Mapped libvirt errors.
pub fn record(
    conn: &Conn,
    pool: &Pool,
    name: &str,
    vol: &StorageVol,
    action: &str,
) -> Result<VolRecord> {
    let d = describe(conn, vol)?;
    Ok(VolRecord {
        pool: pool.name.clone(),
        name: name.to_string(),
        key: Some(d.key),
        path: Some(d.path),
        capacity: Some(d.capacity),
        allocation: Some(d.allocation),
        format: d.format,
        backing: d.backing,
        uri: conn.uri.clone(),
        action: action.to_string(),
        for_setting: None,
    })
}

/// The volume `r` names, looked up without changing anything (a pool that is not running
/// is not started).
///
/// # Errors
/// Bad input naming `what` for an unknown pool or volume; mapped libvirt errors.
pub fn find(conn: &Conn, what: &str, r: &VolRef) -> Result<StorageVol> {
    let missing = |thing: String| Error::input(what, format!("no {thing} on {}", conn.shown));
    let pool = match conn.connect.lookup_storage_pool_by_name(&r.pool) {
        Ok(pool) => pool,
        Err(e) if e.code().to_raw() == virt::sys::VIR_ERR_NO_STORAGE_POOL => {
            return Err(missing(format!("storage pool '{}'", r.pool)));
        }
        Err(e) => return Err(error(conn, &e)),
    };
    match pool.lookup_storage_vol_by_name(&r.name) {
        Ok(vol) => Ok(vol),
        Err(e) if e.code().to_raw() == virt::sys::VIR_ERR_NO_STORAGE_VOL => {
            Err(missing(format!("volume '{}' in pool '{}'", r.name, r.pool)))
        }
        Err(e) => Err(error(conn, &e)),
    }
}

/// Makes the volume of `spec` in `pool`, or finds it made already with the same spec.
/// Returns the volume and whether it was made now.
///
/// # Errors
/// Bad input (unknown backing, a backing for a raw volume, no size), a conflict when a
/// volume of that name differs from the spec, mapped libvirt errors.
pub fn create(conn: &Conn, pool: &Pool, spec: &Spec) -> Result<(StorageVol, bool)> {
    let backing = match &spec.backing {
        Some(_) if spec.format != Format::Qcow2 => {
            return Err(Error::input(
                "--backing",
                "only a qcow2 volume has a backing volume",
            ));
        }
        Some(b) => Some(describe(conn, &find(conn, "--backing", b)?)?),
        None => None,
    };
    let capacity = spec
        .capacity
        .or(backing.as_ref().map(|b| b.capacity))
        .ok_or_else(|| Error::Usage("--size is needed unless --backing gives it".into()))?;
    if let Some(vol) = lookup(conn, pool, &spec.name)? {
        let have = describe(conn, &vol)?;
        let want_backing = backing.as_ref().map(|b| b.path.clone());
        let same = have.capacity == capacity
            && have.format.as_deref() == Some(spec.format.word())
            && have.backing == want_backing;
        if same {
            return Ok((vol, false));
        }
        return Err(Error::Conflict(format!(
            "{}: volume '{}' in pool '{}' exists with capacity {}, format {}, backing {}: not {capacity}, {}, {} (nothing changed; dom-vol delete it first to replace it)",
            conn.shown,
            spec.name,
            pool.name,
            have.capacity,
            have.format.as_deref().unwrap_or("unknown"),
            have.backing.as_deref().unwrap_or("none"),
            spec.format.word(),
            want_backing.as_deref().unwrap_or("none"),
        )));
    }
    let backing_xml = match &backing {
        Some(b) => format!(
            "<backingStore><path>{}</path><format type='{}'/></backingStore>",
            quick_xml::escape::escape(b.path.as_str()),
            quick_xml::escape::escape(b.format.as_deref().unwrap_or("raw")),
        ),
        None => String::new(),
    };
    let xml = volume_xml(&spec.name, capacity, spec.format.word(), &backing_xml);
    let vol = StorageVol::create_xml(&pool.pool, &xml, 0).map_err(|e| error(conn, &e))?;
    Ok((vol, true))
}

/// A volume's XML: sparse (allocation 0) wherever the pool allows.
pub fn volume_xml(name: &str, capacity: u64, format: &str, backing_xml: &str) -> String {
    format!(
        "<volume><name>{}</name><capacity unit='bytes'>{capacity}</capacity><allocation unit='bytes'>0</allocation><target><format type='{format}'/></target>{backing_xml}</volume>",
        quick_xml::escape::escape(name)
    )
}

/// Makes an empty stamp volume (raw, one byte: libvirt refuses capacity 0 in some pools).
///
/// # Errors
/// Mapped libvirt errors.
pub fn make_stamp(conn: &Conn, pool: &Pool, stamp: &str) -> Result<()> {
    if lookup(conn, pool, stamp)?.is_some() {
        return Ok(());
    }
    StorageVol::create_xml(&pool.pool, &volume_xml(stamp, 1, "raw", ""), 0)
        .map(drop)
        .map_err(|e| error(conn, &e))
}

/// Deletes the volume `name` of `pool` if it exists; true if it did.
///
/// # Errors
/// Mapped libvirt errors.
pub fn delete_one(conn: &Conn, pool: &Pool, name: &str) -> Result<bool> {
    match lookup(conn, pool, name)? {
        Some(vol) => {
            vol.delete(0).map_err(|e| error(conn, &e))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The digest stamps of `name` in `pool`: their digests.
///
/// # Errors
/// Mapped libvirt errors.
pub fn digest_stamps(conn: &Conn, pool: &Pool, name: &str) -> Result<Vec<String>> {
    let prefix = digest_stamp_prefix(name);
    let names = pool.pool.list_volumes().map_err(|e| error(conn, &e))?;
    Ok(names
        .iter()
        .filter_map(|n| n.strip_prefix(&prefix))
        .map(str::to_string)
        .collect())
}

/// Deletes `name`'s stamps, partial last so that a kill in between leaves it "unfinished".
///
/// # Errors
/// Mapped libvirt errors.
pub fn delete_stamps(conn: &Conn, pool: &Pool, name: &str) -> Result<()> {
    for digest in digest_stamps(conn, pool, name)? {
        delete_one(
            conn,
            pool,
            &format!("{}{digest}", digest_stamp_prefix(name)),
        )?;
    }
    delete_one(conn, pool, &partial_stamp(name))?;
    Ok(())
}

/// Deletes the volume `name` of `pool`, then its upload stamps (a kill in between leaves
/// stamps of a missing volume, which nothing trusts and the next upload removes). Returns
/// the record of what was there, or `None` when there was no such volume.
///
/// # Errors
/// Mapped libvirt errors.
pub fn delete(conn: &Conn, pool: &Pool, name: &str) -> Result<Option<VolRecord>> {
    let gone = match lookup(conn, pool, name)? {
        Some(vol) => {
            let rec = record(conn, pool, name, &vol, "deleted")?;
            vol.delete(0).map_err(|e| error(conn, &e))?;
            Some(rec)
        }
        None => None,
    };
    delete_stamps(conn, pool, name)?;
    Ok(gone)
}
