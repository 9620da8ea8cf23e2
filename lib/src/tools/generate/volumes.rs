//! `vol=POOL/NAME` with `-c`: looked up through the connection, never on this machine.
//! A kernel or initrd given as a volume becomes the volume's path on the host (libvirt
//! boots a kernel from a path only); every volume of `--disk`, `--cdrom` and
//! `--install-disk` must exist there, and a `--disk` volume without `format=` gets the
//! volume's format (libvirt reads a volume disk as raw unless its driver says otherwise).
//! Without `-c` nothing connects, and the volumes are written as they are
//! (`<disk type='volume'>`, which libvirt resolves at start; the format from the name).

use crate::error::Result;
use crate::libvirt::Conn;
use crate::storage::VolRef;
use crate::storage::volume;

use super::Args;

/// Looks the volumes `args` names up on the host of `-c`, turning kernel and initrd
/// volumes into host paths.
///
/// # Errors
/// Bad input for an unknown pool or volume (exit 3); connection and libvirt errors.
pub(super) fn resolve(args: &mut Args) -> Result<()> {
    let Some(uri) = args.connect.clone() else {
        return Ok(());
    };
    let first_field = |spec: &String| spec.split(',').next().unwrap_or_default().to_string();
    let mut named: Vec<(&str, String)> = Vec::new();
    named.extend(args.disk.iter().map(|s| ("--disk", first_field(s))));
    named.extend(
        args.media
            .install_disk
            .iter()
            .map(|s| ("--install-disk", first_field(s))),
    );
    named.extend(args.media.cdrom.iter().map(|s| ("--cdrom", s.clone())));
    named.extend(args.media.kernel.iter().map(|s| ("--kernel", s.clone())));
    named.extend(args.media.initrd.iter().map(|s| ("--initrd", s.clone())));
    named.retain(|(_, field)| field.starts_with("vol="));
    if named.is_empty() {
        return Ok(());
    }
    let conn = Conn::open(Some(&uri), true)?;
    for spec in &mut args.disk {
        let field = first_field(spec);
        let has_format = spec.split(',').any(|o| o.starts_with("format="));
        if let (Some(reference), false) = (field.strip_prefix("vol="), has_format) {
            let vol = volume::find(&conn, "--disk", &VolRef::parse("--disk", reference)?)?;
            if let Some(format) = volume::describe(&conn, &vol)?.format {
                spec.push_str(&format!(",format={format}"));
            }
        }
    }
    for (flag, field) in named {
        let r = VolRef::parse(flag, &field["vol=".len()..])?;
        let vol = volume::find(&conn, flag, &r)?;
        let slot = match flag {
            "--kernel" => &mut args.media.kernel,
            "--initrd" => &mut args.media.initrd,
            _ => continue,
        };
        *slot = Some(volume::describe(&conn, &vol)?.path);
    }
    Ok(())
}
