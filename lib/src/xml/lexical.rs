//! The rules of XML 1.0 and Namespaces in XML that quick-xml leaves to its caller: which
//! characters a document may hold, what a name and a reference look like, and which
//! namespace prefixes are bound where. libvirt reads documents with libxml2, which refuses
//! (or silently drops) what these rules forbid, so domkit refuses it too.

use std::borrow::Cow;
use std::collections::HashMap;

/// The namespace the `xml` prefix is bound to, always.
pub const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` declarations themselves; nothing may be bound to it.
pub const XMLNS_NAMESPACE: &str = "http://www.w3.org/2000/xmlns/";

/// Whether XML 1.0 allows `c` in a document (the `Char` production).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The byte offset and the character of the first character XML 1.0 forbids in `text`.
pub fn first_forbidden_char(text: &str) -> Option<(usize, char)> {
    // Only C0 controls and U+FFFE/U+FFFF can occur in a Rust string and be forbidden: look
    // for their first bytes, then confirm on the decoded character.
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(i) = bytes[at..]
        .iter()
        .position(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF)
    {
        let offset = at + i;
        let c = text[offset..].chars().next().unwrap_or(' ');
        if !is_xml_char(c) {
            return Some((offset, c));
        }
        at = offset + c.len_utf8();
    }
    None
}

/// How a character is named in messages: `U+0001`.
pub fn describe_char(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// Refuses text that XML cannot hold, for values that go into a document (names, paths,
/// command lines): `what` names the value in the message.
///
/// # Errors
/// The value holds a character XML 1.0 forbids.
pub fn check_text(what: &str, value: &str) -> std::result::Result<(), String> {
    match first_forbidden_char(value) {
        Some((_, c)) => Err(format!(
            "{what}: contains {}, which XML cannot hold",
            describe_char(c)
        )),
        None => Ok(()),
    }
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | 'a'..='z' | '_' | ':'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `name` is an XML `Name`.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Whether `name` is a qualified name of Namespaces in XML: `local` or `prefix:local`.
pub fn is_qname(name: &str) -> bool {
    let ncname = |s: &str| !s.is_empty() && !s.contains(':') && is_name(s);
    match name.split_once(':') {
        Some((prefix, local)) => ncname(prefix) && ncname(local),
        None => ncname(name),
    }
}

/// The prefix and local part of a qualified name (`""` for no prefix).
pub fn split_qname(name: &str) -> (&str, &str) {
    name.split_once(':').unwrap_or(("", name))
}

/// The prefix an attribute named `name` declares: `Some("")` for `xmlns`, `Some("p")` for
/// `xmlns:p`, `None` for an ordinary attribute.
pub fn declared_prefix(name: &str) -> Option<&str> {
    match name.strip_prefix("xmlns")? {
        "" => Some(""),
        rest => rest.strip_prefix(':'),
    }
}

/// The character a reference stands for: one of the five predefined entities or a
/// character reference to a character XML allows.
///
/// # Errors
/// Anything else: with no DTD, no other entity can be defined.
pub fn resolve_reference(name: &str) -> std::result::Result<char, String> {
    let code = match name {
        "lt" => return Ok('<'),
        "gt" => return Ok('>'),
        "amp" => return Ok('&'),
        "apos" => return Ok('\''),
        "quot" => return Ok('"'),
        _ => match name.strip_prefix('#') {
            Some(hex) if hex.starts_with('x') => u32::from_str_radix(&hex[1..], 16).ok(),
            Some(dec) if !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit()) => {
                dec.parse::<u32>().ok()
            }
            Some(_) => None,
            None => return Err(format!("undefined entity &{name};")),
        },
    };
    match code.and_then(char::from_u32) {
        Some(c) if is_xml_char(c) => Ok(c),
        _ => Err(format!("&{name}; is not a character XML allows")),
    }
}

/// `raw` (an attribute value or text as written) with its references resolved; borrowed
/// when it has none.
///
/// # Errors
/// The byte offset in `raw` and the message of the first bad reference or bare `&`.
pub fn resolve_references(raw: &str) -> std::result::Result<Cow<'_, str>, (usize, String)> {
    if !raw.contains('&') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let at = raw.len() - rest.len() + amp;
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';') else {
            return Err((at, "'&' must start a reference such as &amp;".into()));
        };
        out.push(resolve_reference(&after[..semi]).map_err(|m| (at, m))?);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Why a comment's text is not allowed (`--` inside, or `-` at its end), if it is not.
pub fn comment_problem(content: &str) -> Option<&'static str> {
    if content.contains("--") {
        Some("'--' is not allowed inside a comment")
    } else if content.ends_with('-') {
        Some("a comment must not end with '-' before '-->'")
    } else {
        None
    }
}

/// The namespace prefixes in scope while walking a document, with the bindings each open
/// element made, so closing it restores its parent's scope.
#[derive(Debug, Default)]
pub struct Scopes<'a> {
    bound: HashMap<&'a str, Vec<Cow<'a, str>>>,
    made: Vec<Vec<&'a str>>,
}

impl<'a> Scopes<'a> {
    /// Opens an element's scope with its `xmlns` and `xmlns:p` attributes (name, value).
    ///
    /// # Errors
    /// A declaration Namespaces in XML forbids.
    pub fn open(
        &mut self,
        declarations: impl Iterator<Item = (&'a str, Cow<'a, str>)>,
    ) -> std::result::Result<(), String> {
        let mut made = Vec::new();
        for (name, uri) in declarations {
            let Some(prefix) = declared_prefix(name) else {
                continue;
            };
            if prefix == "xmlns" {
                return Err("the prefix 'xmlns' cannot be declared".into());
            }
            if !prefix.is_empty() && uri.is_empty() {
                return Err(format!(
                    "xmlns:{prefix}=\"\" unbinds a prefix, which Namespaces in XML 1.0 forbids"
                ));
            }
            if (prefix == "xml") != (uri == XML_NAMESPACE) {
                return Err(format!(
                    "the prefix 'xml' and {XML_NAMESPACE} belong to each other only"
                ));
            }
            if uri == XMLNS_NAMESPACE {
                return Err(format!("nothing may be bound to {XMLNS_NAMESPACE}"));
            }
            self.bound.entry(prefix).or_default().push(uri);
            made.push(prefix);
        }
        self.made.push(made);
        Ok(())
    }

    /// Closes the innermost open element's scope.
    pub fn close(&mut self) {
        for prefix in self.made.pop().unwrap_or_default() {
            if let Some(stack) = self.bound.get_mut(prefix) {
                stack.pop();
            }
        }
    }

    /// The namespace `prefix` is bound to (`""`: the default namespace, `None` when none).
    pub fn resolve(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NAMESPACE);
        }
        self.bound
            .get(prefix)
            .and_then(|s| s.last())
            .map(|u| u.as_ref())
            .filter(|u| !u.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_found_where_they_are() {
        assert_eq!(first_forbidden_char("ab\tc\r\n"), None);
        assert_eq!(first_forbidden_char("é\u{1}"), Some((2, '\u{1}')));
        assert_eq!(first_forbidden_char("x\u{FFFE}"), Some((1, '\u{FFFE}')));
        assert_eq!(first_forbidden_char("\u{FEFF}\u{FFFD}"), None);
        assert!(
            check_text("--name", "a\u{0}b")
                .unwrap_err()
                .contains("U+0000")
        );
    }

    #[test]
    fn names_and_qualified_names() {
        assert!(is_qname("domain") && is_qname("libosinfo:os") && is_qname("a-b.c_1"));
        assert!(!is_qname("1a") && !is_qname("a:b:c") && !is_qname(":a") && !is_qname("a:"));
        assert!(!is_qname("") && !is_qname("a b"));
    }

    #[test]
    fn references() {
        assert_eq!(resolve_references("a&amp;b&#x41;&#66;").unwrap(), "a&bAB");
        assert!(resolve_references("&#0;").is_err());
        assert!(resolve_references("&#xFFFE;").is_err());
        assert!(
            resolve_references("&nbsp;")
                .unwrap_err()
                .1
                .contains("undefined")
        );
        assert_eq!(resolve_references("x & y").unwrap_err().0, 2);
        assert!(matches!(resolve_references("plain"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn comments() {
        assert!(comment_problem(" ok - fine ").is_none());
        assert!(comment_problem(" a -- b ").is_some());
        assert!(comment_problem(" a-").is_some());
    }

    #[test]
    fn scopes_bind_and_unbind() {
        let mut s = Scopes::default();
        s.open([("xmlns:p", Cow::Borrowed("urn:p"))].into_iter())
            .unwrap();
        assert_eq!(s.resolve("p"), Some("urn:p"));
        s.open([("xmlns:p", Cow::Borrowed("urn:q"))].into_iter())
            .unwrap();
        assert_eq!(s.resolve("p"), Some("urn:q"));
        s.close();
        assert_eq!(s.resolve("p"), Some("urn:p"));
        s.close();
        assert_eq!(s.resolve("p"), None);
        assert_eq!(s.resolve("xml"), Some(XML_NAMESPACE));
        for bad in [
            ("xmlns:p", ""),
            ("xmlns:xmlns", "urn:x"),
            ("xmlns:xml", "urn:x"),
            ("xmlns:x", XML_NAMESPACE),
            ("xmlns", XMLNS_NAMESPACE),
        ] {
            let mut s = Scopes::default();
            assert!(
                s.open([(bad.0, Cow::Borrowed(bad.1))].into_iter()).is_err(),
                "{bad:?}"
            );
        }
    }
}
