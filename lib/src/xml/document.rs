//! Byte-faithful XML editing: an element tree with byte spans over the original text, and
//! patches by byte range, so every byte outside an edit stays exactly as it was.
//!
//! quick-xml finds the elements; nothing is ever re-serialized from events. New fragments
//! come from quick-xml's `Writer`, so their escaping is right by construction.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::error::{Error, Result};

/// One attribute of an element, with where its raw value sits in the text.
#[derive(Debug, Clone)]
pub struct Attr<'a> {
    /// Qualified name as written (`xmlns:domkit`, `dev`).
    pub name: &'a str,
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
    /// Parses `text`; refuses DTDs (and so entity declarations), unbalanced tags, several
    /// roots, text outside the root, and unknown entity references in values it reads.
    ///
    /// # Errors
    /// [`Error::BadInput`] with the line and column of the first problem.
    pub fn parse(source: &'a str, text: &'a str) -> Result<Document<'a>> {
        // quick-xml strips a BOM without counting it in its positions: strip it ourselves
        // and add it back to every offset.
        let skip = if text.starts_with(BOM) { BOM.len() } else { 0 };
        let body = &text[skip..];
        let mut reader = Reader::from_str(body);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);

        let mut elements: Vec<Element<'a>> = Vec::new();
        let mut open: Vec<Id> = Vec::new();
        let mut root_closed = false;
        loop {
            let before = reader.buffer_position() as usize + skip;
            let event = reader.read_event().map_err(|e| {
                let at = reader.error_position() as usize + skip;
                Error::at(source, text, at, xml_error_message(&e.to_string()))
            })?;
            let after = reader.buffer_position() as usize + skip;
            match event {
                Event::Start(ref start) | Event::Empty(ref start) => {
                    if root_closed || (open.is_empty() && !elements.is_empty()) {
                        return Err(Error::at(
                            source,
                            text,
                            before,
                            "content after the root element",
                        ));
                    }
                    let self_closing = matches!(event, Event::Empty(_));
                    let attrs = read_attrs(source, text, body, skip, start)?;
                    let id = elements.len();
                    let parent = open.last().copied();
                    elements.push(Element {
                        name: {
                            let name = start.name().into_inner();
                            offset_in(body, skip, name).map_or("", |at| &text[at..at + name.len()])
                        },
                        start: before,
                        start_tag_end: after,
                        content_end: after,
                        end: after,
                        self_closing,
                        attrs,
                        parent,
                        children: Vec::new(),
                    });
                    if let Some(p) = parent {
                        elements[p].children.push(id);
                    }
                    if self_closing {
                        root_closed |= parent.is_none();
                    } else {
                        open.push(id);
                    }
                }
                Event::End(_) => {
                    let Some(id) = open.pop() else {
                        return Err(Error::at(
                            source,
                            text,
                            before,
                            "end tag without a start tag",
                        ));
                    };
                    elements[id].content_end = before;
                    elements[id].end = after;
                    root_closed |= open.is_empty();
                }
                Event::DocType(_) => {
                    return Err(Error::at(
                        source,
                        text,
                        before,
                        "DOCTYPE declarations are not accepted (no DTDs, no entity declarations)",
                    ));
                }
                Event::Text(ref t)
                    if open.is_empty() && !t.bytes().all(|b| b.is_ascii_whitespace()) =>
                {
                    return Err(Error::at(
                        source,
                        text,
                        before,
                        "text outside the root element",
                    ));
                }
                Event::CData(_) | Event::GeneralRef(_) if open.is_empty() => {
                    return Err(Error::at(
                        source,
                        text,
                        before,
                        "text outside the root element",
                    ));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if let Some(&id) = open.last() {
            let name = elements[id].name;
            return Err(Error::at(
                source,
                text,
                elements[id].start,
                format!("unclosed <{name}>"),
            ));
        }
        if elements.is_empty() {
            return Err(Error::at(source, text, text.len(), "no root element"));
        }
        Ok(Document {
            text,
            source,
            elements,
        })
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
        let siblings = &self.elements[self.elements[id].parent?].children;
        let pos = siblings.iter().position(|&s| s == id)?;
        pos.checked_sub(1).map(|p| siblings[p])
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
        let start = line_start(self.text, e.start);
        if !self.text[start..e.start]
            .bytes()
            .all(|b| b == b' ' || b == b'\t')
        {
            return None;
        }
        let rest = &self.text[e.end..];
        let blank = rest
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
            .count();
        match rest.as_bytes().get(blank) {
            Some(b'\n') => Some(start..e.end + blank + 1),
            None => Some(start..self.text.len()),
            Some(_) => None,
        }
    }

    /// The offset just after the line that ends at or after `pos`, when only blanks follow
    /// `pos` on that line; otherwise `pos` itself.
    pub fn after_line(&self, pos: usize) -> usize {
        let rest = &self.text[pos..];
        let blank = rest
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
            .count();
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

/// Where a slice that quick-xml borrowed from `body` sits in `text` (after a skipped BOM).
fn offset_in(body: &str, skip: usize, slice: &str) -> Option<usize> {
    let base = body.as_ptr() as usize;
    let ptr = slice.as_ptr() as usize;
    (ptr >= base && ptr + slice.len() <= base + body.len()).then(|| ptr - base + skip)
}

fn read_attrs<'a>(
    source: &str,
    text: &'a str,
    body: &'a str,
    skip: usize,
    start: &BytesStart<'_>,
) -> Result<Vec<Attr<'a>>> {
    let mut attrs = Vec::new();
    let base = body.as_ptr() as usize;
    let tag_offset = (**start).as_ptr() as usize - base + skip;
    for attr in start.attributes().with_checks(true) {
        let attr = attr
            .map_err(|e| Error::at(source, text, tag_offset, xml_error_message(&e.to_string())))?;
        let raw: &str = &attr.value;
        // Reader::from_str borrows: the raw value is a slice of the text itself.
        let ptr = raw.as_ptr() as usize;
        if ptr < base || ptr + raw.len() > base + body.len() {
            return Err(Error::at(
                source,
                text,
                tag_offset,
                "internal error: attribute value not borrowed from the text",
            ));
        }
        let value_start = ptr - base + skip;
        let raw_str = &text[value_start..value_start + raw.len()];
        let value = if raw_str.contains('&') {
            Cow::Owned(unescape(source, text, value_start, raw_str)?)
        } else {
            Cow::Borrowed(raw_str)
        };
        let key = attr.key.into_inner();
        let name = offset_in(body, skip, key).map_or("", |at| &text[at..at + key.len()]);
        attrs.push(Attr {
            name,
            value,
            value_range: value_start..value_start + raw.len(),
        });
    }
    Ok(attrs)
}

/// Resolves the five predefined entities and character references in `raw`.
///
/// # Errors
/// Any other entity reference (no DTDs here, so nothing else can be defined).
pub fn unescape(source: &str, text: &str, offset: usize, raw: &str) -> Result<String> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    quick_xml::escape::unescape(raw)
        .map(|s| s.into_owned())
        .map_err(|e| Error::at(source, text, offset, xml_error_message(&e.to_string())))
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
        match reader.read_event() {
            Ok(Event::Text(t)) => out.push_str(&t),
            Ok(Event::CData(c)) => out.push_str(&c),
            Ok(Event::GeneralRef(r)) => {
                let name: &str = &r;
                let resolved = unescape(source, text, offset, &format!("&{name};"))?;
                out.push_str(&resolved);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(Error::at(
                    source,
                    text,
                    offset,
                    xml_error_message(&e.to_string()),
                ));
            }
        }
    }
    Ok(out)
}

