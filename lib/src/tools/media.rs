//! `dom-media`: install media. Inspects install ISOs (volume identity, the osinfo OS they
//! match, the kernel and initrd inside), extracts kernel and initrd for direct-kernel
//! installs, adds files to initrds, and writes labelled images (answer files, cloud-init
//! NoCloud seeds). Talks to no libvirt.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};

use crate::cli;
use crate::error::{Error, Result};
use crate::media::image::{self, Format};
use crate::media::initrd;
use crate::media::iso9660::{Iso, IsoError, Volume};
use crate::media::layout::{self, Boot};
use crate::media::seed;
use crate::media::tree::{self, Tree};
use crate::media::{db_error, iso_error, media_ids, open_iso};
use crate::osinfo::{self, Db, DbError};

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-media inspect debian-12.5.0-amd64-netinst.iso\n  dom-media extract faicd.iso /var/lib/libvirt/boot/vm1 > media.json\n  dom-media extract http://deb.debian.org/debian/dists/bookworm/main/installer-amd64/ boot/\n  dom-media inject initrd.gz preseed.cfg -o initrd-preseed.gz\n  dom-media image --label OEMDRV ks.cfg -o vm1-oemdrv.iso\n  dom-media seed --user-data user-data.yaml --hostname vm1 -o vm1-seed.iso\n  domxml-gen --name vm1 --disk vm1.qcow2 --cdrom cloud.iso --install-disk vm1-seed.iso";

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
/// "cmdline", "install-disk"), so it can be a `domxml-gen --spec`; it also takes an
/// install tree (virt-install's --location: a directory or an http(s):// URL, Debian/Ubuntu
/// installer layout or .treeinfo) and checks the SHA-256 sums the tree publishes.
/// `inject` adds files to
/// a copy of an initrd (as virt-install's --initrd-inject: a preseed, a kickstart).
/// `image` writes files onto an ISO 9660 or FAT image under a volume label (Windows'
/// autounattend.xml on a second CD, RHEL's OEMDRV), and `seed` a cloud-init NoCloud seed
/// (label cidata): both to attach as install-only media.
///
/// ISO images and trees are read as untrusted data: damaged or hostile images, checksum
/// mismatches, oversized files, HTTP failures and redirects to another scheme are refused
/// with exit status 3, and nothing is written (never outside the target directory).
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
    /// Copy the kernel and initrd of an ISO or install tree into DIR; print them as
    /// domxml-gen spec JSON.
    Extract(ExtractArgs),
    /// Copy an initrd with files added (a newc cpio archive appended); print it as JSON.
    Inject(InjectArgs),
    /// Write files onto an ISO 9660 or FAT image with a volume label (install-only media).
    Image(ImageArgs),
    /// Write a cloud-init NoCloud seed image (label cidata).
    Seed(SeedArgs),
}

/// `dom-media inject`.
#[derive(Debug, clap::Args)]
pub struct InjectArgs {
    /// The initrd to copy (gzip, xz, zstd, bzip2, lz4, lzo, lzma or uncompressed cpio);
    /// never changed.
    #[arg(value_name = "INITRD")]
    pub initrd: PathBuf,
    /// A file to add, at PATH inside (default: its name at the root, /NAME). FILE=PATH
    /// splits at the last "=".
    #[arg(value_name = "FILE[=PATH]", required = true)]
    pub files: Vec<String>,
    /// Write the new initrd to OUT (through a temporary file renamed into place).
    #[arg(short, long, value_name = "OUT", required = true)]
    pub output: PathBuf,
    /// Replace an existing OUT.
    #[arg(long)]
    pub force: bool,
}

