//! HTTP exchanges with devices (ureq, plain HTTP only): every one has a connect deadline,
//! an overall deadline and a body size cap, and follows no redirects.

use crate::error::Error;
use crate::protocol::soap;
use crate::protocol::url::{HostRefused, HttpUrl};
use std::net::{IpAddr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport};

/// Largest description we read. Real ones are 2 to 20 KiB.
pub const DESCRIPTION_LIMIT: u64 = 512 * 1024;
/// Largest SOAP answer we read.
pub const SOAP_LIMIT: u64 = 256 * 1024;
/// Longest wait for a TCP connection, within the overall deadline.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(3);
/// A LAN device answers a SYN within milliseconds. An attempt with no answer after this
/// is abandoned for a fresh one (each next attempt waits twice as long) instead of
/// waiting for the kernel's 1 s SYN retransmission: with 30 % of the packets lost, one
/// lost SYN or SYN-ACK used to cost a whole discovery (80 of 100 found, tests/loss.sh).
const FIRST_CONNECT_WAIT: Duration = Duration::from_millis(250);

const USER_AGENT: &str = concat!("UPnP/1.1 godot-upnp/", env!("CARGO_PKG_VERSION"));

/// A complete answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body, at most the exchange's limit.
    pub body: Vec<u8>,
}

/// GETs `url`, finishing by `deadline` (hedged: see [`HEDGE_AFTER`]).
pub fn get(url: &HttpUrl, deadline: Instant, limit: u64) -> Result<Answer, Error> {
    let target = url.clone();
    bounded(url, deadline, true, move || {
        exchange(&target, deadline, limit, |agent| agent.get(target.request_uri()).call())
    })
}

/// POSTs a SOAP action to a control URL, finishing by `deadline`. A `read_only` action
/// (a query) is hedged (see [`HEDGE_AFTER`]); one that changes the router is sent once.
pub fn post_soap(
    url: &HttpUrl,
    service_type: &str,
    action: &str,
    body: String,
    deadline: Instant,
    read_only: bool,
) -> Result<Answer, Error> {
    let (target, soap_action) = (url.clone(), soap::soap_action_header(service_type, action));
    // Nothing was sent when a connection attempt is abandoned: retrying is safe.
    let attempt = move || {
        exchange(&target, deadline, SOAP_LIMIT, |agent| {
            agent
                .post(target.request_uri())
                .header("Content-Type", "text/xml; charset=\"utf-8\"")
                .header("SOAPAction", &soap_action)
                .send(body.as_str())
        })
    };
    bounded(url, deadline, read_only, attempt)
}

/// A request still unanswered after this gets a twin on a new connection, and the first
/// complete answer wins: a lost segment costs the device's retransmission timeout (1 s
/// on a new connection), a twin one more request. With 30 % loss, discovery found the
/// router in 94 of 100 runs without twins (tests/loss.sh).
const HEDGE_AFTER: Duration = Duration::from_millis(300);

/// Runs `attempt` on a thread of its own and, when `hedge`, a second one in parallel
/// when the first has no answer after [`HEDGE_AFTER`]; returns the first success, else
/// the last failure, by `deadline` (plus [`MIN_ATTEMPT`] for a last step).
///
/// The caller waits on a channel, not on a socket: a socket timeout of seconds fires
/// late, because Linux's timer wheel rounds it up (a 5 s action deadline ended up to
/// 250 ms late on the test machine, 500 ms is possible with HZ=1000), while a channel
/// wait uses a precise timer. An attempt still running when this returns ends on its
/// own shortly after `deadline`.
fn bounded(
    url: &HttpUrl,
    deadline: Instant,
    hedge: bool,
    attempt: impl Fn() -> Result<Answer, Error> + Send + Sync + 'static,
) -> Result<Answer, Error> {
    let attempt = std::sync::Arc::new(attempt);
    let (tx, rx) = crossbeam_channel::bounded(2);
    let spawn = |tx: crossbeam_channel::Sender<Result<Answer, Error>>| {
        let (job, job_tx) = (attempt.clone(), tx.clone());
        let spawned = std::thread::Builder::new().name("upnp-http".into()).spawn(move || {
            let _ = job_tx.send(job());
        });
        // No thread to be had: the attempt runs here (its own timeouts still bound it).
        if spawned.is_err() {
            let _ = tx.send(attempt());
        }
    };
    spawn(tx.clone());
    if hedge {
        let hedge_at = (Instant::now() + HEDGE_AFTER).min(deadline);
        match rx.recv_deadline(hedge_at) {
            Ok(answer) => return answer,
            Err(_) if Instant::now() + MIN_ATTEMPT < deadline => spawn(tx),
            Err(_) => drop(tx),
        }
    } else {
        drop(tx);
    }
    let mut last = None;
    // The attempts end by the deadline; the slack covers their last step.
    while let Ok(answer) = rx.recv_deadline(deadline + MIN_ATTEMPT) {
        match answer {
            Ok(answer) => return Ok(answer),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Timeout(format!("{url}: no complete answer in time"))))
}

