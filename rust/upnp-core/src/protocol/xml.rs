//! The one XML walker that the description and SOAP parsers share: element names without
//! namespace prefixes, each element's own text, bounded depth, and no entity expansion
//! beyond XML's five predefined entities and character references (so an "entity bomb"
//! is an error, not a memory blow-up).

use quick_xml::Reader;
use quick_xml::events::Event;

/// Deepest nesting accepted; UPnP documents are under 10 levels deep.
pub(crate) const MAX_DEPTH: usize = 48;

/// Why a document could not be walked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XmlError {
    /// Not well-formed XML (the parser's message).
    Malformed(String),
    /// A reference to an entity that is not predefined, e.g. from a DTD.
    UnknownEntity(String),
    /// Nested deeper than we accept.
    TooDeep,
    /// No element at all.
    Empty,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XmlError::Malformed(m) => write!(f, "malformed XML ({m})"),
            XmlError::UnknownEntity(e) => write!(f, "XML uses the undeclared or external entity &{e};"),
            XmlError::TooDeep => write!(f, "XML nested more than {MAX_DEPTH} levels"),
            XmlError::Empty => write!(f, "no XML element"),
        }
    }
}

/// What the walker reports.
pub(crate) enum Visit<'a> {
    /// An element opened; the stack ends with its local name.
    Open,
    /// An element closed; the stack still ends with its local name; its own text, trimmed.
    Close(&'a str),
}

/// Walks `doc`, calling `visit(stack, event)` for every element opening and closing.
/// `stack` holds the local names from the root down to the current element.
pub(crate) fn walk(doc: &str, mut visit: impl FnMut(&[String], Visit<'_>)) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<String> = Vec::new();
    // Text of each open element, accumulated until it closes.
    let mut texts: Vec<String> = Vec::new();
    let mut seen_element = false;
    loop {
        let event = reader.read_event().map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::Start(start) => {
                open(&mut stack, &mut texts, &mut visit, start.name().as_ref())?;
                seen_element = true;
            }
            Event::Empty(start) => {
                // `<a/>`: opens and closes at once, with no text.
                open(&mut stack, &mut texts, &mut visit, start.name().as_ref())?;
                seen_element = true;
                texts.pop();
                visit(&stack, Visit::Close(""));
                stack.pop();
            }
            Event::End(_) => {
                let text = texts.pop().unwrap_or_default();
                visit(&stack, Visit::Close(text.trim()));
                stack.pop();
            }
            Event::Text(t) => {
                if let Some(current) = texts.last_mut() {
                    current.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(current) = texts.last_mut() {
                    current.push_str(&c);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch,
                    Ok(None) => predefined_entity(&r).ok_or_else(|| XmlError::UnknownEntity(truncate(&r)))?,
                    Err(e) => return Err(XmlError::Malformed(e.to_string())),
                };
                if let Some(current) = texts.last_mut() {
                    current.push(ch);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed(format!("<{}> is never closed", stack[stack.len() - 1])));
    }
    if !seen_element {
        return Err(XmlError::Empty);
    }
    Ok(())
}

fn open(
    stack: &mut Vec<String>,
    texts: &mut Vec<String>,
    visit: &mut impl FnMut(&[String], Visit<'_>),
    qualified: &str,
) -> Result<(), XmlError> {
    if stack.len() >= MAX_DEPTH {
        return Err(XmlError::TooDeep);
    }
    stack.push(local_name(qualified));
    texts.push(String::new());
    visit(stack, Visit::Open);
    Ok(())
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

fn local_name(qualified: &str) -> String {
    qualified.rsplit(':').next().unwrap_or(qualified).to_string()
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Escapes text for use as element content or an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
