//! A small, defensive ISO 9660 reader: volume descriptors, El Torito platforms, directories
//! with Rock Ridge (NM, SL, CE, CL/RE) and Joliet names, and file contents.
//!
//! An ISO is hostile input: every length and offset is checked against the record, the
//! directory and the image before it is used; every loop and allocation has a limit;
//! symbolic links resolve inside the image only. A damaged image is an [`IsoError`], never a
//! panic.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// The logical sector size of CD media; the only block size this reader accepts.
pub const SECTOR: u64 = 2048;
/// Volume descriptors read before giving up on a terminator.
const MAX_DESCRIPTORS: u64 = 64;
/// Largest directory extent read (a directory of ~100,000 entries).
const MAX_DIR_BYTES: u32 = 16 << 20;
/// All directory bytes one image may make us read (a lookup or a walk over many big
/// directories stops here instead of filling memory).
const MAX_TOTAL_DIR_BYTES: u64 = 64 << 20;
/// Entries kept from one directory.
const MAX_DIR_ENTRIES: usize = 100_000;
/// Rock Ridge continuation areas followed for one directory record.
const MAX_CE_HOPS: usize = 16;
/// Largest Rock Ridge continuation area.
const MAX_CE_BYTES: u32 = 64 << 10;
/// Path components walked in one lookup, symlink targets included.
const MAX_PATH_STEPS: usize = 256;
/// Symbolic links followed in one lookup.
const MAX_SYMLINKS: usize = 16;
/// Parts of one multi-extent file.
const MAX_EXTENTS: usize = 4096;
/// Longest name kept (Linux's limit).
const MAX_NAME: usize = 255;

/// What is wrong with an image: where (a sector, when known) and what.
#[derive(Debug)]
pub enum IsoError {
    /// The bytes are not a usable ISO 9660 image.
    Bad(String),
    /// Reading the image failed.
    Io(io::Error),
}

impl fmt::Display for IsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsoError::Bad(m) => f.write_str(m),
            IsoError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for IsoError {
    fn from(e: io::Error) -> Self {
        IsoError::Io(e)
    }
}

fn bad<T>(message: impl Into<String>) -> Result<T, IsoError> {
    Err(IsoError::Bad(message.into()))
}

/// The identification fields of the primary volume descriptor, trailing spaces removed
/// (as libosinfo reads them for media matching).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// System identifier (`LINUX`, `Win32`, ...).
    pub system_id: String,
    /// Volume identifier, the label (`Debian 12.5.0 amd64 n`, `FAI_CD`, `cidata`).
    pub volume_id: String,
    /// Publisher identifier.
    pub publisher_id: String,
    /// Application identifier.
    pub application_id: String,
    /// Volume size in bytes (volume space size times the block size).
    pub size: u64,
}

/// Which names the directory tree is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Rock Ridge names (POSIX names, symlinks) from the primary tree.
    RockRidge,
    /// Joliet (UCS-2) names from the supplementary tree.
    Joliet,
    /// Plain ISO 9660 names, version suffix removed, lower-cased as Linux shows them.
    Plain,
}

impl Names {
    /// The name as JSON shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Names::RockRidge => "rock-ridge",
            Names::Joliet => "joliet",
            Names::Plain => "iso9660",
        }
    }
}

/// What a directory entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A Rock Ridge symbolic link with its target.
    Symlink(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    lba: u32,
    len: u32,
}

/// One directory entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry's name in the chosen [`Names`].
    pub name: String,
    /// File, directory or symlink.
    pub kind: Kind,
    /// Size in bytes (the sum of the extents).
    pub size: u64,
    extents: Vec<Extent>,
}

/// An open image.
pub struct Iso<R> {
    reader: R,
    image_len: u64,
    volume: Volume,
    boot: Vec<String>,
    names: Names,
    root: Entry,
    /// Bytes to skip at the start of each System Use area (the SP entry's LEN_SKP).
    susp_skip: usize,
    dirs: HashMap<u32, Vec<Entry>>,
    dir_bytes: u64,
}

