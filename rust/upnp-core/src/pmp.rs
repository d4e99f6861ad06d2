//! Port mapping with NAT-PMP (RFC 6886) and PCP (RFC 6887): the routers that answer
//! them need no discovery (the default gateway is the server) and no HTTP, so a mapping
//! costs one UDP round trip.
//!
//! [`probe`] finds out within one round trip whether a NAT-PMP or PCP server answers.
//! [`map_port`] tries PCP and falls back to NAT-PMP when the gateway says it does not
//! speak PCP. Given an IPv6 gateway it asks PCP only (NAT-PMP is IPv4-only), from our
//! IPv6 address: on an IPv6 router that is a pinhole through its firewall (RFC 6887
//! §11.3: the "external" address and port are our own). A mapping lasts for its lifetime only: [`renew`] it before it runs out
//! (RFC 6886 suggests at half the lifetime) and [`unmap_port`] it when done.
//!
//! Each request is retransmitted on its protocol's schedule until the caller's deadline:
//! NAT-PMP after 250 ms, then doubling (RFC 6886 §3.1); PCP after 3 s ± 10 %, then
//! doubling (RFC 6887 §8.1.1). A PCP request given less than about 3.3 s is sent once
//! only; 4 s leaves room for one retransmission and its answer.
//!
//! What miniupnpd 2.3.1 does (checked in the real-router test bed, tests/igd/tests/pmp.rs):
//! it answers both PCP version 2 and NAT-PMP on port 5351 (and still legacy PCP
//! version 1), so against it [`map_port`] always ends with PCP; `enable_natpmp=no`
//! switches both off (IPv4 port 5351 closed: the call fails at once). It labels PCP
//! mappings with their nonce, which is why a renewal or deletion must reuse the nonce
//! of the mapping. It raises PCP lifetimes below its `min_lifetime` but grants NAT-PMP
//! lifetimes as asked: use the granted `lifetime_secs`, not the requested one.

use crate::error::Error;
use crate::net::pmp::{PmpSocket, random_u64};
use crate::protocol::igd::{InvalidArgument, Protocol};
use crate::protocol::pmp::{
    self as proto, NatPmpMapRequest, NatPmpMapResponse, PcpMapRequest, PcpMapResponse, Reply, ResultCode,
};
use crate::protocol::result::UpnpResult;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

pub use crate::protocol::pmp::{Nonce, PmpMethod};

/// A mapping the gateway granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PmpMapping {
    /// The protocol that made it (and that renewals and deletion use).
    pub method: PmpMethod,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Our port.
    pub internal_port: u16,
    /// The port the gateway opened (may differ from the one suggested).
    pub external_port: u16,
    /// Seconds the gateway keeps it (may differ from the one requested).
    pub lifetime_secs: u32,
    /// The gateway's external address: from the PCP answer (an IPv6 pinhole's is our
    /// own address), or from NAT-PMP's address request (`None` when that request failed;
    /// the mapping still stands).
    pub external_address: Option<IpAddr>,
    /// The gateway's epoch (seconds since its mapping state began) when it answered.
    /// If a later answer's epoch is lower than this plus the time elapsed since (less
    /// some slack), the gateway restarted and lost its mappings (RFC 6886 §3.6).
    pub epoch_secs: u32,
    /// The PCP nonce identifying the mapping to the gateway (unused by NAT-PMP).
    pub nonce: Nonce,
}

/// What is asked for, whichever protocol carries it.
struct Wanted {
    protocol: Protocol,
    internal_port: u16,
    suggested_external_port: u16,
    suggested_external_address: Option<IpAddr>,
    lifetime_secs: u32,
    nonce: Nonce,
}

const BAD_INTERNAL_PORT: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidPort,
    message: "The internal port must be set between 1 and 65535 (inclusive).",
};
const BAD_LIFETIME: InvalidArgument = InvalidArgument {
    result: UpnpResult::InvalidDuration,
    message: "A NAT-PMP/PCP mapping needs a lifetime of at least 1 second (0 deletes it).",
};

