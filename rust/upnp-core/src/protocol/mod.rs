//! The protocol core: pure functions over bytes and values, no I/O. Everything that
//! decides something (what a datagram says, which service is the gateway, what a fault
//! means) lives here and is tested without sockets or clocks.

pub mod description;
pub mod igd;
pub mod pinhole;
pub mod pmp;
pub mod result;
pub mod soap;
pub mod ssdp;
pub mod stun;
pub mod url;
pub(crate) mod xml;

pub use xml::XmlError;

/// `s` quoted for a message, cut to 80 characters ("…" marks the cut): a hostile or
/// mistaken value must not turn one error line into a page.
pub(crate) fn quoted(s: &str) -> String {
    const MAX_CHARS: usize = 80;
    let mut cut: String = s.chars().take(MAX_CHARS).collect();
    if cut.len() < s.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_values_are_cut_to_80_characters() {
        assert_eq!(super::quoted("http://[::1"), "\"http://[::1\"");
        let long = super::quoted(&"é".repeat(100_000));
        assert_eq!(long.chars().count(), 83, "80 characters, the mark and two quotes");
        assert!(long.ends_with("é…\""));
    }
}
