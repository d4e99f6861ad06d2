//! The SSDP socket: where M-SEARCH requests go out and answers come back. Without a
//! named interface a search goes to the group on every LAN interface (see
//! [`interfaces::search_order`]) and, unicast, to each interface's gateway: some routers
//! answer only one of the two. A named IPv4 interface gets the group and, unicast, its
//! own gateway (a router answering only unicast is found there too; no other interface
//! is searched). IPv6 searches go to the groups only.
//!
//! The unicast searches go out from a second socket of their own (when the source port is
//! the system's choice): only the gateways answer there, so a LAN device answering the
//! group thousands of times cannot overflow the buffer the router's answer arrives in.

use crate::error::Error;
use crate::net::interfaces::{self, LanInterface};
use crate::protocol::quoted;
use crate::protocol::ssdp::{self, GROUP_V4, GROUP_V6_LINK, GROUP_V6_SITE, SSDP_PORT};
use crate::protocol::url::OwnAddress;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::time::Instant;

/// How the search socket is set up; mirrors the engine's discovery properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketConfig {
    /// Search over IPv6 (`ff05::c`, then `ff02::c`) instead of IPv4.
    pub ipv6: bool,
    /// Multicast TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Source port: 0 lets the system choose, 1 means 1900, anything else is used as is.
    pub local_port: u16,
    /// Interface for multicast, by name (`eth0`) or by one of its addresses. With an
    /// IPv4 address the socket is also bound to it, as miniupnpc does.
    pub multicast_if: Option<String>,
    /// Send the searches to this address instead of the multicast groups (tests point
    /// discovery at a simulator on 127.0.0.1 this way).
    pub unicast_target: Option<SocketAddr>,
}

/// The UDP sockets set up for M-SEARCH, with their destinations.
#[derive(Debug)]
pub struct SearchSocket {
    socket: UdpSocket,
    /// For the searches sent by unicast to gateways (`None`: they use `socket`).
    gateway_socket: Option<UdpSocket>,
    /// Where each search goes.
    destinations: Vec<Destination>,
}

/// One destination of every search.
#[derive(Clone, Debug)]
struct Destination {
    to: SocketAddr,
    /// The `HOST` header for it.
    host: String,
    /// The interface (by its IPv4 address) multicast leaves by, when not the system's choice.
    via: Option<Ipv4Addr>,
    /// A gateway by unicast (sent from the gateway socket when there is one).
    gateway: bool,
}

/// Receive buffer asked for: about 3,000 typical answers.
const RECEIVE_BUFFER: usize = 1 << 20;

impl SearchSocket {
    /// Opens and configures the socket.
    pub fn open(config: &SocketConfig) -> Result<Self, Error> {
        let ipv6 = match config.unicast_target {
            Some(target) => target.is_ipv6(),
            None => config.ipv6,
        };
        let socket = Socket::new(if ipv6 { Domain::IPV6 } else { Domain::IPV4 }, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| socket_error("cannot open a UDP socket", e))?;
        socket.set_reuse_address(true).map_err(|e| socket_error("cannot set SO_REUSEADDR", e))?;
        // Room for a burst of answers (a device answering thousands of times must not
        // make the kernel drop the router's answer); best effort: Linux caps it at
        // net.core.rmem_max.
        let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
        let port = match config.local_port {
            1 => SSDP_PORT,
            p => p,
        };
        let interface = match &config.multicast_if {
            Some(name) if !name.is_empty() => Some(resolve_interface(name, ipv6)?),
            _ => None,
        };

        let bind_addr: SocketAddr = if ipv6 {
            socket.set_only_v6(true).map_err(|e| socket_error("cannot make the socket IPv6-only", e))?;
            // A failed hop limit is not fatal (miniupnpc ignores it too).
            let _ = socket.set_multicast_hops_v6(u32::from(config.ttl));
            if let Some(Interface::V6 { index }) = interface {
                socket
                    .set_multicast_if_v6(index)
                    .map_err(|e| socket_error("cannot select the multicast interface", e))?;
            }
            SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0).into()
        } else {
            let _ = socket.set_multicast_ttl_v4(u32::from(config.ttl));
            let mut bind_ip = Ipv4Addr::UNSPECIFIED;
            if let Some(Interface::V4 { address, bind }) = interface {
                socket
                    .set_multicast_if_v4(&address)
                    .map_err(|e| socket_error("cannot select the multicast interface", e))?;
                if bind {
                    bind_ip = address;
                }
            }
            SocketAddrV4::new(bind_ip, port).into()
        };
        let bind_ip = bind_addr.ip();
        socket
            .bind(&bind_addr.into())
            .map_err(|e| socket_error(&format!("cannot bind the search socket to {bind_addr}"), e))?;

