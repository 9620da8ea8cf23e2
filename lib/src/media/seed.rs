//! cloud-init NoCloud seed images: `user-data`, `meta-data` and the optional
//! `network-config` and `vendor-data` on a filesystem labelled `cidata`, as ISO 9660
//! (Rock Ridge and Joliet names) or VFAT.
//!
//! NoCloud only takes a seed that has both `user-data` and `meta-data`. A missing
//! `meta-data` is generated with an `instance-id` derived from the other files' contents
//! (a changed seed is a new instance to cloud-init, the same seed is the same instance); a
//! missing `user-data` is written empty.

use std::io::{Cursor, Seek, SeekFrom, Write};

use super::isowrite;

/// Largest input file a seed takes: seeds carry configuration, not payloads.
pub const MAX_FILE: u64 = 16 << 20;

/// The filesystem of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// ISO 9660 with Rock Ridge and Joliet names, label `cidata` (attach as a CD-ROM).
    Iso,
    /// FAT (VFAT long names), label `CIDATA` (attach as a disk).
    Vfat,
}

/// The seed's files; None when not given.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// cloud-init user-data (`#cloud-config`, a script, MIME multipart, ...).
    pub user_data: Option<Vec<u8>>,
    /// NoCloud meta-data (YAML: `instance-id`, `local-hostname`).
    pub meta_data: Option<Vec<u8>>,
    /// Network configuration (version 1 or 2).
    pub network_config: Option<Vec<u8>>,
    /// Vendor data.
    pub vendor_data: Option<Vec<u8>>,
}

/// 64-bit FNV-1a: a stable, dependency-free digest for instance ids (not for security).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        // Length-prefixed, so that moving bytes between files changes the digest.
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl Files {
    /// The instance id a generated meta-data names: `iid-` and a digest of the other files.
    pub fn derived_instance_id(&self) -> String {
        fn part(f: &Option<Vec<u8>>) -> &[u8] {
            f.as_deref().unwrap_or_default()
        }
        let digest = fnv1a(&[
            part(&self.user_data),
            part(&self.network_config),
            part(&self.vendor_data),
        ]);
        format!("iid-{digest:016x}")
    }

    /// The files as they go on the seed: meta-data generated (with `instance_id`, else a
    /// derived one, and `hostname`) and user-data empty when not given.
    pub fn complete(
        &self,
        instance_id: Option<&str>,
        hostname: Option<&str>,
    ) -> Vec<(&'static str, Vec<u8>)> {
        let meta = self.meta_data.clone().unwrap_or_else(|| {
            let id = instance_id
                .map(str::to_string)
                .unwrap_or_else(|| self.derived_instance_id());
            let mut text = format!("instance-id: {id}\n");
            if let Some(h) = hostname {
                text.push_str(&format!("local-hostname: {h}\n"));
            }
            text.into_bytes()
        });
        let mut out = vec![
            ("meta-data", meta),
            ("user-data", self.user_data.clone().unwrap_or_default()),
        ];
        if let Some(n) = &self.network_config {
            out.push(("network-config", n.clone()));
        }
        if let Some(v) = &self.vendor_data {
            out.push(("vendor-data", v.clone()));
        }
        out
    }
}

/// The seed image's bytes.
///
/// # Errors
/// Only VFAT formatting can fail (an I/O error on the in-memory image).
pub fn build(
    files: &[(&'static str, Vec<u8>)],
    format: Format,
    epoch: i64,
) -> std::io::Result<Vec<u8>> {
    match format {
        Format::Iso => {
            let files: Vec<isowrite::File<'_>> = files
                .iter()
                .map(|(name, data)| isowrite::File { name, data })
                .collect();
            Ok(isowrite::flat_iso("cidata", &files, epoch))
        }
        Format::Vfat => vfat(files),
    }
}

/// A FAT image just big enough for the files.
fn vfat(files: &[(&'static str, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    // Each file rounded up to 4 KiB clusters, plus room for the FATs and the root
    // directory; at least 1 MiB, which is FAT12 territory every loader reads.
    let data: u64 = files
        .iter()
        .map(|(_, d)| (d.len() as u64).div_ceil(4096) * 4096)
        .sum();
    let size = (data + data / 8 + (256 << 10)).max(1 << 20).div_ceil(512) * 512;
    let mut image = Cursor::new(vec![0u8; size as usize]);
    fatfs::format_volume(
        &mut image,
        fatfs::FormatVolumeOptions::new()
            .volume_label(*b"CIDATA     ")
            .total_sectors((size / 512) as u32)
            .bytes_per_sector(512),
    )?;
    write_root_label(&mut image, b"CIDATA     ")?;
    // fatfs asserts that the disk starts at offset 0.
    image.seek(SeekFrom::Start(0))?;
    {
        let options = fatfs::FsOptions::new().time_provider(&FAT_EPOCH);
        let fs = fatfs::FileSystem::new(&mut image, options)?;
        let root = fs.root_dir();
        for (name, contents) in files {
            let mut file = root.create_file(name)?;
            file.write_all(contents)?;
            file.flush()?;
        }
    }
    Ok(image.into_inner())
}

/// FAT's first date, 1980-01-01 00:00, for every timestamp: the same inputs give the same
/// image (fatfs without its clock feature would write an invalid month 0).
#[derive(Debug)]
struct FatEpoch;

static FAT_EPOCH: FatEpoch = FatEpoch;

impl fatfs::TimeProvider for FatEpoch {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 1980,
            month: 1,
            day: 1,
        }
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

/// Puts the volume label into the root directory too (fatfs writes it into the boot sector
/// only; DOS and some blkid versions read the root directory's entry first).
fn write_root_label(image: &mut Cursor<Vec<u8>>, label: &[u8; 11]) -> std::io::Result<()> {
    let boot = &image.get_ref()[..512];
    let bytes_per_sector = u64::from(u16::from_le_bytes([boot[11], boot[12]]));
    let reserved = u64::from(u16::from_le_bytes([boot[14], boot[15]]));
    let fats = u64::from(boot[16]);
    let root_entries = u16::from_le_bytes([boot[17], boot[18]]);
    let fat_size = u64::from(u16::from_le_bytes([boot[22], boot[23]]));
    if root_entries == 0 || fat_size == 0 {
        // FAT32 keeps its root directory in clusters; a seed is never that big.
        return Ok(());
    }
    let root = (reserved + fats * fat_size) * bytes_per_sector;
    let mut entry = [0u8; 32];
    entry[..11].copy_from_slice(label);
    entry[11] = 0x08; // ATTR_VOLUME_ID
    image.seek(SeekFrom::Start(root))?;
    image.write_all(&entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_follow_contents() {
        let a = Files {
            user_data: Some(b"#cloud-config\n".to_vec()),
            ..Files::default()
        };
        let mut b = a.clone();
        assert_eq!(a.derived_instance_id(), b.derived_instance_id());
        b.network_config = Some(b"version: 2\n".to_vec());
        assert_ne!(a.derived_instance_id(), b.derived_instance_id());
        assert!(a.derived_instance_id().starts_with("iid-"));
    }

    #[test]
    fn meta_data_and_user_data_are_always_there() {
        let files = Files::default().complete(Some("vm1"), Some("vm1.example"));
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["meta-data", "user-data"]);
        assert_eq!(
            files[0].1,
            b"instance-id: vm1\nlocal-hostname: vm1.example\n"
        );
        assert!(files[1].1.is_empty());
    }
}
