//! The bed's router is as quick as a real one: the suites that discover from several
//! threads at once (the Godot threads suite: four `discover(1000)` in parallel) rely on
//! miniupnpd answering a burst of searches in milliseconds, as a router does. Its own
//! bed (namespaces `gs-speed-*`), so it never collides with another suite's.

use igd_tests::Bed;
use std::time::Duration;

/// Searches sent at once, as several discoveries with their repeats would.
const SEARCHES: usize = 40;

/// Sends `SEARCHES` IGD searches at once from the client namespace, then prints how many
/// answers came (within 3 s; it stops 0.5 s after the last once every search could have
/// had one) and the milliseconds from the first send to the last answer.
const BURST: &str = r#"
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
s.settimeout(0.2)
search = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
          b"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n")
start = time.monotonic()
for _ in range(n):
    s.sendto(search, ("239.255.255.250", 1900))
answers, last = 0, 0.0
while time.monotonic() - start < 3:
    try:
        s.recv(2048)
    except socket.timeout:
        if answers >= n and time.monotonic() - start - last > 0.5:
            break
        continue
    answers += 1
    last = time.monotonic() - start
print(answers, round(last * 1000))
"#;

/// Found by the Godot threads suite, which failed in about half the runs on a loaded
/// machine: with no syslog socket in the bed, miniupnpd (openlog with LOG_CONS) wrote
/// each of its ~25 log lines per search to /dev/console as well, 1 to 4 ms a line, so
/// that it took 50-100 ms per search; four discoveries at once waited 700 ms and more
/// for their answers and ran out of time before the description was read. 40 searches
/// took about 1.5 s then (idle machine), 110 to 200 ms with the console out of the way
/// (three busy loops on the machine's two cores).
#[test]
fn the_router_answers_a_burst_of_searches_within_milliseconds() {
    let bed = Bed::up_prefixed("gs", "speed", &[]);
    let out = bed.in_client("python3").args(["-c", BURST, &SEARCHES.to_string()]).output().expect("run python3");
    assert!(out.status.success(), "burst failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<u64> = text.split_whitespace().map(|n| n.parse().expect("a number")).collect();
    let (answers, last_ms) = (numbers[0] as usize, numbers[1]);
    assert!(answers >= SEARCHES, "{answers} answers to {SEARCHES} searches");
    let limit = Duration::from_millis(600);
    assert!(
        Duration::from_millis(last_ms) < limit,
        "the router took {last_ms} ms to answer {SEARCHES} searches (limit {} ms)",
        limit.as_millis()
    );
}
