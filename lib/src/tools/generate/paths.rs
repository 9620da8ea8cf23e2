//! Relative paths made absolute, as virt-install does (`os.path.abspath`): libvirt
//! resolves a relative path against the daemon's directory, or refuses it with an opaque
//! schema error, so domxml-gen never writes one. With `-c` naming another host, this
//! machine's directory means nothing there: a relative path is refused instead.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

use super::Args;

/// `args` with every file path absolute: `--disk`, `--install-disk`, `--cdrom`,
/// `--kernel`, `--initrd`, and the files of `--serial file=PATH` and `--serial pty,log=PATH`.
///
/// # Errors
/// A relative path while the current directory cannot be found (it was removed, say), or
/// a path that is not valid UTF-8 once joined to it.
pub(super) fn absolute(mut args: Args) -> Result<Args> {
    let mut base = Base {
        host: args
            .connect
            .as_deref()
            .filter(|u| names_another_host(u))
            .map(crate::libvirt::connect::strip_userinfo),
        ..Base::default()
    };
    for spec in &mut args.disk {
        *spec = first_field(&mut base, "--disk", spec)?;
    }
    for spec in &mut args.media.install_disk {
        *spec = first_field(&mut base, "--install-disk", spec)?;
    }
    for (flag, value) in [
        ("--cdrom", &mut args.media.cdrom),
        ("--kernel", &mut args.media.kernel),
        ("--initrd", &mut args.media.initrd),
    ] {
        if let Some(path) = value {
            *path = base.absolute(flag, path)?;
        }
    }
    for spec in &mut args.serial {
        *spec = serial_files(&mut base, spec)?;
    }
    Ok(args)
}

/// True when `uri` names a host (`qemu+ssh://host/system`, even `localhost`: over ssh it
/// may be another user's daemon), so that no path of this machine is the host's.
pub(super) fn names_another_host(uri: &str) -> bool {
    let Some((_, rest)) = uri.split_once("://") else {
        return false;
    };
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    !host.is_empty()
}

/// The current directory, looked up once and only when a path needs it; or, with `-c`
/// naming another host (`host`), none at all.
#[derive(Default)]
struct Base {
    cwd: Option<PathBuf>,
    host: Option<String>,
}

impl Base {
    /// `path` made absolute: joined to the current directory, `.` and `..` resolved by
    /// name (the file need not exist yet), as `os.path.abspath` does.
    fn absolute(&mut self, flag: &str, path: &str) -> Result<String> {
        if path.is_empty() || path.starts_with('/') || path.starts_with("vol=") {
            return Ok(path.to_string());
        }
        // virt-install's ways of making a disk: not a file named so.
        if let Some(key) = ["size=", "pool="].iter().find(|k| path.starts_with(**k)) {
            return Err(Error::Usage(format!(
                "{flag} '{path}': {key} makes a volume in virt-install; domxml-gen writes XML only: make it with dom-vol create and give vol=POOL/NAME"
            )));
        }
        if let Some(host) = &self.host {
            return Err(Error::Usage(format!(
                "{flag} '{path}': a relative path names a directory of this machine, and -c {host} names another host: give the host's absolute path, or vol=POOL/NAME (dom-vol uploads files)"
            )));
        }
        let cwd = match &self.cwd {
            Some(cwd) => cwd,
            None => {
                let cwd = std::env::current_dir().map_err(|e| {
                    Error::Usage(format!(
                        "{flag} '{path}': a relative path, and the current directory cannot be found ({e}): give an absolute path"
                    ))
                })?;
                self.cwd.insert(cwd)
            }
        };
        let joined = normalize(&cwd.join(path));
        joined.to_str().map(str::to_string).ok_or_else(|| {
            Error::Usage(format!(
                "{flag} '{path}': the current directory's name is not UTF-8: give an absolute path"
            ))
        })
    }
}

/// `..` and `.` removed by name.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `PATH[,OPT=VAL...]` with PATH made absolute.
fn first_field(base: &mut Base, flag: &str, spec: &str) -> Result<String> {
    let (path, rest) = match spec.split_once(',') {
        Some((path, rest)) => (path, Some(rest)),
        None => (spec, None),
    };
    let path = base.absolute(flag, path)?;
    Ok(match rest {
        Some(rest) => format!("{path},{rest}"),
        None => path,
    })
}

/// `--serial file=PATH` and `--serial pty,log=PATH` with PATH made absolute; other
/// values are left for the serial step to judge.
fn serial_files(base: &mut Base, spec: &str) -> Result<String> {
    let parts: Vec<String> = spec
        .split(',')
        .map(|part| match part.split_once('=') {
            Some((key @ ("file" | "log"), path)) => {
                Ok(format!("{key}={}", base.absolute("--serial", path)?))
            }
            _ => Ok(part.to_string()),
        })
        .collect::<Result<_>>()?;
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_hosts_uri_takes_no_relative_path() {
        for remote in [
            "qemu+ssh://host/system",
            "qemu+ssh://root@localhost/session?socket=/run/x",
            "qemu+tcp://10.0.0.1:16509/system",
        ] {
            assert!(names_another_host(remote), "{remote}");
            let mut base = Base {
                host: Some(remote.into()),
                ..Base::default()
            };
            let e = base.absolute("--kernel", "vmlinuz").unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("names another host"), "{e}");
            assert_eq!(
                base.absolute("--kernel", "/boot/vmlinuz").unwrap(),
                "/boot/vmlinuz"
            );
        }
        for local in [
            "qemu:///system",
            "qemu+unix:///session?socket=/x/sock",
            "test:///default",
        ] {
            assert!(!names_another_host(local), "{local}");
        }
        let mut base = Base::default();
        assert_eq!(
            first_field(&mut base, "--disk", "vol=default/vm1.qcow2,bus=virtio").unwrap(),
            "vol=default/vm1.qcow2,bus=virtio"
        );
        let e = first_field(&mut base, "--disk", "size=10,format=qcow2").unwrap_err();
        assert!(e.to_string().contains("dom-vol create"), "{e}");
    }

    #[test]
    fn relative_paths_are_joined_to_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        let cwd = cwd.to_str().unwrap();
        let mut base = Base::default();
        assert_eq!(
            base.absolute("--cdrom", "/iso/a.iso").unwrap(),
            "/iso/a.iso"
        );
        assert_eq!(
            base.absolute("--cdrom", "a.iso").unwrap(),
            format!("{cwd}/a.iso")
        );
        assert_eq!(
            base.absolute("--cdrom", "./x/../b.iso").unwrap(),
            format!("{cwd}/b.iso")
        );
        assert_eq!(
            first_field(&mut base, "--disk", "vm.img,bus=sata").unwrap(),
            format!("{cwd}/vm.img,bus=sata")
        );
        assert_eq!(
            serial_files(&mut base, "pty,log=vm.log").unwrap(),
            format!("pty,log={cwd}/vm.log")
        );
        assert_eq!(
            serial_files(&mut base, "file=/var/log/vm.log").unwrap(),
            "file=/var/log/vm.log"
        );
        assert_eq!(serial_files(&mut base, "tcp").unwrap(), "tcp");
    }
}
