//! The NAT-PMP / PCP socket: one request to the gateway's port 5351, retransmitted on
//! its protocol's schedule until an answer to it arrives or the caller's deadline passes.

use crate::error::Error;
use crate::protocol::pmp::{self as proto, DecodeError, PmpMethod, ResultCode, SERVER_PORT};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Instant;

/// Most unrelated or broken datagrams read for one request before giving up, so that a
/// flood cannot keep the loop busy (the deadline bounds it too).
const MAX_IGNORED: u32 = 256;

/// A UDP socket connected to one gateway's NAT-PMP/PCP port.
#[derive(Debug)]
pub struct PmpSocket {
    socket: UdpSocket,
    gateway: SocketAddr,
}

impl PmpSocket {
    /// Opens a socket on an ephemeral port, connected to `gateway`:5351. Connecting lets
    /// the system pick the source address the gateway will see (PCP must state it) and
    /// drop datagrams from anyone else.
    /// An IPv6 gateway (PCP only) gets an IPv6 socket.
    pub fn connect(gateway: IpAddr) -> Result<Self, Error> {
        let target = SocketAddr::new(gateway, SERVER_PORT);
        let any: IpAddr = match gateway {
            IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let socket =
            UdpSocket::bind(SocketAddr::new(any, 0)).map_err(|e| socket_error("cannot open a UDP socket", e))?;
        socket.connect(target).map_err(|e| socket_error(&format!("cannot reach the gateway {gateway}"), e))?;
        Ok(PmpSocket { socket, gateway: target })
    }

    /// Our address on the way to the gateway: the source address of our requests.
    pub fn local_address(&self) -> Result<IpAddr, Error> {
        match self.socket.local_addr() {
            Ok(a) if !a.ip().is_unspecified() => Ok(a.ip()),
            Ok(other) => Err(Error::Socket(format!("no source address towards the gateway (got {other})"))),
            Err(e) => Err(socket_error("cannot read the socket's address", e)),
        }
    }

    /// Sends `request` and returns the first datagram from the gateway that `decode`
    /// accepts, retransmitting on `method`'s schedule ([`proto::retransmit_interval`]:
    /// NAT-PMP after 250 ms, 500 ms, 1 s, ... at most 9 sends; PCP after about 3 s, 6 s,
    /// 12 s, ...) and never waiting past `deadline`. `decode` says `Unrelated` for
    /// datagrams that answer something else (skipped), `Malformed` for broken ones and
    /// `Unverified` for refusals that cannot be told from forgeries (both skipped, but
    /// reported if nothing better arrives: an unverified refusal as [`Error::Pmp`]).
    /// `what` names the request in errors.
    pub fn exchange<T>(
        &self,
        method: PmpMethod,
        what: &'static str,
        request: &[u8],
        deadline: Instant,
        mut decode: impl FnMut(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let mut buf = [0u8; 1500];
        let mut interval = None;
        let mut sent = 0;
        let mut malformed: Option<String> = None;
        let mut unverified: Option<ResultCode> = None;
        let mut ignored = 0;
        while proto::max_transmissions(method).is_none_or(|max| sent < max) && ignored < MAX_IGNORED {
            if Instant::now() >= deadline {
                break;
            }
            match self.socket.send(request) {
                Ok(_) => sent += 1,
                Err(e) if is_refusal(&e) => return Err(self.refused(what)),
                Err(e) => return Err(socket_error(&format!("{what}: cannot send to {}", self.gateway), e)),
            }
            let wait = proto::retransmit_interval(method, interval, random_unit());
            interval = Some(wait);
            let resend_at = Instant::now().checked_add(wait).map_or(deadline, |t| t.min(deadline));
            while ignored < MAX_IGNORED {
                let (len, from) = match super::recv_before(&self.socket, resend_at, &mut buf) {
                    Ok(Some(got)) => got,
                    // The resend time.
                    Ok(None) => break,
                    // ICMP port unreachable for an earlier send: nothing listens on 5351.
                    Err(e) if is_refusal(&e) => return Err(self.refused(what)),
                    Err(e) => return Err(socket_error(&format!("{what}: cannot receive"), e)),
                };
                // The connected socket already filters by peer; checked again because the
                // answer must come from the gateway's port 5351 (RFC 6886 §3.1).
                if from != self.gateway {
                    ignored += 1;
                    continue;
                }
                match decode(&buf[..len]) {
                    Ok(answer) => return Ok(answer),
                    Err(DecodeError::Unrelated(_)) => ignored += 1,
                    Err(DecodeError::Malformed(why)) => {
                        ignored += 1;
                        malformed = Some(why);
                    }
                    // RFC 6887 §8.3: the client must be ready for several responses to one
                    // request; a matching one may still come, and retransmission goes on.
                    Err(DecodeError::Unverified(code)) => {
                        ignored += 1;
                        unverified = Some(code);
                    }
                }
            }
        }
        let waited = started.elapsed().as_millis();
        Err(match (unverified, malformed) {
            (Some(code), _) => Error::Pmp { action: what, code },
            (None, Some(why)) => {
                Error::InvalidResponse(format!("{what}: the gateway {} sent {why}", self.gateway.ip()))
            }
            (None, None) => Error::PmpUnavailable(format!(
                "{what}: the gateway {} did not answer on UDP port {SERVER_PORT} within {waited} ms",
                self.gateway.ip()
            )),
        })
    }

    fn refused(&self, what: &str) -> Error {
        Error::PmpUnavailable(format!(
            "{what}: the gateway {} refused it (nothing listens on UDP port {SERVER_PORT})",
            self.gateway.ip()
        ))
    }
}

/// 64 unpredictable bits from the operating system's generator, without a dependency on
/// a random-number crate: std's `RandomState` is seeded from it (once per thread, then
/// stepped per state), and hashing a counter and the clock with a fresh state gives
/// output no one else can predict.
pub(crate) fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(now);
    hasher.finish()
}

/// A uniform random number in [0, 1] (PCP's retransmission randomization).
fn random_unit() -> f64 {
    // The top 53 bits are exactly representable.
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether an error is the system reporting an ICMP "port unreachable" (Linux and macOS
/// say "connection refused" on a connected UDP socket, Windows "connection reset").
fn is_refusal(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset)
}

fn socket_error(what: &str, e: io::Error) -> Error {
    Error::Socket(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    //! Exchanges with a fake gateway on 127.0.0.1 (port 5351 there would need a free
    //! port and root, so these tests drive a socket connected to a loopback port of
    //! their own through the same loop).

    use super::*;
    use std::thread;
    use std::time::Duration;

    /// A socket connected to a fake server on 127.0.0.1:<random>; the server thread
    /// runs `serve` on each request it receives.
    fn pair(serve: impl FnMut(&UdpSocket, &[u8], SocketAddr) + Send + 'static) -> PmpSocket {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = match server.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let mut serve = serve;
        thread::spawn(move || {
            let mut buf = [0u8; 1500];
            server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            while let Ok((len, from)) = server.recv_from(&mut buf) {
                serve(&server, &buf[..len], from);
            }
        });
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(server_addr).unwrap();
        PmpSocket { socket, gateway: server_addr.into() }
    }

    fn accept_pong(b: &[u8]) -> Result<u8, DecodeError> {
        match b {
            [b'p', n] => Ok(*n),
            [b'x', ..] => Err(DecodeError::Malformed("x".into())),
            _ => Err(DecodeError::Unrelated("other".into())),
        }
    }

    #[test]
    fn the_first_accepted_answer_is_returned_after_unrelated_ones() {
        let socket = pair(|s, _, from| {
            s.send_to(b"zz", from).unwrap();
            s.send_to(&[b'p', 7], from).unwrap();
        });
        let got =
            socket.exchange(PmpMethod::NatPmp, "ping", b"q", Instant::now() + Duration::from_secs(2), accept_pong);
        assert_eq!(got.unwrap(), 7);
        assert_eq!(socket.local_address().unwrap(), Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn requests_are_retransmitted_on_the_rfc_schedule() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut received = 0;
        let socket = pair(move |s, _, from| {
            received += 1;
            tx.send(Instant::now()).unwrap();
            // Answer only the third transmission.
            if received == 3 {
                s.send_to(&[b'p', 1], from).unwrap();
            }
        });
        let started = Instant::now();
        assert_eq!(
            socket.exchange(PmpMethod::NatPmp, "ping", b"q", started + Duration::from_secs(3), accept_pong).unwrap(),
            1
        );
        let sends: Vec<Duration> = rx.try_iter().map(|t| t - started).collect();
        assert_eq!(sends.len(), 3, "{sends:?}");
        // 0, 250 ms, 750 ms (250 + 500), with scheduling slack.
        assert!(sends[1] >= Duration::from_millis(240) && sends[1] < Duration::from_millis(450), "{sends:?}");
        assert!(sends[2] >= Duration::from_millis(740) && sends[2] < Duration::from_millis(1000), "{sends:?}");
    }

    #[test]
    fn silence_ends_at_the_deadline() {
        let socket = pair(|_, _, _| {});
        let started = Instant::now();
        let err = socket
            .exchange(PmpMethod::NatPmp, "ping", b"q", started + Duration::from_millis(600), accept_pong)
            .unwrap_err();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(590) && took < Duration::from_millis(800), "{took:?}");
        assert!(matches!(err, Error::PmpUnavailable(ref m) if m.contains("did not answer")), "{err:?}");
        // A deadline already past sends nothing and fails at once.
        let started = Instant::now();
        assert!(socket.exchange(PmpMethod::NatPmp, "ping", b"q", started, accept_pong).is_err());
        assert!(started.elapsed() < Duration::from_millis(50));
    }

    /// A last wait over 2 s (1.75 s to 6 s) would be rounded up by up to 256 ms as one
    /// socket timeout; in slices it ends at the deadline.
    #[test]
    fn a_long_last_wait_ends_at_the_deadline() {
        let socket = pair(|_, _, _| {});
        let started = Instant::now();
        let deadline = started + Duration::from_secs(6);
        assert!(socket.exchange(PmpMethod::NatPmp, "ping", b"q", deadline, accept_pong).is_err());
        let late = Instant::now().saturating_duration_since(deadline);
        assert!(late < Duration::from_millis(50), "{late:?} after the deadline");
    }

    #[test]
    fn only_malformed_answers_give_invalid_response() {
        let socket = pair(|s, _, from| {
            s.send_to(b"x!", from).unwrap();
        });
        let err = socket
            .exchange(PmpMethod::NatPmp, "ping", b"q", Instant::now() + Duration::from_millis(400), accept_pong)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidResponse(_)), "{err:?}");
    }

    #[test]
    fn a_closed_port_is_reported_at_once() {
        // Bind and drop: nothing listens there any more, so loopback answers with ICMP
        // port unreachable.
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = match closed.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        drop(closed);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(addr).unwrap();
        let socket = PmpSocket { socket, gateway: addr.into() };
        let started = Instant::now();
        let err = socket
            .exchange(PmpMethod::NatPmp, "ping", b"q", started + Duration::from_secs(2), accept_pong)
            .unwrap_err();
        assert!(matches!(err, Error::PmpUnavailable(ref m) if m.contains("refused")), "{err:?}");
        assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
    }
}
