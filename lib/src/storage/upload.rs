//! Uploading a local file into a volume through the connection (virStorageVolUpload and
//! a stream), sending only the file's data: holes found with lseek SEEK_DATA/SEEK_HOLE,
//! and all-zero blocks, go as holes of a sparse stream
//! (VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM), so the host allocates what the file holds.
//! The size is checked at the end, and completion is recorded in stamps (`volume.rs`).
//!
//! # The content digest
//! SHA-256 over the file's content in 64 KiB blocks at fixed offsets: for each block that
//! is not all zeros, its offset (8 bytes, little-endian) and its bytes; then the file's
//! length. It depends on the content only, not on which parts the file system stores as
//! holes, so a copy of the file has the same digest, and it costs one read of the data.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use virt::storage_vol::StorageVol;
use virt::stream::Stream;

use super::error;
use super::pool::Pool;
use super::sha256::Sha256;
use super::volume::{self, Format};
use crate::cli::ProgressLine;
use crate::error::{Error, Result};
use crate::libvirt::Conn;
use crate::libvirt::events;

/// The digest's block: zero blocks of this size are holes.
const BLOCK: u64 = 64 << 10;
/// The most bytes sent in one virStreamSend (libvirt's own limit is 256 KiB per message
/// and it splits larger ones; 1 MiB keeps calls few).
const SEND_MAX: usize = 1 << 20;
/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// A local file to upload, checked to be a regular file.
#[derive(Debug)]
pub struct Source {
    file: File,
    /// Its name, for messages.
    pub shown: String,
    /// Its length in bytes.
    pub len: u64,
    /// The volume format it has: qcow2 when it starts with qcow2's magic, else raw.
    pub format: Format,
    /// The size the volume is made with: the file's length, or a qcow2 image's virtual size.
    pub capacity: u64,
}

/// Opens `path` for upload: a regular file (a directory, FIFO, socket or device is bad
/// input, and a FIFO is never waited on), and not a qcow2 image with a backing file, whose
/// backing would name a path of the client.
///
/// # Errors
/// Bad input as above; an I/O error when it cannot be read.
pub fn open_source(path: &Path) -> Result<Source> {
    let shown = path.display().to_string();
    let kind = |meta: &std::fs::Metadata| -> Option<&'static str> {
        let t = meta.file_type();
        if t.is_file() {
            None
        } else if t.is_dir() {
            Some("a directory")
        } else if t.is_fifo() {
            Some("a FIFO")
        } else if t.is_socket() {
            Some("a socket")
        } else {
            Some("a device")
        }
    };
    let refuse =
        |what: &str| Error::input(&shown, format!("is {what}, not a regular file to upload"));
    let meta = std::fs::metadata(path).map_err(|e| Error::io(&shown, e))?;
    if let Some(what) = kind(&meta) {
        return Err(refuse(what));
    }
    // O_NONBLOCK: should the file have become a FIFO since, open does not wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| Error::io(&shown, e))?;
    let meta = file.metadata().map_err(|e| Error::io(&shown, e))?;
    if let Some(what) = kind(&meta) {
        return Err(refuse(what));
    }
    let len = meta.len();
    let mut head = [0u8; 32];
    let got = (&file)
        .take(32)
        .read(&mut head)
        .map_err(|e| Error::io(&shown, e))?;
    let (format, capacity) = if got == 32 && head[..4] == *b"QFI\xfb" {
        let backing_offset = u64::from_be_bytes(head[8..16].try_into().expect("8 bytes"));
        if backing_offset != 0 {
            return Err(Error::input(
                &shown,
                "is a qcow2 image with a backing file, which would name a path of this machine on the host: upload a flattened image (qemu-img convert -O qcow2)",
            ));
        }
        let virtual_size = u64::from_be_bytes(head[24..32].try_into().expect("8 bytes"));
        (Format::Qcow2, virtual_size)
    } else {
        (Format::Raw, len)
    };
    if len == 0 || capacity == 0 {
        return Err(Error::input(
            &shown,
            "is empty: a volume needs at least one byte",
        ));
    }
    Ok(Source {
        file,
        shown,
        len,
        format,
        capacity,
    })
}

