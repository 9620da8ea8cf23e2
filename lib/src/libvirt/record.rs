//! The JSON records the libvirt tools print, one per line, and read back on stdin, so that
//! `dom-define < vm.xml | dom-create | dom-wait-shutdown` composes; plus libvirt's state and
//! reason numbers as the lowercase words the records use.

use std::io::BufRead;

use serde::{Deserialize, Serialize};
use virt::domain::Domain;

use crate::cli::Lines;
use crate::error::{Error, Location, Result};
use crate::libvirt::connect::{Conn, strip_password, strip_userinfo};
use crate::libvirt::{events, uri};

/// One domain, as a tool leaves it: printed as one JSON object per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Domain name.
    pub name: String,
    /// Domain UUID, lowercase and hyphenated.
    pub uuid: String,
    /// Hypervisor ID while the domain runs; absent when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// State word: nostate, running, blocked, paused, shutdown, shutoff, crashed, pmsuspended.
    pub state: String,
    /// Why it is in that state, as a lowercase word (booted, shutdown, destroyed, ...).
    pub reason: String,
    /// Whether libvirt keeps a persistent config for it.
    pub persistent: bool,
    /// The connection URI (without password), for the next tool of a pipeline.
    pub uri: String,
    /// What the tool did: defined, redefined, defined-next-boot, created-one-off,
    /// created-transient, started, stopped, already-stopped.
    pub action: String,
    /// dom-wait-shutdown: milliseconds it waited for this domain (from when its record
    /// arrived, for a domain given by a record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<u64>,
}

impl Record {
    /// The record of a live domain as it is now.
    ///
    /// # Errors
    /// The mapped libvirt error when the domain cannot be queried.
    pub fn of(conn: &Conn, dom: &Domain, action: &str) -> Result<Record> {
        let err = |e: virt::error::Error| conn.error(&e, None);
        let (state, reason) = events::domain_state(dom).map_err(err)?;
        Ok(Record {
            name: dom.name().map_err(err)?,
            uuid: dom.uuid_string().map_err(err)?,
            id: dom.id(),
            state: state_word(state).to_string(),
            reason: reason_word(state, reason).to_string(),
            persistent: dom.is_persistent().map_err(err)?,
            uri: conn.uri.clone(),
            action: action.to_string(),
            waited_ms: None,
        })
    }

    /// The record as one line of JSON, with its newline.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a record always serializes");
        line.push('\n');
        line
    }
}

/// libvirt's `virDomainState` as a word.
pub fn state_word(state: i32) -> &'static str {
    match state {
        1 => "running",
        2 => "blocked",
        3 => "paused",
        4 => "shutdown",
        5 => "shutoff",
        6 => "crashed",
        7 => "pmsuspended",
        _ => "nostate",
    }
}

/// libvirt's state reason (its meaning depends on the state) as a word, `unknown` for
/// numbers newer than this code.
pub fn reason_word(state: i32, reason: i32) -> &'static str {
    let words: &[&str] = match state {
        1 => &[
            "unknown",
            "booted",
            "migrated",
            "restored",
            "from-snapshot",
            "unpaused",
            "migration-canceled",
            "save-canceled",
            "wakeup",
            "crashed",
            "postcopy",
            "postcopy-failed",
        ],
        3 => &[
            "unknown",
            "user",
            "migration",
            "save",
            "dump",
            "ioerror",
            "watchdog",
            "from-snapshot",
            "shutting-down",
            "snapshot",
            "crashed",
            "starting-up",
            "postcopy",
            "postcopy-failed",
            "api-error",
        ],
        4 => &["unknown", "user"],
        5 => &[
            "unknown",
            "shutdown",
            "destroyed",
            "crashed",
            "migrated",
            "saved",
            "failed",
            "from-snapshot",
            "daemon",
        ],
        6 => &["unknown", "panicked"],
        _ => &["unknown"],
    };
    usize::try_from(reason)
        .ok()
        .and_then(|i| words.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// The detail of a STOPPED lifecycle event (`virDomainEventStoppedDetailType`) as the same
/// word the shutoff state reason uses.
pub fn stopped_word(detail: i32) -> &'static str {
    match detail {
        0 => "shutdown",
        1 => "destroyed",
        2 => "crashed",
        3 => "migrated",
        4 => "saved",
        5 => "failed",
        6 => "from-snapshot",
        _ => "unknown",
    }
}

