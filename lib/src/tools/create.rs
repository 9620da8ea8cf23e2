//! `dom-create`: boot a domain XML once (one-off over a defined domain, or transient), or
//! start defined domains by name, UUID or record.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::cli::{self, Input};
use crate::error::{Error, Result};
use crate::libvirt::DOCUMENT_MAX;
use crate::libvirt::connect::{Conn, Conns, DomainArgs};
use crate::libvirt::install::{self, State};
use crate::libvirt::record::{self, Record, Target};
use crate::phase::Phase;
use crate::xml::Document;

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-define final.xml && dom-create ./install.xml | dom-wait-shutdown && dom-create vm1\n  dom-define < vm.xml | dom-create --paused";

/// Boot domain XML once, or start defined domains.
///
/// An argument with a `/` in it is a file of domain XML (`./vm.xml`, `/dev/fd/63`), booted
/// with virDomainCreateXML: when a defined, inactive domain has the same name and UUID,
/// this boot uses the XML once and the persistent config is kept (action
/// "created-one-off"); otherwise the guest is transient ("created-transient"). Any other
/// argument is the NAME or UUID of a defined domain to start ("started"): libvirt domain
/// names cannot contain `/`, so what an argument means never depends on the files in the
/// current directory. Without arguments (or with `-`) stdin is read: domain XML
/// when it starts with `<` (read whole, at most 16 MiB), else JSON records, one per line
/// (at most 64 KiB), as the other tools print; each record's domain is started, and its
/// record printed, as soon as its line arrives, before the next line is read. One record
/// is printed per domain; the first failure stops the run: the domains started before it
/// stay started, and a bad line is exit 3 at `<stdin>:LINE:COLUMN`.
///
/// Install state: an install config (its recorded boot profile says so, or it has
/// virt-install's <on_reboot>destroy</on_reboot>) booted over a defined domain first marks
/// that domain "installing" in its persistent <metadata> (namespace
/// https://domkit.dev/xmlns/install/1); dom-wait-shutdown marks it "installed" after a clean
/// stop. An install config over a domain marked installed is refused (exit 6) unless
/// --reinstall; --resume skips it instead, so a re-run of the whole flow after a kill
/// finishes the job without starting the installer twice.
#[derive(Debug, clap::Parser)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Domain XML files (with a `/`: ./vm.xml), or NAMEs/UUIDs of defined domains; `-` or
    /// none reads stdin.
    #[arg(value_name = "FILE|NAME|UUID")]
    pub targets: Vec<String>,
    /// Connection options.
    #[command(flatten)]
    pub conn: DomainArgs,
    /// Leave the guest paused instead of running its CPUs.
    #[arg(long)]
    pub paused: bool,
    /// Destroy the guest when this connection closes, i.e. when dom-create exits (as virsh).
    #[arg(long)]
    pub autodestroy: bool,
    /// Validate domain XML against libvirt's schema before booting it.
    #[arg(long)]
    pub validate: bool,
    /// Run an install config even over a domain whose install state says installed.
    #[arg(long, conflicts_with = "resume")]
    pub reinstall: bool,
    /// Re-run a flow safely: an install config over an installed domain prints its record
    /// (action "already-installed", exit 0) instead of failing, one whose installer still
    /// runs is attached to ("installing"), and a NAME already running is not an error
    /// ("already-running").
    #[arg(long)]
    pub resume: bool,
    /// Start with fresh UEFI variables from the template (VIR_DOMAIN_START_RESET_NVRAM),
    /// for a reinstall of a UEFI guest.
    #[arg(long)]
    pub reset_nvram: bool,
}

/// One thing to start.
enum Item {
    Xml(Input),
    Domain(Target),
}

/// Where the things to start come from, in the order of the arguments.
enum Given {
    Item(Item),
    /// Stdin: a document, or records started one by one as their lines arrive.
    Stdin,
}

