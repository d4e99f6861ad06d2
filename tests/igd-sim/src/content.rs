//! Description bodies and ready-made SSDP templates.

use crate::spec::Content;

/// miniupnpd 2.3.1's IGDv2 root description, captured on the test bed.
pub const IGD_V2_DESCRIPTION: &[u8] = include_bytes!("../data/igdv2-rootDesc.xml");
/// miniupnpd 2.3.1's IGDv1 root description, captured on the test bed.
pub const IGD_V1_DESCRIPTION: &[u8] = include_bytes!("../data/igdv1-rootDesc.xml");
/// A MediaRenderer:1 description.
pub const MEDIA_RENDERER_DESCRIPTION: &[u8] = include_bytes!("../data/media-renderer.xml");

/// The friendlyName of the captured descriptions.
const FRIENDLY_NAME: &[u8] = b"IGD test bed router";

impl Content {
    /// The body bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Content::IgdV2 => IGD_V2_DESCRIPTION.to_vec(),
            Content::IgdV1 => IGD_V1_DESCRIPTION.to_vec(),
            Content::MediaRenderer => MEDIA_RENDERER_DESCRIPTION.to_vec(),
            Content::InvalidUtf8 => replace(IGD_V2_DESCRIPTION, FRIENDLY_NAME, b"IGD \xff\xfe router"),
            Content::InvalidXml => {
                // Cut inside the device list: elements are left open and the last tag is
                // broken.
                let cut = IGD_V2_DESCRIPTION.len() / 2;
                let mut body = IGD_V2_DESCRIPTION[..cut].to_vec();
                body.extend_from_slice(b"<broken attr=>\n");
                body
            }
            Content::EntityBomb => entity_bomb(),
            Content::Bytes(b) => b.clone(),
        }
    }
}

/// A "billion laughs" document: ten levels of ten references, 10^9 copies of "lol" if
/// expanded, inside a root element shaped like a description.
fn entity_bomb() -> Vec<u8> {
    let mut doc = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE root [\n  <!ENTITY lol0 \"lol\">\n");
    for level in 1..10 {
        let refs: String = (0..10).map(|_| format!("&lol{};", level - 1)).collect();
        doc.push_str(&format!("  <!ENTITY lol{level} \"{refs}\">\n"));
    }
    doc.push_str(
        "]>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\"><specVersion><major>1</major><minor>0</minor>\
         </specVersion><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>\
         <friendlyName>&lol9;</friendlyName></device></root>\n",
    );
    doc.into_bytes()
}

/// `haystack` with every `from` replaced by `to`, on bytes.
pub(crate) fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Ready-made [`crate::RawAnswer`] templates (see its placeholders). Each is one
/// datagram.
pub mod templates {
    /// A well-formed answer like the simulator's own, for editing.
    pub const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: {ST}\r\nUSN: {USN}\r\nEXT:\r\n\
SERVER: Linux UPnP/1.1 igd-sim/1\r\nLOCATION: {LOCATION}\r\n\r\n";
    /// Header names in odd case, values padded with spaces.
    pub const ODD_CASE: &[u8] =
        b"HTTP/1.1 200 OK\r\nlocation:    {LOCATION}   \r\nSt:{ST}\r\nuSn: {USN}\r\ncache-control: max-age=120\r\n\r\n";
    /// Bare LF line ends.
    pub const LF_ONLY: &[u8] = b"HTTP/1.1 200 OK\nST: {ST}\nUSN: {USN}\nLOCATION: {LOCATION}\n\n";
    /// `ST` twice with the same value (harmless).
    pub const DUPLICATE_SAME: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nLOCATION: {LOCATION}\r\nST: {ST}\r\nUSN: {USN}\r\n\r\n";
    /// `LOCATION` twice with different values (ambiguous).
    pub const DUPLICATE_CONFLICTING: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nLOCATION: {LOCATION}\r\nLOCATION: http://{HOSTPORT}/other.xml\r\nUSN: {USN}\r\n\r\n";
    /// No `LOCATION` header.
    pub const NO_LOCATION: &[u8] = b"HTTP/1.1 200 OK\r\nST: {ST}\r\nUSN: {USN}\r\n\r\n";
    /// No `ST` header.
    pub const NO_ST: &[u8] = b"HTTP/1.1 200 OK\r\nLOCATION: {LOCATION}\r\nUSN: {USN}\r\n\r\n";
    /// Invalid UTF-8 in a header value.
    pub const INVALID_UTF8: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nSERVER: \xff\xfe\xfd\r\nLOCATION: {LOCATION}\r\n\r\n";
    /// A NOTIFY (an advertisement), not an answer.
    pub const NOTIFY: &[u8] = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=60\r\n\
LOCATION: {LOCATION}\r\nNT: {ST}\r\nNTS: ssdp:alive\r\nUSN: {USN}\r\n\r\n";
    /// An error status instead of 200.
    pub const NOT_OK: &[u8] = b"HTTP/1.1 404 Not Found\r\nST: {ST}\r\nLOCATION: {LOCATION}\r\n\r\n";
    /// `LOCATION` naming another host (a documentation address).
    pub const OTHER_HOST: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nUSN: {USN}\r\nLOCATION: http://192.0.2.1:{PORT}/rootDesc.xml\r\n\r\n";
    /// `LOCATION` with a host name instead of an address.
    pub const HOST_NAME: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nUSN: {USN}\r\nLOCATION: http://localhost:{PORT}/rootDesc.xml\r\n\r\n";
    /// `LOCATION` with an https scheme.
    pub const HTTPS: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nUSN: {USN}\r\nLOCATION: https://{HOSTPORT}/rootDesc.xml\r\n\r\n";
    /// `LOCATION` with user info before the host.
    pub const USERINFO: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nUSN: {USN}\r\nLOCATION: http://user:pass@{HOSTPORT}/rootDesc.xml\r\n\r\n";
    /// `LOCATION` with an IPv6 zone (`%25eth0`) after the device's address.
    pub const ZONE: &[u8] =
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nUSN: {USN}\r\nLOCATION: http://[{IP}%25eth0]:{PORT}/rootDesc.xml\r\n\r\n";
}