/// `dom-media image`.
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// The volume label: OEMDRV (RHEL kickstart), any label Windows setup is given
    /// (it searches every drive for autounattend.xml). ISO: up to 32 letters (case kept),
    /// digits, _ - .; FAT: up to 11 upper-case letters, digits, _ -.
    #[arg(long, value_name = "LABEL", required = true)]
    pub label: String,
    /// A file for the image's root directory, under NAME (default: its own name).
    /// FILE=NAME splits at the last "=".
    #[arg(value_name = "FILE[=NAME]", required = true)]
    pub files: Vec<String>,
    /// Filesystem: iso (Rock Ridge and Joliet names; a CD-ROM) or fat (a disk).
    #[arg(long, value_enum, default_value = "iso")]
    pub format: Format,
    /// Write the image to OUT (through a temporary file renamed into place) and print its
    /// domxml-gen spec JSON.
    #[arg(short, long, value_name = "OUT", required = true)]
    pub output: PathBuf,
    /// Replace an existing OUT.
    #[arg(long)]
    pub force: bool,
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
    /// The install ISO image, or an install tree: a directory or an http:// or https://
    /// URL holding a .treeinfo (Fedora, RHEL, CentOS, openSUSE) or Debian/Ubuntu's
    /// installer (.../dists/SUITE/main/installer-ARCH/). A tree's published SHA-256 sums
    /// are checked; a tree's kernel or initrd may hold at most 1 GiB, its .treeinfo or
    /// SHA256SUMS 1 MiB; redirects are followed only within a scheme or from http to
    /// https.
    #[arg(value_name = "ISO|DIR|URL")]
    pub iso: PathBuf,
    /// Directory to copy the kernel and initrd into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The kernel's path inside the ISO or tree, instead of the one inspect finds.
    #[arg(long, value_name = "PATH", requires = "initrd")]
    pub kernel: Option<String>,
    /// The initrd's path inside the ISO or tree, instead of the one inspect finds.
    #[arg(long, value_name = "PATH", requires = "kernel")]
    pub initrd: Option<String>,
    /// Replace files of the same names in DIR (never by following a symlink).
    #[arg(long)]
    pub force: bool,
    /// Leave out "install-disk" (the ISO itself as install-only CD-ROM, which most
    /// installers need to find their packages); a tree has none.
    #[arg(long)]
    pub no_iso: bool,
    /// Leave out "cmdline" (the ISO boot menu's command line for this kernel; for a
    /// .treeinfo tree over HTTP, inst.repo=URL, or install=URL for openSUSE).
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
    /// Filesystem of the image: iso (label cidata; a CD-ROM) or fat (label CIDATA; a disk).
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
        Command::Inject(a) => inject(&a, stdout),
        Command::Image(a) => make_image(&a, stdout),
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
    if tree::is_url(&iso_source) || args.iso.is_dir() {
        return extract_tree(args, &iso_source, stdout);
    }
    let mut iso = open_iso(&args.iso)?;
    let (kernel, initrd, cmdline) = match (&args.kernel, &args.initrd) {
        (Some(k), Some(i)) => {
            let menu = layout::menu_entries(&mut iso).map_err(|e| iso_error(&args.iso, e))?;
            let k = if k.starts_with('/') {
                k.clone()
            } else {
                format!("/{k}")
            };
            let i = if i.starts_with('/') {
                i.clone()
            } else {
                format!("/{i}")
            };
            let cmdline = layout::cmdline_for(&menu, &k, Some(&i));
            (k, i, cmdline)
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
    let names: Vec<String> = sources.iter().map(|(_, n)| n.clone()).collect();
    let targets = place_files(args, &names, &mut |index, out, temp| {
        iso.copy_to(&sources[index].0, out)
            .map(drop)
            .map_err(|e| match e {
                IsoError::Io(io_err) if io_err.kind() != io::ErrorKind::UnexpectedEof => {
                    Error::io(&temp.display().to_string(), io_err)
                }
                other => iso_error(&args.iso, other),
            })
    })?;

    let mut spec = boot_spec(args, &targets, cmdline);
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

/// Writes each of `names` into extract's DIR through `write` (given the file's index, its
/// writer and temporary path): all to temporary names first, then all put in place, so
/// that a failure half-way (a damaged image, a checksum mismatch) leaves DIR as it was.
/// Returns the targets.
fn place_files(
    args: &ExtractArgs,
    names: &[String],
    write: &mut dyn FnMut(usize, &mut dyn Write, &Path) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    if names[0] == names[1] {
        return Err(Error::input(
            &args.iso.display().to_string(),
            format!("kernel and initrd are both named {}", names[0]),
        ));
    }
    let dir_source = args.dir.display().to_string();
    fs::create_dir_all(&args.dir).map_err(|e| Error::io(&dir_source, e))?;
    let dir = fs::canonicalize(&args.dir).map_err(|e| Error::io(&dir_source, e))?;
    let targets: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    if !args.force {
        for t in &targets {
            refuse_existing(t)?;
        }
    }
    let mut temps = Vec::new();
    let result = (|| {
        for (index, name) in names.iter().enumerate() {
            let temp = dir.join(format!(".{name}.dom-media-{}", std::process::id()));
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(|e| Error::io(&temp.display().to_string(), e))?;
            temps.push(temp.clone());
            let mut out = io::BufWriter::with_capacity(1 << 20, &mut file);
            write(index, &mut out, &temp)?;
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
    result.map(|()| targets)
}

/// `extract` from an install tree (a directory or an http(s):// URL): the tree's kernel
/// and initrd, checked against the SHA-256 sums it publishes.
fn extract_tree(args: &ExtractArgs, location: &str, stdout: &mut dyn Write) -> Result<()> {
    let tree = Tree::open(location)?;
    let found = tree::find(&tree)?;
    let (paths, sha256, cmdline) = match (&args.kernel, &args.initrd, found) {
        (Some(k), Some(i), found) => {
            let sums = found.map(|f| f.sha256).unwrap_or_default();
            let relative = |p: &String| p.trim_start_matches('/').to_string();
            ([relative(k), relative(i)], sums, None)
        }
        (_, _, Some(f)) => ([f.kernel, f.initrd], f.sha256, f.cmdline),
        (_, _, None) => {
            return Err(Error::input(
                &tree.name(),
                "no install tree: no .treeinfo and no Debian/Ubuntu installer layout (current/images/netboot/); name the files with --kernel and --initrd",
            ));
        }
    };
    let mut names = Vec::new();
    for inside in &paths {
        let name = safe_basename(inside).ok_or_else(|| {
            Error::input(
                &tree.name(),
                format!(
                    "{inside}: not a file name dom-media writes (letters, digits, . _ - + only)"
                ),
            )
        })?;
        names.push(name.to_string());
    }
    let targets = place_files(args, &names, &mut |index, out, temp| {
        let inside = &paths[index];
        let shown = format!("{}{inside}", tree.shown_base());
        let (mut reader, length) = tree
            .open_file(inside)?
            .ok_or_else(|| Error::input(&shown, "not found in the tree"))?;
        if length.is_some_and(|l| l > tree::MAX_IMAGE) {
            return Err(tree::too_large(&shown, tree::MAX_IMAGE));
        }
        let mut hashing = Hashing {
            inner: out,
            hasher: sha2::Sha256::default(),
            written: 0,
        };
        copy_hashing(
            &mut reader,
            &mut hashing,
            tree::MAX_IMAGE,
            &mut |failure| match failure {
                Failure::Read(e) => tree::fetch_error(&shown, e),
                Failure::Write(e) => Error::io(&temp.display().to_string(), e),
                Failure::TooLarge => tree::too_large(&shown, tree::MAX_IMAGE),
            },
        )?;
        let got = hex_digest(hashing.hasher);
        match sha256.get(inside) {
            Some(want) if *want != got => Err(Error::input(
                &shown,
                format!("SHA-256 {got} does not match the tree's published {want}"),
            )),
            _ => Ok(()),
        }
    })?;
    let spec = boot_spec(args, &targets, cmdline);
    let text = serde_json::to_string(&Value::Object(spec)).expect("JSON values serialize");
    cli::write_out(stdout, &format!("{text}\n"))
}

/// extract's JSON for the kernel and initrd it wrote: domxml-gen's "kernel", "initrd"
/// and, unless --no-cmdline, "cmdline".
fn boot_spec(
    args: &ExtractArgs,
    targets: &[PathBuf],
    cmdline: Option<String>,
) -> Map<String, Value> {
    let mut spec = Map::new();
    spec.insert("kernel".into(), json!(targets[0].display().to_string()));
    spec.insert("initrd".into(), json!(targets[1].display().to_string()));
    if let (false, Some(c)) = (args.no_cmdline, cmdline) {
        spec.insert("cmdline".into(), json!(c));
    }
    spec
}

/// Why [`copy_hashing`] stopped.
enum Failure {
    Read(io::Error),
    Write(io::Error),
    TooLarge,
}

/// Copies `reader` through `out` in 1 MiB chunks, refusing more than `limit` bytes in
/// all; `error` says what a failure means for the caller.
fn copy_hashing(
    reader: &mut dyn Read,
    out: &mut Hashing<'_>,
    limit: u64,
    error: &mut dyn FnMut(Failure) -> Error,
) -> Result<()> {
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error(Failure::Read(e))),
        };
        if out.written.saturating_add(n as u64) > limit {
            return Err(error(Failure::TooLarge));
        }
        out.write_all(&chunk[..n])
            .map_err(|e| error(Failure::Write(e)))?;
    }
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

/// Refuses `path` when anything is there (a dangling symlink too).
fn refuse_existing(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(Error::io(
            &path.display().to_string(),
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists (--force replaces it)",
            ),
        ));
    }
    Ok(())
}

/// Reads one seed input file, at most [`seed::MAX_FILE`] bytes.
fn read_seed_file(path: &Path, stdin: &mut dyn Read) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        return read_bounded("<stdin>", stdin, seed::MAX_FILE, "a seed");
    }
    let source = path.display().to_string();
    let mut file = File::open(path).map_err(|e| Error::io(&source, e))?;
    read_bounded(&source, &mut file, seed::MAX_FILE, "a seed")
}

