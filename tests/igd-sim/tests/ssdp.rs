//! SSDP behaviours, seen from a plain UDP socket on 127.0.0.1.

mod common;

use common::{collect, header, msearch, search, search_socket, start};
use igd_sim::{DeviceSpec, Flood, FloodVary, RawAnswer, SsdpAnswer, SsdpBehavior, templates};
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
const WAIT: Duration = Duration::from_millis(150);

#[test]
fn an_igd_answers_its_searches_like_miniupnpd() {
    let sim = start(vec![DeviceSpec::igd_v2()]);
    let answers = search(&sim, IGD1, WAIT);
    assert_eq!(answers.len(), 1);
    let (bytes, from) = &answers[0];
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    // The version asked is echoed (an IGDv2 answers IGD:1 searches as IGD:1).
    assert_eq!(header(text, "ST").as_deref(), Some(IGD1));
    assert_eq!(header(text, "LOCATION"), Some(sim.location(0)));
    assert_eq!(header(text, "USN"), Some(format!("uuid:5d1e0000-0000-4000-8000-000000000000::{IGD1}")));
    assert!(text.ends_with("\r\n\r\n"));
    // From the device's own address, not the SSDP socket.
    assert_eq!(from.ip(), IpAddr::from([127, 0, 0, 1]));
    assert_ne!(*from, sim.ssdp_addr());

    let wan2 = "urn:schemas-upnp-org:service:WANIPConnection:2";
    assert_eq!(search(&sim, wan2, WAIT).len(), 1);
    assert!(search(&sim, "urn:schemas-upnp-org:service:WANPPPConnection:1", WAIT).is_empty());
    assert!(search(&sim, "urn:schemas-upnp-org:device:InternetGatewayDevice:3", WAIT).is_empty());
    let all = search(&sim, "ssdp:all", WAIT);
    let sts: HashSet<String> =
        all.iter().map(|(b, _)| header(std::str::from_utf8(b).unwrap(), "ST").unwrap()).collect();
    assert_eq!(sts.len(), igd_sim::IgdVersion::V2.search_targets().len());
    assert!(sts.contains("urn:schemas-upnp-org:device:InternetGatewayDevice:2"));

    // The searches were recorded.
    let searches: Vec<_> = sim.requests().into_iter().filter(|r| r.is_search()).collect();
    assert_eq!(searches.len(), 5);
    assert_eq!(searches[0].header("ST"), Some(IGD1));
    assert_eq!(searches[0].path, "*");
}

#[test]
fn several_devices_answer_each_from_its_own_address() {
    let sim = start(vec![
        DeviceSpec::igd_v2(),
        DeviceSpec::igd_v1().on_ip([127, 0, 0, 2].into()),
        DeviceSpec::media_renderer().on_ip([127, 0, 0, 3].into()),
    ]);
    let mut answers = search(&sim, "upnp:rootdevice", WAIT);
    answers.sort_by_key(|(_, from)| from.ip());
    assert_eq!(answers.len(), 3);
    for (i, (bytes, from)) in answers.iter().enumerate() {
        let location = header(std::str::from_utf8(bytes).unwrap(), "LOCATION").unwrap();
        assert_eq!(location, sim.location(i));
        assert!(location.starts_with(&format!("http://{}:", from.ip())), "{location} from {from}");
    }
    // Only the renderer answers a renderer search; only the gateways a gateway search.
    assert_eq!(search(&sim, "urn:schemas-upnp-org:device:MediaRenderer:1", WAIT).len(), 1);
    assert_eq!(search(&sim, IGD1, WAIT).len(), 2);
}

#[test]
fn echo_fixed_st_copies_and_delay() {
    let sim = start(vec![
        DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Answer(SsdpAnswer::echo().with_copies(3))),
        DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Answer(SsdpAnswer::echo().with_fixed_st("upnp:rootdevice"))),
        DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Answer(SsdpAnswer::echo().with_delay(Duration::from_millis(300)))),
    ]);
    let socket = search_socket();
    let sent = Instant::now();
    socket.send_to(&msearch("my:odd:target"), sim.ssdp_addr()).unwrap();
    let early = collect(&socket, Duration::from_millis(150));
    assert_eq!(early.len(), 4, "three copies and one fixed-ST answer come at once");
    let sts: Vec<String> = early.iter().map(|(b, _)| header(std::str::from_utf8(b).unwrap(), "ST").unwrap()).collect();
    assert_eq!(sts.iter().filter(|s| *s == "my:odd:target").count(), 3);
    assert_eq!(sts.iter().filter(|s| *s == "upnp:rootdevice").count(), 1);
    let late = collect(&socket, Duration::from_millis(600));
    assert_eq!(late.len(), 1, "the delayed answer");
    let elapsed = sent.elapsed();
    assert!(elapsed >= Duration::from_millis(300));
    assert_eq!(header(std::str::from_utf8(&late[0].0).unwrap(), "LOCATION"), Some(sim.location(2)));
}

