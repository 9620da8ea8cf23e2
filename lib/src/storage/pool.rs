//! Finding the pool a volume goes into: a named pool, or the default pool as virt-install
//! finds or makes it (virtinst/storage.py, `StoragePool.build_default_pool`): the pool
//! named `default`, else a directory pool `default` built, started and set to autostart
//! under the daemon's images directory. Inactive pools are started first, as virt-install's
//! `ensure_pool_is_running` does.

use virt::storage_pool::StoragePool;

use crate::error::{Error, Result};
use crate::libvirt::Conn;

/// The name libvirt's tools give the default pool.
pub const DEFAULT: &str = "default";

/// A running pool and its name.
#[derive(Debug)]
pub struct Pool {
    /// The pool's name.
    pub name: String,
    /// The libvirt pool.
    pub pool: StoragePool,
}

/// The pool named `name` (started if it was not running), or with `None` the default
/// pool, made if the host has none.
///
/// # Errors
/// Bad input for an unknown pool or a bad name, bad input when the default pool cannot be
/// placed (see [`default_dir`]), and mapped libvirt errors.
pub fn open(conn: &Conn, name: Option<&str>) -> Result<Pool> {
    let pool = match name {
        Some(name) => {
            super::check_name("--pool", name)?;
            lookup(conn, name)?
                .ok_or_else(|| Error::input(&conn.shown, format!("no storage pool '{name}'")))?
        }
        None => match lookup(conn, DEFAULT)? {
            Some(pool) => pool,
            None => build_default(conn)?,
        },
    };
    let err = |e: virt::error::Error| super::error(conn, &e);
    if !pool.is_active().map_err(err)? {
        pool.create(0).map_err(err)?;
    }
    Ok(Pool {
        name: pool.name().map_err(err)?,
        pool,
    })
}

/// The pool named `name`, if the host has one.
fn lookup(conn: &Conn, name: &str) -> Result<Option<StoragePool>> {
    match conn.connect.lookup_storage_pool_by_name(name) {
        Ok(pool) => Ok(Some(pool)),
        Err(e) if e.code().to_raw() == virt::sys::VIR_ERR_NO_STORAGE_POOL => Ok(None),
        Err(e) => Err(super::error(conn, &e)),
    }
}

/// Defines, builds, starts and autostarts the directory pool `default`.
fn build_default(conn: &Conn) -> Result<StoragePool> {
    let canonical = conn.connect.uri().map_err(|e| super::error(conn, &e))?;
    let dir = default_dir(&canonical, |k| std::env::var_os(k))
        .map_err(|why| Error::input(&conn.shown, why))?;
    let xml = format!(
        "<pool type='dir'><name>{DEFAULT}</name><target><path>{}</path></target></pool>",
        quick_xml::escape::escape(dir.as_str())
    );
    let err = |e: virt::error::Error| super::error(conn, &e);
    let pool = conn.connect.define_storage_pool_xml(&xml, 0).map_err(err)?;
    let made = pool
        .build(virt::sys::VIR_STORAGE_POOL_BUILD_NEW)
        .and_then(|()| pool.create(0))
        .and_then(|()| pool.set_autostart(true));
    if let Err(e) = made {
        // As virt-install does: a pool that cannot run is not left defined.
        let _ = pool.undefine();
        return Err(err(e));
    }
    Ok(pool)
}

/// The default pool's directory on the host of the connection whose canonical URI is
/// `uri`: `/var/lib/libvirt/images` for a privileged daemon (`/system`), as virt-install;
/// for a session daemon `$XDG_DATA_HOME/libvirt/images` of its user, known only when the
/// daemon is this user's own one (a local `/session` URI without `socket=`, which libvirt
/// starts with this process's environment). Any other session daemon's home cannot be
/// learnt through libvirt, and virt-install's guess (the client's home) would name a
/// directory of the client: refused with the command that makes a pool.
///
/// # Errors
/// Why no directory can be chosen, one line.
pub fn default_dir(
    uri: &str,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> std::result::Result<String, String> {
    let (scheme, rest) = uri.split_once("://").unwrap_or((uri, ""));
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    if path == "/system" {
        return Ok("/var/lib/libvirt/images".to_string());
    }
    let transport = scheme.split_once('+').map(|(_, t)| t);
    let own_daemon = authority.is_empty()
        && matches!(transport, None | Some("unix"))
        && !query.split('&').any(|p| p.starts_with("socket="));
    if path == "/session" && own_daemon {
        let data = env("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(".local/share")));
        if let Some(dir) = data.and_then(|d| d.join("libvirt/images").to_str().map(String::from)) {
            return Ok(dir);
        }
    }
    Err(format!(
        "the host has no storage pool '{DEFAULT}', and where this daemon keeps images cannot be known through libvirt: name a pool with --pool, or make one on the host (virsh pool-define-as {DEFAULT} dir --target DIR; virsh pool-build {DEFAULT}; virsh pool-start {DEFAULT})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_directory_is_the_hosts_never_the_clients() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/me".into()),
            _ => None,
        };
        assert_eq!(
            default_dir("qemu:///system", env).unwrap(),
            "/var/lib/libvirt/images"
        );
        assert_eq!(
            default_dir("qemu+ssh://root@host/system", env).unwrap(),
            "/var/lib/libvirt/images"
        );
        assert_eq!(
            default_dir("qemu:///session", env).unwrap(),
            "/home/me/.local/share/libvirt/images"
        );
        for other in [
            "qemu+ssh://me@host/session",
            "qemu+unix:///session?socket=/var/tmp/lab/sock",
            "qemu+tcp://host/session",
        ] {
            assert!(default_dir(other, env).is_err(), "{other}");
        }
    }
}
