//! Each device's HTTP server: one accepting thread, one thread per connection, every
//! blocking call bounded by [`SLICE`] so that stop is prompt.

use crate::soap;
use crate::spec::{HttpBehavior, SoapFault};
use crate::{Device, RecordedRequest, SLICE, Shared, lock};
use socket2::{Domain, SockRef, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Largest request head (request line and headers) read; larger gets 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body read; larger gets 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest a client may take to send its request.
const REQUEST_TIME: Duration = Duration::from_secs(10);
/// Most connections served at once per simulator; more are closed at once.
const MAX_CONNECTIONS: usize = 1024;
/// The `Server` header, miniupnpd's with our name.
const SERVER: &str = "Linux UPnP/1.1 MiniUPnPd/2.3.1 igd-sim/1";
/// What [`HttpBehavior::Huge`] bodies begin with.
const HUGE_PREFIX: &[u8] = b"<?xml version=\"1.0\"?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\">";
/// The rest of a huge body, written again and again.
static SPACES: [u8; 64 * 1024] = [b' '; 64 * 1024];

/// A listening socket whose `accept` times out every [`SLICE`] (Linux honours
/// `SO_RCVTIMEO` on listeners; the stop also wakes it with a connection).
pub(crate) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // On unix SO_REUSEADDR only lets a restarted simulator rebind past TIME_WAIT; on
    // Windows it would let this socket take a port another socket is listening on.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    socket.set_read_timeout(Some(SLICE))?;
    Ok(socket.into())
}

/// Accepts until the simulator stops.
pub(crate) fn accept_loop(listener: TcpListener, device: Arc<Device>, shared: Arc<Shared>) {
    while !shared.stopped() {
        match listener.accept() {
            Ok((stream, peer)) => {
                if shared.stopped() {
                    break;
                }
                let mut connections = lock(&shared.connections);
                connections.retain(|h| !h.is_finished());
                if connections.len() >= MAX_CONNECTIONS {
                    continue;
                }
                let (device, conn_shared) = (Arc::clone(&device), Arc::clone(&shared));
                let spawned = thread::Builder::new()
                    .name(format!("igd-sim-conn-{}", device.index))
                    .spawn(move || serve(stream, peer, &device, &conn_shared));
                if let Ok(handle) = spawned {
                    connections.push(handle);
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::ConnectionAborted => {}
            // Out of descriptors and the like: wait a little, keep honouring stop.
            Err(_) => {
                shared.sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

enum ReadError {
    /// The head is over [`MAX_HEAD`].
    HeadTooLarge,
    /// The body is over [`MAX_BODY`].
    BodyTooLarge,
    /// Not an HTTP request, or a body we can't delimit.
    Malformed(&'static str),
    /// Closed, timed out, failed, or the simulator stopped: just close.
    Gone,
}

/// One connection, its writes bounded by the stop flag.
struct Conn<'a> {
    stream: TcpStream,
    shared: &'a Shared,
}

impl Conn<'_> {
    /// Writes everything, unless the peer goes away or the simulator stops.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.shared.stopped() {
                return Err(io::Error::other("the simulator stopped"));
            }
            match self.stream.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends the answer: FIN after the last byte.
    fn finish(mut self) {
        let _ = self.stream.flush();
        let _ = self.stream.shutdown(Shutdown::Write);
        // Give the peer a moment to read and close first, so the close never turns into
        // a reset over bytes it sent late; bounded, and cut short by stop.
        let mut stream = self.stream;
        let end = Instant::now() + Duration::from_millis(200);
        let mut sink = [0u8; 1024];
        while Instant::now() < end && !self.shared.stopped() {
            match stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
    }

    /// Closes with a TCP reset (RST).
    fn reset(self) {
        let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        drop(self.stream);
    }

    /// Holds the connection without a word until the simulator stops.
    fn hold(self) {
        while self.shared.sleep(SLICE) {}
    }

    fn read_request(&mut self) -> Result<Request, ReadError> {
        let start = Instant::now();
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD {
                return Err(ReadError::HeadTooLarge);
            }
            self.read_some(&mut buf, &mut chunk, start)?;
        };
        if head_end.0 > MAX_HEAD {
            return Err(ReadError::HeadTooLarge);
        }
        let head = String::from_utf8_lossy(&buf[..head_end.0]).into_owned();
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let mut first = lines.next().unwrap_or("").split(' ').filter(|w| !w.is_empty());
        let (Some(method), Some(path), Some(version)) = (first.next(), first.next(), first.next()) else {
            return Err(ReadError::Malformed("bad request line"));
        };
        if !version.starts_with("HTTP/") || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            return Err(ReadError::Malformed("bad request line"));
        }
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(ReadError::Malformed("bad header line"));
            };
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut request = Request { method: method.to_string(), path: path.to_string(), headers, body: Vec::new() };
        if request.header("Transfer-Encoding").is_some() {
            return Err(ReadError::Malformed("request bodies must have a Content-Length"));
        }
        let mut lengths = request.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"));
        let length = match lengths.next() {
            None => 0,
            Some((_, v)) => {
                let length: usize = v.parse().map_err(|_| ReadError::Malformed("bad Content-Length"))?;
                if lengths.any(|(_, other)| other != v) {
                    return Err(ReadError::Malformed("conflicting Content-Length"));
                }
                length
            }
        };
        if length > MAX_BODY {
            return Err(ReadError::BodyTooLarge);
        }
        let body_start = head_end.1;
        while buf.len() < body_start + length {
            self.read_some(&mut buf, &mut chunk, start)?;
        }
        request.body = buf[body_start..body_start + length].to_vec();
        Ok(request)
    }

    fn read_some(&mut self, buf: &mut Vec<u8>, chunk: &mut [u8], start: Instant) -> Result<(), ReadError> {
        loop {
            if self.shared.stopped() || start.elapsed() > REQUEST_TIME {
                return Err(ReadError::Gone);
            }
            match self.stream.read(chunk) {
                Ok(0) => return Err(ReadError::Gone),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(ReadError::Gone),
            }
        }
    }
}

/// Where the head ends: (end of the head without the blank line, start of the body).
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    for i in 0..buf.len() {
        if buf[i..].starts_with(b"\r\n\r\n") {
            return Some((i, i + 4));
        }
        if buf[i..].starts_with(b"\n\n") {
            return Some((i, i + 2));
        }
    }
    None
}

fn serve(stream: TcpStream, peer: SocketAddr, device: &Device, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(SLICE));
    let _ = stream.set_write_timeout(Some(SLICE));
    let _ = stream.set_nodelay(true);
    let mut conn = Conn { stream, shared };
    let request = match conn.read_request() {
        Ok(r) => r,
        Err(ReadError::Gone) => return,
        Err(ReadError::HeadTooLarge) => return simple(conn, 431, b""),
        Err(ReadError::BodyTooLarge) => return simple(conn, 413, b""),
        Err(ReadError::Malformed(why)) => return simple(conn, 400, why.as_bytes()),
    };
    let is_post = request.method.eq_ignore_ascii_case("POST");
    let soap_action = request.header("SOAPAction").map(soap::split_soap_action);
    shared.record(RecordedRequest {
        device: Some(device.index),
        method: request.method.clone(),
        path: request.path.clone(),
        headers: request.headers.clone(),
        action: soap_action.as_ref().filter(|_| is_post).map(|(_, action)| action.clone()),
        body: request.body.clone(),
        peer,
        arrival: None,
        at: Instant::now(),
    });
    if device.http == HttpBehavior::Stall {
        return conn.hold();
    }
    if is_post {
        control(conn, &request, soap_action, peer, device);
    } else {
        describe(conn, &device.http);
    }
}

