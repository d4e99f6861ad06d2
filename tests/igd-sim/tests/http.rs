//! HTTP behaviours of the description URL, seen from a plain TCP socket on 127.0.0.1.

mod common;

use common::{REFUSAL_WAIT, connect, exchange, get, parse_answer, split_url, start};
use igd_sim::{Content, DeviceSpec, HttpBehavior, IGD_V1_DESCRIPTION, IGD_V2_DESCRIPTION};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

fn device(http: HttpBehavior) -> DeviceSpec {
    DeviceSpec::igd_v2().with_http(http)
}

#[test]
fn captured_descriptions_are_served_like_miniupnpd() {
    let sim = start(vec![DeviceSpec::igd_v2(), DeviceSpec::igd_v1(), DeviceSpec::media_renderer()]);
    let answer = get(&sim.location(0)).unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(answer.header("Content-Type").as_deref(), Some("text/xml; charset=\"utf-8\""));
    assert_eq!(answer.header("Connection").as_deref(), Some("close"));
    assert_eq!(answer.header("Content-Length"), Some(IGD_V2_DESCRIPTION.len().to_string()));
    assert_eq!(answer.body, IGD_V2_DESCRIPTION);
    assert!(answer.text().contains("<controlURL>/ctl/IPConn</controlURL>"));
    assert_eq!(get(&sim.location(1)).unwrap().body, IGD_V1_DESCRIPTION);
    let renderer = get(&sim.location(2)).unwrap().text();
    assert!(renderer.contains("urn:schemas-upnp-org:device:MediaRenderer:1"));
    assert!(!renderer.contains("WANIPConnection"));

    let recorded = sim.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].device, Some(0));
    assert_eq!((recorded[0].method.as_str(), recorded[0].path.as_str()), ("GET", "/rootDesc.xml"));
    assert_eq!(recorded[0].peer.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    assert_eq!(recorded[0].action, None);
}

#[test]
fn custom_bodies_statuses_redirects_and_raw_bytes() {
    let sim = start(vec![
        device(HttpBehavior::Serve(Content::Bytes(b"<root/>".to_vec()))),
        device(HttpBehavior::Status { code: 404, body: b"nope".to_vec() }),
        device(HttpBehavior::Redirect { code: 301, location: "http://127.0.0.1:9/x.xml".into() }),
        device(HttpBehavior::Raw(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc".to_vec())),
    ]);
    assert_eq!(get(&sim.location(0)).unwrap().body, b"<root/>");
    let status = get(&sim.location(1)).unwrap();
    assert_eq!((status.status, status.body.as_slice()), (404, &b"nope"[..]));
    assert!(status.head.starts_with("HTTP/1.1 404 Not Found\r\n"));
    let redirect = get(&sim.location(2)).unwrap();
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("Location").as_deref(), Some("http://127.0.0.1:9/x.xml"));
    assert!(redirect.body.is_empty());
    let raw = get(&sim.location(3)).unwrap();
    assert_eq!(raw.head, "HTTP/1.0 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n");
    assert_eq!(raw.body, b"abc");
}

#[test]
fn odd_contents_are_what_they_claim() {
    let sim = start(vec![
        device(HttpBehavior::Serve(Content::InvalidUtf8)),
        device(HttpBehavior::Serve(Content::InvalidXml)),
        device(HttpBehavior::Serve(Content::EntityBomb)),
    ]);
    let invalid_utf8 = get(&sim.location(0)).unwrap().body;
    assert!(std::str::from_utf8(&invalid_utf8).is_err());
    assert!(invalid_utf8.windows(2).any(|w| w == b"\xff\xfe"));
    let invalid_xml = get(&sim.location(1)).unwrap().text();
    assert!(invalid_xml.ends_with("<broken attr=>\n"));
    assert!(!invalid_xml.contains("</root>"));
    let bomb = get(&sim.location(2)).unwrap().text();
    assert!(bomb.contains("<!ENTITY lol9 \"&lol8;&lol8;"));
    assert!(bomb.contains("<friendlyName>&lol9;</friendlyName>"));
    assert!(bomb.len() < 2048, "the bomb is small until expanded");
}

#[test]
fn chunked_bodies_decode_to_the_description() {
    let sim = start(vec![device(HttpBehavior::Chunked { content: Content::IgdV2, chunk_size: 100 })]);
    let answer = get(&sim.location(0)).unwrap();
    assert_eq!(answer.header("Transfer-Encoding").as_deref(), Some("chunked"));
    assert_eq!(answer.header("Content-Length"), None);
    // De-chunk.
    let mut body = Vec::new();
    let mut rest = answer.body.as_slice();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            assert_eq!(rest, b"\r\n");
            break;
        }
        assert!(size <= 100);
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
    assert_eq!(body, IGD_V2_DESCRIPTION);
}

