//! `dom-media`: install media. Inspects install ISOs (volume identity, the osinfo OS they
//! match, the kernel and initrd inside), extracts kernel and initrd for direct-kernel
//! installs, and writes cloud-init NoCloud seed images. Talks to no libvirt.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};

use crate::cli;
use crate::error::{Error, Result};
use crate::media::iso9660::{Iso, IsoError, Volume};
use crate::media::layout::{self, Boot};
use crate::media::seed::{self, Format};
use crate::media::{db_error, iso_error, media_ids, open_iso};
use crate::osinfo::{self, Db, DbError};

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-media inspect debian-12.5.0-amd64-netinst.iso\n  dom-media extract faicd.iso /var/lib/libvirt/boot/vm1 > media.json\n  dom-media seed --user-data user-data.yaml --hostname vm1 -o vm1-seed.iso\n  domxml-gen --name vm1 --disk vm1.qcow2 --cdrom cloud.iso --install-disk vm1-seed.iso";

/// Install media: inspect install ISOs, extract their kernel and initrd, make cloud-init
/// seeds.
///
/// `inspect` prints one JSON object: the ISO's volume identity (primary volume
/// descriptor), its El Torito boot platforms, the osinfo OS whose install media it matches
/// (as virt-install detects it; database from osinfo-db), and the kernel and initrd inside
/// for a direct-kernel install (known layouts: Debian, Fedora/RHEL, Ubuntu, FAI; else the
/// matched osinfo media entry's paths; else the ISO's GRUB or ISOLINUX menu, which also
/// gives the command line). `extract` copies that kernel and initrd into
/// a directory and prints JSON whose keys are domxml-gen's flags ("kernel", "initrd",
/// "cmdline", "install-disk"), so it can be a `domxml-gen --spec`. `seed` writes a
/// cloud-init NoCloud seed image (label cidata) to attach as install-only media.
///
/// ISO images are read as untrusted data: damaged or hostile images are refused with
/// exit status 3, and nothing is ever written outside the target directory.
#[derive(Debug, Parser)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the ISO's identity, matching osinfo OS and kernel/initrd paths as JSON.
    Inspect(InspectArgs),
    /// Copy the ISO's kernel and initrd into DIR; print them as domxml-gen spec JSON.
    Extract(ExtractArgs),
    /// Write a cloud-init NoCloud seed image (label cidata).
    Seed(SeedArgs),
}

/// `dom-media inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The install ISO image.
    #[arg(value_name = "ISO")]
    pub iso: PathBuf,
}

/// `dom-media extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// The install ISO image.
    #[arg(value_name = "ISO")]
    pub iso: PathBuf,
    /// Directory to copy the kernel and initrd into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The kernel's path inside the ISO, instead of the one inspect finds.
    #[arg(long, value_name = "PATH", requires = "initrd")]
    pub kernel: Option<String>,
    /// The initrd's path inside the ISO, instead of the one inspect finds.
    #[arg(long, value_name = "PATH", requires = "kernel")]
    pub initrd: Option<String>,
    /// Replace files of the same names in DIR (never by following a symlink).
    #[arg(long)]
    pub force: bool,
    /// Leave out "install-disk" (the ISO itself as install-only CD-ROM, which most
    /// installers need to find their packages).
    #[arg(long)]
    pub no_iso: bool,
    /// Leave out "cmdline" (the ISO boot menu's command line for this kernel).
    #[arg(long)]
    pub no_cmdline: bool,
}

/// `dom-media seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// cloud-init user-data file (- for stdin); written empty when absent.
    #[arg(long, value_name = "FILE")]
    pub user_data: Option<PathBuf>,
    /// NoCloud meta-data file; generated when absent: "instance-id:" --instance-id, or
    /// iid- and a digest of the other files (a changed seed is a new instance).
    #[arg(long, value_name = "FILE")]
    pub meta_data: Option<PathBuf>,
    /// Network configuration file (network-config, version 1 or 2).
    #[arg(long, value_name = "FILE")]
    pub network_config: Option<PathBuf>,
    /// Vendor data file.
    #[arg(long, value_name = "FILE")]
    pub vendor_data: Option<PathBuf>,
    /// The instance-id of a generated meta-data.
    #[arg(long, value_name = "ID", conflicts_with = "meta_data")]
    pub instance_id: Option<String>,
    /// The local-hostname of a generated meta-data.
    #[arg(long, value_name = "NAME", conflicts_with = "meta_data")]
    pub hostname: Option<String>,
    /// Filesystem of the image.
    #[arg(long, value_enum, default_value = "iso")]
    pub format: Format,
    /// Write the image to FILE (replaced atomically) and print its domxml-gen spec JSON;
    /// without it the image goes to stdout, which must not be a terminal.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `dom-media`.