/// One request, with fresh connection attempts while connecting times out (see
/// [`FIRST_CONNECT_WAIT`]), all within `deadline`. A URL with a host name fails at once.
fn exchange(
    url: &HttpUrl,
    deadline: Instant,
    limit: u64,
    send: impl Fn(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, Error> {
    if url.ip().is_none() {
        return Err(Error::Http(format!("{url}: {}", HostRefused::NotAnAddress)));
    }
    let mut connect_wait = FIRST_CONNECT_WAIT;
    loop {
        let response = send(&agent(url.scope(), deadline, connect_wait)?);
        match response {
            Err(ureq::Error::Timeout(ureq::Timeout::Connect)) if Instant::now() + MIN_ATTEMPT < deadline => {
                connect_wait = (connect_wait * 2).min(CONNECT_LIMIT);
            }
            response => return read(url, response, limit),
        }
    }
}

/// The local address this host uses to reach `peer` (on the interface with index `scope`,
/// for a link-local IPv6 peer; else 0), found by asking the kernel for a route (a
/// connected UDP socket; nothing is sent). It is the address a TCP connection to the
/// device gets, which is what the router must see as the mapping's client.
pub fn local_address_towards(peer: IpAddr, scope: u32) -> Result<IpAddr, Error> {
    let bind: SocketAddr = match peer {
        IpAddr::V4(_) => (IpAddr::from([0u8; 4]), 0).into(),
        IpAddr::V6(_) => (IpAddr::from([0u16; 8]), 0).into(),
    };
    let socket = UdpSocket::bind(bind).map_err(|e| Error::Socket(format!("cannot open a socket: {e}")))?;
    let to = with_scope(SocketAddr::new(peer, 9), scope);
    socket.connect(to).map_err(|e| Error::Socket(format!("no route to {peer}: {e}")))?;
    socket.local_addr().map(|a| a.ip()).map_err(|e| Error::Socket(format!("cannot read the local address: {e}")))
}

/// `address` with the IPv6 scope `scope` (IPv4: unchanged).
fn with_scope(address: SocketAddr, scope: u32) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => SocketAddrV6::new(*v6.ip(), v6.port(), 0, scope).into(),
        v4 => v4,
    }
}

/// Largest answer head accepted, and the size of each connection's buffers (bodies
/// stream through them).
const HEAD_BUFFER: usize = 16 * 1024;

/// Too little time left for another connection attempt to be worth it.
const MIN_ATTEMPT: Duration = Duration::from_millis(20);

/// An agent for one request; `scope` is the interface of a link-local host (see [`LiteralOnly`]).
fn agent(scope: u32, deadline: Instant, connect_wait: Duration) -> Result<ureq::Agent, Error> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(Error::Timeout("out of time before the request could start".into()));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(remaining))
        .timeout_connect(Some(remaining.min(connect_wait)))
        .max_redirects(0)
        .http_status_as_error(false)
        .max_response_header_size(HEAD_BUFFER)
        // ureq's 128 KiB defaults are zeroed for every agent, i.e. every request here.
        .input_buffer_size(HEAD_BUFFER)
        .output_buffer_size(HEAD_BUFFER)
        .max_idle_connections(0)
        .user_agent(USER_AGENT)
        .build();
    Ok(ureq::Agent::with_parts(config, DefaultConnector::new().chain(SpelledHeaders), LiteralOnly { scope }))
}

/// Header names as routers expect them. ureq writes every header name in lower case
/// (`soapaction`), which HTTP allows, but some routers match `SOAPAction` literally:
/// Linksys WRT120N answers `Soapaction` with HTTP 501 (syncthing/syncthing#1696), and
/// miniupnpc, which every router is tested with, sends `SOAPAction`.
const SPELLED_HEADERS: [&[u8]; 1] = [b"SOAPAction:"];

/// Wraps each connection so that the request head spells [`SPELLED_HEADERS`] exactly.
#[derive(Debug)]
struct SpelledHeaders;

impl Connector<Box<dyn Transport>> for SpelledHeaders {
    type Out = SpelledTransport;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| SpelledTransport { inner, head_sent: false }))
    }
}

/// A connection whose request head has its header names respelled before it is sent.
#[derive(Debug)]
struct SpelledTransport {
    inner: Box<dyn Transport>,
    /// The head's blank line went out: the rest is body, left alone.
    head_sent: bool,
}

impl Transport for SpelledTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if !self.head_sent {
            let output = &mut self.inner.buffers().output()[..amount];
            let head_end = output.windows(4).position(|w| w == b"\r\n\r\n");
            respell_headers(&mut output[..head_end.unwrap_or(amount)]);
            self.head_sent = head_end.is_some();
        }
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }
}

