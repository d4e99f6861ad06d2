//! STUN Binding (RFC 8489) as pure functions: the request a client sends and what the
//! server's answer says, the address and port the outside sees. That address, compared
//! with the router's own external address, tells whether another NAT sits between the
//! router and the internet (one that a public-looking router address hides).
//!
//! Only what a Binding needs: no authentication, no FINGERPRINT (a server answers a
//! plain request), XOR-MAPPED-ADDRESS preferred and MAPPED-ADDRESS (RFC 3489 servers)
//! accepted. Written here rather than taken from a crate: the two functions are 100
//! lines, the STUN crates bring a codec framework and TURN/ICE machinery with them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The magic cookie every RFC 5389/8489 message carries.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// The port STUN servers listen on by default.
pub const DEFAULT_PORT: u16 = 3478;

const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
const HEADER_LEN: usize = 20;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// XOR-MAPPED-ADDRESS's number before RFC 5389 (some old servers still send it).
const ATTR_XOR_MAPPED_ADDRESS_OLD: u16 = 0x8020;
const ATTR_ERROR_CODE: u16 = 0x0009;

/// A transaction id: 96 random bits naming one request.
pub type TransactionId = [u8; 12];

/// The Binding request with `id` (a header without attributes).
pub fn binding_request(id: &TransactionId) -> [u8; HEADER_LEN] {
    let mut request = [0u8; HEADER_LEN];
    request[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Attribute length 0.
    request[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    request[8..20].copy_from_slice(id);
    request
}

/// Why a datagram is not the answer to our request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StunDecodeError {
    /// Not STUN, or the answer to another transaction: skip it.
    Unrelated,
    /// The server refused (an error response): its code and reason.
    Refused(u16, String),
    /// Our transaction, but broken (no address, truncated attribute).
    Malformed(&'static str),
}

/// The address and port the server saw our request come from, if `datagram` is the
/// success answer to transaction `id`.
pub fn decode_binding_response(datagram: &[u8], id: &TransactionId) -> Result<SocketAddr, StunDecodeError> {
    if datagram.len() < HEADER_LEN || datagram[0] & 0xC0 != 0 {
        return Err(StunDecodeError::Unrelated);
    }
    let kind = u16::from_be_bytes([datagram[0], datagram[1]]);
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if datagram[4..8] != MAGIC_COOKIE.to_be_bytes() || &datagram[8..20] != id {
        return Err(StunDecodeError::Unrelated);
    }
    if kind != BINDING_SUCCESS && kind != BINDING_ERROR {
        return Err(StunDecodeError::Unrelated);
    }
    let body = datagram.get(HEADER_LEN..HEADER_LEN + length).ok_or(StunDecodeError::Malformed("truncated message"))?;
    let mut xored = None;
    let mut plain = None;
    let mut rest = body;
    while rest.len() >= 4 {
        let attr = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len).ok_or(StunDecodeError::Malformed("truncated attribute"))?;
        match attr {
            ATTR_XOR_MAPPED_ADDRESS | ATTR_XOR_MAPPED_ADDRESS_OLD if xored.is_none() => {
                xored = Some(address(value, Some(id))?);
            }
            ATTR_MAPPED_ADDRESS if plain.is_none() => plain = Some(address(value, None)?),
            ATTR_ERROR_CODE if kind == BINDING_ERROR && value.len() >= 4 => {
                let code = u16::from(value[2] & 0x07) * 100 + u16::from(value[3]);
                let reason = String::from_utf8_lossy(&value[4..]).chars().take(80).collect();
                return Err(StunDecodeError::Refused(code, reason));
            }
            _ => {}
        }
        // Values are padded to a multiple of 4 bytes.
        let next = (4 + len).div_ceil(4) * 4;
        rest = rest.get(next..).unwrap_or_default();
    }
    if kind == BINDING_ERROR {
        return Err(StunDecodeError::Refused(0, "error response without ERROR-CODE".into()));
    }
    xored.or(plain).ok_or(StunDecodeError::Malformed("no MAPPED-ADDRESS in the answer"))
}

/// A (XOR-)MAPPED-ADDRESS value; `xor_with` is the transaction for the XOR form.
fn address(value: &[u8], xor_with: Option<&TransactionId>) -> Result<SocketAddr, StunDecodeError> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mask: Vec<u8> = match xor_with {
        Some(id) => cookie.iter().chain(id.iter()).copied().collect(),
        None => vec![0; 16],
    };
    let port = u16::from_be_bytes([value.get(2).copied().unwrap_or(0), value.get(3).copied().unwrap_or(0)])
        ^ u16::from_be_bytes([mask[0], mask[1]]);
    let ip = match (value.get(1), value.len()) {
        (Some(1), 8) => {
            let mut octets = [0u8; 4];
            for (i, octet) in octets.iter_mut().enumerate() {
                *octet = value[4 + i] ^ mask[i];
            }
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        (Some(2), 20) => {
            let mut octets = [0u8; 16];
            for (i, octet) in octets.iter_mut().enumerate() {
                *octet = value[4 + i] ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Err(StunDecodeError::Malformed("an address attribute of the wrong size or family")),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Parses a `stun_server` setting: `host:port` or `host` (port 3478), an IPv6 literal in
/// brackets. The host may be a name (the caller resolves it) or an IP literal.
pub fn parse_server(setting: &str) -> Result<(String, u16), String> {
    let setting = setting.trim();
    let bad = || format!("{} is not host:port", super::quoted(setting));
    if setting.is_empty() || setting.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@') {
        return Err(bad());
    }
    let (host, port) = if let Some(rest) = setting.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        host.parse::<Ipv6Addr>().map_err(|_| bad())?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if setting.matches(':').count() > 1 {
        // A bare IPv6 address: no port can be told apart.
        setting.parse::<Ipv6Addr>().map_err(|_| bad())?;
        (setting, None)
    } else {
        match setting.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (setting, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => port.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(bad)?,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: TransactionId = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

    /// RFC 5769 §2.2, "Sample IPv4 Response": XOR-MAPPED-ADDRESS 192.0.2.1:32853 (with
    /// SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT, which a Binding client may ignore).
    const RFC5769_IPV4_RESPONSE: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87,
        0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
        0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91,
        0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
        0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    /// RFC 5769 §2.3, "Sample IPv6 Response": 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
    const RFC5769_IPV6_RESPONSE: [u8; 92] = [
        0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87,
        0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
        0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
        0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
        0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb,
        0x0b, 0x4c,
    ];

    #[test]
    fn the_request_is_a_bare_binding_header() {
        let request = binding_request(&ID);
        assert_eq!(&request[..8], &[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
        assert_eq!(&request[8..], &ID);
    }

    #[test]
    fn rfc5769_sample_responses_decode() {
        assert_eq!(decode_binding_response(&RFC5769_IPV4_RESPONSE, &ID), Ok("192.0.2.1:32853".parse().unwrap()));
        assert_eq!(
            decode_binding_response(&RFC5769_IPV6_RESPONSE, &ID),
            Ok("[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap())
        );
    }

    fn response(kind: u16, attributes: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (attr, value) in attributes {
            body.extend_from_slice(&attr.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        let mut message = kind.to_be_bytes().to_vec();
        message.extend_from_slice(&(body.len() as u16).to_be_bytes());
        message.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        message.extend_from_slice(&ID);
        message.extend(body);
        message
    }

    #[test]
    fn a_classic_server_s_mapped_address_is_taken_when_no_xor_form_comes() {
        let plain = vec![0, 1, 0x1f, 0x90, 22, 33, 44, 55];
        let answer = response(BINDING_SUCCESS, &[(ATTR_MAPPED_ADDRESS, plain.clone())]);
        assert_eq!(decode_binding_response(&answer, &ID), Ok("22.33.44.55:8080".parse().unwrap()));
        // With both, the XOR form wins (a NAT rewriting plain addresses in payloads).
        let xored = RFC5769_IPV4_RESPONSE[40..48].to_vec();
        let both = response(BINDING_SUCCESS, &[(ATTR_MAPPED_ADDRESS, plain), (ATTR_XOR_MAPPED_ADDRESS, xored)]);
        assert_eq!(decode_binding_response(&both, &ID), Ok("192.0.2.1:32853".parse().unwrap()));
    }

    #[test]
    fn other_transactions_and_other_traffic_are_skipped() {
        let mut other = RFC5769_IPV4_RESPONSE;
        other[19] ^= 1;
        assert_eq!(decode_binding_response(&other, &ID), Err(StunDecodeError::Unrelated));
        assert_eq!(decode_binding_response(b"HTTP/1.1 200 OK\r\n\r\n", &ID), Err(StunDecodeError::Unrelated));
        assert_eq!(decode_binding_response(&[], &ID), Err(StunDecodeError::Unrelated));
        // Our own request echoed back is not an answer.
        assert_eq!(decode_binding_response(&binding_request(&ID), &ID), Err(StunDecodeError::Unrelated));
    }

    #[test]
    fn refusals_and_broken_answers_say_so() {
        let error = response(BINDING_ERROR, &[(ATTR_ERROR_CODE, [&[0, 0, 4, 20][..], b"Unknown Attribute"].concat())]);
        assert_eq!(
            decode_binding_response(&error, &ID),
            Err(StunDecodeError::Refused(420, "Unknown Attribute".into()))
        );
        let empty = response(BINDING_SUCCESS, &[]);
        assert!(matches!(decode_binding_response(&empty, &ID), Err(StunDecodeError::Malformed(_))));
        let mut truncated = response(BINDING_SUCCESS, &[(ATTR_XOR_MAPPED_ADDRESS, vec![0, 1, 0, 0, 1, 2, 3, 4])]);
        truncated.truncate(30);
        assert!(matches!(decode_binding_response(&truncated, &ID), Err(StunDecodeError::Malformed(_))));
        let wrong_size = response(BINDING_SUCCESS, &[(ATTR_XOR_MAPPED_ADDRESS, vec![0, 1, 0, 0, 1, 2])]);
        assert!(matches!(decode_binding_response(&wrong_size, &ID), Err(StunDecodeError::Malformed(_))));
    }

    #[test]
    fn server_settings_parse() {
        assert_eq!(parse_server("10.79.0.1:3478"), Ok(("10.79.0.1".into(), 3478)));
        assert_eq!(parse_server(" stun.example.net "), Ok(("stun.example.net".into(), 3478)));
        assert_eq!(parse_server("stun.l.google.com:19302"), Ok(("stun.l.google.com".into(), 19302)));
        assert_eq!(parse_server("[2001:db8::1]:5349"), Ok(("2001:db8::1".into(), 5349)));
        assert_eq!(parse_server("2001:db8::1"), Ok(("2001:db8::1".into(), 3478)));
        for bad in ["", ":3478", "host:0", "host:65536", "host:x", "a b:1", "http://h:1", "u@h:1", "[::1", "[x]:1"] {
            assert!(parse_server(bad).is_err(), "{bad:?}");
        }
    }
}