/// Visits the file's 64 KiB blocks at fixed offsets in order, skipping the holes lseek
/// reports: `visit(offset, bytes, all_zero)`. Blocks below `dense_until` are visited even
/// in holes.
fn scan(
    src: &Source,
    dense_until: u64,
    mut visit: impl FnMut(u64, &[u8], bool) -> Result<()>,
) -> Result<()> {
    use rustix::fs::SeekFrom;
    let io = |e: std::io::Error| Error::io(&src.shown, e);
    let mut buf = vec![0u8; BLOCK as usize];
    // Compared with memcmp, which is fast even in a debug build.
    let zeros = vec![0u8; BLOCK as usize];
    let mut pos = 0u64;
    while pos < src.len {
        let (data, hole) = if pos < dense_until {
            (pos, dense_until)
        } else {
            match rustix::fs::seek(&src.file, SeekFrom::Data(pos)) {
                Ok(data) => {
                    let hole = rustix::fs::seek(&src.file, SeekFrom::Hole(data))
                        .map_err(|e| io(e.into()))?;
                    (data, hole)
                }
                // No data past pos: the rest is a hole.
                Err(rustix::io::Errno::NXIO) => break,
                // A file system without SEEK_DATA: all of it is data.
                Err(rustix::io::Errno::INVAL) => (pos, src.len),
                Err(e) => return Err(io(e.into())),
            }
        };
        let end = hole.min(src.len);
        let mut block = data / BLOCK * BLOCK;
        while block < end {
            let n = BLOCK.min(src.len - block) as usize;
            src.file.read_exact_at(&mut buf[..n], block).map_err(io)?;
            let zero = buf[..n] == zeros[..n];
            visit(block, &buf[..n], zero)?;
            block += BLOCK;
        }
        pos = block.max(pos + 1);
    }
    Ok(())
}

/// Adds a block to the content digest (see the module's documentation).
fn digest_block(h: &mut Sha256, offset: u64, bytes: &[u8], zero: bool) {
    if !zero {
        h.update(&offset.to_le_bytes());
        h.update(bytes);
    }
}

/// The content digest of `src`, as 64 hex digits.
///
/// # Errors
/// The file cannot be read.
pub fn digest(src: &Source) -> Result<String> {
    let mut h = Sha256::default();
    scan(src, 0, |offset, bytes, zero| {
        digest_block(&mut h, offset, bytes, zero);
        Ok(())
    })?;
    h.update(&src.len.to_le_bytes());
    Ok(h.hex())
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The volume was uploaded now.
    Uploaded,
    /// A complete upload of the same content was there already.
    Exists,
}

/// Uploads `src` as volume `name` of `pool`, unless a complete upload of the same content
/// is there (see `volume.rs`, "Upload stamps"): a volume of that name that dom-vol did
/// not upload, or that holds other content, is a conflict and stays as it is.
///
/// # Errors
/// Conflicts as above; bad input for a bad name; the file cannot be read; libvirt errors,
/// among them a size that differs after the upload (the volume then stays unfinished).
pub fn upload(
    conn: &Conn,
    pool: &Pool,
    name: &str,
    src: &Source,
    progress: &mut ProgressLine,
) -> Result<(StorageVol, Outcome)> {
    super::check_name("--name", name)?;
    let partial = volume::partial_stamp(name);
    if let Some(vol) = volume::lookup(conn, pool, name)? {
        let unfinished = volume::lookup(conn, pool, &partial)?.is_some();
        let stamps = volume::digest_stamps(conn, pool, name)?;
        if !unfinished {
            if stamps.is_empty() {
                return Err(Error::Conflict(format!(
                    "{}: volume '{name}' in pool '{}' exists and was not uploaded by dom-vol, so it cannot be known to hold {} (nothing changed)",
                    conn.shown, pool.name, src.shown
                )));
            }
            let want = digest(src)?;
            if stamps.contains(&want) && physical_size(conn, &vol)? == src.len {
                return Ok((vol, Outcome::Exists));
            }
            return Err(Error::Conflict(format!(
                "{}: volume '{name}' in pool '{}' holds other content than {} (nothing changed; dom-vol delete it first to replace it)",
                conn.shown, pool.name, src.shown
            )));
        }
        // Ours and unfinished: start again.
        vol.delete(0).map_err(|e| error(conn, &e))?;
    }
    volume::delete_stamps(conn, pool, name)?;
    volume::make_stamp(conn, pool, &partial)?;
    let xml = volume::volume_xml(name, src.capacity, src.format.word(), "");
    let vol = StorageVol::create_xml(&pool.pool, &xml, 0).map_err(|e| error(conn, &e))?;
    // A qcow2 volume starts with qemu-img's metadata, which the file's holes must not
    // leave behind: that much is sent densely. A raw volume starts as one hole.
    let dense_until = match src.format {
        Format::Raw => 0,
        Format::Qcow2 => physical_size(conn, &vol)?,
    };
    let digest = send(conn, &vol, src, dense_until, progress, name)?;
    let size = physical_size(conn, &vol)?;
    if size != src.len {
        return Err(Error::Libvirt(format!(
            "{}: volume '{name}' in pool '{}' has {size} bytes after the upload of {} ({} bytes); left unfinished",
            conn.shown, pool.name, src.shown, src.len
        )));
    }
    volume::make_stamp(
        conn,
        pool,
        &format!("{}{digest}", volume::digest_stamp_prefix(name)),
    )?;
    volume::delete_one(conn, pool, &partial)?;
    Ok((vol, Outcome::Uploaded))
}

