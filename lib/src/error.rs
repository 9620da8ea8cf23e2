//! The one error type of every domkit tool, and the exit status each kind of failure maps to.

use std::borrow::Cow;
use std::fmt;

/// Exit statuses shared by all tools; every man page's EXIT STATUS section lists them.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// `--check`: the document would change (like diff(1)).
    pub const WOULD_CHANGE: i32 = 1;
    /// Usage error: unknown flag, bad flag value, missing argument.
    pub const USAGE: i32 = 2;
    /// Bad input: malformed XML or JSON, not a domain, rejected by libvirt's schema.
    pub const BAD_INPUT: i32 = 3;
    /// A file could not be read or written.
    pub const IO: i32 = 4;
    /// No such domain.
    pub const NO_DOMAIN: i32 = 5;
    /// Conflict: the domain is already running, or its name or UUID clashes.
    pub const CONFLICT: i32 = 6;
    /// Cannot connect to libvirt, or the connection was lost.
    pub const CONNECT: i32 = 7;
    /// `--timeout` ran out.
    pub const TIMEOUT: i32 = 8;
    /// The guest stopped, but not by a clean shutdown (destroyed, crashed, failed, ...).
    pub const ABNORMAL_STOP: i32 = 9;
    /// Any other libvirt failure.
    pub const LIBVIRT: i32 = 10;
    /// The guest stalled: no disk or network activity for `--idle-timeout`.
    pub const STALLED: i32 = 11;

    /// The EXIT STATUS table, as (status, meaning) rows, for `--help` and man pages.
    pub const TABLE: &[(i32, &str)] = &[
        (OK, "success"),
        (WOULD_CHANGE, "--check only: the document would change"),
        (USAGE, "usage error (bad flag or argument)"),
        (
            BAD_INPUT,
            "bad input: malformed XML/JSON, not a domain, rejected by the schema, bad edit",
        ),
        (IO, "a file could not be read or written"),
        (NO_DOMAIN, "no such domain"),
        (CONFLICT, "conflict: already running, or name/UUID clash"),
        (
            CONNECT,
            "cannot connect to libvirt, or the connection was lost",
        ),
        (TIMEOUT, "--timeout ran out"),
        (
            ABNORMAL_STOP,
            "the guest stopped abnormally (destroyed, crashed, failed, ...)",
        ),
        (LIBVIRT, "any other libvirt error"),
        (
            STALLED,
            "the guest stalled: no disk or network I/O for --idle-timeout",
        ),
    ];
}

/// Where in an input a problem was found: a source name and, when known, line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// File name, or `<stdin>`.
    pub source: String,
    /// 1-based line and column, when the problem has a position.
    pub line_col: Option<(usize, usize)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, col)) => write!(f, "{}:{}:{}", one_line(&self.source), line, col),
            None => write!(f, "{}", one_line(&self.source)),
        }
    }
}

/// Every failure a tool can report. Each variant knows its exit status. Each is shown on
/// one line, whatever input its message quotes (see [`one_line`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or unacceptable input document.
    #[error("{location}: {}", one_line(.message))]
    BadInput {
        /// Where the problem is.
        location: Location,
        /// What is wrong, one line.
        message: String,
    },
    /// A requested edit cannot be applied to this document.
    #[error("{}", one_line(.0))]
    Edit(String),
    /// Bad flag combination or value found after argument parsing.
    #[error("{}", one_line(.0))]
    Usage(String),
    /// Reading or writing a file failed.
    #[error("{}: {}", one_line(.path), one_line(&.source.to_string()))]
    Io {
        /// The file, or `<stdin>`/`<stdout>`.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The named domain does not exist.
    #[error("{}", one_line(.0))]
    NoDomain(String),
    /// The domain is running already, or its name or UUID clashes with another.
    #[error("{}", one_line(.0))]
    Conflict(String),
    /// libvirt could not be reached.
    #[error("{}", one_line(.0))]
    Connect(String),
    /// A `--timeout` ran out.
    #[error("{}", one_line(.0))]
    Timeout(String),
    /// The guest stopped, but not cleanly.
    #[error("{}", one_line(.0))]
    AbnormalStop(String),
    /// libvirt rejected the document against its schema or parser.
    #[error("{}", one_line(.0))]
    Invalid(String),
    /// Any other libvirt failure.
    #[error("{}", one_line(.0))]
    Libvirt(String),
    /// The guest showed no disk or network activity for the idle timeout.
    #[error("{}", one_line(.0))]
    Stalled(String),
    /// `--check` found that the document would change; not a failure, a verdict.
    #[error("the document would change")]
    WouldChange,
}

