//! Glue every tool's `main` shares: clap settings, input reading, error printing, exit status.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::Path;

use clap::{CommandFactory, FromArgMatches};

use crate::error::{Error, Location, Result, exit};

/// The EXIT STATUS table as plain text, appended to every tool's `--help`.
pub fn exit_status_help() -> String {
    let mut text = String::from("Exit status:\n");
    for (code, meaning) in exit::TABLE {
        text.push_str(&format!("  {code:>2}  {meaning}\n"));
    }
    text
}

/// The tool's clap command with the settings all domkit tools share. `--version` prints
/// domkit's version; the libvirt tools add the library's (`libvirt::cli`).
pub fn command<A: CommandFactory>(name: &'static str) -> clap::Command {
    let command = A::command();
    // --help shows the examples (the command's after_help) and then the exit statuses.
    let examples = command
        .get_after_help()
        .map(|h| format!("{h}\n\n"))
        .unwrap_or_default();
    command
        .name(name)
        .bin_name(name)
        .version(env!("CARGO_PKG_VERSION"))
        .after_long_help(format!("{examples}{}", exit_status_help().trim_end()))
        .max_term_width(100)
}

/// Runs a tool that needs no libvirt (domxml-rewrite, dom-media): see [`run_parsed`]. It
/// must not reach any libvirt call, or the binary links libvirt's client library, whose
/// 56 shared libraries the dynamic loader then maps at every start (13 ms and 12 MiB more
/// per run: bench/results/latest.md).
pub fn main<A, F>(name: &'static str, run: F) -> !
where
    A: CommandFactory + FromArgMatches,
    F: FnOnce(A, &mut dyn Read, &mut dyn Write) -> Result<()>,
{
    run_parsed(name, &command::<A>(name).get_matches(), |args, out| {
        run(args, &mut io::stdin().lock(), out)
    })
}

/// Stdin owned by the tool, for one that reads it on a thread of its own as input arrives
/// (dom-wait-shutdown): a thread blocked in a read can be left behind when the tool stops
/// early, where a borrowed reader would have to be waited for.
pub type Stdin = Box<dyn Read + Send>;

/// Runs a tool on its parsed arguments: hands it stdout (`run` takes stdin itself), prints
/// any error as one line on stderr (`tool: where: what`) and exits with the error's status.
/// The exit status is always the outcome's: a closed stdout (`tool | head`) only drops the
/// records nobody reads, and a stderr that cannot be written (`2>/dev/full`) only loses
/// the message.
pub fn run_parsed<A, F>(name: &'static str, matches: &clap::ArgMatches, run: F) -> !
where
    A: FromArgMatches,
    F: FnOnce(A, &mut dyn Write) -> Result<()>,
{
    std::process::exit(outcome(name, matches, run))
}

/// What `run_parsed` does short of exiting: runs the tool, prints any error, and returns
/// the exit status, stdout flushed.
pub fn outcome<A, F>(name: &'static str, matches: &clap::ArgMatches, run: F) -> i32
where
    A: FromArgMatches,
    F: FnOnce(A, &mut dyn Write) -> Result<()>,
{
    let args = A::from_arg_matches(matches).unwrap_or_else(|e| e.exit());
    let stdout = io::stdout();
    let mut out = ClosedPipeIsQuiet::new(io::BufWriter::new(stdout.lock()));
    let result =
        run(args, &mut out).and_then(|()| out.flush().map_err(|e| Error::io("<stdout>", e)));
    match result {
        Ok(()) => exit::OK,
        Err(Error::WouldChange) => {
            // `--check --print-diff` has printed the diff: it must reach stdout too.
            let _ = out.flush();
            exit::WOULD_CHANGE
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "{name}: {e}");
            e.exit_code()
        }
    }
}

/// A writer whose reader may go away: once a write fails with a broken pipe, it and every
/// later write succeed without writing, so the tool runs on to its real outcome.
#[derive(Debug)]
pub struct ClosedPipeIsQuiet<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> ClosedPipeIsQuiet<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        ClosedPipeIsQuiet {
            inner,
            closed: false,
        }
    }

    fn quiet(&mut self, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl<W: Write> Write for ClosedPipeIsQuiet<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let written = self.inner.write(buf);
        match written {
            Ok(n) => Ok(n),
            Err(e) => self.quiet(Err(e)).map(|()| buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.inner.flush();
        self.quiet(flushed)
    }
}

/// An input document: where it came from (for messages) and its text.
#[derive(Debug, Clone)]
pub struct Input {
    /// File name, or `<stdin>`.
    pub source: String,
    /// The whole text.
    pub text: String,
}

/// Reads `path` (or stdin when it is absent or `-`) as UTF-8 text.
///
/// # Errors
/// I/O errors, and bad input when the bytes are not UTF-8.
pub fn read_input(path: Option<&Path>, stdin: &mut dyn Read) -> Result<Input> {
    read_input_at_most(path, stdin, u64::MAX)
}

/// [`read_input`] for a document that may be no longer than `max` bytes: a tool that acts
/// on it whole reads no more than that, whatever the file or pipe holds (`/dev/zero`).
///
/// # Errors
/// As `read_input`, and bad input when there are more than `max` bytes.
pub fn read_input_at_most(path: Option<&Path>, stdin: &mut dyn Read, max: u64) -> Result<Input> {
    let (source, bytes) = match path {
        Some(p) if p != Path::new("-") => {
            let source = p.display().to_string();
            let file = std::fs::File::open(p).map_err(|e| Error::io(&source, e))?;
            let bytes = read_at_most(file, &source, max)?;
            (source, bytes)
        }
        _ => ("<stdin>".to_string(), read_at_most(stdin, "<stdin>", max)?),
    };
    text_input(source, bytes)
}

/// Reads `reader` to its end, refusing more than `max` bytes.
fn read_at_most(reader: impl Read, source: &str, max: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(source, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::input(
            source,
            format!("input longer than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// The bytes as an [`Input`], if they are UTF-8 text.
///
/// # Errors
/// Bad input at the first byte that is not UTF-8.
pub fn text_input(source: String, bytes: Vec<u8>) -> Result<Input> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Input { source, text }),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
            Err(Error::at(
                &source,
                &valid,
                offset,
                "input is not UTF-8 text",
            ))
        }
    }
}

/// Input read a line at a time as it arrives, no line longer than a bound, so that a tool
/// can act on each line before the next is written and never holds more than one line.
#[derive(Debug)]
pub struct Lines<R> {
    input: R,
    source: String,
    number: usize,
    max: usize,
    line: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `input`, named `source` in messages, each at most `max` bytes long.
    pub fn new(input: R, source: &str, max: usize) -> Lines<R> {
        Lines {
            input,
            source: source.to_string(),
            number: 0,
            max,
            line: Vec::new(),
        }
    }

    /// The next line without its line end, with its number (1 for the first), or `None`
    /// at the end of the input. Blocks until the line is complete (or the input ends).
    ///
    /// # Errors
    /// I/O errors; bad input at `source:LINE` for a line longer than the bound (nothing
    /// past the bound is kept) or one that is not UTF-8.
    pub fn next_line(&mut self) -> Result<Option<(usize, &str)>> {
        self.line.clear();
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&self.source, e)),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let end = available.iter().position(|&b| b == b'\n');
            let part = &available[..end.unwrap_or(available.len())];
            if self.line.len() + part.len() > self.max {
                return Err(Error::BadInput {
                    location: Location {
                        source: self.source.clone(),
                        line_col: Some((self.number + 1, self.max + 1)),
                    },
                    message: format!("line longer than {} bytes", self.max),
                });
            }
            self.line.extend_from_slice(part);
            let used = part.len() + usize::from(end.is_some());
            self.input.consume(used);
            if end.is_some() {
                break;
            }
        }
        self.number += 1;
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let number = self.number;
        std::str::from_utf8(&self.line)
            .map(|line| Some((number, line)))
            .map_err(|e| Error::BadInput {
                location: Location {
                    source: self.source.clone(),
                    line_col: Some((self.number, e.valid_up_to() + 1)),
                },
                message: "input is not UTF-8 text".into(),
            })
    }
}