        let destinations = match (config.unicast_target, interface) {
            (Some(target), _) if target.is_ipv6() => vec![Destination::to(target, ssdp::host_header_v6(GROUP_V6_LINK))],
            (Some(target), _) => vec![Destination::to(target, ssdp::host_header_v4())],
            (None, Some(Interface::V6 { index })) => v6_groups(index),
            (None, Some(Interface::V4 { address, .. })) => {
                let gateway =
                    interfaces::list().into_iter().find(|i| i.ipv4.contains(&address)).and_then(|i| i.gateway_v4);
                std::iter::once(v4_group(None)).chain(gateway.map(unicast_v4)).collect()
            }
            (None, None) => every_interface(&interfaces::search_order(interfaces::list(), ipv6), ipv6),
        };
        // A chosen source port stays the only one (the engine's discover_local_port).
        let gateway_socket = match destinations.iter().any(|d| d.gateway) && port == 0 {
            true => Some(
                UdpSocket::bind(SocketAddr::new(bind_ip, 0))
                    .map_err(|e| socket_error("cannot open the gateway search socket", e))?,
            ),
            false => None,
        };
        Ok(SearchSocket { socket: socket.into(), gateway_socket, destinations })
    }

    /// Sends one M-SEARCH for `st` to every destination. Fails only when no destination
    /// could be reached at all.
    pub fn send_search(&self, st: &str, mx: u64) -> Result<(), Error> {
        let mut last_error = None;
        let mut sent = 0;
        for destination in &self.destinations {
            let request = ssdp::build_msearch(&destination.host, st, mx);
            let sending = match destination.via {
                Some(address) => socket2::SockRef::from(&self.socket).set_multicast_if_v4(&address),
                None => Ok(()),
            };
            let socket = match (&self.gateway_socket, destination.gateway) {
                (Some(gateway_socket), true) => gateway_socket,
                _ => &self.socket,
            };
            match sending.and_then(|()| socket.send_to(request.as_bytes(), destination.to)) {
                Ok(_) => sent += 1,
                Err(e) => last_error = Some((destination.to, e)),
            }
        }
        match (sent, last_error) {
            (0, Some((destination, e))) => {
                let hint = send_error_hint(&e);
                Err(socket_error(&format!("cannot send the search to {destination}{hint}"), e))
            }
            _ => Ok(()),
        }
    }

    /// A handle on each socket answers arrive on, for receiving threads.
    pub fn receivers(&self) -> Result<Vec<Receiving>, Error> {
        std::iter::once(&self.socket)
            .chain(&self.gateway_socket)
            .map(|s| s.try_clone().map(Receiving).map_err(|e| socket_error("cannot clone the socket", e)))
            .collect()
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }
}

/// One socket the answers arrive on (see [`SearchSocket::receivers`]).
#[derive(Debug)]
pub struct Receiving(UdpSocket);

