//! `dom-define`: make a domain XML libvirt's persistent config, the safe first step of a
//! two-phase install.

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::DOCUMENT_MAX;
use crate::libvirt::connect::{Conn, DomainArgs};
use crate::libvirt::install;
use crate::libvirt::record::Record;

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-define -c qemu:///session vm.xml\n  domxml-gen --name vm1 ... | dom-define | dom-create";

/// Define (or redefine) a domain's persistent config from its XML.
///
/// Reads domain XML (at most 16 MiB) from FILE (or stdin), has libvirt validate it against
/// its schema and define it, and prints the domain's JSON record on stdout. A domain that
/// is running keeps its live config: the new XML is what its next boot uses (action
/// "defined-next-boot"). The record's action is "defined" for a new domain, "redefined" for
/// an inactive one. A redefinition keeps the domain's install state (see dom-create), in
/// the same define.
#[derive(Debug, clap::Parser)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Domain XML file; `-` or none reads stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Connection options.
    #[command(flatten)]
    pub conn: DomainArgs,
    /// Do not validate the XML against libvirt's schema (libvirt still parses it).
    #[arg(long)]
    pub no_validate: bool,
}

/// The domain's UUID, else its name, as the document gives them (None when it cannot be
/// read; libvirt then reports what is wrong with it).
fn identity(input: &cli::Input) -> Option<String> {
    let doc = crate::xml::Document::parse(&input.source, &input.text).ok()?;
    let text = |name| {
        doc.child_text(0, name)
            .ok()
            .flatten()
            .map(|t: String| t.trim().to_string())
    };
    text("uuid")
        .or_else(|| text("name"))
        .filter(|k| !k.is_empty())
}

/// Whether the running domain's live config is an install config.
fn runs_install_config(dom: &virt::domain::Domain) -> bool {
    let Ok(live) = dom.xml_desc(0) else {
        return false;
    };
    crate::xml::Document::parse("<live>", &live)
        .ok()
        .and_then(|doc| crate::phase::active_phase(&doc).ok())
        == Some(crate::phase::Phase::Install)
}

/// Defines the domain and prints its record.
///
/// # Errors
/// Bad input (malformed XML, schema), connection failures, name/UUID clashes, and any other
/// libvirt error, each with its exit status.
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    let input = cli::read_input_at_most(args.file.as_deref(), stdin, DOCUMENT_MAX)?;
    if !input.text.trim_start().starts_with('<') {
        return Err(Error::input(&input.source, "not domain XML (expected '<')"));
    }
    let conn = Conn::open(args.conn.connect.as_deref(), false)?;
    // Whether this defines a new domain or redefines one: look up the document's own UUID
    // (else its name) rather than listing every domain.
    let existing = match identity(&input) {
        Some(key) => conn.lookup(&key).ok(),
        None => None,
    };
    // A redefinition keeps the install state: it goes into the same define, since
    // virDomainDefineXML replaces all metadata.
    // A transient domain (the create-first order) has no persistent config to hold one.
    let state = match &existing {
        Some(dom) if dom.is_persistent().map_err(|e| conn.error(&e, None))? => {
            install::read(dom).map_err(|e| conn.error(&e, None))?
        }
        _ => None,
    };
    let text = match &state {
        Some(state) => install::with_state(&input.source, &input.text, state)?,
        None => input.text.clone(),
    };
    let flags = if args.no_validate {
        0
    } else {
        virt::sys::VIR_DOMAIN_DEFINE_VALIDATE
    };
    let dom = conn
        .connect
        .define_domain_xml_flags(&text, flags)
        .map_err(|e| {
            match conn.error(&e, None) {
                // The document is at fault: name it, as the other input errors do.
                Error::Invalid(_) => crate::libvirt::connect::xml_error(&input.source, &e),
                other => other,
            }
        })?;
    let action = if dom.is_active().map_err(|e| conn.error(&e, None))? {
        "defined-next-boot"
    } else if existing.is_some() {
        "redefined"
    } else {
        "defined"
    };
    if action == "defined-next-boot" && state.is_none() && runs_install_config(&dom) {
        // The other order: the install config was started first, as a transient guest;
        // now that it has a persistent config, that config says an install is under way.
        install::write(&dom, &install::State::Installing).map_err(|e| conn.error(&e, None))?;
    }
    let mut record = Record::of(&conn, &dom, action)?;
    if record.state == "shutoff" && record.reason == "unknown" {
        // libvirt's shutoff reason 0 (VIR_DOMAIN_SHUTOFF_UNKNOWN) is the one a domain
        // object gets when libvirt makes it: here, the domain has not run since this define.
        record.reason = NOT_RUN_SINCE_DEFINED.into();
    }
    cli::write_out(stdout, &record.to_line())
}

