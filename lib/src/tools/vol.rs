//! `dom-vol`: volumes on a libvirt host, through the connection: create (with a size,
//! format and backing volume), upload a local file (sparse), delete. One JSON record per
//! volume on stdout, which `domxml-gen --spec` reads.

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cli;
use crate::error::Result;
use crate::libvirt::Conn;
use crate::storage::upload::{self, Outcome};
use crate::storage::volume::{self, Format, Spec};
use crate::storage::{VolRecord, VolRef, check_name, parse_size, pool};

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-vol -c qemu+ssh://host/system create --name vm1.qcow2 --size 20GiB --format qcow2 --for disk\n  dom-vol -c qemu+ssh://host/system upload debian-12.iso --for cdrom\n  dom-vol create --name vm2.qcow2 --format qcow2 --backing default/cloud.qcow2 --for disk\n  dom-vol delete default/vmlinuz-vm1";

/// Storage volumes on a libvirt host: create, upload, delete.
///
/// Every path in the records is the host's, from libvirt: nothing of the client's file
/// system is taken as the host's, so the same commands work over qemu+ssh://. Without
/// --pool the pool is "default"; a host without one gets it as virt-install makes it (a
/// directory pool under /var/lib/libvirt/images for a /system daemon).
///
/// Idempotent: creating or uploading a volume that exists with the same spec prints its
/// record (action "exists"); a different spec is a conflict (exit 6), and nothing existing
/// is changed. A created volume is made by the daemon in one call. An upload is complete
/// only when its stamp says so: libvirt has no rename and no volume metadata, so the
/// empty volume NAME.dk-partial exists from before NAME is made until it is complete, and
/// NAME.dk-sha256-HEX records the SHA-256 of the file's content (its non-zero 64 KiB
/// blocks and their offsets, then its length) once the whole file was sent and the size
/// on the host checked. A run killed at any moment leaves the partial stamp, and the
/// next run uploads again; a volume without stamps was not uploaded by dom-vol and is
/// never taken to hold the file. Sparse files send only their data (holes and zero
/// blocks go as holes of a sparse stream); a terminal shows progress on stderr.
///
/// With --for, the record also says which domxml-gen setting the volume is for, and
/// `domxml-gen --spec -` reads such records (one per line) as that setting: kernel and
/// initrd as the host path, disk, cdrom and install-disk as vol=POOL/NAME.
#[derive(Debug, Parser)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// libvirt connection URI, as for virsh (e.g. qemu:///system, qemu+ssh://host/system)
    /// [default: $LIBVIRT_DEFAULT_URI, else libvirt's default].
    // Its own clap id: dom-vol names no domains, so it takes no `--complete-domains`
    // (complete.rs gives that flag to the tools whose argument id is "connect").
    #[arg(id = "host", short = 'c', long = "connect", value_name = "URI")]
    pub connect: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a volume (no-op when it exists with the same spec).
    Create(CreateArgs),
    /// Upload a local file into a volume, sending only its data.
    Upload(UploadArgs),
    /// Delete a volume and its upload stamps (no-op when it does not exist).
    Delete(DeleteArgs),
}

/// Which domxml-gen setting a volume is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum For {
    /// --kernel (the host path).
    Kernel,
    /// --initrd (the host path).
    Initrd,
    /// --disk vol=POOL/NAME.
    Disk,
    /// --cdrom vol=POOL/NAME.
    Cdrom,
    /// --install-disk vol=POOL/NAME,device=cdrom (a seed or the install ISO).
    InstallDisk,
}

impl For {
    fn word(self) -> &'static str {
        match self {
            For::Kernel => "kernel",
            For::Initrd => "initrd",
            For::Disk => "disk",
            For::Cdrom => "cdrom",
            For::InstallDisk => "install-disk",
        }
    }
}

/// The pool and the record's `for`, which create and upload share.
#[derive(Debug, clap::Args)]
pub struct Place {
    /// The pool [default: "default", made if the host has none].
    #[arg(long, value_name = "POOL")]
    pub pool: Option<String>,
    /// Name the domxml-gen setting this volume is for in the record.
    #[arg(long = "for", value_enum, value_name = "SETTING")]
    pub for_setting: Option<For>,
}