/// Maps `internal_port` of this computer: PCP first, NAT-PMP when the gateway answers
/// that it does not speak PCP. `suggested_external_port` 0 lets the gateway choose
/// (miniupnpd then uses the internal port). Fails with [`Error::PmpUnavailable`] when
/// nothing answers on the gateway's port 5351 before `deadline`, or as soon as the
/// gateway reports the port closed.
pub fn map_port(
    gateway: IpAddr,
    protocol: Protocol,
    internal_port: u16,
    suggested_external_port: u16,
    lifetime_secs: u32,
    deadline: Instant,
) -> Result<PmpMapping, Error> {
    let wanted = wanted(protocol, internal_port, suggested_external_port, lifetime_secs, new_nonce())?;
    request(gateway, PmpMethod::Pcp, true, &wanted, deadline)
}

/// Like [`map_port`] with one protocol only and no fallback: for a gateway known to
/// speak only one of them, and for tests.
pub fn map_port_with(
    method: PmpMethod,
    gateway: IpAddr,
    protocol: Protocol,
    internal_port: u16,
    suggested_external_port: u16,
    lifetime_secs: u32,
    deadline: Instant,
) -> Result<PmpMapping, Error> {
    let wanted = wanted(protocol, internal_port, suggested_external_port, lifetime_secs, new_nonce())?;
    request(gateway, method, false, &wanted, deadline)
}

/// Asks again for `mapping` with a new lifetime: same protocol, same nonce, and its
/// external port and address as suggestions, so the gateway extends the same mapping
/// (RFC 6887 §11.2.1). After a gateway restart this re-creates it, possibly on another
/// port: compare the answer's `external_port`. A PCP mapping falls back to NAT-PMP too.
pub fn renew(
    gateway: IpAddr,
    mapping: &PmpMapping,
    lifetime_secs: u32,
    deadline: Instant,
) -> Result<PmpMapping, Error> {
    let mut wanted =
        wanted(mapping.protocol, mapping.internal_port, mapping.external_port, lifetime_secs, mapping.nonce)?;
    wanted.suggested_external_address = mapping.external_address;
    request(gateway, mapping.method, true, &wanted, deadline)
}

/// Deletes `mapping` (a request with lifetime 0, by the protocol that made it).
/// miniupnpd answers a PCP deletion of a mapping it no longer holds with NO_RESOURCES,
/// which arrives here as [`Error::Pmp`].
pub fn unmap_port(gateway: IpAddr, mapping: &PmpMapping, deadline: Instant) -> Result<(), Error> {
    let wanted = Wanted {
        protocol: mapping.protocol,
        internal_port: mapping.internal_port,
        suggested_external_port: mapping.external_port,
        suggested_external_address: mapping.external_address,
        lifetime_secs: 0,
        nonce: mapping.nonce,
    };
    let (action, reply) = match mapping.method {
        PmpMethod::Pcp => {
            const ACTION: &str = "PCP MAP deletion";
            (ACTION, pcp_map(ACTION, gateway, &wanted, deadline)?.map(drop))
        }
        PmpMethod::NatPmp => {
            const ACTION: &str = "NAT-PMP mapping deletion";
            // RFC 6886 §3.4: the suggested external port must be 0 in a deletion.
            let wanted = Wanted { suggested_external_port: 0, ..wanted };
            (ACTION, natpmp_map(ACTION, gateway, &wanted, deadline)?.map(drop))
        }
    };
    match reply {
        Reply::Success(()) => Ok(()),
        Reply::Refused(code) => Err(Error::Pmp { action, code }),
        Reply::UnsupportedVersion { .. } => Err(unsupported(action, mapping.method)),
    }
}

/// What answered on the gateway's NAT-PMP/PCP port (see [`probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// [`PmpMethod::NatPmp`] when the gateway answered NAT-PMP (it may speak PCP too;
    /// [`map_port`] tries PCP first either way), [`PmpMethod::Pcp`] when it answered that
    /// it speaks PCP only.
    pub method: PmpMethod,
    /// The external address from NAT-PMP's answer; `None` from a PCP-only gateway (PCP
    /// tells it with a mapping), after a refusal, or when the gateway has none (0.0.0.0).
    pub external_address: Option<Ipv4Addr>,
}

