//! A parsed document for byte-faithful editing: the element tree with byte spans over the
//! original text, which is never modified or re-serialized (edits are patches by byte
//! range, see `patch`). quick-xml finds the elements; `lexical` adds the checks of XML 1.0
//! and Namespaces in XML that quick-xml leaves out.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::error::{Error, Result};
use crate::xml::lexical;

/// One attribute of an element, with where its raw value sits in the text.
#[derive(Debug, Clone)]
pub struct Attr<'a> {
    /// Qualified name as written (`xmlns:domkit`, `dev`).
    pub name: &'a str,
    /// Offset of the attribute's name in the document (its value's closing quote ends it).
    pub start: usize,
    /// The value with entities resolved (borrowed from the text when it has none).
    pub value: Cow<'a, str>,
    /// Byte range of the raw value (between the quotes) in the document.
    pub value_range: Range<usize>,
}

/// One element of the document and its byte spans.
#[derive(Debug, Clone)]
pub struct Element<'a> {
    /// Qualified name as written.
    pub name: &'a str,
    /// Offset of the `<` that opens the start tag.
    pub start: usize,
    /// Offset just after the start tag's `>`.
    pub start_tag_end: usize,
    /// Offset of the `</` of the end tag (equal to `start_tag_end` for `<empty/>`).
    pub content_end: usize,
    /// Offset just after the element's last `>`.
    pub end: usize,
    /// Written as `<empty/>`.
    pub self_closing: bool,
    /// Attributes in document order.
    pub attrs: Vec<Attr<'a>>,
    /// Index of the parent element, `None` for the root.
    pub parent: Option<usize>,
    /// Indexes of the child elements, in document order.
    pub children: Vec<usize>,
    /// This element's place among its parent's children (0 for the root).
    pub position: usize,
}

/// Index of an element in [`Document::elements`].
pub type Id = usize;

/// A parsed document: the original text and its elements (index 0 is the root).
#[derive(Debug)]
pub struct Document<'a> {
    /// The original text, never modified.
    pub text: &'a str,
    /// Where the text came from, for error messages.
    pub source: &'a str,
    /// All elements in document order; the root is 0.
    pub elements: Vec<Element<'a>>,
}

const BOM: &str = "\u{feff}";