/// `dom-vol create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The volume's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Capacity: bytes, or with a unit (20GiB, 512M; K/M/G/T are powers of 1024, KB/MB/GB/TB
    /// of 1000) [default with --backing: the backing volume's].
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// Format [default: qcow2 with --backing, else raw].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// A qcow2 overlay on this volume (copy-on-write, as cloud images are used).
    #[arg(long, value_name = "POOL/NAME")]
    pub backing: Option<String>,
    /// Where it goes and what it is for.
    #[command(flatten)]
    pub place: Place,
}

/// `dom-vol upload`.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The local file (a regular file: an ISO, kernel, initrd, seed or disk image; a qcow2
    /// image keeps its format).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The volume's name [default: FILE's name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Where it goes and what it is for.
    #[command(flatten)]
    pub place: Place,
}

/// `dom-vol delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The volume, as POOL/NAME.
    #[arg(value_name = "POOL/NAME", required = true)]
    pub volumes: Vec<String>,
}

/// Runs `dom-vol`.
///
/// # Errors
/// Bad input (exit 3: names, sizes, unknown pool or backing volume, FILE not a regular
/// file), conflicts (exit 6), connection and libvirt errors.
pub fn run(args: Args, _stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    // Everything the user typed is checked before any connection is opened.
    match args.command {
        Command::Create(a) => {
            check_name("--name", &a.name)?;
            let capacity = a
                .size
                .as_deref()
                .map(|s| parse_size("--size", s))
                .transpose()?;
            let backing = a
                .backing
                .as_deref()
                .map(|b| VolRef::parse("--backing", b))
                .transpose()?;
            let format = a.format.unwrap_or(if backing.is_some() {
                Format::Qcow2
            } else {
                Format::Raw
            });
            if let Some(p) = &a.place.pool {
                check_name("--pool", p)?;
            }
            let spec = Spec {
                name: a.name.clone(),
                capacity,
                format,
                backing,
            };
            let conn = Conn::open(args.connect.as_deref(), false)?;
            let pool = pool::open(&conn, a.place.pool.as_deref())?;
            let (vol, made) = volume::create(&conn, &pool, &spec)?;
            let action = if made { "created" } else { "exists" };
            let rec = volume::record(&conn, &pool, &a.name, &vol, action)?;
            print(stdout, rec, a.place.for_setting)
        }
        Command::Upload(a) => {
            let src = upload::open_source(&a.file)?;
            let name = match &a.name {
                Some(n) => n.clone(),
                None => a
                    .file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string)
                    .unwrap_or_default(),
            };
            check_name("--name", &name)?;
            if let Some(p) = &a.place.pool {
                check_name("--pool", p)?;
            }
            let conn = Conn::open(args.connect.as_deref(), false)?;
            let pool = pool::open(&conn, a.place.pool.as_deref())?;
            let mut progress = cli::ProgressLine::new(cli::stderr_is_terminal());
            let (vol, outcome) = upload::upload(&conn, &pool, &name, &src, &mut progress)?;
            let action = match outcome {
                Outcome::Uploaded => "uploaded",
                Outcome::Exists => "exists",
            };
            let rec = volume::record(&conn, &pool, &name, &vol, action)?;
            print(stdout, rec, a.place.for_setting)
        }
        Command::Delete(a) => {
            let refs = a
                .volumes
                .iter()
                .map(|v| VolRef::parse("POOL/NAME", v))
                .collect::<Result<Vec<_>>>()?;
            let conn = Conn::open(args.connect.as_deref(), false)?;
            for r in refs {
                let pool = pool::open(&conn, Some(&r.pool))?;
                let rec = volume::delete(&conn, &pool, &r.name)?.unwrap_or_else(|| VolRecord {
                    pool: pool.name.clone(),
                    name: r.name.clone(),
                    key: None,
                    path: None,
                    capacity: None,
                    allocation: None,
                    format: None,
                    backing: None,
                    uri: conn.uri.clone(),
                    action: "already-absent".into(),
                    for_setting: None,
                });
                print(stdout, rec, None)?;
            }
            Ok(())
        }
    }
}

fn print(stdout: &mut dyn Write, mut rec: VolRecord, for_setting: Option<For>) -> Result<()> {
    rec.for_setting = for_setting.map(|f| f.word().to_string());
    cli::write_out(stdout, &rec.to_line())
}