///
/// # Errors
/// Usage errors, unreadable or damaged images (exit 3), files that cannot be read or
/// written (exit 4).
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    match args.command {
        Command::Inspect(a) => inspect(&a, stdout),
        Command::Extract(a) => extract(&a, stdout),
        Command::Seed(a) => make_seed(&a, stdin, stdout),
    }
}

/// What inspect and extract both need: the image's description and its boot pairs.
struct Inspection {
    json: Map<String, Value>,
    boots: Vec<Boot>,
}

fn examine(path: &Path, iso: &mut Iso<BufReader<File>>) -> Result<Inspection> {
    let v = iso.volume().clone();
    let mut json = Map::new();
    json.insert("iso".into(), json!(path.display().to_string()));
    json.insert("volume-id".into(), json!(v.volume_id));
    json.insert("system-id".into(), json!(v.system_id));
    json.insert("publisher-id".into(), json!(v.publisher_id));
    json.insert("application-id".into(), json!(v.application_id));
    json.insert("volume-size".into(), json!(v.size));
    json.insert("names".into(), json!(iso.names().as_str()));
    json.insert("boot".into(), json!(iso.boot_platforms_found()));
    let (found, db_version) = identify(&v)?;
    json.insert("osinfo-db".into(), json!(db_version));
    json.insert("os".into(), found.as_ref().map_or(Value::Null, os_json));
    let boots = layout::find(iso, osinfo_paths(found.as_ref())).map_err(|e| iso_error(path, e))?;
    Ok(Inspection { json, boots })
}

/// The osinfo OS the volume matches, and the database version; without osinfo-db the
/// image is still described, with no OS.
fn identify(v: &Volume) -> Result<(Option<osinfo::Match>, Option<String>)> {
    match Db::open() {
        Ok(mut db) => Ok((db.identify(&media_ids(v)).map_err(db_error)?, db.version())),
        Err(DbError::Missing(_)) => Ok((None, None)),
        Err(e) => Err(db_error(e)),
    }
}

/// The matched media entry's kernel and initrd paths.
fn osinfo_paths(found: Option<&osinfo::Match>) -> Option<(&str, &str)> {
    let m = found?;
    Some((m.media.kernel.as_deref()?, m.media.initrd.as_deref()?))
}

/// The matched OS as inspect prints it: which OS, how it matched, what the media entry
/// says.
fn os_json(m: &osinfo::Match) -> Value {
    let matched: Map<String, Value> = m
        .matched
        .iter()
        .map(|(field, regex)| (field.to_string(), json!(regex)))
        .collect();
    json!({
        "short-id": m.os.short_ids.first(),
        "name": m.os.name,
        "id": m.os.id,
        "version": m.os.version,
        "matched": matched,
        "fallback": m.fallback,
        "media": {
            "arch": m.media.arch,
            "live": m.media.live,
            "installer": m.media.installer,
            "variants": m.media.variants,
            "kernel": m.media.kernel,
            "initrd": m.media.initrd,
        },
    })
}

fn inspect(args: &InspectArgs, stdout: &mut dyn Write) -> Result<()> {
    let mut iso = open_iso(&args.iso)?;
    let Inspection { mut json, boots } = examine(&args.iso, &mut iso)?;
    let best = boots.first();
    for key in ["kernel", "initrd", "cmdline", "layout"] {
        let value = best.and_then(|b| match key {
            "kernel" => Some(b.kernel.clone()),
            "initrd" => Some(b.initrd.clone()),
            "cmdline" => b.cmdline.clone(),
            _ => Some(b.layout.clone()),
        });
        json.insert(key.into(), json!(value));
    }
    json.insert("boots".into(), json!(boots));
    let text = serde_json::to_string(&Value::Object(json)).expect("JSON values serialize");
    cli::write_out(stdout, &format!("{text}\n"))
}

/// A file name from the image that is safe to create in the target directory.
fn safe_basename(inside: &str) -> Option<&str> {
    let base = inside.rsplit('/').next()?;
    let ok = !base.is_empty()
        && !base.starts_with('.')
        && base.len() <= 128
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
    ok.then_some(base)
}

