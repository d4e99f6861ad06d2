//! SSDP, the discovery half of UPnP: M-SEARCH requests and their answers, as pure
//! functions over bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The SSDP port.
pub const SSDP_PORT: u16 = 1900;
/// IPv4 multicast group.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
/// IPv6 site-local group; miniupnpc asks it first.
pub const GROUP_V6_SITE: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0xc);
/// IPv6 link-local group.
pub const GROUP_V6_LINK: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc);

/// Largest answer we read; real ones are about 400 bytes.
pub const MAX_DATAGRAM: usize = 2048;

/// What the engine searches for with a "common" filter, in its order (reference §2.1).
pub const IGD_SEARCH_TARGETS: [&str; 4] = [
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
    "upnp:rootdevice",
];

/// What we search for with any other filter: `ssdp:all`, as the engine does, then
/// `InternetGatewayDevice:1` unless an IGD answered the first (see
/// [`is_igd_companion`]).
pub const ALL_SEARCH_TARGETS: [&str; 2] = ["ssdp:all", IGD_SEARCH_TARGETS[0]];

/// Whether search `index` of `targets` is the IGD search that follows `ssdp:all`: some
/// gateways answer `ssdp:all` only with another device of theirs (Sagemcom FAST3890V3
/// with its WFADevice, tailscale/tailscale#3557) and answer `InternetGatewayDevice:1`
/// all the same. It is sent soon after `ssdp:all` unless an answer already names an
/// IGD ([`names_igd`]), so a router answering `ssdp:all` fully gets one search, as from
/// the engine.
pub fn is_igd_companion(targets: &[&str], index: usize) -> bool {
    index == 1 && targets.first() == Some(&"ssdp:all")
}

/// Whether an answer's ST names an Internet gateway device (any version, any vendor
/// prefix).
pub fn names_igd(st: &str) -> bool {
    st.contains(":InternetGatewayDevice:")
}

/// The engine's default `device_filter`.
pub const DEFAULT_FILTER: &str = "InternetGatewayDevice";

/// Whether the engine would use its IGD search (rather than `ssdp:all`) for this filter:
/// empty, or containing one of the IGD-related names (case-sensitive).
pub fn is_common_filter(filter: &str) -> bool {
    filter.is_empty()
        || ["InternetGatewayDevice", "WANIPConnection", "WANPPPConnection", "rootdevice"]
            .iter()
            .any(|name| filter.contains(name))
}

/// The search targets for a filter, in the order they are asked.
pub fn search_targets(filter: &str) -> &'static [&'static str] {
    if is_common_filter(filter) { &IGD_SEARCH_TARGETS } else { &ALL_SEARCH_TARGETS }
}

/// Whether an answer passes the engine's filter: a case-sensitive substring of its ST.
pub fn filter_matches(filter: &str, st: &str) -> bool {
    filter.is_empty() || st.contains(filter)
}

/// `MX` for a timeout: whole seconds, at least 1.
pub fn mx_for_timeout_ms(timeout_ms: u64) -> u64 {
    (timeout_ms / 1000).max(1)
}

/// The `HOST` header value for a destination group.
pub fn host_header_v4() -> String {
    format!("{GROUP_V4}:{SSDP_PORT}")
}

/// The `HOST` header value for an IPv6 group (`[FF05::C]:1900`, as miniupnpc writes it).
pub fn host_header_v6(group: Ipv6Addr) -> String {
    format!("[{}]:{SSDP_PORT}", group.to_string().to_ascii_uppercase())
}

/// An M-SEARCH request, byte for byte what miniupnpc sends.
pub fn build_msearch(host: &str, st: &str, mx: u64) -> String {
    format!("M-SEARCH * HTTP/1.1\r\nHOST: {host}\r\nST: {st}\r\nMAN: \"ssdp:discover\"\r\nMX: {mx}\r\n\r\n")
}

/// The parts of an M-SEARCH answer discovery uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchAnswer {
    /// `LOCATION`: the device description URL, as sent.
    pub location: String,
    /// `ST`: the search target the device says it answers for.
    pub st: String,
    /// `USN`: the unique service name (may be empty).
    pub usn: String,
}

/// Why a datagram is not a usable M-SEARCH answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// Not an `HTTP/1.x 200` response (e.g. a NOTIFY or another client's M-SEARCH).
    NotAnAnswer,
    /// No `LOCATION` header (or an empty one).
    MissingLocation,
    /// No `ST` header (or an empty one).
    MissingSt,
    /// The same header twice with different values.
    ConflictingHeaders,
    /// A header we use (`LOCATION`, `ST`, `USN`) is not valid UTF-8. Invalid bytes
    /// elsewhere (a Latin-1 `SERVER`, say) do not matter.
    NotText,
}

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AnswerError::NotAnAnswer => "not an M-SEARCH answer",
            AnswerError::MissingLocation => "no LOCATION header",
            AnswerError::MissingSt => "no ST header",
            AnswerError::ConflictingHeaders => "conflicting duplicate headers",
            AnswerError::NotText => "a LOCATION, ST or USN header is not valid UTF-8",
        })
    }
}

