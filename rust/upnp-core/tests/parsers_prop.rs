//! Property tests of every parser in `upnp_core::protocol`: hostile input never panics,
//! and what the client (or a well-behaved device) builds parses back to the same fields.
//!
//! `cargo test` runs 256 cases per property; `PROPTEST_CASES=N` sets another count
//! (`tests/proptest-long.sh` runs over a million in total, in release mode).

use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use upnp_core::protocol::description::{Description, DescriptionError, Service, parse_description};
use upnp_core::protocol::igd::Protocol;
use upnp_core::protocol::pmp::{
    DecodeError, NatPmpMapRequest, Nonce, PcpMapRequest, Reply, decode_natpmp_address_response,
    decode_natpmp_map_response, decode_pcp_map_response,
};
use upnp_core::protocol::soap::{SoapError, build_request, parse_response};
use upnp_core::protocol::ssdp::{AnswerError, SearchAnswer, build_msearch, parse_answer, search_index};
use upnp_core::protocol::url::{Host, HttpUrl, OwnAddress, device_url_allowed, location_allowed};
use upnp_core::protocol::{XmlError, pmp};

/// Cases per property: `PROPTEST_CASES` when set, else 256.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    // No regression files: failures print their minimal input, which goes into a unit test.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------
// Generators

/// Arbitrary bytes, biased towards the short end.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..64), vec(any::<u8>(), 0..max)]
}

/// Text meant for element content and header values: no leading or trailing whitespace
/// (parsers trim), no CR/LF (XML normalises them, SSDP splits lines on them), and the
/// characters XML must escape.
fn field_text() -> impl Strategy<Value = String> {
    "([A-Za-z0-9:/._<>&'\"?=%;-]([A-Za-z0-9 :/._<>&'\"?=%;-]{0,30}[A-Za-z0-9:/._<>&'\"?=%;-])?)?"
}

fn non_empty_field_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9:/._<>&'\"?=%;-]([A-Za-z0-9 :/._<>&'\"?=%;-]{0,30}[A-Za-z0-9:/._<>&'\"?=%;-])?"
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// Pieces of XML (and of things that are almost XML) glued together at random: tags the
/// parsers look for, stray closers, DTDs with entity declarations, references, CDATA,
/// comments, processing instructions, invalid UTF-8.
fn xml_soup() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"<root>".to_vec()),
        Just(b"</root>".to_vec()),
        Just(b"<device>".to_vec()),
        Just(b"</device>".to_vec()),
        Just(b"<deviceList>".to_vec()),
        Just(b"</deviceList>".to_vec()),
        Just(b"<serviceList><service>".to_vec()),
        Just(b"</service></serviceList>".to_vec()),
        Just(b"<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>".to_vec()),
        Just(b"<controlURL>/ctl</controlURL>".to_vec()),
        Just(b"<deviceType>x</deviceType>".to_vec()),
        Just(b"<URLBase>http://10.0.0.1/</URLBase>".to_vec()),
        Just(b"<s:Envelope xmlns:s=\"e\"><s:Body>".to_vec()),
        Just(b"</s:Body></s:Envelope>".to_vec()),
        Just(b"<u:GetExternalIPAddressResponse>".to_vec()),
        Just(b"</u:GetExternalIPAddressResponse>".to_vec()),
        Just(b"<s:Fault><detail><UPnPError><errorCode>".to_vec()),
        Just(b"</errorCode><errorDescription>".to_vec()),
        Just(b"</errorDescription></UPnPError></detail></s:Fault>".to_vec()),
        Just(b"<!DOCTYPE root [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>".to_vec()),
        Just(b"<!DOCTYPE root SYSTEM \"file:///etc/passwd\">".to_vec()),
        Just(b"<!ENTITY x SYSTEM \"http://10.0.0.1/x\">".to_vec()),
        Just(b"&a;".to_vec()),
        Just(b"&b;".to_vec()),
        Just(b"&amp;&lt;&#65;&#x10FFFF;&#0;&#xD800;&#99999999999;".to_vec()),
        Just(b"<![CDATA[<root>]]>".to_vec()),
        Just(b"<!-- c -->".to_vec()),
        Just(b"<?xml version=\"1.0\"?>".to_vec()),
        Just(b"<a b=\"1\" b=\"2\"/>".to_vec()),
        Just(b"<".to_vec()),
        Just(b">".to_vec()),
        Just(b"&".to_vec()),
        Just(b"</".to_vec()),
        Just(vec![0xff, 0xfe, 0xc3]),
        "[ -~]{0,12}".prop_map(String::into_bytes),
        "\\PC{0,6}".prop_map(String::into_bytes),
        vec(any::<u8>(), 0..8),
    ];
    vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// Nested elements `depth` deep, optionally inside a description's `<root><device>`.