/// Little-endian u32 at `at` of `b` (callers check the length).
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// A descriptor's text field: bytes up to the padding, trailing whitespace removed.
fn field(b: &[u8]) -> String {
    let text: String = b
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| if c.is_ascii() { c as char } else { '\u{fffd}' })
        .collect();
    text.trim_end().to_string()
}

impl<R: Read + Seek> Iso<R> {
    /// Opens an image: reads its volume descriptors and picks its names.
    ///
    /// # Errors
    /// Not an ISO 9660 image (no `CD001` descriptors, no primary volume descriptor, a block
    /// size other than 2048), a damaged root directory, or a read failure.
    pub fn open(mut reader: R) -> Result<Self, IsoError> {
        let image_len = reader.seek(SeekFrom::End(0))?;
        if image_len < 17 * SECTOR {
            return bad(format!(
                "not an ISO 9660 image: {image_len} bytes is too short for a volume descriptor"
            ));
        }
        let mut pvd = None;
        let mut joliet = None;
        let mut boot_catalog = None;
        for i in 0..MAX_DESCRIPTORS {
            let sector = 16 + i;
            if (sector + 1) * SECTOR > image_len {
                break;
            }
            let mut d = vec![0u8; SECTOR as usize];
            reader.seek(SeekFrom::Start(sector * SECTOR))?;
            reader.read_exact(&mut d)?;
            if &d[1..6] != b"CD001" {
                if i == 0 {
                    return bad("not an ISO 9660 image: no CD001 volume descriptor at sector 16");
                }
                return bad(format!(
                    "volume descriptor at sector {sector} has no CD001 tag"
                ));
            }
            match d[0] {
                0 if &d[7..30] == b"EL TORITO SPECIFICATION" => boot_catalog = Some(le32(&d, 71)),
                1 if pvd.is_none() => pvd = Some(d),
                // Joliet: a supplementary descriptor with a UCS-2 escape sequence.
                2 if joliet.is_none()
                    && d[88] == b'%'
                    && d[89] == b'/'
                    && matches!(d[90], b'@' | b'C' | b'E') =>
                {
                    joliet = Some(d)
                }
                255 => break,
                _ => {}
            }
        }
        let Some(pvd) = pvd else {
            return bad("not an ISO 9660 image: no primary volume descriptor");
        };
        let block = le16(&pvd, 128);
        if u64::from(block) != SECTOR {
            return bad(format!(
                "logical block size {block} (only 2048 is supported)"
            ));
        }
        let volume = Volume {
            system_id: field(&pvd[8..40]),
            volume_id: field(&pvd[40..72]),
            publisher_id: field(&pvd[318..446]),
            application_id: field(&pvd[574..702]),
            size: u64::from(le32(&pvd, 80)) * SECTOR,
        };
        let root = root_entry(&pvd[156..190], "primary")?;
        let mut iso = Iso {
            reader,
            image_len,
            volume,
            boot: Vec::new(),
            names: Names::Plain,
            root,
            susp_skip: 0,
            dirs: HashMap::new(),
            dir_bytes: 0,
        };
        iso.boot = match boot_catalog {
            Some(lba) => iso.boot_platforms(lba)?,
            None => Vec::new(),
        };
        if let Some(skip) = iso.rock_ridge_skip()? {
            iso.names = Names::RockRidge;
            iso.susp_skip = skip;
        } else if let Some(svd) = joliet {
            iso.root = root_entry(&svd[156..190], "Joliet")?;
            iso.names = Names::Joliet;
        }
        Ok(iso)
    }

    /// The primary volume descriptor's identification.
    pub fn volume(&self) -> &Volume {
        &self.volume
    }

    /// Which names the tree is read with.
    pub fn names(&self) -> Names {
        self.names
    }

    /// El Torito boot platforms: `bios`, `efi`, or another platform id as `0xNN`.
    pub fn boot_platforms_found(&self) -> &[String] {
        &self.boot
    }

