//! Plain-socket clients for the simulator tests. Everything talks to 127.0.0.1 only.
#![allow(dead_code)]

use igd_sim::{DeviceSpec, SimConfig, Simulator};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// How long a connection to a closed loopback port may take to be refused: at once on
/// Linux, about 2 s on Windows (it retries the SYN before it believes the RST).
pub const REFUSAL_WAIT: Duration = Duration::from_secs(5);

/// Starts a simulator on 127.0.0.1 (unicast SSDP) with these devices.
pub fn start(devices: Vec<DeviceSpec>) -> Simulator {
    Simulator::start(SimConfig::unicast_local(devices)).expect("the simulator starts")
}

/// A searching socket on 127.0.0.1 with a roomy receive buffer.
pub fn search_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
    socket
}

/// An M-SEARCH for `st`, as miniupnpc writes it.
pub fn msearch(st: &str) -> Vec<u8> {
    format!("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: {st}\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n\r\n")
        .into_bytes()
}

/// Sends one M-SEARCH for `st` to the simulator and collects every datagram that
/// arrives within `wait`.
pub fn search(sim: &Simulator, st: &str, wait: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
    let socket = search_socket();
    socket.send_to(&msearch(st), sim.ssdp_addr()).unwrap();
    collect(&socket, wait)
}

/// Every datagram arriving on `socket` within `wait`.
pub fn collect(socket: &UdpSocket, wait: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
    let end = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => got.push((buf[..n].to_vec(), from)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return got,
            Err(e) => panic!("receive failed: {e}"),
        }
    }
}

/// A header of an SSDP answer or HTTP head (case-insensitive name), trimmed.
pub fn header(text: &str, name: &str) -> Option<String> {
    text.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

/// `http://ip:port/path` → (address, path).
pub fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    (host.parse().expect("an ip:port host"), if path.is_empty() { "/".into() } else { path.to_string() })
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.head, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects with short timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
}

/// Sends `request` to `addr` and reads the whole answer until the server closes.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Answer> {
    let mut stream = connect(addr);
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(parse_answer(&raw))
}

/// Splits a raw answer into status, head and body (the body as sent, not de-chunked).
pub fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split + 2]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    Answer { status, head, body: raw[split + 4..].to_vec() }
}

/// GETs `url`.
pub fn get(url: &str) -> io::Result<Answer> {
    let (addr, path) = split_url(url);
    exchange(addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
}

/// The SOAP request bytes for `action` with `args`, as miniupnpc builds them.
pub fn soap_request(url: &str, service_type: &str, action: &str, args: &[(&str, &str)]) -> Vec<u8> {
    let (addr, path) = split_url(url);
    let mut body = format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:{action} xmlns:u=\"{service_type}\">"
    );
    for (name, value) in args {
        body.push_str(&format!("<{name}>{value}</{name}>"));
    }
    body.push_str(&format!("</u:{action}></s:Body></s:Envelope>\r\n"));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
         SOAPAction: \"{service_type}#{action}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

/// POSTs a SOAP action for the IGDv2 service to `url`.
pub fn soap(url: &str, action: &str, args: &[(&str, &str)]) -> Answer {
    soap_as(url, "urn:schemas-upnp-org:service:WANIPConnection:2", action, args)
}

/// POSTs a SOAP action for `service_type` to `url`.
pub fn soap_as(url: &str, service_type: &str, action: &str, args: &[(&str, &str)]) -> Answer {
    let (addr, _) = split_url(url);
    exchange(addr, &soap_request(url, service_type, action, args)).expect("a SOAP answer")
}

/// The text of the first `<name>` element in `xml`.
pub fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_string())
}

/// `AddPortMapping`'s arguments.
pub fn mapping_args<'a>(port: &'a str, protocol: &'a str, client: &'a str, lease: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("NewRemoteHost", ""),
        ("NewExternalPort", port),
        ("NewProtocol", protocol),
        ("NewInternalPort", port),
        ("NewInternalClient", client),
        ("NewEnabled", "1"),
        ("NewPortMappingDescription", "test"),
        ("NewLeaseDuration", lease),
    ]
}