/// A domain named on the command line or by an input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What to look it up by: the UUID when known, else the name.
    pub key: String,
    /// The name, for messages, when known.
    pub name: Option<String>,
    /// The record's URI, used when no `-c` is given.
    pub uri: Option<String>,
    /// The record's `persistent`, when it came from a record.
    pub persistent: Option<bool>,
    /// The record's `action`, when it came from a record.
    pub action: Option<String>,
}

impl Target {
    /// A NAME or UUID command-line argument.
    pub fn arg(key: &str) -> Target {
        Target {
            key: key.to_string(),
            name: None,
            uri: None,
            persistent: None,
            action: None,
        }
    }

    /// How to name it in messages.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.key)
    }
}

/// Longest record line read: a record is a few hundred bytes, and a longer line is
/// refused rather than held in memory.
pub const LINE_MAX: usize = 64 * 1024;

/// Where records come from, in messages.
const STDIN: &str = "<stdin>";

/// Records read one line at a time, as the previous tool of a pipeline prints them, so each
/// is acted on before the next arrives; blank lines are skipped. Each needs a `uuid` or a
/// `name` string. A record's `uri` must pass the record URI rule (`uri::check_record_uri`)
/// unless it is the user's own `LIBVIRT_DEFAULT_URI`; with `-c` (`uri_override`) records'
/// URIs are not used, so not checked either.
#[derive(Debug)]
pub struct Records<R> {
    lines: Lines<R>,
    uri_override: bool,
}

impl<R: BufRead> Records<R> {
    /// Records on `input` (stdin), each line at most [`LINE_MAX`] bytes.
    pub fn new(input: R, uri_override: bool) -> Records<R> {
        Records {
            lines: Lines::new(input, STDIN, LINE_MAX),
            uri_override,
        }
    }

    /// The next record's target, or `None` at the end of the input; blocks until a whole
    /// line has arrived.
    ///
    /// # Errors
    /// I/O errors, and bad input at `<stdin>:LINE:COLUMN` for a line that is too long,
    /// not such an object, or whose `uri` the rule refuses.
    pub fn next_target(&mut self) -> Result<Option<Target>> {
        loop {
            let Some((number, line)) = self.lines.next_line()? else {
                return Ok(None);
            };
            if line.trim().is_empty() {
                continue;
            }
            let at = Location {
                source: STDIN.to_string(),
                line_col: Some((number, 1)),
            };
            return parse_record(line, at, self.uri_override).map(Some);
        }
    }
}

/// One record line as a target; `line_at` is the line's location.
fn parse_record(line: &str, line_at: Location, uri_override: bool) -> Result<Target> {
    let at = |col: usize, message: String| Error::BadInput {
        location: Location {
            line_col: line_at.line_col.map(|(l, _)| (l, col)),
            ..line_at.clone()
        },
        message,
    };
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        at(
            e.column().max(1),
            format!("not a JSON record: {}", json_reason(&e)),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(at(1, "not a JSON record: expected an object".into()));
    };
    let text = |k: &str| object.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (uuid, name) = (text("uuid"), text("name"));
    let Some(key) = uuid.or_else(|| name.clone()) else {
        return Err(at(1, "record has neither \"uuid\" nor \"name\"".into()));
    };
    let uri = if uri_override { None } else { text("uri") };
    if let Some(uri) = &uri
        && !users_own_uri(uri)
        && let Err(why) = uri::check_record_uri(uri)
    {
        let shown: String = strip_userinfo(uri).escape_debug().collect();
        return Err(at(
            1,
            format!(
                "record uri '{shown}' refused: {why} (records may not choose such a connection; use -c URI)"
            ),
        ));
    }
    Ok(Target {
        key,
        name,
        uri,
        persistent: object.get("persistent").and_then(|v| v.as_bool()),
        action: text("action"),
    })
}

/// Whether `uri` is the user's own default connection, as a record made from it names it.
fn users_own_uri(uri: &str) -> bool {
    std::env::var("LIBVIRT_DEFAULT_URI")
        .is_ok_and(|own| !own.is_empty() && (uri == own || uri == strip_password(&own)))
}

