//! Start, stop and the binary: everything ends promptly, whatever is in flight.

mod common;

use common::{REFUSAL_WAIT, connect, msearch, search, split_url, start};
use igd_sim::{
    Content, DeviceSpec, Flood, FloodVary, HttpBehavior, SimConfig, Simulator, SoapFault, SsdpAnswer, SsdpBehavior,
};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn assert_closed(http: SocketAddr, ssdp: SocketAddr) {
    let err = TcpStream::connect_timeout(&http, REFUSAL_WAIT).expect_err("the listener is closed");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    // A datagram to a closed UDP port comes back as "connection refused" on a connected
    // socket; Windows reports the ICMP error as WSAECONNRESET.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.connect(ssdp).unwrap();
    probe.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    probe.send(&msearch("upnp:rootdevice")).unwrap();
    let err = probe.recv(&mut [0u8; 64]).expect_err("no answer");
    let refused = if cfg!(windows) { io::ErrorKind::ConnectionReset } else { io::ErrorKind::ConnectionRefused };
    assert_eq!(err.kind(), refused);
}

#[test]
fn stop_is_prompt_with_everything_in_flight() {
    let sim = start(vec![
        DeviceSpec::igd_v2().with_http(HttpBehavior::Stall),
        DeviceSpec::igd_v2().with_http(HttpBehavior::Trickle { content: Content::IgdV2, bytes_per_second: 10 }),
        DeviceSpec::igd_v2().with_http(HttpBehavior::Huge { bytes: 10_000_000_000, content_length: false }),
        DeviceSpec::igd_v2().with_fault("*", SoapFault::Delay(Duration::from_secs(30))),
        DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Flood(Flood {
            count: 1_000_000,
            vary: FloodVary::Both,
            per_second: Some(1000),
        })),
        DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Answer(SsdpAnswer::echo().with_delay(Duration::from_secs(30)))),
    ]);
    let mut held = Vec::new();
    for i in 0..3 {
        let (addr, _) = split_url(&sim.location(i));
        let mut stream = connect(addr);
        stream.write_all(b"GET /rootDesc.xml HTTP/1.1\r\n\r\n").unwrap();
        held.push(stream);
    }
    let url = sim.control_url(3);
    let mut delayed = connect(split_url(&url).0);
    delayed
        .write_all(&common::soap_request(&url, "urn:schemas-upnp-org:service:WANIPConnection:2", "GetStatusInfo", &[]))
        .unwrap();
    // The huge body's reader reads nothing: the server blocks in writes.
    let searcher = common::search_socket();
    searcher.send_to(&msearch("upnp:rootdevice"), sim.ssdp_addr()).unwrap();
    assert!(sim.wait_for_requests(4, Duration::from_secs(2), |r| r.device.is_some()));
    std::thread::sleep(Duration::from_millis(200));

    let (http, ssdp) = (split_url(&sim.location(0)).0, sim.ssdp_addr());
    let stopping = Instant::now();
    sim.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_millis(200), "stop took {took:?}");
    assert_closed(http, ssdp);
    // Every held connection was closed (after a partial answer for some).
    for mut stream in held.into_iter().chain([delayed]) {
        stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut sink = Vec::new();
        let end = stream.read_to_end(&mut sink);
        assert!(end.is_ok() || end.is_err_and(|e| e.kind() == io::ErrorKind::ConnectionReset));
    }
}

#[test]
fn drop_stops_too() {
    let sim = start(vec![DeviceSpec::igd_v2().with_http(HttpBehavior::Stall)]);
    let (http, ssdp) = (split_url(&sim.location(0)).0, sim.ssdp_addr());
    let _held = connect(http);
    assert_eq!(search(&sim, "upnp:rootdevice", Duration::from_millis(100)).len(), 1);
    let dropping = Instant::now();
    drop(sim);
    assert!(dropping.elapsed() < Duration::from_millis(200));
    assert_closed(http, ssdp);
}

#[test]
fn start_fails_cleanly_on_an_address_that_is_not_here() {
    // 192.0.2.1 (documentation range) is on no interface: binding fails, nothing is sent.
    let config = SimConfig::unicast_local(vec![DeviceSpec::igd_v2().on_ip([192, 0, 2, 1].into())]);
    let err = Simulator::start(config).expect_err("cannot bind");
    assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable, "{err}");
    // A later device failing (its port is taken) stops the ones already bound.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config =
        SimConfig::unicast_local(vec![DeviceSpec::igd_v2(), DeviceSpec::igd_v2().at(taken.local_addr().unwrap())]);
    let err = Simulator::start(config).expect_err("the port is taken");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
}

#[test]
fn the_binary_serves_until_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_igd-sim"))
        .args(["--unicast", "127.0.0.1:0", "--count", "2", "--kind", "igd-v1", "--duration", "20"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ssdp: SocketAddr = lines.next().unwrap().unwrap().strip_prefix("SSDP ").unwrap().parse().unwrap();
    let (mut locations, mut controls) = (Vec::new(), Vec::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "READY" {
            break;
        }
        let mut words = line.split(' ');
        let list = match words.next() {
            Some("LOCATION") => &mut locations,
            Some("CONTROL") => &mut controls,
            other => panic!("unexpected line {other:?}"),
        };
        assert_eq!(words.next(), Some(list.len().to_string().as_str()));
        list.push(words.next().unwrap().to_string());
    }
    assert_eq!((locations.len(), controls.len()), (2, 2));
    assert!(locations[1].starts_with("http://127.0.0.2:"));
    assert_eq!(controls[1], locations[1].replace("/rootDesc.xml", "/ctl/IPConn"));
    let searcher = common::search_socket();
    searcher.send_to(&msearch("urn:schemas-upnp-org:device:InternetGatewayDevice:1"), ssdp).unwrap();
    assert_eq!(common::collect(&searcher, Duration::from_millis(200)).len(), 2);
    assert_eq!(common::get(&locations[0]).unwrap().body, igd_sim::IGD_V1_DESCRIPTION);

    let closing = Instant::now();
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(closing.elapsed() < Duration::from_secs(1));
}

#[test]
fn the_binary_stops_after_its_duration_and_rejects_bad_flags() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_igd-sim"))
        .args(["--unicast", "127.0.0.1:0", "--kind", "stall", "--duration", "0.3", "--ignore-stdin"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(String::from_utf8(out.stdout).unwrap().ends_with("READY\n"));

    let bad = Command::new(env!("CARGO_BIN_EXE_igd-sim")).args(["--kind", "nonsense"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let help = Command::new(env!("CARGO_BIN_EXE_igd-sim")).arg("--help").output().unwrap();
    assert!(String::from_utf8(help.stdout).unwrap().contains("--multicast IFACE"));
    let mut stderr = String::new();
    let _ = (&bad.stderr[..]).read_to_string(&mut stderr);
    assert!(stderr.contains("--unicast"), "{stderr}");
}