/// Acts on stdin: domain XML (its first non-blank character is `<`) read whole, at most
/// DOCUMENT_MAX bytes, or JSON records acted on one line at a time as they arrive.
fn each_stdin_item(
    stdin: &mut dyn Read,
    uri_override: bool,
    act: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    const SOURCE: &str = "<stdin>";
    let mut input = BufReader::new(stdin);
    // The blank prefix is kept: XML error positions count it, record line numbers too.
    let mut blank = Vec::new();
    let first = loop {
        let available = input.fill_buf().map_err(|e| Error::io(SOURCE, e))?;
        if available.is_empty() {
            break None;
        }
        let skip = available
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(available.len());
        let found = available.get(skip).copied();
        blank.extend_from_slice(&available[..skip]);
        input.consume(skip);
        if found.is_some() {
            break found;
        }
        if blank.len() as u64 > DOCUMENT_MAX {
            return Err(Error::input(
                SOURCE,
                format!("input longer than {DOCUMENT_MAX} bytes, all blank"),
            ));
        }
    };
    let mut rest = std::io::Cursor::new(blank).chain(input);
    match first {
        Some(b'<') => {
            let document = cli::read_input_at_most(None, &mut rest, DOCUMENT_MAX)?;
            act(Item::Xml(document))
        }
        Some(b'{') => {
            let mut records = record::Records::new(rest, uri_override);
            while let Some(target) = records.next_target()? {
                act(Item::Domain(target))?;
            }
            Ok(())
        }
        Some(_) => Err(Error::input(SOURCE, "expected domain XML or JSON records")),
        None => Err(Error::input(
            SOURCE,
            "no input: expected domain XML or JSON records",
        )),
    }
}

/// Starts each item and prints its record, the records on stdin each as its line arrives.
///
/// # Errors
/// Bad input, unknown domain, already running or name/UUID clash, connection failures and
/// other libvirt errors, each with its exit status. The domains started before the
/// failure stay started, and their records are printed.
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    let mut given = Vec::new();
    let uri_override = args.conn.connect.is_some();
    if args.targets.is_empty() {
        given.push(Given::Stdin);
    }
    let mut stdin_used = false;
    // Every file is read before anything starts: a missing one starts nothing.
    for target in &args.targets {
        if target == "-" {
            if stdin_used {
                return Err(Error::Usage("stdin ('-') given twice".into()));
            }
            stdin_used = true;
            given.push(Given::Stdin);
        } else if is_document(target) {
            let file = cli::read_input_at_most(Some(Path::new(target)), stdin, DOCUMENT_MAX)?;
            given.push(Given::Item(Item::Xml(file)));
        } else {
            given.push(Given::Item(Item::Domain(Target::arg(target))));
        }
    }
    let mut conns = Conns::new(args.conn.connect.clone(), false);
    let mut start_flags = 0;
    if args.paused {
        start_flags |= virt::sys::VIR_DOMAIN_START_PAUSED;
    }
    if args.autodestroy {
        start_flags |= virt::sys::VIR_DOMAIN_START_AUTODESTROY;
    }
    if args.reset_nvram {
        start_flags |= virt::sys::VIR_DOMAIN_START_RESET_NVRAM;
    }
    let how = How {
        reinstall: args.reinstall,
        resume: args.resume,
    };
    let mut act = |item: Item| -> Result<()> {
        let line = match item {
            Item::Xml(input) => {
                let mut flags = start_flags;
                if args.validate {
                    flags |= virt::sys::VIR_DOMAIN_START_VALIDATE;
                }
                create_xml(conns.get(None)?, &input, flags, how)?
            }
            Item::Domain(target) => {
                start(conns.get(target.uri.as_deref())?, &target, start_flags, how)
                    .map_err(|e| hint_file(e, &target))?
            }
        };
        cli::write_out(stdout, &line.to_line())?;
        // Flushed at once: the pipeline's next tool acts on this record while this one
        // starts the next domain, or waits for the next line.
        stdout.flush().map_err(|e| Error::io("<stdout>", e))
    };
    for source in given {
        match source {
            Given::Stdin => each_stdin_item(stdin, uri_override, &mut act)?,
            Given::Item(item) => act(item)?,
        }
    }
    Ok(())
}

