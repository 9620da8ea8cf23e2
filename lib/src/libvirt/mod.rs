//! libvirt plumbing shared by dom-define, dom-create and dom-wait-shutdown: their `main`,
//! opening connections, mapping libvirt errors to domkit's exit statuses, lifecycle events, and the
//! one-line JSON records the tools print and read.

pub mod cli;
pub mod connect;
pub mod console;
pub mod events;
pub mod install;
pub mod keys;
pub mod record;
pub mod uri;

pub use connect::{Conn, DomainArgs};
pub use record::Record;

/// Longest domain XML dom-define and dom-create read: four times the largest document
/// libvirt's RPC carries (REMOTE_STRING_MAX, 4 MiB), so none that libvirt could take is
/// refused, and a runaway input (`/dev/zero`) is not held in memory.
pub const DOCUMENT_MAX: u64 = 16 << 20;

/// The validating record reader the integration tests use too.
#[cfg(test)]
#[path = "../../../tests/common/record.rs"]
mod schema;

/// Helpers for tests on libvirt's in-process test driver (`test:///default`), whose state
/// is shared by every test thread of a process: each test uses its own domain names.
#[cfg(test)]
pub(crate) mod testing {
    /// The in-process test driver.
    pub const URI: &str = "test:///default";

    /// Opens the test driver after making sure one event subscription stays registered for
    /// the rest of the test process. Every connection of the process shares the test
    /// driver's one event queue, and libvirt 9.0 loses events when the last subscription of
    /// a queue is dropped while another thread queues an event (see `events.rs`, "Lost
    /// events"); with one subscription that is never dropped, that never happens. Tests
    /// call this before they subscribe, start a tool or act on a domain.
    pub fn open() -> super::Conn {
        use std::sync::OnceLock;
        static KEEPER: OnceLock<(super::Conn, super::events::Subscription)> = OnceLock::new();
        KEEPER.get_or_init(|| {
            let conn = super::Conn::open(Some(URI), false).expect("test driver");
            let (tx, _) = std::sync::mpsc::channel();
            let sub = super::events::Subscription::new(&conn.connect, tx, usize::MAX)
                .expect("keeper subscription");
            (conn, sub)
        });
        super::Conn::open(Some(URI), false).expect("test driver")
    }

    /// A minimal test-driver domain: its XML and UUID.
    pub fn domain_xml(name: &str) -> (String, String) {
        let uuid = uuid::Uuid::new_v4().to_string();
        let xml = format!(
            "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>\
             <memory>8192</memory><os><type>hvm</type></os></domain>"
        );
        (xml, uuid)
    }

    /// Runs a tool's `run` with arguments and stdin; returns its stdout and result.
    pub fn run_tool<A: clap::Parser>(
        run: fn(A, &mut dyn std::io::Read, &mut dyn std::io::Write) -> crate::Result<()>,
        argv: &[&str],
        stdin: &str,
    ) -> (String, crate::Result<()>) {
        let _conn = open();
        let args = A::try_parse_from(std::iter::once("tool").chain(argv.iter().copied()))
            .expect("test arguments parse");
        let mut out = Vec::new();
        let result = run(args, &mut stdin.as_bytes(), &mut out);
        (String::from_utf8(out).expect("stdout is UTF-8"), result)
    }

    /// A stdout that hands each write to the test thread, so it knows how far `run` got.
    pub struct Chan(pub std::sync::mpsc::Sender<String>);

    impl std::io::Write for Chan {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The next record a tool running in a thread prints on a `Chan`, within a deadline
    /// that only a tool which reads its stdin to the end before it acts misses.
    pub fn next_record(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> super::Record {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|e| {
                panic!("no record for {what} before stdin ended: records are not streamed ({e})")
            });
        records(&line).remove(0)
    }

    /// The records printed on stdout, each checked against doc/record.schema.json.
    pub fn records(out: &str) -> Vec<super::Record> {
        out.lines()
            .map(|l| serde_json::from_value(super::schema::record(l)).expect("a record per line"))
            .collect()
    }
}
