//! `upnp diagnose`: everything the library would look at to map a port, gathered in one
//! run bounded by `--timeout`, and one line of advice drawn from it. Discovery and the
//! NAT-PMP/PCP probes (one per searched interface's gateway) run at the same time, so the
//! whole report takes about the discovery timeout.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use upnp_core::net::interfaces::{self, LanInterface};
use upnp_core::net::stun::{self, StunAnswer};
use upnp_core::pmp::{self, Probe};
use upnp_core::protocol::igd::{self, ExternalAddressKind};
use upnp_core::{Device, DiscoverOptions, Discovery, Error};

/// The answer (or silence) of one gateway's NAT-PMP/PCP port.
pub struct PmpAnswer {
    /// The interface whose default gateway was asked.
    pub interface: String,
    /// That gateway.
    pub gateway: Ipv4Addr,
    /// What it answered.
    pub result: Result<Probe, Error>,
}

/// Where the reported external address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressSource {
    /// The chosen UPnP gateway (`GetExternalIPAddress` during discovery).
    Upnp,
    /// A NAT-PMP answer.
    NatPmp,
    /// Nobody told one.
    None,
}

impl AddressSource {
    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressSource::Upnp => "upnp",
            AddressSource::NatPmp => "natpmp",
            AddressSource::None => "none",
        }
    }
}

/// The advice line, with a stable code for scripts and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// A usable way to map and a public external address.
    Ok,
    /// A usable way to map, but the external address is private: another NAT in front.
    AnotherNat,
    /// A usable way to map and a public-looking external address, but a STUN server sees
    /// another one: a NAT between the router and the internet that its address hides.
    HiddenNat,
    /// A usable way to map, but the external address is shared (100.64/10): the
    /// provider's carrier-grade NAT is in front.
    SharedAddress,
    /// A usable way to map, but the router tells no external address.
    NoExternalAddress,
    /// No UPnP gateway, but NAT-PMP/PCP answers.
    PmpOnly,
    /// A UPnP device answered, but none can map, and NAT-PMP/PCP does not answer.
    DeviceNotUsable,
    /// Nothing answered, and no searched interface has a default gateway.
    NoRouter,
    /// Nothing answered although a gateway is there: UPnP (and NAT-PMP/PCP) are off.
    SwitchUpnpOn,
    /// The search could not be sent at all.
    SearchFailed,
}

impl Advice {
    /// The code in `--json` (`advice_code`).
    pub fn code(self) -> &'static str {
        match self {
            Advice::Ok => "ok",
            Advice::AnotherNat => "another_nat",
            Advice::HiddenNat => "hidden_nat",
            Advice::SharedAddress => "shared_address",
            Advice::NoExternalAddress => "no_external_address",
            Advice::PmpOnly => "pmp_only",
            Advice::DeviceNotUsable => "device_not_usable",
            Advice::NoRouter => "no_router",
            Advice::SwitchUpnpOn => "switch_upnp_on",
            Advice::SearchFailed => "search_failed",
        }
    }

    /// The line for people.
    pub fn text(self) -> &'static str {
        match self {
            Advice::Ok => "ports can be mapped and the external address is public: players outside can reach them",
            Advice::AnotherNat => {
                "the router's external address is private: another router is in front of it; enable UPnP on the outer router or put this one in bridge mode"
            }
            Advice::HiddenNat => {
                "the router's external address looks public, but the STUN server sees another one: a NAT between \
                 the router and the internet (the provider's, or a router in front) hides it; ask the provider for \
                 a public address, or forward the port on the router in front"
            }
            Advice::SharedAddress => {
                "the router's external address is shared (carrier-grade NAT): the provider shares one address among \
                 customers; ask it for a public address or use a relay"
            }
            Advice::NoExternalAddress => {
                "the router tells no external address: its internet link may be down, or another NAT is in front of it"
            }
            Advice::PmpOnly => {
                "UPnP is off or missing but the router answers NAT-PMP/PCP: UPNPPortMapper maps through it; switch \
                 UPnP on in the router for RustUPNP and the engine's UPNP class"
            }
            Advice::DeviceNotUsable => {
                "a UPnP device answered but cannot map ports (see its status and note): check the router's \
                 internet connection and its UPnP settings"
            }
            Advice::NoRouter => {
                "no router answered and no interface has a default gateway: connect to the router's network, or \
                 name the interface with --interface"
            }
            Advice::SwitchUpnpOn => {
                "no router answered UPnP or NAT-PMP/PCP: switch UPnP (or NAT-PMP/PCP) on in the router's settings"
            }
            Advice::SearchFailed => "the search could not be sent: see the discovery error",
        }
    }
}