/// What to do about an existing install or a running domain.
#[derive(Debug, Clone, Copy)]
struct How {
    reinstall: bool,
    resume: bool,
}

/// Boots XML with virDomainCreateXML: one-off when it matches a defined domain. An
/// install config over a defined domain goes through its install state first.
fn create_xml(conn: &Conn, input: &Input, flags: u32, how: How) -> Result<Record> {
    if !input.text.trim_start().starts_with('<') {
        return Err(Error::input(&input.source, "not domain XML (expected '<')"));
    }
    let defined = match install_target(conn, input)? {
        Some(dom) => match prepare_install(conn, &dom, how)? {
            Prepared::Skip(record) => return Ok(record),
            Prepared::Run(previous) => Some((dom, previous)),
        },
        None => None,
    };
    let created = conn.connect.create_domain_xml(&input.text, flags);
    let dom = match created {
        Ok(dom) => dom,
        Err(e) => {
            // Nothing started: the install state goes back to what it was.
            if let Some((dom, previous)) = &defined {
                restore(dom, previous.as_ref());
            }
            return Err(match conn.error(&e, None) {
                Error::Invalid(_) => crate::libvirt::connect::xml_error(&input.source, &e),
                other => other,
            });
        }
    };
    let persistent = dom.is_persistent().map_err(|e| conn.error(&e, None))?;
    let action = if persistent {
        "created-one-off"
    } else {
        "created-transient"
    };
    Record::of(conn, &dom, action)
}