fn deep_xml(depth: usize, wrap: bool, self_closing_leaf: bool) -> String {
    let mut s = String::new();
    if wrap {
        s.push_str("<root><device>");
    }
    for i in 0..depth {
        s.push_str(&format!("<e{}>", i % 7));
    }
    if self_closing_leaf {
        s.push_str("<leaf/>");
    }
    for i in (0..depth).rev() {
        s.push_str(&format!("</e{}>", i % 7));
    }
    if wrap {
        s.push_str("</device></root>");
    }
    s
}

/// A name for an entity that XML does not predefine.
fn entity_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,10}"
        .prop_filter("predefined", |n| !["lt", "gt", "amp", "apos", "quot"].contains(&n.as_str()))
}

// ---------------------------------------------------------------------------------------
// SSDP

/// An SSDP answer's header, written with a random case and spacing.
#[derive(Clone, Debug)]
struct HeaderLine {
    name: String,
    value: String,
}

fn random_case(name: &str) -> impl Strategy<Value = String> + use<> {
    let name = name.to_string();
    vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
    })
}

fn render_header(line: &HeaderLine, pad_before: &str, pad_after: &str, eol: &str) -> String {
    format!("{}{pad_before}:{pad_after}{}{eol}", line.name, line.value)
}

fn ssdp_value() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,40}[!-~])?"
}