/// Reads `reader` to its end, refusing more than `limit` bytes: `what` carries
/// configuration, not payloads.
fn read_bounded(source: &str, reader: &mut dyn Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io(source, e))?;
    if data.len() as u64 > limit {
        return Err(Error::input(
            source,
            format!(
                "larger than {} MiB: {what} carries configuration, not payloads",
                limit >> 20
            ),
        ));
    }
    Ok(data)
}

/// One FILE[=NAME] argument: the file to read and the name it takes, split at the last
/// `=` (a file whose own name holds one is named FILE=NAME).
fn split_file_argument(argument: &str) -> (&str, Option<&str>) {
    match argument.rsplit_once('=') {
        Some((file, name)) if !file.is_empty() => (file, Some(name)),
        _ => (argument, None),
    }
}

/// A file given on the command line, read: its argument, its name inside, its permission
/// bits and contents. Only regular files (or what a symlink names) are read.
struct Given {
    argument: String,
    source: PathBuf,
    inside: String,
    mode: u32,
    data: Vec<u8>,
}

/// How names inside clash: an initrd's filesystem tells case, FAT and Windows do not.
#[derive(Clone, Copy)]
enum Names {
    Exact,
    IgnoringCase,
}

/// Checks every FILE[=NAME] argument's name with `check` (exit 3 on the first bad one or
/// the first clash), then reads the files, each at most `limit` bytes.
fn read_given(
    arguments: &[String],
    check: impl Fn(&str) -> std::result::Result<String, String>,
    names: Names,
    limit: u64,
    what: &str,
) -> Result<Vec<Given>> {
    let mut named = Vec::new();
    for argument in arguments {
        let (file, name) = split_file_argument(argument);
        let default_name;
        let name = match name {
            Some(n) => n,
            None => {
                default_name = Path::new(file)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                &default_name
            }
        };
        // A control character in the argument would break the one-line message.
        let shown = if argument.chars().any(char::is_control) {
            format!("{argument:?}")
        } else {
            argument.clone()
        };
        let inside = check(name).map_err(|why| Error::input(&shown, format!("{name:?}: {why}")))?;
        let same = |other: &str| match names {
            Names::Exact => other == inside,
            Names::IgnoringCase => other.eq_ignore_ascii_case(&inside),
        };
        if let Some(earlier) = named
            .iter()
            .find(|(_, _, other): &&(&String, &str, String)| same(other))
        {
            return Err(Error::input(
                &shown,
                format!("{inside:?} is also given by {}", earlier.0),
            ));
        }
        named.push((argument, file, inside));
    }
    let mut given = Vec::new();
    for (argument, file, inside) in named {
        let source = PathBuf::from(file);
        let (mut opened, meta) = open_regular(&source)?;
        let data = read_bounded(file, &mut opened, limit, what)?;
        given.push(Given {
            argument: argument.clone(),
            source,
            inside,
            mode: std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            data,
        });
    }
    Ok(given)
}