/// One run's findings.
pub struct Diagnosis {
    /// The interfaces searched, in search order.
    pub interfaces: Vec<LanInterface>,
    /// What discovery found, or why the search could not be sent.
    pub discovery: Result<Discovery, Error>,
    /// One answer per distinct searched interface gateway.
    pub pmp: Vec<PmpAnswer>,
    /// The STUN server asked (`--stun`) and its answer.
    pub stun: Option<(String, Result<StunAnswer, Error>)>,
    /// The whole run's time.
    pub elapsed: Duration,
}

impl Diagnosis {
    /// Runs discovery (or reads `url`), probes NAT-PMP/PCP at every searched interface's
    /// gateway and asks the STUN server `stun` (when given) at the same time, all by
    /// `options.timeout`.
    pub fn run(options: &DiscoverOptions, url: Option<&str>, stun_server: Option<&str>) -> Diagnosis {
        let started = Instant::now();
        let deadline = started + options.timeout;
        let interfaces = searched_interfaces(
            interfaces::search_order(interfaces::list(), options.socket.ipv6),
            options.socket.multicast_if.as_deref(),
        );
        let mut gateways: Vec<(String, Ipv4Addr)> = Vec::new();
        for i in &interfaces {
            if let Some(g) = i.gateway_v4.filter(|g| !gateways.iter().any(|(_, seen)| seen == g)) {
                gateways.push((i.name.clone(), g));
            }
        }
        let (discovery, pmp, stun) = std::thread::scope(|scope| {
            let probes: Vec<_> = gateways
                .into_iter()
                .map(|(interface, gateway)| {
                    scope.spawn(move || PmpAnswer { interface, gateway, result: pmp::probe(gateway, deadline) })
                })
                .collect();
            let stun =
                stun_server.map(|server| scope.spawn(move || (server.to_string(), stun::binding(server, 0, deadline))));
            let discovery = match url {
                Some(url) => upnp_core::device_from_url(url, options.timeout).map(|device| Discovery {
                    devices: vec![device],
                    answers: 1,
                    ..Discovery::default()
                }),
                None => upnp_core::discover(options),
            };
            let pmp = probes.into_iter().map(|p| p.join().expect("a probe does not panic")).collect();
            let stun = stun.map(|s| s.join().expect("a STUN exchange does not panic"));
            (discovery, pmp, stun)
        });
        Diagnosis { interfaces, discovery, pmp, stun, elapsed: started.elapsed() }
    }

    /// The devices found (none when the search failed).
    pub fn devices(&self) -> &[Device] {
        self.discovery.as_ref().map(|d| d.devices.as_slice()).unwrap_or_default()
    }

    /// The gateway the library would use: the first usable one in device order.
    pub fn chosen(&self) -> Option<usize> {
        self.devices().iter().position(Device::is_valid_gateway)
    }

    /// The first NAT-PMP/PCP answer.
    pub fn pmp_answer(&self) -> Option<(&PmpAnswer, &Probe)> {
        self.pmp.iter().find_map(|a| a.result.as_ref().ok().map(|p| (a, p)))
    }