fn extra_header() -> impl Strategy<Value = HeaderLine> {
    let names = prop_oneof![
        Just("CACHE-CONTROL"),
        Just("EXT"),
        Just("SERVER"),
        Just("DATE"),
        Just("OPT"),
        Just("01-NLS"),
        Just("BOOTID.UPNP.ORG"),
        Just("X-User-Agent"),
    ];
    (names, "[ -~]{0,60}").prop_map(|(name, value)| HeaderLine { name: name.into(), value })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ssdp_arbitrary_bytes_never_panic(datagram in bytes(4096)) {
        let _ = parse_answer(&datagram);
    }

    #[test]
    fn ssdp_odd_status_lines_and_headers_never_panic(
        status in prop_oneof![
            Just("HTTP/1.1 200 OK".to_string()),
            "HTTP?\\PC{0,8}( 200)?",
            "[Hh][Tt][Tt][Pp]\\PC{0,3} \\PC{0,5}",
            "\\PC{0,20}",
        ],
        lines in vec(
            prop_oneof![
                "(LOCATION|ST|USN|location|st|usn|Location)[ \t]{0,3}:\\PC{0,80}",
                "\\PC{0,40}:\\PC{0,40}",
                "[ -~]{0,1500}",
                "\\PC{0,20}",
            ],
            0..12,
        ),
        eol in prop_oneof![Just("\r\n"), Just("\n"), Just("\r")],
        trailer in bytes(64),
    ) {
        let mut datagram = format!("{status}{eol}{}", lines.join(eol)).into_bytes();
        datagram.extend_from_slice(&trailer);
        if let Ok(answer) = parse_answer(&datagram) {
            prop_assert!(!answer.location.is_empty() && !answer.st.is_empty());
            for field in [&answer.location, &answer.st, &answer.usn] {
                prop_assert_eq!(field.trim(), field.as_str());
                prop_assert!(!field.contains('\n'));
            }
        }
    }

    /// A well-formed answer, whatever the header case, spacing, order, line ending and
    /// unrelated headers, parses to the fields it carries.
    #[test]
    fn ssdp_known_good_answer_round_trips(
        status in prop_oneof![Just("HTTP/1.1 200 OK"), Just("HTTP/1.0 200 OK"), Just("http/1.1   200"), Just("HTTP/1.1 200 ")],
        location in ssdp_value(),
        st in ssdp_value(),
        usn in proptest::option::of(ssdp_value()),
        names in (random_case("LOCATION"), random_case("ST"), random_case("USN")),
        extras in vec(extra_header(), 0..6),
        repeat_location in any::<bool>(),
        order_seed in any::<u64>(),
        pads in vec(("[ \t]{0,2}", "[ \t]{0,3}"), 12),
        crlf in any::<bool>(),
        body in "[ -~\r\n]{0,80}",
    ) {
        let mut headers = vec![
            HeaderLine { name: names.0.clone(), value: location.clone() },
            HeaderLine { name: names.1, value: st.clone() },
        ];
        if let Some(usn) = &usn {
            headers.push(HeaderLine { name: names.2, value: usn.clone() });
        }
        if repeat_location {
            headers.push(HeaderLine { name: names.0, value: location.clone() });
        }
        headers.extend(extras);
        // A deterministic shuffle from the seed.
        let mut seed = order_seed;
        for i in (1..headers.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            headers.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("{status}{eol}");
        for (line, (before, after)) in headers.iter().zip(pads.iter().cycle()) {
            text.push_str(&render_header(line, before, after, eol));
        }
        text.push_str(eol);
        // Whatever follows the blank line is body, not headers.
        text.push_str(&format!("LOCATION: http://10.9.9.9/other{eol}{body}"));
        let parsed = parse_answer(text.as_bytes());
        prop_assert_eq!(parsed, Ok(SearchAnswer { location, st, usn: usn.unwrap_or_default() }));
    }

    #[test]
    fn ssdp_conflicting_duplicates_are_refused(
        first in ssdp_value(),
        second in ssdp_value(),
        which in prop_oneof![Just("LOCATION"), Just("ST"), Just("USN")],
    ) {
        prop_assume!(first != second);
        let text = format!(
            "HTTP/1.1 200 OK\r\nLOCATION: http://10.0.0.1/d.xml\r\nST: upnp:rootdevice\r\n{which}: {first}\r\n{which}: {second}\r\n\r\n"
        );
        prop_assert_eq!(parse_answer(text.as_bytes()), Err(AnswerError::ConflictingHeaders));
    }

    /// Our own M-SEARCH (as another client on the LAN would send it) is never taken for
    /// an answer, and search_index always names one of the searches.
    #[test]
    fn ssdp_msearch_is_not_an_answer(
        host in "\\PC{0,40}",
        st in "\\PC{0,80}",
        mx in any::<u64>(),
        answer_st in "\\PC{0,60}",
        targets in vec("\\PC{0,40}", 1..6),
    ) {
        let request = build_msearch(&host, &st, mx);
        prop_assert_eq!(parse_answer(request.as_bytes()), Err(AnswerError::NotAnAnswer));
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        prop_assert!(search_index(&targets, &answer_st) < targets.len());
    }
}

// ---------------------------------------------------------------------------------------
// Device descriptions

/// A device of a generated description: its fields, services and embedded devices.
#[derive(Clone, Debug)]
struct GenDevice {
    device_type: String,
    friendly_name: String,
    manufacturer: String,
    model_name: String,
    services: Vec<(String, String)>,
    children: Vec<GenDevice>,
}

fn gen_device(depth: u32) -> BoxedStrategy<GenDevice> {
    let children = if depth == 0 { Just(Vec::new()).boxed() } else { vec(gen_device(depth - 1), 0..3).boxed() };
    (field_text(), field_text(), field_text(), field_text(), vec((field_text(), field_text()), 0..4), children)
        .prop_map(|(device_type, friendly_name, manufacturer, model_name, services, children)| GenDevice {
            device_type,
            friendly_name,
            manufacturer,
            model_name,
            services,
            children,
        })
        .boxed()
}

fn render_device(d: &GenDevice, out: &mut String, services: &mut Vec<Service>, prefix: &str) {
    let e = xml_escape;
    out.push_str(&format!("<{prefix}device>\r\n  <deviceType>{}</deviceType>", e(&d.device_type)));
    out.push_str(&format!("<friendlyName>{}</friendlyName>", e(&d.friendly_name)));
    out.push_str(&format!("<manufacturer> {} </manufacturer>", e(&d.manufacturer)));
    out.push_str(&format!("<modelName><![CDATA[{}]]></modelName>", d.model_name));
    out.push_str("<UDN>uuid:1</UDN><!-- services --><serviceList>");
    for (service_type, control_url) in &d.services {
        out.push_str(&format!(
            "<service><serviceType>{}</serviceType><serviceId>x</serviceId><controlURL>{}</controlURL></service>",
            e(service_type),
            e(control_url)
        ));
        services.push(Service {
            service_type: service_type.clone(),
            control_url: control_url.clone(),
            device_type: d.device_type.clone(),
        });
    }
    out.push_str("</serviceList>");
    if !d.children.is_empty() {
        out.push_str("<deviceList>");
        for child in &d.children {
            render_device(child, out, services, prefix);
        }
        out.push_str("</deviceList>");
    }
    out.push_str(&format!("</{prefix}device>"));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn description_arbitrary_bytes_never_panic(body in bytes(8192)) {
        let _ = parse_description(&body);
    }

    #[test]
    fn description_xml_soup_never_panics(body in xml_soup()) {
        let _ = parse_description(&body);
    }

    /// Nesting is bounded: deep documents are refused, not walked.
    #[test]
    fn description_deep_nesting_is_bounded(depth in 0usize..400, leaf in any::<bool>(), unclosed in any::<bool>()) {
        let mut doc = deep_xml(depth, true, leaf);
        if unclosed {
            doc.truncate(doc.len() / 2);
        }
        let result = parse_description(doc.as_bytes());
        // <root><device>, the chain, the leaf: deeper than 48 is refused.
        if 2 + depth + usize::from(leaf) > 48 && !unclosed {
            prop_assert_eq!(&result, &Err(DescriptionError::Xml(XmlError::TooDeep)));
        }
        if unclosed && depth > 0 {
            prop_assert!(result.is_err());
        }
    }

    /// A reference to any entity but XML's five is refused (never expanded), whether or
    /// not a DTD declares it.
    #[test]
    fn description_declared_entities_are_refused(
        name in entity_name(),
        value in "[a-z&;]{0,20}",
        declare in any::<bool>(),
        external in any::<bool>(),
        inside in prop_oneof![Just("friendlyName"), Just("deviceType"), Just("URLBase")],
    ) {
        let dtd = match (declare, external) {
            (false, _) => String::new(),
            (true, false) => format!("<!DOCTYPE root [<!ENTITY {name} \"{value}\">]>"),
            (true, true) => format!("<!DOCTYPE root [<!ENTITY {name} SYSTEM \"file:///etc/{value}\">]>"),
        };
        let doc = format!("<?xml version=\"1.0\"?>{dtd}<root><device><{inside}>x&{name};y</{inside}></device></root>");
        prop_assert!(
            matches!(parse_description(doc.as_bytes()), Err(DescriptionError::Xml(_))),
            "{} was accepted", doc
        );
    }

    /// A description written by a device parses to what it says, whatever its text
    /// (escaped, in CDATA, padded) and however its devices nest.
    #[test]
    fn description_round_trips(
        root in gen_device(2),
        url_base in proptest::option::of(non_empty_field_text()),
        prefixed in any::<bool>(),
    ) {
        let prefix = if prefixed { "d:" } else { "" };
        let mut doc = String::from("<?xml version=\"1.0\"?>\r\n");
        doc.push_str(&format!("<{prefix}root xmlns=\"urn:schemas-upnp-org:device-1-0\" xmlns:d=\"urn:schemas-upnp-org:device-1-0\">"));
        doc.push_str("<specVersion><major>1</major><minor>0</minor></specVersion>");
        if let Some(base) = &url_base {
            doc.push_str(&format!("<URLBase>{}</URLBase>", xml_escape(base)));
        }
        let mut services = Vec::new();
        render_device(&root, &mut doc, &mut services, prefix);
        doc.push_str(&format!("</{prefix}root>\r\n"));
        let expected = Description {
            url_base,
            device_type: root.device_type.clone(),
            friendly_name: root.friendly_name.clone(),
            manufacturer: root.manufacturer.clone(),
            model_name: root.model_name.clone(),
            services,
        };
        // CDATA cannot hold "]]>"; the generator's characters never make it.
        prop_assert_eq!(parse_description(doc.as_bytes()), Ok(expected));
    }
}

// ---------------------------------------------------------------------------------------
// SOAP

fn xml_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,20}"
}