/// The defined, persistent domain an install config would boot over; `None` for any
/// other document (a final config, no such domain, or XML libvirt will reject anyway).
fn install_target(conn: &Conn, input: &Input) -> Result<Option<virt::domain::Domain>> {
    let Ok(doc) = Document::parse(&input.source, &input.text) else {
        return Ok(None);
    };
    if crate::phase::active_phase(&doc).ok() != Some(Phase::Install) {
        return Ok(None);
    }
    let text = |name| doc.child_text(0, name).ok().flatten();
    let key = text("uuid")
        .or_else(|| text("name"))
        .map(|k| k.trim().to_string());
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let dom = match conn.lookup(&key) {
        Ok(dom) => dom,
        Err(Error::NoDomain(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let persistent = dom.is_persistent().map_err(|e| conn.error(&e, None))?;
    Ok(persistent.then_some(dom))
}

/// What the install state says to do.
enum Prepared {
    /// Do not boot the installer: this is the domain's record.
    Skip(Record),
    /// Boot it; the state before "installing" was written, to restore on failure.
    Run(Option<State>),
}

/// Reads the install state, settles an install that ended unobserved, refuses or skips an
/// installed domain, and marks the domain "installing" before its installer is started.
fn prepare_install(conn: &Conn, dom: &virt::domain::Domain, how: How) -> Result<Prepared> {
    let err = |e: virt::error::Error| conn.error(&e, None);
    let name = dom.name().map_err(err)?;
    let mut state = install::read(dom).map_err(err)?;
    let active = dom.is_active().map_err(err)?;
    if state == Some(State::Installing) {
        if active {
            // The installer of an earlier run is still running.
            if how.resume {
                return Ok(Prepared::Skip(Record::of(conn, dom, "installing")?));
            }
            return Err(Error::Conflict(format!(
                "{}: domain '{name}' is already running (its installer, started earlier; \
                 --resume attaches to it)",
                conn.shown
            )));
        }
        // It ended while nobody watched: its stop reason says how.
        let settled = settle(dom).map_err(err)?;
        install::write(dom, &settled).map_err(err)?;
        state = Some(settled);
    }
    if state == Some(State::Installed) && !how.reinstall {
        if how.resume {
            return Ok(Prepared::Skip(Record::of(conn, dom, "already-installed")?));
        }
        return Err(Error::Conflict(format!(
            "{}: domain '{name}' is already installed (install state in its metadata); \
             --reinstall runs the installer again, --resume skips it",
            conn.shown
        )));
    }
    if active {
        // libvirt refuses to boot it anyway; say so without touching the state.
        return Err(Error::Conflict(format!(
            "{}: domain '{name}' is already running",
            conn.shown
        )));
    }
    install::write(dom, &State::Installing).map_err(err)?;
    Ok(Prepared::Run(state))
}

/// The state of an install that stopped while nobody watched: installed after a clean
/// shutdown (the installer's own power-off, or its reboot under on_reboot=destroy),
/// failed with the stop reason otherwise.
pub fn settle(dom: &virt::domain::Domain) -> std::result::Result<State, virt::error::Error> {
    let (state, reason) = crate::libvirt::events::domain_state(dom)?;
    Ok(match record::reason_word(state, reason) {
        "shutdown" if state == virt::sys::VIR_DOMAIN_SHUTOFF as i32 => State::Installed,
        other => State::Failed(other.to_string()),
    })
}

/// Puts the install state back after a start that failed; best effort (the start's own
/// error is what gets reported).
fn restore(dom: &virt::domain::Domain, previous: Option<&State>) {
    let _ = match previous {
        Some(state) => install::write(dom, state),
        None => dom.set_metadata(
            virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
            None,
            None,
            Some(install::NAMESPACE),
            virt::sys::VIR_DOMAIN_AFFECT_CONFIG,
        ),
    };
}

/// Starts a defined domain with virDomainCreateWithFlags.
fn start(conn: &Conn, target: &Target, flags: u32, how: How) -> Result<Record> {
    let dom = conn.lookup(&target.key)?;
    let label = target.label();
    // libvirt says only "domain is already running"; say which, and where.
    if dom.is_active().map_err(|e| conn.error(&e, Some(label)))? {
        if how.resume {
            return Record::of(conn, &dom, "already-running");
        }
        let name = dom.name().unwrap_or_else(|_| label.to_string());
        return Err(Error::Conflict(format!(
            "{}: domain '{name}' is already running",
            conn.shown
        )));
    }
    dom.create_with_flags(flags)
        .map_err(|e| match conn.error(&e, Some(label)) {
            Error::Conflict(_) => Error::Conflict(format!(
                "{}: domain '{label}' is already running",
                conn.shown
            )),
            other => other,
        })?;
    Record::of(conn, &dom, "started")
}

/// An argument names a document when it has a `/`, which no libvirt domain name has:
/// `./vm.xml`, `/srv/vm.xml`, `<(domxml-rewrite ...)` (/dev/fd/N).
fn is_document(arg: &str) -> bool {
    arg.contains('/')
}

/// A NAME that is not a domain but is a file here: say how to boot the file instead.
fn hint_file(e: Error, target: &Target) -> Error {
    match e {
        Error::NoDomain(msg) if target.uri.is_none() && Path::new(&target.key).is_file() => {
            Error::NoDomain(format!(
                "{msg} (a file '{0}' exists: to boot it, write ./{0})",
                target.key
            ))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;
    use crate::libvirt::testing::{Chan, URI, domain_xml, next_record, records, run_tool};

    fn create(argv: &[&str], stdin: &str) -> (String, Result<()>) {
        let mut all = vec!["-c", URI];
        all.extend_from_slice(argv);
        run_tool(run, &all, stdin)
    }

    #[test]
    fn xml_over_a_defined_domain_boots_once_and_keeps_the_persistent_config() {
        let conn = crate::libvirt::testing::open();
        let (fin, uuid) = domain_xml("create-one-off");
        let dom = conn.connect.define_domain_xml(&fin).unwrap();
        let install = fin.replace("<memory>8192</memory>", "<memory>16384</memory>");
        let (out, result) = create(&[], &install);
        result.unwrap();
        let rec = &records(&out)[0];
        assert_eq!(rec.uuid, uuid);
        assert_eq!(
            (rec.action.as_str(), rec.state.as_str(), rec.reason.as_str()),
            ("created-one-off", "running", "booted")
        );
        assert!(rec.persistent && rec.id.is_some());
        assert!(dom.xml_desc(0).unwrap().contains(">16384<"));
        assert!(
            dom.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
                .unwrap()
                .contains(">8192<")
        );

        // Running: XML again, or a start by name, is a conflict that says so.
        let err = create(&[], &install).1.unwrap_err();
        assert_eq!(err.exit_code(), exit::CONFLICT, "{err}");
        assert!(err.to_string().contains("already running"), "{err}");
        let err = create(&["create-one-off"], "").1.unwrap_err();
        assert_eq!(
            err.to_string(),
            "test:///default: domain 'create-one-off' is already running"
        );

        // After the one-off boot the domain boots its persistent config.
        dom.destroy().unwrap();
        let (out, result) = create(&[&uuid], "");
        result.unwrap();
        assert_eq!(records(&out)[0].action, "started");
        assert!(dom.xml_desc(0).unwrap().contains(">8192<"));
        dom.destroy().unwrap();
        dom.undefine().unwrap();
    }

    #[test]
    fn xml_without_a_defined_domain_is_transient() {
        // test:///default forgets everything when its last connection closes: hold one.
        let conn = crate::libvirt::testing::open();
        let (xml, _) = domain_xml("create-transient");
        let dir = std::env::temp_dir().join(format!("domkit-create-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vm.xml");
        std::fs::write(&file, &xml).unwrap();
        let (out, result) = create(&[file.to_str().unwrap()], "");
        result.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let rec = &records(&out)[0];
        assert_eq!(
            (rec.action.as_str(), rec.state.as_str(), rec.persistent),
            ("created-transient", "running", false)
        );
        conn.lookup(&rec.uuid).unwrap().destroy().unwrap();
    }

    #[test]
    fn records_on_stdin_start_defined_domains() {
        let conn = crate::libvirt::testing::open();
        let mut lines = String::new();
        let mut doms = Vec::new();
        for name in ["create-rec-a", "create-rec-b"] {
            let (xml, uuid) = domain_xml(name);
            doms.push(conn.connect.define_domain_xml(&xml).unwrap());
            lines.push_str(&format!(
                "{{\"name\":\"{name}\",\"uuid\":\"{uuid}\",\"uri\":\"{URI}\"}}\n\n"
            ));
        }
        // No -c: the records' uri is used.
        let (out, result) = run_tool(run, &[], &lines);
        result.unwrap();
        let recs = records(&out);
        assert_eq!(
            recs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["create-rec-a", "create-rec-b"]
        );
        assert!(
            recs.iter()
                .all(|r| r.action == "started" && r.state == "running")
        );
        for dom in doms {
            dom.destroy().unwrap();
            dom.undefine().unwrap();
        }
    }

    #[test]
    fn each_record_is_started_and_printed_before_the_next_line_is_read() {
        let conn = crate::libvirt::testing::open();
        let mut doms = Vec::new();
        for name in ["create-stream-a", "create-stream-b"] {
            let (xml, _) = domain_xml(name);
            doms.push(conn.connect.define_domain_xml(&xml).unwrap());
        }
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let creator = std::thread::spawn(move || {
            let args = <Args as clap::Parser>::try_parse_from(["tool", "-c", URI]).unwrap();
            run(args, &mut reader, &mut Chan(tx))
        });
        let next = |what: &str| next_record(&rx, what);
        writer
            .write_all(b"\n{\"name\":\"create-stream-a\"}\n")
            .unwrap();
        let first = next("create-stream-a");
        assert_eq!(
            (first.name.as_str(), first.action.as_str()),
            ("create-stream-a", "started")
        );
        assert!(doms[0].is_active().unwrap() && !doms[1].is_active().unwrap());
        // A bad line after good ones: they stay started; exit 3 names the line.
        writer
            .write_all(b"{\"name\":\"create-stream-b\"}\n{oops}\n")
            .unwrap();
        assert_eq!(next("create-stream-b").name, "create-stream-b");
        let err = creator.join().unwrap().unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        assert!(err.to_string().starts_with("<stdin>:4:"), "{err}");
        drop(writer);
        for dom in doms {
            assert!(dom.is_active().unwrap());
            dom.destroy().unwrap();
            dom.undefine().unwrap();
        }
    }

    #[test]
    fn xml_longer_than_libvirt_takes_is_refused_unread() {
        let big = format!("<domain>{}", " ".repeat(DOCUMENT_MAX as usize));
        let err = create(&[], &big).1.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        assert_eq!(
            err.to_string(),
            format!("<stdin>: input longer than {DOCUMENT_MAX} bytes")
        );
    }

    #[test]
    fn clashes_unknown_domains_and_bad_input() {
        let conn = crate::libvirt::testing::open();
        let (xml, uuid) = domain_xml("create-clash");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        // Same name, another UUID.
        let (other, _) = domain_xml("create-clash");
        let err = create(&[], &other).1.unwrap_err();
        assert_eq!(err.exit_code(), exit::CONFLICT, "{err}");
        assert!(err.to_string().contains(&uuid), "{err}");
        // Same UUID, another name.
        let renamed = xml.replace("create-clash", "create-clash-2");
        let err = create(&[], &renamed).1.unwrap_err();
        assert_eq!(err.exit_code(), exit::CONFLICT, "{err}");
        dom.undefine().unwrap();

        let err = create(&["create-no-such"], "").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::NO_DOMAIN);
        assert_eq!(
            err.to_string(),
            "test:///default: domain 'create-no-such' not found"
        );
        let err = create(&[], "<domain><name>x").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        let err = create(&[], "\n{oops}\n").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        assert!(err.to_string().starts_with("<stdin>:2:"), "{err}");
        let err = create(&[], "vm1\n").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
    }

    #[test]
    fn an_install_runs_once_unless_reinstalled_and_resume_skips_it() {
        let conn = crate::libvirt::testing::open();
        let (fin, _) = domain_xml("create-once");
        let dom = conn.connect.define_domain_xml(&fin).unwrap();
        let install_xml = fin.replace("</os>", "</os><on_reboot>destroy</on_reboot>");
        let state = || install::read(&dom).unwrap();

        let (out, result) = create(&[], &install_xml);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "created-one-off");
        assert_eq!(state(), Some(State::Installing));
        // Running: --resume attaches to the installer instead of failing.
        let (out, result) = create(&["--resume"], &install_xml);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "installing");

        // It stops cleanly while nobody watches: the next start settles it as installed
        // and refuses to install again.
        dom.shutdown().unwrap();
        let err = create(&[], &install_xml).1.unwrap_err();
        assert_eq!(err.exit_code(), exit::CONFLICT, "{err}");
        assert!(err.to_string().contains("already installed"), "{err}");
        assert_eq!(state(), Some(State::Installed));
        assert!(!dom.is_active().unwrap());
        let (out, result) = create(&["--resume"], &install_xml);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "already-installed");
        assert!(
            !dom.is_active().unwrap(),
            "--resume must not start the installer"
        );

        // A final config is not an install: it starts whatever the state.
        let (out, result) = create(&["--resume", "create-once"], "");
        result.unwrap();
        assert_eq!(records(&out)[0].action, "started");
        let (out, result) = create(&["--resume", "create-once"], "");
        result.unwrap();
        assert_eq!(records(&out)[0].action, "already-running");
        dom.destroy().unwrap();

        // --reinstall runs it again; destroyed unobserved, it is failed and may run again.
        let (out, result) = create(&["--reinstall"], &install_xml);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "created-one-off");
        dom.destroy().unwrap();
        let (out, result) = create(&[], &install_xml);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "created-one-off");
        dom.destroy().unwrap();
        assert_eq!(settle(&dom).unwrap(), State::Failed("destroyed".into()));

        // A start that fails puts the state back.
        install::write(&dom, &State::Installed).unwrap();
        let broken = install_xml.replace(
            "<memory>8192</memory>",
            "<memory>8192</memory><vcpu>0</vcpu>",
        );
        let err = create(&["--reinstall"], &broken).1.unwrap_err();
        assert_ne!(err.exit_code(), 0);
        assert_eq!(state(), Some(State::Installed));

        // Redefining the final config keeps the state.
        let (_, result) = run_tool(crate::tools::define::run, &["-c", URI], &fin);
        result.unwrap();
        assert_eq!(state(), Some(State::Installed));
        dom.undefine().unwrap();
    }
}