#[test]
fn raw_templates_fill_their_placeholders_and_keep_odd_bytes() {
    let mut only_igd = RawAnswer::many(vec![templates::NOTIFY.to_vec(), templates::INVALID_UTF8.to_vec()]);
    only_igd.answer_to = vec![IGD1.to_string()];
    let sim = start(vec![
        DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Raw(only_igd)),
        DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Raw(RawAnswer::one(
            b"HTTP/1.1 200 OK\r\nLOCATION: {LOCATION}\r\nST: {ST}\r\nUSN: {USN}\r\nX: {IP} {PORT} {HOSTPORT} {UUID}\r\n\r\n"
                .to_vec(),
        ))),
    ]);
    let mut answers = search(&sim, IGD1, WAIT);
    answers.sort_by_key(|(b, _)| b.clone());
    assert_eq!(answers.len(), 3);
    let texts: Vec<String> = answers.iter().map(|(b, _)| String::from_utf8_lossy(b).into_owned()).collect();
    let filled = texts.iter().find(|t| t.starts_with("HTTP/1.1 200 OK\r\nLOCATION")).unwrap();
    let port = sim.location(1).split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
    assert_eq!(
        *filled,
        format!(
            "HTTP/1.1 200 OK\r\nLOCATION: {}\r\nST: {IGD1}\r\nUSN: uuid:5d1e0000-0000-4000-8000-000000000001::{IGD1}\r\n\
             X: 127.0.0.1 {port} 127.0.0.1:{port} 5d1e0000-0000-4000-8000-000000000001\r\n\r\n",
            sim.location(1)
        )
    );
    assert!(texts.iter().any(|t| t.starts_with("NOTIFY * HTTP/1.1") && t.contains(&sim.location(0))));
    let invalid = answers.iter().find(|(b, _)| std::str::from_utf8(b).is_err()).expect("invalid UTF-8 kept");
    assert!(invalid.0.windows(3).any(|w| w == b"\xff\xfe\xfd"));
    // The first device answers only IGD searches.
    assert_eq!(search(&sim, "upnp:rootdevice", WAIT).len(), 1);
}

#[test]
fn a_silent_device_answers_nothing_but_serves_http() {
    let sim = start(vec![DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Silent)]);
    assert!(search(&sim, "ssdp:all", Duration::from_millis(200)).is_empty());
    assert_eq!(sim.requests().len(), 1, "the search was received");
    assert_eq!(common::get(&sim.location(0)).unwrap().status, 200);
}

#[test]
fn a_flood_sends_ten_thousand_distinct_answers() {
    let sim = start(vec![DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Flood(Flood {
        count: 10_000,
        vary: FloodVary::Both,
        per_second: Some(25_000),
    }))]);
    let socket = search_socket();
    let started = Instant::now();
    socket.send_to(&msearch(IGD1), sim.ssdp_addr()).unwrap();
    let mut usns = HashSet::new();
    let mut locations = HashSet::new();
    let mut buf = vec![0u8; 4096];
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        usns.insert(header(text, "USN").unwrap());
        locations.insert(header(text, "LOCATION").unwrap());
        if usns.len() == 10_000 {
            break;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(usns.len(), 10_000);
    assert_eq!(locations.len(), 10_000);
    // Paced at 25,000/s: about 0.4 s.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    // The flood's LOCATIONs are served.
    let some = locations.iter().next().unwrap();
    assert!(some.contains("/flood/"));
    assert_eq!(common::get(some).unwrap().body, igd_sim::IGD_V2_DESCRIPTION);
}

#[test]
fn a_flood_can_vary_the_usn_only() {
    let sim = start(vec![DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Flood(Flood {
        count: 500,
        vary: FloodVary::Usn,
        per_second: None,
    }))]);
    let answers = search(&sim, IGD1, Duration::from_millis(300));
    let texts: Vec<String> = answers.iter().map(|(b, _)| String::from_utf8_lossy(b).into_owned()).collect();
    let usns: HashSet<_> = texts.iter().map(|t| header(t, "USN").unwrap()).collect();
    let locations: HashSet<_> = texts.iter().map(|t| header(t, "LOCATION").unwrap()).collect();
    assert_eq!(usns.len(), 500);
    assert_eq!(locations, HashSet::from([sim.location(0)]));
}

#[test]
fn searches_without_st_and_other_datagrams_get_no_answer() {
    let sim = start(vec![DeviceSpec::igd_v2().with_ssdp(SsdpBehavior::Answer(SsdpAnswer::echo()))]);
    let socket = search_socket();
    socket.send_to(b"M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\n", sim.ssdp_addr()).unwrap();
    socket.send_to(b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n", sim.ssdp_addr()).unwrap();
    socket.send_to(b"\xff\x00garbage", sim.ssdp_addr()).unwrap();
    assert!(collect(&socket, WAIT).is_empty());
    let methods: Vec<String> = sim.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods.len(), 3);
    assert_eq!(methods[1], "NOTIFY");
}