/// Opens a regular file (or what a symlink names) for reading, with its metadata.
///
/// # Errors
/// It cannot be opened, or is a directory, device or other special file (4).
fn open_regular(path: &Path) -> Result<(File, fs::Metadata)> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(&shown, e))?;
    let meta = file.metadata().map_err(|e| Error::io(&shown, e))?;
    if !meta.is_file() {
        return Err(Error::io(
            &shown,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    Ok((file, meta))
}

/// The lowercase hex SHA-256 of what a hasher saw.
fn hex_digest(hasher: sha2::Sha256) -> String {
    use sha2::Digest;
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A writer that hashes and counts what passes through it.
struct Hashing<'a> {
    inner: &'a mut dyn Write,
    hasher: sha2::Sha256,
    written: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn inject(args: &InjectArgs, stdout: &mut dyn Write) -> Result<()> {
    let initrd_source = args.initrd.display().to_string();
    // Every name is checked before any file is read or written.
    let given = read_given(
        &args.files,
        initrd::archive_path,
        Names::Exact,
        initrd::MAX_FILE,
        "an injected file",
    )?;
    for g in &given {
        // A file cannot also be a directory another file is put in.
        let as_directory = format!("{}/", g.inside);
        if let Some(other) = given.iter().find(|o| o.inside.starts_with(&as_directory)) {
            return Err(Error::input(
                &other.argument,
                format!(
                    "{:?} would be inside {:?}, a file ({})",
                    other.inside, g.inside, g.argument
                ),
            ));
        }
    }
    let (mut base, base_meta) = open_regular(&args.initrd)?;
    let mut head = [0u8; 8];
    let head_len = read_up_to(&mut base, &mut head).map_err(|e| Error::io(&initrd_source, e))?;
    let compression = initrd::compression(&head[..head_len]).ok_or_else(|| {
        Error::input(
            &initrd_source,
            "not an initrd: no gzip, xz, zstd, bzip2, lz4, lzo, lzma or cpio magic at its start",
        )
    })?;
    if let Ok(out_meta) = fs::metadata(&args.output) {
        use std::os::unix::fs::MetadataExt;
        if out_meta.dev() == base_meta.dev() && out_meta.ino() == base_meta.ino() {
            return Err(Error::Usage(format!(
                "{}: is the input initrd; inject never changes its input",
                args.output.display()
            )));
        }
    }
    if !args.force {
        refuse_existing(&args.output)?;
    }
    let entries: Vec<initrd::Entry<'_>> = given
        .iter()
        .map(|g| initrd::Entry {
            path: &g.inside,
            mode: g.mode,
            data: &g.data,
        })
        .collect();
    let mtime = u32::try_from(epoch()?.max(0)).unwrap_or(u32::MAX);
    let archive = initrd::newc(&entries, mtime);
    let out_source = args.output.display().to_string();
    let mut digest: Option<(String, u64)> = None;
    write_output(&args.output, args.force, &mut |file| {
        let written = |e| Error::io(&out_source, e);
        let mut hashing = Hashing {
            inner: file,
            hasher: sha2::Sha256::default(),
            written: 0,
        };
        base.seek(io::SeekFrom::Start(0))
            .map_err(|e| Error::io(&initrd_source, e))?;
        copy_hashing(
            &mut base,
            &mut hashing,
            u64::MAX,
            &mut |failure| match failure {
                Failure::Read(e) => Error::io(&initrd_source, e),
                Failure::Write(e) => written(e),
                Failure::TooLarge => unreachable!("no limit"),
            },
        )?;
        // Linux looks for the next archive's header at a multiple of 4 bytes from the
        // initrd's start, skipping zeros.
        let padding = vec![0u8; (hashing.written.next_multiple_of(4) - hashing.written) as usize];
        hashing.write_all(&padding).map_err(written)?;
        hashing.write_all(&archive).map_err(written)?;
        digest = Some((hex_digest(hashing.hasher), hashing.written));
        Ok(())
    })?;
    let (sha256, size) = digest.expect("write_output ran the writer");
    let output = fs::canonicalize(&args.output)
        .map_err(|e| Error::io(&args.output.display().to_string(), e))?;
    let base_path = fs::canonicalize(&args.initrd).map_err(|e| Error::io(&initrd_source, e))?;
    let files: Vec<Value> = given
        .iter()
        .map(|g| {
            json!({
                "path": format!("/{}", g.inside),
                "source": g.source.display().to_string(),
                "size": g.data.len(),
                "mode": format!("{:04o}", g.mode),
            })
        })
        .collect();
    let record = json!({
        "initrd": output.display().to_string(),
        "size": size,
        "sha256": sha256,
        "base": base_path.display().to_string(),
        "compression": compression,
        "files": files,
    });
    let text = serde_json::to_string(&record).expect("JSON values serialize");
    cli::write_out(stdout, &format!("{text}\n"))
}

/// Reads until `buf` is full or the end: the number of bytes read.
fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn make_image(args: &ImageArgs, stdout: &mut dyn Write) -> Result<()> {
    image::check_label(&args.label, args.format)
        .map_err(|why| Error::Usage(format!("--label {:?}: {why}", args.label)))?;
    let given = read_given(
        &args.files,
        |name| image::check_name(name).map(|()| name.to_string()),
        Names::IgnoringCase,
        image::MAX_TOTAL,
        "an install-media image",
    )?;
    let total: u64 = given.iter().map(|g| g.data.len() as u64).sum();
    if total > image::MAX_TOTAL {
        return Err(Error::Usage(format!(
            "the files add up to more than {} MiB: an install-media image carries configuration, not payloads",
            image::MAX_TOTAL >> 20
        )));
    }
    if !args.force {
        refuse_existing(&args.output)?;
    }
    let files: Vec<(&str, &[u8])> = given
        .iter()
        .map(|g| (g.inside.as_str(), g.data.as_slice()))
        .collect();
    let bytes = image::build(&args.label, &files, args.format, epoch()?)
        .map_err(|e| Error::io("<image>", e))?;
    write_output(&args.output, args.force, &mut |file| {
        file.write_all(&bytes)
            .map_err(|e| Error::io(&args.output.display().to_string(), e))
    })?;
    install_disk_record(&args.output, args.format, stdout)
}

/// Prints `{"install-disk": ["PATH,device=..."]}` for an image just written: a
/// `domxml-gen --spec` that attaches it as install-only media, so the final config
/// drops it.
fn install_disk_record(output: &Path, format: Format, stdout: &mut dyn Write) -> Result<()> {
    let path = fs::canonicalize(output).map_err(|e| Error::io(&output.display().to_string(), e))?;
    let text = serde_json::to_string(&json!({
        "install-disk": [install_disk(&path, format.device())?]
    }))
    .expect("JSON values serialize");
    cli::write_out(stdout, &format!("{text}\n"))
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
    write_output(output, true, &mut |file| {
        file.write_all(&image)
            .map_err(|e| Error::io(&output.display().to_string(), e))
    })?;
    install_disk_record(output, args.format, stdout)
}

/// Writes `path` through a temporary file beside it, filled by `fill` and synced, then
/// put in place: renamed over `path` with `replace`, else hard-linked, which never
/// replaces a file that appeared meanwhile. On failure nothing is left behind.
fn write_output(
    path: &Path,
    replace: bool,
    fill: &mut dyn FnMut(&mut File) -> Result<()>,
) -> Result<()> {
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
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| Error::io(&shown, e))?;
    let result = fill(&mut file).and_then(|()| {
        file.sync_all().map_err(|e| Error::io(&shown, e))?;
        if replace {
            fs::rename(&temp, path).map_err(|e| Error::io(&shown, e))
        } else {
            fs::hard_link(&temp, path).map_err(|e| Error::io(&shown, e))
        }
    });
    if result.is_err() || !replace {
        let _ = fs::remove_file(&temp);
    }
    result
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
