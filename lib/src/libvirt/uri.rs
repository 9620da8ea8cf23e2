//! Which connection URIs a JSON record may name. Records are data: a `uri` read from stdin
//! must not make libvirt run a program, read a local file or hand a string to another
//! driver. `-c URI` and `LIBVIRT_DEFAULT_URI` are the user's own and are not checked.
//!
//! The rule follows libvirt's URI documentation (docs/uri.rst and the remote driver's
//! transports): `driver[+transport]://[user@][host][:port]/path[?params]`.
//! - Drivers: the daemon-backed hypervisors (qemu, lxc, xen, libxl, bhyve, ch, vz,
//!   openvz). `test` only as `test:///default` (built in); `test:///PATH` reads PATH.
//!   Client-side drivers (esx, vpx, hyperv, ...) and embedded mode (`?root=`) are refused.
//! - Transports: none, `unix`, `tls`, `tcp`, `ssh`, `libssh`, `libssh2`. `ext` runs the
//!   program named by `command=` and is refused. `ssh` runs the system's ssh binary to the
//!   named host, as `-c qemu+ssh://...` does: the multi-host pipelines need it, and the
//!   host and user are checked so that neither can be read as an ssh option.
//! - Paths: `/system` or `/session` (and `/` for a remote host's default).
//! - Parameters: `mode` and `proxy` with their documented values, `no_tty`, `sshauth`
//!   (libssh/libssh2: a list of libvirt's method names), and `socket`: for `unix` an
//!   absolute path to a Unix socket that exists (a local libvirt daemon's socket is a
//!   connection, like a host name; it is never read as a file, and naming it keeps libvirt
//!   from starting a session daemon of its own); for the ssh transports an absolute path
//!   passed to the remote side. libvirt puts that path into the remote shell command
//!   (`nc -U SOCKET`) without quoting it, so it may hold only path characters that no
//!   shell reads as syntax. Everything else is refused: `command`, `netcat` (programs),
//!   `keyfile`, `known_hosts`, `pkipath` (local files: a record could make libvirt sign
//!   with a private key at a path it chooses for a host it chooses, or have libssh append
//!   to a known_hosts file it names), `no_verify` and `known_hosts_verify` (weaker host
//!   checks), `name` (passed through to the driver), and any unknown name (libvirt passes
//!   those through too). Keys and known hosts for a record's ssh URI come from where the
//!   user keeps them: `~/.ssh` (both transports; the `ssh` binary also reads
//!   `~/.ssh/config`), and for libssh/libssh2 `$XDG_CONFIG_HOME/libvirt/known_hosts`.
//! - No `%` escapes, no `#`, and `;` is a separator as libvirt treats it: a name cannot
//!   hide behind an encoding.

use std::path::Path;

/// Hypervisor drivers served by a libvirt daemon (local or remote).
const DRIVERS: &[&str] = &["qemu", "lxc", "xen", "libxl", "bhyve", "ch", "vz", "openvz"];
/// Transports that do not run a program chosen by the URI.
const TRANSPORTS: &[&str] = &["unix", "tls", "tcp", "ssh", "libssh", "libssh2"];
/// Transports over ssh.
const SSH: &[&str] = &["ssh", "libssh", "libssh2"];
/// Transports whose ssh client libvirt runs in-process, and which take `sshauth`.
const SSH_LIBRARIES: &[&str] = &["libssh", "libssh2"];
/// libvirt's names of the libssh/libssh2 authentication methods (`sshauth=a,b`).
const SSH_AUTH_METHODS: &[&str] = &["agent", "privkey", "password", "keyboard-interactive"];

