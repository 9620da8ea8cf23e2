//! New XML fragments written with quick-xml's `Writer` (escaping right by construction),
//! in the quote style, indentation and line ending of the document they go into.

use quick_xml::events::{BytesStart, Event};

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