/// Answers a GET (or any non-POST) by the device's HTTP behaviour.
fn describe(mut conn: Conn<'_>, behavior: &HttpBehavior) {
    let done = match behavior {
        HttpBehavior::Serve(content) => {
            let body = content.bytes();
            conn.send(&xml_head(200, Some(body.len() as u64))).and_then(|_| conn.send(&body))
        }
        HttpBehavior::Status { code, body } => return simple(conn, *code, body),
        HttpBehavior::Redirect { code, location } => {
            let head = head(*code, &[("Location", location), ("Content-Length", "0"), ("Connection", "close")]);
            conn.send(&head)
        }
        HttpBehavior::Chunked { content, chunk_size } => {
            let body = content.bytes();
            let head = head(
                200,
                &[
                    ("Content-Type", "text/xml; charset=\"utf-8\""),
                    ("Connection", "close"),
                    ("Transfer-Encoding", "chunked"),
                    ("Server", SERVER),
                ],
            );
            let mut result = conn.send(&head);
            for chunk in body.chunks((*chunk_size).max(1)) {
                if result.is_err() {
                    break;
                }
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(chunk);
                framed.extend_from_slice(b"\r\n");
                result = conn.send(&framed);
            }
            result.and_then(|_| conn.send(b"0\r\n\r\n"))
        }
        HttpBehavior::Trickle { content, bytes_per_second } => {
            let body = content.bytes();
            conn.send(&xml_head(200, Some(body.len() as u64)))
                .and_then(|_| trickle(&mut conn, &body, *bytes_per_second))
        }
        HttpBehavior::Huge { bytes, content_length } => {
            conn.send(&xml_head(200, content_length.then_some(*bytes))).and_then(|_| huge(&mut conn, *bytes))
        }
        HttpBehavior::ResetMidBody { content, after } => {
            let body = content.bytes();
            let sent = conn
                .send(&xml_head(200, Some(body.len() as u64)))
                .and_then(|_| conn.send(&body[..(*after).min(body.len())]));
            if sent.is_ok() {
                // Let the partial body reach the peer before the reset.
                let _ = conn.stream.flush();
                conn.shared.sleep(Duration::from_millis(20));
            }
            return conn.reset();
        }
        HttpBehavior::Raw(bytes) => conn.send(bytes),
        // Handled before (or no server runs at all).
        HttpBehavior::Stall | HttpBehavior::PortClosed => return conn.hold(),
    };
    if done.is_ok() {
        conn.finish();
    }
}