const ADDRESS_ACTION: &str = "NAT-PMP external address";

/// Whether a NAT-PMP or PCP server answers at `gateway`, by NAT-PMP's external-address
/// request: a NAT-PMP server answers it (a refusal such as NETWORK_FAILURE, "no external
/// address yet", still shows one), and a PCP-only server answers it with PCP's
/// UNSUPP_VERSION (RFC 6887 §9), so either is found within one round trip. Fails with
/// [`Error::PmpUnavailable`] when nothing answers before `deadline` or the gateway
/// reports the port closed, and with UNSUPP_VERSION ([`Error::Pmp`]) when the server
/// speaks only a PCP version other than 2.
pub fn probe(gateway: Ipv4Addr, deadline: Instant) -> Result<Probe, Error> {
    let (method, external_address) = match natpmp_address(gateway, deadline)? {
        Reply::Success(answer) => (PmpMethod::NatPmp, Some(answer.address).filter(|a| !a.is_unspecified())),
        Reply::Refused(_) | Reply::UnsupportedVersion { server_version: proto::NATPMP_VERSION } => {
            (PmpMethod::NatPmp, None)
        }
        Reply::UnsupportedVersion { server_version: proto::PCP_VERSION } => (PmpMethod::Pcp, None),
        Reply::UnsupportedVersion { .. } => return Err(unsupported(ADDRESS_ACTION, PmpMethod::Pcp)),
    };
    Ok(Probe { method, external_address })
}

/// The gateway's external IPv4 address, by NAT-PMP's address request (PCP has none of
/// its own: a PCP mapping carries the address, see [`PmpMapping::external_address`]).
/// 0.0.0.0 when the gateway says it has none.
pub fn external_address(gateway: Ipv4Addr, deadline: Instant) -> Result<Ipv4Addr, Error> {
    match natpmp_address(gateway, deadline)? {
        Reply::Success(answer) => Ok(answer.address),
        Reply::Refused(code) => Err(Error::Pmp { action: ADDRESS_ACTION, code }),
        Reply::UnsupportedVersion { .. } => Err(unsupported(ADDRESS_ACTION, PmpMethod::NatPmp)),
    }
}

fn natpmp_address(gateway: Ipv4Addr, deadline: Instant) -> Result<Reply<proto::NatPmpAddressResponse>, Error> {
    let socket = PmpSocket::connect(gateway.into())?;
    let request = proto::encode_natpmp_external_address_request();
    socket.exchange(PmpMethod::NatPmp, ADDRESS_ACTION, &request, deadline, proto::decode_natpmp_address_response)
}

/// The operating system's IPv4 default gateway: where NAT-PMP and PCP requests go.
/// `None` when there is no IPv4 default route or the system cannot tell.
///
/// Uses the `netdev` crate (default features off, `gateway` on): it reads the routing
/// table natively on every platform the addon ships for (netlink on Linux and Android,
/// the routing sysctl on macOS, `GetAdaptersAddresses` on Windows), which a
/// `/proc/net/route` parser would do on Linux alone, and it needs no unsafe code here.
/// Its cost is one enumeration of the interfaces per call (a few milliseconds): call
/// it once per mapping session, not per packet.
pub fn default_gateway() -> Option<Ipv4Addr> {
    let gateway = netdev::get_default_gateway().ok()?;
    gateway.ipv4.into_iter().find(|a| !a.is_unspecified())
}

fn wanted(
    protocol: Protocol,
    internal_port: u16,
    suggested_external_port: u16,
    lifetime_secs: u32,
    nonce: Nonce,
) -> Result<Wanted, Error> {
    if internal_port == 0 {
        // Internal port 0 with lifetime 0 means "delete all my mappings" in both protocols.
        return Err(BAD_INTERNAL_PORT.into());
    }
    if lifetime_secs == 0 {
        return Err(BAD_LIFETIME.into());
    }
    Ok(Wanted {
        protocol,
        internal_port,
        suggested_external_port,
        suggested_external_address: None,
        lifetime_secs,
        nonce,
    })
}

