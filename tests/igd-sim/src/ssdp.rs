//! The SSDP side: one receiving socket for all devices, answers scheduled and sent by
//! unicast from each device's own socket to the searcher.

use crate::content::replace;
use crate::spec::{Arrival, Flood, FloodVary, SsdpBehavior};
use crate::{RecordedRequest, SLICE, Shared, SsdpMode, host_port};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The SSDP port.
const SSDP_PORT: u16 = 1900;
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
const GROUP_V6_LINK: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc);
/// Largest datagram read.
const MAX_DATAGRAM: usize = 8192;
/// Most answers waiting to be sent; searches beyond that get none.
const MAX_PENDING: usize = 100_000;
/// Most floods running at once.
const MAX_FLOODS: usize = 64;
/// Most datagrams one flood sends before the receiver gets a turn.
const FLOOD_BATCH: u32 = 256;
/// The `SERVER` header of the simulator's answers.
const SERVER: &str = "Linux UPnP/1.1 MiniUPnPd/2.3.1 igd-sim/1";

/// What the SSDP thread knows of a device.
pub(crate) struct SsdpDevice {
    pub(crate) location: String,
    pub(crate) uuid: String,
    pub(crate) http_addr: SocketAddr,
    pub(crate) behavior: SsdpBehavior,
    /// Bound to the device's IP: its answers come from its own address.
    pub(crate) reply: UdpSocket,
}

/// Opens the receiving sockets, each with how the searches it gets arrive: in unicast
/// mode the one address; in multicast mode a socket bound to each group (it gets only what
/// is sent to the group: `ipv6`'s, and the other family's too when a device has an
/// address of that family) and one on port 1900 of each device address (what is sent
/// there).
pub(crate) fn open(mode: &SsdpMode, device_addrs: &[SocketAddr]) -> io::Result<Vec<(UdpSocket, Arrival)>> {
    match mode {
        SsdpMode::Unicast(addr) => {
            let socket = UdpSocket::bind(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot bind the SSDP socket to {addr}: {e}")))?;
            Ok(vec![(socket, Arrival::Unicast)])
        }
        SsdpMode::Multicast { interface, ipv6 } => {
            let mut sockets = vec![(open_multicast(interface, *ipv6)?, Arrival::Multicast)];
            if device_addrs.iter().any(|a| a.is_ipv6() != *ipv6) {
                sockets.push((open_multicast(interface, !*ipv6)?, Arrival::Multicast));
            }
            let mut bound: Vec<SocketAddr> = Vec::new();
            for addr in device_addrs {
                let mut at = *addr;
                at.set_port(SSDP_PORT);
                if !bound.contains(&at) {
                    sockets.push((reusable(at)?, Arrival::Unicast));
                    bound.push(at);
                }
            }
            Ok(sockets)
        }
    }
}

/// A UDP socket on `addr` with `SO_REUSEADDR` (port 1900 is shared with the group socket).
fn reusable(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind an SSDP socket to {addr}: {e}")))?;
    Ok(socket.into())
}

fn open_multicast(interface: &str, ipv6: bool) -> io::Result<UdpSocket> {
    ensure_test_namespace()?;
    let index = interface_index(interface)?;
    let socket = Socket::new(if ipv6 { Domain::IPV6 } else { Domain::IPV4 }, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    // Bound to the group: only what is sent to the group arrives here.
    if ipv6 {
        socket.set_only_v6(true)?;
        socket.bind(&SocketAddr::V6(SocketAddrV6::new(GROUP_V6_LINK, SSDP_PORT, 0, index)).into())?;
        // Receive only the groups joined on this socket (Linux otherwise delivers every
        // group any socket joined; the option and that behaviour are Linux's alone).
        #[cfg(target_os = "linux")]
        let _ = socket.set_multicast_all_v6(false);
        socket.join_multicast_v6(&GROUP_V6_LINK, index).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot join {GROUP_V6_LINK} on {interface} (index {index}): {e}"))
        })?;
    } else {
        socket.bind(&SocketAddr::new(GROUP_V4.into(), SSDP_PORT).into())?;
        #[cfg(target_os = "linux")]
        let _ = socket.set_multicast_all_v4(false);
        socket
            .join_multicast_v4_n(&GROUP_V4, &InterfaceIndexOrAddress::Index(index))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot join {GROUP_V4} on {interface}: {e}")))?;
    }
    // Never used for sending, but make sure nothing could loop back or leave by multicast.
    let _ = if ipv6 { socket.set_multicast_loop_v6(false) } else { socket.set_multicast_loop_v4(false) };
    Ok(socket.into())
}