fn fault_body(code: &str, description: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
         <s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
         <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
         <errorDescription>{}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>",
        xml_escape(description)
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn soap_arbitrary_bytes_never_panic(action in "\\PC{0,30}", status in any::<u16>(), body in bytes(8192)) {
        let _ = parse_response(&action, status, &body);
    }

    #[test]
    fn soap_xml_soup_never_panics(
        action in prop_oneof![Just("GetExternalIPAddress".to_string()), "\\PC{0,20}"],
        status in prop_oneof![Just(200u16), Just(500u16), any::<u16>()],
        body in xml_soup(),
    ) {
        let _ = parse_response(&action, status, &body);
    }

    #[test]
    fn soap_deep_nesting_and_entities_never_panic(
        depth in 0usize..300,
        leaf in any::<bool>(),
        name in entity_name(),
        status in any::<u16>(),
    ) {
        let doc = deep_xml(depth, false, leaf);
        let result = parse_response("e0", status, doc.as_bytes());
        if depth + usize::from(leaf) > 48 && (200..300).contains(&status) {
            prop_assert!(matches!(result, Err(SoapError::Unexpected(_))), "{:?}", result);
        }
        let doc = format!(
            "<!DOCTYPE s [<!ENTITY {name} \"x\">]><s:Envelope xmlns:s=\"e\"><s:Body><u:AResponse><v>&{name};</v></u:AResponse></s:Body></s:Envelope>"
        );
        prop_assert!(parse_response("A", 200, doc.as_bytes()).is_err());
    }

    /// An answer shaped like our own request envelope (`<u:{action}Response>` with
    /// arguments) parses to exactly those arguments, in order.
    #[test]
    fn soap_response_round_trips(
        service_type in non_empty_field_text(),
        action in "[A-Za-z][A-Za-z0-9]{0,20}",
        args in vec((xml_name(), field_text()), 0..8),
        status in 200u16..300,
    ) {
        let arg_refs: Vec<(&str, String)> = args.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let body = build_request(&service_type, &format!("{action}Response"), &arg_refs);
        prop_assert_eq!(parse_response(&action, status, body.as_bytes()), Ok(args));
    }

    /// A UPnP fault is read whatever the HTTP status.
    #[test]
    fn soap_fault_round_trips(code in any::<u32>(), description in field_text(), status in any::<u16>(), pad in "[ \t\n]{0,3}") {
        let body = fault_body(&format!("{pad}{code}{pad}"), &description);
        prop_assert_eq!(parse_response("AddPortMapping", status, body.as_bytes()), Err(SoapError::Fault { code, description }));
    }

    #[test]
    fn soap_non_numeric_fault_code_is_unexpected(code in "[ -~]{0,20}", status in any::<u16>()) {
        prop_assume!(code.trim().parse::<u32>().is_err());
        let body = fault_body(&xml_escape(&code), "x");
        prop_assert!(matches!(parse_response("A", status, body.as_bytes()), Err(SoapError::Unexpected(_))));
    }
}