fn extract(args: &ExtractArgs, stdout: &mut dyn Write) -> Result<()> {
    let iso_source = args.iso.display().to_string();
    let mut iso = open_iso(&args.iso)?;
    let (kernel, initrd, cmdline) = match (&args.kernel, &args.initrd) {
        (Some(k), Some(i)) => {
            let menu = layout::menu_entries(&mut iso).map_err(|e| iso_error(&args.iso, e))?;
            let k = if k.starts_with('/') {
                k.clone()
            } else {
                format!("/{k}")
            };
            let cmdline = menu.into_iter().find(|m| m.kernel == k).map(|m| m.cmdline);
            (k, i.clone(), cmdline)
        }
        _ => {
            // Known layouts need no database (~0.2 s); osinfo only for the others.
            let mut boots = layout::find(&mut iso, None).map_err(|e| iso_error(&args.iso, e))?;
            if boots.is_empty() {
                let volume = iso.volume().clone();
                let (found, _) = identify(&volume)?;
                boots = layout::find(&mut iso, osinfo_paths(found.as_ref()))
                    .map_err(|e| iso_error(&args.iso, e))?;
            }
            let Some(best) = boots.into_iter().next() else {
                return Err(Error::input(
                    &iso_source,
                    "no kernel and initrd found (no known layout or boot menu entry); name them with --kernel and --initrd",
                ));
            };
            (best.kernel, best.initrd, best.cmdline)
        }
    };
    let mut sources = Vec::new();
    for inside in [&kernel, &initrd] {
        let entry = iso
            .lookup(inside)
            .map_err(|e| iso_error(&args.iso, e))?
            .filter(|e| e.kind == crate::media::iso9660::Kind::File)
            .ok_or_else(|| {
                Error::input(&iso_source, format!("{inside}: no such file in the image"))
            })?;
        let name = safe_basename(inside).ok_or_else(|| {
            Error::input(
                &iso_source,
                format!(
                    "{inside}: not a file name dom-media writes (letters, digits, . _ - + only)"
                ),
            )
        })?;
        sources.push((entry, name.to_string()));
    }
    if sources[0].1 == sources[1].1 {
        return Err(Error::input(
            &iso_source,
            format!("kernel and initrd are both named {}", sources[0].1),
        ));
    }
    let dir_source = args.dir.display().to_string();
    fs::create_dir_all(&args.dir).map_err(|e| Error::io(&dir_source, e))?;
    let dir = fs::canonicalize(&args.dir).map_err(|e| Error::io(&dir_source, e))?;
    let targets: Vec<PathBuf> = sources.iter().map(|(_, n)| dir.join(n)).collect();
    if !args.force {
        for t in &targets {
            if fs::symlink_metadata(t).is_ok() {
                return Err(Error::io(
                    &t.display().to_string(),
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "already exists (--force replaces it)",
                    ),
                ));
            }
        }
    }
    // Copy both to temporary names first, then put both in place: a failure half-way
    // leaves DIR as it was.
    let mut temps = Vec::new();
    let result = (|| {
        for ((entry, name), _) in sources.iter().zip(&targets) {
            let temp = dir.join(format!(".{name}.dom-media-{}", std::process::id()));
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(|e| Error::io(&temp.display().to_string(), e))?;
            temps.push(temp.clone());
            let mut out = io::BufWriter::with_capacity(1 << 20, &mut file);
            iso.copy_to(entry, &mut out).map_err(|e| match e {
                IsoError::Io(io_err) if io_err.kind() != io::ErrorKind::UnexpectedEof => {
                    Error::io(&temp.display().to_string(), io_err)
                }
                other => iso_error(&args.iso, other),
            })?;
            out.flush()
                .map_err(|e| Error::io(&temp.display().to_string(), e))?;
        }
        for (temp, target) in temps.iter().zip(&targets) {
            let shown = target.display().to_string();
            if args.force {
                fs::rename(temp, target).map_err(|e| Error::io(&shown, e))?;
            } else {
                // A hard link never replaces: a file that appeared meanwhile is kept.
                fs::hard_link(temp, target).map_err(|e| Error::io(&shown, e))?;
            }
        }
        Ok(())
    })();
    for temp in &temps {
        let _ = fs::remove_file(temp);
    }
    result?;

    let mut spec = Map::new();
    spec.insert("kernel".into(), json!(targets[0].display().to_string()));
    spec.insert("initrd".into(), json!(targets[1].display().to_string()));
    if let (false, Some(c)) = (args.no_cmdline, cmdline) {
        spec.insert("cmdline".into(), json!(c));
    }
    if !args.no_iso {
        let iso_path = fs::canonicalize(&args.iso).map_err(|e| Error::io(&iso_source, e))?;
        spec.insert(
            "install-disk".into(),
            json!([install_disk(&iso_path, "cdrom")?]),
        );
    }
    let text = serde_json::to_string(&Value::Object(spec)).expect("JSON values serialize");
    cli::write_out(stdout, &format!("{text}\n"))
}

