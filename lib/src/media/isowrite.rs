//! Writes a small ISO 9660 image with one flat root directory, Rock Ridge and Joliet names:
//! what a cloud-init NoCloud seed or an answer-file CD needs, and nothing more.
//!
//! Layout: 16 empty system sectors, the primary and Joliet volume descriptors, the
//! terminator, four path tables, the Rock Ridge `ER` continuation area, the two root
//! directories, then each file from its own sector, then 150 zero sectors. Timestamps
//! come from the caller, so the same inputs give the same bytes.

use super::iso9660::SECTOR;

const S: usize = SECTOR as usize;

/// Zero sectors after the last file.
const PADDING: u32 = 150;

/// One file of the root directory. Names are checked by the caller: distinct (also
/// ignoring case), at most 64 characters, none of `/ \ : * ? ; " < > |` or controls.
pub struct File<'a> {
    /// The POSIX name (Rock Ridge and Joliet), e.g. `user-data`.
    pub name: &'a str,
    /// Contents.
    pub data: &'a [u8],
}

/// Both-endian 32-bit field (ECMA-119 7.3.3).
fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

fn both16(v: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&v.to_le_bytes());
    b[2..].copy_from_slice(&v.to_be_bytes());
    b
}

/// Civil date (UTC) of a Unix time: (year, month, day, hour, minute, second).
fn civil(epoch: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400) as u32;
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
}

/// The 7-byte recording date of directory records.
fn record_date(epoch: i64) -> [u8; 7] {
    let (y, mo, d, h, mi, s) = civil(epoch);
    let year = (y - 1900).clamp(0, 255) as u8;
    [year, mo as u8, d as u8, h as u8, mi as u8, s as u8, 0]
}

/// The 17-byte volume descriptor date.
fn volume_date(epoch: i64) -> [u8; 17] {
    let (y, mo, d, h, mi, s) = civil(epoch);
    let text = format!("{:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00", y.clamp(0, 9999));
    let mut b = [0u8; 17];
    b[..16].copy_from_slice(text.as_bytes());
    b
}

/// A directory record with an optional System Use area, padded to an even length.
fn dir_record(name: &[u8], lba: u32, len: u32, dir: bool, su: &[u8], date: [u8; 7]) -> Vec<u8> {
    let pad = usize::from(name.len() % 2 == 0);
    let mut total = 33 + name.len() + pad + su.len();
    total += total % 2;
    debug_assert!(total <= 255, "directory record too long");
    let mut r = vec![0u8; total];
    r[0] = total as u8;
    r[2..10].copy_from_slice(&both32(lba));
    r[10..18].copy_from_slice(&both32(len));
    r[18..25].copy_from_slice(&date);
    r[25] = if dir { 0x02 } else { 0 };
    r[28..32].copy_from_slice(&both16(1));
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    let su_at = 33 + name.len() + pad;
    r[su_at..su_at + su.len()].copy_from_slice(su);
    r
}

/// Rock Ridge `PX` (RRIP 1.10: mode, links, uid, gid).
fn px(mode: u32, links: u32) -> Vec<u8> {
    let mut e = vec![b'P', b'X', 36, 1];
    e.extend_from_slice(&both32(mode));
    e.extend_from_slice(&both32(links));
    e.extend_from_slice(&both32(0));
    e.extend_from_slice(&both32(0));
    e
}

/// Rock Ridge `NM` with the whole name.
fn nm(name: &str) -> Vec<u8> {
    let mut e = vec![b'N', b'M', (5 + name.len()) as u8, 1, 0];
    e.extend_from_slice(name.as_bytes());
    e
}

/// The `ER` entry announcing RRIP 1.10 (it lives in a continuation area: too long for a
/// record).
fn er() -> Vec<u8> {
    const ID: &[u8] = b"RRIP_1991A";
    const DES: &[u8] =
        b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    const SRC: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
    let mut e = vec![
        b'E',
        b'R',
        (8 + ID.len() + DES.len() + SRC.len()) as u8,
        1,
        ID.len() as u8,
        DES.len() as u8,
        SRC.len() as u8,
        1,
    ];
    e.extend_from_slice(ID);
    e.extend_from_slice(DES);
    e.extend_from_slice(SRC);
    e
}

/// An ISO 9660 level-1 name for a fixed POSIX name: `user-data` -> `USER_DAT.;1`.
fn iso_name(name: &str) -> Vec<u8> {
    let (base, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .map(|c| match c.to_ascii_uppercase() {
                c @ ('A'..='Z' | '0'..='9') => c,
                _ => '_',
            })
            .take(n)
            .collect()
    };
    format!("{}.{};1", clean(base, 8), clean(ext, 3)).into_bytes()
}