    /// The external address (or ""), where it came from, and its kind.
    pub fn external_address(&self) -> (String, AddressSource, ExternalAddressKind) {
        let from_upnp = self.chosen().and_then(|i| self.devices()[i].external_address.clone());
        let (address, source) = match (from_upnp, self.pmp_answer().and_then(|(_, p)| p.external_address)) {
            (Some(a), _) if !a.is_empty() => (a, AddressSource::Upnp),
            (_, Some(a)) => (a.to_string(), AddressSource::NatPmp),
            (Some(a), None) => (a, AddressSource::Upnp),
            (None, None) => (String::new(), AddressSource::None),
        };
        let kind = igd::classify_external_address(&address);
        (address, source, kind)
    }

    /// The address the STUN server saw, when it answered.
    pub fn stun_address(&self) -> Option<std::net::IpAddr> {
        self.stun.as_ref().and_then(|(_, answer)| answer.as_ref().ok()).map(|a| a.mapped.ip())
    }

    /// Why device `index` is (or is not) the gateway used.
    pub fn why(&self, index: usize) -> String {
        let device = &self.devices()[index];
        let note = if device.note.is_empty() { String::new() } else { format!(": {}", device.note) };
        match self.chosen() {
            Some(c) if c == index => format!("chosen: the first usable gateway in device order{note}"),
            Some(c) if device.is_valid_gateway() => format!("usable too, but device {c} comes first"),
            _ => format!("not usable ({}){note}", device.status.constant_name()),
        }
    }

    /// The advice line.
    pub fn advice(&self) -> Advice {
        if self.discovery.is_err() && self.pmp_answer().is_none() {
            return Advice::SearchFailed;
        }
        let can_map = self.chosen().is_some() || self.pmp_answer().is_some();
        if can_map {
            return match self.external_address().2 {
                ExternalAddressKind::Public
                    if self.stun_address().is_some_and(|seen| seen.to_string() != self.external_address().0) =>
                {
                    Advice::HiddenNat
                }
                ExternalAddressKind::Public if self.chosen().is_some() => Advice::Ok,
                ExternalAddressKind::Private => Advice::AnotherNat,
                ExternalAddressKind::Shared => Advice::SharedAddress,
                // NAT-PMP/PCP only: the UPnP classes cannot map, whatever the address.
                _ if self.chosen().is_none() => Advice::PmpOnly,
                _ => Advice::NoExternalAddress,
            };
        }
        if !self.devices().is_empty() {
            Advice::DeviceNotUsable
        } else if self.interfaces.iter().all(|i| i.gateway_v4.is_none()) {
            Advice::NoRouter
        } else {
            Advice::SwitchUpnpOn
        }
    }
}

