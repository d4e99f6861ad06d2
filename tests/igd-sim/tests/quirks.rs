//! Real routers' quirks (`igd_sim::profiles`, each citing its source) replayed end to end
//! through the real client: discovery (`find_gateway`, `discover`), the engine's
//! `DeviceRecord` and `Gateway` actions. Every search is unicast to the simulator on
//! 127.0.0.x; nothing else is contacted.

mod common;

use igd_sim::profiles::{self, DescriptionLead};
use igd_sim::{DeviceSpec, RecordedRequest, SimMapping, Simulator, SoapFault};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use upnp_core::engine::DeviceRecord;
use upnp_core::protocol::igd::ExternalAddressKind;
use upnp_core::{Device, DiscoverOptions, Error, IgdStatus, MappingArgs, Protocol, SocketConfig, find_gateway};

const TIMEOUT: Duration = Duration::from_secs(2);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn options(sim: &Simulator, filter: &str) -> DiscoverOptions {
    DiscoverOptions {
        timeout: TIMEOUT,
        filter: filter.to_string(),
        socket: SocketConfig { unicast_target: Some(sim.ssdp_addr()), ..SocketConfig::default() },
    }
}

/// The usable gateway `find_gateway` returns; it must be device `i`.
fn gateway_of(sim: &Simulator, i: usize) -> Device {
    let found = find_gateway(&options(sim, upnp_core::protocol::ssdp::DEFAULT_FILTER)).expect("the search is sent");
    let device = found.gateway().unwrap_or_else(|| panic!("a usable gateway: {found:#?}")).clone();
    assert_eq!(device.description_url, sim.location(i));
    device
}

fn args(port: u16, protocol: Protocol, lease_seconds: u32) -> MappingArgs {
    MappingArgs { external_port: port, internal_port: port, protocol, description: "quirks".into(), lease_seconds }
}

fn deadline() -> Instant {
    Instant::now() + TIMEOUT
}

/// Maps UDP and TCP on `port` through the engine-compatible record and deletes them.
fn map_and_unmap(sim: &Simulator, record: &DeviceRecord, port: u16) {
    assert!(record.is_valid_gateway(), "{record:?}");
    record.add_port_mapping(i64::from(port), 0, "quirks", "UDP", 0).expect("UDP added");
    record.add_port_mapping(i64::from(port), 0, "quirks", "TCP", 0).expect("TCP added");
    let mut listed: Vec<(u16, String)> = sim.mappings().iter().map(|m| (m.external_port, m.protocol.clone())).collect();
    listed.sort();
    assert_eq!(listed, [(port, "TCP".to_string()), (port, "UDP".to_string())]);
    record.delete_port_mapping(i64::from(port), "UDP").expect("UDP deleted");
    record.delete_port_mapping(i64::from(port), "TCP").expect("TCP deleted");
    assert!(sim.mappings().is_empty(), "{:?}", sim.mappings());
}

fn posts(sim: &Simulator) -> Vec<RecordedRequest> {
    sim.requests().into_iter().filter(|r| r.method == "POST").collect()
}

#[test]
fn an_answer_from_another_source_port_is_taken() {
    let sim = common::start(vec![profiles::answers_from_another_port(ip(20))]);
    let from = sim.ssdp_reply_addr(0);
    assert_ne!(from.port(), 1900);
    assert_ne!(from.port(), sim.ssdp_addr().port(), "the answer does not come from where the search went");
    let device = gateway_of(&sim, 0);
    assert_eq!(device.service_type, "urn:schemas-upnp-org:device:InternetGatewayDevice:1");
    map_and_unmap(&sim, &DeviceRecord::from(&device), 41000);
}