/// The interface's index, looked up in this process's network namespace (the scope of
/// an IPv6 link-local address on it).
pub fn interface_index(name: &str) -> io::Result<u32> {
    let interfaces = if_addrs::get_if_addrs()?;
    interfaces
        .iter()
        .filter(|i| i.name == name)
        .find_map(|i| i.index)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface {name:?} with an address here")))
}

/// Refuses multicast mode unless this process is in a test network namespace: one other
/// than PID 1's, or one named by `ip netns add` (in `/run/netns`). Joining a group in
/// the host's namespace would send membership reports onto a real network.
/// `IGD_SIM_ALLOW_HOST_NETNS=1` overrides.
fn ensure_test_namespace() -> io::Result<()> {
    if std::env::var("IGD_SIM_ALLOW_HOST_NETNS").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    // The calling thread's namespace: a test may have moved only this thread (setns).
    let own = namespace_id("/proc/thread-self/ns/net")?;
    if namespace_id("/proc/1/ns/net").is_ok_and(|init| init != own) {
        return Ok(());
    }
    let named = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| namespace_id(entry.path()).is_ok_and(|id| id == own));
    if named {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "multicast mode refused: this process is not in a test network namespace (neither one \
         other than PID 1's nor one in /run/netns); run it with `ip netns exec`, or set \
         IGD_SIM_ALLOW_HOST_NETNS=1 if you are sure",
    ))
}

/// A namespace file's identity (device and inode).
#[cfg(unix)]
fn namespace_id(path: impl AsRef<std::path::Path>) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn namespace_id(_path: impl AsRef<std::path::Path>) -> io::Result<(u64, u64)> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "network namespaces are Linux only"))
}

/// An answer waiting for its time.
struct Job {
    due: Instant,
    device: usize,
    to: SocketAddr,
    what: Outgoing,
}

enum Outgoing {
    Datagram(Vec<u8>),
    Flood { st: String, next: u32, flood: Flood, started: Instant },
}

/// A datagram received, with its sender and how it arrived.
type Received = (Vec<u8>, SocketAddr, Arrival);

/// The receiving loop; returns when the simulator stops. Each socket has a reader thread;
/// this one schedules and sends the answers.
pub(crate) fn run(sockets: Vec<(UdpSocket, Arrival)>, devices: Vec<SsdpDevice>, shared: &Shared) {
    let (tx, rx) = mpsc::sync_channel::<Received>(1024);
    std::thread::scope(|scope| {
        for (socket, arrival) in sockets {
            let tx = tx.clone();
            scope.spawn(move || read_loop(&socket, arrival, &tx, shared));
        }
        drop(tx);
        let mut jobs: Vec<Job> = Vec::new();
        while !shared.stopped() {
            let now = Instant::now();
            send_due(&mut jobs, &devices, now, shared);
            let wait = jobs
                .iter()
                .map(|j| j.due.saturating_duration_since(now))
                .min()
                .unwrap_or(SLICE)
                .clamp(Duration::from_millis(1), SLICE);
            match rx.recv_timeout(wait) {
                Ok((bytes, from, arrival)) => on_datagram(&bytes, from, arrival, &devices, &mut jobs, shared),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = shared.sleep(SLICE);
                }
            }
        }
    });
}

/// Reads datagrams from one socket until the simulator stops.
fn read_loop(socket: &UdpSocket, arrival: Arrival, tx: &mpsc::SyncSender<Received>, shared: &Shared) {
    let _ = socket.set_read_timeout(Some(SLICE));
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !shared.stopped() {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if tx.send((buf[..n].to_vec(), from, arrival)).is_err() {
                    return;
                }
            }
            Err(e) if is_transient(&e) => {}
            Err(_) => {
                // A persistent error: don't spin, keep honouring stop.
                shared.sleep(Duration::from_millis(10));
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionReset
    )
}