// ---------------------------------------------------------------------------------------
// URLs

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(Ipv6Addr::from),
        ipv4().prop_map(|v4| v4.to_ipv6_mapped()),
        any::<u16>().prop_map(|s| Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, s)),
    ]
}

fn host_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ipv4().prop_map(|a| a.to_string()),
        ipv6().prop_map(|a| format!("[{a}]")),
        "[A-Za-z0-9_-]{1,12}(\\.[A-Za-z0-9_-]{1,12}){0,3}",
        "[0-9.]{1,15}",
        "\\[[0-9a-fA-F:.%a-z]{0,40}\\]",
    ]
}

fn path_text() -> impl Strategy<Value = String> {
    "(/|\\.|\\.\\.|[A-Za-z0-9%._~!$&'()*+,;=:@-]{1,8}){0,10}(\\?[A-Za-z0-9/?=&.%-]{0,20})?(#[ -~]{0,10})?"
}

/// Strings that look like http URLs; many parse, many do not.
fn url_text() -> impl Strategy<Value = String> {
    url_text_with(prop_oneof![
        Just("http://"),
        Just("HTTP://"),
        Just("hTtP://"),
        Just("https://"),
        Just("http:/"),
        Just("")
    ])
}

/// Strings that look like http URLs and start with a scheme.
fn absolute_url_text() -> impl Strategy<Value = String> {
    url_text_with(prop_oneof![
        Just("http://"),
        Just("HTTP://"),
        Just("https://"),
        Just("http:/"),
        Just("file:"),
        Just("a+b.c:")
    ])
}

fn url_text_with(scheme: impl Strategy<Value = &'static str>) -> impl Strategy<Value = String> {
    (
        scheme,
        proptest::option::of("[a-z]{0,3}(:[a-z]{0,3})?@"),
        host_text(),
        proptest::option::of(prop_oneof!["[0-9]{0,6}", any::<u16>().prop_map(|p| p.to_string()), "[ -~]{0,4}"]),
        path_text(),
    )
        .prop_map(|(scheme, user, host, port, path)| {
            let user = user.unwrap_or_default();
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let sep = if path.starts_with(['/', '?', '#']) || path.is_empty() { "" } else { "/" };
            format!("{scheme}{user}{host}{port}{sep}{path}")
        })
}

/// URLs that are valid http URLs (built from valid parts, so few are rejected).
fn valid_url() -> impl Strategy<Value = HttpUrl> {
    let host = prop_oneof![
        ipv4().prop_map(|a| a.to_string()),
        ipv6().prop_map(|a| format!("[{a}]")),
        "[A-Za-z_-][A-Za-z0-9_-]{0,12}(\\.[A-Za-z0-9_-]{1,12}){0,3}",
    ];
    let port = proptest::option::of(1u16..);
    (prop_oneof![Just("http://"), Just("HTTP://")], host, port, path_text()).prop_filter_map(
        "not a valid URL",
        |(scheme, host, port, path)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let sep = if path.starts_with(['/', '?', '#']) || path.is_empty() { "" } else { "/" };
            HttpUrl::parse(&format!("{scheme}{host}{port}{sep}{path}")).ok()
        },
    )
}

/// References a device might put in a description: absolute, network-path, absolute
/// path, query only, relative path, fragment.
fn reference() -> impl Strategy<Value = String> {
    prop_oneof![
        url_text(),
        host_text().prop_map(|h| format!("//{h}/x")),
        path_text(),
        path_text().prop_map(|p| format!("/{p}")),
        "[ -~]{0,60}",
        "\\PC{0,20}",
    ]
}