/// Sagemcom FAST3890V3 answers `ssdp:all` only with its WFADevice: with a filter the
/// client searches `ssdp:all` for, it must also ask for `InternetGatewayDevice:1`.
#[test]
fn ssdp_all_finding_only_a_wfa_device_also_asks_for_the_igd() {
    let sim = common::start(profiles::ssdp_all_finds_only_a_wfa_device(ip(21)));
    let found = upnp_core::discover(&options(&sim, "device:")).expect("the search is sent");
    let searched: Vec<String> =
        sim.requests().iter().filter(|r| r.is_search()).filter_map(|r| r.header("ST").map(str::to_string)).collect();
    println!(
        "searched: {searched:?}; found: {:?}",
        found.devices.iter().map(|d| (&d.description_url, d.status)).collect::<Vec<_>>()
    );
    assert!(searched.iter().any(|st| st == "ssdp:all"), "{searched:?}");
    assert!(searched.iter().any(|st| st == "urn:schemas-upnp-org:device:InternetGatewayDevice:1"), "{searched:?}");
    let gateway = found.gateway().unwrap_or_else(|| panic!("the IGD is found: {found:#?}"));
    assert_eq!(gateway.description_url, sim.location(1));
    let wfa = found.devices.iter().find(|d| d.description_url == sim.location(0)).expect("the WFADevice is listed");
    assert_eq!(wfa.status, IgdStatus::NoIgd);
    // With the default filter the IGD search comes first and finds it at once.
    gateway_of(&sim, 1);
}

/// A normal router answering `ssdp:all` with its IGD is listed once per answer, as
/// before: the extra search adds no device.
#[test]
fn the_extra_igd_search_adds_nothing_for_a_router_answering_ssdp_all() {
    let sim = common::start(vec![DeviceSpec::igd_v1().on_ip(ip(22))]);
    let found = upnp_core::discover(&options(&sim, "device:")).expect("the search is sent");
    let igd_answers = found.devices.iter().filter(|d| d.service_type.contains("InternetGatewayDevice")).count();
    assert_eq!(igd_answers, 1, "{:#?}", found.devices);
    let searched: Vec<String> =
        sim.requests().iter().filter(|r| r.is_search()).filter_map(|r| r.header("ST").map(str::to_string)).collect();
    assert_eq!(searched, ["ssdp:all"], "one search, as from the engine");
}

/// MikroTik CHR with two WAN links: the connected one with a usable address is chosen,
/// wherever it is in the description.
#[test]
fn of_several_wan_connections_the_connected_one_with_an_address_is_chosen() {
    let second = profiles::MIKROTIK_SECOND_CONTROL;
    let first = profiles::MIKROTIK_FIRST_CONTROL;
    for (name, a, b, chosen, external) in [
        ("first disconnected", ("Disconnected", ""), ("Connected", "11.22.33.44"), second, "11.22.33.44"),
        ("first without address", ("Connected", ""), ("Connected", "11.22.33.44"), second, "11.22.33.44"),
        ("first 0.0.0.0", ("Connected", "0.0.0.0"), ("Connected", "11.22.33.44"), second, "11.22.33.44"),
        ("first private", ("Connected", "10.9.8.7"), ("Connected", "11.22.33.44"), second, "11.22.33.44"),
        ("both public", ("Connected", "11.22.33.45"), ("Connected", "11.22.33.44"), first, "11.22.33.45"),
        ("second disconnected", ("Connected", "11.22.33.45"), ("Disconnected", ""), first, "11.22.33.45"),
    ] {
        let sim = common::start(vec![profiles::mikrotik_two_wans(ip(23), a, b)]);
        let device = gateway_of(&sim, 0);
        let gateway = device.gateway.as_ref().unwrap();
        println!("{name}: {} ({:?})", gateway.control_url(), device.external_address);
        assert!(gateway.control_url().to_string().ends_with(chosen), "{name}: {}", gateway.control_url());
        assert_eq!(device.external_address.as_deref(), Some(external), "{name}");
        assert_eq!(device.status, IgdStatus::Ok, "{name}");
        // Mappings go to the chosen service.
        sim.clear_requests();
        map_and_unmap(&sim, &DeviceRecord::from(&device), 41010);
        assert!(posts(&sim).iter().all(|r| r.path == chosen), "{name}: {:?}", posts(&sim));
    }
}

#[test]
fn with_every_wan_connection_down_the_router_is_disconnected() {
    let sim = common::start(vec![profiles::mikrotik_two_wans(ip(24), ("Disconnected", ""), ("Disconnected", ""))]);
    let found = find_gateway(&options(&sim, upnp_core::protocol::ssdp::DEFAULT_FILTER)).unwrap();
    assert!(found.gateway().is_none());
    let device = &found.devices[0];
    assert_eq!(device.status, IgdStatus::Disconnected, "{}", device.note);
    let gateway = device.gateway.as_ref().expect("the first service is kept for a caller to try");
    assert!(gateway.control_url().to_string().ends_with(profiles::MIKROTIK_FIRST_CONTROL));
}

