//! Small labelled images that carry files to an installer: answer files on a second CD
//! (Windows `autounattend.xml`), a kickstart on a volume labelled `OEMDRV` (RHEL), a
//! cloud-init seed (`cidata`, see [`super::seed`]). ISO 9660 with Rock Ridge and Joliet
//! names, or FAT; every file in the root directory.

use std::io::{Cursor, Seek, SeekFrom, Write};

use super::isowrite;

/// Largest image written (it is built in memory): answer files, scripts and drivers.
pub const MAX_TOTAL: u64 = 256 << 20;

/// The image's filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// ISO 9660 with Rock Ridge and Joliet names (attach as a CD-ROM).
    Iso,
    /// FAT with long names (attach as a disk).
    #[value(alias = "vfat")]
    Fat,
}

impl Format {
    /// The device domxml-gen's `--install-disk` attaches it as.
    pub fn device(self) -> &'static str {
        match self {
            Format::Iso => "cdrom",
            Format::Fat => "disk",
        }
    }
}

/// Checks a volume label for `format`.
///
/// ISO 9660: up to 32 characters, letters (case kept: anaconda looks for `OEMDRV`,
/// cloud-init for `cidata` or `CIDATA`), digits, `_`, `-`, `.`. Linux (libblkid) reads all
/// 32 from the primary descriptor and the Joliet one; Windows shows the Joliet label's
/// first 16. FAT: up to 11 characters, upper-case letters, digits, `_` and `-`: FAT stores
/// labels upper-case (Windows and mkfs.fat upper-case them), so a lower-case label would
/// not be found under the name asked for.
///
/// # Errors
/// Why the label is refused, in a phrase.
pub fn check_label(label: &str, format: Format) -> Result<(), String> {
    let (max, lower, kind) = match format {
        Format::Iso => (32, true, "an ISO 9660"),
        Format::Fat => (11, false, "a FAT"),
    };
    if label.is_empty() || label.len() > max {
        return Err(format!("{kind} label has 1 to {max} characters"));
    }
    let allowed = |c: char| {
        c.is_ascii_uppercase()
            || c.is_ascii_digit()
            || matches!(c, '_' | '-')
            || (lower && (c.is_ascii_lowercase() || c == '.'))
    };
    match label.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(c) if c.is_ascii_lowercase() => Err(format!(
            "FAT labels are upper case (use {})",
            label.to_ascii_uppercase()
        )),
        Some(c) => Err(format!(
            "{c:?} is not allowed in a label (letters, digits, _ -{})",
            if lower { " ." } else { "" }
        )),
    }
}

/// Checks a file name for the image's root directory: 1 to 64 characters (Joliet's
/// limit), not `.` or `..`, none of `/ \ : * ? ; " < > |` (Joliet and FAT forbid them) or
/// control characters.
///
/// # Errors
/// Why the name is refused, in a phrase.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("a name in the image has 1 to 64 characters".into());
    }
    if name == "." || name == ".." || name.ends_with('.') || name.ends_with(' ') {
        return Err("a name in the image cannot end in '.' or ' '".into());
    }
    match name
        .chars()
        .find(|c| c.is_control() || "/\\:*?;\"<>|".contains(*c))
    {
        Some(c) => Err(format!("{c:?} is not allowed in a name in the image")),
        None => Ok(()),
    }
}

/// The image's bytes: `files` (checked names, distinct ignoring case) in the root of a
/// filesystem labelled `label` (checked), timestamps from `epoch`.
///
/// # Errors
/// Only FAT formatting can fail (an I/O error on the in-memory image).
pub fn build(
    label: &str,
    files: &[(&str, &[u8])],
    format: Format,
    epoch: i64,
) -> std::io::Result<Vec<u8>> {
    match format {
        Format::Iso => {
            let files: Vec<isowrite::File<'_>> = files
                .iter()
                .map(|(name, data)| isowrite::File { name, data })
                .collect();
            Ok(isowrite::flat_iso(label, &files, epoch))
        }
        Format::Fat => fat(label, files),
    }
}

/// A FAT image just big enough for the files.
fn fat(label: &str, files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut padded = [b' '; 11];
    padded[..label.len()].copy_from_slice(label.as_bytes());
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
            .volume_label(padded)
            .total_sectors((size / 512) as u32)
            .bytes_per_sector(512),
    )?;
    write_root_label(&mut image, &padded)?;
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
        // FAT32 keeps its root directory in clusters; such an image is not written here.
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
    fn labels_per_format() {
        for ok in [
            "OEMDRV",
            "cidata",
            "CIDATA",
            "Win_Answers-1.0",
            &"A".repeat(32),
        ] {
            assert!(check_label(ok, Format::Iso).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "é", "x/y", &"A".repeat(33)] {
            assert!(check_label(bad, Format::Iso).is_err(), "{bad}");
        }
        assert!(check_label("OEMDRV", Format::Fat).is_ok());
        assert!(check_label("CIDATA_2", Format::Fat).is_ok());
        assert_eq!(
            check_label("oemdrv", Format::Fat).unwrap_err(),
            "FAT labels are upper case (use OEMDRV)"
        );
        for bad in ["TWELVE_CHARS", "A.B", "A B", ""] {
            assert!(check_label(bad, Format::Fat).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_in_the_root() {
        for ok in ["autounattend.xml", "ks.cfg", "user-data", "Ä b.txt"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a:b",
            "a;1",
            "a\nb",
            "x.",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
