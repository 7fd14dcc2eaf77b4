//! davgate patch: a streaming pre-scan of XML request bodies.
//!
//! Handlers turn a body into an `xmltree::Element`, which recurses once per nesting level while
//! it parses (and again while it is written back out), so about 1,940 nested elements in a
//! 14 KB PROPFIND, PROPPATCH or LOCK body overflowed the stack and aborted the whole process.
//! Before any tree is built, the body is walked once with the same event parser, which keeps
//! its open elements in a vector, not on the stack: too deep or too many elements is refused.
//! A body the parser cannot read is left to the handler, which answers it as before.

use std::io::Cursor;

use xml::reader::{EventReader, ParserConfig, XmlEvent};

/// The deepest nesting accepted. WebDAV requests nest 4 or 5 levels; a dead property's value
/// may add a few more.
pub const MAX_DEPTH: usize = 64;

/// The most elements accepted in one body (a PROPFIND naming every property is about 30).
pub const MAX_ELEMENTS: usize = 10_000;

/// Why a body was refused: the one-line explanation sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlLimit {
    /// More than [`MAX_DEPTH`] open elements at some point.
    TooDeep,
    /// More than [`MAX_ELEMENTS`] elements in all.
    TooManyElements,
}

impl XmlLimit {
    /// The explanation sent with the 400.
    pub fn explanation(self) -> &'static str {
        match self {
            XmlLimit::TooDeep => "The XML body nests more than 64 elements deep.\n",
            XmlLimit::TooManyElements => "The XML body has more than 10000 elements.\n",
        }
    }
}

/// Checks `body` against the limits without building a tree.
pub fn check(body: &[u8]) -> Result<(), XmlLimit> {
    let config = ParserConfig::new().ignore_comments(false);
    let mut reader = EventReader::new_with_config(Cursor::new(body), config);
    let (mut depth, mut elements) = (0usize, 0usize);
    loop {
        match reader.next() {
            Ok(XmlEvent::StartElement { .. }) => {
                depth += 1;
                elements += 1;
                if depth > MAX_DEPTH {
                    return Err(XmlLimit::TooDeep);
                }
                if elements > MAX_ELEMENTS {
                    return Err(XmlLimit::TooManyElements);
                }
            }
            Ok(XmlEvent::EndElement { .. }) => depth = depth.saturating_sub(1),
            Ok(XmlEvent::EndDocument) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        format!("<?xml version=\"1.0\"?>{}{}", "<a>".repeat(levels), "</a>".repeat(levels))
            .into_bytes()
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted_and_beyond_refused() {
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(check(&nested(MAX_DEPTH + 1)), Err(XmlLimit::TooDeep));
        assert_eq!(check(&nested(100_000)), Err(XmlLimit::TooDeep));
    }

    #[test]
    fn too_many_elements_are_refused_even_when_flat() {
        let flat = |n: usize| format!("<r>{}</r>", "<a/>".repeat(n)).into_bytes();
        assert_eq!(check(&flat(MAX_ELEMENTS - 1)), Ok(()));
        assert_eq!(check(&flat(MAX_ELEMENTS)), Err(XmlLimit::TooManyElements));
    }

    #[test]
    fn unreadable_xml_is_left_to_the_handler() {
        assert_eq!(check(b"<a><b></a>"), Ok(()));
        assert_eq!(check(b"not xml at all"), Ok(()));
    }
}
