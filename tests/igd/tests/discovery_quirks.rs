//! Discovery quirks of real routers (`igd_sim::profiles`, each citing its source), end to
//! end with real multicast: a router namespace running igd-sim in multicast mode and a
//! client namespace running `upnp_core` discovery, joined by a veth pair (namespaces
//! `dq-<test>-r` and `dq-<test>-c`). Each side runs on a thread moved into its namespace
//! (`setns`); threads it starts stay there. Nothing is sent from the host's namespace: the
//! simulator is also stopped inside the router namespace.

use igd_sim::profiles;
use igd_sim::{Arrival, SimConfig, Simulator, SsdpMode};
use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};
use upnp_core::engine::DeviceRecord;
use upnp_core::{DiscoverOptions, SocketConfig, find_gateway};

const TIMEOUT: Duration = Duration::from_secs(2);
const ROUTER_V4: [u8; 4] = [10, 91, 0, 1];

/// Two namespaces joined by a veth pair: the router's `lan0` (10.91.0.1/24,
/// 02:91:00:00:00:01) and the client's `c0` (10.91.0.2/24, 02:91:00:00:00:02, default
/// route via the router). Fixed MACs give fixed link-local addresses. Removed on drop.
struct Lan {
    router: String,
    client: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn ip_output(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Lan {
    fn up(name: &str) -> Lan {
        let lan = Lan { router: format!("dq-{name}-r"), client: format!("dq-{name}-c") };
        lan.remove();
        for ns in [&lan.router, &lan.client] {
            ip(&["netns", "add", ns]);
            // No duplicate address detection: addresses are usable at once.
            ip(&["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
            ip(&["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["-n", &lan.router, "link", "add", "lan0", "address", "02:91:00:00:00:01", "type", "veth"]
            .into_iter()
            .chain(["peer", "name", "c0", "address", "02:91:00:00:00:02", "netns", &lan.client])
            .collect::<Vec<_>>());
        lan
    }

    /// Brings the link up with its addresses; returns the router's link-local address
    /// and lan0's index (its scope in the router namespace).
    fn link(&self) -> (Ipv6Addr, u32) {
        ip(&["-n", &self.router, "addr", "add", "10.91.0.1/24", "dev", "lan0"]);
        ip(&["-n", &self.router, "link", "set", "lan0", "up"]);
        ip(&["-n", &self.client, "addr", "add", "10.91.0.2/24", "dev", "c0"]);
        ip(&["-n", &self.client, "link", "set", "c0", "up"]);
        ip(&["-n", &self.client, "route", "add", "default", "via", "10.91.0.1"]);
        let end = Instant::now() + Duration::from_secs(3);
        loop {
            let router = link_local(&self.router, "lan0");
            if let (Some(address), Some(_)) = (router, link_local(&self.client, "c0")) {
                let index = ip_output(&["-n", &self.router, "-o", "link", "show", "lan0"]);
                let index = index.split(':').next().unwrap().trim().parse().expect("lan0's index");
                return (address, index);
            }
            assert!(Instant::now() < end, "no link-local addresses after 3 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn remove(&self) {
        for ns in [&self.router, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `dev`'s link-local address in `ns`, once it has one.
fn link_local(ns: &str, dev: &str) -> Option<Ipv6Addr> {
    let text = ip_output(&["-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link"]);
    let mut words = text.split_whitespace().skip_while(|w| *w != "inet6");
    words.nth(1)?.split('/').next()?.parse().ok()
}

/// Runs `f` on a thread moved into the network namespace `ns`.
fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let joined = scope
            .spawn(|| {
                let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("the namespace exists");
                // SAFETY: setns on a valid descriptor; it moves only this thread.
                #[allow(unsafe_code)]
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
                f()
            })
            .join();
        joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A simulator started, and stopped, inside the router namespace.
struct RouterSim {
    sim: Option<Simulator>,
    ns: String,
}

impl RouterSim {
    fn start(lan: &Lan, config: SimConfig) -> RouterSim {
        let sim = in_namespace(&lan.router, || Simulator::start(config)).expect("the simulator starts");
        RouterSim { sim: Some(sim), ns: lan.router.clone() }
    }

    fn sim(&self) -> &Simulator {
        self.sim.as_ref().expect("running")
    }

    /// How the searches received so far arrived.
    fn arrivals(&self) -> Vec<Arrival> {
        self.sim().requests().iter().filter(|r| r.is_search()).filter_map(|r| r.arrival).collect()
    }
}

impl Drop for RouterSim {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            in_namespace(&self.ns, move || sim.stop());
        }
    }
}

fn multicast_v4(devices: Vec<igd_sim::DeviceSpec>) -> SimConfig {
    SimConfig { ssdp: SsdpMode::Multicast { interface: "lan0".into(), ipv6: false }, devices }
}

fn options(socket: SocketConfig) -> DiscoverOptions {
    DiscoverOptions { timeout: TIMEOUT, filter: upnp_core::protocol::ssdp::DEFAULT_FILTER.into(), socket }
}

/// `find_gateway` in the client namespace; the gateway's description URL.
fn found(lan: &Lan, socket: SocketConfig) -> Option<String> {
    let options = options(SocketConfig { ttl: 2, ..socket });
    let discovery = in_namespace(&lan.client, || find_gateway(&options)).expect("the search is sent");
    println!("found in {:?}: {:?}", discovery.elapsed, discovery.devices);
    discovery.gateway().map(|d| d.description_url.clone())
}

/// A router answering only multicast (tailscale/tailscale#3197) is found with no
/// interface named, and with one named.
#[test]
fn a_router_answering_only_multicast_is_found() {
    let lan = Lan::up("mc");
    lan.link();
    let router = RouterSim::start(&lan, multicast_v4(vec![profiles::answers_only_multicast(IpAddr::from(ROUTER_V4))]));
    assert_eq!(found(&lan, SocketConfig::default()), Some(router.sim().location(0)));
    let arrivals = router.arrivals();
    assert!(arrivals.contains(&Arrival::Multicast) && arrivals.contains(&Arrival::Unicast), "{arrivals:?}");
    // The unicast search comes from a socket of its own: a device flooding answers to the
    // group search's source port cannot fill the buffer the gateway's answer arrives in.
    let ports = |how: Arrival| -> Vec<u16> {
        let requests = router.sim().requests();
        let mut ports: Vec<u16> =
            requests.iter().filter(|r| r.is_search() && r.arrival == Some(how)).map(|r| r.peer.port()).collect();
        ports.dedup();
        ports
    };
    let (group, unicast) = (ports(Arrival::Multicast), ports(Arrival::Unicast));
    assert!(group.len() == 1 && unicast.len() == 1 && group != unicast, "group {group:?}, unicast {unicast:?}");
    // A chosen source port (the engine's discover_local_port) stays the only one.
    router.sim().clear_requests();
    let chosen = SocketConfig { local_port: 41999, ..SocketConfig::default() };
    assert_eq!(found(&lan, chosen), Some(router.sim().location(0)));
    assert_eq!((ports(Arrival::Multicast), ports(Arrival::Unicast)), (vec![41999], vec![41999]));
    let named = SocketConfig { multicast_if: Some("c0".into()), ..SocketConfig::default() };
    assert_eq!(found(&lan, named), Some(router.sim().location(0)));
}

/// A router answering only unicast searches (multicast broken on its LAN): found with no
/// interface named, and, since the named interface's gateway gets the search too, with
/// one named (before: only the group was searched then, and nothing was found).
#[test]
fn a_router_answering_only_unicast_is_found() {
    let lan = Lan::up("uc");
    lan.link();
    let router = RouterSim::start(&lan, multicast_v4(vec![profiles::answers_only_unicast(IpAddr::from(ROUTER_V4))]));
    assert_eq!(found(&lan, SocketConfig::default()), Some(router.sim().location(0)));
    for named in ["c0", "10.91.0.2"] {
        router.sim().clear_requests();
        let config = SocketConfig { multicast_if: Some(named.into()), ..SocketConfig::default() };
        assert_eq!(found(&lan, config), Some(router.sim().location(0)), "named {named}");
        let arrivals = router.arrivals();
        assert!(arrivals.contains(&Arrival::Unicast), "named {named}: {arrivals:?}");
    }
}

/// A FRITZ!Box naming its `fe80::` address without a zone (home-assistant/core#71418):
/// found over IPv6, its control URL carries the interface, and the engine's record (whose
/// control URL is text) still reaches the router.
#[test]
fn a_link_local_location_without_a_zone_is_used_on_its_interface() {
    let lan = Lan::up("ll");
    let (router_ll, index) = lan.link();
    let device = profiles::link_local_location(SocketAddrV6::new(router_ll, 0, 0, index));
    let config =
        SimConfig { ssdp: SsdpMode::Multicast { interface: "lan0".into(), ipv6: true }, devices: vec![device] };
    let router = RouterSim::start(&lan, config);
    // An IPv4 router on the same link: it must hear nothing from an IPv6 discovery.
    let v4_router = RouterSim::start(&lan, multicast_v4(vec![igd_sim::DeviceSpec::igd_v1().on_ip(ROUTER_V4.into())]));
    let location = router.sim().location(0);
    assert!(location.starts_with(&format!("http://[{router_ll}]:")), "{location}");
    let options = options(SocketConfig { ipv6: true, ttl: 2, ..SocketConfig::default() });
    let discovery = in_namespace(&lan.client, || find_gateway(&options)).expect("the search is sent");
    let device = discovery.gateway().unwrap_or_else(|| panic!("the router is found: {discovery:#?}")).clone();
    assert_eq!(device.description_url, location);
    // discover_ipv6 searches IPv6 only (as the engine's miniupnpc does): a router that
    // breaks on IPv4 and IPv6 searches arriving together never gets both from us.
    assert_eq!(v4_router.arrivals(), [], "no IPv4 search during an IPv6 discovery");
    let record = DeviceRecord::from(&device);
    println!("control URL {}, our address {}", record.igd_control_url, record.igd_our_addr);
    assert!(record.igd_control_url.starts_with(&format!("http://[{router_ll}%25")), "{}", record.igd_control_url);
    assert!(record.igd_our_addr.starts_with("fe80::"), "{}", record.igd_our_addr);
    // The record's text control URL reaches the router (a mapping over IPv6 would name
    // an IPv6 internal client, which an IPv4 NAT refuses: not this quirk's business).
    router.sim().clear_requests();
    let external = in_namespace(&lan.client, || record.query_external_address()).expect("asked");
    assert_eq!(external, "11.22.33.44");
    let actions: Vec<Option<String>> = router.sim().requests().into_iter().map(|r| r.action).collect();
    assert_eq!(actions, [Some("GetExternalIPAddress".to_string())]);
}
