//! The firewall client against a router whose IPv6 firewall is off or closed to
//! pinholes: answers miniupnpd sends then (its `CheckStatus`: 702 FirewallDisabled, 703
//! InboundPinholeNotAllowed; `GetFirewallStatus` 0/0), served on loopback, since
//! miniupnpd 2.3.1 has no option that sets either state (its flags are never set), so
//! the bed's router cannot be switched into it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};
use upnp_core::protocol::pinhole::{FirewallStatus, check_pinhole};
use upnp_core::{Firewall, UpnpResult};

const SERVICE: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";

/// Serves `answers` (status, body), one connection each, in order, on 127.0.0.1.
fn router(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind on loopback");
    let url = format!("http://{}/ctl/IP6FCtl", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        for (status, body) in answers {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // The whole request: its head, then Content-Length bytes.
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if rest.len() >= length {
                        break;
                    }
                }
            }
            let reason = if status == 200 { "OK" } else { "Internal Server Error" };
            let answer = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(answer.as_bytes()).expect("answer");
        }
    });
    (url, server)
}

fn fault(code: u32, description: &str) -> (u16, String) {
    (
        500,
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>\
             <faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError \
             xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode><errorDescription>{description}\
             </errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"
        ),
    )
}

#[test]
fn a_disabled_firewall_gives_its_code_and_text() {
    let status = format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
         <u:GetFirewallStatusResponse xmlns:u=\"{SERVICE}\"><FirewallEnabled>0</FirewallEnabled>\
         <InboundPinholeAllowed>0</InboundPinholeAllowed></u:GetFirewallStatusResponse></s:Body></s:Envelope>"
    );
    let (url, server) =
        router(vec![(200, status), fault(702, "FirewallDisabled"), fault(703, "InboundPinholeNotAllowed")]);
    let firewall = Firewall::new(&url, SERVICE, IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
    let deadline = || Instant::now() + Duration::from_secs(3);
    let seen = firewall.status(deadline()).unwrap();
    assert_eq!(seen, FirewallStatus { enabled: false, inbound_pinhole_allowed: false });
    assert!(seen.text().contains("without a pinhole"));

    let hole = check_pinhole("", 0, "fd77::2", 7777, "UDP").unwrap();
    let off = firewall.add_pinhole(&hole, 3600, deadline()).unwrap_err();
    assert_eq!((off.result(), off.upnp_code()), (UpnpResult::ActionFailed, Some(702)));
    assert_eq!(off.to_string(), "AddPinhole refused by the router: UPnP error 702 (FirewallDisabled)");
    assert!(off.hint().unwrap().contains("no pinhole is needed"), "{:?}", off.hint());

    let closed = firewall.add_pinhole(&hole, 3600, deadline()).unwrap_err();
    assert_eq!((closed.result(), closed.upnp_code()), (UpnpResult::ActionFailed, Some(703)));
    assert_eq!(closed.to_string(), "AddPinhole refused by the router: UPnP error 703 (InboundPinholeNotAllowed)");
    assert!(closed.hint().unwrap().contains("allow them in the router's settings"));
    server.join().unwrap();
}
