//! davgate patch: writes the multistatus of a PROPFIND straight into its buffer.
//!
//! `PropWriter` used to send every `<D:response>`, and every property in it, through xml-rs's
//! `EventWriter` (`Element::write_ev`): a namespace frame, a name stack entry and a formatted
//! write per element, which was about half of a large listing's CPU time. Almost every element
//! a listing writes is "plain": a prefixed name, no attributes, no namespace declarations of its
//! own, and text or plain children. Those are written here byte for byte as the emitter would
//! (`<P:name>`, escaped text, `</P:name>`; the emitter is configured with
//! `normalize_empty_elements: false` and no indentation). Anything else (a dead property with its
//! own `xmlns`, attributes, CDATA, comments) still goes through the emitter, whose state is left
//! balanced: everything written here opens and closes within one call.

use std::io::{self, Write};

use xmltree::{Element, XMLNode};

/// Whether `e` can be written by [`write_plain`] with the same bytes as `Element::write_ev`.
pub(crate) fn is_plain(e: &Element) -> bool {
    e.namespaces.is_none()
        && e.attributes.is_empty()
        && e.children.iter().all(|child| match child {
            XMLNode::Element(child) => is_plain(child),
            XMLNode::Text(_) => true,
            _ => false,
        })
}

/// Writes a plain element (see [`is_plain`]; anything else in it is skipped).
pub(crate) fn write_plain(out: &mut impl Write, e: &Element) -> io::Result<()> {
    out.write_all(b"<")?;
    write_name(out, e)?;
    out.write_all(b">")?;
    for child in &e.children {
        match child {
            XMLNode::Element(child) => write_plain(out, child)?,
            XMLNode::Text(text) => write_text(out, text)?,
            _ => {}
        }
    }
    out.write_all(b"</")?;
    write_name(out, e)?;
    out.write_all(b">")
}

/// `prefix:name`, or `name` without a prefix (xml-rs's `Name::repr_display`).
fn write_name(out: &mut impl Write, e: &Element) -> io::Result<()> {
    if let Some(prefix) = &e.prefix {
        out.write_all(prefix.as_bytes())?;
        out.write_all(b":")?;
    }
    out.write_all(e.name.as_bytes())
}

/// An element holding only `text`: `<tag>text</tag>` (`tag` with its prefix).
pub(crate) fn write_text_element(out: &mut impl Write, tag: &str, text: &str) -> io::Result<()> {
    write!(out, "<{tag}>")?;
    write_text(out, text)?;
    write!(out, "</{tag}>")
}

/// Character data escaped as xml-rs escapes it (`<`, `>` and `&`; nothing else).
pub(crate) fn write_text(out: &mut impl Write, text: &str) -> io::Result<()> {
    let mut rest = text.as_bytes();
    while let Some(i) = rest.iter().position(|b| matches!(b, b'<' | b'>' | b'&')) {
        out.write_all(&rest[..i])?;
        out.write_all(match rest[i] {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            _ => b"&amp;",
        })?;
        rest = &rest[i + 1..];
    }
    out.write_all(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmltree_ext::ElementExt;
    use std::borrow::Cow;
    use std::io::Cursor;
    use xml::EmitterConfig;
    use xml::writer::EventWriter;

    /// What the emitter, configured as `PropWriter` configures it, writes for `e`.
    fn emitted(e: &Element) -> String {
        let config = EmitterConfig {
            normalize_empty_elements: false,
            perform_indent: false,
            indent_string: Cow::Borrowed(""),
            write_document_declaration: false,
            ..Default::default()
        };
        let mut w = EventWriter::new_with_config(Cursor::new(Vec::new()), config);
        e.write_ev(&mut w).unwrap();
        String::from_utf8(w.into_inner().into_inner()).unwrap()
    }

    fn plain(e: &Element) -> String {
        let mut out = Vec::new();
        write_plain(&mut out, e).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_elements_are_written_as_the_emitter_writes_them() {
        let mut rt = Element::new2("D:resourcetype");
        rt.push_element(Element::new2("D:collection"));
        let mut lock = Element::new2("D:supportedlock");
        let mut entry = Element::new2("D:lockentry");
        entry.push_element(Element::new2("D:lockscope"));
        lock.push_element(entry);
        for e in [
            Element::new2("D:getcontentlength").text("1234"),
            Element::new2("D:getetag").text("\"5f-abc\""),
            Element::new2("D:displayname").text("a & b <c> d's \"e\" é ☃"),
            Element::new2("Z:Win32FileAttributes").text("00000020"),
            Element::new2("D:getcontenttype"),
            Element::new2("nameonly").text("x>y"),
            rt,
            lock,
        ] {
            assert!(is_plain(&e));
            assert_eq!(plain(&e), emitted(&e));
        }
    }

    #[test]
    fn elements_with_namespaces_or_attributes_are_left_to_the_emitter() {
        let parsed = Element::parse(Cursor::new(&b"<Z:a xmlns:Z=\"urn:z\">v</Z:a>"[..])).unwrap();
        assert!(!is_plain(&parsed));
        let mut attr = Element::new2("D:x");
        attr.attributes.insert("k".into(), "v".into());
        assert!(!is_plain(&attr));
        let mut nested = Element::new2("D:prop");
        nested.push_element(parsed);
        assert!(!is_plain(&nested));
    }

    #[test]
    fn text_is_escaped_like_the_emitter() {
        let mut out = Vec::new();
        write_text_element(&mut out, "D:href", "/dav/a&b%3C<>/").unwrap();
        let e = Element::new2("D:href").text("/dav/a&b%3C<>/");
        assert_eq!(String::from_utf8(out).unwrap(), emitted(&e));
    }
}
