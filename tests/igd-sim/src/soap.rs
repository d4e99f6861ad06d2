//! SOAP bodies: reading a request's arguments, writing miniupnpd-shaped answers.

use quick_xml::Reader;
use quick_xml::events::Event;

/// Deepest nesting read; SOAP requests are 4 levels deep.
const MAX_DEPTH: usize = 32;

/// What a request body says.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SoapRequest {
    /// The local name of the first element in `Body` (the action).
    pub(crate) action: Option<String>,
    /// That element's namespace (`xmlns:u` or `xmlns`), the service type.
    pub(crate) namespace: Option<String>,
    /// Its child elements' local names and trimmed texts, in order.
    pub(crate) args: Vec<(String, String)>,
}

/// Reads a request body. Never fails: whatever could be read before an error is kept
/// (missing arguments then make the action answer 402, as miniupnpd does).
pub(crate) fn parse_request(body: &[u8]) -> SoapRequest {
    let text = String::from_utf8_lossy(body);
    let mut reader = Reader::from_str(&text);
    let mut request = SoapRequest::default();
    // Local names from the root down.
    let mut stack: Vec<String> = Vec::new();
    // Depth of the action element once found.
    let mut action_depth = None;
    let mut current: Option<(String, String)> = None;
    while let Ok(event) = reader.read_event() {
        match event {
            Event::Start(start) | Event::Empty(start) if stack.len() >= MAX_DEPTH => {
                let _ = start;
                break;
            }
            Event::Start(start) => {
                let name = local_name(start.name().as_ref());
                if action_depth.is_none() && stack.last().is_some_and(|p| p == "Body") {
                    request.action = Some(name.clone());
                    request.namespace = namespace(&start);
                    action_depth = Some(stack.len());
                } else if action_depth.is_some_and(|d| stack.len() == d + 1) {
                    current = Some((name.clone(), String::new()));
                }
                stack.push(name);
            }
            Event::Empty(start) => {
                let name = local_name(start.name().as_ref());
                if action_depth.is_none() && stack.last().is_some_and(|p| p == "Body") {
                    request.action = Some(name);
                    request.namespace = namespace(&start);
                    break;
                } else if action_depth.is_some_and(|d| stack.len() == d + 1) {
                    request.args.push((name, String::new()));
                }
            }
            Event::End(_) => {
                if action_depth.is_some_and(|d| stack.len() == d + 2)
                    && let Some((name, value)) = current.take()
                {
                    request.args.push((name, value.trim().to_string()));
                }
                stack.pop();
                if action_depth.is_some_and(|d| stack.len() <= d) {
                    break;
                }
            }
            Event::Text(t) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&c);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, value)) = current.as_mut() {
                    let name = r.to_string();
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => value.push(ch),
                        _ => value.push_str(predefined(&name).unwrap_or("")),
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    request
}

/// The first `xmlns` or `xmlns:*` attribute's value.
fn namespace(start: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    start
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == "xmlns" || a.key.as_ref().starts_with("xmlns:"))
        .map(|a| a.value.to_string())
}

fn predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

fn local_name(qualified: &str) -> String {
    qualified.rsplit(':').next().unwrap_or(qualified).to_string()
}

/// A success answer, byte for byte like miniupnpd's with envelope prefix `s`:
/// `AddPortMapping`'s response element is self-closing, the others are not.
pub(crate) fn response(prefix: &str, action: &str, service_type: &str, outputs: &[(&str, String)]) -> String {
    let mut body = format!(
        "<?xml version=\"1.0\"?>\r\n<{prefix}:Envelope xmlns:{prefix}=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         {prefix}:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><{prefix}:Body>",
    );
    let service_type = escape(service_type);
    if action == "AddPortMapping" && outputs.is_empty() {
        body.push_str(&format!("<u:{action}Response xmlns:u=\"{service_type}\"/>"));
    } else {
        body.push_str(&format!("<u:{action}Response xmlns:u=\"{service_type}\">"));
        for (name, value) in outputs {
            body.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        }
        body.push_str(&format!("</u:{action}Response>"));
    }
    body.push_str(&format!("</{prefix}:Body></{prefix}:Envelope>\r\n"));
    body
}