fn on_datagram(
    bytes: &[u8],
    from: SocketAddr,
    arrival: Arrival,
    devices: &[SsdpDevice],
    jobs: &mut Vec<Job>,
    shared: &Shared,
) {
    let (method, path, headers) = parse_datagram(bytes);
    let st = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("ST")).map(|(_, v)| v.trim().to_string());
    let is_search = method.eq_ignore_ascii_case("M-SEARCH");
    shared.record(RecordedRequest {
        device: None,
        method,
        path,
        headers,
        action: None,
        body: bytes.to_vec(),
        peer: from,
        arrival: Some(arrival),
        at: Instant::now(),
    });
    let Some(st) = st.filter(|st| is_search && !st.is_empty()) else { return };
    let now = Instant::now();
    // A device answers the searches of its own address family (a dual-stack router's
    // IPv4 and IPv6 sides are two devices).
    for (index, device) in devices.iter().enumerate().filter(|(_, d)| d.http_addr.is_ipv4() == from.is_ipv4()) {
        let mut push = |due: Instant, what: Outgoing| {
            let floods = jobs.iter().filter(|j| matches!(j.what, Outgoing::Flood { .. })).count();
            let is_flood = matches!(what, Outgoing::Flood { .. });
            if jobs.len() < MAX_PENDING && (!is_flood || floods < MAX_FLOODS) {
                jobs.push(Job { due, device: index, to: from, what });
            }
        };
        match &device.behavior {
            SsdpBehavior::Silent => {}
            SsdpBehavior::Answer(answer) if answer.silent_to_ssdp_all && st.eq_ignore_ascii_case("ssdp:all") => {}
            SsdpBehavior::Answer(answer) if answer.only_arrivals.is_some_and(|only| only != arrival) => {}
            SsdpBehavior::Answer(answer) => {
                for answered in answer_sts(&answer.targets, &st) {
                    let claimed = answer.fixed_st.clone().unwrap_or(answered);
                    let datagram = answer_datagram(&claimed, &usn(&device.uuid, &claimed), &device.location);
                    for _ in 0..answer.copies {
                        push(now + answer.delay, Outgoing::Datagram(datagram.clone()));
                    }
                }
            }
            SsdpBehavior::Raw(raw) => {
                if raw.answer_to.is_empty() || !answer_sts(&raw.answer_to, &st).is_empty() {
                    for template in &raw.datagrams {
                        push(now + raw.delay, Outgoing::Datagram(fill(template, device, &st)));
                    }
                }
            }
            SsdpBehavior::Flood(flood) => {
                push(now, Outgoing::Flood { st: st.clone(), next: 0, flood: flood.clone(), started: now });
            }
        }
    }
    send_due(jobs, devices, now, shared);
}

/// Sends what is due; keeps the rest.
fn send_due(jobs: &mut Vec<Job>, devices: &[SsdpDevice], now: Instant, shared: &Shared) {
    jobs.retain_mut(|job| {
        if job.due > now || shared.stopped() {
            return !shared.stopped();
        }
        let device = &devices[job.device];
        match &mut job.what {
            Outgoing::Datagram(bytes) => {
                send_unicast(&device.reply, bytes, job.to);
                false
            }
            Outgoing::Flood { st, next, flood, started } => {
                let target = match flood.per_second {
                    None | Some(0) => flood.count,
                    Some(rate) => {
                        let elapsed = now.duration_since(*started).as_secs_f64();
                        ((elapsed * f64::from(rate)) as u64 + 1).min(u64::from(flood.count)) as u32
                    }
                };
                let end = target.min(next.saturating_add(FLOOD_BATCH));
                while *next < end {
                    let n = *next;
                    let usn_uuid = match flood.vary {
                        FloodVary::Usn | FloodVary::Both => format!("{}-{n}", device.uuid),
                        FloodVary::LocationPath => device.uuid.clone(),
                    };
                    let location = match flood.vary {
                        FloodVary::LocationPath | FloodVary::Both => {
                            format!("http://{}/flood/{n}/rootDesc.xml", host_port(device.http_addr))
                        }
                        FloodVary::Usn => device.location.clone(),
                    };
                    send_unicast(&device.reply, &answer_datagram(st, &usn(&usn_uuid, st), &location), job.to);
                    *next += 1;
                }
                if *next >= flood.count {
                    return false;
                }
                job.due = match flood.per_second {
                    Some(rate) if rate > 0 => *started + Duration::from_secs_f64(f64::from(*next) / f64::from(rate)),
                    _ => now,
                };
                true
            }
        }
    });
}

/// Sends one datagram by unicast. Never to a multicast, broadcast or unspecified
/// address, whatever the sender claimed to be.
fn send_unicast(socket: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    let forbidden = match to.ip() {
        IpAddr::V4(ip) => ip.is_multicast() || ip.is_broadcast() || ip.is_unspecified(),
        IpAddr::V6(ip) => ip.is_multicast() || ip.is_unspecified(),
    };
    if forbidden || to.port() == 0 {
        return;
    }
    // A refused or dropped answer is the searcher's problem, as on a real network.
    let _ = socket.send_to(bytes, to);
    // Keep the per-socket error queue from reporting old ICMP errors on later sends.
    let _ = socket.take_error();
}