/// An `--install-disk` value for `path`: domxml-gen splits options at commas, so a path
/// with one cannot be named there.
fn install_disk(path: &Path, device: &str) -> Result<String> {
    let text = path
        .to_str()
        .ok_or_else(|| Error::Usage(format!("{}: not a UTF-8 path", path.display())))?;
    if text.contains(',') {
        return Err(Error::Usage(format!(
            "{text}: domxml-gen's --install-disk cannot carry a path with a comma; rename it"
        )));
    }
    Ok(format!("{text},device={device}"))
}

/// Reads one seed input file, at most [`seed::MAX_FILE`] bytes.
fn read_seed_file(path: &Path, stdin: &mut dyn Read) -> Result<Vec<u8>> {
    let (source, mut reader): (String, Box<dyn Read + '_>) = if path == Path::new("-") {
        ("<stdin>".into(), Box::new(stdin))
    } else {
        let source = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(&source, e))?;
        (source, Box::new(file))
    };
    let mut data = Vec::new();
    (&mut reader)
        .take(seed::MAX_FILE + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io(&source, e))?;
    if data.len() as u64 > seed::MAX_FILE {
        return Err(Error::input(
            &source,
            format!(
                "larger than {} MiB: a seed carries configuration, not payloads",
                seed::MAX_FILE >> 20
            ),
        ));
    }
    Ok(data)
}

/// Checks a value that goes into generated YAML: plain characters only, so that no input
/// can add keys or documents.
fn plain_value(flag: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{flag} {value:?}: use letters, digits and . _ - : only"
        )))
    }
}

/// Seconds since the epoch for the image's timestamps: $SOURCE_DATE_EPOCH, else 0, so the
/// same inputs give the same image.
fn epoch() -> Result<i64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.trim().parse().map_err(|_| {
            Error::Usage(format!("SOURCE_DATE_EPOCH={text}: not a number of seconds"))
        }),
        Err(_) => Ok(0),
    }
}

fn make_seed(args: &SeedArgs, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    if let Some(id) = &args.instance_id {
        plain_value("--instance-id", id)?;
    }
    if let Some(h) = &args.hostname {
        plain_value("--hostname", h)?;
    }
    let stdin_users = [
        &args.user_data,
        &args.meta_data,
        &args.network_config,
        &args.vendor_data,
    ]
    .iter()
    .filter(|p| p.as_deref() == Some(Path::new("-")))
    .count();
    if stdin_users > 1 {
        return Err(Error::Usage(
            "only one seed file can come from stdin (-)".into(),
        ));
    }
    if args.output.is_none() && io::stdout().is_terminal() {
        return Err(Error::Usage(
            "refusing to write a disk image to a terminal: use -o FILE or redirect stdout".into(),
        ));
    }
    let mut read = |p: &Option<PathBuf>| -> Result<Option<Vec<u8>>> {
        p.as_deref().map(|p| read_seed_file(p, stdin)).transpose()
    };
    let files = seed::Files {
        user_data: read(&args.user_data)?,
        meta_data: read(&args.meta_data)?,
        network_config: read(&args.network_config)?,
        vendor_data: read(&args.vendor_data)?,
    };
    let contents = files.complete(args.instance_id.as_deref(), args.hostname.as_deref());
    let image =
        seed::build(&contents, args.format, epoch()?).map_err(|e| Error::io("<seed image>", e))?;
    let Some(output) = &args.output else {
        return stdout
            .write_all(&image)
            .map_err(|e| Error::io("<stdout>", e));
    };
    write_atomically(output, &image)?;
    let path = fs::canonicalize(output).map_err(|e| Error::io(&output.display().to_string(), e))?;
    let device = match args.format {
        Format::Iso => "cdrom",
        Format::Vfat => "disk",
    };
    let text = serde_json::to_string(&json!({ "install-disk": [install_disk(&path, device)?] }))
        .expect("JSON values serialize");
    cli::write_out(stdout, &format!("{text}\n"))
}

/// Writes `data` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let shown = path.display().to_string();
    let name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{shown}: not a file name")))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".{}.dom-media-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(|e| Error::io(&shown, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_basenames_are_written() {
        assert_eq!(safe_basename("/install.amd/vmlinuz"), Some("vmlinuz"));
        assert_eq!(
            safe_basename("/boot/initrd.img-6.1.0-18-amd64"),
            Some("initrd.img-6.1.0-18-amd64")
        );
        for bad in ["/x/..", "/x/.hidden", "/x/", "/x/a b", "/x/a\\b", "/x/ü"] {
            assert_eq!(safe_basename(bad), None, "{bad}");
        }
    }

    #[test]
    fn yaml_values_are_plain() {
        assert!(plain_value("--hostname", "vm1.example").is_ok());
        for bad in ["", "a\nb", "a: b", "x#y", "a b", "{}"] {
            assert!(plain_value("--hostname", bad).is_err(), "{bad:?}");
        }
    }
}