fn check_url_invariants(url: &HttpUrl) -> Result<(), TestCaseError> {
    prop_assert!(url.path().starts_with('/'), "{:?}", url);
    prop_assert!(!url.path().contains('#'), "{:?}", url);
    prop_assert!(url.port() != 0);
    if let Host::Name(name) = url.host() {
        prop_assert_eq!(name.to_ascii_lowercase(), name.clone());
    }
    let shown = url.to_string();
    let reparsed = HttpUrl::parse(&shown);
    prop_assert_eq!(reparsed.as_ref(), Ok(url), "{} did not re-parse to itself", shown);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn url_arbitrary_strings_never_panic(input in prop_oneof!["\\PC{0,80}", "[ -~]{0,300}", url_text()], reference in reference()) {
        if let Ok(url) = HttpUrl::parse(&input) {
            check_url_invariants(&url)?;
        }
        let base = HttpUrl::parse("http://192.168.1.1:5000/rootDesc.xml").unwrap();
        if let Ok(url) = base.resolve(&reference) {
            check_url_invariants(&url)?;
        }
    }

    #[test]
    fn url_huge_input_is_refused(len in 2049usize..20_000, fill in prop_oneof![Just('a'), Just('/'), Just('.')]) {
        let long = format!("http://h/{}", fill.to_string().repeat(len));
        prop_assert!(HttpUrl::parse(&long).is_err());
        let base = HttpUrl::parse("http://h/").unwrap();
        prop_assert!(base.resolve(&long[9..]).is_err());
    }

    /// A parsed URL displays as a string that parses back to the same URL.
    #[test]
    fn url_display_reparses_to_itself(url in valid_url()) {
        check_url_invariants(&url)?;
    }

    /// Resolving an absolute URL ignores the base; a `//authority` reference keeps only
    /// the scheme.
    #[test]
    fn url_resolving_absolute_ignores_base(base1 in valid_url(), base2 in valid_url(), absolute in absolute_url_text()) {
        let direct = HttpUrl::parse(&absolute);
        prop_assert_eq!(base1.resolve(&absolute), direct.clone());
        prop_assert_eq!(base2.resolve(&absolute), direct);
        if let Some(rest) = absolute.strip_prefix("http:").filter(|r| r.starts_with("//")) {
            prop_assert_eq!(base1.resolve(rest), base2.resolve(rest));
        }
    }

    /// Relative references keep the base's host and port and give a well-formed URL.
    #[test]
    fn url_relative_resolution_keeps_authority(base in valid_url(), reference in path_text()) {
        // "//x" would name an authority and "a:b" a scheme; "./" keeps them relative.
        let reference = if reference.starts_with("//") || reference.split(['/', '?', '#']).next().unwrap_or("").contains(':') {
            format!("./{reference}")
        } else {
            reference
        };
        if let Ok(url) = base.resolve(&reference) {
            prop_assert_eq!(url.host(), base.host());
            prop_assert_eq!(url.port(), base.port());
            check_url_invariants(&url)?;
            // Resolution is stable: resolving the result's own path gives it back (unless
            // the path starts with "//", which as a reference names an authority).
            if !url.path().starts_with("//") {
                prop_assert_eq!(base.resolve(url.path()), Ok(url.clone()));
            }
        }
    }

    #[test]
    fn url_location_policy_never_panics(
        url in valid_url(),
        sender in prop_oneof![ipv4().prop_map(IpAddr::V4), ipv6().prop_map(IpAddr::V6)],
        on_link in vec((ipv6(), any::<u8>()).prop_map(|(ip, prefix_len)| OwnAddress { ip, prefix_len }), 0..3),
    ) {
        let verdict = location_allowed(&url, sender, &on_link);
        if url.ip() == Some(sender) {
            prop_assert_eq!(verdict, Ok(()));
        }
        if url.ip().is_none() {
            prop_assert!(verdict.is_err());
        }
        // Another host is accepted only from a link-local sender, and never this host.
        if verdict.is_ok() && url.ip() != Some(sender) {
            prop_assert!(matches!(sender, IpAddr::V6(s) if s.segments()[0] & 0xffc0 == 0xfe80), "{} from {}", url, sender);
            prop_assert!(on_link.iter().all(|own| url.ip() != Some(IpAddr::V6(own.ip))));
        }
    }

    /// A URL from a description is usable only on the LOCATION's own host.
    #[test]
    fn url_device_policy_keeps_the_host(url in valid_url(), location in valid_url()) {
        let verdict = device_url_allowed(&url, &location);
        if verdict.is_ok() {
            prop_assert!(url.ip().is_some());
            let same = url.ip() == location.ip()
                || url.ip().zip(location.ip()).is_some_and(|(a, b)| a.to_canonical() == b.to_canonical());
            prop_assert!(same, "{} allowed for {}", url, location);
        }
    }

}