/// serde_json's message without its " at line L column C" tail: the location is ours.
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `text`, or the first error.
    fn parse_records(text: &str, uri_override: bool) -> Result<Vec<Target>> {
        let mut records = Records::new(text.as_bytes(), uri_override);
        let mut targets = Vec::new();
        while let Some(target) = records.next_target()? {
            targets.push(target);
        }
        Ok(targets)
    }

    #[test]
    fn record_json_shape() {
        let mut r = Record {
            name: "vm1".into(),
            uuid: "c7a5fdbd-edaf-9455-926a-d65c16db1809".into(),
            id: Some(3),
            state: "running".into(),
            reason: "booted".into(),
            persistent: true,
            uri: "qemu:///session".into(),
            action: "started".into(),
            waited_ms: None,
        };
        assert_eq!(
            r.to_line(),
            "{\"name\":\"vm1\",\"uuid\":\"c7a5fdbd-edaf-9455-926a-d65c16db1809\",\"id\":3,\
             \"state\":\"running\",\"reason\":\"booted\",\"persistent\":true,\
             \"uri\":\"qemu:///session\",\"action\":\"started\"}\n"
        );
        r.id = None;
        r.waited_ms = Some(12);
        let line = r.to_line();
        assert!(!line.contains("\"id\""), "{line}");
        assert!(line.ends_with(",\"waited_ms\":12}\n"), "{line}");
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn words_for_states_reasons_and_stop_details() {
        assert_eq!(state_word(5), "shutoff");
        assert_eq!(reason_word(5, 1), "shutdown");
        assert_eq!(reason_word(5, 2), "destroyed");
        assert_eq!(reason_word(5, 7), "from-snapshot");
        assert_eq!(reason_word(1, 1), "booted");
        assert_eq!(reason_word(5, 99), "unknown");
        assert_eq!(reason_word(5, -1), "unknown");
        assert_eq!(stopped_word(5), "failed");
        // The stop detail and the shutoff reason must agree word for word.
        for detail in 0..7 {
            assert_eq!(stopped_word(detail), reason_word(5, detail + 1));
        }
    }

    #[test]
    fn records_are_read_by_uuid_then_name_and_blank_lines_skipped() {
        let text = "\n{\"name\":\"a\",\"uuid\":\"u1\",\"uri\":\"test:///default\"}\n  \n{\"name\":\"b\"}\n";
        let targets = parse_records(text, false).unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].key, "u1");
        assert_eq!(targets[0].label(), "a");
        assert_eq!(targets[0].uri.as_deref(), Some("test:///default"));
        assert_eq!(targets[1].key, "b");
    }

    #[test]
    fn bad_json_is_bad_input_with_its_line_number() {
        let err = parse_records("{\"name\":\"a\"}\n\n{\"name\": }\n", false).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
        assert!(err.to_string().starts_with("<stdin>:3:"), "{err}");
        let err = parse_records("[1]\n", false).unwrap_err();
        assert!(err.to_string().contains("expected an object"), "{err}");
        let err = parse_records("{\"id\":1}\n", false).unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
    }

    #[test]
    fn an_over_long_line_is_refused_with_its_line_number() {
        let long = format!(
            "{{\"name\":\"a\"}}\n{{\"name\":\"{}\"}}\n",
            "x".repeat(LINE_MAX)
        );
        let err = parse_records(&long, false).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
        assert_eq!(
            err.to_string(),
            format!(
                "<stdin>:2:{}: line longer than {LINE_MAX} bytes",
                LINE_MAX + 1
            )
        );
        // Exactly LINE_MAX bytes is a line; CRLF line ends are read as LF.
        let name = "y".repeat(LINE_MAX - "{\"name\":\"\"}".len());
        let fits = format!("{{\"name\":\"{name}\"}}\n{{\"name\":\"z\"}}\r\n");
        let targets = parse_records(&fits, false).unwrap();
        assert_eq!(
            (targets[0].key.as_str(), targets[1].key.as_str()),
            (name.as_str(), "z")
        );
        let mut records = Records::new(&b"\n{\"name\":\"\xff\"}\n"[..], false);
        let err = records.next_target().unwrap_err();
        assert_eq!(err.to_string(), "<stdin>:2:10: input is not UTF-8 text");
    }

    /// A reader that gives one line and fails the test if it is read again.
    struct OneLine(Option<&'static [u8]>);

    impl std::io::Read for OneLine {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let line = self
                .0
                .take()
                .expect("read past the first line before returning it");
            buf[..line.len()].copy_from_slice(line);
            Ok(line.len())
        }
    }

    #[test]
    fn a_record_is_returned_as_soon_as_its_line_is_complete() {
        let input = std::io::BufReader::new(OneLine(Some(b"{\"name\":\"first\"}\n")));
        let mut records = Records::new(input, false);
        assert_eq!(records.next_target().unwrap().unwrap().key, "first");
    }
}