/// Offset of the start of the line holding `pos`.
pub fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// One edit: replace the bytes in `range` with `text` (an empty range inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Bytes of the original text to replace.
    pub range: Range<usize>,
    /// What goes there instead.
    pub text: String,
}

impl Patch {
    /// Replace `range` with `text`.
    pub fn replace(range: Range<usize>, text: impl Into<String>) -> Patch {
        Patch {
            range,
            text: text.into(),
        }
    }

    /// Insert `text` at `at`.
    pub fn insert(at: usize, text: impl Into<String>) -> Patch {
        Patch {
            range: at..at,
            text: text.into(),
        }
    }

    /// Remove `range`.
    pub fn remove(range: Range<usize>) -> Patch {
        Patch {
            range,
            text: String::new(),
        }
    }
}

/// Applies non-overlapping patches to `text`. Insertions at the same offset keep their
/// given order, and come before a replacement that starts there.
///
/// # Errors
/// Overlapping patches: a bug in the caller, reported rather than producing a broken document.
pub fn apply(text: &str, mut patches: Vec<Patch>) -> Result<String> {
    // Stable sort: equal starts keep the order they were given in, inserts first.
    patches.sort_by_key(|p| (p.range.start, !p.range.is_empty()));
    let mut out =
        String::with_capacity(text.len() + patches.iter().map(|p| p.text.len()).sum::<usize>());
    let mut at = 0;
    for p in &patches {
        if p.range.start < at {
            return Err(Error::Edit(format!(
                "internal error: overlapping edits at bytes {}..{}",
                p.range.start, p.range.end
            )));
        }
        out.push_str(&text[at..p.range.start]);
        out.push_str(&p.text);
        at = p.range.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// Builds small XML fragments with quick-xml's `Writer`, in the document's quote style.
#[derive(Debug, Clone)]
pub struct Fragment {
    name: String,
    attrs: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<Fragment>,
}

impl Fragment {
    /// A new element `name`.
    pub fn new(name: &str) -> Fragment {
        Fragment {
            name: name.to_string(),
            attrs: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    /// The element's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds an attribute.
    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Fragment {
        self.attrs.push((name.to_string(), value.into()));
        self
    }

    /// Adds an attribute when `value` is `Some`.
    pub fn attr_opt(self, name: &str, value: Option<impl Into<String>>) -> Fragment {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// Sets the text content.
    pub fn text(mut self, text: impl Into<String>) -> Fragment {
        self.text = Some(text.into());
        self
    }

    /// Adds a child element.
    pub fn child(mut self, child: Fragment) -> Fragment {
        self.children.push(child);
        self
    }

    /// Adds a child element when `child` is `Some`.
    pub fn child_opt(self, child: Option<Fragment>) -> Fragment {
        match child {
            Some(c) => self.child(c),
            None => self,
        }
    }

    /// Serializes with `indent` before the first line, `unit` per nesting level, and
    /// `newline` between lines; no trailing newline.
    pub fn render(&self, indent: &str, unit: &str, newline: &str, quote: char) -> String {
        let mut out = String::new();
        self.render_into(&mut out, indent, unit, newline, quote);
        out
    }

    fn render_into(&self, out: &mut String, indent: &str, unit: &str, newline: &str, quote: char) {
        use quick_xml::events::{BytesEnd, BytesText};
        let mut writer = quick_xml::Writer::new(Vec::new());
        let mut start = BytesStart::new(self.name.as_str());
        for (k, v) in &self.attrs {
            start.push_attribute((k.as_str(), v.as_str()));
        }
        out.push_str(indent);
        let write = |w: &mut quick_xml::Writer<Vec<u8>>, e: Event<'_>| {
            w.write_event(e).expect("writing to a Vec cannot fail");
        };
        if self.text.is_none() && self.children.is_empty() {
            write(&mut writer, Event::Empty(start));
            out.push_str(&requote(
                &String::from_utf8_lossy(&writer.into_inner()),
                quote,
            ));
            return;
        }
        write(&mut writer, Event::Start(start));
        out.push_str(&requote(
            &String::from_utf8_lossy(&writer.into_inner()),
            quote,
        ));
        if let Some(text) = &self.text {
            let mut w = quick_xml::Writer::new(Vec::new());
            write(&mut w, Event::Text(BytesText::new(text)));
            out.push_str(&String::from_utf8_lossy(&w.into_inner()));
        }
        if !self.children.is_empty() {
            let inner = format!("{indent}{unit}");
            for child in &self.children {
                out.push_str(newline);
                child.render_into(out, &inner, unit, newline, quote);
            }
            out.push_str(newline);
            out.push_str(indent);
        }
        let mut w = quick_xml::Writer::new(Vec::new());
        write(&mut w, Event::End(BytesEnd::new(self.name.as_str())));
        out.push_str(&String::from_utf8_lossy(&w.into_inner()));
    }
}

/// Switches a single start/empty tag written by quick-xml (double quotes, `"` escaped as
/// `&quot;`) to single-quoted attribute values when the document prefers those.
fn requote(tag: &str, quote: char) -> String {
    if quote == '"' {
        return tag.to_string();
    }
    let mut out = String::with_capacity(tag.len());
    let mut in_value = false;
    let mut rest = tag;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            out.push('\'');
            in_value = !in_value;
            rest = &rest[1..];
        } else if in_value && rest.starts_with("&quot;") {
            out.push('"');
            rest = &rest[6..];
        } else if in_value && c == '\'' {
            out.push_str("&apos;");
            rest = &rest[1..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Escapes text for use inside an attribute value or element content.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
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
    fn patches_apply_in_order() {
        let out = apply(
            "abcdef",
            vec![
                Patch::replace(2..4, "X"),
                Patch::insert(0, "1"),
                Patch::insert(0, "2"),
                Patch::remove(5..6),
            ],
        )
        .unwrap();
        assert_eq!(out, "12abXe");
        assert!(apply("abc", vec![Patch::remove(0..2), Patch::remove(1..3)]).is_err());
    }

    #[test]
    fn fragments_escape_and_follow_quote_style() {
        let f = Fragment::new("disk")
            .attr("type", "file")
            .child(Fragment::new("source").attr("file", "/a'b\"&c"))
            .child(Fragment::new("cmdline").text("a<b"));
        assert_eq!(
            f.render("  ", "  ", "\n", '\''),
            "  <disk type='file'>\n    <source file='/a&apos;b\"&amp;c'/>\n    <cmdline>a&lt;b</cmdline>\n  </disk>"
        );
        let g = Fragment::new("boot").attr("dev", "hd");
        assert_eq!(g.render("", "  ", "\n", '"'), "<boot dev=\"hd\"/>");
    }
}