    /// Reads `len` bytes at sector `lba`, checked against the image's end.
    fn read_at(&mut self, lba: u32, len: u32, what: &str) -> Result<Vec<u8>, IsoError> {
        let start = u64::from(lba) * SECTOR;
        let end = start + u64::from(len);
        if end > self.image_len {
            return bad(format!(
                "{what} at sector {lba} ({len} bytes) lies past the end of the image"
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.reader.seek(SeekFrom::Start(start))?;
        self.reader.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// The platforms of the El Torito boot catalog's entries.
    fn boot_platforms(&mut self, lba: u32) -> Result<Vec<String>, IsoError> {
        let catalog = self.read_at(lba, SECTOR as u32, "boot catalog")?;
        let name = |id: u8| match id {
            0 => "bios".to_string(),
            0xef => "efi".to_string(),
            other => format!("0x{other:02x}"),
        };
        let mut platforms = Vec::new();
        // The validation entry names the default entry's platform; section headers
        // (0x90, and 0x91 for the last) name theirs.
        if catalog[0] != 1 || catalog[30] != 0x55 || catalog[31] != 0xaa {
            return bad(format!(
                "boot catalog at sector {lba} has no validation entry"
            ));
        }
        platforms.push(name(catalog[1]));
        for entry in catalog.chunks_exact(32).skip(2) {
            if matches!(entry[0], 0x90 | 0x91) {
                let p = name(entry[1]);
                if !platforms.contains(&p) {
                    platforms.push(p);
                }
            }
            if entry[0] == 0x91 {
                break;
            }
        }
        Ok(platforms)
    }

    /// The SP entry's skip length when the root's `.` record announces Rock Ridge.
    fn rock_ridge_skip(&mut self) -> Result<Option<usize>, IsoError> {
        let extent = self.root.extents[0];
        let first = self.read_at(
            extent.lba,
            SECTOR.min(u64::from(extent.len)) as u32,
            "root directory",
        )?;
        let Some(rec) = record_at(&first, 0) else {
            return Ok(None);
        };
        let su = system_use(rec);
        // SP: "SP", length 7, version 1, check bytes BE EF, LEN_SKP.
        if su.len() >= 7 && &su[0..2] == b"SP" && su[2] >= 7 && su[4] == 0xbe && su[5] == 0xef {
            return Ok(Some(usize::from(su[6])));
        }
        Ok(None)
    }

    /// The root directory.
    pub fn root(&self) -> Entry {
        self.root.clone()
    }

    /// The entries of a directory (without `.` and `..`), read once and cached.
    ///
    /// # Errors
    /// `dir` is not a directory, or its records are damaged.
    pub fn read_dir(&mut self, dir: &Entry) -> Result<Vec<Entry>, IsoError> {
        if dir.kind != Kind::Dir {
            return bad(format!("{} is not a directory", dir.name));
        }
        let extent = dir.extents[0];
        if let Some(entries) = self.dirs.get(&extent.lba) {
            return Ok(entries.clone());
        }
        if extent.len > MAX_DIR_BYTES {
            return bad(format!(
                "directory at sector {} is {} bytes (limit {MAX_DIR_BYTES})",
                extent.lba, extent.len
            ));
        }
        self.dir_bytes += u64::from(extent.len);
        if self.dir_bytes > MAX_TOTAL_DIR_BYTES {
            return bad(format!(
                "directories larger than {} MiB in all",
                MAX_TOTAL_DIR_BYTES >> 20
            ));
        }
        let data = self.read_at(extent.lba, extent.len, "directory")?;
        let entries = self.parse_dir(&data, extent.lba)?;
        self.dirs.insert(extent.lba, entries.clone());
        Ok(entries)
    }

    /// Parses a directory extent's records into entries.
    fn parse_dir(&mut self, data: &[u8], lba: u32) -> Result<Vec<Entry>, IsoError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut pos = 0usize;
        // A multi-extent file still collecting its parts.
        let mut pending: Option<Entry> = None;
        while pos < data.len() {
            let len = usize::from(data[pos]);
            if len == 0 {
                // Records never cross a sector: the rest of this sector is padding.
                pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            let Some(rec) = record_at(data, pos) else {
                return bad(format!(
                    "directory at sector {lba}: damaged record at byte {pos}"
                ));
            };
            pos += len;
            let raw_name = &rec[33..33 + usize::from(rec[32])];
            if raw_name == [0] || raw_name == [1] {
                continue; // `.` and `..`
            }
            let flags = rec[25];
            if flags & 0x04 != 0 {
                continue; // an associated file (resource fork)
            }
            let extent = Extent {
                lba: le32(rec, 2),
                len: le32(rec, 10),
            };
            if let Some(mut part) = pending.take() {
                part.extents.push(extent);
                part.size += u64::from(extent.len);
                if part.extents.len() > MAX_EXTENTS {
                    return bad(format!(
                        "directory at sector {lba}: a file has too many extents"
                    ));
                }
                if flags & 0x80 != 0 {
                    pending = Some(part);
                } else {
                    entries.push(part);
                }
                continue;
            }
            let Some(entry) = self.parse_record(rec, raw_name, extent, flags)? else {
                continue;
            };
            if flags & 0x80 != 0 && entry.kind == Kind::File {
                pending = Some(entry);
            } else {
                entries.push(entry);
            }
            if entries.len() > MAX_DIR_ENTRIES {
                return bad(format!(
                    "directory at sector {lba} has more than {MAX_DIR_ENTRIES} entries"
                ));
            }
        }
        if let Some(part) = pending {
            entries.push(part);
        }
        Ok(entries)
    }

    /// One record's entry, or None for entries a mount would not show (Rock Ridge
    /// relocated directories, unusable names).
    fn parse_record(
        &mut self,
        rec: &[u8],
        raw_name: &[u8],
        extent: Extent,
        flags: u8,
    ) -> Result<Option<Entry>, IsoError> {
        let mut kind = if flags & 0x02 != 0 {
            Kind::Dir
        } else {
            Kind::File
        };
        let mut extents = vec![extent];
        let name = match self.names {
            Names::RockRidge => {
                let rr = self.rock_ridge(rec)?;
                if rr.relocated {
                    return Ok(None);
                }
                if let Some(target) = rr.symlink {
                    kind = Kind::Symlink(target);
                }
                if let Some(child) = rr.child_link {
                    kind = Kind::Dir;
                    extents = vec![self.relocated_dir(child)?];
                }
                rr.name.unwrap_or_else(|| plain_name(raw_name, &kind))
            }
            Names::Joliet => joliet_name(raw_name, &kind),
            Names::Plain => plain_name(raw_name, &kind),
        };
        if !usable_name(&name) {
            return Ok(None);
        }
        let size = if kind == Kind::File {
            u64::from(extent.len)
        } else {
            0
        };
        Ok(Some(Entry {
            name,
            kind,
            size,
            extents,
        }))
    }

    /// The extent of a Rock Ridge relocated directory, from its own `.` record.
    fn relocated_dir(&mut self, lba: u32) -> Result<Extent, IsoError> {
        let first = self.read_at(lba, SECTOR as u32, "relocated directory")?;
        match record_at(&first, 0) {
            Some(dot) => Ok(Extent {
                lba,
                len: le32(dot, 10),
            }),
            None => bad(format!(
                "relocated directory at sector {lba} has no `.` record"
            )),
        }
    }

    /// The Rock Ridge entries of one record, following continuation areas.
    fn rock_ridge(&mut self, rec: &[u8]) -> Result<RockRidge, IsoError> {
        let mut rr = RockRidge::default();
        let su = system_use(rec);
        let mut area = su.get(self.susp_skip..).unwrap_or_default().to_vec();
        let mut hops = 0;
        let mut name = Vec::new();
        let mut link = SymlinkBuilder::default();
        loop {
            let mut next = None;
            let mut at = 0usize;
            while at + 4 <= area.len() {
                let sig = [area[at], area[at + 1]];
                let len = usize::from(area[at + 2]);
                if len < 4 || at + len > area.len() {
                    break; // damaged entry: keep what was read so far
                }
                let body = &area[at + 4..at + len];
                match &sig {
                    // CURRENT/PARENT names (flags 2, 4) are not names an entry may have.
                    b"NM" if !body.is_empty() && body[0] & 0x06 == 0 => {
                        name.extend_from_slice(&body[1..]);
                        if name.len() > MAX_NAME * 4 {
                            return bad("a Rock Ridge name is too long");
                        }
                    }
                    b"SL" if !body.is_empty() => link.add(&body[1..])?,
                    b"CE" if body.len() >= 20 => {
                        next = Some((le32(body, 0), le32(body, 8), le32(body, 16)));
                    }
                    b"RE" => rr.relocated = true,
                    b"CL" if body.len() >= 4 => rr.child_link = Some(le32(body, 0)),
                    b"ST" => break,
                    _ => {}
                }
                at += len;
            }
            let Some((block, offset, len)) = next else {
                break;
            };
            hops += 1;
            if hops > MAX_CE_HOPS || len > MAX_CE_BYTES || offset >= SECTOR as u32 {
                return bad(format!(
                    "Rock Ridge continuation at sector {block} is unusable (hop {hops}, offset {offset}, {len} bytes)"
                ));
            }
            let data = self.read_at(block, offset + len, "Rock Ridge continuation")?;
            area = data[offset as usize..].to_vec();
        }
        if !name.is_empty() {
            rr.name = Some(String::from_utf8_lossy(&name).into_owned());
        }
        rr.symlink = link.finish();
        Ok(rr)
    }

    /// Finds `path` (absolute or relative to the root, `/`-separated), following symbolic
    /// links inside the image. None when nothing is there.
    ///
    /// # Errors
    /// Damaged directories on the way, a symlink loop, or a path too long.
    pub fn lookup(&mut self, path: &str) -> Result<Option<Entry>, IsoError> {
        let mut pending: Vec<String> = components(path).rev().collect();
        let mut stack: Vec<Entry> = vec![self.root.clone()];
        let mut steps = 0;
        let mut links = 0;
        while let Some(part) = pending.pop() {
            steps += 1;
            if steps > MAX_PATH_STEPS {
                return bad(format!("{path}: too many path components"));
            }
            match part.as_str() {
                "." => continue,
                ".." => {
                    // The root's parent is the root: nothing leaves the image.
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let dir = stack.last().expect("the root is never popped").clone();
            if dir.kind != Kind::Dir {
                return Ok(None);
            }
            let entries = self.read_dir(&dir)?;
            let found = entries.into_iter().find(|e| self.same_name(&e.name, &part));
            let Some(entry) = found else {
                return Ok(None);
            };
            if let Kind::Symlink(target) = &entry.kind {
                links += 1;
                if links > MAX_SYMLINKS {
                    return bad(format!("{path}: too many symbolic links"));
                }
                if target.starts_with('/') {
                    stack.truncate(1);
                }
                pending.extend(components(target).rev().collect::<Vec<_>>());
                continue;
            }
            stack.push(entry);
        }
        Ok(stack.pop())
    }

    fn same_name(&self, have: &str, want: &str) -> bool {
        match self.names {
            // Linux shows plain ISO and Joliet names case-folded or as written; people type
            // them in any case.
            Names::Plain | Names::Joliet => have.eq_ignore_ascii_case(want),
            Names::RockRidge => have == want,
        }
    }

    /// Copies a file's contents to `out`; returns the bytes written.
    ///
    /// # Errors
    /// An extent past the image's end, or a read or write failure.
    pub fn copy_to(&mut self, entry: &Entry, out: &mut dyn Write) -> Result<u64, IsoError> {
        if entry.kind != Kind::File {
            return bad(format!("{} is not a regular file", entry.name));
        }
        let mut total = 0u64;
        for extent in &entry.extents {
            let start = u64::from(extent.lba) * SECTOR;
            if start + u64::from(extent.len) > self.image_len {
                return bad(format!(
                    "{}: data at sector {} lies past the end of the image",
                    entry.name, extent.lba
                ));
            }
            self.reader.seek(SeekFrom::Start(start))?;
            let copied = io::copy(&mut (&mut self.reader).take(u64::from(extent.len)), out)?;
            if copied != u64::from(extent.len) {
                return bad(format!("{}: the image ends inside the file", entry.name));
            }
            total += copied;
        }
        Ok(total)
    }

    /// A small file's whole contents (boot menus, markers).
    ///
    /// # Errors
    /// The file is larger than `limit`, or cannot be read.
    pub fn read_small(&mut self, entry: &Entry, limit: u64) -> Result<Vec<u8>, IsoError> {
        if entry.size > limit {
            return bad(format!("{} is larger than {limit} bytes", entry.name));
        }
        let mut out = Vec::with_capacity(entry.size as usize);
        self.copy_to(entry, &mut out)?;
        Ok(out)
    }

    /// Every path under `dir` (files and directories), depth-first, for tests and listings;
    /// stops at `limit` entries. Directory loops are cut.
    ///
    /// # Errors
    /// Damaged directories.
    pub fn walk(&mut self, limit: usize) -> Result<Vec<(String, Entry)>, IsoError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut todo = vec![(String::new(), self.root.clone())];
        while let Some((prefix, dir)) = todo.pop() {
            if !seen.insert(dir.extents[0].lba) {
                continue;
            }
            for entry in self.read_dir(&dir)? {
                let path = format!("{prefix}/{}", entry.name);
                if entry.kind == Kind::Dir {
                    todo.push((path.clone(), entry.clone()));
                }
                out.push((path, entry));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

/// The root directory record of a volume descriptor as an entry.
fn root_entry(rec: &[u8], which: &str) -> Result<Entry, IsoError> {
    let len = le32(rec, 10);
    if rec[0] < 34 || len == 0 || rec[25] & 0x02 == 0 {
        return bad(format!(
            "the {which} volume descriptor's root directory record is damaged"
        ));
    }
    Ok(Entry {
        name: "/".into(),
        kind: Kind::Dir,
        size: 0,
        extents: vec![Extent {
            lba: le32(rec, 2),
            len,
        }],
    })
}

/// The directory record at `pos` of `data`, when its lengths are consistent.
fn record_at(data: &[u8], pos: usize) -> Option<&[u8]> {
    let len = usize::from(*data.get(pos)?);
    let rec = data.get(pos..pos + len)?;
    if len < 34 || 33 + usize::from(rec[32]) > len {
        return None;
    }
    Some(rec)
}

/// A record's System Use area (after the name and its padding byte).
fn system_use(rec: &[u8]) -> &[u8] {
    let name_len = usize::from(rec[32]);
    let start = 33 + name_len + usize::from(name_len % 2 == 0);
    rec.get(start..).unwrap_or_default()
}

/// What a record's Rock Ridge entries say.
#[derive(Debug, Default)]
struct RockRidge {
    name: Option<String>,
    symlink: Option<String>,
    relocated: bool,
    child_link: Option<u32>,
}

/// Assembles an SL target from its component records.
#[derive(Default)]
struct SymlinkBuilder {
    parts: Vec<String>,
    current: Vec<u8>,
    continues: bool,
    any: bool,
}

impl SymlinkBuilder {
    fn add(&mut self, mut body: &[u8]) -> Result<(), IsoError> {
        self.any = true;
        while body.len() >= 2 {
            let (flags, len) = (body[0], usize::from(body[1]));
            let Some(content) = body.get(2..2 + len) else {
                return bad("a Rock Ridge symbolic link component is damaged");
            };
            if flags & 0x08 != 0 {
                self.parts.clear();
                self.parts.push(String::new()); // root: the target starts with '/'
            } else if flags & 0x04 != 0 {
                self.parts.push("..".into());
            } else if flags & 0x02 != 0 {
                self.parts.push(".".into());
            } else {
                self.current.extend_from_slice(content);
                if self.current.len() > 4096 {
                    return bad("a Rock Ridge symbolic link is too long");
                }
                if flags & 0x01 == 0 {
                    self.parts
                        .push(String::from_utf8_lossy(&self.current).into_owned());
                    self.current.clear();
                }
            }
            self.continues = flags & 0x01 != 0;
            body = &body[2 + len..];
        }
        Ok(())
    }

    fn finish(self) -> Option<String> {
        if !self.any {
            return None;
        }
        if self.parts == [String::new()] {
            return Some("/".into());
        }
        Some(self.parts.join("/"))
    }
}

/// A plain ISO 9660 name as Linux shows it: `;1` removed, a trailing dot removed, lower case.
fn plain_name(raw: &[u8], kind: &Kind) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut name = text.as_ref();
    if *kind != Kind::Dir {
        name = name.split(';').next().unwrap_or(name);
        name = name.strip_suffix('.').unwrap_or(name);
    }
    name.to_ascii_lowercase()
}

/// A Joliet name: UCS-2 big-endian, `;1` removed.
fn joliet_name(raw: &[u8], kind: &Kind) -> String {
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let text = String::from_utf16_lossy(&units);
    if *kind == Kind::Dir {
        return text;
    }
    let name = text.split(';').next().unwrap_or(&text);
    name.strip_suffix('.').unwrap_or(name).to_string()
}

/// A name an entry may have: not empty, not `.` or `..`, no `/` or NUL, not too long.
fn usable_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
        && name.len() <= MAX_NAME * 4
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = String> + '_ {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn short_and_garbage_inputs_are_errors_not_panics() {
        for len in [0usize, 100, 17 * 2048, 40 * 2048] {
            let data = vec![0u8; len];
            assert!(Iso::open(Cursor::new(data)).is_err());
        }
        let mut data = vec![0xffu8; 40 * 2048];
        data[16 * 2048 + 1..16 * 2048 + 6].copy_from_slice(b"CD001");
        assert!(Iso::open(Cursor::new(data)).is_err());
    }

    #[test]
    fn plain_names_lose_version_and_case() {
        assert_eq!(plain_name(b"VMLINUZ.;1", &Kind::File), "vmlinuz");
        assert_eq!(plain_name(b"INITRD.GZ;1", &Kind::File), "initrd.gz");
        assert_eq!(plain_name(b"INSTALL.AMD", &Kind::Dir), "install.amd");
    }

    #[test]
    fn symlink_components_join() {
        let mut b = SymlinkBuilder::default();
        // ROOT, "boot", "vmlinuz" split over a CONTINUE.
        b.add(&[
            0x08, 0, 0, 4, b'b', b'o', b'o', b't', 0x01, 3, b'v', b'm', b'l',
        ])
        .unwrap();
        b.add(&[0, 4, b'i', b'n', b'u', b'z']).unwrap();
        assert_eq!(b.finish().as_deref(), Some("/boot/vmlinuz"));
        let mut b = SymlinkBuilder::default();
        b.add(&[0x04, 0, 0, 1, b'x']).unwrap();
        assert_eq!(b.finish().as_deref(), Some("../x"));
        let mut b = SymlinkBuilder::default();
        assert!(b.add(&[0, 9, b'x']).is_err());
    }

    #[test]
    fn hostile_names_are_not_usable() {
        for name in ["", ".", "..", "a/b", "a\0b"] {
            assert!(!usable_name(name), "{name:?}");
        }
        assert!(usable_name("vmlinuz"));
    }
}