/// Sends `body` at `rate` bytes per second.
fn trickle(conn: &mut Conn<'_>, body: &[u8], rate: u32) -> io::Result<()> {
    let rate = f64::from(rate.max(1));
    let start = Instant::now();
    let mut sent = 0;
    while sent < body.len() {
        let due = ((start.elapsed().as_secs_f64() * rate) as usize).min(body.len());
        if due > sent {
            conn.send(&body[sent..due])?;
            sent = due;
            continue;
        }
        let next_at = start + Duration::from_secs_f64((sent + 1) as f64 / rate);
        if !conn.shared.sleep(next_at.saturating_duration_since(Instant::now()).min(Duration::from_millis(10))) {
            return Err(io::Error::other("the simulator stopped"));
        }
    }
    Ok(())
}

/// Streams a body of `total` bytes from small buffers.
fn huge(conn: &mut Conn<'_>, total: u64) -> io::Result<()> {
    let prefix = &HUGE_PREFIX[..(HUGE_PREFIX.len() as u64).min(total) as usize];
    conn.send(prefix)?;
    let mut left = total - prefix.len() as u64;
    while left > 0 {
        let n = (SPACES.len() as u64).min(left) as usize;
        conn.send(&SPACES[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Answers a POST: the SOAP emulation, with faults.
fn control(
    mut conn: Conn<'_>,
    request: &Request,
    soap_action: Option<(String, String)>,
    peer: SocketAddr,
    device: &Device,
) {
    let Some((service, action)) = soap_action else {
        // miniupnpd's answer to a POST without SOAPAction.
        let body = b"<html><body>Bad request</body></html>";
        let head = head(
            400,
            &[
                ("Content-Type", "text/html"),
                ("Connection", "close"),
                ("Content-Length", &body.len().to_string()),
                ("Server", SERVER),
                ("Ext", ""),
            ],
        );
        if conn.send(&head).and_then(|_| conn.send(body)).is_ok() {
            conn.finish();
        }
        return;
    };
    let fault = lock(&device.igd).take_fault(&action);
    match fault {
        None => {}
        Some(SoapFault::Upnp { code, description }) => {
            let prefix = lock(&device.igd).spec.envelope_prefix.clone();
            return xml(conn, 500, soap::fault(&prefix, code, &description).as_bytes());
        }
        Some(SoapFault::WrongBody(body)) => return xml(conn, 200, &body),
        Some(SoapFault::EmptyBody) => return xml(conn, 200, b""),
        Some(SoapFault::Stall) => return conn.hold(),
        Some(SoapFault::Reset) => return conn.reset(),
        Some(SoapFault::Status(code)) => return simple(conn, code, b""),
        Some(SoapFault::Delay(delay)) if !conn.shared.sleep(delay) => return,
        Some(SoapFault::Delay(_)) => {}
    }
    let parsed = soap::parse_request(&request.body);
    let service_type = if !service.is_empty() {
        service
    } else {
        parsed.namespace.clone().unwrap_or_else(|| lock(&device.igd).spec.service_type.clone())
    };
    let path = request.path.split('?').next().unwrap_or("");
    let (result, prefix) = {
        let mut igd = lock(&device.igd);
        (igd.call(&action, &parsed.args, peer.ip(), path), igd.spec.envelope_prefix.clone())
    };
    match result {
        Ok(outputs) => xml(conn, 200, soap::response(&prefix, &action, &service_type, &outputs).as_bytes()),
        Err((code, description)) => xml(conn, 500, soap::fault(&prefix, code, description).as_bytes()),
    }
}

/// A complete `text/xml` answer.
fn xml(mut conn: Conn<'_>, code: u16, body: &[u8]) {
    if conn.send(&xml_head(code, Some(body.len() as u64))).and_then(|_| conn.send(body)).is_ok() {
        conn.finish();
    }
}

/// A complete `text/html` answer (errors).
fn simple(mut conn: Conn<'_>, code: u16, body: &[u8]) {
    let length = body.len().to_string();
    let head = head(
        code,
        &[("Content-Type", "text/html"), ("Connection", "close"), ("Content-Length", &length), ("Server", SERVER)],
    );
    if conn.send(&head).and_then(|_| conn.send(body)).is_ok() {
        conn.finish();
    }
}

/// miniupnpd's headers for XML, in its order.
fn xml_head(code: u16, length: Option<u64>) -> Vec<u8> {
    let length = length.map(|l| l.to_string());
    let mut headers = vec![("Content-Type", "text/xml; charset=\"utf-8\""), ("Connection", "close")];
    if let Some(length) = &length {
        headers.push(("Content-Length", length));
    }
    headers.push(("Server", SERVER));
    headers.push(("Ext", ""));
    head(code, &headers)
}

fn head(code: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {code} {}\r\n", reason(code));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
