//! One STUN Binding exchange (RFC 8489 §6.2.1: resent after 500 ms, 1.5 s, 3.5 s, ...)
//! by the caller's deadline: the address the internet sees this computer as.
//!
//! It is sent from the mapped UDP port when that port is free, so that the answer names
//! the endpoint players would reach; when the game already holds the port (the usual
//! case) another port is used, which still tells the address. The socket is closed at
//! once either way. A server given by name is resolved on a thread of its own, bounded by
//! the same deadline (the system resolver has no timeout).

use super::recv_before;
use crate::error::Error;
use crate::protocol::quoted;
use crate::protocol::stun::{self as proto, StunDecodeError, TransactionId};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

/// First resend after this; each later wait doubles (RFC 8489's RTO).
const INITIAL_RTO: Duration = Duration::from_millis(500);
/// Most unrelated datagrams read before giving up (the deadline bounds it too).
const MAX_IGNORED: u32 = 64;

/// What a STUN server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StunAnswer {
    /// The address and port the server saw the request come from.
    pub mapped: SocketAddr,
    /// The server asked (resolved).
    pub server: SocketAddr,
    /// The local port the request went out from.
    pub local_port: u16,
    /// Whether that was the port asked for (else it was in use and another was taken).
    pub from_requested_port: bool,
}

/// Asks `server` ("host:port" or "host"; see [`proto::parse_server`]) which address it
/// sees, from local UDP port `local_port` when free (0: any port), by `deadline`.
pub fn binding(server: &str, local_port: u16, deadline: Instant) -> Result<StunAnswer, Error> {
    let (host, port) = proto::parse_server(server).map_err(|e| Error::Socket(format!("STUN server {e}")))?;
    let server = resolve(&host, port, deadline)?;
    let (socket, from_requested_port) = open(local_port)?;
    socket.connect(server).map_err(|e| Error::Socket(format!("cannot reach the STUN server {server}: {e}")))?;
    let local_port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut id: TransactionId = [0; 12];
    id[..8].copy_from_slice(&super::pmp::random_u64().to_ne_bytes());
    id[8..].copy_from_slice(&super::pmp::random_u64().to_ne_bytes()[..4]);
    let request = proto::binding_request(&id);
    let started = Instant::now();
    let (mut rto, mut ignored, mut malformed) = (INITIAL_RTO, 0, None);
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline && ignored < MAX_IGNORED {
        match socket.send(&request) {
            Ok(_) => {}
            Err(e) if is_refusal(&e) => return Err(refused(server)),
            Err(e) => return Err(Error::Socket(format!("cannot send to the STUN server {server}: {e}"))),
        }
        let resend_at = Instant::now().checked_add(rto).map_or(deadline, |t| t.min(deadline));
        rto *= 2;
        while ignored < MAX_IGNORED {
            let (len, from) = match recv_before(&socket, resend_at, &mut buf) {
                Ok(Some(got)) => got,
                Ok(None) => break,
                Err(e) if is_refusal(&e) => return Err(refused(server)),
                Err(e) => return Err(Error::Socket(format!("STUN: cannot receive: {e}"))),
            };
            if from != server {
                ignored += 1;
                continue;
            }
            match proto::decode_binding_response(&buf[..len], &id) {
                Ok(mapped) => return Ok(StunAnswer { mapped, server, local_port, from_requested_port }),
                Err(StunDecodeError::Unrelated) => ignored += 1,
                Err(StunDecodeError::Malformed(why)) => {
                    ignored += 1;
                    malformed = Some(why);
                }
                Err(StunDecodeError::Refused(code, reason)) => {
                    return Err(Error::InvalidResponse(format!(
                        "the STUN server {server} refused the request: {code} {}",
                        quoted(&reason)
                    )));
                }
            }
        }
    }
    Err(match malformed {
        Some(why) => Error::InvalidResponse(format!("the STUN server {server} sent a broken answer: {why}")),
        None => Error::Timeout(format!(
            "the STUN server {server} did not answer within {} ms",
            started.elapsed().as_millis()
        )),
    })
}

/// The server's address: an IP literal as is, a name through the system resolver on a
/// thread of its own (left to finish alone if it outlasts the deadline). IPv4 first: the
/// answer is compared with the router's IPv4 external address.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<SocketAddr, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let name = host.to_string();
    std::thread::Builder::new()
        .name("upnp-stun-resolve".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
        })
        .map_err(|e| Error::Socket(format!("cannot start a thread: {e}")))?;
    let addresses = match rx.recv_deadline(deadline) {
        Ok(Ok(addresses)) => addresses,
        Ok(Err(e)) => return Err(Error::Socket(format!("cannot resolve the STUN server {}: {e}", quoted(host)))),
        Err(_) => {
            return Err(Error::Timeout(format!("the STUN server's name {} did not resolve in time", quoted(host))));
        }
    };
    let first_v4 = addresses.iter().find(|a| a.is_ipv4());
    first_v4
        .or(addresses.first())
        .copied()
        .ok_or_else(|| Error::Socket(format!("the STUN server's name {} has no address", quoted(host))))
}

