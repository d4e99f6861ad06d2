//! The emulated WANIPConnection and its injected faults, over plain TCP on 127.0.0.1.

mod common;

use common::{connect, element, mapping_args, soap, soap_as, soap_request, split_url, start};
use igd_sim::{DeviceSpec, FaultRule, SimMapping, SoapFault};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

fn error_code(answer: &common::Answer) -> Option<u32> {
    element(&answer.text(), "errorCode").and_then(|c| c.parse().ok())
}

#[test]
fn status_and_external_address_are_configurable() {
    let sim = start(vec![DeviceSpec::igd_v2()]);
    let url = sim.control_url(0);
    assert!(url.ends_with("/ctl/IPConn"));
    let answer = soap(&url, "GetExternalIPAddress", &[]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("Connection").as_deref(), Some("close"));
    assert_eq!(element(&answer.text(), "NewExternalIPAddress").as_deref(), Some("11.22.33.44"));
    assert!(
        answer
            .text()
            .contains("<u:GetExternalIPAddressResponse xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\">")
    );
    sim.set_external_ip(0, "10.0.0.7");
    assert_eq!(
        element(&soap(&url, "GetExternalIPAddress", &[]).text(), "NewExternalIPAddress").as_deref(),
        Some("10.0.0.7")
    );

    let status = soap(&url, "GetStatusInfo", &[]).text();
    assert_eq!(element(&status, "NewConnectionStatus").as_deref(), Some("Connected"));
    assert_eq!(element(&status, "NewLastConnectionError").as_deref(), Some("ERROR_NONE"));
    sim.set_connection_status(0, "Disconnected");
    let status = soap(&url, "GetStatusInfo", &[]).text();
    assert_eq!(element(&status, "NewConnectionStatus").as_deref(), Some("Disconnected"));

    // The request's service type is echoed, as miniupnpd does.
    let v1 = soap_as(&url, "urn:schemas-upnp-org:service:WANIPConnection:1", "GetExternalIPAddress", &[]);
    assert!(v1.text().contains("xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\""));

    let recorded = sim.requests();
    assert_eq!(recorded.len(), 5);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/ctl/IPConn");
    assert_eq!(recorded[0].action.as_deref(), Some("GetExternalIPAddress"));
    assert!(String::from_utf8_lossy(&recorded[0].body).contains("<u:GetExternalIPAddress"));
}