/// Rewrites, in place, each header name of `head` that is one of [`SPELLED_HEADERS`] in
/// another case (same length, so nothing moves).
fn respell_headers(head: &mut [u8]) {
    let mut line_start = 0;
    while line_start < head.len() {
        let line_end = head[line_start..].iter().position(|&b| b == b'\n').map_or(head.len(), |i| line_start + i + 1);
        let line = &mut head[line_start..line_end];
        for spelled in SPELLED_HEADERS {
            if line.len() >= spelled.len() && line[..spelled.len()].eq_ignore_ascii_case(spelled) {
                line[..spelled.len()].copy_from_slice(spelled);
            }
        }
        line_start = line_end;
    }
}

/// Takes the IP literal of the URL as it is, and resolves no names: a lookup would not
/// keep to our deadlines, and device URLs are IP literals (see the URL policy in
/// [`crate::protocol::url`]; [`exchange`] refuses the others before this). ureq's own
/// resolver would also run every lookup on a thread of its own when a timeout is set, IP
/// literals included: about 5 ms per request on the test bed. (`Resolver` is in ureq's
/// `unversioned` API.) The request URI carries no zone ([`HttpUrl::request_uri`]): a
/// link-local IPv6 host gets the URL's scope here.
#[derive(Debug, Default)]
struct LiteralOnly {
    scope: u32,
}

impl Resolver for LiteralOnly {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let authority = uri.authority().ok_or(ureq::Error::HostNotFound)?;
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = host.parse().map_err(|_| ureq::Error::HostNotFound)?;
        let mut addresses = self.empty();
        addresses.push(with_scope(SocketAddr::new(ip, authority.port_u16().unwrap_or(80)), self.scope));
        Ok(addresses)
    }
}

fn read(
    url: &HttpUrl,
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    limit: u64,
) -> Result<Answer, Error> {
    let mut response = response.map_err(|e| describe(url, e))?;
    let status = response.status().as_u16();
    let body = response.body_mut().with_config().limit(limit).read_to_vec().map_err(|e| describe(url, e))?;
    Ok(Answer { status, body })
}

fn describe(url: &HttpUrl, e: ureq::Error) -> Error {
    match e {
        ureq::Error::BodyExceedsLimit(limit) => {
            Error::InvalidResponse(format!("{url}: answer larger than {limit} bytes"))
        }
        ureq::Error::Timeout(_) => Error::Timeout(format!("{url}: no complete answer in time")),
        ureq::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
            Error::Timeout(format!("{url}: no complete answer in time"))
        }
        ureq::Error::Io(io) => Error::Http(format!("{url}: {}", io_text(&io))),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => Error::Http(format!("{url}: cannot connect")),
        other => Error::Http(format!("{url}: {other}")),
    }
}

fn io_text(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        ConnectionAborted => "connection aborted".into(),
        UnexpectedEof => "connection closed before the answer was complete".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    #[test]
    fn soapaction_is_spelled_so_in_the_head_only() {
        let mut head = b"POST /ctl HTTP/1.1\r\nhost: a\r\nsoapaction: \"x#y\"\r\nx-soapaction: z\r\n".to_vec();
        respell_headers(&mut head);
        assert_eq!(head, b"POST /ctl HTTP/1.1\r\nhost: a\r\nSOAPAction: \"x#y\"\r\nx-soapaction: z\r\n");
    }

    /// Found by the hostile-devices matrix: an `AddPortMapping` to a router that reads the
    /// request and never answers returned up to 250 ms after the engine's 5 s deadline
    /// (changes were sent on the caller's thread and bounded by a socket timeout, which
    /// Linux's timer wheel rounds up). Four stalled calls with 3 s deadlines, so that at
    /// least one would be late by the rounding (granularity 256 ms at HZ=250).
    #[test]
    fn a_stalled_change_returns_by_its_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and reads, never answers; holds every connection until the test ends.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
                let _ = stream.read(&mut [0u8; 4096]);
                held.push(stream);
            }
        });
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/ctl")).unwrap();
        let calls: Vec<_> = (0..4u64)
            .map(|i| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_millis(3000 + 37 * i);
                    let body = soap::build_request("urn:x", "AddPortMapping", &[]);
                    let result = post_soap(&url, "urn:x", "AddPortMapping", body, deadline, false);
                    (Instant::now().saturating_duration_since(deadline), result)
                })
            })
            .collect();
        for call in calls {
            let (late, result) = call.join().unwrap();
            let e = result.unwrap_err();
            assert_eq!(e, Error::Timeout(format!("{url}: no complete answer in time")));
            assert!(late <= Duration::from_millis(100), "returned {} ms after its deadline", late.as_millis());
        }
    }
}