impl Receiving {
    /// Waits for the next datagram until `deadline`; `Ok(None)` when the time is up.
    pub fn receive(&self, buf: &mut [u8], deadline: Instant) -> io::Result<Option<(usize, SocketAddr)>> {
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            self.0.set_read_timeout(Some(remaining))?;
            match self.0.recv_from(buf) {
                Ok(got) => return Ok(Some(got)),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
                // Windows reports an earlier ICMP "port unreachable" on the next receive.
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Destination {
    fn to(to: SocketAddr, host: String) -> Destination {
        Destination { to, host, via: None, gateway: false }
    }
}

/// The IPv4 group, left by the interface with `via` (or the system's choice).
fn v4_group(via: Option<Ipv4Addr>) -> Destination {
    Destination { to: SocketAddrV4::new(GROUP_V4, SSDP_PORT).into(), host: ssdp::host_header_v4(), via, gateway: false }
}

/// The site- and link-local IPv6 groups on the interface with index `scope` (0: the
/// system's choice).
fn v6_groups(scope: u32) -> Vec<Destination> {
    [GROUP_V6_SITE, GROUP_V6_LINK]
        .into_iter()
        .map(|group| Destination::to(SocketAddrV6::new(group, SSDP_PORT, 0, scope).into(), ssdp::host_header_v6(group)))
        .collect()
}

/// The group on each interface (IPv4: by its first routable address; IPv6: by index),
/// then, for IPv4, each interface's gateway by unicast. No interface listed: the system's
/// choice, as before.
fn every_interface(chosen: &[LanInterface], ipv6: bool) -> Vec<Destination> {
    if ipv6 {
        return match chosen.is_empty() {
            true => v6_groups(0),
            false => chosen.iter().flat_map(|i| v6_groups(i.index)).collect(),
        };
    }
    let mut destinations: Vec<Destination> = chosen
        .iter()
        .filter_map(|i| i.ipv4.iter().copied().find(|a| !a.is_link_local()))
        .map(|address| v4_group(Some(address)))
        .collect();
    if destinations.is_empty() {
        destinations.push(v4_group(None));
    }
    let mut gateways: Vec<Ipv4Addr> = chosen.iter().filter_map(|i| i.gateway_v4).collect();
    gateways.dedup();
    destinations.extend(gateways.into_iter().map(unicast_v4));
    destinations
}

/// A router by unicast (port 1900). Some routers answer only that (Tailscale sends it
/// first, ahead of the group: tailscale/tailscale `net/portmapper/portmapper.go`).
fn unicast_v4(router: Ipv4Addr) -> Destination {
    Destination {
        gateway: true,
        ..Destination::to(SocketAddrV4::new(router, SSDP_PORT).into(), ssdp::host_header_v4())
    }
}

/// What to add to a failed send's message. The error kind, not a raw code: ENETUNREACH
/// is 101 on Linux and Android but 51 on macOS and the BSDs, WSAENETUNREACH 10051.
fn send_error_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::NetworkUnreachable {
        " (no route for multicast here: choose the network interface explicitly)"
    } else {
        ""
    }
}

#[derive(Clone, Copy, Debug)]
enum Interface {
    V4 { address: Ipv4Addr, bind: bool },
    V6 { index: u32 },
}

/// Turns `discover_multicast_if` (a name or an address) into what the socket needs.
fn resolve_interface(name_or_address: &str, ipv6: bool) -> Result<Interface, Error> {
    let interfaces = if_addrs::get_if_addrs().map_err(interface_list_error)?;
    let by_address = name_or_address.parse::<IpAddr>().ok();
    let matches = |i: &&if_addrs::Interface| match by_address {
        Some(ip) => i.ip() == ip,
        None => i.name == name_or_address,
    };
    let found: Vec<&if_addrs::Interface> = interfaces.iter().filter(matches).collect();
    if found.is_empty() {
        return Err(Error::Socket(match by_address {
            Some(ip) => format!("no network interface has the address {ip}"),
            None => format!("no network interface is named {}", quoted(name_or_address)),
        }));
    }
    if ipv6 {
        // The index is what IPv6 multicast needs; any address of the interface gives it.
        let index = found.iter().find_map(|i| i.index).ok_or_else(|| {
            Error::Socket(format!("the interface {} has no index for IPv6 multicast", quoted(name_or_address)))
        })?;
        return Ok(Interface::V6 { index });
    }
    let address = found
        .iter()
        .find_map(|i| match i.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .ok_or_else(|| Error::Socket(format!("the interface {} has no IPv4 address", quoted(name_or_address))))?;
    Ok(Interface::V4 { address, bind: by_address.is_some() })
}

/// This host's IPv6 addresses on the interface with index `scope` (the scope of a
/// link-local sender: the interface its datagram arrived on), for
/// [`location_allowed`](crate::protocol::url::location_allowed). Empty when the scope is
/// 0 (unknown) or the interfaces cannot be listed: the exception then grants nothing.
pub fn own_addresses_on(scope: u32) -> Vec<OwnAddress> {
    if scope == 0 {
        return Vec::new();
    }
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    interfaces
        .iter()
        .filter(|i| i.index == Some(scope))
        .filter_map(|i| match &i.addr {
            if_addrs::IfAddr::V6(v6) => Some(OwnAddress { ip: v6.ip, prefix_len: v6.prefixlen }),
            if_addrs::IfAddr::V4(_) => None,
        })
        .collect()
}

/// if-addrs 0.15 reports a failed `GetAdaptersAddresses` on Windows as
/// `last_os_error()`, which that call does not set: "Success (os error 0)". Code 0 is
/// never a failure, so it is replaced by what is known.
fn interface_list_error(e: io::Error) -> Error {
    if e.raw_os_error() == Some(0) {
        Error::Socket("cannot list the network interfaces: the system's list failed (its code is lost)".into())
    } else {
        socket_error("cannot list the network interfaces", e)
    }
}

fn socket_error(what: &str, e: io::Error) -> Error {
    Error::Socket(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_no_route_hint_follows_the_error_kind_on_every_platform() {
        // From the platform's own code (Linux 101, macOS 51, Windows 10051 all decode to
        // this kind), and from the kind alone.
        assert!(send_error_hint(&io::Error::from(io::ErrorKind::NetworkUnreachable)).contains("no route"));
        #[cfg(target_os = "linux")]
        assert!(send_error_hint(&io::Error::from_raw_os_error(101)).contains("no route"));
        #[cfg(target_os = "macos")]
        assert!(send_error_hint(&io::Error::from_raw_os_error(51)).contains("no route"));
        #[cfg(windows)]
        assert!(send_error_hint(&io::Error::from_raw_os_error(10051)).contains("no route"));
        assert_eq!(send_error_hint(&io::Error::from(io::ErrorKind::ConnectionRefused)), "");
    }

    #[test]
    fn a_lost_interface_list_error_code_is_not_reported_as_success() {
        let lost = interface_list_error(io::Error::from_raw_os_error(0)).to_string();
        assert!(!lost.contains("os error 0"), "{lost}");
        assert!(lost.contains("cannot list the network interfaces"), "{lost}");
        let real = interface_list_error(io::Error::from(io::ErrorKind::PermissionDenied)).to_string();
        assert!(real.contains("permission denied"), "{real}");
    }
}