/// Level-1 names for every file, made distinct where two clash (`user-data` and
/// `user_data`): the later one's base ends in a number (`USER_DA1.`). Readers with Rock
/// Ridge or Joliet (Linux, Windows) see the real names; the level-1 ones must only differ.
fn iso_names(files: &[File<'_>]) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for f in files {
        let mut name = iso_name(f.name);
        let mut n = 1u32;
        while names.contains(&name) {
            let text = String::from_utf8_lossy(&iso_name(f.name)).into_owned();
            let (base, ext) = text.split_once('.').unwrap_or((&text, ";1"));
            let suffix = n.to_string();
            let keep = base.len().min(8 - suffix.len());
            name = format!("{}{suffix}.{ext}", &base[..keep]).into_bytes();
            n += 1;
        }
        names.push(name);
    }
    names
}

fn joliet_name(name: &str) -> Vec<u8> {
    format!("{name};1")
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect()
}

/// Records laid out into whole sectors (a record never crosses a sector).
fn lay_out(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let used = out.len() % S;
        if used + r.len() > S {
            out.resize(out.len() + S - used, 0);
        }
        out.extend_from_slice(r);
    }
    out.resize(out.len().div_ceil(S).max(1) * S, 0);
    out
}

fn sectors(len: usize) -> u32 {
    len.div_ceil(S) as u32
}

/// A text field padded with spaces (ASCII) or UCS-2 spaces (Joliet).
fn put_text(d: &mut [u8], text: &str, ucs2: bool) {
    if ucs2 {
        for (i, pair) in d.chunks_exact_mut(2).enumerate() {
            let unit = text.encode_utf16().nth(i).unwrap_or(0x20);
            pair.copy_from_slice(&unit.to_be_bytes());
        }
    } else {
        for (i, b) in d.iter_mut().enumerate() {
            *b = text.as_bytes().get(i).copied().unwrap_or(b' ');
        }
    }
}

/// The image: `volume_id` is the label (`cidata`), files go in the root directory.
pub fn flat_iso(volume_id: &str, files: &[File<'_>], epoch: i64) -> Vec<u8> {
    let date = record_date(epoch);
    let names = iso_names(files);
    // Each tree's records are sorted by its own names (ECMA-119 9.3; Joliet likewise).
    let mut primary_order: Vec<usize> = (0..files.len()).collect();
    primary_order.sort_by(|&a, &b| names[a].cmp(&names[b]));
    let mut joliet_order = primary_order.clone();
    joliet_order.sort_by_key(|&i| joliet_name(files[i].name));
    let entries = |order: &[usize], locations: &[u32]| -> Vec<Entry<'_>> {
        order
            .iter()
            .map(|&i| Entry {
                file: &files[i],
                iso_name: &names[i],
                lba: locations.get(i).copied().unwrap_or(0),
            })
            .collect()
    };

    // Fixed sectors: 16 descriptors, 17 Joliet, 18 terminator, 19-22 path tables, 23 ER.
    let er_lba = 23u32;
    let root_lba = 24u32;
    let primary = Tree::Primary { er_lba };
    // Sizes first (records hold the file locations, but not their own sizes' effect).
    let primary_len = {
        let probe = root_records(primary, &entries(&primary_order, &[]), root_lba, 0, date);
        lay_out(&probe).len()
    };
    let joliet_lba = root_lba + sectors(primary_len);
    let joliet_len = lay_out(&root_records(
        Tree::Joliet,
        &entries(&joliet_order, &[]),
        joliet_lba,
        0,
        date,
    ))
    .len();
    let mut next = joliet_lba + sectors(joliet_len);
    let mut locations = Vec::new();
    for f in files {
        if f.data.is_empty() {
            locations.push(0);
        } else {
            locations.push(next);
            next += sectors(f.data.len());
        }
    }
    // 150 zero sectors (300 KiB) close the volume, as mkisofs' and xorriso's -pad do: reads
    // ahead past the last file stay inside it, and busybox's findfs and blkid (volume_id),
    // which read 68 KiB from the start, find the label of an image that would be smaller.
    let total = next + PADDING;

    let primary = lay_out(&root_records(
        primary,
        &entries(&primary_order, &locations),
        root_lba,
        primary_len as u32,
        date,
    ));
    let joliet = lay_out(&root_records(
        Tree::Joliet,
        &entries(&joliet_order, &locations),
        joliet_lba,
        joliet_len as u32,
        date,
    ));

    let mut img = vec![0u8; total as usize * S];
    let descriptor = |kind: u8, root: &[u8], ucs2: bool| {
        let mut d = vec![0u8; S];
        d[0] = kind;
        d[1..6].copy_from_slice(b"CD001");
        d[6] = 1;
        put_text(&mut d[8..40], "LINUX", ucs2);
        put_text(&mut d[40..72], volume_id, ucs2);
        d[80..88].copy_from_slice(&both32(total));
        if ucs2 {
            d[88..91].copy_from_slice(b"%/E");
        }
        d[120..124].copy_from_slice(&both16(1));
        d[124..128].copy_from_slice(&both16(1));
        d[128..132].copy_from_slice(&both16(SECTOR as u16));
        d[132..140].copy_from_slice(&both32(10));
        let (l, m) = if ucs2 { (21u32, 22u32) } else { (19, 20) };
        d[140..144].copy_from_slice(&l.to_le_bytes());
        d[148..152].copy_from_slice(&m.to_be_bytes());
        d[156..190].copy_from_slice(&root[..34]);
        for (range, text) in [
            (190..318, ""),
            (318..446, ""),
            (446..574, ""),
            (574..702, "DOMKIT DOM-MEDIA"),
            (702..739, ""),
            (739..776, ""),
            (776..813, ""),
        ] {
            put_text(&mut d[range], text, ucs2);
        }
        let vd = volume_date(epoch);
        d[813..830].copy_from_slice(&vd);
        d[830..847].copy_from_slice(&vd);
        d[847..863].copy_from_slice(b"0000000000000000");
        d[864..880].copy_from_slice(b"0000000000000000");
        d[881] = 1;
        d
    };
    let root_record = |lba: u32, len: usize| dir_record(&[0], lba, len as u32, true, &[], date);
    img[16 * S..17 * S].copy_from_slice(&descriptor(1, &root_record(root_lba, primary_len), false));
    img[17 * S..18 * S].copy_from_slice(&descriptor(2, &root_record(joliet_lba, joliet_len), true));
    img[18 * S..18 * S + 7].copy_from_slice(&[255, b'C', b'D', b'0', b'0', b'1', 1]);
    for (sector, lba, big_endian) in [
        (19, root_lba, false),
        (20, root_lba, true),
        (21, joliet_lba, false),
        (22, joliet_lba, true),
    ] {
        let at = sector * S;
        img[at] = 1;
        let (l, p) = if big_endian {
            (lba.to_be_bytes(), 1u16.to_be_bytes())
        } else {
            (lba.to_le_bytes(), 1u16.to_le_bytes())
        };
        img[at + 2..at + 6].copy_from_slice(&l);
        img[at + 6..at + 8].copy_from_slice(&p);
    }
    let er = er();
    img[er_lba as usize * S..er_lba as usize * S + er.len()].copy_from_slice(&er);
    let at = root_lba as usize * S;
    img[at..at + primary.len()].copy_from_slice(&primary);
    let at = joliet_lba as usize * S;
    img[at..at + joliet.len()].copy_from_slice(&joliet);
    for (f, lba) in files.iter().zip(&locations) {
        let at = *lba as usize * S;
        if !f.data.is_empty() {
            img[at..at + f.data.len()].copy_from_slice(f.data);
        }
    }
    img
}

