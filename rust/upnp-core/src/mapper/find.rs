//! Finding the gateway: the remembered description URL, SSDP and a NAT-PMP/PCP probe of
//! the default gateway race; the first usable UPnP answer wins, and NAT-PMP/PCP is taken
//! when no UPnP gateway answers within [`UPNP_GRACE`] of it (or at all).

use super::policy::{Found, FoundPinholes, MAX_PINHOLE_ADDRESSES, PinholeRoute};
use crate::device::Device;
use crate::discover::{self, DiscoverOptions};
use crate::firewall::Firewall;
use crate::gateway::ACTION_TIMEOUT;
use crate::net::interfaces;
use crate::pmp;
use crate::protocol::pinhole;
use crate::protocol::url::HttpUrl;
use std::net::{IpAddr, Ipv4Addr};
use std::thread;
use std::time::{Duration, Instant};

/// How long SSDP waits for the remembered description URL to answer (it starts at once
/// when that fails): a known router is mapped in about 60 ms, a moved one costs this.
const WARM_HEAD_START: Duration = Duration::from_millis(100);
/// When NAT-PMP/PCP answered first, how much longer a UPnP answer is awaited: UPnP is
/// preferred (the engine's own protocol, and the router lists its mappings), but a
/// router without UPnP must not cost the whole discovery timeout.
const UPNP_GRACE: Duration = Duration::from_millis(300);

/// What finding needs, and the URL it learns for next time.
pub struct Finder {
    /// Discovery settings; the timeout bounds the whole search.
    pub options: DiscoverOptions,
    /// The description URL that worked last (tried at once).
    pub warm_url: Option<String>,
    /// Whether to probe NAT-PMP/PCP.
    pub allow_nat_pmp: bool,
    /// The NAT-PMP/PCP server to probe (`None`: the default gateway).
    pub pmp_server: Option<Ipv4Addr>,
}

/// One racer's answer.
enum Answer {
    Upnp(Option<Found>),
    Pmp(Option<Found>),
}

impl Finder {
    /// Runs the race; `None` when nothing usable answered by the discovery timeout.
    pub fn find(&mut self) -> Option<Found> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let timeout = self.options.timeout;
        let mut upnp_racers = 1;
        // SSDP waits for the remembered URL (at most WARM_HEAD_START): a router busy
        // answering a search serves the description and SOAP calls more slowly.
        let (warm_tx, warm_rx) = crossbeam_channel::bounded(1);
        if let Some(url) = self.warm_url.clone().filter(|u| !u.is_empty()) {
            upnp_racers += 1;
            let tx = tx.clone();
            thread::spawn(move || {
                let found = discover::device_from_url(&url, timeout).ok().and_then(upnp_found);
                let _ = warm_tx.send(found.is_some());
                let _ = tx.send(Answer::Upnp(found));
            });
        } else {
            drop(warm_tx);
        }
        let mut pmp_pending = self.allow_nat_pmp;
        if pmp_pending {
            let (tx, servers) = (tx.clone(), self.pmp_servers());
            thread::spawn(move || {
                let _ = tx.send(Answer::Pmp(probe_first(&servers, Instant::now() + timeout)));
            });
        }
        let options = self.options.clone();
        thread::spawn(move || {
            if warm_rx.recv_timeout(WARM_HEAD_START) == Ok(true) {
                let _ = tx.send(Answer::Upnp(None));
                return;
            }
            let found = discover::find_gateway(&options).ok().and_then(|found| upnp_found(found.gateway()?.clone()));
            let _ = tx.send(Answer::Upnp(found));
        });
        // Every racer ends by the discovery timeout; a little slack for its last reply.
        let mut deadline = Instant::now() + timeout + Duration::from_millis(500);
        let mut pmp = None;
        while upnp_racers > 0 || pmp_pending {
            match rx.recv_deadline(deadline) {
                Ok(Answer::Upnp(Some(found))) => {
                    if let Found::Upnp { description_url, .. } = &found {
                        // A later rediscovery (the router rebooted) tries this URL at once too.
                        self.warm_url = Some(description_url.clone());
                    }
                    return Some(found);
                }
                Ok(Answer::Upnp(None)) => upnp_racers -= 1,
                Ok(Answer::Pmp(found)) => {
                    pmp_pending = false;
                    if found.is_some() {
                        deadline = deadline.min(Instant::now() + UPNP_GRACE);
                        pmp = found;
                    }
                }
                Err(_) => break,
            }
        }
        pmp
    }
}

impl Finder {
    /// Where to probe NAT-PMP/PCP: the server named, else every LAN interface's gateway
    /// (the default route's first): a VPN holding the default route must not hide the
    /// router.
    fn pmp_servers(&self) -> Vec<Ipv4Addr> {
        if let Some(server) = self.pmp_server {
            return vec![server];
        }
        let mut servers: Vec<Ipv4Addr> = pmp::default_gateway().into_iter().collect();
        for gateway in interfaces::search_order(interfaces::list(), false).into_iter().filter_map(|i| i.gateway_v4) {
            if !servers.contains(&gateway) {
                servers.push(gateway);
            }
        }
        servers
    }
}

/// The UPnP gateway `device` is, when it is a usable one. A link-local description URL
/// is remembered with its interface as an RFC 6874 zone: the device sends none
/// (home-assistant/core#71418), discovery learnt it from the SSDP answer and gave it to
/// the control URL on the same host, and a warm start cannot reach an `fe80::` host
/// without it. The device's own text is still parsed without zones.
fn upnp_found(device: Device) -> Option<Found> {
    if !device.is_valid_gateway() {
        return None;
    }
    let gateway = device.gateway?;
    let control = gateway.control_url();
    let description_url = match HttpUrl::parse(&device.description_url) {
        Ok(url) if control.scope() != 0 && url.ip() == control.ip() => url.with_scope(control.scope()).to_string(),
        _ => device.description_url,
    };
    Some(Found::Upnp { gateway, description_url, external_address: device.external_address })
}