impl Error {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput { .. } | Error::Edit(_) | Error::Invalid(_) => exit::BAD_INPUT,
            Error::Usage(_) => exit::USAGE,
            Error::Io { .. } => exit::IO,
            Error::NoDomain(_) => exit::NO_DOMAIN,
            Error::Conflict(_) => exit::CONFLICT,
            Error::Connect(_) => exit::CONNECT,
            Error::Timeout(_) => exit::TIMEOUT,
            Error::AbnormalStop(_) => exit::ABNORMAL_STOP,
            Error::Libvirt(_) => exit::LIBVIRT,
            Error::Stalled(_) => exit::STALLED,
            Error::WouldChange => exit::WOULD_CHANGE,
        }
    }

    /// A bad-input error at a byte offset of `text`, reported as line:column.
    pub fn at(source: &str, text: &str, offset: usize, message: impl Into<String>) -> Error {
        Error::BadInput {
            location: Location {
                source: source.to_string(),
                line_col: Some(line_col(text, offset)),
            },
            message: message.into(),
        }
    }

    /// A bad-input error about a whole input, without a position.
    pub fn input(source: &str, message: impl Into<String>) -> Error {
        Error::BadInput {
            location: Location {
                source: source.to_string(),
                line_col: None,
            },
            message: message.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &str, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// `text` as one line on a terminal: control characters (tab aside), the line and
/// paragraph separators and the bidirectional overrides are written as Rust escapes
/// (`\r`, `\n`, `\u{1b}`, `\u{2028}`), so that a message quoting input (a name, a path,
/// an attribute) can neither span lines nor drive the terminal. Every message goes
/// through here when it is shown.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(breaks_the_line) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if breaks_the_line(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn breaks_the_line(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Shorthand for results in domkit.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 2), (1, 2));
    }

    /// Issue 16, item 6: messages that quoted input carried its CR, LF and escapes.
    #[test]
    fn messages_that_quote_input_stay_on_one_line() {
        let hostile = "a\rb\nc\u{1b}[31md\u{7}e\u{2028}f\u{85}g\u{202e}h\ti";
        let errors = [
            Error::input(hostile, format!("no '{hostile}'")),
            Error::at(hostile, "x", 0, hostile),
            Error::Edit(format!("t.xml: no device '{hostile}'")),
            Error::Usage(hostile.to_string()),
            Error::io(hostile, std::io::Error::other(hostile)),
        ];
        for e in errors {
            let shown = e.to_string();
            assert!(
                !shown.chars().any(breaks_the_line),
                "{shown:?} holds a character that breaks the line"
            );
            assert!(
                shown.contains("a\\rb\\nc\\u{1b}[31md\\u{7}e\\u{2028}f\\u{85}g\\u{202e}h\ti"),
                "{shown}"
            );
        }
        assert_eq!(one_line("plain 'vda' é"), "plain 'vda' é");
    }

    #[test]
    fn every_exit_code_is_in_the_table() {
        let errors = [
            Error::Usage(String::new()),
            Error::input("x", "y"),
            Error::NoDomain(String::new()),
            Error::Conflict(String::new()),
            Error::Connect(String::new()),
            Error::Timeout(String::new()),
            Error::AbnormalStop(String::new()),
            Error::Libvirt(String::new()),
            Error::Stalled(String::new()),
            Error::WouldChange,
            Error::io("f", std::io::Error::other("x")),
        ];
        for e in errors {
            assert!(
                exit::TABLE.iter().any(|(code, _)| *code == e.exit_code()),
                "{e:?}"
            );
        }
    }
}