/// Parses one M-SEARCH answer. Header names are case-insensitive, values trimmed;
/// a header repeated with the same value is fine, with another value it is refused
/// (we cannot tell which one the device meant). Only the headers we use must be UTF-8:
/// routers do send Latin-1 in `SERVER`, and such an answer is as good as any.
pub fn parse_answer(datagram: &[u8]) -> Result<SearchAnswer, AnswerError> {
    let mut lines = datagram.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status = lines.next().unwrap_or(b"");
    if !is_ok_status_line(&String::from_utf8_lossy(status)) {
        return Err(AnswerError::NotAnAnswer);
    }
    let (mut location, mut st, mut usn) = (None, None, None);
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        // A name that is not UTF-8 is none of ours.
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            continue;
        };
        let slot = match name.trim() {
            n if n.eq_ignore_ascii_case("location") => &mut location,
            n if n.eq_ignore_ascii_case("st") => &mut st,
            n if n.eq_ignore_ascii_case("usn") => &mut usn,
            _ => continue,
        };
        let value = std::str::from_utf8(&line[colon + 1..]).map_err(|_| AnswerError::NotText)?.trim();
        match slot {
            Some(existing) if *existing != value => return Err(AnswerError::ConflictingHeaders),
            Some(_) => {}
            None => *slot = Some(value),
        }
    }
    let location = location.filter(|v| !v.is_empty()).ok_or(AnswerError::MissingLocation)?;
    let st = st.filter(|v| !v.is_empty()).ok_or(AnswerError::MissingSt)?;
    Ok(SearchAnswer { location: location.to_string(), st: st.to_string(), usn: usn.unwrap_or("").to_string() })
}

fn is_ok_status_line(line: &str) -> bool {
    let mut parts = line.split_ascii_whitespace();
    // Bytes, not `&v[..5]`: a multi-byte character straddling byte 5 would panic.
    let version_ok =
        parts.next().is_some_and(|v| v.as_bytes().get(..5).is_some_and(|b| b.eq_ignore_ascii_case(b"HTTP/")));
    version_ok && parts.next() == Some("200")
}