/// One mapping request by `first`, then NAT-PMP if `fallback` and the gateway does not
/// speak PCP. Only an explicit "unsupported version" answer falls back: silence until
/// the deadline leaves no time for a second protocol, and on port 5351 a gateway that
/// ignores PCP would not answer NAT-PMP more reliably.
fn request(
    gateway: IpAddr,
    first: PmpMethod,
    fallback: bool,
    wanted: &Wanted,
    deadline: Instant,
) -> Result<PmpMapping, Error> {
    if first == PmpMethod::Pcp {
        const ACTION: &str = "PCP MAP";
        match pcp_map(ACTION, gateway, wanted, deadline)? {
            Reply::Success(answer) => return granted_pcp(wanted, answer),
            Reply::Refused(code) => return Err(Error::Pmp { action: ACTION, code }),
            Reply::UnsupportedVersion { .. } if fallback => {}
            Reply::UnsupportedVersion { .. } => return Err(unsupported(ACTION, PmpMethod::Pcp)),
        }
    }
    const ACTION: &str = "NAT-PMP mapping";
    let answer = match natpmp_map(ACTION, gateway, wanted, deadline)? {
        Reply::Success(answer) => answer,
        Reply::Refused(code) => return Err(Error::Pmp { action: ACTION, code }),
        Reply::UnsupportedVersion { .. } => return Err(unsupported(ACTION, PmpMethod::NatPmp)),
    };
    check_grant(ACTION, answer.external_port, answer.lifetime_secs)?;
    // NAT-PMP's mapping answer has no address; a failed address request must not lose
    // a mapping the gateway already made.
    let external_address = match gateway {
        IpAddr::V4(gateway) => external_address(gateway, deadline).ok().filter(|a| !a.is_unspecified()),
        IpAddr::V6(_) => None,
    };
    Ok(PmpMapping {
        method: PmpMethod::NatPmp,
        protocol: wanted.protocol,
        internal_port: wanted.internal_port,
        external_port: answer.external_port,
        lifetime_secs: answer.lifetime_secs,
        external_address: external_address.map(IpAddr::V4),
        epoch_secs: answer.epoch_secs,
        nonce: wanted.nonce,
    })
}

fn granted_pcp(wanted: &Wanted, answer: PcpMapResponse) -> Result<PmpMapping, Error> {
    check_grant("PCP MAP", answer.external_port, answer.lifetime_secs)?;
    Ok(PmpMapping {
        method: PmpMethod::Pcp,
        protocol: wanted.protocol,
        internal_port: wanted.internal_port,
        external_port: answer.external_port,
        lifetime_secs: answer.lifetime_secs,
        external_address: answer.external_address,
        epoch_secs: answer.epoch_secs,
        nonce: wanted.nonce,
    })
}

/// A success that grants nothing (port 0 or lifetime 0) is no mapping.
fn check_grant(action: &str, external_port: u16, lifetime_secs: u32) -> Result<(), Error> {
    if external_port == 0 || lifetime_secs == 0 {
        return Err(Error::InvalidResponse(format!(
            "{action}: the gateway reported success with external port {external_port} and lifetime {lifetime_secs} s"
        )));
    }
    Ok(())
}

fn pcp_map(
    action: &'static str,
    gateway: IpAddr,
    wanted: &Wanted,
    deadline: Instant,
) -> Result<Reply<PcpMapResponse>, Error> {
    let socket = PmpSocket::connect(gateway)?;
    let request = PcpMapRequest {
        client_address: socket.local_address()?,
        nonce: wanted.nonce,
        protocol: wanted.protocol,
        internal_port: wanted.internal_port,
        suggested_external_port: wanted.suggested_external_port,
        suggested_external_address: wanted.suggested_external_address,
        lifetime_secs: wanted.lifetime_secs,
    };
    socket
        .exchange(PmpMethod::Pcp, action, &request.encode(), deadline, |d| proto::decode_pcp_map_response(&request, d))
}

