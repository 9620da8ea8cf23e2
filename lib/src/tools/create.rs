//! `dom-create`: boot a domain XML once (one-off over a defined domain, or transient), or
//! start defined domains by name, UUID or record.

use std::io::{Read, Write};
use std::path::Path;

use crate::cli::{self, Input};
use crate::error::{Error, Result};
use crate::libvirt::connect::{Conn, Conns, DomainArgs};
use crate::libvirt::record::{self, Record, Target};

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
/// when it starts with `<`, else JSON records, one per line, as the other tools print.
/// One record is printed per domain; the first failure stops the run.
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
}

/// One thing to start.
enum Item {
    Xml(Input),
    Domain(Target),
}

/// Sorts stdin into XML or records by its first non-blank character.
fn stdin_items(stdin: &mut dyn Read, uri_override: bool) -> Result<Vec<Item>> {
    let input = cli::read_input(None, stdin)?;
    match input.text.trim_start().chars().next() {
        Some('<') => Ok(vec![Item::Xml(input)]),
        Some('{') => Ok(record::parse_records(&input, uri_override)?
            .into_iter()
            .map(Item::Domain)
            .collect()),
        Some(_) => Err(Error::input(
            &input.source,
            "expected domain XML or JSON records",
        )),
        None => Err(Error::input(
            &input.source,
            "no input: expected domain XML or JSON records",
        )),
    }
}

/// Starts each item and prints its record.
///
/// # Errors
/// Bad input, unknown domain, already running or name/UUID clash, connection failures and
/// other libvirt errors, each with its exit status.
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    let mut items = Vec::new();
    let uri_override = args.conn.connect.is_some();
    if args.targets.is_empty() {
        items = stdin_items(stdin, uri_override)?;
    }
    let mut stdin_used = false;
    for target in &args.targets {
        if target == "-" {
            if stdin_used {
                return Err(Error::Usage("stdin ('-') given twice".into()));
            }
            stdin_used = true;
            items.extend(stdin_items(stdin, uri_override)?);
        } else if is_document(target) {
            items.push(Item::Xml(cli::read_input(Some(Path::new(target)), stdin)?));
        } else {
            items.push(Item::Domain(Target::arg(target)));
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
    for item in items {
        let line = match item {
            Item::Xml(input) => {
                let mut flags = start_flags;
                if args.validate {
                    flags |= virt::sys::VIR_DOMAIN_START_VALIDATE;
                }
                create_xml(conns.get(None)?, &input, flags)?
            }
            Item::Domain(target) => start(conns.get(target.uri.as_deref())?, &target, start_flags)
                .map_err(|e| hint_file(e, &target))?,
        };
        cli::write_out(stdout, &line.to_line())?;
        // A pipeline's next tool may act on this record while we start the next domain.
        stdout.flush().map_err(|e| Error::io("<stdout>", e))?;
    }
    Ok(())
}

/// Boots XML with virDomainCreateXML: one-off when it matches a defined domain.
fn create_xml(conn: &Conn, input: &Input, flags: u32) -> Result<Record> {
    if !input.text.trim_start().starts_with('<') {
        return Err(Error::input(&input.source, "not domain XML (expected '<')"));
    }
    let dom = conn
        .connect
        .create_domain_xml(&input.text, flags)
        .map_err(|e| match conn.error(&e, None) {
            Error::Invalid(_) => crate::libvirt::connect::xml_error(&input.source, &e),
            other => other,
        })?;
    let persistent = dom.is_persistent().map_err(|e| conn.error(&e, None))?;
    let action = if persistent {
        "created-one-off"
    } else {
        "created-transient"
    };
    Record::of(conn, &dom, action)
}

/// Starts a defined domain with virDomainCreateWithFlags.
fn start(conn: &Conn, target: &Target, flags: u32) -> Result<Record> {
    let dom = conn.lookup(&target.key)?;
    let label = target.label();
    // libvirt says only "domain is already running"; say which, and where.
    if dom.is_active().map_err(|e| conn.error(&e, Some(label)))? {
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
    use crate::libvirt::testing::{URI, domain_xml, records, run_tool};

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
        let err = create(&[], "{\"name\":\"x\"}\n{oops}\n").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        assert!(err.to_string().starts_with("<stdin>:2:"), "{err}");
        let err = create(&[], "vm1\n").1.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
    }
}