/// Checks a URI taken from a record; `Err` says in one phrase why it is refused.
///
/// # Errors
/// The URI names a driver, transport, path or parameter outside the rule above.
pub fn check_record_uri(uri: &str) -> Result<(), String> {
    if uri == "test:///default" {
        return Ok(());
    }
    if let Some(c) = uri
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '%' | '#' | '\\'))
    {
        return Err(format!("character {c:?} is not allowed"));
    }
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or("not of the form driver[+transport]://...")?;
    let (driver, transport) = match scheme.split_once('+') {
        Some((d, t)) => (d, Some(t)),
        None => (scheme, None),
    };
    if driver == "test" {
        return Err("the test driver is allowed only as test:///default".into());
    }
    if !DRIVERS.contains(&driver) {
        return Err(format!("driver '{driver}' is not allowed"));
    }
    if let Some(t) = transport {
        if t == "ext" {
            return Err("transport 'ext' runs a local command".into());
        }
        if !TRANSPORTS.contains(&t) {
            return Err(format!("transport '{t}' is not allowed"));
        }
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    check_authority(authority, transport)?;
    let remote = !authority.is_empty();
    match path {
        "/system" | "/session" => {}
        "/" | "" if remote => {}
        other => return Err(format!("path '{other}' is not allowed")),
    }
    if transport == Some("unix") && remote {
        return Err("a unix transport names no host".into());
    }
    if let Some(query) = query {
        for param in query.split(['&', ';']).filter(|p| !p.is_empty()) {
            check_param(param, transport)?;
        }
    }
    Ok(())
}

