//! This host's network interfaces, as discovery and NAT-PMP/PCP need them: which ones to
//! search on (every up, multicast-capable LAN interface, not only the one the default
//! route picks: a VPN client or a virtual adapter often holds the default route while the
//! router sits on the Wi-Fi or Ethernet interface) and each one's default gateway.
//!
//! Read with the `netdev` crate (netlink on Linux and Android, the routing sysctl on
//! macOS, `GetAdaptersAddresses` on Windows); the choice itself is a pure function,
//! [`search_order`], tested without a network.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Most interfaces searched on: a host with dozens of container bridges must not send
/// dozens of searches per target.
pub const MAX_SEARCH_INTERFACES: usize = 8;

/// What discovery needs of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanInterface {
    /// Its name (`eth0`, `Wi-Fi`).
    pub name: String,
    /// Its index (the scope of IPv6 multicast).
    pub index: u32,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<Ipv6Addr>,
    /// Its IPv4 default gateway, when a default route goes through it.
    pub gateway_v4: Option<Ipv4Addr>,
    /// Its IPv6 default gateway, when an IPv6 default route goes through it (often a
    /// link-local address).
    pub gateway_v6: Option<Ipv6Addr>,
    /// Up, with multicast.
    pub usable: bool,
    /// Loopback.
    pub loopback: bool,
    /// Point-to-point (VPN tunnels, PPP): a router is rarely behind one.
    pub point_to_point: bool,
}

/// The interfaces as the system lists them (empty when it cannot say).
pub fn list() -> Vec<LanInterface> {
    netdev::get_interfaces()
        .into_iter()
        .map(|i| LanInterface {
            usable: i.is_up() && i.is_multicast(),
            loopback: i.is_loopback(),
            point_to_point: i.is_point_to_point(),
            gateway_v4: i.gateway.as_ref().and_then(|g| g.ipv4.iter().copied().find(|a| !a.is_unspecified())),
            gateway_v6: i.gateway.as_ref().and_then(|g| g.ipv6.iter().copied().find(|a| !a.is_unspecified())),
            ipv4: i.ipv4.iter().map(|n| n.addr()).collect(),
            ipv6: i.ipv6.iter().map(|n| n.addr()).collect(),
            index: i.index,
            name: i.name,
        })
        .collect()
}

/// Where to search for IPv4 (`ipv6` false) or IPv6 gateways: up, multicast-capable,
/// non-loopback interfaces with an address of that family; LAN interfaces first (those
/// with a default gateway first of all), point-to-point ones last; at most
/// [`MAX_SEARCH_INTERFACES`].
pub fn search_order(interfaces: Vec<LanInterface>, ipv6: bool) -> Vec<LanInterface> {
    let mut chosen: Vec<LanInterface> = interfaces
        .into_iter()
        .filter(|i| i.usable && !i.loopback)
        .filter(|i| if ipv6 { !i.ipv6.is_empty() } else { i.ipv4.iter().any(|a| !a.is_link_local()) })
        .collect();
    // Stable: the system's order stays within each group.
    chosen.sort_by_key(|i| (i.point_to_point, i.gateway_v4.is_none()));
    chosen.truncate(MAX_SEARCH_INTERFACES);
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, ipv4: &[&str], gateway: Option<&str>) -> LanInterface {
        LanInterface {
            name: name.into(),
            index: 1,
            ipv4: ipv4.iter().map(|a| a.parse().unwrap()).collect(),
            ipv6: Vec::new(),
            gateway_v4: gateway.map(|g| g.parse().unwrap()),
            gateway_v6: None,
            usable: true,
            loopback: false,
            point_to_point: false,
        }
    }

    #[test]
    fn lan_interfaces_come_first_and_the_rest_is_skipped() {
        let vpn = LanInterface { point_to_point: true, ..interface("tun0", &["10.8.0.2"], Some("10.8.0.1")) };
        let lo = LanInterface { loopback: true, ..interface("lo", &["127.0.0.1"], None) };
        let down = LanInterface { usable: false, ..interface("eth1", &["192.168.5.2"], None) };
        let docker = interface("docker0", &["172.17.0.1"], None);
        let wifi = interface("wlan0", &["192.168.1.20"], Some("192.168.1.1"));
        let autoconf = interface("eth2", &["169.254.3.4"], None);
        let v6_only =
            LanInterface { ipv4: Vec::new(), ipv6: vec!["fd00::2".parse().unwrap()], ..interface("v6", &[], None) };
        let order = search_order(vec![vpn, lo, down, docker, wifi, autoconf, v6_only.clone()], false);
        let names: Vec<&str> = order.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["wlan0", "docker0", "tun0"]);
        assert_eq!(search_order(vec![v6_only], true).len(), 1);
    }

    #[test]
    fn a_host_with_many_bridges_searches_on_a_few() {
        let many: Vec<LanInterface> = (0..40).map(|n| interface(&format!("br{n}"), &["172.18.0.1"], None)).collect();
        assert_eq!(search_order(many, false).len(), MAX_SEARCH_INTERFACES);
    }

    /// Every discovery lists the interfaces once: it must cost far less than a round trip.
    /// (Reads the routing tables only; sends nothing.)
    #[test]
    fn listing_the_interfaces_takes_about_a_millisecond() {
        let _ = list();
        let started = std::time::Instant::now();
        for _ in 0..20 {
            let _ = list();
        }
        let each = started.elapsed() / 20;
        println!("interfaces::list(): {each:?} each");
        assert!(each < std::time::Duration::from_millis(20), "{each:?}");
    }
}