/// The interfaces discovery searches: all of `order`, or with `--interface` only the one
/// named (by name or address), as discovery then uses that one alone.
fn searched_interfaces(order: Vec<LanInterface>, named: Option<&str>) -> Vec<LanInterface> {
    match named.filter(|n| !n.is_empty()) {
        None => order,
        Some(n) => order
            .into_iter()
            .filter(|i| {
                i.name == n || i.ipv4.iter().any(|a| a.to_string() == n) || i.ipv6.iter().any(|a| a.to_string() == n)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use upnp_core::IgdStatus;
    use upnp_core::pmp::PmpMethod;

    fn interface(name: &str, gateway: Option<&str>) -> LanInterface {
        LanInterface {
            name: name.into(),
            index: 2,
            ipv4: vec!["10.77.0.2".parse().unwrap()],
            ipv6: Vec::new(),
            gateway_v4: gateway.map(|g| g.parse().unwrap()),
            gateway_v6: None,
            usable: true,
            loopback: false,
            point_to_point: false,
        }
    }

    fn device(status: IgdStatus, external: Option<&str>) -> Device {
        Device {
            description_url: "http://10.77.0.1:5000/rootDesc.xml".into(),
            service_type: String::new(),
            usn: String::new(),
            status,
            gateway: None,
            external_address: external.map(String::from),
            friendly_name: String::new(),
            note: "why".into(),
        }
    }

    fn diagnosis(devices: Vec<Device>, pmp: Option<Option<&str>>, gateway: Option<&str>) -> Diagnosis {
        let pmp = pmp
            .map(|address| PmpAnswer {
                interface: "c0".into(),
                gateway: "10.77.0.1".parse().unwrap(),
                result: Ok(Probe { method: PmpMethod::NatPmp, external_address: address.map(|a| a.parse().unwrap()) }),
            })
            .into_iter()
            .collect();
        Diagnosis {
            interfaces: vec![interface("c0", gateway)],
            discovery: Ok(Discovery { answers: devices.len(), devices, ..Discovery::default() }),
            pmp,
            stun: None,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn advice_without_a_upnp_gateway() {
        let none = diagnosis(Vec::new(), None, Some("10.77.0.1"));
        assert_eq!(none.advice(), Advice::SwitchUpnpOn);
        assert_eq!(none.external_address(), (String::new(), AddressSource::None, ExternalAddressKind::None));
        assert_eq!(diagnosis(Vec::new(), None, None).advice(), Advice::NoRouter);
        let pmp = diagnosis(Vec::new(), Some(Some("11.22.33.44")), Some("10.77.0.1"));
        assert_eq!(pmp.advice(), Advice::PmpOnly);
        assert_eq!(pmp.external_address().1, AddressSource::NatPmp);
        let behind = diagnosis(Vec::new(), Some(Some("192.168.1.5")), Some("10.77.0.1"));
        assert_eq!(behind.advice(), Advice::AnotherNat);
        let disconnected = diagnosis(vec![device(IgdStatus::Disconnected, None)], None, None);
        assert_eq!(disconnected.advice(), Advice::DeviceNotUsable);
        assert_eq!(disconnected.why(0), "not usable (IGD_STATUS_DISCONNECTED): why");
        let failed = Diagnosis { discovery: Err(Error::NoDevices), ..diagnosis(Vec::new(), None, None) };
        assert_eq!(failed.advice(), Advice::SearchFailed);
    }

    #[test]
    fn a_stun_server_seeing_another_address_means_a_hidden_nat() {
        let stun = |seen: &str| {
            let answer = StunAnswer {
                mapped: format!("{seen}:40000").parse().unwrap(),
                server: "10.78.0.1:3478".parse().unwrap(),
                local_port: 40000,
                from_requested_port: true,
            };
            Some(("10.78.0.1:3478".to_string(), Ok(answer)))
        };
        let mut d = diagnosis(vec![], Some(Some("11.22.33.44")), Some("10.77.0.1"));
        d.stun = stun("22.33.44.55");
        assert_eq!(d.advice(), Advice::HiddenNat);
        d.stun = stun("11.22.33.44");
        assert_eq!(d.advice(), Advice::PmpOnly, "the same address: nothing hidden");
        // A private address is already another NAT; STUN adds nothing to the advice.
        let mut behind = diagnosis(vec![], Some(Some("192.168.1.5")), Some("10.77.0.1"));
        behind.stun = stun("22.33.44.55");
        assert_eq!(behind.advice(), Advice::AnotherNat);
        let mut silent = diagnosis(vec![], Some(Some("11.22.33.44")), Some("10.77.0.1"));
        silent.stun = Some(("10.78.0.1:3478".into(), Err(Error::Timeout("no answer".into()))));
        assert_eq!(silent.advice(), Advice::PmpOnly);
    }

    #[test]
    fn only_named_interface_is_searched() {
        let order = vec![interface("vpn0", None), interface("c0", None)];
        let names = |v: Vec<LanInterface>| v.into_iter().map(|i| i.name).collect::<Vec<_>>();
        assert_eq!(names(searched_interfaces(order.clone(), None)), ["vpn0", "c0"]);
        assert_eq!(names(searched_interfaces(order.clone(), Some("c0"))), ["c0"]);
        assert_eq!(searched_interfaces(order, Some("10.77.0.2")).len(), 2);
    }
}