/// Writes `text` to `out`, mapping failures to an I/O error on `<stdout>`.
///
/// # Errors
/// The write failed (a closed pipe included; `main` keeps that quiet).
pub fn write_out(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("<stdout>", e))
}

/// Writes `text` to stderr; a stderr that cannot be written loses it, nothing else.
pub fn write_err(text: &str) {
    let mut err = io::stderr();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// True when stderr is a terminal (progress lines are only for people).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// A progress line on stderr, redrawn in place, for people only: off unless stderr is a
/// terminal. It clears itself when dropped, so it is gone on every exit path.
#[derive(Debug)]
pub struct ProgressLine {
    on: bool,
    drawn: bool,
}

impl ProgressLine {
    /// A line that draws only when `on`.
    pub fn new(on: bool) -> ProgressLine {
        ProgressLine { on, drawn: false }
    }

    /// Whether it draws at all.
    pub fn on(&self) -> bool {
        self.on
    }

    /// Replaces the line with `text` (cut to 99 characters).
    pub fn draw(&mut self, text: &str) {
        if self.on {
            let line: String = text.chars().take(99).collect();
            write_err(&format!("\r\x1b[K{line}"));
            self.drawn = true;
        }
    }

    /// Removes the line.
    pub fn clear(&mut self) {
        if self.on && self.drawn {
            write_err("\r\x1b[K");
            self.drawn = false;
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that has gone away.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_pipe_swallows_writes_and_other_errors_stay() {
        let mut out = ClosedPipeIsQuiet::new(Gone);
        assert_eq!(out.write(b"abc").unwrap(), 3);
        out.write_all(b"more").unwrap();
        out.flush().unwrap();
        let mut full = ClosedPipeIsQuiet::new(std::fs::File::open("/dev/null").unwrap());
        assert!(
            full.write_all(b"x").is_err(),
            "a read-only file still fails"
        );
    }
}