/// A file as one tree lists it.
struct Entry<'a> {
    file: &'a File<'a>,
    iso_name: &'a [u8],
    /// Its first sector; 0 in the sizing passes (the records are as long either way).
    lba: u32,
}

/// Which of the two directory trees a record belongs to.
#[derive(Clone, Copy)]
enum Tree {
    /// ISO 9660 names with Rock Ridge entries; `er_lba` holds the ER entry.
    Primary { er_lba: u32 },
    /// UCS-2 names, no System Use entries.
    Joliet,
}

/// A root directory: `.` (in the primary tree with SP, PX and a CE to the ER area), `..`,
/// then each file (in the primary tree with PX and NM).
fn root_records(
    tree: Tree,
    entries: &[Entry<'_>],
    root_lba: u32,
    root_len: u32,
    date: [u8; 7],
) -> Vec<Vec<u8>> {
    let (dot_su, dotdot_su) = match tree {
        Tree::Primary { er_lba } => {
            let mut dot = vec![b'S', b'P', 7, 1, 0xbe, 0xef, 0];
            dot.extend(px(0o40555, 2));
            dot.extend([b'C', b'E', 28, 1]);
            dot.extend_from_slice(&both32(er_lba));
            dot.extend_from_slice(&both32(0));
            dot.extend_from_slice(&both32(er().len() as u32));
            (dot, px(0o40555, 2))
        }
        Tree::Joliet => (Vec::new(), Vec::new()),
    };
    let mut records = vec![
        dir_record(&[0], root_lba, root_len, true, &dot_su, date),
        dir_record(&[1], root_lba, root_len, true, &dotdot_su, date),
    ];
    for entry in entries {
        let f = entry.file;
        let (name, su) = match tree {
            Tree::Primary { .. } => {
                let mut su = px(0o100444, 1);
                su.extend(nm(f.name));
                (entry.iso_name.to_vec(), su)
            }
            Tree::Joliet => (joliet_name(f.name), Vec::new()),
        };
        records.push(dir_record(
            &name,
            entry.lba,
            f.data.len() as u32,
            false,
            &su,
            date,
        ));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_700_000_000), (2023, 11, 14, 22, 13, 20));
    }

    #[test]
    fn level_one_names() {
        assert_eq!(iso_name("user-data"), b"USER_DAT.;1");
        assert_eq!(iso_name("network-config"), b"NETWORK_.;1");
        assert_eq!(iso_name("a.b.txt"), b"A_B.TXT;1");
    }

    #[test]
    fn clashing_level_one_names_are_made_distinct() {
        let file = |name| File { name, data: b"" };
        let names = iso_names(&[file("user-data"), file("user_data"), file("USER-DATA")]);
        assert_eq!(names, [&b"USER_DAT.;1"[..], b"USER_DA1.;1", b"USER_DA2.;1"]);
    }
}