#[test]
fn port_mappings_follow_miniupnpd() {
    let sim = start(vec![DeviceSpec::igd_v2()]);
    let url = sim.control_url(0);
    let me = "127.0.0.1";

    let ok = soap(&url, "AddPortMapping", &mapping_args("40000", "TCP", me, "3600"));
    assert_eq!(ok.status, 200);
    assert!(
        ok.text().contains("<u:AddPortMappingResponse xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\"/>")
    );
    // Lease 0 becomes a week.
    assert_eq!(soap(&url, "AddPortMapping", &mapping_args("40001", "UDP", me, "0")).status, 200);
    let table = sim.mappings();
    assert_eq!(table.len(), 2);
    assert_eq!((table[0].external_port, table[0].protocol.as_str(), table[0].lease_seconds), (40000, "TCP", 3600));
    assert_eq!((table[1].protocol.as_str(), table[1].lease_seconds), ("UDP", 604_800));
    assert_eq!(table[1].internal_client, me);

    // Another internal client may not take the same port: 718.
    let conflict = soap(&url, "AddPortMapping", &mapping_args("40000", "TCP", "127.0.0.2", "3600"));
    assert_eq!((conflict.status, error_code(&conflict)), (500, Some(718)));
    assert!(conflict.head.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
    assert!(conflict.text().contains("<errorDescription>ConflictInMappingEntry</errorDescription>"));
    // The same client may renew it.
    assert_eq!(soap(&url, "AddPortMapping", &mapping_args("40000", "TCP", me, "7200")).status, 200);
    assert_eq!(sim.mappings()[0].lease_seconds, 7200);
    // Ports below 1024: 606; a wildcard external port: 716.
    assert_eq!(error_code(&soap(&url, "AddPortMapping", &mapping_args("80", "TCP", me, "0"))), Some(606));
    assert_eq!(error_code(&soap(&url, "AddPortMapping", &mapping_args("0", "TCP", me, "0"))), Some(716));

    // Reading entries.
    let specific = soap(
        &url,
        "GetSpecificPortMappingEntry",
        &[("NewRemoteHost", ""), ("NewExternalPort", "40000"), ("NewProtocol", "TCP")],
    );
    assert_eq!(element(&specific.text(), "NewInternalClient").as_deref(), Some(me));
    assert_eq!(element(&specific.text(), "NewLeaseDuration").as_deref(), Some("7200"));
    let missing = soap(
        &url,
        "GetSpecificPortMappingEntry",
        &[("NewRemoteHost", ""), ("NewExternalPort", "49999"), ("NewProtocol", "TCP")],
    );
    assert_eq!(error_code(&missing), Some(714));
    let first = soap(&url, "GetGenericPortMappingEntry", &[("NewPortMappingIndex", "1")]);
    assert_eq!(element(&first.text(), "NewExternalPort").as_deref(), Some("40001"));
    assert_eq!(element(&first.text(), "NewProtocol").as_deref(), Some("UDP"));
    let past = soap(&url, "GetGenericPortMappingEntry", &[("NewPortMappingIndex", "2")]);
    assert_eq!((past.status, error_code(&past)), (500, Some(713)));

    // AddAnyPortMapping moves past a port held by another client.
    sim.insert_mapping(SimMapping {
        internal_client: "10.0.0.9".into(),
        external_port: 50000,
        ..sim.mappings()[0].clone()
    });
    let any = soap(&url, "AddAnyPortMapping", &mapping_args("50000", "TCP", me, "60"));
    assert_eq!(element(&any.text(), "NewReservedPort").as_deref(), Some("50001"));
    // Deleting another client's mapping: 606; one's own: fine; a missing one: fine too.
    let port_args = |port| vec![("NewRemoteHost", ""), ("NewExternalPort", port), ("NewProtocol", "TCP")];
    assert_eq!(error_code(&soap(&url, "DeletePortMapping", &port_args("50000"))), Some(606));
    assert_eq!(soap(&url, "DeletePortMapping", &port_args("50001")).status, 200);
    assert_eq!(soap(&url, "DeletePortMapping", &port_args("50001")).status, 200);
    assert_eq!(error_code(&soap(&url, "DeletePortMapping", &[("NewProtocol", "TCP")])), Some(402));
    let ports: Vec<u16> = sim.mappings().iter().map(|m| m.external_port).collect();
    assert_eq!(ports, vec![40000, 40001, 50000]);

    assert_eq!(error_code(&soap(&url, "NoSuchAction", &[])), Some(401));
}

#[test]
fn secure_mode_refuses_other_clients() {
    let mut device = DeviceSpec::igd_v2();
    device.soap.secure_mode = true;
    let sim = start(vec![device]);
    let url = sim.control_url(0);
    assert_eq!(error_code(&soap(&url, "AddPortMapping", &mapping_args("40000", "TCP", "10.0.0.9", "0"))), Some(718));
    assert_eq!(error_code(&soap(&url, "AddAnyPortMapping", &mapping_args("40000", "TCP", "10.0.0.9", "0"))), Some(606));
    assert_eq!(soap(&url, "AddPortMapping", &mapping_args("40000", "TCP", "127.0.0.1", "0")).status, 200);
}

#[test]
fn injected_faults_replace_the_answers() {
    let sim = start(vec![
        DeviceSpec::igd_v2()
            .with_fault("AddPortMapping", SoapFault::upnp(899, "Mystery"))
            .with_fault("GetExternalIPAddress", SoapFault::WrongBody(b"<html>hello</html>".to_vec()))
            .with_fault("GetStatusInfo", SoapFault::EmptyBody)
            .with_fault("GetGenericPortMappingEntry", SoapFault::Status(503))
            .with_fault("DeletePortMapping", SoapFault::Delay(Duration::from_millis(200))),
    ]);
    let url = sim.control_url(0);
    let mystery = soap(&url, "AddPortMapping", &mapping_args("40000", "TCP", "127.0.0.1", "0"));
    assert_eq!((mystery.status, error_code(&mystery)), (500, Some(899)));
    assert_eq!(element(&mystery.text(), "errorDescription").as_deref(), Some("Mystery"));
    assert!(sim.mappings().is_empty());
    let wrong = soap(&url, "GetExternalIPAddress", &[]);
    assert_eq!((wrong.status, wrong.body.as_slice()), (200, &b"<html>hello</html>"[..]));
    let empty = soap(&url, "GetStatusInfo", &[]);
    assert_eq!((empty.status, empty.body.len()), (200, 0));
    assert_eq!(empty.header("Content-Length").as_deref(), Some("0"));
    let status = soap(&url, "GetGenericPortMappingEntry", &[("NewPortMappingIndex", "0")]);
    assert_eq!((status.status, status.body.len()), (503, 0));
    let started = Instant::now();
    let delayed =
        soap(&url, "DeletePortMapping", &[("NewRemoteHost", ""), ("NewExternalPort", "1"), ("NewProtocol", "TCP")]);
    assert_eq!(delayed.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Other actions are untouched.
    assert_eq!(soap(&url, "AddAnyPortMapping", &mapping_args("40000", "TCP", "127.0.0.1", "0")).status, 200);

    // Faults can be limited and replaced at run time.
    sim.set_faults(0, vec![FaultRule::times("*", SoapFault::upnp(501, "ActionFailed"), 2)]);
    assert_eq!(error_code(&soap(&url, "GetStatusInfo", &[])), Some(501));
    assert_eq!(error_code(&soap(&url, "GetExternalIPAddress", &[])), Some(501));
    assert_eq!(soap(&url, "GetStatusInfo", &[]).status, 200);
}

#[test]
fn reset_and_stall_faults() {
    let sim = start(vec![
        DeviceSpec::igd_v2()
            .with_fault("GetStatusInfo", SoapFault::Reset)
            .with_fault("GetExternalIPAddress", SoapFault::Stall),
    ]);
    let url = sim.control_url(0);
    let (addr, _) = split_url(&url);

    let mut stream = connect(addr);
    stream
        .write_all(&soap_request(&url, "urn:schemas-upnp-org:service:WANIPConnection:2", "GetStatusInfo", &[]))
        .unwrap();
    let mut buf = Vec::new();
    let err = stream.read_to_end(&mut buf).expect_err("a reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(buf.is_empty());

    let mut stalled = connect(addr);
    stalled
        .write_all(&soap_request(&url, "urn:schemas-upnp-org:service:WANIPConnection:2", "GetExternalIPAddress", &[]))
        .unwrap();
    stalled.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let err = stalled.read(&mut [0u8; 16]).expect_err("no answer");
    assert!(matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut));
    let stopping = Instant::now();
    sim.stop();
    assert!(stopping.elapsed() < Duration::from_millis(200), "stop took {:?}", stopping.elapsed());
}

#[test]
fn posts_without_soapaction_get_miniupnpds_400() {
    let sim = start(vec![DeviceSpec::igd_v2()]);
    let (addr, _) = split_url(&sim.control_url(0));
    let answer = common::exchange(addr, b"POST /ctl/IPConn HTTP/1.1\r\nContent-Length: 2\r\n\r\n<>").unwrap();
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body, b"<html><body>Bad request</body></html>");
    assert_eq!(sim.requests()[0].body, b"<>");
}

#[test]
fn an_igd_v1_answers_with_its_service_type() {
    let sim = start(vec![DeviceSpec::igd_v1()]);
    // A SOAPAction naming only the action and a body without namespace: the configured
    // (v1) service type is used.
    let body = "<s:Envelope><s:Body><GetExternalIPAddress/></s:Body></s:Envelope>";
    let request = format!(
        "POST /ctl/IPConn HTTP/1.1\r\nSOAPAction: GetExternalIPAddress\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = common::exchange(split_url(&sim.control_url(0)).0, request.as_bytes()).unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.text().contains("xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\""), "{}", answer.text());
}