/// Huawei HG531 V1 names its services only `urn:dslforum-org:...`.
#[test]
fn legacy_dslforum_service_names_are_accepted() {
    let sim = common::start(vec![profiles::huawei_dslforum_only(ip(25))]);
    let device = gateway_of(&sim, 0);
    let gateway = device.gateway.as_ref().unwrap();
    assert_eq!(gateway.service_type(), "urn:dslforum-org:service:WANPPPConnection:1");
    assert!(gateway.control_url().to_string().ends_with(profiles::HUAWEI_CONTROL));
    assert!(!gateway.supports_add_any());
    assert_eq!(device.external_address.as_deref(), Some("11.22.33.44"));
    sim.clear_requests();
    map_and_unmap(&sim, &DeviceRecord::from(&device), 41020);
    for post in posts(&sim) {
        let action = post.header("SOAPAction").unwrap_or_default().to_string();
        assert!(action.starts_with("\"urn:dslforum-org:service:WANPPPConnection:1#"), "{action}");
    }
}

/// A router saying `0.0.0.0` does not know its address: never a public address.
#[test]
fn an_external_address_of_0_0_0_0_is_no_address() {
    let sim = common::start(vec![profiles::external_address_unspecified(ip(26))]);
    let device = gateway_of(&sim, 0);
    assert_eq!(device.external_address.as_deref().unwrap_or(""), "", "{:?}", device.external_address);
    assert_eq!(device.external_address_kind(), ExternalAddressKind::None);
    assert!(device.is_behind_another_nat());
    assert!(device.note.contains("the router reports no external address"), "{}", device.note);
    let record = DeviceRecord::from(&device);
    assert_eq!(record.query_external_address().expect("no error, just no address"), "");
    assert_eq!(device.gateway.as_ref().unwrap().external_ip_address(deadline()).unwrap(), "");
}

/// Descriptions with whitespace or a BOM before `<?xml`, or every element prefixed.
#[test]
fn descriptions_with_leading_bytes_or_prefixes_are_read() {
    for (name, spec) in [
        ("whitespace", profiles::description_with_prefix_bytes(ip(27), DescriptionLead::Whitespace)),
        ("BOM", profiles::description_with_prefix_bytes(ip(27), DescriptionLead::Bom)),
        ("BOM and whitespace", profiles::description_with_prefix_bytes(ip(27), DescriptionLead::BomAndWhitespace)),
        ("ns0: prefixes", profiles::description_with_namespace_prefixes(ip(27))),
    ] {
        let sim = common::start(vec![spec]);
        let found = find_gateway(&options(&sim, upnp_core::protocol::ssdp::DEFAULT_FILTER)).unwrap();
        let device = found.devices.first().unwrap_or_else(|| panic!("{name}: listed"));
        println!("{name}: {:?} {}", device.status, device.note);
        assert_eq!(device.status, IgdStatus::Ok, "{name}: {}", device.note);
        map_and_unmap(&sim, &DeviceRecord::from(device), 41030);
    }
}

/// SOAP envelopes prefixed `SOAP:` (ARRIS) or `SOAP-ENV:` (TP-Link), faults included,
/// and an `m:`-prefixed response element (async_upnp_client#222).
#[test]
fn soap_answers_with_unusual_prefixes_are_read() {
    for prefix in ["SOAP", "SOAP-ENV"] {
        let sim = common::start(vec![profiles::soap_envelope_prefix(ip(28), prefix)]);
        let device = gateway_of(&sim, 0);
        assert_eq!(device.external_address.as_deref(), Some("11.22.33.44"), "{prefix}");
        let record = DeviceRecord::from(&device);
        map_and_unmap(&sim, &record, 41040);
        sim.insert_mapping(other_clients(0, 41041, "UDP"));
        let gateway = device.gateway.as_ref().unwrap();
        match gateway.add_port_mapping(&args(41041, Protocol::Udp, 0), deadline()) {
            Err(Error::Upnp { code: 718, .. }) => {}
            other => panic!("{prefix}: the conflict fault is read: {other:?}"),
        }
    }
    let m_prefix = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<s:Envelope\nxmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"\n\
s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\n<s:Body>\n\
<m:AddPortMappingResponse xmlns:m=\"urn:schemas-upnp-org:service:WANIPConnection:1\">\n</m:AddPortMappingResponse>\n\
</s:Body>\n</s:Envelope>\n";
    let sim = common::start(vec![
        DeviceSpec::igd_v1().on_ip(ip(28)).with_fault("AddPortMapping", SoapFault::WrongBody(m_prefix.to_vec())),
    ]);
    let device = gateway_of(&sim, 0);
    device.gateway.as_ref().unwrap().add_port_mapping(&args(41042, Protocol::Tcp, 0), deadline()).expect("m: response");
}