/// The reason dom-define reports for an inactive domain that libvirt has not run since it
/// defined (or loaded) its config: what libvirt's shutoff reason "unknown" means then.
pub const NOT_RUN_SINCE_DEFINED: &str = "defined";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;
    use crate::libvirt::testing::{URI, domain_xml, records, run_tool};

    fn define(argv: &[&str], stdin: &str) -> (String, Result<()>) {
        let mut all = vec!["-c", URI];
        all.extend_from_slice(argv);
        run_tool(run, &all, stdin)
    }

    #[test]
    fn defines_redefines_and_sets_the_next_boot_of_a_running_domain() {
        // test:///default forgets everything when its last connection closes: hold one.
        let conn = crate::libvirt::testing::open();
        let (xml, uuid) = domain_xml("define-cycle");
        let (out, result) = define(&[], &xml);
        result.unwrap();
        let rec = &records(&out)[0];
        assert_eq!(
            (rec.name.as_str(), rec.uuid.as_str()),
            ("define-cycle", uuid.as_str())
        );
        assert_eq!(
            (rec.action.as_str(), rec.state.as_str(), rec.persistent),
            ("defined", "shutoff", true)
        );
        // Not libvirt's "unknown": the domain has not run since it was defined.
        assert_eq!(rec.reason, "defined");
        assert_eq!(rec.uri, URI);
        assert_eq!(rec.id, None);

        let (out, result) = define(&["--no-validate"], &xml);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "redefined");

        let dom = conn.lookup(&uuid).unwrap();
        dom.create().unwrap();
        let bigger = xml.replace("<memory>8192</memory>", "<memory>16384</memory>");
        let (out, result) = define(&[], &bigger);
        result.unwrap();
        let rec = &records(&out)[0];
        assert_eq!(
            (rec.action.as_str(), rec.state.as_str()),
            ("defined-next-boot", "running")
        );
        // The live config is untouched; the persistent one is the new XML.
        assert!(dom.xml_desc(0).unwrap().contains(">8192<"));
        assert!(
            dom.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
                .unwrap()
                .contains(">16384<")
        );
        dom.destroy().unwrap();
        // Stopped since: libvirt knows why, and that reason stays.
        let (out, result) = define(&[], &xml);
        result.unwrap();
        let rec = &records(&out)[0];
        assert_eq!(
            (rec.action.as_str(), rec.reason.as_str()),
            ("redefined", "destroyed")
        );
        dom.undefine().unwrap();
    }

    #[test]
    fn malformed_and_schema_invalid_xml_are_bad_input() {
        let conn = crate::libvirt::testing::open();
        let (_, result) = define(&[], "<domain type='test'><name>x");
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT);
        assert!(err.to_string().starts_with("<stdin>:1:"), "{err}");

        let (xml, uuid) = domain_xml("define-schema");
        let bogus = xml.replace("</os>", "</os><bogus/>");
        let (_, result) = define(&[], &bogus);
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), exit::BAD_INPUT, "{err}");
        assert!(err.to_string().contains("schema"), "{err}");

        // Without validation libvirt's parser ignores what it does not know.
        let (out, result) = define(&["--no-validate"], &bogus);
        result.unwrap();
        assert_eq!(records(&out)[0].uuid, uuid);
        conn.lookup(&uuid).unwrap().undefine().unwrap();

        let (_, result) = define(&[], "{\"name\":\"x\"}");
        assert_eq!(result.unwrap_err().exit_code(), exit::BAD_INPUT);
    }

    #[test]
    fn a_name_taken_by_another_uuid_is_a_conflict() {
        let conn = crate::libvirt::testing::open();
        let (xml, uuid) = domain_xml("define-clash");
        define(&[], &xml).1.unwrap();
        let (other, _) = domain_xml("define-clash");
        let err = define(&[], &other).1.unwrap_err();
        assert_eq!(err.exit_code(), exit::CONFLICT, "{err}");
        assert!(err.to_string().contains(&uuid), "{err}");
        conn.lookup(&uuid).unwrap().undefine().unwrap();
    }

    #[test]
    fn defining_over_a_running_transient_install_marks_it_installing() {
        let conn = crate::libvirt::testing::open();
        let (fin, uuid) = domain_xml("define-late");
        let install_xml = fin.replace("</os>", "</os><on_reboot>destroy</on_reboot>");
        let dom = conn.connect.create_domain_xml(&install_xml, 0).unwrap();
        let (out, result) = define(&[], &fin);
        result.unwrap();
        assert_eq!(records(&out)[0].action, "defined-next-boot");
        let dom = conn.lookup(&uuid).unwrap_or(dom);
        assert_eq!(
            install::read(&dom).unwrap(),
            Some(install::State::Installing)
        );
        dom.destroy().unwrap();
        dom.undefine().unwrap();
    }
}
