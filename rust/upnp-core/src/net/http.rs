//! HTTP exchanges with devices (ureq, plain HTTP only): every one has a connect deadline,
//! an overall deadline and a body size cap, and follows no redirects.

use crate::error::Error;
use crate::protocol::soap;
use crate::protocol::url::HttpUrl;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// Largest description we read. Real ones are 2 to 20 KiB.
pub const DESCRIPTION_LIMIT: u64 = 512 * 1024;
/// Largest SOAP answer we read.
pub const SOAP_LIMIT: u64 = 256 * 1024;
/// Longest wait for a TCP connection, within the overall deadline.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(3);

const USER_AGENT: &str = concat!("UPnP/1.1 godot-upnp/", env!("CARGO_PKG_VERSION"));

/// A complete answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body, at most the exchange's limit.
    pub body: Vec<u8>,
}

/// GETs `url`, finishing by `deadline`.
pub fn get(url: &HttpUrl, deadline: Instant, limit: u64) -> Result<Answer, Error> {
    let agent = agent(deadline)?;
    let response = agent.get(url.to_string()).call();
    read(url, response, limit)
}

/// POSTs a SOAP action to a control URL, finishing by `deadline`.
pub fn post_soap(
    url: &HttpUrl,
    service_type: &str,
    action: &str,
    body: String,
    deadline: Instant,
) -> Result<Answer, Error> {
    let agent = agent(deadline)?;
    let response = agent
        .post(url.to_string())
        .header("Content-Type", "text/xml; charset=\"utf-8\"")
        .header("SOAPAction", soap::soap_action_header(service_type, action))
        .send(body);
    read(url, response, SOAP_LIMIT)
}

/// The local address this host uses to reach `peer`, found by asking the kernel for a
/// route (a connected UDP socket; nothing is sent). It is the address a TCP connection
/// to the device gets, which is what the router must see as the mapping's client.
pub fn local_address_towards(peer: IpAddr) -> Result<IpAddr, Error> {
    let bind: SocketAddr = match peer {
        IpAddr::V4(_) => (IpAddr::from([0u8; 4]), 0).into(),
        IpAddr::V6(_) => (IpAddr::from([0u16; 8]), 0).into(),
    };
    let socket = UdpSocket::bind(bind).map_err(|e| Error::Socket(format!("cannot open a socket: {e}")))?;
    socket.connect((peer, 9)).map_err(|e| Error::Socket(format!("no route to {peer}: {e}")))?;
    socket.local_addr().map(|a| a.ip()).map_err(|e| Error::Socket(format!("cannot read the local address: {e}")))
}

fn agent(deadline: Instant) -> Result<ureq::Agent, Error> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(Error::Http("out of time before the request could start".into()));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(remaining))
        .timeout_connect(Some(remaining.min(CONNECT_LIMIT)))
        .max_redirects(0)
        .http_status_as_error(false)
        .max_response_header_size(16 * 1024)
        .max_idle_connections(0)
        .user_agent(USER_AGENT)
        .build();
    Ok(ureq::Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default()))
}

/// ureq's resolver runs every lookup on a thread of its own when a timeout is set, IP
/// literals included: about 5 ms per request on the test bed. Device URLs are IP
/// literals (see discovery's LOCATION policy), so those are taken as they are and only
/// names go through ureq's resolver. (`Resolver` is in ureq's `unversioned` API.)
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.authority().and_then(|authority| {
            let host = authority.host().trim_start_matches('[').trim_end_matches(']');
            Some(SocketAddr::new(host.parse().ok()?, authority.port_u16().unwrap_or(80)))
        });
        match literal {
            Some(address) => {
                let mut addresses = self.empty();
                addresses.push(address);
                Ok(addresses)
            }
            None => self.0.resolve(uri, config, timeout),
        }
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
        ureq::Error::Timeout(_) => Error::Http(format!("{url}: no complete answer in time")),
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
        TimedOut | WouldBlock => "no complete answer in time".into(),
        _ => e.to_string(),
    }
}
