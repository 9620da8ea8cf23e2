//! Install media: reading install ISOs (volume identity, kernel and initrd for
//! direct-kernel installs) and writing cloud-init NoCloud seeds. Pure Rust, no mounts, no
//! external programs; an ISO is treated as hostile input throughout.

pub mod image;
pub mod initrd;
pub mod iso9660;
pub mod isowrite;
pub mod layout;
pub mod seed;
pub mod tree;

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use crate::error::{Error, Result};
use crate::osinfo::{Db, DbError, Match, MediaIds};
use iso9660::{Iso, IsoError, Volume};

/// An image error as domkit reports it: damage is bad input (3), a failed read is I/O (4).
pub fn iso_error(path: &Path, e: IsoError) -> Error {
    let source = path.display().to_string();
    match e {
        IsoError::Bad(m) => Error::input(&source, m),
        IsoError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Error::input(&source, "the image is truncated")
        }
        IsoError::Io(e) => Error::io(&source, e),
    }
}

/// A database error as domkit reports it: a missing or unreadable database is I/O (4).
pub fn db_error(e: DbError) -> Error {
    Error::io("osinfo", io::Error::other(e.to_string()))
}

/// Opens an ISO image for reading.
///
/// # Errors
/// The file cannot be opened (4), is a directory (4), or is not a usable ISO 9660 image (3).
pub fn open_iso(path: &Path) -> Result<Iso<BufReader<File>>> {
    let source = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(&source, e))?;
    let meta = file.metadata().map_err(|e| Error::io(&source, e))?;
    if meta.is_dir() {
        return Err(Error::io(
            &source,
            io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    Iso::open(BufReader::with_capacity(64 << 10, file)).map_err(|e| iso_error(path, e))
}

/// The ids osinfo matches install media by, from a volume descriptor.
pub fn media_ids(volume: &Volume) -> MediaIds {
    MediaIds {
        volume_id: volume.volume_id.clone(),
        system_id: volume.system_id.clone(),
        publisher_id: volume.publisher_id.clone(),
        application_id: volume.application_id.clone(),
        volume_size: volume.size,
        arch: None,
    }
}

/// What `--os detect` needs: the ISO's volume descriptor and the osinfo OS whose install
/// media it matches (virt-install's guess_os_by_iso), if any.
///
/// # Errors
/// The ISO cannot be read or is damaged; the osinfo database is missing or damaged.
pub fn detect(path: &Path, db: &mut Db) -> Result<(Volume, Option<Match>)> {
    let iso = open_iso(path)?;
    let volume = iso.volume().clone();
    let found = db.identify(&media_ids(&volume)).map_err(db_error)?;
    Ok((volume, found))
}