/// A UPnP error answer (sent with HTTP 500), byte for byte like miniupnpd's with
/// envelope prefix `s`.
pub(crate) fn fault(prefix: &str, code: u32, description: &str) -> String {
    format!(
        "<{prefix}:Envelope xmlns:{prefix}=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         {prefix}:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><{prefix}:Body><{prefix}:Fault>\
         <faultcode>{prefix}:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
         <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
         <errorDescription>{}</errorDescription></UPnPError></detail></{prefix}:Fault></{prefix}:Body></{prefix}:Envelope>",
        escape(description)
    )
}

/// The `SOAPAction` header's service type and action: `"urn:...:WANIPConnection:2#Add"`.
pub(crate) fn split_soap_action(header: &str) -> (String, String) {
    let value = header.trim().trim_matches('"').trim();
    match value.rsplit_once('#') {
        Some((service, action)) => (service.trim().to_string(), action.trim().to_string()),
        None => (String::new(), value.to_string()),
    }
}

fn escape(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_REQUEST: &str = "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:AddPortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\"><NewRemoteHost></NewRemoteHost><NewExternalPort>40000</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>40000</NewInternalPort><NewInternalClient>10.77.0.2</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>a &amp; b&#33;</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration></u:AddPortMapping></s:Body></s:Envelope>";

    #[test]
    fn requests_parse() {
        let r = parse_request(FIXTURE_REQUEST.as_bytes());
        assert_eq!(r.action.as_deref(), Some("AddPortMapping"));
        assert_eq!(r.namespace.as_deref(), Some("urn:schemas-upnp-org:service:WANIPConnection:2"));
        assert_eq!(r.args.len(), 8);
        assert_eq!(r.args[0], ("NewRemoteHost".to_string(), String::new()));
        assert_eq!(r.args[6], ("NewPortMappingDescription".to_string(), "a & b!".to_string()));
        // Self-closing arguments and garbage.
        let r = parse_request(b"<Envelope><Body><X xmlns=\"ns\"><A/><B> 1 </B></X></Body></Envelope>");
        assert_eq!(r.args, vec![("A".to_string(), String::new()), ("B".to_string(), "1".to_string())]);
        assert_eq!(parse_request(b"\xff not xml <<"), SoapRequest::default());
    }

    #[test]
    fn answers_match_the_fixtures() {
        let v2 = "urn:schemas-upnp-org:service:WANIPConnection:2";
        let entry = [
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", "40001".into()),
            ("NewProtocol", "UDP".into()),
            ("NewInternalPort", "40001".into()),
            ("NewInternalClient", "10.77.0.2".into()),
            ("NewEnabled", "1".into()),
            ("NewPortMappingDescription", "fixture-udp".into()),
            ("NewLeaseDuration", "3600".into()),
        ];
        let cases = [
            (
                include_str!("../data/fixtures/01-GetExternalIPAddress.response.xml"),
                response("s", "GetExternalIPAddress", v2, &[("NewExternalIPAddress", "11.22.33.44".into())]),
            ),
            (
                include_str!("../data/fixtures/02-GetStatusInfo.response.xml"),
                response(
                    "s",
                    "GetStatusInfo",
                    v2,
                    &[
                        ("NewConnectionStatus", "Connected".into()),
                        ("NewLastConnectionError", "ERROR_NONE".into()),
                        ("NewUptime", "13".into()),
                    ],
                ),
            ),
            (
                include_str!("../data/fixtures/08-AddPortMapping-ok.response.xml"),
                response("s", "AddPortMapping", v2, &[]),
            ),
            (
                include_str!("../data/fixtures/12-GetGenericPortMappingEntry-0.response.xml"),
                response("s", "GetGenericPortMappingEntry", v2, &entry),
            ),
            (
                include_str!("../data/fixtures/34-DeletePortMapping-missing.response.xml"),
                response("s", "DeletePortMapping", v2, &[]),
            ),
            (
                include_str!("../data/fixtures/14-conflict-other-client.response.xml"),
                fault("s", 718, "ConflictInMappingEntry"),
            ),
        ];
        for (expected, ours) in cases {
            assert_eq!(ours, expected);
        }
        assert_eq!(
            split_soap_action("\"urn:schemas-upnp-org:service:WANIPConnection:1#GetStatusInfo\""),
            ("urn:schemas-upnp-org:service:WANIPConnection:1".to_string(), "GetStatusInfo".to_string())
        );
    }
}
