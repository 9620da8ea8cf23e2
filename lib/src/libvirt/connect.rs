//! Opening libvirt connections the way virsh does (`-c URI`, `LIBVIRT_DEFAULT_URI`, libvirt's
//! default), looking domains up by name or UUID, and turning libvirt's errors into domkit's
//! one-line messages and exit statuses.

use std::sync::OnceLock;
use std::time::Duration;

use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

use crate::error::{Error, Result};

/// The connection flag every libvirt tool takes; flattened into each tool's `Args`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DomainArgs {
    /// libvirt connection URI, as for virsh (e.g. qemu:///system, qemu+ssh://host/system);
    /// without it, the `uri` of input records, else $LIBVIRT_DEFAULT_URI, else libvirt's
    /// default.
    #[arg(short = 'c', long = "connect", value_name = "URI")]
    pub connect: Option<String>,
}

static INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Prepares libvirt once per process: silences its own error printing (domkit prints one
/// line itself), registers the default event loop and runs it on a background thread.
/// Registration must precede the first `virConnectOpen`, or that connection never delivers
/// events or notices a dropped socket; hence every `Conn::open` calls this first.
///
/// # Errors
/// The event loop could not be registered or its thread not started.
pub fn init() -> Result<()> {
    let done = INIT.get_or_init(|| {
        virt::error::clear_error_callback();
        virt::event::event_register_default_impl().map_err(|e| one_line(e.message()))?;
        std::thread::Builder::new()
            .name("libvirt-events".into())
            .spawn(|| {
                loop {
                    if virt::event::event_run_default_impl().is_err() {
                        // Not expected; back off instead of spinning on a broken loop.
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    });
    done.clone()
        .map_err(|m| Error::Libvirt(format!("cannot start libvirt's event loop: {m}")))
}

/// Ends a libvirt tool with `code`: stdout flushed, then `_exit`, so that no C library's
/// destructor runs while libvirt's event-loop thread still works (libssh's crashes it;
/// see `events::exit_at_once`).
pub fn exit(code: i32) -> ! {
    let _ = std::io::Write::flush(&mut std::io::stdout());
    crate::libvirt::events::exit_at_once(code)
}

/// An open connection and how to name it: in messages (no userinfo at all) and in records
/// (no password, so the next tool of a pipeline can reconnect as the same user).
#[derive(Debug)]
pub struct Conn {
    /// The virt connection.
    pub connect: Connect,
    /// The URI for messages.
    pub shown: String,
    /// The URI for records.
    pub uri: String,
}

/// How libvirt failed, in domkit's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// VIR_ERR_NO_DOMAIN.
    NoDomain,
    /// Already running, or a name/UUID clash.
    Conflict,
    /// libvirt rejected the XML (parser, schema, bad value).
    BadInput,
    /// Cannot connect, or the connection broke.
    Connect,
    /// Anything else.
    Other,
}

/// Classifies a libvirt error by its (domain, code) and, where libvirt uses one generic code
/// for several situations (OPERATION_FAILED), by the wording of libvirt 9's messages.
pub fn classify(e: &virt::error::Error) -> Kind {
    let code = e.code().to_raw();
    let domain = e.domain().to_raw();
    let msg = e.message();
    let clash = msg.contains("already exists with uuid")
        || msg.contains("already defined with uuid")
        || msg.contains("is already active")
        || msg.contains("already running");
    match code {
        sys::VIR_ERR_NO_DOMAIN => Kind::NoDomain,
        // The test driver reports "already running" as an internal error.
        sys::VIR_ERR_OPERATION_INVALID
        | sys::VIR_ERR_OPERATION_FAILED
        | sys::VIR_ERR_DOM_EXIST
        | sys::VIR_ERR_INTERNAL_ERROR
            if clash =>
        {
            Kind::Conflict
        }
        sys::VIR_ERR_DOM_EXIST => Kind::Conflict,
        sys::VIR_ERR_XML_ERROR
        | sys::VIR_ERR_XML_DETAIL
        | sys::VIR_ERR_XML_INVALID_SCHEMA
        | sys::VIR_ERR_INVALID_ARG
        | sys::VIR_ERR_CONFIG_UNSUPPORTED => Kind::BadInput,
        sys::VIR_ERR_NO_CONNECT
        | sys::VIR_ERR_INVALID_CONN
        | sys::VIR_ERR_RPC
        | sys::VIR_ERR_AUTH_FAILED
        | sys::VIR_ERR_AUTH_CANCELLED
        | sys::VIR_ERR_AUTH_UNAVAILABLE => Kind::Connect,
        sys::VIR_ERR_SYSTEM_ERROR
            if domain == sys::VIR_FROM_RPC || domain == sys::VIR_FROM_REMOTE =>
        {
            Kind::Connect
        }
        _ => Kind::Other,
    }
}

/// libvirt's message on one line: multi-line parser errors (with their `^` marker lines)
/// are joined with `; `.
pub fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "(null)" && !l.chars().all(|c| c == '^' || c == '-'))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A libvirt XML rejection as bad input in `source`, at the line libvirt's parser names
/// (`(domain_definition):LINE: ...`) when it names one.
pub fn xml_error(source: &str, e: &virt::error::Error) -> Error {
    let msg = one_line(e.message());
    let located = msg.strip_prefix("(domain_definition):").and_then(|rest| {
        let (line, what) = rest.split_once(": ")?;
        Some((line.parse::<usize>().ok()?, what.to_string()))
    });
    match located {
        Some((line, what)) => Error::BadInput {
            location: crate::error::Location {
                source: source.to_string(),
                line_col: Some((line, 1)),
            },
            message: what,
        },
        None => Error::input(source, msg),
    }
}

/// Removes the userinfo (`user:password@`) from a URI's authority, for messages.
pub fn strip_userinfo(uri: &str) -> String {
    redact(uri, false)
}

/// Removes only the password from a URI's userinfo, for records.
pub fn strip_password(uri: &str) -> String {
    redact(uri, true)
}

fn redact(uri: &str, keep_user: bool) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let rest = &uri[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return uri.to_string();
    };
    let user = authority[..at].split(':').next().unwrap_or("");
    let kept = if keep_user && !user.is_empty() {
        format!("{user}@")
    } else {
        String::new()
    };
    format!(
        "{}://{}{}{}",
        &uri[..scheme_end],
        kept,
        &authority[at + 1..],
        &rest[authority_end..]
    )
}

impl Conn {
    /// Opens `uri` (None: libvirt's default, which honours `LIBVIRT_DEFAULT_URI`), read-only
    /// if asked, after `init`.
    ///
    /// # Errors
    /// `Error::Connect` when libvirt cannot be reached.
    pub fn open(uri: Option<&str>, readonly: bool) -> Result<Conn> {
        init()?;
        let opened = if readonly {
            Connect::open_read_only(uri)
        } else {
            Connect::open(uri)
        };
        let asked = uri.map_or_else(|| "default URI".to_string(), strip_userinfo);
        let connect = opened.map_err(|e| {
            Error::Connect(format!(
                "{asked}: cannot connect: {}",
                one_line(e.message())
            ))
        })?;
        // The canonical URI names the default connection ("qemu:///session"); a URI the user
        // gave is kept as written so records carry its query (e.g. ?socket=) unchanged.
        let full = match uri {
            Some(u) => u.to_string(),
            None => connect.uri().unwrap_or_default(),
        };
        Ok(Conn {
            shown: strip_userinfo(&full),
            uri: strip_password(&full),
            connect,
        })
    }

    /// Maps a libvirt error to domkit's error, naming this connection and, when known,
    /// the domain (`subject`: the name or UUID the user gave).
    pub fn error(&self, e: &virt::error::Error, subject: Option<&str>) -> Error {
        let msg = one_line(e.message());
        let at = &self.shown;
        match (classify(e), subject) {
            (Kind::NoDomain, Some(s)) => Error::NoDomain(format!("{at}: domain '{s}' not found")),
            (Kind::NoDomain, None) => Error::NoDomain(format!("{at}: {msg}")),
            (Kind::Conflict, _) => Error::Conflict(format!("{at}: {}", conflict_text(&msg))),
            (Kind::BadInput, _) => Error::Invalid(format!("{at}: {msg}")),
            (Kind::Connect, _) => Error::Connect(format!("{at}: connection failed: {msg}")),
            (Kind::Other, _) => Error::Libvirt(format!("{at}: {msg}")),
        }
    }

    /// Looks a domain up by UUID (when `key` is one) or else by name.
    ///
    /// # Errors
    /// `Error::NoDomain` naming `key`, or the mapped libvirt error.
    pub fn lookup(&self, key: &str) -> Result<Domain> {
        if uuid::Uuid::parse_str(key).is_ok() {
            match self.connect.lookup_domain_by_uuid_string(key) {
                Ok(dom) => return Ok(dom),
                Err(e) if classify(&e) == Kind::NoDomain => {}
                Err(e) => return Err(self.error(&e, Some(key))),
            }
        }
        self.connect
            .lookup_domain_by_name(key)
            .map_err(|e| self.error(&e, Some(key)))
    }
}

/// The connections of one tool run, opened on first use: `-c URI` for everything when
/// given, else each record's own `uri`, else libvirt's default (which honours
/// `LIBVIRT_DEFAULT_URI`): a record names the daemon that made it, so it beats the
/// environment.
#[derive(Debug, Default)]
pub struct Conns {
    explicit: Option<String>,
    readonly: bool,
    open: Vec<(Option<String>, Conn)>,
}

impl Conns {
    /// No connection opened yet.
    pub fn new(explicit: Option<String>, readonly: bool) -> Conns {
        Conns {
            explicit,
            readonly,
            open: Vec::new(),
        }
    }

    /// The index of the connection for a target whose record named `record_uri`.
    ///
    /// # Errors
    /// `Error::Connect` when it cannot be opened.
    pub fn index(&mut self, record_uri: Option<&str>) -> Result<usize> {
        let uri = self
            .explicit
            .clone()
            .or_else(|| record_uri.map(str::to_string));
        if let Some(i) = self.open.iter().position(|(u, _)| *u == uri) {
            return Ok(i);
        }
        let conn = Conn::open(uri.as_deref(), self.readonly)?;
        self.open.push((uri, conn));
        Ok(self.open.len() - 1)
    }

    /// The connection for a target whose record named `record_uri`.
    ///
    /// # Errors
    /// `Error::Connect` when it cannot be opened.
    pub fn get(&mut self, record_uri: Option<&str>) -> Result<&Conn> {
        let i = self.index(record_uri)?;
        Ok(&self.open[i].1)
    }
}

/// libvirt's conflict messages without their generic prefix ("operation failed: ",
/// "Requested operation is not valid: "), which says nothing the exit status does not.
fn conflict_text(msg: &str) -> String {
    let text = ["Requested operation is not valid: ", "operation failed: "]
        .iter()
        .find_map(|p| msg.strip_prefix(p))
        .unwrap_or(msg);
    let text = text.strip_prefix("internal error: ").unwrap_or(text);
    text.replace("is already active", "is already running")
        .replace("Domain '", "domain '")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_stripped_from_messages_and_password_from_records() {
        let uri = "qemu+ssh://root:s3cret@host:22/system?keyfile=/k";
        assert_eq!(strip_userinfo(uri), "qemu+ssh://host:22/system?keyfile=/k");
        assert_eq!(
            strip_password(uri),
            "qemu+ssh://root@host:22/system?keyfile=/k"
        );
        assert_eq!(strip_userinfo("qemu:///system"), "qemu:///system");
        assert_eq!(
            strip_userinfo("qemu+unix:///session?socket=/a@b/sock"),
            "qemu+unix:///session?socket=/a@b/sock"
        );
    }

    #[test]
    fn multi_line_parser_errors_become_one_line() {
        let msg = "(domain_definition):2: Premature end of data in tag name line 1\n(null)\n^";
        assert_eq!(
            one_line(msg),
            "(domain_definition):2: Premature end of data in tag name line 1"
        );
    }

    #[test]
    fn open_failure_is_a_connect_error_without_password() {
        let err = Conn::open(
            Some("qemu+unix://u:pw@/session?socket=/nonexistent/sock"),
            false,
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::CONNECT);
        let text = err.to_string();
        assert!(!text.contains("pw"), "{text}");
        assert!(text.contains("cannot connect"), "{text}");
    }

    #[test]
    fn libvirt_errors_map_to_exit_statuses() {
        let conn = Conn::open(Some("test:///default"), false).unwrap();
        let err = conn.lookup("no-such-domain").unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::NO_DOMAIN);
        assert_eq!(
            err.to_string(),
            "test:///default: domain 'no-such-domain' not found"
        );

        let bad = conn
            .connect
            .define_domain_xml("<domain><name>x")
            .unwrap_err();
        assert_eq!(
            conn.error(&bad, None).exit_code(),
            crate::error::exit::BAD_INPUT
        );

        // "test" is the test driver's stock running domain.
        let running = conn.lookup("test").unwrap();
        let again = running.create().unwrap_err();
        let mapped = conn.error(&again, Some("test"));
        assert_eq!(mapped.exit_code(), crate::error::exit::CONFLICT, "{mapped}");
    }
}
