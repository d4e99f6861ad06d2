//! Smoke tests with the real client (upnp-core) against the simulator, on 127.0.0.1:
//! they show the simulated devices are what a client expects. Each is bounded by the
//! discovery timeout it sets.

mod common;

use igd_sim::{DeviceSpec, HttpBehavior, SoapFault, SsdpBehavior};
use std::time::{Duration, Instant};
use upnp_core::{DiscoverOptions, Error, IgdStatus, MappingArgs, Protocol, SocketConfig, find_gateway};

fn options(sim: &igd_sim::Simulator, timeout: Duration) -> DiscoverOptions {
    DiscoverOptions {
        timeout,
        socket: SocketConfig { unicast_target: Some(sim.ssdp_addr()), ..SocketConfig::default() },
        ..DiscoverOptions::default()
    }
}

#[test]
fn the_client_finds_the_gateway_and_maps_a_port() {
    let sim = common::start(vec![DeviceSpec::igd_v2()]);
    let found = find_gateway(&options(&sim, Duration::from_secs(2))).unwrap();
    let device = found.gateway().expect("a usable gateway");
    assert_eq!(device.description_url, sim.location(0));
    assert_eq!(device.friendly_name, "IGD test bed router");
    assert_eq!(device.external_address.as_deref(), Some("11.22.33.44"));
    let gateway = device.gateway.as_ref().unwrap();
    assert!(gateway.supports_add_any());

    let deadline = Instant::now() + Duration::from_secs(2);
    let args = MappingArgs {
        external_port: 40000,
        internal_port: 40000,
        protocol: Protocol::Udp,
        description: "sim".into(),
        lease_seconds: 0,
    };
    gateway.add_port_mapping(&args, deadline).unwrap();
    let table = sim.mappings();
    assert_eq!(table.len(), 1);
    assert_eq!((table[0].external_port, table[0].protocol.as_str()), (40000, "UDP"));
    assert_eq!(table[0].internal_client, gateway.local_address());
    assert_eq!(table[0].lease_seconds, 604_800);
    let listed = gateway.list_mappings(deadline).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].description, "sim");
    gateway.delete_port_mapping(40000, Protocol::Udp, deadline).unwrap();
    assert!(sim.mappings().is_empty());
    // The calls were recorded with their actions.
    let actions: Vec<String> = sim.requests().into_iter().filter_map(|r| r.action).collect();
    assert!(actions.contains(&"AddPortMapping".to_string()), "{actions:?}");
}

#[test]
fn the_client_sees_faults_and_odd_devices() {
    let sim = common::start(vec![
        DeviceSpec::igd_v2().with_fault("AddPortMapping", SoapFault::upnp(718, "ConflictInMappingEntry")),
        DeviceSpec::media_renderer().on_ip([127, 0, 0, 2].into()),
        DeviceSpec::igd_v2().on_ip([127, 0, 0, 3].into()).with_http(HttpBehavior::Stall),
        DeviceSpec::igd_v2().on_ip([127, 0, 0, 4].into()).with_ssdp(SsdpBehavior::Silent),
    ]);
    // A filter the client searches `ssdp:all` for, matching every device type.
    let options =
        DiscoverOptions { filter: "schemas-upnp-org:device:".into(), ..options(&sim, Duration::from_millis(800)) };
    let started = Instant::now();
    let found = upnp_core::discover(&options).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "the stalled device does not hold discovery");
    let status_of = |i: usize| found.devices.iter().find(|d| d.description_url == sim.location(i)).map(|d| d.status);
    assert_eq!(status_of(0), Some(IgdStatus::Ok));
    assert_eq!(status_of(1), Some(IgdStatus::NoIgd));
    assert_eq!(status_of(2), Some(IgdStatus::HttpError));
    assert_eq!(status_of(3), None, "a silent device is never found");

    let gateway = found.gateway().unwrap().gateway.as_ref().unwrap();
    let args = MappingArgs {
        external_port: 40000,
        internal_port: 40000,
        protocol: Protocol::Tcp,
        description: "x".into(),
        lease_seconds: 60,
    };
    let err = gateway.add_port_mapping(&args, Instant::now() + Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, Error::Upnp { code: 718, .. }), "{err:?}");
}