/// Every request names its action in a header spelled `SOAPAction` (Linksys WRT120N
/// answers `Soapaction` with HTTP 501, syncthing/syncthing#1696) and its protocol in
/// upper case (TP-Link ER605 refuses `udp`, tailscale/tailscale#7377).
#[test]
fn requests_spell_soapaction_so_and_protocols_in_upper_case() {
    let sim = common::start(vec![profiles::answers_from_another_port(ip(29))]);
    let device = gateway_of(&sim, 0);
    let gateway = device.gateway.as_ref().unwrap();
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        gateway.add_port_mapping(&args(41050, protocol, 3600), deadline()).unwrap();
        gateway.specific_mapping(41050, protocol, deadline()).unwrap();
        gateway.delete_port_mapping(41050, protocol, deadline()).unwrap();
    }
    gateway.list_mappings(deadline()).unwrap();
    let posts = posts(&sim);
    assert!(posts.len() >= 8, "{posts:?}");
    let mut protocols = Vec::new();
    for post in &posts {
        let names: Vec<&str> =
            post.headers.iter().map(|(n, _)| n.as_str()).filter(|n| n.eq_ignore_ascii_case("SOAPAction")).collect();
        assert_eq!(names, ["SOAPAction"], "{:?}", post.headers);
        let body = String::from_utf8_lossy(&post.body);
        if let Some(rest) = body.split("<NewProtocol>").nth(1) {
            protocols.push(rest.split('<').next().unwrap_or("").to_string());
        }
    }
    assert_eq!(protocols.len(), 6, "{protocols:?}");
    assert!(protocols.iter().all(|p| p == "UDP" || p == "TCP"), "{protocols:?}");
}

/// A mapping of another client (10.1.2.3) on device `device`.
fn other_clients(device: usize, port: u16, protocol: &str) -> SimMapping {
    SimMapping {
        device,
        remote_host: String::new(),
        external_port: port,
        protocol: protocol.to_string(),
        internal_port: port,
        internal_client: "10.1.2.3".into(),
        enabled: true,
        description: "someone else".into(),
        lease_seconds: 3600,
        expires_at: Instant::now() + Duration::from_secs(3600),
    }
}

/// The port mapper (the engine of `UPNPPortMapper`) against the lease and error-code
/// profiles: UDP and TCP on [`MAPPER_PORT`] with a one hour lease, searches unicast to
/// the simulator, NAT-PMP off. (The 402-for-a-lease and 501-for-718 profiles fail with
/// today's policy; their tests are with the policy's owner.)
mod mapper {
    use super::*;
    use upnp_core::UpnpResult;
    use upnp_core::mapper::policy::Settings;
    use upnp_core::mapper::{Event, Mapper, MapperConfig};

    pub const MAPPER_PORT: u16 = 41200;

    fn config(sim: &Simulator) -> MapperConfig {
        MapperConfig {
            mapping: Settings {
                port: MAPPER_PORT,
                internal_port: 0,
                protocols: vec![Protocol::Udp, Protocol::Tcp],
                description: "quirks mapper".into(),
                lease_seconds: 3600,
                port_fallback_count: 4,
                refresh_interval: Duration::from_secs(300),
                remove_on_stop: true,
                allow_nat_pmp: false,
                stun_server: None,
                // IPv4 only: the simulator serves no IPv6 firewall, and no IPv6 search is wanted.
                ipv6: false,
            },
            discover: options(sim, upnp_core::protocol::ssdp::DEFAULT_FILTER),
            warm_description_url: None,
            pmp_server: None,
        }
    }