impl<'a> Document<'a> {
    /// Parses `text` as libvirt's libxml2 would accept it: well-formed XML 1.0 that is
    /// also namespace-well-formed. Refuses DTDs (and so entity declarations), characters
    /// XML forbids, bad names, unbound prefixes, attributes that clash after namespace
    /// expansion, undefined entities, `<` in attribute values, `--` in comments,
    /// unbalanced tags, several roots and text outside the root.
    ///
    /// # Errors
    /// [`Error::BadInput`] with the line and column of the first problem.
    pub fn parse(source: &'a str, text: &'a str) -> Result<Document<'a>> {
        if let Some((at, c)) = lexical::first_forbidden_char(text) {
            return Err(Error::at(
                source,
                text,
                at,
                format!(
                    "character {} is not allowed in XML",
                    lexical::describe_char(c)
                ),
            ));
        }
        let mut parser = Parser::new(source, text);
        // One byte order mark may open the document; quick-xml would skip a second one
        // too, but that one is text before the root element.
        if parser.body.starts_with(BOM) {
            return Err(Error::at(
                source,
                text,
                parser.skip,
                "text outside the root element (a second byte order mark)".to_string(),
            ));
        }
        let mut reader = Reader::from_str(parser.body);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        loop {
            let before = reader.buffer_position() as usize + parser.skip;
            let event = reader.read_event().map_err(|e| {
                let at = reader.error_position() as usize + parser.skip;
                Error::at(source, text, at, xml_error_message(&e.to_string()))
            })?;
            let after = reader.buffer_position() as usize + parser.skip;
            if matches!(event, Event::Eof) {
                break;
            }
            parser.event(before, after, event)?;
        }
        parser.finish()
    }

    /// The root element.
    pub fn root(&self) -> &Element<'a> {
        &self.elements[0]
    }

    /// The element with index `id`.
    pub fn el(&self, id: Id) -> &Element<'a> {
        &self.elements[id]
    }

    /// The sibling element just before `id`, if any.
    pub fn previous_sibling(&self, id: Id) -> Option<Id> {
        let e = &self.elements[id];
        let siblings = &self.elements[e.parent?].children;
        e.position.checked_sub(1).map(|p| siblings[p])
    }

    /// The sibling element just after `id`, if any.
    pub fn next_sibling(&self, id: Id) -> Option<Id> {
        let e = &self.elements[id];
        self.elements[e.parent?]
            .children
            .get(e.position + 1)
            .copied()
    }

    /// The first child of `parent` with qualified name `name`.
    pub fn child(&self, parent: Id, name: &str) -> Option<Id> {
        self.elements[parent]
            .children
            .iter()
            .copied()
            .find(|&c| self.elements[c].name == name)
    }

    /// All children of `parent` named `name`.
    pub fn children_named<'s>(
        &'s self,
        parent: Id,
        name: &'s str,
    ) -> impl Iterator<Item = Id> + 's {
        self.elements[parent]
            .children
            .iter()
            .copied()
            .filter(move |&c| self.elements[c].name == name)
    }

    /// The value of attribute `name` of element `id`.
    pub fn attr(&self, id: Id, name: &str) -> Option<&str> {
        self.elements[id]
            .attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_ref())
    }

    /// The local part of element `id`'s name (`slot` for `ns0:slot`).
    pub fn local_name(&self, id: Id) -> &'a str {
        lexical::split_qname(self.elements[id].name).1
    }

    /// The namespace name element `id` is in (Namespaces in XML 1.0: its prefix, or the
    /// default namespace for an unprefixed name, as bound where it stands); `None` for none.
    /// Elements are identified by this, never by the prefix that happens to be written.
    pub fn namespace_of(&self, id: Id) -> Option<&str> {
        self.resolve_prefix(id, lexical::split_qname(self.elements[id].name).0)
    }

    /// The namespace `prefix` (`""`: the default namespace) is bound to at element `id`,
    /// by its own declarations or its ancestors'.
    pub fn resolve_prefix(&self, id: Id, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(lexical::XML_NAMESPACE);
        }
        let mut at = Some(id);
        while let Some(e) = at {
            let declared = self.elements[e]
                .attrs
                .iter()
                .find(|a| lexical::declared_prefix(a.name) == Some(prefix));
            if let Some(a) = declared {
                return Some(a.value.as_ref()).filter(|ns| !ns.is_empty());
            }
            at = self.elements[e].parent;
        }
        None
    }

    /// A prefix (`""`: the default namespace) that names `namespace` at element `id`: the
    /// nearest declaration of it that no closer one overrides.
    pub fn prefix_for(&self, id: Id, namespace: &str) -> Option<&'a str> {
        let mut at = Some(id);
        while let Some(e) = at {
            for a in &self.elements[e].attrs {
                if let Some(prefix) = lexical::declared_prefix(a.name) {
                    if a.value == namespace && self.resolve_prefix(id, prefix) == Some(namespace) {
                        return Some(prefix);
                    }
                }
            }
            at = self.elements[e].parent;
        }
        None
    }

    /// Every prefix (`""`: the default namespace) that some element binds to `namespace`:
    /// only an element spelled with one of them can be in it (a quick filter before
    /// looking element by element; empty when nothing declares it).
    pub fn prefixes_bound_to(&self, namespace: &str) -> Vec<&'a str> {
        let mut prefixes = Vec::new();
        for e in &self.elements {
            for a in &e.attrs {
                match lexical::declared_prefix(a.name) {
                    Some(p) if a.value == namespace && !prefixes.contains(&p) => prefixes.push(p),
                    _ => {}
                }
            }
        }
        prefixes
    }

    /// The exact source text of element `id`, tags included.
    pub fn raw(&self, id: Id) -> &'a str {
        let e = &self.elements[id];
        &self.text[e.start..e.end]
    }

    /// The element's text content with entities and CDATA resolved (children's text included).
    ///
    /// # Errors
    /// An unknown entity reference.
    pub fn text_of(&self, id: Id) -> Result<String> {
        let e = &self.elements[id];
        decode_content(
            self.source,
            self.text,
            e.start_tag_end,
            &self.text[e.start_tag_end..e.content_end],
        )
    }

    /// The text of child `name` of `parent`, if that child exists.
    ///
    /// # Errors
    /// An unknown entity reference.
    pub fn child_text(&self, parent: Id, name: &str) -> Result<Option<String>> {
        self.child(parent, name)
            .map(|c| self.text_of(c))
            .transpose()
    }

    /// The run of spaces and tabs that starts the line holding offset `pos`.
    pub fn indent_at(&self, pos: usize) -> &'a str {
        let line_start = line_start(self.text, pos);
        let line = &self.text[line_start..];
        let len = line
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        &line[..len]
    }

    /// The byte range element `id` occupies together with its line, when it stands alone on
    /// its line(s): from the line's start to just after its newline. `None` when anything
    /// else shares its first or last line.
    pub fn own_lines(&self, id: Id) -> Option<Range<usize>> {
        let e = &self.elements[id];
        let start = self.blank_line_start(e.start)?;
        let rest = &self.text[e.end..];
        let blank = rest
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
            .count();
        scanned(blank);
        match rest.as_bytes().get(blank) {
            Some(b'\n') => Some(start..e.end + blank + 1),
            None => Some(start..self.text.len()),
            Some(_) => None,
        }
    }

    /// Where the line holding `pos` starts, when only spaces and tabs stand between that
    /// start and `pos`; `None` when anything else does. It looks back over those blanks
    /// only, never along the whole line: asked for each of many elements on one long line
    /// (a document on one line, a profile's slots on one line), a search back to the line's
    /// start would make every edit of them quadratic.
    pub fn blank_line_start(&self, pos: usize) -> Option<usize> {
        let before = &self.text.as_bytes()[..pos];
        let blanks = before
            .iter()
            .rev()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        scanned(blanks);
        let start = pos - blanks;
        (start == 0 || before[start - 1] == b'\n').then_some(start)
    }

    /// The offset just after the line that ends at or after `pos`, when only blanks follow
    /// `pos` on that line; otherwise `pos` itself.
    pub fn after_line(&self, pos: usize) -> usize {
        let rest = &self.text[pos..];
        let blank = rest
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
            .count();
        scanned(blank);
        match rest.as_bytes().get(blank) {
            Some(b'\n') => pos + blank + 1,
            _ => pos,
        }
    }

    /// The indentation one nesting level adds in this document (guessed from the root's
    /// first child; two spaces when there is nothing to go by).
    pub fn indent_unit(&self) -> String {
        let root = self.root();
        if let Some(&first) = root.children.first() {
            if self.own_lines(first).is_some() {
                let child = self.indent_at(self.elements[first].start);
                let parent = self.indent_at(root.start);
                if let Some(unit) = child.strip_prefix(parent) {
                    if !unit.is_empty() {
                        return unit.to_string();
                    }
                }
            }
        }
        "  ".to_string()
    }

    /// The quote character the document mostly uses for attribute values.
    pub fn quote(&self) -> char {
        let mut single = 0usize;
        let mut double = 0usize;
        for e in self.elements.iter().take(64) {
            for a in &e.attrs {
                match self
                    .text
                    .as_bytes()
                    .get(a.value_range.start.wrapping_sub(1))
                {
                    Some(b'\'') => single += 1,
                    Some(b'"') => double += 1,
                    _ => {}
                }
            }
        }
        if single > double { '\'' } else { '"' }
    }

    /// The line ending the document uses (`\r\n` or `\n`).
    pub fn newline(&self) -> &'static str {
        match self.text.find('\n') {
            Some(i) if i > 0 && self.text.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        }
    }
}