// ---------------------------------------------------------------------------------------
// NAT-PMP and PCP

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)]
}

fn pcp_request() -> impl Strategy<Value = PcpMapRequest> {
    let address = || prop_oneof![ipv4().prop_map(IpAddr::V4), any::<[u8; 16]>().prop_map(|o| IpAddr::V6(o.into()))];
    (address(), any::<Nonce>(), protocol(), any::<u16>(), any::<u16>(), proptest::option::of(address()), any::<u32>())
        .prop_map(
            |(
                client_address,
                nonce,
                protocol,
                internal_port,
                suggested_external_port,
                suggested_external_address,
                lifetime_secs,
            )| {
                PcpMapRequest {
                    client_address,
                    nonce,
                    protocol,
                    internal_port,
                    suggested_external_port,
                    suggested_external_address,
                    lifetime_secs,
                }
            },
        )
}

fn natpmp_request() -> impl Strategy<Value = NatPmpMapRequest> {
    (protocol(), any::<u16>(), any::<u16>(), any::<u32>()).prop_map(
        |(protocol, internal_port, suggested_external_port, lifetime_secs)| NatPmpMapRequest {
            protocol,
            internal_port,
            suggested_external_port,
            lifetime_secs,
        },
    )
}

/// The answer a PCP server builds from our request (RFC 6887 §7.2, §11.1).
fn pcp_server_answer(
    request: &PcpMapRequest,
    result: u8,
    lifetime: u32,
    epoch: u32,
    external_port: u16,
    external: [u8; 16],
) -> Vec<u8> {
    let mut b = request.encode().to_vec();
    b[1] |= 0x80;
    b[2] = 0;
    b[3] = result;
    b[4..8].copy_from_slice(&lifetime.to_be_bytes());
    b[8..12].copy_from_slice(&epoch.to_be_bytes());
    b[12..24].fill(0);
    b[42..44].copy_from_slice(&external_port.to_be_bytes());
    b[44..60].copy_from_slice(&external);
    b
}