/// The volume's size on the host in bytes (its file's length, for a file volume).
fn physical_size(conn: &Conn, vol: &StorageVol) -> Result<u64> {
    vol.info_flags(virt::sys::VIR_STORAGE_VOL_GET_PHYSICAL)
        .map(|i| i.allocation)
        .map_err(|e| error(conn, &e))
}

/// Streams `src` into `vol`: data as data, holes and zero blocks as holes. Returns the
/// content digest.
fn send(
    conn: &Conn,
    vol: &StorageVol,
    src: &Source,
    dense_until: u64,
    progress: &mut ProgressLine,
    name: &str,
) -> Result<String> {
    let err = |e: virt::error::Error| error(conn, &e);
    let stream = Stream::new(&conn.connect, 0).map_err(err)?;
    vol.upload(
        &stream,
        0,
        src.len,
        virt::sys::VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM,
    )
    .map_err(err)?;
    let mut sender = Sender {
        stream: &stream,
        pending: Vec::with_capacity(SEND_MAX),
        pending_at: 0,
        sent_to: 0,
        data_sent: 0,
    };
    let started = Instant::now();
    let mut drawn = started;
    // The digest is computed on a second thread while this one reads and sends: over a
    // network the hashing then costs no wall time, and locally it overlaps the daemon's
    // writes. Blocks reach it in order through a bounded channel (at most 32 x 64 KiB).
    let (blocks, received) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>)>(32);
    let (result, mut h) = std::thread::scope(|scope| {
        let hasher = scope.spawn(move || {
            let mut h = Sha256::default();
            for (offset, bytes) in received {
                digest_block(&mut h, offset, &bytes, false);
            }
            h
        });
        let result = scan(src, dense_until, |offset, bytes, zero| {
            if !zero {
                // The hasher only stops when this end is dropped.
                let _ = blocks.send((offset, bytes.to_vec()));
            }
            if !zero || offset < dense_until {
                sender.data(offset, bytes).map_err(err)?;
            }
            if progress.on() && drawn.elapsed() >= PROGRESS_EVERY {
                drawn = Instant::now();
                progress.draw(&progress_text(
                    name,
                    offset,
                    src.len,
                    sender.data_sent,
                    started,
                ));
            }
            Ok(())
        })
        .and_then(|()| sender.finish(src.len).map_err(err));
        drop(blocks);
        let digest = hasher.join().expect("the digest thread does not panic");
        (result, digest)
    });
    progress.clear();
    match result {
        Ok(()) => {
            stream.finish().map_err(err)?;
            h.update(&src.len.to_le_bytes());
            Ok(h.hex())
        }
        Err(e) => {
            let _ = stream.abort();
            Err(e)
        }
    }
}

fn progress_text(name: &str, at: u64, len: u64, data: u64, started: Instant) -> String {
    const MIB: u64 = 1 << 20;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    format!(
        "dom-vol: uploading {name}: {} of {} MiB, {} MiB of data sent, {:.0} MiB/s",
        at / MIB,
        len / MIB,
        data / MIB,
        data as f64 / MIB as f64 / secs
    )
}

/// Sends data in batches of up to [`SEND_MAX`] and the gaps between them as holes.
struct Sender<'a> {
    stream: &'a Stream,
    pending: Vec<u8>,
    pending_at: u64,
    sent_to: u64,
    data_sent: u64,
}

impl Sender<'_> {
    fn data(&mut self, offset: u64, bytes: &[u8]) -> std::result::Result<(), virt::error::Error> {
        let pending_end = self.pending_at + self.pending.len() as u64;
        if self.pending.is_empty() || offset != pending_end || self.pending.len() >= SEND_MAX {
            self.flush()?;
            if offset > self.sent_to {
                events::send_hole(self.stream, (offset - self.sent_to) as i64)?;
                self.sent_to = offset;
            }
            self.pending_at = offset;
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::result::Result<(), virt::error::Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut rest = &self.pending[..];
        while !rest.is_empty() {
            let n = self.stream.send(rest)?;
            rest = &rest[(n.max(0) as usize).min(rest.len())..];
        }
        self.sent_to = self.pending_at + self.pending.len() as u64;
        self.data_sent += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Sends what is pending and the hole up to the end of the file.
    fn finish(&mut self, len: u64) -> std::result::Result<(), virt::error::Error> {
        self.flush()?;
        if len > self.sent_to {
            events::send_hole(self.stream, (len - self.sent_to) as i64)?;
            self.sent_to = len;
        }
        Ok(())
    }
}