#[test]
fn trickle_sends_at_about_the_rate() {
    let body = vec![b'x'; 300];
    let sim =
        start(vec![device(HttpBehavior::Trickle { content: Content::Bytes(body.clone()), bytes_per_second: 1000 })]);
    let (addr, _) = split_url(&sim.location(0));
    let mut stream = connect(addr);
    let started = Instant::now();
    stream.write_all(b"GET /rootDesc.xml HTTP/1.1\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut first_body_byte = None;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if first_body_byte.is_none() && raw.windows(5).any(|w| w == b"\r\n\r\nx") {
            first_body_byte = Some(started.elapsed());
        }
    }
    let elapsed = started.elapsed();
    let answer = parse_answer(&raw);
    assert_eq!(answer.header("Content-Length").as_deref(), Some("300"));
    assert_eq!(answer.body, body);
    // 300 bytes at 1000 B/s: 0.3 s; allow a slow machine.
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert!(first_body_byte.unwrap() < Duration::from_millis(150), "the body starts at once: {first_body_byte:?}");
}

#[test]
fn huge_bodies_are_streamed_with_and_without_length() {
    const SIZE: u64 = 100_000_000;
    let sim = start(vec![
        device(HttpBehavior::Huge { bytes: SIZE, content_length: true }),
        device(HttpBehavior::Huge { bytes: 5_000_000, content_length: false }),
    ]);
    for (i, size, length) in [(0, SIZE, Some(SIZE.to_string())), (1, 5_000_000, None)] {
        let (addr, _) = split_url(&sim.location(i));
        let mut stream = connect(addr);
        stream.write_all(b"GET /rootDesc.xml HTTP/1.1\r\n\r\n").unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert_eq!(common::header(&head, "Content-Length"), length);
        let mut start = [0u8; 21];
        stream.read_exact(&mut start).unwrap();
        assert_eq!(&start, b"<?xml version=\"1.0\"?>");
        let rest = io::copy(&mut stream, &mut io::sink()).unwrap();
        assert_eq!(rest + 21, size);
    }
}

#[test]
fn reset_mid_body_sends_part_then_a_reset() {
    let sim = start(vec![device(HttpBehavior::ResetMidBody { content: Content::IgdV2, after: 1000 })]);
    let (addr, _) = split_url(&sim.location(0));
    let mut stream = connect(addr);
    stream.write_all(b"GET /rootDesc.xml HTTP/1.1\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let error = loop {
        match stream.read(&mut buf) {
            Ok(0) => panic!("a clean close instead of a reset after {} bytes", raw.len()),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    let answer = parse_answer(&raw);
    assert_eq!(answer.header("Content-Length"), Some(IGD_V2_DESCRIPTION.len().to_string()));
    assert_eq!(answer.body, &IGD_V2_DESCRIPTION[..1000]);
}

#[test]
fn a_stall_holds_the_connection_until_stop() {
    let sim = start(vec![device(HttpBehavior::Stall)]);
    let (addr, _) = split_url(&sim.location(0));
    let mut stream = connect(addr);
    stream.write_all(b"GET /rootDesc.xml HTTP/1.1\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 16];
    let err = stream.read(&mut buf).expect_err("nothing comes");
    assert!(matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut));
    assert!(sim.wait_for_requests(1, Duration::from_secs(1), |r| r.method == "GET"));
    let stopping = Instant::now();
    sim.stop();
    assert!(stopping.elapsed() < Duration::from_millis(200), "stop took {:?}", stopping.elapsed());
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // Closed without an answer.
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn a_closed_port_refuses_connections() {
    let sim = start(vec![device(HttpBehavior::PortClosed)]);
    let (addr, _) = split_url(&sim.location(0));
    assert_ne!(addr.port(), 0);
    let err = std::net::TcpStream::connect_timeout(&addr, REFUSAL_WAIT).expect_err("refused");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn bad_requests_get_4xx() {
    let sim = start(vec![DeviceSpec::igd_v2()]);
    let (addr, _) = split_url(&sim.location(0));
    assert_eq!(exchange(addr, b"NONSENSE\r\n\r\n").unwrap().status, 400);
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exchange(addr, &big).unwrap().status, 431);
    assert_eq!(exchange(addr, b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").unwrap().status, 413);
    // Only the well-formed request... none of those was recorded.
    assert!(sim.requests().is_empty());
    // Bare LF heads are fine.
    assert_eq!(exchange(addr, b"GET /rootDesc.xml HTTP/1.0\n\n").unwrap().status, 200);
}