/// A UDP socket on `port` when free, else on any port.
fn open(port: u16) -> Result<(UdpSocket, bool), Error> {
    let any = |port| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port));
    if port != 0
        && let Ok(socket) = any(port)
    {
        return Ok((socket, true));
    }
    any(0).map(|s| (s, port == 0)).map_err(|e| Error::Socket(format!("cannot open a UDP socket: {e}")))
}

fn is_refusal(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset)
}

fn refused(server: SocketAddr) -> Error {
    Error::Socket(format!("the STUN server {server} refused it (nothing listens on that UDP port)"))
}

#[cfg(test)]
mod tests {
    //! Against a fake server on 127.0.0.1 (loopback only).
    use super::*;
    use std::thread;

    /// A server that answers the `n`th request it receives (1-based) with `answer(request)`,
    /// returning how many it received within `life`.
    fn fake_server(
        n: usize,
        life: Duration,
        answer: fn(&[u8], SocketAddr) -> Vec<u8>,
    ) -> (u16, thread::JoinHandle<usize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let handle = thread::spawn(move || {
            let end = Instant::now() + life;
            let mut got = 0;
            let mut buf = [0u8; 1500];
            while Instant::now() < end {
                if let Ok((len, from)) = socket.recv_from(&mut buf) {
                    got += 1;
                    if got == n {
                        let _ = socket.send_to(&answer(&buf[..len], from), from);
                    }
                }
            }
            got
        });
        (port, handle)
    }

    /// A success answer naming `from` as seen, XORed as RFC 8489 says.
    fn success(request: &[u8], from: SocketAddr) -> Vec<u8> {
        let SocketAddr::V4(from) = from else { unreachable!() };
        let cookie = proto::MAGIC_COOKIE.to_be_bytes();
        let mut message = vec![0x01, 0x01, 0, 12];
        message.extend_from_slice(&request[4..20]);
        message.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
        message.extend_from_slice(&(from.port() ^ 0x2112).to_be_bytes());
        message.extend(from.ip().octets().iter().zip(cookie).map(|(a, b)| a ^ b));
        message
    }

    #[test]
    fn the_answer_names_the_address_and_port_seen() {
        let (port, server) = fake_server(1, Duration::from_millis(300), success);
        let answer = binding(&format!("127.0.0.1:{port}"), 0, Instant::now() + Duration::from_secs(2)).unwrap();
        assert_eq!(answer.mapped, SocketAddr::from(([127, 0, 0, 1], answer.local_port)));
        assert_eq!(answer.server, SocketAddr::from(([127, 0, 0, 1], port)));
        assert_eq!(server.join().unwrap(), 1);
    }

    #[test]
    fn a_lost_request_is_sent_again_after_500_ms() {
        let (port, server) = fake_server(2, Duration::from_millis(900), success);
        let started = Instant::now();
        let answer = binding(&format!("127.0.0.1:{port}"), 0, Instant::now() + Duration::from_secs(2)).unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(480) && took < Duration::from_millis(700), "{took:?}");
        assert_eq!(answer.mapped.port(), answer.local_port);
        assert_eq!(server.join().unwrap(), 2, "no third send before the answer");
    }

    #[test]
    fn the_requested_port_is_used_when_free_and_another_when_taken() {
        let (port, server) = fake_server(1, Duration::from_millis(300), success);
        let free = UdpSocket::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
        let answer = binding(&format!("127.0.0.1:{port}"), free, Instant::now() + Duration::from_secs(2)).unwrap();
        assert_eq!((answer.local_port, answer.from_requested_port), (free, true));
        server.join().unwrap();
        let (port, server) = fake_server(1, Duration::from_millis(300), success);
        let held = UdpSocket::bind("0.0.0.0:0").unwrap();
        let taken = held.local_addr().unwrap().port();
        let answer = binding(&format!("127.0.0.1:{port}"), taken, Instant::now() + Duration::from_secs(2)).unwrap();
        assert!(!answer.from_requested_port);
        assert_ne!(answer.local_port, taken);
        server.join().unwrap();
    }

    #[test]
    fn silence_ends_at_the_deadline_and_a_closed_port_at_once() {
        let (port, server) = fake_server(usize::MAX, Duration::from_millis(1200), success);
        let started = Instant::now();
        let error = binding(&format!("127.0.0.1:{port}"), 0, Instant::now() + Duration::from_millis(1000)).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(error, Error::Timeout(_)), "{error:?}");
        assert!(took >= Duration::from_millis(990) && took < Duration::from_millis(1100), "{took:?}");
        assert_eq!(server.join().unwrap(), 2, "sent at 0 and 500 ms (the next would be at 1500 ms)");
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = Instant::now();
        let error = binding(&format!("127.0.0.1:{closed}"), 0, Instant::now() + Duration::from_secs(2)).unwrap_err();
        assert!(error.to_string().contains("refused"), "{error}");
        // Well before the 2 s deadline: Linux and Windows report the ICMP error at once,
        // Wine only when the retransmission at 500 ms is sent.
        assert!(started.elapsed() < Duration::from_millis(900), "{:?}", started.elapsed());
    }

    #[test]
    fn a_bad_setting_fails_before_any_packet() {
        let error = binding("not a server", 0, Instant::now() + Duration::from_secs(1)).unwrap_err();
        assert!(error.to_string().contains("is not host:port"), "{error}");
    }
}