/// Which search an answer belongs to: the first target whose type (the URN without its
/// version) matches the answer's ST. Answers that match none (a device answering with
/// its `uuid:`, say) count towards the last search.
pub fn search_index(targets: &[&str], answer_st: &str) -> usize {
    let without_version = |s: &str| -> String {
        let s = s.to_ascii_lowercase();
        match s.rsplit_once(':') {
            Some((head, version)) if s.starts_with("urn:") && version.bytes().all(|b| b.is_ascii_digit()) => {
                head.to_string()
            }
            _ => s,
        }
    };
    let answer = without_version(answer_st);
    targets
        .iter()
        .position(|t| *t == "ssdp:all" || without_version(t) == answer)
        .unwrap_or(targets.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msearch_bytes_match_miniupnpc() {
        assert_eq!(
            build_msearch(&host_header_v4(), IGD_SEARCH_TARGETS[0], 2),
            "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\
             ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
             MAN: \"ssdp:discover\"\r\nMX: 2\r\n\r\n"
        );
        assert_eq!(host_header_v6(GROUP_V6_SITE), "[FF05::C]:1900");
        assert_eq!(host_header_v6(GROUP_V6_LINK), "[FF02::C]:1900");
    }

    #[test]
    fn mx_and_filters_follow_the_engine() {
        assert_eq!(mx_for_timeout_ms(0), 1);
        assert_eq!(mx_for_timeout_ms(999), 1);
        assert_eq!(mx_for_timeout_ms(2000), 2);
        assert_eq!(mx_for_timeout_ms(10_500), 10);
        assert!(is_common_filter(""));
        assert!(is_common_filter("InternetGatewayDevice"));
        assert!(is_common_filter("upnp:rootdevice"));
        assert!(!is_common_filter("internetgatewaydevice"));
        assert!(!is_common_filter("MediaRenderer"));
        assert_eq!(
            search_targets("MediaRenderer"),
            &["ssdp:all", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"]
        );
        assert!(is_igd_companion(search_targets("MediaRenderer"), 1));
        assert!(!is_igd_companion(search_targets("MediaRenderer"), 0));
        assert!(!is_igd_companion(&IGD_SEARCH_TARGETS, 1));
        assert!(names_igd("urn:dslforum-org:device:InternetGatewayDevice:1"));
        assert!(!names_igd("urn:schemas-wifialliance-org:device:WFADevice:1"));
        assert!(filter_matches("InternetGatewayDevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"));
        assert!(!filter_matches("InternetGatewayDevice", "upnp:rootdevice"));
        assert!(filter_matches("", "anything"));
    }

    #[test]
    fn answers_parse_with_odd_headers() {
        let a = parse_answer(b"HTTP/1.1 200 OK\r\nlocation:   http://1.2.3.4/d.xml \r\nSt: upnp:rootdevice\r\n\r\n")
            .unwrap();
        assert_eq!(a.location, "http://1.2.3.4/d.xml");
        assert_eq!(a.st, "upnp:rootdevice");
        assert_eq!(a.usn, "");
        // bare LF line ends
        assert!(parse_answer(b"HTTP/1.0 200 OK\nLOCATION: http://a/\nST: x\n\n").is_ok());
        // the same header twice with the same value is fine
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: http://a/\r\nST: x\r\n\r\n").is_ok());
    }

    #[test]
    fn non_answers_are_refused() {
        use AnswerError::*;
        for (input, err) in [
            (&b"NOTIFY * HTTP/1.1\r\nLOCATION: http://a/\r\nNT: x\r\n\r\n"[..], NotAnAnswer),
            (b"M-SEARCH * HTTP/1.1\r\nST: x\r\n\r\n", NotAnAnswer),
            (b"HTTP/1.1 404 Not Found\r\nLOCATION: http://a/\r\nST: x\r\n\r\n", NotAnAnswer),
            (b"", NotAnAnswer),
            (b"HTTP/1.1 200 OK\r\nST: x\r\n\r\n", MissingLocation),
            (b"HTTP/1.1 200 OK\r\nLOCATION: http://a/\r\n\r\n", MissingSt),
            (b"HTTP/1.1 200 OK\r\nLOCATION:\r\nST: x\r\n\r\n", MissingLocation),
            (b"HTTP/1.1 200 OK\r\nLOCATION: http://a/\r\nLOCATION: http://b/\r\nST: x\r\n\r\n", ConflictingHeaders),
            (b"HTTP/1.1 200 OK\r\nLOCATION: http://\xff/\r\nST: x\r\n\r\n", NotText),
        ] {
            assert_eq!(parse_answer(input), Err(err), "{:?}", String::from_utf8_lossy(input));
        }
        // headers after the blank line are body, not headers
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\nST: x\r\n\r\nLOCATION: http://a/\r\n"), Err(MissingLocation));
    }

    /// Found by the hostile-devices matrix: a Latin-1 `SERVER` header used to make the
    /// whole answer "not valid UTF-8", so such a router was never found.
    #[test]
    fn invalid_utf8_matters_only_in_the_headers_we_use() {
        let latin1_server =
            b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nSERVER: Box \xe9\xff/1.0\r\nLOCATION: http://10.0.0.1/d.xml\r\n\
              X-\xff: y\r\n\r\n\xfe body";
        let a = parse_answer(latin1_server).unwrap();
        assert_eq!(
            (a.location.as_str(), a.st.as_str(), a.usn.as_str()),
            ("http://10.0.0.1/d.xml", "upnp:rootdevice", "")
        );
        use AnswerError::*;
        for (input, err) in [
            (&b"HTTP/1.1 200 OK\r\nLOCATION: http://10.0.0.1/\xe9.xml\r\nST: x\r\n\r\n"[..], NotText),
            (b"HTTP/1.1 200 OK\r\nLOCATION: http://10.0.0.1/\r\nST: \xff\r\n\r\n", NotText),
            (b"HTTP/1.1 200 OK\r\nLOCATION: http://10.0.0.1/\r\nST: x\r\nusn: uuid:\xff\r\n\r\n", NotText),
            (b"\xffTTP/1.1 200 OK\r\nLOCATION: http://10.0.0.1/\r\nST: x\r\n\r\n", NotAnAnswer),
        ] {
            assert_eq!(parse_answer(input), Err(err), "{:?}", String::from_utf8_lossy(input));
        }
        // Only the status code counts in the status line, as before.
        assert!(parse_answer(b"HTTP/1.1 200 \xffK\r\nLOCATION: http://10.0.0.1/\r\nST: x\r\n\r\n").is_ok());
    }

    /// Found by the property tests: a status line whose first word is "HTTP" followed by
    /// a multi-byte character used to panic (a string slice inside the character).
    #[test]
    fn multi_byte_status_word_is_not_an_answer() {
        for input in
            ["HtTP\u{110d0} \r\n", "HTTP\u{e9}1.1 200 OK\r\n", "HTT\u{e9} 200\r\n", "\u{e9}\u{e9}\u{e9} 200\r\n"]
        {
            assert_eq!(parse_answer(input.as_bytes()), Err(AnswerError::NotAnAnswer), "{input:?}");
        }
    }

    #[test]
    fn answers_are_grouped_by_search() {
        let t = &IGD_SEARCH_TARGETS;
        assert_eq!(search_index(t, "urn:schemas-upnp-org:device:InternetGatewayDevice:1"), 0);
        assert_eq!(search_index(t, "urn:schemas-upnp-org:device:InternetGatewayDevice:2"), 0);
        assert_eq!(search_index(t, "URN:schemas-upnp-org:service:WANIPConnection:2"), 1);
        assert_eq!(search_index(t, "urn:schemas-upnp-org:service:WANPPPConnection:1"), 2);
        assert_eq!(search_index(t, "upnp:rootdevice"), 3);
        assert_eq!(search_index(t, "uuid:1234"), 3);
        assert_eq!(search_index(&ALL_SEARCH_TARGETS, "anything"), 0);
        assert_eq!(search_index(&ALL_SEARCH_TARGETS, IGD_SEARCH_TARGETS[0]), 0);
    }
}