fn natpmp_map(
    action: &'static str,
    gateway: IpAddr,
    wanted: &Wanted,
    deadline: Instant,
) -> Result<Reply<NatPmpMapResponse>, Error> {
    if gateway.is_ipv6() {
        // Nothing is sent: an IPv6 gateway is asked by PCP alone.
        return Err(Error::PmpUnavailable(format!(
            "{action}: NAT-PMP is IPv4-only (RFC 6886); the IPv6 gateway {gateway} speaks PCP or nothing"
        )));
    }
    let socket = PmpSocket::connect(gateway)?;
    let request = NatPmpMapRequest {
        protocol: wanted.protocol,
        internal_port: wanted.internal_port,
        suggested_external_port: wanted.suggested_external_port,
        lifetime_secs: wanted.lifetime_secs,
    };
    socket.exchange(PmpMethod::NatPmp, action, &request.encode(), deadline, |d| {
        proto::decode_natpmp_map_response(&request, d)
    })
}

fn unsupported(action: &'static str, method: PmpMethod) -> Error {
    Error::Pmp { action, code: ResultCode { method, code: 1 } }
}

/// A fresh PCP nonce. RFC 6887 §11.1 wants it random so that off-path hosts cannot
/// forge answers or delete the mapping.
fn new_nonce() -> Nonce {
    let mut nonce = [0u8; 12];
    for chunk in nonce.chunks_mut(8) {
        chunk.copy_from_slice(&random_u64().to_be_bytes()[..chunk.len()]);
    }
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::Duration;

    /// A fake gateway on 127.0.0.`last`:5351, each test on its own address (this module
    /// uses 51 to 59, inside the 127.0.0.2-64 that CI aliases on macOS). `answer` gets
    /// each datagram and returns the datagrams to send back. The server notes when each
    /// datagram arrived and stops by itself after 10 s.
    fn fake_gateway(
        last: u8,
        mut answer: impl FnMut(&[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (Ipv4Addr, Arc<Mutex<Vec<Instant>>>) {
        let address = Ipv4Addr::new(127, 0, 0, last);
        let socket = UdpSocket::bind((address, proto::SERVER_PORT)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        thread::spawn(move || {
            let stop = Instant::now() + Duration::from_secs(10);
            let mut buf = [0u8; 1500];
            while Instant::now() < stop {
                let Ok((len, from)) = socket.recv_from(&mut buf) else { continue };
                log.lock().unwrap().push(Instant::now());
                for reply in answer(&buf[..len]) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        (address, received)
    }

    fn is_pcp_map(request: &[u8]) -> bool {
        request.len() == proto::PCP_MAP_LEN && request[..2] == [proto::PCP_VERSION, proto::PCP_OPCODE_MAP]
    }

    /// A PCP response header for `request` (RFC 6887 §7.2): version 2, the opcode with the
    /// R bit, `result`, lifetime 0, epoch 5, and nothing else: what an error answer
    /// without the opcode's payload looks like.
    fn pcp_header(request: &[u8], result: u8) -> Vec<u8> {
        let mut b = vec![proto::PCP_VERSION, 0x80 | request[1], 0, result, 0, 0, 0, 0, 0, 0, 0, 5];
        b.resize(24, 0);
        b
    }

    /// A PCP server granting a MAP request as asked, on 11.22.33.44: the header, then the
    /// request's payload echoed (RFC 6887 §11.1).
    fn pcp_grant(request: &[u8]) -> Vec<u8> {
        let mut b = pcp_header(request, 0);
        b[4..8].copy_from_slice(&request[4..8]);
        b.extend_from_slice(&request[24..44]);
        b.extend_from_slice(&proto::ipv4_mapped(Ipv4Addr::new(11, 22, 33, 44)));
        b
    }

    /// A server that speaks PCP only: NAT-PMP requests get PCP's UNSUPP_VERSION (RFC 6887
    /// §9), MAP requests are granted.
    fn pcp_only_server(request: &[u8]) -> Vec<Vec<u8>> {
        match request.first() {
            Some(&proto::NATPMP_VERSION) if request.len() >= 2 => vec![pcp_header(request, 1)],
            _ if is_pcp_map(request) => vec![pcp_grant(request)],
            _ => Vec::new(),
        }
    }

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn a_pcp_only_server_is_found_at_once_and_maps() {
        let (gateway, _) = fake_gateway(51, pcp_only_server);
        let started = Instant::now();
        let found = probe(gateway, started + Duration::from_secs(1));
        let took = started.elapsed();
        assert_eq!(found, Ok(Probe { method: PmpMethod::Pcp, external_address: None }));
        assert!(took < Duration::from_millis(100), "{took:?}");
        let mapping = map_port(gateway.into(), Protocol::Udp, 40500, 40501, 3600, soon(2000)).unwrap();
        assert_eq!(mapping.method, PmpMethod::Pcp);
        assert_eq!((mapping.external_port, mapping.lifetime_secs), (40501, 3600));
        assert_eq!(mapping.external_address, Some(IpAddr::from([11, 22, 33, 44])));
        // NAT-PMP's own address request says at once that it cannot be answered.
        let started = Instant::now();
        let e = external_address(gateway, started + Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.result(), UpnpResult::InvalidGateway, "{e:?}");
        assert!(started.elapsed() < Duration::from_millis(100), "{:?}", started.elapsed());
    }

    #[test]
    fn a_natpmp_server_is_found_even_when_it_refuses() {
        // Three answers in turn: an address, "no address" (0.0.0.0), NETWORK_FAILURE.
        let mut answers = vec![
            vec![0, 0x80, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0],
            vec![0, 0x80, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            vec![0, 0x80, 0, 0, 0, 0, 0, 1, 11, 22, 33, 44],
        ];
        let (gateway, _) = fake_gateway(52, move |_| answers.pop().into_iter().collect());
        let natpmp = |address| Ok(Probe { method: PmpMethod::NatPmp, external_address: address });
        assert_eq!(probe(gateway, soon(1000)), natpmp(Some(Ipv4Addr::new(11, 22, 33, 44))));
        assert_eq!(probe(gateway, soon(1000)), natpmp(None));
        assert_eq!(probe(gateway, soon(1000)), natpmp(None));
        // Then it falls silent: only that is "no server".
        let e = probe(gateway, soon(300)).unwrap_err();
        assert!(matches!(e, Error::PmpUnavailable(_)), "{e:?}");
    }

    #[test]
    fn a_spoofed_short_error_does_not_fail_a_mapping() {
        // The forged refusal (24 bytes, no nonce) arrives first, the real grant after it.
        let (gateway, _) = fake_gateway(53, |request| {
            if is_pcp_map(request) { vec![pcp_header(request, 2), pcp_grant(request)] } else { Vec::new() }
        });
        let started = Instant::now();
        let mapping =
            map_port_with(PmpMethod::Pcp, gateway.into(), Protocol::Tcp, 40600, 40601, 600, soon(2000)).unwrap();
        assert_eq!((mapping.method, mapping.external_port), (PmpMethod::Pcp, 40601));
        assert!(started.elapsed() < Duration::from_millis(100), "{:?}", started.elapsed());
    }

    #[test]
    fn a_short_error_alone_is_reported_at_the_deadline() {
        let (gateway, received) =
            fake_gateway(54, |request| if is_pcp_map(request) { vec![pcp_header(request, 8)] } else { Vec::new() });
        let started = Instant::now();
        let e = map_port_with(PmpMethod::Pcp, gateway.into(), Protocol::Udp, 40700, 0, 600, soon(600)).unwrap_err();
        let took = started.elapsed();
        assert_eq!(e, Error::Pmp { action: "PCP MAP", code: ResultCode { method: PmpMethod::Pcp, code: 8 } });
        assert!(took >= Duration::from_millis(590) && took < Duration::from_millis(800), "{took:?}");
        assert_eq!(received.lock().unwrap().len(), 1, "PCP does not retransmit within 600 ms");
    }

    /// When a silent server received MAP requests (from the start of the call) until
    /// `map_port_with` gave up at `deadline`.
    fn pcp_transmissions_within(last: u8, deadline: Duration) -> Vec<Duration> {
        let (gateway, received) = fake_gateway(last, |_| Vec::new());
        let started = Instant::now();
        let e = map_port_with(PmpMethod::Pcp, gateway.into(), Protocol::Udp, 40800, 0, 600, started + deadline)
            .unwrap_err();
        assert!(matches!(e, Error::PmpUnavailable(_)), "{e:?}");
        assert!(started.elapsed() < deadline + Duration::from_millis(100), "{:?}", started.elapsed());
        thread::sleep(Duration::from_millis(50));
        received.lock().unwrap().iter().map(|t| t.duration_since(started)).collect()
    }

    /// RFC 6887 §8.1.1: the first retransmission comes after IRT = 3 s (less up to 10 %),
    /// so none within 2 s.
    #[test]
    fn pcp_sends_once_within_2_s() {
        assert_eq!(pcp_transmissions_within(55, Duration::from_secs(2)).len(), 1);
    }

    /// The first retransmission comes after 2.7 to 3.3 s, the second at the earliest
    /// 2.7 s + 2 * 2.7 s * 0.9 = 7.56 s.
    #[test]
    fn pcp_retransmits_once_within_7_s() {
        let sends = pcp_transmissions_within(56, Duration::from_secs(7));
        assert_eq!(sends.len(), 2, "{sends:?}");
        let retransmitted = sends[1] - sends[0];
        assert!(
            retransmitted >= Duration::from_millis(2690) && retransmitted < Duration::from_millis(3400),
            "{sends:?}"
        );
    }

    #[test]
    fn nonces_differ() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a, b);
        assert_ne!(a, [0; 12]);
    }

    #[test]
    fn arguments_are_checked_before_anything_is_sent() {
        // Nothing is sent (the checks fail first); were it, it would go to loopback.
        let gateway = Ipv4Addr::LOCALHOST;
        let deadline = Instant::now();
        let e = map_port(gateway.into(), Protocol::Udp, 0, 0, 60, deadline).unwrap_err();
        assert_eq!(e.result(), UpnpResult::InvalidPort);
        let e = map_port(gateway.into(), Protocol::Udp, 4000, 0, 0, deadline).unwrap_err();
        assert_eq!(e.result(), UpnpResult::InvalidDuration);
        assert!(e.to_string().contains("0 deletes"), "{e}");
    }

    #[test]
    fn pmp_errors_have_results_and_hints() {
        let refused = Error::Pmp { action: "PCP MAP", code: ResultCode { method: PmpMethod::Pcp, code: 2 } };
        assert_eq!(refused.result(), UpnpResult::NotAuthorized);
        assert_eq!(refused.to_string(), "PCP MAP refused by the router: PCP result 2 (NOT_AUTHORIZED)");
        assert!(refused.hint().unwrap().contains("below 1024"));
        let full = Error::Pmp { action: "NAT-PMP mapping", code: ResultCode { method: PmpMethod::NatPmp, code: 4 } };
        assert_eq!(full.result(), UpnpResult::NoPortMapsAvailable);
        assert!(full.hint().unwrap().contains("table is full"));
        let old = unsupported("PCP MAP", PmpMethod::Pcp);
        assert_eq!(old.result(), UpnpResult::InvalidGateway);
        assert!(old.hint().unwrap().contains("UPnP"));
        let silent = Error::PmpUnavailable("no answer".into());
        assert_eq!(silent.result(), UpnpResult::NoGateway);
        assert!(silent.hint().unwrap().contains("NAT-PMP or PCP"));
    }
}