/// `[user@]host[:port]`: names only, nothing an ssh command line could read as an option.
fn check_authority(authority: &str, transport: Option<&str>) -> Result<(), String> {
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if let Some(user) = user {
        let ok = !user.is_empty()
            && !user.starts_with('-')
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err("user name is not allowed".into());
        }
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
        if !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("host is not allowed".into());
        }
        (addr, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let host_ok = host.is_empty()
        || (!host.starts_with('-')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')));
    if !host_ok {
        return Err("host is not allowed".into());
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err("port is not a number".into());
    }
    if host.is_empty() && (user.is_some() || port.is_some()) {
        return Err("user or port without a host".into());
    }
    if host.is_empty() && transport.is_some_and(|t| SSH.contains(&t) || t == "tls" || t == "tcp") {
        return Err("a network transport needs a host".into());
    }
    Ok(())
}

/// One `name=value` query parameter.
fn check_param(param: &str, transport: Option<&str>) -> Result<(), String> {
    let (name, value) = param.split_once('=').unwrap_or((param, ""));
    let ssh = transport.is_some_and(|t| SSH.contains(&t));
    let refused = |why: &str| Err(format!("parameter '{name}' {why}"));
    match name {
        "mode" if matches!(value, "auto" | "direct" | "legacy") => Ok(()),
        "proxy" if ssh && matches!(value, "auto" | "native" | "netcat") => Ok(()),
        "no_tty" if ssh && matches!(value, "0" | "1") => Ok(()),
        "sshauth"
            if transport.is_some_and(|t| SSH_LIBRARIES.contains(&t))
                && value.split(',').all(|m| SSH_AUTH_METHODS.contains(&m)) =>
        {
            Ok(())
        }
        "socket" => check_socket(value, transport, ssh),
        "command" | "netcat" => refused("runs a program"),
        "keyfile" | "known_hosts" | "pkipath" => refused("names a local file"),
        "no_verify" | "known_hosts_verify" => refused("weakens host verification"),
        "name" => refused("is passed through to another driver"),
        "root" => refused("(embedded driver) uses a local directory"),
        _ => refused("is not allowed"),
    }
}

/// `socket=`: for `unix`, an existing Unix socket; for ssh, an absolute remote path.
fn check_socket(value: &str, transport: Option<&str>, ssh: bool) -> Result<(), String> {
    let plain = value.starts_with('/')
        && !value.split('/').any(|part| part == "..")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@'));
    if !plain {
        return Err("parameter 'socket' must be a plain absolute path".into());
    }
    if ssh {
        return Ok(());
    }
    if transport != Some("unix") {
        return Err("parameter 'socket' needs the unix or an ssh transport".into());
    }
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(Path::new(value)) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        _ => Err("parameter 'socket' does not name a Unix socket".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_multi_host_pipelines_need_is_allowed() {
        let sock = std::env::temp_dir().join(format!("domkit-uri-{}.sock", std::process::id()));
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let lab = format!("qemu+unix:///session?socket={}", sock.display());
        for uri in [
            "test:///default",
            "qemu:///system",
            "qemu:///session",
            "qemu+ssh://host/system",
            "qemu+ssh://root@host.example.com:2222/system?no_tty=1&mode=legacy",
            "qemu+libssh2://user@10.0.0.1/system?proxy=native",
            "qemu+ssh://host/session?socket=/run/user/1000/libvirt/virtqemud-sock",
            "qemu+tls://host/system",
            "qemu://host/system",
            "qemu+tcp://[fe80::1]:16509/system",
            "xen+ssh://host/",
            // tests/lab/remote.sh's plain-uri: key and known_hosts from HOME and
            // XDG_CONFIG_HOME, the daemon's socket through nc on the remote side.
            "qemu+libssh2://domkit-remote@127.0.0.1:40022/session?proxy=netcat\
             &socket=/var/tmp/dk-1-0/r/d/run/libvirt/libvirt-sock&sshauth=privkey",
            "qemu+libssh2://u@h/system?sshauth=agent,privkey",
            lab.as_str(),
        ] {
            assert_eq!(check_record_uri(uri), Ok(()), "{uri}");
        }
        std::fs::remove_file(sock).unwrap();
    }

    #[test]
    fn commands_files_and_passthrough_are_refused() {
        for (uri, why) in [
            (
                "qemu+ext:///system?command=/tmp/prog",
                "runs a local command",
            ),
            ("qemu+ssh://host/system?command=/tmp/prog", "runs a program"),
            ("qemu+ssh://host/system?netcat=/tmp/prog", "runs a program"),
            ("qemu+ssh://host/system?keyfile=/root/.ssh/id", "local file"),
            (
                "qemu+libssh://h/system?known_hosts=/etc/shadow",
                "local file",
            ),
            ("qemu+tls://host/system?pkipath=/etc", "local file"),
            ("qemu+tls://host/system?no_verify=1", "weakens"),
            ("qemu:///system?name=test:///etc/shadow", "passed through"),
            ("qemu:///embed?root=/tmp/x", "path '/embed'"),
            ("test:///etc/shadow", "test:///default"),
            ("test+unix:///default", "test:///default"),
            ("esx://host/?no_verify=1", "driver 'esx'"),
            ("qemu+ssh://-oProxyCommand=x/system", "host"),
            ("qemu+ssh://-lroot@host/system", "user"),
            ("qemu:///system?%6Eame=test:///etc/shadow", "'%'"),
            ("qemu:///system?mode=auto;name=x", "'name'"),
            ("qemu+unix:///system?socket=/etc/shadow", "Unix socket"),
            ("qemu+unix:///system?socket=/run/../etc/x", "plain absolute"),
            (
                "qemu+unix:///system?socket=/nonexistent/sock",
                "Unix socket",
            ),
            ("qemu:///system?bogus=1", "'bogus'"),
            ("QEMU+EXT:///system?command=/tmp/prog", "driver 'QEMU'"),
            ("hail", "driver[+transport]"),
            ("qemu+ssh:///system", "needs a host"),
            // tests/lab/remote.sh's uri: -c only, or LIBVIRT_DEFAULT_URI.
            (
                "qemu+libssh://u@127.0.0.1:40022/session?proxy=netcat&sshauth=privkey\
                 &keyfile=/var/tmp/r/client/.ssh/id_ed25519",
                "'keyfile' names a local file",
            ),
            ("qemu+libssh://h/system?known_hosts_verify=auto", "weakens"),
            ("qemu+ssh://h/system?sshauth=privkey", "'sshauth'"),
            ("qemu+libssh://h/system?sshauth=privkey,gssapi", "'sshauth'"),
            (
                "qemu+libssh://h/system?socket=/run/x|reboot",
                "plain absolute",
            ),
            (
                "qemu+libssh://h/system?socket=/run/$(reboot)",
                "plain absolute",
            ),
        ] {
            let err = check_record_uri(uri).unwrap_err();
            assert!(err.contains(why), "{uri}: {err}");
        }
    }
}