#[test]
fn a_request_larger_than_the_connection_buffers_is_sent_whole() {
    let sim = common::start(vec![DeviceSpec::igd_v2()]);
    let gateway =
        upnp_core::Gateway::new(&sim.control_url(0), "urn:schemas-upnp-org:service:WANIPConnection:2", "127.0.0.1")
            .unwrap();
    // Four times the 16 KiB buffers, with characters that are escaped on the way.
    let description = "<&>".repeat(22_000);
    let args = MappingArgs {
        external_port: 40001,
        internal_port: 40001,
        protocol: Protocol::Tcp,
        description: description.clone(),
        lease_seconds: 60,
    };
    gateway.add_port_mapping(&args, Instant::now() + Duration::from_secs(2)).unwrap();
    assert_eq!(sim.mappings()[0].description, description);
}

/// Host names are refused at once, never resolved (a lookup has no deadline of ours):
/// the port mapper's remembered description URL (`device_from_url`) and a script-set
/// `igd_control_url` (`Gateway::new`, through the engine's `DeviceRecord`) fail with
/// `HTTP_ERROR` and a line saying why, and the device behind the name (the simulator, as
/// `localhost` resolves to 127.0.0.1 from the hosts file) receives nothing.
#[test]
fn host_names_are_refused_at_once() {
    let sim = common::start(vec![DeviceSpec::igd_v2()]);
    let port = sim.location(0).rsplit(':').next().unwrap().split('/').next().unwrap().to_string();
    let description_url = format!("http://localhost:{port}/rootDesc.xml");
    let control_url = format!("http://localhost:{port}/ctl/IPConn");
    let service_type = "urn:schemas-upnp-org:service:WANIPConnection:2";
    let fast = Duration::from_millis(100);
    let said = |message: &str, url: &str| {
        assert!(message.contains(&format!("{url:?}")), "{message:?} names the URL");
        assert!(message.contains("names a host, not an address"), "{message:?} says why");
    };

    let started = Instant::now();
    let err = upnp_core::device_from_url(&description_url, Duration::from_secs(2)).unwrap_err();
    assert!(started.elapsed() < fast, "device_from_url took {:?}", started.elapsed());
    assert_eq!(err.result(), upnp_core::UpnpResult::HttpError, "{err:?}");
    said(&err.to_string(), &description_url);

    let started = Instant::now();
    let err = upnp_core::Gateway::new(&control_url, service_type, "127.0.0.1").unwrap_err();
    assert!(started.elapsed() < fast, "Gateway::new took {:?}", started.elapsed());
    assert_eq!(err.result(), upnp_core::UpnpResult::HttpError, "{err:?}");
    said(&err.to_string(), &control_url);

    // The same through the classes: a script set igd_control_url to a name.
    let record = upnp_core::engine::DeviceRecord {
        igd_control_url: control_url.clone(),
        igd_service_type: service_type.into(),
        igd_our_addr: "127.0.0.1".into(),
        igd_status: i64::from(IgdStatus::Ok.code()),
        ..Default::default()
    };
    let started = Instant::now();
    let failure = record.add_port_mapping(40002, 40002, "name", "UDP", 60).unwrap_err();
    assert!(started.elapsed() < fast, "add_port_mapping took {:?}", started.elapsed());
    assert_eq!(failure.result, upnp_core::UpnpResult::HttpError, "{}", failure.message);
    said(&failure.message, &control_url);
    assert!(!failure.message.contains('\n'), "one line: {:?}", failure.message);

    let asked = sim.requests();
    assert!(asked.is_empty(), "the device behind the name received {asked:#?}");
}