/// The answer a NAT-PMP gateway builds from our request (RFC 6886 §3.3).
fn natpmp_server_answer(
    request: &NatPmpMapRequest,
    result: u16,
    epoch: u32,
    external_port: u16,
    lifetime: u32,
) -> Vec<u8> {
    let sent = request.encode();
    let mut b = vec![0, sent[1] | 0x80];
    b.extend_from_slice(&result.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&sent[4..6]);
    b.extend_from_slice(&external_port.to_be_bytes());
    b.extend_from_slice(&lifetime.to_be_bytes());
    b
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pmp_arbitrary_bytes_never_panic(
        pcp in pcp_request(),
        natpmp in natpmp_request(),
        datagram in prop_oneof![bytes(1400), vec(any::<u8>(), 0..70)],
        first in prop_oneof![Just(None), (0u8..3, any::<u8>()).prop_map(Some)],
    ) {
        let mut datagram = datagram;
        if let (Some((version, op)), true) = (first, datagram.len() >= 2) {
            datagram[0] = version;
            datagram[1] = op;
        }
        let pcp_reply = decode_pcp_map_response(&pcp, &datagram);
        let map_reply = decode_natpmp_map_response(&natpmp, &datagram);
        let address_reply = decode_natpmp_address_response(&datagram);
        // Nothing shorter than the protocols' minimum is ever accepted.
        if datagram.len() < 4 {
            prop_assert!(matches!(pcp_reply, Err(DecodeError::Malformed(_))));
            prop_assert!(matches!(map_reply, Err(DecodeError::Malformed(_))));
            prop_assert!(matches!(address_reply, Err(DecodeError::Malformed(_))));
        }
        if matches!(pcp_reply, Ok(Reply::Success(_))) {
            prop_assert!(datagram.len() >= pmp::PCP_MAP_LEN && datagram.len() <= pmp::PCP_MAX_LEN);
            prop_assert!(datagram.len() % 4 == 0);
        }
        if matches!(pcp_reply, Ok(Reply::Refused(_))) {
            prop_assert!(datagram.len() >= 24);
        }
        if matches!(map_reply, Ok(Reply::Success(_))) {
            prop_assert!(datagram.len() >= pmp::NATPMP_MAP_RESPONSE_LEN);
        }
        if matches!(address_reply, Ok(Reply::Success(_))) {
            prop_assert!(datagram.len() >= pmp::NATPMP_ADDRESS_RESPONSE_LEN);
        }
    }

    /// A PCP server's answer to our request decodes to the fields it carries; refusals
    /// carry the code; every truncation is refused.
    #[test]
    fn pcp_encode_decode_round_trips(
        request in pcp_request(),
        result in prop_oneof![Just(0u8), any::<u8>()],
        lifetime in any::<u32>(),
        epoch in any::<u32>(),
        external_port in any::<u16>(),
        external in prop_oneof![ipv4().prop_map(|a| a.to_ipv6_mapped().octets()), any::<[u8; 16]>()],
        options in vec(any::<u8>(), 0..40).prop_map(|mut o| { o.truncate(o.len() / 4 * 4); o }),
        cut in 0usize..60,
    ) {
        let mut answer = pcp_server_answer(&request, result, lifetime, epoch, external_port, external);
        answer.extend_from_slice(&options);
        let reply = decode_pcp_map_response(&request, &answer);
        match result {
            0 => {
                let Ok(Reply::Success(granted)) = reply else {
                    return Err(TestCaseError::fail(format!("{reply:?}")));
                };
                prop_assert_eq!(granted.lifetime_secs, lifetime);
                prop_assert_eq!(granted.epoch_secs, epoch);
                prop_assert_eq!(granted.external_port, external_port);
                prop_assert_eq!(granted.external_address, pmp::from_pcp_address(external));
            }
            1 => prop_assert_eq!(reply, Ok(Reply::UnsupportedVersion { server_version: 2 })),
            code => prop_assert!(matches!(reply, Ok(Reply::Refused(c)) if c.code == u16::from(code))),
        }
        // The same answer cut short of the MAP payload is never a success.
        answer.truncate(cut);
        prop_assert!(!matches!(decode_pcp_map_response(&request, &answer), Ok(Reply::Success(_))));
        // Our own request echoed back is not an answer.
        prop_assert!(matches!(decode_pcp_map_response(&request, &request.encode()), Err(DecodeError::Unrelated(_))));
    }

    /// A PCP answer for another nonce, protocol or internal port is not ours.
    #[test]
    fn pcp_answers_for_other_mappings_are_unrelated(request in pcp_request(), other in pcp_request(), result in any::<u8>()) {
        prop_assume!(request.nonce != other.nonce || request.protocol != other.protocol || request.internal_port != other.internal_port);
        let answer = pcp_server_answer(&other, result, 60, 1, 1, [0; 16]);
        prop_assert!(matches!(decode_pcp_map_response(&request, &answer), Err(DecodeError::Unrelated(_))));
    }

    /// A NAT-PMP gateway's answer to our mapping request decodes to the fields it
    /// carries; every truncation is refused.
    #[test]
    fn natpmp_encode_decode_round_trips(
        request in natpmp_request(),
        result in prop_oneof![Just(0u16), any::<u16>()],
        epoch in any::<u32>(),
        external_port in any::<u16>(),
        lifetime in any::<u32>(),
        cut in 0usize..16,
        address in ipv4(),
    ) {
        let answer = natpmp_server_answer(&request, result, epoch, external_port, lifetime);
        let reply = decode_natpmp_map_response(&request, &answer);
        match result {
            0 => {
                let Ok(Reply::Success(granted)) = reply else {
                    return Err(TestCaseError::fail(format!("{reply:?}")));
                };
                prop_assert_eq!(granted.epoch_secs, epoch);
                prop_assert_eq!(granted.external_port, external_port);
                prop_assert_eq!(granted.lifetime_secs, lifetime);
                prop_assert!(!matches!(decode_natpmp_map_response(&request, &answer[..cut]), Ok(Reply::Success(_))));
            }
            1 => prop_assert_eq!(reply, Ok(Reply::UnsupportedVersion { server_version: 0 })),
            code => prop_assert!(matches!(reply, Ok(Reply::Refused(c)) if c.code == code)),
        }
        prop_assert!(matches!(decode_natpmp_map_response(&request, &request.encode()), Err(DecodeError::Unrelated(_))));

        let mut address_answer = vec![0, 0x80];
        address_answer.extend_from_slice(&result.to_be_bytes());
        address_answer.extend_from_slice(&epoch.to_be_bytes());
        address_answer.extend_from_slice(&address.octets());
        let reply = decode_natpmp_address_response(&address_answer);
        match result {
            0 => {
                let Ok(Reply::Success(granted)) = reply else {
                    return Err(TestCaseError::fail(format!("{reply:?}")));
                };
                prop_assert_eq!(granted.epoch_secs, epoch);
                prop_assert_eq!(granted.address, address);
                let cut = cut.min(11);
                prop_assert!(!matches!(decode_natpmp_address_response(&address_answer[..cut]), Ok(Reply::Success(_))));
            }
            1 => prop_assert_eq!(reply, Ok(Reply::UnsupportedVersion { server_version: 0 })),
            code => prop_assert!(matches!(reply, Ok(Reply::Refused(c)) if c.code == code)),
        }
    }
}