fn xml_error_message(message: &str) -> String {
    // quick-xml messages are already short; keep them on one line.
    message.replace('\n', " ")
}

/// The state of one parse: the elements found so far, the open ones, and the namespace
/// scopes, checked event by event.
struct Parser<'a> {
    source: &'a str,
    text: &'a str,
    /// `text` without a leading BOM: quick-xml strips a BOM without counting it in its
    /// positions, so it reads `body` and every offset gets `skip` added back.
    body: &'a str,
    skip: usize,
    elements: Vec<Element<'a>>,
    open: Vec<Id>,
    root_closed: bool,
    events: usize,
    scopes: lexical::Scopes<'a>,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str, text: &'a str) -> Parser<'a> {
        let skip = if text.starts_with(BOM) { BOM.len() } else { 0 };
        Parser {
            source,
            text,
            body: &text[skip..],
            skip,
            elements: Vec::new(),
            open: Vec::new(),
            root_closed: false,
            events: 0,
            scopes: lexical::Scopes::default(),
        }
    }

    fn err(&self, at: usize, message: impl Into<String>) -> Error {
        Error::at(self.source, self.text, at, message)
    }

    /// Where a slice that quick-xml borrowed from the body sits in the text.
    fn offset_of(&self, slice: &str) -> Option<usize> {
        let base = self.body.as_ptr() as usize;
        let ptr = slice.as_ptr() as usize;
        (ptr >= base && ptr + slice.len() <= base + self.body.len()).then(|| ptr - base + self.skip)
    }

    /// The text of a slice borrowed from the body.
    fn borrowed(&self, slice: &str, at: usize) -> Result<&'a str> {
        let start = self
            .offset_of(slice)
            .ok_or_else(|| self.err(at, "internal error: a name not borrowed from the text"))?;
        Ok(&self.text[start..start + slice.len()])
    }

    fn outside_root(&self) -> bool {
        self.open.is_empty()
    }

    fn event(&mut self, before: usize, after: usize, event: Event<'_>) -> Result<()> {
        self.events += 1;
        match event {
            Event::Start(ref start) => self.start(before, after, start, false),
            Event::Empty(ref start) => self.start(before, after, start, true),
            Event::End(_) => self.end(before, after),
            Event::DocType(_) => Err(self.err(
                before,
                "DOCTYPE declarations are not accepted (no DTDs, no entity declarations)",
            )),
            Event::Decl(ref decl) => self.declaration(before, decl),
            Event::PI(ref pi) => {
                let target = pi.target();
                let target: &str = target;
                if target.eq_ignore_ascii_case("xml") {
                    Err(self.err(
                        before,
                        "the XML declaration is only allowed at the very start",
                    ))
                } else if !lexical::is_name(target) || target.contains(':') {
                    Err(self.err(
                        before,
                        format!("'{target}' is not a processing instruction name"),
                    ))
                } else {
                    Ok(())
                }
            }
            Event::Comment(ref c) => match lexical::comment_problem(c) {
                Some(problem) => Err(self.err(before, problem)),
                None => Ok(()),
            },
            Event::Text(ref t) => {
                let raw: &str = t;
                if self.outside_root() && !raw.bytes().all(|b| b.is_ascii_whitespace()) {
                    Err(self.err(before, "text outside the root element"))
                } else if let Some(i) = raw.find("]]>") {
                    Err(self.err(before + i, "']]>' is not allowed in text (write ]]&gt;)"))
                } else {
                    Ok(())
                }
            }
            Event::CData(_) if self.outside_root() => {
                Err(self.err(before, "text outside the root element"))
            }
            Event::GeneralRef(ref r) => {
                if self.outside_root() {
                    return Err(self.err(before, "text outside the root element"));
                }
                let name: &str = r;
                lexical::resolve_reference(name)
                    .map(|_| ())
                    .map_err(|m| self.err(before, m))
            }
            _ => Ok(()),
        }
    }

    fn declaration(&self, at: usize, decl: &quick_xml::events::BytesDecl<'_>) -> Result<()> {
        if at != self.skip || self.events != 1 {
            return Err(self.err(at, "the XML declaration is only allowed at the very start"));
        }
        // `<?xml version=... encoding=... standalone=...?>`: these three, in this order.
        let raw: &str = decl;
        let content =
            BytesStart::from_content(raw, raw.find(char::is_whitespace).unwrap_or(raw.len()));
        let mut names = Vec::new();
        for attr in content.attributes().with_checks(true) {
            let attr = attr.map_err(|e| self.err(at, xml_error_message(&e.to_string())))?;
            names.push(attr.key.into_inner().to_string());
        }
        let allowed = ["version", "encoding", "standalone"];
        let in_order = names
            .iter()
            .map(|n| allowed.iter().position(|a| a == n))
            .collect::<Option<Vec<usize>>>()
            .is_some_and(|p| p.windows(2).all(|w| w[0] < w[1]) && p.first() == Some(&0));
        if !in_order {
            return Err(self.err(
                at,
                "the XML declaration takes version, then optionally encoding and standalone, nothing else",
            ));
        }
        if let Some(standalone) = decl.standalone() {
            let standalone =
                standalone.map_err(|e| self.err(at, xml_error_message(&e.to_string())))?;
            if !matches!(standalone.as_ref(), "yes" | "no") {
                return Err(self.err(at, "standalone must be yes or no"));
            }
        }
        let version = decl
            .version()
            .map_err(|e| self.err(at, xml_error_message(&e.to_string())))?;
        if !matches!(version.as_ref(), "1.0" | "1.1") {
            return Err(self.err(at, format!("XML version {} is not supported", version)));
        }
        if let Some(encoding) = decl.encoding() {
            let encoding = encoding.map_err(|e| self.err(at, xml_error_message(&e.to_string())))?;
            // EncName: [A-Za-z] ([A-Za-z0-9._] | '-')*
            let enc_name = encoding.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphabetic() || (i > 0 && (b.is_ascii_digit() || b"._-".contains(&b)))
            });
            if encoding.is_empty() || !enc_name {
                let shown: String = encoding
                    .chars()
                    .take(40)
                    .flat_map(char::escape_debug)
                    .collect();
                return Err(self.err(at, format!("'{shown}' is not an encoding name")));
            }
            let name = encoding.to_ascii_lowercase();
            let utf8 = matches!(name.as_str(), "utf-8" | "utf8");
            // A declared single-byte encoding reads the same as UTF-8 while the text is ASCII.
            if !utf8
                && (name.starts_with("utf-16") || name.starts_with("ucs") || !self.text.is_ascii())
            {
                return Err(self.err(
                    at,
                    format!("the document declares encoding {name}, but it is read as UTF-8; convert it to UTF-8"),
                ));
            }
        }
        Ok(())
    }

    fn start(
        &mut self,
        before: usize,
        after: usize,
        start: &BytesStart<'_>,
        self_closing: bool,
    ) -> Result<()> {
        if self.root_closed || (self.open.is_empty() && !self.elements.is_empty()) {
            return Err(self.err(before, "content after the root element"));
        }
        let name = self.borrowed(start.name().into_inner(), before)?;
        if !lexical::is_qname(name) {
            return Err(self.err(before, format!("<{name}> is not an element name")));
        }
        let attrs = self.attributes(before, start)?;
        self.scopes
            .open(
                attrs
                    .iter()
                    .filter(|a| lexical::declared_prefix(a.name).is_some())
                    .map(|a| (a.name, a.value.clone())),
            )
            .map_err(|m| self.err(before, format!("<{name}>: {m}")))?;
        self.check_namespaces(before, name, &attrs)?;
        let id = self.elements.len();
        let parent = self.open.last().copied();
        let position = parent.map_or(0, |p| self.elements[p].children.len());
        self.elements.push(Element {
            name,
            start: before,
            start_tag_end: after,
            content_end: after,
            end: after,
            self_closing,
            attrs,
            parent,
            children: Vec::new(),
            position,
        });
        if let Some(p) = parent {
            self.elements[p].children.push(id);
        }
        if self_closing {
            self.scopes.close();
            self.root_closed |= parent.is_none();
        } else {
            self.open.push(id);
        }
        Ok(())
    }

    /// The element's prefix and every attribute's are bound, and no two attributes have
    /// the same expanded name.
    fn check_namespaces(&self, at: usize, name: &str, attrs: &[Attr<'a>]) -> Result<()> {
        let (prefix, _) = lexical::split_qname(name);
        if prefix == "xmlns" || (!prefix.is_empty() && self.scopes.resolve(prefix).is_none()) {
            return Err(self.err(
                at,
                format!("<{name}>: the namespace prefix '{prefix}' is not declared"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for attr in attrs {
            let (prefix, local) = lexical::split_qname(attr.name);
            if attr.name == "xmlns" || prefix == "xmlns" {
                continue;
            }
            let namespace = match prefix {
                "" => None,
                p => Some(self.scopes.resolve(p).ok_or_else(|| {
                    self.err(
                        at,
                        format!(
                            "<{name}>: the namespace prefix of attribute '{}' is not declared",
                            attr.name
                        ),
                    )
                })?),
            };
            if !seen.insert((namespace, local)) {
                return Err(self.err(
                    at,
                    format!(
                        "<{name}>: attribute '{}' is given twice (same namespace and name)",
                        attr.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn attributes(&self, at: usize, start: &BytesStart<'_>) -> Result<Vec<Attr<'a>>> {
        let mut attrs = Vec::new();
        for attr in start.attributes().with_checks(true) {
            let attr = attr.map_err(|e| self.err(at, xml_error_message(&e.to_string())))?;
            let key = attr.key.into_inner();
            let name = self.borrowed(key, at)?;
            let start = self.offset_of(key).unwrap_or(at);
            if !lexical::is_qname(name) {
                return Err(self.err(at, format!("'{name}' is not an attribute name")));
            }
            // Reader::from_str borrows: the raw value is a slice of the text itself.
            let raw: &str = match &attr.value {
                Cow::Borrowed(b) => b,
                Cow::Owned(_) => {
                    return Err(self.err(at, "internal error: attribute value not borrowed"));
                }
            };
            let value_start = self
                .offset_of(raw)
                .ok_or_else(|| self.err(at, "internal error: attribute value not borrowed"))?;
            let value_end = value_start + raw.len();
            let raw_str = &self.text[value_start..value_end];
            if let Some(i) = raw_str.find('<') {
                return Err(self.err(
                    value_start + i,
                    format!("'<' is not allowed in attribute values (attribute '{name}')"),
                ));
            }
            // Attributes are separated by white space: `a='1'b='2'` is not XML.
            if let Some(&next) = self.text.as_bytes().get(value_end + 1) {
                if !matches!(next, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>' | b'?') {
                    return Err(
                        self.err(value_end + 1, "attributes must be separated by white space")
                    );
                }
            }
            let value = lexical::resolve_references(raw_str)
                .map_err(|(i, m)| self.err(value_start + i, m))?;
            attrs.push(Attr {
                name,
                start,
                value,
                value_range: value_start..value_end,
            });
        }
        Ok(attrs)
    }

    fn end(&mut self, before: usize, after: usize) -> Result<()> {
        let Some(id) = self.open.pop() else {
            return Err(self.err(before, "end tag without a start tag"));
        };
        self.scopes.close();
        self.elements[id].content_end = before;
        self.elements[id].end = after;
        self.root_closed |= self.open.is_empty();
        Ok(())
    }

    fn finish(self) -> Result<Document<'a>> {
        if let Some(&id) = self.open.last() {
            let name = self.elements[id].name;
            return Err(self.err(self.elements[id].start, format!("unclosed <{name}>")));
        }
        if self.elements.is_empty() {
            return Err(self.err(self.text.len(), "no root element"));
        }
        Ok(Document {
            text: self.text,
            source: self.source,
            elements: self.elements,
        })
    }
}

/// Resolves the five predefined entities and character references in `raw`, found at
/// byte `offset` of `text`.
///
/// # Errors
/// Any other entity reference (no DTDs here, so nothing else can be defined), a character
/// reference to a character XML forbids, or a bare `&`.
pub fn unescape(source: &str, text: &str, offset: usize, raw: &str) -> Result<String> {
    lexical::resolve_references(raw)
        .map(Cow::into_owned)
        .map_err(|(i, m)| Error::at(source, text, offset + i, m))
}

/// Text content of a stretch of markup: text with entities resolved, CDATA verbatim,
/// comments and tags skipped.
fn decode_content(source: &str, text: &str, offset: usize, content: &str) -> Result<String> {
    if !content.contains(['<', '&']) {
        return Ok(content.to_string());
    }
    let mut reader = Reader::from_str(content);
    reader.config_mut().check_end_names = false;
    let mut out = String::new();
    loop {
        let at = offset + reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Text(t)) => out.push_str(&t),
            Ok(Event::CData(c)) => out.push_str(&c),
            Ok(Event::GeneralRef(r)) => {
                let name: &str = &r;
                let c =
                    lexical::resolve_reference(name).map_err(|m| Error::at(source, text, at, m))?;
                out.push(c);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(Error::at(
                    source,
                    text,
                    at,
                    xml_error_message(&e.to_string()),
                ));
            }
        }
    }
    Ok(out)
}

/// The name of the one element `text` consists of, checked for balanced tags and with
/// nothing before or after it: how a recorded fragment is checked before it goes into a
/// document (namespaces are checked on the whole document afterwards).
///
/// # Errors
/// Why `text` is not exactly one complete element.
pub fn single_element(text: &str) -> std::result::Result<&str, String> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut depth = 0usize;
    let mut name = None;
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| xml_error_message(&e.to_string()))?;
        match event {
            Event::Eof if depth == 0 && name.is_some() => break,
            Event::Eof => return Err("it ends inside an element".into()),
            _ if depth == 0 && name.is_some() => {
                return Err("something follows the element".into());
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                if depth == 0 {
                    if at != 0 {
                        return Err("something precedes the element".into());
                    }
                    // The name as written right after the text's first `<` (the reader
                    // skips a byte order mark, which is something before the element).
                    let n = start.name().into_inner();
                    let written = text
                        .get(1..=n.len())
                        .filter(|w| w.as_bytes() == AsRef::<[u8]>::as_ref(n));
                    name = Some(written.ok_or("something precedes the element")?);
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::End(_) if depth == 0 => return Err("an end tag without a start tag".into()),
            Event::End(_) => depth -= 1,
            Event::DocType(_) | Event::Decl(_) => return Err("a declaration inside".into()),
            _ if depth == 0 => return Err("something precedes the element".into()),
            _ => {}
        }
    }
    name.ok_or_else(|| "no element".to_string())
}

/// Offset of the start of the line holding `pos`. It searches the whole line back from
/// `pos`: per element of a long line, use [`Document::blank_line_start`].
pub fn line_start(text: &str, pos: usize) -> usize {
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    scanned(pos - start);
    start
}

#[cfg(test)]
thread_local! {
    static SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts, in tests, the bytes the line queries look at: an edit of N elements must look
/// at a number that grows with N, not with N times the length of their lines (see
/// `edit::tests::removal_work_is_linear_on_every_layout`). A count, not a clock, so the
/// check holds on a loaded machine.
#[cfg(test)]
fn scanned(bytes: usize) {
    SCANNED.with(|c| c.set(c.get() + bytes));
}

#[cfg(not(test))]
fn scanned(_bytes: usize) {}

/// The bytes line queries looked at on this thread so far (tests only).
#[cfg(test)]
pub(crate) fn scanned_bytes() -> usize {
    SCANNED.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document<'_> {
        Document::parse("t.xml", text).unwrap()
    }

    #[test]
    fn spans_cover_the_exact_tags() {
        let text = "<domain type='kvm'>\n  <name>a&amp;b</name>\n  <os/>\n</domain>\n";
        let d = doc(text);
        assert_eq!(d.raw(0), &text[..text.len() - 1]);
        let name = d.child(0, "name").unwrap();
        assert_eq!(d.raw(name), "<name>a&amp;b</name>");
        assert_eq!(d.text_of(name).unwrap(), "a&b");
        let os = d.child(0, "os").unwrap();
        assert!(d.el(os).self_closing);
        assert_eq!(d.attr(0, "type"), Some("kvm"));
        assert_eq!(&text[d.el(0).attrs[0].value_range.clone()], "kvm");
    }

    #[test]
    fn a_second_bom_is_text_before_the_root() {
        let err = Document::parse("t", "\u{feff}\u{feff}<a/>").err().unwrap();
        assert!(err.to_string().contains("second byte order mark"), "{err}");
    }

    #[test]
    fn a_bom_does_not_shift_offsets() {
        let text = "\u{feff}<domain>\n  <name>x</name>\n</domain>";
        let d = doc(text);
        let name = d.child(0, "name").unwrap();
        assert_eq!(d.raw(name), "<name>x</name>");
        assert_eq!(d.attr(0, "x"), None);
    }

    #[test]
    fn own_lines_includes_indent_and_newline() {
        let text = "<a>\n  <b/>\n  <c/> <d/>\n</a>";
        let d = doc(text);
        let b = d.child(0, "b").unwrap();
        assert_eq!(&text[d.own_lines(b).unwrap()], "  <b/>\n");
        assert!(d.own_lines(d.child(0, "c").unwrap()).is_none());
        assert_eq!(d.indent_unit(), "  ");
    }

    #[test]
    fn elements_are_in_the_namespace_their_prefix_is_bound_to_where_they_stand() {
        let d = Document::parse(
            "t",
            "<a xmlns:p='urn:1'><m xmlns='urn:1'><p:b/><c/><q:d xmlns:q='urn:1'/></m><p:e xmlns:p='urn:2'/><f xmlns=''/></a>",
        )
        .unwrap();
        let ns: Vec<Option<&str>> = (0..d.elements.len()).map(|i| d.namespace_of(i)).collect();
        // a, m, p:b, c, q:d, p:e (p rebound), f (default namespace undeclared)
        assert_eq!(
            ns,
            [
                None,
                Some("urn:1"),
                Some("urn:1"),
                Some("urn:1"),
                Some("urn:1"),
                Some("urn:2"),
                None
            ]
        );
        assert_eq!(d.local_name(2), "b");
        assert_eq!(d.prefix_for(2, "urn:1"), Some(""));
        assert_eq!(d.prefix_for(0, "urn:1"), Some("p"));
        // Inside <p:e>, p names urn:2: urn:1 is not spelled p there.
        assert_eq!(d.prefix_for(5, "urn:1"), None);
        assert_eq!(d.prefixes_bound_to("urn:1"), ["p", "", "q"]);
        assert!(d.prefixes_bound_to("urn:3").is_empty());
    }

    #[test]
    fn bad_documents_are_refused_with_a_position() {
        for (text, want) in [
            ("<a><b></a>", "t.xml:1:"),
            ("<a>", "unclosed <a>"),
            ("<!DOCTYPE a [<!ENTITY x 'y'>]><a/>", "DOCTYPE"),
            ("<a/><b/>", "after the root"),
            ("", "no root element"),
            ("<a x='1' x='2'/>", "t.xml:1:"),
            ("<a>\n<b x='&bogus;'/></a>", "t.xml:2:"),
        ] {
            let err = Document::parse("t.xml", text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn what_libxml2_refuses_is_refused_here_with_a_position() {
        for (text, want) in [
            ("<a>\n<b>\u{1}</b></a>", "t.xml:2:4: character U+0001"),
            ("<a x='<'/>", "'<' is not allowed in attribute values"),
            ("<a><!-- x -- y --></a>", "'--' is not allowed"),
            ("<a><!-- x---></a>", "must not end with '-'"),
            ("<a>&nbsp;</a>", "undefined entity &nbsp;"),
            ("<a>&#0;</a>", "&#0; is not a character"),
            ("<a x='&#1;'/>", "&#1; is not a character"),
            ("<a>x & y</a>", "t.xml:1:"),
            ("<1a/>", "is not an element name"),
            ("<a:b:c/>", "is not an element name"),
            ("<p:a/>", "prefix 'p' is not declared"),
            ("<a p:x='1'/>", "prefix of attribute 'p:x' is not declared"),
            (
                "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
                "given twice",
            ),
            ("<a xmlns:p=''/>", "unbinds a prefix"),
            ("<a x='1'y='2'/>", "separated by white space"),
            (
                "\n<?xml version='1.0'?><a/>",
                "only allowed at the very start",
            ),
            (
                "<a><?xml version='1.0'?></a>",
                "only allowed at the very start",
            ),
            ("<?xml version='2.0'?><a/>", "version 2.0"),
            (
                "<?xml version='1.0' encoding='UTF-16'?><a/>",
                "encoding utf-16",
            ),
            (
                "<?xml version='1.0' encoding='latin1'?><a>é</a>",
                "encoding latin1",
            ),
            ("<a>]]></a>", "']]>' is not allowed"),
            (
                "<?xml version='1.0' foo='x'?><a/>",
                "the XML declaration takes",
            ),
            (
                "<?xml version='1.0' standalone='yes' encoding='utf-8'?><a/>",
                "the XML declaration takes",
            ),
            ("<?xml encoding='utf-8'?><a/>", "the XML declaration takes"),
            (
                "<?xml version='1.0' standalone='maybe'?><a/>",
                "standalone must be yes or no",
            ),
            (
                "<?xml version='1.0' encoding='<'?><a/>",
                "not an encoding name",
            ),
            (
                "<?xml version='1.0' encoding=''?><a/>",
                "not an encoding name",
            ),
        ] {
            let err = Document::parse("t.xml", text).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::exit::BAD_INPUT);
            let msg = err.to_string();
            assert!(msg.contains(want), "{text:?}: {msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn what_libxml2_accepts_is_accepted() {
        for text in [
            "<?xml version='1.0' encoding='utf-8'?>\n<a/>",
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
            "<?xml version='1.0' encoding='UTF-8' standalone='no'?><a/>",
            "<a xmlns:p='u'><p:b p:x='1' x='2'/></a>",
            "<a xmlns='u'><b xmlns=''/></a>",
            "<a xml:lang='en'>&lt;&#x41;&#66;&amp;</a>",
            "<a><![CDATA[ <x> & ]]]]><![CDATA[> ]]></a>",
            "<a></a >",
            "<a><?pi data?><!-- c - d --></a>",
        ] {
            Document::parse("t.xml", text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
    }
}