/// The STs a device with these targets answers a search for `asked` with.
pub(crate) fn answer_sts(targets: &[String], asked: &str) -> Vec<String> {
    if targets.is_empty() {
        return vec![if asked.eq_ignore_ascii_case("ssdp:all") {
            "upnp:rootdevice".to_string()
        } else {
            asked.to_string()
        }];
    }
    if asked.eq_ignore_ascii_case("ssdp:all") {
        return targets.to_vec();
    }
    if targets.iter().any(|t| target_matches(t, asked)) { vec![asked.to_string()] } else { Vec::new() }
}

/// Whether a device with target `target` answers a search for `asked`: the same (ASCII
/// case-insensitive), or the same URN type with a version no higher.
fn target_matches(target: &str, asked: &str) -> bool {
    if target.eq_ignore_ascii_case(asked) {
        return true;
    }
    let split = |s: &str| -> Option<(String, u32)> {
        let (head, version) = s.rsplit_once(':')?;
        let version = version.parse().ok()?;
        s.get(..4).filter(|p| p.eq_ignore_ascii_case("urn:"))?;
        Some((head.to_ascii_lowercase(), version))
    };
    match (split(target), split(asked)) {
        (Some((t, tv)), Some((a, av))) => t == a && av >= 1 && av <= tv,
        _ => false,
    }
}

fn usn(uuid: &str, st: &str) -> String {
    format!("uuid:{uuid}::{st}")
}

/// A miniupnpd-shaped answer.
fn answer_datagram(st: &str, usn: &str, location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: {st}\r\nUSN: {usn}\r\nEXT:\r\nSERVER: {SERVER}\r\n\
         LOCATION: {location}\r\nOPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n01-NLS: 1\r\n\
         BOOTID.UPNP.ORG: 1\r\nCONFIGID.UPNP.ORG: 1337\r\n\r\n"
    )
    .into_bytes()
}

/// A template with its placeholders replaced.
fn fill(template: &[u8], device: &SsdpDevice, st: &str) -> Vec<u8> {
    let ip = device.http_addr.ip().to_string();
    let mut out = template.to_vec();
    for (key, value) in [
        ("{LOCATION}", device.location.clone()),
        ("{ST}", st.to_string()),
        ("{USN}", usn(&device.uuid, st)),
        ("{UUID}", device.uuid.clone()),
        ("{IP}", ip),
        ("{HOSTPORT}", host_port(device.http_addr)),
        ("{PORT}", device.http_addr.port().to_string()),
    ] {
        out = replace(&out, key.as_bytes(), value.as_bytes());
    }
    out
}

/// A datagram's first word, second word and headers (lossy on invalid UTF-8).
fn parse_datagram(bytes: &[u8]) -> (String, String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut first = lines.next().unwrap_or("").split_ascii_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    (method, path, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_lower_versions_and_ssdp_all() {
        let targets = crate::IgdVersion::V2.search_targets();
        let igd1 = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
        assert_eq!(answer_sts(&targets, igd1), vec![igd1.to_string()]);
        assert_eq!(answer_sts(&targets, "URN:schemas-upnp-org:service:WANIPConnection:2").len(), 1);
        assert!(answer_sts(&targets, "urn:schemas-upnp-org:service:WANIPConnection:3").is_empty());
        assert!(answer_sts(&targets, "urn:schemas-upnp-org:service:WANPPPConnection:1").is_empty());
        assert_eq!(answer_sts(&targets, "ssdp:all"), targets);
        assert_eq!(answer_sts(&[], "ssdp:all"), vec!["upnp:rootdevice".to_string()]);
        assert_eq!(answer_sts(&[], "x:y"), vec!["x:y".to_string()]);
    }

    #[test]
    fn datagrams_parse_leniently() {
        let (m, p, h) = parse_datagram(b"M-SEARCH * HTTP/1.1\r\nST: a:b\nMAN:\"ssdp:discover\"\r\n\r\nX: y");
        assert_eq!((m.as_str(), p.as_str()), ("M-SEARCH", "*"));
        assert_eq!(h, vec![("ST".into(), "a:b".into()), ("MAN".into(), "\"ssdp:discover\"".into())]);
    }
}