/// Probes every server at once; the earliest answer wins (each probe ends by `deadline`).
fn probe_first(servers: &[Ipv4Addr], deadline: Instant) -> Option<Found> {
    let (tx, rx) = crossbeam_channel::bounded(servers.len().max(1));
    for &server in servers {
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send(probe_pmp(server, deadline));
        });
    }
    drop(tx);
    rx.iter().flatten().next()
}

/// How the router lets IPv6 in, and this host's IPv6 addresses a player could reach
/// (none: nothing is searched). An IPv6 search finds the router (its URLs then lead over
/// IPv6, as a router in secure mode requires of pinhole requests); its
/// WANIPv6FirewallControl service and that service's status are asked for. Without the
/// service PCP is to be tried at the router's IPv6 address, or at the IPv6 default
/// gateway when no router answered the search (a link-local gateway is not tried: the
/// PCP socket carries no interface).
pub fn find_pinholes(options: &DiscoverOptions) -> FoundPinholes {
    let list = interfaces::list();
    let mut addresses = pinhole::reachable_addresses(
        list.iter().filter(|i| i.usable && !i.loopback).flat_map(|i| i.ipv6.iter().copied()),
    );
    addresses.truncate(MAX_PINHOLE_ADDRESSES);
    if addresses.is_empty() {
        return FoundPinholes::nothing();
    }
    let mut v6 = options.clone();
    v6.socket.ipv6 = true;
    let url = discover::find_gateway(&v6).ok().and_then(|found| Some(found.gateway()?.description_url.clone()));
    let mut pcp_server = None;
    if let Some(url) = url {
        let deadline = Instant::now() + ACTION_TIMEOUT;
        if let Ok(firewall) = Firewall::find(&url, deadline)
            && let Ok(status) = firewall.status(deadline)
        {
            return FoundPinholes { route: PinholeRoute::Upnp { firewall, status }, addresses };
        }
        pcp_server = match HttpUrl::parse_with_zone(&url).ok().and_then(|u| u.ip()) {
            Some(IpAddr::V6(router)) if pinhole::is_reachable_address(router) => Some(router),
            _ => None,
        };
    }
    let route = pcp_server
        .or_else(|| list.iter().filter_map(|i| i.gateway_v6).find(|g| pinhole::is_reachable_address(*g)))
        .map_or(PinholeRoute::None, PinholeRoute::Pcp);
    FoundPinholes { route, addresses }
}

/// Whether NAT-PMP/PCP answers at `server` (a refusal, or a PCP-only server's answer,
/// still shows that it speaks the protocol), and the external address it reports.
fn probe_pmp(server: Ipv4Addr, deadline: Instant) -> Option<Found> {
    let probe = pmp::probe(server, deadline).ok()?;
    Some(Found::Pmp { server, external_address: probe.external_address })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Gateway;
    use crate::protocol::result::IgdStatus;

    const SERVICE: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";

    /// A usable gateway described at `description_url`, controlled at `control_url`.
    fn device(description_url: &str, control_url: &str) -> Device {
        Device {
            description_url: description_url.into(),
            service_type: String::new(),
            usn: String::new(),
            status: IgdStatus::Ok,
            gateway: Some(Gateway::new(control_url, SERVICE, "fe80::2").expect("a control URL")),
            external_address: Some("11.22.33.44".into()),
            friendly_name: String::new(),
            note: String::new(),
        }
    }

    fn remembered(device: Device) -> String {
        match upnp_found(device) {
            Some(Found::Upnp { description_url, .. }) => description_url,
            other => panic!("not a UPnP gateway: {other:?}"),
        }
    }

    /// A FRITZ!Box names its `fe80::` address without a zone (home-assistant/core#71418);
    /// discovery learnt the interface from its answer (the control URL carries it). The
    /// URL remembered for a warm start must carry it too, or the warm start cannot reach
    /// the router (before: remembered as sent, `http://[fe80::1]:49000/igddesc.xml`).
    #[test]
    fn a_link_local_gateway_is_remembered_with_its_interface() {
        let found =
            device("http://[fe80::1]:49000/igddesc.xml", "http://[fe80::1%252]:49000/igdupnp/control/WANIPConn1");
        let url = remembered(found);
        assert_eq!(url, "http://[fe80::1%252]:49000/igddesc.xml");
        assert_eq!(HttpUrl::parse_with_zone(&url).map(|u| u.scope()), Ok(2), "a warm start reads it back");
    }

    /// Other URLs are remembered as the device sent them, and a remembered URL that
    /// worked (already with its zone) stays as it is.
    #[test]
    fn other_gateways_are_remembered_as_sent() {
        let v4 = "http://10.77.0.1:80/rootDesc.xml";
        assert_eq!(remembered(device(v4, "http://10.77.0.1:5000/ctl/IPConn")), v4);
        let global = "http://[fd77::1]:5000/rootDesc.xml";
        assert_eq!(remembered(device(global, "http://[fd77::1]:5000/ctl/IPConn")), global);
        let warm = "http://[fe80::1%252]:49000/igddesc.xml";
        assert_eq!(remembered(device(warm, "http://[fe80::1%252]:49000/ctl")), warm);
        let unusable = Device { status: IgdStatus::Disconnected, ..device(v4, "http://10.77.0.1:5000/ctl") };
        assert!(upnp_found(unusable).is_none());
    }
}
