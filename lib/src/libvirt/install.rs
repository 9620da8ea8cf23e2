//! The install state of a defined domain, kept where a second run can see it: in the
//! domain's own persistent `<metadata>`, under domkit's install namespace, written with
//! virDomainSetMetadata on the config only. `installing` (dom-create started the install
//! config), `installed` (dom-wait-shutdown saw it stop cleanly), `failed` with a reason.

use std::fmt;

use virt::domain::Domain;
use virt::sys;

use crate::error::Result;
use crate::xml::Document;

/// The XML namespace of the install state (domkit's profile namespace is another one).
pub const NAMESPACE: &str = "https://domkit.dev/xmlns/install/1";
/// The prefix libvirt writes for it.
const PREFIX: &str = "domkit-install";

/// Where an install stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The install config was started; nobody has seen it end yet.
    Installing,
    /// The install config stopped cleanly: the disk holds the installed system.
    Installed,
    /// The install ended otherwise; the reason word (destroyed, crashed, stalled, ...).
    Failed(String),
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Installing => f.write_str("installing"),
            State::Installed => f.write_str("installed"),
            State::Failed(why) => write!(f, "failed ({why})"),
        }
    }
}

impl State {
    /// The element libvirt stores (without namespace: libvirt adds it).
    fn element(&self) -> String {
        let (state, reason) = match self {
            State::Installing => ("installing", None),
            State::Installed => ("installed", None),
            State::Failed(why) => ("failed", Some(why.as_str())),
        };
        let reason = reason
            .map(|r| format!(" reason=\"{}\"", crate::xml::fragment::escape(r)))
            .unwrap_or_default();
        format!("<install state=\"{state}\"{reason}/>")
    }

    /// Reads the element libvirt returns; `None` for anything it does not recognise.
    fn parse(xml: &str) -> Option<State> {
        let doc = Document::parse("<metadata>", xml).ok()?;
        match doc.attr(0, "state")? {
            "installing" => Some(State::Installing),
            "installed" => Some(State::Installed),
            "failed" => Some(State::Failed(
                doc.attr(0, "reason").unwrap_or("unknown").to_string(),
            )),
            _ => None,
        }
    }
}

/// The install state in the domain's persistent config; `None` when it has none.
///
/// # Errors
/// libvirt's error (other than "no such metadata").
pub fn read(dom: &Domain) -> std::result::Result<Option<State>, virt::error::Error> {
    match dom.metadata(
        sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
        Some(NAMESPACE),
        sys::VIR_DOMAIN_AFFECT_CONFIG,
    ) {
        Ok(xml) => Ok(State::parse(&xml)),
        Err(e) if e.code().to_raw() == sys::VIR_ERR_NO_DOMAIN_METADATA => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the install state into the domain's persistent config (never the live one).
///
/// # Errors
/// libvirt's error, e.g. for a transient domain.
pub fn write(dom: &Domain, state: &State) -> std::result::Result<(), virt::error::Error> {
    dom.set_metadata(
        sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
        Some(&state.element()),
        Some(PREFIX),
        Some(NAMESPACE),
        sys::VIR_DOMAIN_AFFECT_CONFIG,
    )
}

/// `text` with the install state added to its `<metadata>`, so that a redefinition keeps
/// it in the same virDomainDefineXML call (a define replaces all metadata: writing it
/// afterwards would leave a moment where a kill loses it). A document that carries an
/// install state of its own is returned as it is. Only what goes to libvirt changes, never
/// the user's file.
///
/// # Errors
/// The document does not parse.
pub fn with_state(source: &str, text: &str, state: &State) -> Result<String> {
    let doc = Document::parse(source, text)?;
    if has_state(&doc) {
        return Ok(text.to_string());
    }
    let element =
        state
            .element()
            .replacen("<install ", &format!("<install xmlns=\"{NAMESPACE}\" "), 1);
    let root = doc.root();
    let (at, insert, cut) = match doc.child(0, "metadata").map(|id| doc.el(id)) {
        Some(m) if m.self_closing => (m.start, format!("<metadata>{element}</metadata>"), m.end),
        Some(m) => (m.start_tag_end, element, m.start_tag_end),
        None if root.self_closing => {
            return Ok(text.to_string());
        }
        None => (
            root.content_end,
            format!("<metadata>{element}</metadata>"),
            root.content_end,
        ),
    };
    Ok(format!("{}{insert}{}", &text[..at], &text[cut..]))
}

/// Whether `doc`'s `<metadata>` holds an element in the install namespace, as libvirt
/// finds it: by namespace name, whatever prefix (or default namespace) spells it.
fn has_state(doc: &Document<'_>) -> bool {
    !doc.prefixes_bound_to(NAMESPACE).is_empty()
        && doc.child(0, "metadata").is_some_and(|m| {
            doc.el(m)
                .children
                .iter()
                .any(|&c| doc.namespace_of(c) == Some(NAMESPACE))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::testing::{domain_xml, open};

    #[test]
    fn states_round_trip_through_libvirt_config_only() {
        let conn = open();
        let (xml, _) = domain_xml("install-state");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        assert_eq!(read(&dom).unwrap(), None);
        for state in [
            State::Installing,
            State::Failed("des\"troyed<".into()),
            State::Installed,
        ] {
            write(&dom, &state).unwrap();
            assert_eq!(read(&dom).unwrap(), Some(state));
        }
        let stored = dom.xml_desc(sys::VIR_DOMAIN_XML_INACTIVE).unwrap();
        assert!(stored.contains(NAMESPACE), "{stored}");
        dom.undefine().unwrap();
    }

    #[test]
    fn a_redefinition_carries_the_state_in_the_same_define() {
        let conn = open();
        let (xml, _) = domain_xml("install-redefine");
        let dom = conn.connect.define_domain_xml(&xml).unwrap();
        write(&dom, &State::Installed).unwrap();
        // A plain redefinition drops it: libvirt replaces all metadata.
        conn.connect.define_domain_xml(&xml).unwrap();
        assert_eq!(read(&dom).unwrap(), None);
        for doc in [
            xml.clone(),
            xml.replace("</os>", "</os><metadata/>"),
            xml.replace(
                "</os>",
                "</os><metadata><p:x xmlns:p='https://example.org/p'/></metadata>",
            ),
        ] {
            let text = with_state("t", &doc, &State::Installed).unwrap();
            conn.connect.define_domain_xml(&text).unwrap();
            assert_eq!(read(&dom).unwrap(), Some(State::Installed), "{text}");
        }
        let own = with_state(
            "t",
            &with_state("t", &xml, &State::Installing).unwrap(),
            &State::Installed,
        )
        .unwrap();
        assert!(own.contains("installing") && !own.contains("\"installed\""));
        // Found by namespace name, not by spelling: another prefix, or the namespace
        // named only in a comment (no state at all).
        let prefixed = xml.replace(
            "</os>",
            &format!("</os><metadata><s:i xmlns:s='{NAMESPACE}' state='installing'/></metadata>"),
        );
        assert_eq!(
            with_state("t", &prefixed, &State::Installed).unwrap(),
            prefixed
        );
        let commented = xml.replace("</os>", &format!("</os><!-- {NAMESPACE} -->"));
        let text = with_state("t", &commented, &State::Installed).unwrap();
        conn.connect.define_domain_xml(&text).unwrap();
        assert_eq!(read(&dom).unwrap(), Some(State::Installed), "{text}");
        dom.undefine().unwrap();
    }
}