    /// The events until the first completion (5 s at most).
    fn until_completed(mapper: &Mapper) -> Vec<Event> {
        let end = Instant::now() + Duration::from_secs(5);
        let mut events = Vec::new();
        while Instant::now() < end {
            for event in mapper.poll() {
                let done = matches!(event, Event::Completed(_));
                events.push(event);
                if done {
                    return events;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("no completion within 5 s: {events:?}");
    }

    /// `NewLeaseDuration` of each `AddPortMapping` the router received, in order.
    fn leases_asked(sim: &Simulator) -> Vec<String> {
        sim.requests()
            .iter()
            .filter(|r| r.action.as_deref() == Some("AddPortMapping"))
            .filter_map(|r| {
                let body = String::from_utf8_lossy(&r.body).into_owned();
                Some(body.split("<NewLeaseDuration>").nth(1)?.split('<').next()?.to_string())
            })
            .collect()
    }

    /// Our mappings on the router as (external port, protocol), sorted.
    fn ours(sim: &Simulator) -> Vec<(u16, String)> {
        let mut table: Vec<(u16, String)> = sim
            .mappings()
            .into_iter()
            .filter(|m| m.description == "quirks mapper")
            .map(|m| (m.external_port, m.protocol))
            .collect();
        table.sort();
        table
    }

    fn both_on(port: u16) -> Vec<(u16, String)> {
        vec![(port, "TCP".to_string()), (port, "UDP".to_string())]
    }

    /// Refreshes three times (each a check of both mappings) and stops; the table must
    /// hold `expected` throughout and nothing of ours after the stop.
    fn refresh_then_stop(sim: &Simulator, mapper: Mapper, expected: &[(u16, String)]) {
        for _ in 0..3 {
            mapper.refresh();
            std::thread::sleep(Duration::from_millis(300));
            let _ = mapper.poll();
            assert_eq!(ours(sim), expected, "no rule piles up");
        }
        drop(mapper);
        assert!(ours(sim).is_empty(), "removed at stop: {:?}", ours(sim));
    }

    /// MikroTik: 725 for any lease > 0. The mapper retries with lease 0 once per
    /// protocol, and refreshing adds no further rule (tailscale/tailscale#10602).
    #[test]
    fn only_permanent_leases_725_retries_with_lease_0() {
        let sim = common::start(vec![profiles::permanent_leases_only(ip(30))]);
        let mapper = Mapper::start(config(&sim), None);
        let events = until_completed(&mapper);
        println!("725: events {events:?}; leases asked {:?}; table {:?}", leases_asked(&sim), ours(&sim));
        assert!(events.contains(&Event::Completed(UpnpResult::Success)), "{events:?}");
        // Each protocol: the lease asked, then 0 after the 725.
        let mut asked = leases_asked(&sim);
        asked.sort();
        assert_eq!(asked, ["0", "0", "3600", "3600"], "{:?}", leases_asked(&sim));
        assert_eq!(ours(&sim), both_on(MAPPER_PORT));
        refresh_then_stop(&sim, mapper, &both_on(MAPPER_PORT));
    }

    /// ARRIS NVG578LX: 402 for a lease > 0. Before: the mapping failed with INVALID_ARGS.
    #[test]
    fn invalid_args_402_for_a_lease_retries_with_lease_0() {
        let sim = common::start(vec![profiles::invalid_args_for_leases(ip(31))]);
        let mapper = Mapper::start(config(&sim), None);
        let events = until_completed(&mapper);
        println!("402: events {events:?}; leases asked {:?}; table {:?}", leases_asked(&sim), ours(&sim));
        assert!(events.contains(&Event::Completed(UpnpResult::Success)), "{events:?}");
        assert_eq!(ours(&sim), both_on(MAPPER_PORT));
        refresh_then_stop(&sim, mapper, &both_on(MAPPER_PORT));
    }

    /// Linksys: 501 where 718 is meant, the port held by another client. Before: the
    /// mapping failed with ACTION_FAILED; now the next port is taken.
    #[test]
    fn action_failed_501_for_a_held_port_falls_back_to_the_next_port() {
        let sim = common::start(vec![profiles::action_failed_for_conflicts(ip(32))]);
        sim.insert_mapping(other_clients(0, MAPPER_PORT, "UDP"));
        sim.insert_mapping(other_clients(0, MAPPER_PORT, "TCP"));
        let mapper = Mapper::start(config(&sim), None);
        let events = until_completed(&mapper);
        println!("501: events {events:?}; table {:?}", ours(&sim));
        assert!(events.contains(&Event::Completed(UpnpResult::Success)), "{events:?}");
        assert_eq!(ours(&sim), both_on(MAPPER_PORT + 1));
        refresh_then_stop(&sim, mapper, &both_on(MAPPER_PORT + 1));
    }
}
