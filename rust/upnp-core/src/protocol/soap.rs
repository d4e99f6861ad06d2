//! SOAP control messages: the request envelope and the reading of an answer, including
//! UPnP error faults.

use super::xml::{self, Visit};

/// The `SOAPAction` header value for an action of a service.
pub fn soap_action_header(service_type: &str, action: &str) -> String {
    format!("\"{service_type}#{action}\"")
}

/// A request body. Argument values are XML-escaped (miniupnpc sends them verbatim, so a
/// description containing `<` breaks its requests).
pub fn build_request(service_type: &str, action: &str, args: &[(&str, String)]) -> String {
    let mut body = String::with_capacity(400 + args.len() * 48);
    body.push_str(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>",
    );
    body.push_str(&format!("<u:{action} xmlns:u=\"{}\">", xml::escape(service_type)));
    for (name, value) in args {
        body.push_str(&format!("<{name}>{}</{name}>", xml::escape(value)));
    }
    body.push_str(&format!("</u:{action}></s:Body></s:Envelope>\r\n"));
    body
}

/// The output arguments of a successful action, in document order.
pub type Outputs = Vec<(String, String)>;

/// How an answer failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoapError {
    /// The device returned a UPnP error (`errorCode`, `errorDescription`).
    Fault {
        /// The UPnP error code, e.g. 718.
        code: u32,
        /// The device's text for it.
        description: String,
    },
    /// No body at all.
    Empty,
    /// An HTTP error status without a UPnP fault.
    Status(u16),
    /// A success status, but the body is not this action's response.
    Unexpected(String),
}

impl std::fmt::Display for SoapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SoapError::Fault { code, description } => write!(f, "UPnP error {code} {description}"),
            SoapError::Empty => f.write_str("empty answer"),
            SoapError::Status(s) => write!(f, "HTTP status {s}"),
            SoapError::Unexpected(why) => write!(f, "unexpected answer ({why})"),
        }
    }
}

/// Reads the answer to `action`: its outputs on success, the UPnP fault if there is
/// one, otherwise why the answer is unusable.
pub fn parse_response(action: &str, http_status: u16, body: &[u8]) -> Result<Outputs, SoapError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(if (200..300).contains(&http_status) { SoapError::Empty } else { SoapError::Status(http_status) });
    }
    let doc = String::from_utf8_lossy(body);
    let response_name = format!("{action}Response");
    let mut outputs = Outputs::new();
    let mut found_response = false;
    let (mut error_code, mut error_description) = (None, String::new());

    let walked = xml::walk(&doc, |stack, visit| {
        let depth = stack.len();
        let name = stack[depth - 1].as_str();
        match visit {
            Visit::Open if name == response_name => found_response = true,
            Visit::Close(text) => {
                let parent = depth.checked_sub(2).map(|i| stack[i].as_str());
                if parent == Some(response_name.as_str()) {
                    outputs.push((name.to_string(), text.to_string()));
                } else if name == "errorCode" && stack.iter().any(|s| s == "Fault") {
                    error_code = Some(text.to_string());
                } else if name == "errorDescription" && stack.iter().any(|s| s == "Fault") {
                    error_description = text.to_string();
                }
            }
            Visit::Open => {}
        }
    });

    if let Some(code) = error_code {
        return match code.trim().parse::<u32>() {
            Ok(code) => Err(SoapError::Fault { code, description: error_description }),
            Err(_) => Err(SoapError::Unexpected(format!("non-numeric errorCode {}", super::quoted(&code)))),
        };
    }
    if !(200..300).contains(&http_status) {
        return Err(SoapError::Status(http_status));
    }
    walked.map_err(|e| SoapError::Unexpected(e.to_string()))?;
    if !found_response {
        return Err(SoapError::Unexpected(format!("no <{response_name}>")));
    }
    Ok(outputs)
}

/// The value of one output argument.
pub fn output<'a>(outputs: &'a Outputs, name: &str) -> Option<&'a str> {
    outputs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_matches_miniupnpc_shape_and_escapes() {
        let body = build_request(
            "urn:schemas-upnp-org:service:WANIPConnection:2",
            "DeletePortMapping",
            &[("NewRemoteHost", String::new()), ("NewExternalPort", "7777".into()), ("NewProtocol", "UDP".into())],
        );
        assert!(body.contains(
            "<u:DeletePortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\">\
             <NewRemoteHost></NewRemoteHost><NewExternalPort>7777</NewExternalPort><NewProtocol>UDP</NewProtocol>\
             </u:DeletePortMapping>"
        ));
        let escaped = build_request("s", "A", &[("D", "<b>&\"'".into())]);
        assert!(escaped.contains("<D>&lt;b&gt;&amp;&quot;&apos;</D>"));
        assert_eq!(soap_action_header("urn:x:1", "GetStatusInfo"), "\"urn:x:1#GetStatusInfo\"");
    }

    #[test]
    fn faults_and_odd_answers() {
        let fault = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"#;
        assert_eq!(
            parse_response("AddPortMapping", 500, fault),
            Err(SoapError::Fault { code: 718, description: "ConflictInMappingEntry".into() })
        );
        // a fault is a fault whatever the status says
        assert!(matches!(parse_response("AddPortMapping", 200, fault), Err(SoapError::Fault { code: 718, .. })));
        assert_eq!(parse_response("X", 200, b""), Err(SoapError::Empty));
        assert_eq!(parse_response("X", 404, b"<html>nope</html>"), Err(SoapError::Status(404)));
        assert_eq!(parse_response("X", 500, b"garbage <<<"), Err(SoapError::Status(500)));
        assert!(matches!(parse_response("X", 200, b"<html>hello</html>"), Err(SoapError::Unexpected(_))));
        assert!(matches!(parse_response("X", 200, b"not xml <"), Err(SoapError::Unexpected(_))));
        let odd_code = b"<Envelope><Body><Fault><detail><errorCode>abc</errorCode></detail></Fault></Body></Envelope>";
        assert!(matches!(parse_response("X", 500, odd_code), Err(SoapError::Unexpected(_))));
    }

    #[test]
    fn outputs_in_order() {
        let ok = br#"<?xml version="1.0"?><s:Envelope xmlns:s="x"><s:Body><u:GetStatusInfoResponse xmlns:u="y"><NewConnectionStatus>Connected</NewConnectionStatus><NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime>13</NewUptime></u:GetStatusInfoResponse></s:Body></s:Envelope>"#;
        let out = parse_response("GetStatusInfo", 200, ok).unwrap();
        assert_eq!(output(&out, "NewConnectionStatus"), Some("Connected"));
        assert_eq!(output(&out, "NewUptime"), Some("13"));
        assert_eq!(out.len(), 3);
        let empty = br#"<s:Envelope xmlns:s="x"><s:Body><u:AddPortMappingResponse xmlns:u="y"/></s:Body></s:Envelope>"#;
        assert_eq!(parse_response("AddPortMapping", 200, empty), Ok(vec![]));
    }
}
