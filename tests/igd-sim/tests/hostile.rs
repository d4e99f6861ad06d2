//! The hostile-devices matrix (issue 6): the real client (`upnp_core`) against simulated
//! devices that misbehave on purpose, on 127.0.0.0/8 only (unicast SSDP to the
//! simulator; never a multicast group, never another address).
//!
//! Each case must end with a DEFINED result, within the caller's deadline, in BOUNDED
//! memory, and with ONE clear line saying why:
//! - the result: the device's `IgdStatus` and `note`, a `Discovery::notes` entry, or for
//!   SOAP the engine-level `Failure` (`UpnpResult` and its message), as the game sees it
//!   through `engine::DeviceRecord`;
//! - the time: the call returns by its deadline plus [`SLACK`] (discovery: the timeout;
//!   SOAP: the engine's `ACTION_TIMEOUT`);
//! - the memory: a counting global allocator measures each case's peak live heap above
//!   what was live when the case began; a mutex runs the cases one at a time so that the
//!   figure is the case's own (the simulator's threads count too). Measured 150 to 300
//!   KiB, 550 KiB for the floods and 1.2 MiB for the 100 MB bodies (the 512 KiB body
//!   cap); bounds [`SMALL_HEAP`] 1 MiB and [`LARGE_HEAP`] 4 MiB (entity bomb, 100 MB
//!   bodies, floods);
//! - one line: the message or note is non-empty, has no line break and names the cause.
//!
//! Where it makes sense a good IGD sits next to the hostile device (device 0 on
//! 127.0.0.1, the hostile one on another 127.0.0.x) and must still be found.
//!
//! LOCATION policy (`upnp_core::protocol::url::location_allowed`): an SSDP answer's
//! `LOCATION` is fetched only when it is a plain `http://` URL (no user info, no IPv6
//! zone) whose host is an IP literal (no DNS lookup on behalf of a LAN device) equal to
//! the address the answer came from. The one exception is a link-local IPv6 sender,
//! which may name another address on the link the answer arrived on (miniupnpd answering
//! `ff02::c` names its ULA). Anything else is refused with a note, before any connection:
//! the `OTHER_HOST` case names 192.0.2.1, and the client must not (and does not) connect
//! to it. The URLs in a description (`URLBase`, `controlURL`) must stay on the
//! `LOCATION`'s host (`device_url_allowed`): the cases pointing them at a third simulated
//! IGD check that it receives nothing.
//!
//! Description redirects (301/302/307) are not followed: the device is `HttpError` with
//! the note `description not fetched: HTTP 3xx (redirects are not followed)`.
//!
//! Floods: one discovery keeps at most `MAX_ANSWERS` (256) answers, `MAX_ANSWERS_PER_HOST`
//! (32) from any one address, and examines at most `MAX_EXAMINED` (64) descriptions,
//! `MAX_EXAMINED_PER_HOST` (4) per address; each cap is noted once per host.
//!
//! `cargo test -p igd-sim --test hostile -- --nocapture` prints one line per case:
//! result, note or message, elapsed time and peak heap growth.

// A global allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]

use igd_sim::{
    Content, DeviceSpec, FaultRule, Flood, FloodVary, HttpBehavior, RawAnswer, SimConfig, Simulator, SoapFault,
    SsdpBehavior, templates,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use upnp_core::discover::{MAX_ANSWERS, MAX_ANSWERS_PER_HOST, MAX_EXAMINED_PER_HOST};
use upnp_core::engine::{DeviceRecord, Failure};
use upnp_core::gateway::ACTION_TIMEOUT;
use upnp_core::{Device, DiscoverOptions, Discovery, IgdStatus, SocketConfig, UpnpResult, discover, find_gateway};

// ---------------------------------------------------------------------------------------
// Heap accounting

/// Counts live heap bytes and their peak, for every thread of the process.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the
// counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---------------------------------------------------------------------------------------
// One case: serialised, timed, measured, printed

/// Runs the cases one at a time, so each measures its own heap.
static SERIAL: Mutex<()> = Mutex::new(());

/// What a call may take beyond its deadline (thread wake-ups on a busy 2-CPU machine).
const SLACK: Duration = Duration::from_millis(300);
/// The discovery timeout of most cases.
const TIMEOUT: Duration = Duration::from_millis(400);
/// Peak heap growth allowed for an ordinary case (descriptions of a few KiB, threads).
const SMALL_HEAP: usize = 1024 * 1024;
/// Peak heap growth allowed for the bomb, the 100 MB bodies and the flood.
const LARGE_HEAP: usize = 4 * 1024 * 1024;

struct Case {
    name: &'static str,
    base: usize,
    _serial: MutexGuard<'static, ()>,
}

impl Case {
    fn begin(name: &'static str) -> Case {
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        Case { name, base, _serial: serial }
    }

    /// Checks the time and heap bounds and prints the case's line.
    fn end(self, result: &str, line: &str, elapsed: Duration, deadline: Duration, heap_limit: usize) {
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(self.base);
        println!(
            "hostile: {:<34} {:<34} elapsed={:>5} ms peak_heap={:>5} KiB | {}",
            self.name,
            result,
            elapsed.as_millis(),
            peak / 1024,
            line
        );
        assert!(
            elapsed <= deadline + SLACK,
            "{}: took {} ms, past its deadline of {} ms (+{} ms slack)",
            self.name,
            elapsed.as_millis(),
            deadline.as_millis(),
            SLACK.as_millis()
        );
        assert!(
            peak <= heap_limit,
            "{}: peak heap growth {} KiB is over its bound of {} KiB",
            self.name,
            peak / 1024,
            heap_limit / 1024
        );
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn start(devices: Vec<DeviceSpec>) -> Simulator {
    Simulator::start(SimConfig::unicast_local(devices)).expect("the simulator starts")
}

/// A working IGDv2 on 127.0.0.1: the good device next to a hostile one.
fn good() -> DeviceSpec {
    DeviceSpec::igd_v2()
}

/// An IGDv2 on 127.0.0.`last`, to be made hostile.
fn hostile(last: u8) -> DeviceSpec {
    DeviceSpec::igd_v2().on_ip(ip(last))
}

/// A device answering every search with these raw datagrams.
fn raw(last: u8, template: &[u8]) -> DeviceSpec {
    hostile(last).with_ssdp(SsdpBehavior::Raw(RawAnswer::one(template)))
}

fn options(sim: &Simulator, timeout: Duration) -> DiscoverOptions {
    DiscoverOptions {
        timeout,
        socket: SocketConfig { unicast_target: Some(sim.ssdp_addr()), ..SocketConfig::default() },
        ..DiscoverOptions::default()
    }
}

/// A full discovery (it waits the whole timeout) and its time.
fn run_discover(sim: &Simulator, timeout: Duration) -> (Discovery, Duration) {
    let started = Instant::now();
    let found = discover(&options(sim, timeout)).expect("the search is sent");
    (found, started.elapsed())
}

/// The device listed for simulated device `i`.
fn listed<'a>(found: &'a Discovery, sim: &Simulator, i: usize) -> Option<&'a Device> {
    found.devices.iter().find(|d| d.description_url == sim.location(i))
}

/// Asserts that `text` is one non-empty line containing every one of `causes`.
fn one_line(what: &str, text: &str, causes: &[&str]) {
    assert!(!text.trim().is_empty(), "{what}: empty");
    assert!(!text.contains(['\n', '\r']), "{what}: more than one line: {text:?}");
    for cause in causes {
        assert!(text.contains(cause), "{what}: {text:?} does not say {cause:?}");
    }
}

/// Asserts that the good device 0 was found as a usable gateway.
fn good_found(found: &Discovery, sim: &Simulator) {
    let device = listed(found, sim, 0).unwrap_or_else(|| panic!("the good IGD is listed: {found:#?}"));
    assert_eq!(device.status, IgdStatus::Ok, "the good IGD: {}", device.note);
    assert!(device.is_valid_gateway());
}

/// The hostile device `i`'s listing: its status and note.
fn hostile_device<'a>(found: &'a Discovery, sim: &Simulator, i: usize) -> &'a Device {
    listed(found, sim, i).unwrap_or_else(|| panic!("device {i} is listed: {found:#?}"))
}

/// The notes about datagrams from 127.0.0.`last`.
fn notes_from(found: &Discovery, last: u8) -> Vec<&String> {
    let prefix = format!("{}:", ip(last));
    found.notes.iter().filter(|n| n.contains(&prefix)).collect()
}

/// Discovery with a good IGD (0) and a hostile one (1) whose description path
/// misbehaves: the hostile one ends with `status` and a note naming `causes`.
fn description_case(
    name: &'static str,
    hostile_device_spec: DeviceSpec,
    timeout: Duration,
    status: IgdStatus,
    causes: &[&str],
    heap_limit: usize,
) {
    let case = Case::begin(name);
    let sim = start(vec![good(), hostile_device_spec]);
    let (found, elapsed) = run_discover(&sim, timeout);
    good_found(&found, &sim);
    let bad = hostile_device(&found, &sim, 1);
    assert_eq!(bad.status, status, "{name}: {}", bad.note);
    assert!(!bad.is_valid_gateway());
    one_line(name, &bad.note, causes);
    drop(sim);
    case.end(&format!("status={:?}", bad.status), &bad.note, elapsed, timeout, heap_limit);
}

/// Discovery with a good IGD (0) and a device (1 on 127.0.0.`last`) whose SSDP answer is
/// refused: it is not listed, nothing of it is fetched, and a note names `causes`.
fn refused_answer_case(name: &'static str, last: u8, template: &[u8], causes: &[&str]) {
    let case = Case::begin(name);
    let sim = start(vec![good(), raw(last, template)]);
    let (found, elapsed) = run_discover(&sim, TIMEOUT);
    good_found(&found, &sim);
    assert!(listed(&found, &sim, 1).is_none(), "{name}: the refused answer is not listed");
    assert_eq!(found.devices.len(), 1, "{name}: only the good IGD: {:#?}", found.devices);
    let fetched = sim.requests().iter().filter(|r| r.device == Some(1)).count();
    assert_eq!(fetched, 0, "{name}: nothing was fetched from the refused device");
    let notes = notes_from(&found, last);
    assert!(!notes.is_empty(), "{name}: a note about {}: {:?}", ip(last), found.notes);
    for note in &notes {
        one_line(name, note, causes);
    }
    drop(sim);
    case.end("refused", notes[0], elapsed, TIMEOUT, SMALL_HEAP);
}

/// Discovery with a good IGD (0) and a device (1 on 127.0.0.`last`) whose odd but valid
/// SSDP answer must be understood: both are usable gateways.
fn accepted_answer_case(name: &'static str, last: u8, template: &[u8]) {
    let case = Case::begin(name);
    let sim = start(vec![good(), raw(last, template)]);
    let (found, elapsed) = run_discover(&sim, TIMEOUT);
    good_found(&found, &sim);
    let odd = hostile_device(&found, &sim, 1);
    assert_eq!(odd.status, IgdStatus::Ok, "{name}: {}", odd.note);
    assert!(odd.is_valid_gateway());
    assert!(notes_from(&found, last).is_empty(), "{name}: no note: {:?}", found.notes);
    drop(sim);
    case.end("status=Ok", "(found)", elapsed, TIMEOUT, SMALL_HEAP);
}

/// A usable gateway record (engine level) for device 0 of `sim`.
fn gateway_record(sim: &Simulator) -> DeviceRecord {
    let found = find_gateway(&options(sim, Duration::from_secs(2))).expect("the search is sent");
    let device = found.gateway().unwrap_or_else(|| panic!("a usable gateway: {found:#?}"));
    assert_eq!(device.description_url, sim.location(0));
    DeviceRecord::from(device)
}

/// Asserts an engine-level failure: its code and its one line naming `causes`.
fn failure(name: &str, outcome: Result<impl std::fmt::Debug, Failure>, result: UpnpResult, causes: &[&str]) -> Failure {
    let failure = outcome.expect_err(name);
    assert_eq!(failure.result, result, "{name}: {}", failure.message);
    one_line(name, &failure.message, causes);
    assert!(!failure.warning, "{name}: an error, not a warning");
    failure
}

/// The engine's hint for an HTTP error that is a timeout.
const TIMEOUT_HINT: &str = "did not answer in time";

/// A SOAP case: a gateway whose `AddPortMapping` gets `fault`; the engine's
/// `add_port_mapping` must fail with `result`, name `causes` and say none of `absent`.
fn soap_add_case(
    name: &'static str,
    fault: SoapFault,
    result: UpnpResult,
    causes: &[&str],
    absent: &[&str],
    within: Duration,
) {
    let case = Case::begin(name);
    let sim = start(vec![good().with_fault("AddPortMapping", fault)]);
    let record = gateway_record(&sim);
    let started = Instant::now();
    let outcome = record.add_port_mapping(40000, 40000, "hostile", "TCP", 60);
    let elapsed = started.elapsed();
    let failure = failure(name, outcome, result, causes);
    for wrong in absent {
        assert!(!failure.message.contains(wrong), "{name}: {:?} says {wrong:?}", failure.message);
    }
    assert!(failure.message.starts_with("Couldn't add port mapping. AddPortMapping"), "{name}: {}", failure.message);
    assert!(sim.mappings().is_empty(), "{name}: no mapping was made");
    drop(sim);
    case.end(
        &format!("{:?} ({})", failure.result, failure.result.code()),
        &failure.message,
        elapsed,
        within,
        SMALL_HEAP,
    );
}

// ---------------------------------------------------------------------------------------
// Descriptions

#[test]
fn entity_bomb() {
    description_case(
        "entity_bomb",
        hostile(2).with_http(HttpBehavior::Serve(Content::EntityBomb)),
        TIMEOUT,
        IgdStatus::UnknownDevice,
        &["unreadable description", "entity", "&lol9;"],
        LARGE_HEAP,
    );
}

#[test]
fn huge_description_with_content_length() {
    description_case(
        "huge_100MB_with_length",
        hostile(3).with_http(HttpBehavior::Huge { bytes: 100 << 20, content_length: true }),
        TIMEOUT,
        IgdStatus::HttpError,
        &["description not fetched", "larger than 524288 bytes"],
        LARGE_HEAP,
    );
}

#[test]
fn huge_description_without_content_length() {
    description_case(
        "huge_100MB_without_length",
        hostile(4).with_http(HttpBehavior::Huge { bytes: 100 << 20, content_length: false }),
        TIMEOUT,
        IgdStatus::HttpError,
        &["description not fetched", "larger than 524288 bytes"],
        LARGE_HEAP,
    );
}

/// A body that never ends in time: 1 byte per second. The examination ends at the
/// discovery deadline; the note says so (whichever of the two sides saw it first).
#[test]
fn trickled_description() {
    unfinished_description_case(
        "trickle_1_byte_per_s",
        hostile(5).with_http(HttpBehavior::Trickle { content: Content::IgdV2, bytes_per_second: 1 }),
    );
}

/// A description that is still unfinished at the discovery deadline.
fn unfinished_description_case(name: &'static str, device: DeviceSpec) {
    let case = Case::begin(name);
    let sim = start(vec![good(), device]);
    let (found, elapsed) = run_discover(&sim, TIMEOUT);
    good_found(&found, &sim);
    let bad = hostile_device(&found, &sim, 1);
    assert_eq!(bad.status, IgdStatus::HttpError, "{}", bad.note);
    one_line(name, &bad.note, &["description not"]);
    assert!(bad.note.contains("in time") || bad.note.contains("within the timeout"), "{}", bad.note);
    drop(sim);
    case.end(&format!("status={:?}", bad.status), &bad.note, elapsed, TIMEOUT, SMALL_HEAP);
}

#[test]
fn reset_mid_body() {
    description_case(
        "reset_mid_body",
        hostile(6).with_http(HttpBehavior::ResetMidBody { content: Content::IgdV2, after: 1000 }),
        TIMEOUT,
        IgdStatus::HttpError,
        &["description not fetched", "connection"],
        SMALL_HEAP,
    );
}

/// Invalid UTF-8 in a description is replaced, not refused (Latin-1 friendly names).
#[test]
fn invalid_utf8_description() {
    let name = "invalid_utf8_description";
    let case = Case::begin(name);
    let sim = start(vec![good(), hostile(7).with_http(HttpBehavior::Serve(Content::InvalidUtf8))]);
    let (found, elapsed) = run_discover(&sim, TIMEOUT);
    good_found(&found, &sim);
    let odd = hostile_device(&found, &sim, 1);
    assert_eq!(odd.status, IgdStatus::Ok, "{}", odd.note);
    assert_eq!(odd.friendly_name, "IGD \u{fffd}\u{fffd} router");
    drop(sim);
    case.end("status=Ok", &format!("friendly_name={:?}", odd.friendly_name), elapsed, TIMEOUT, SMALL_HEAP);
}

#[test]
fn invalid_xml() {
    description_case(
        "invalid_xml",
        hostile(8).with_http(HttpBehavior::Serve(Content::InvalidXml)),
        TIMEOUT,
        IgdStatus::UnknownDevice,
        &["unreadable description: malformed XML"],
        SMALL_HEAP,
    );
}

/// Redirects are not followed: each is `HttpError` with its status in the note (the
/// target, on 127.0.0.1:9, is never asked for).
#[test]
fn description_redirects() {
    let name = "redirect_301_302_307";
    let case = Case::begin(name);
    let target = "http://127.0.0.1:9/rootDesc.xml".to_string();
    let codes = [301, 302, 307];
    let mut devices = vec![good()];
    for (i, code) in codes.iter().enumerate() {
        devices.push(hostile(10 + i as u8).with_http(HttpBehavior::Redirect { code: *code, location: target.clone() }));
    }
    let sim = start(devices);
    let (found, elapsed) = run_discover(&sim, TIMEOUT);
    good_found(&found, &sim);
    let mut notes = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let bad = hostile_device(&found, &sim, i + 1);
        assert_eq!(bad.status, IgdStatus::HttpError, "{code}: {}", bad.note);
        one_line(name, &bad.note, &[&format!("description not fetched: HTTP {code} (redirects are not followed)")]);
        notes.push(bad.note.clone());
    }
    drop(sim);
    case.end("status=HttpError x3", &notes.join(" / "), elapsed, TIMEOUT, SMALL_HEAP);
}

/// Chunked transfer coding must work: the device is found.
#[test]
fn chunked_description() {
    let name = "chunked_description";
    let case = Case::begin(name);
    let sim = start(vec![hostile(13).with_http(HttpBehavior::Chunked { content: Content::IgdV2, chunk_size: 7 })]);
    let started = Instant::now();
    let found = find_gateway(&options(&sim, TIMEOUT)).expect("the search is sent");
    let elapsed = started.elapsed();
    let device = found.gateway().unwrap_or_else(|| panic!("the chunked device is a gateway: {found:#?}"));
    assert_eq!(device.description_url, sim.location(0));
    assert_eq!(device.friendly_name, "IGD test bed router");
    assert!(elapsed < TIMEOUT, "found before the timeout ({} ms)", elapsed.as_millis());
    drop(sim);
    case.end("status=Ok", "(found, find_gateway returned early)", elapsed, TIMEOUT, SMALL_HEAP);
}

#[test]
fn http_port_closed() {
    description_case(
        "http_port_closed",
        hostile(14).with_http(HttpBehavior::PortClosed),
        TIMEOUT,
        IgdStatus::HttpError,
        &["description not fetched", "refused"],
        SMALL_HEAP,
    );
}

/// A device that accepts the connection and never answers holds nothing past the
/// deadline.
#[test]
fn stalled_http() {
    unfinished_description_case("stalled_http", hostile(15).with_http(HttpBehavior::Stall));
}

// ---------------------------------------------------------------------------------------
// SSDP answers

#[test]
fn invalid_utf8_ssdp_header() {
    // The bad bytes are in SERVER, which the client does not use: the answer counts.
    accepted_answer_case("invalid_utf8_ssdp_header", 20, templates::INVALID_UTF8);
}

#[test]
fn invalid_utf8_in_location() {
    refused_answer_case(
        "invalid_utf8_in_location",
        21,
        b"HTTP/1.1 200 OK\r\nST: {ST}\r\nUSN: {USN}\r\nLOCATION: http://{HOSTPORT}/\xff\xfe.xml\r\n\r\n",
        &["ignored a datagram from 127.0.0.21:", "not valid UTF-8"],
    );
}

#[test]
fn odd_cased_headers() {
    accepted_answer_case("odd_cased_headers", 22, templates::ODD_CASE);
}

#[test]
fn lf_only_line_ends() {
    accepted_answer_case("lf_only_line_ends", 23, templates::LF_ONLY);
}

#[test]
fn duplicate_same_header() {
    accepted_answer_case("duplicate_same_header", 24, templates::DUPLICATE_SAME);
}

#[test]
fn duplicate_conflicting_location() {
    refused_answer_case(
        "duplicate_conflicting_location",
        25,
        templates::DUPLICATE_CONFLICTING,
        &["ignored a datagram from 127.0.0.25:", "conflicting duplicate headers"],
    );
}

#[test]
fn missing_location() {
    refused_answer_case(
        "missing_location",
        26,
        templates::NO_LOCATION,
        &["ignored a datagram from 127.0.0.26:", "no LOCATION header"],
    );
}

#[test]
fn missing_st() {
    refused_answer_case("missing_st", 27, templates::NO_ST, &["ignored a datagram from 127.0.0.27:", "no ST header"]);
}

#[test]
fn notify_instead_of_answer() {
    refused_answer_case(
        "notify_instead_of_answer",
        28,
        templates::NOTIFY,
        &["ignored a datagram from 127.0.0.28:", "not an M-SEARCH answer"],
    );
}

#[test]
fn non_200_answer() {
    refused_answer_case(
        "non_200_answer",
        29,
        templates::NOT_OK,
        &["ignored a datagram from 127.0.0.29:", "not an M-SEARCH answer"],
    );
}

// ---------------------------------------------------------------------------------------
// LOCATION policy

/// LOCATION names 192.0.2.1: refused before any connection (the note comes from the
/// answer's check; the device is never listed, so never examined).
#[test]
fn location_on_another_host() {
    refused_answer_case(
        "location_other_host",
        30,
        templates::OTHER_HOST,
        &["ignored 127.0.0.30:", "http://192.0.2.1:", "is on another host than the device"],
    );
}

#[test]
fn location_https() {
    refused_answer_case(
        "location_https",
        31,
        templates::HTTPS,
        &["ignored 127.0.0.31:", "\"https://127.0.0.31:", "not an http:// URL"],
    );
}

#[test]
fn location_userinfo() {
    refused_answer_case(
        "location_userinfo",
        32,
        templates::USERINFO,
        &["ignored 127.0.0.32:", "user:pass@", "contains user credentials"],
    );
}

#[test]
fn location_ipv6_zone() {
    refused_answer_case(
        "location_ipv6_zone",
        33,
        templates::ZONE,
        &["ignored 127.0.0.33:", "%25eth0", "contains an IPv6 zone"],
    );
}

/// `localhost` would resolve to this very host: refused anyway (no DNS lookup for a
/// LAN device).
#[test]
fn location_host_name() {
    refused_answer_case(
        "location_host_name",
        34,
        templates::HOST_NAME,
        &["ignored 127.0.0.34:", "http://localhost:", "names a host, not an address"],
    );
}

// ---------------------------------------------------------------------------------------
// URLs in descriptions (the same host policy: `upnp_core::protocol::url::device_url_allowed`)

/// A device (1, on 127.0.0.`last`) whose description sends the client to a third host: a
/// working IGD on 127.0.0.`third_last` that records what it gets. `rewrite` makes the
/// description from the captured IGDv2 one and the third host's `http://ip:port`. The
/// device must be unusable with a note naming `causes`, and the third host must receive
/// nothing at all (not the SOAP calls, nor anything else).
fn foreign_url_case(
    name: &'static str,
    last: u8,
    third_last: u8,
    rewrite: impl Fn(&str, &str) -> String,
    causes: &[&str],
) {
    let case = Case::begin(name);
    let third = start(vec![good().on_ip(ip(third_last))]);
    let third_base = third.location(0).strip_suffix(igd_sim::DESCRIPTION_PATH).unwrap().to_string();
    let description = rewrite(std::str::from_utf8(igd_sim::IGD_V2_DESCRIPTION).unwrap(), &third_base);
    let sim = start(vec![good(), hostile(last).with_http(HttpBehavior::Serve(Content::Bytes(description.into())))]);
    let (found, elapsed) = run_discover(&sim, TIMEOUT);
    good_found(&found, &sim);
    let bad = hostile_device(&found, &sim, 1);
    assert!(!bad.is_valid_gateway(), "{name}: {bad:#?}");
    assert!(bad.gateway.is_none(), "{name}: no gateway at all: {bad:#?}");
    assert_eq!(bad.status, IgdStatus::InvalidControl, "{name}: {}", bad.note);
    let mut causes = causes.to_vec();
    causes.push(&third_base);
    one_line(name, &bad.note, &causes);
    let asked = third.requests();
    assert!(asked.is_empty(), "{name}: the third host received {} requests: {asked:#?}", asked.len());
    drop((sim, third));
    case.end(&format!("status={:?}", bad.status), &bad.note, elapsed, TIMEOUT, SMALL_HEAP);
}

/// `URLBase` naming another host: relative control URLs would resolve there, so every
/// game's SOAP (and the port mapper's NAT-PMP/PCP) would go to that host.
#[test]
fn url_base_on_another_host() {
    foreign_url_case(
        "url_base_other_host",
        50,
        52,
        |description, third| {
            let specs = "</specVersion>";
            description.replacen(specs, &format!("{specs}<URLBase>{third}/</URLBase>"), 1)
        },
        &["URLBase \"", "is on another host than the device"],
    );
}

/// An absolute `controlURL` naming another host.
#[test]
fn control_url_on_another_host() {
    foreign_url_case(
        "control_url_other_host",
        51,
        53,
        |description, third| {
            let relative = "<controlURL>/ctl/IPConn</controlURL>";
            assert!(description.contains(relative));
            description.replace(relative, &format!("<controlURL>{third}/ctl/IPConn</controlURL>"))
        },
        &["control URL \"", "is on another host than the device"],
    );
}

// ---------------------------------------------------------------------------------------
// Many answers

/// 10,000 distinct answers (USN and LOCATION path differ) to one search, paced (20,000
/// per second) so that they reach the client rather than overflow its socket: bounded
/// answers (the flooder gets MAX_ANSWERS_PER_HOST), examinations, notes, time and
/// memory, and the good IGD answering after the flood began is still found.
#[test]
fn flood_of_10000_answers() {
    let name = "flood_10000_answers";
    let case = Case::begin(name);
    let timeout = Duration::from_millis(700);
    let flood = Flood { count: 10_000, vary: FloodVary::Both, per_second: Some(20_000) };
    // The flooder is device 0 so that its answers go out before the good IGD's.
    let sim = start(vec![DeviceSpec::media_renderer().on_ip(ip(40)).with_ssdp(SsdpBehavior::Flood(flood)), good()]);
    let (found, elapsed) = run_discover(&sim, timeout);
    let good_device = listed(&found, &sim, 1).unwrap_or_else(|| panic!("the good IGD is listed: {:?}", found.notes));
    assert_eq!(good_device.status, IgdStatus::Ok, "{}", good_device.note);
    assert_eq!(found.gateway().map(|d| d.description_url.clone()), Some(sim.location(1)));
    // One host gets MAX_ANSWERS_PER_HOST answers, the rest of MAX_ANSWERS stays free.
    assert_eq!(found.answers, MAX_ANSWERS_PER_HOST + 1, "answers kept");
    const { assert!(MAX_ANSWERS_PER_HOST < MAX_ANSWERS) };
    let flood_listed = found.devices.iter().filter(|d| d.description_url.contains("/flood/")).count();
    assert_eq!(flood_listed, MAX_ANSWERS_PER_HOST, "flood answers listed");
    let fetched = sim.requests().iter().filter(|r| r.device == Some(0)).map(|r| r.path.clone()).collect::<Vec<_>>();
    let mut distinct = fetched.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() <= MAX_EXAMINED_PER_HOST, "descriptions fetched from the flooder: {distinct:?}");
    assert!(found.notes.len() <= 16, "notes are bounded: {}", found.notes.len());
    for note in &found.notes {
        one_line(name, note, &[]);
    }
    // Each cap is noted once, not once per datagram.
    let flood_notes = notes_from(&found, 40);
    assert_eq!(flood_notes.len(), 2, "{flood_notes:?}");
    one_line(name, flood_notes[0], &["not examining", "4 descriptions from 127.0.0.40 are examined already"]);
    one_line(name, flood_notes[1], &["more than 32 answers from 127.0.0.40"]);
    let note = flood_notes[1].clone();
    drop(sim);
    case.end(&format!("answers={} examined={}", found.answers, distinct.len()), &note, elapsed, timeout, LARGE_HEAP);
}

/// The same flood sent as fast as the socket takes it, right after the good IGD's
/// answer: still bounded, and the good IGD is still examined and found while the flood
/// keeps the client busy. (A flood sent *before* the router's answer can overflow the
/// search socket's receive buffer and push the answer out: a kernel drop the client
/// cannot see; the paced case above covers the client's own caps.)
#[test]
fn flood_of_10000_answers_unpaced() {
    let name = "flood_10000_answers_unpaced";
    let case = Case::begin(name);
    let timeout = Duration::from_millis(700);
    let flood = Flood { count: 10_000, vary: FloodVary::Both, per_second: None };
    let sim = start(vec![good(), DeviceSpec::media_renderer().on_ip(ip(41)).with_ssdp(SsdpBehavior::Flood(flood))]);
    let (found, elapsed) = run_discover(&sim, timeout);
    good_found(&found, &sim);
    assert!(found.answers <= 1 + MAX_ANSWERS_PER_HOST, "answers kept: {}", found.answers);
    let note = notes_from(&found, 41).into_iter().find(|n| n.contains("answers from")).cloned().unwrap_or_default();
    one_line(name, &note, &["more than 32 answers from 127.0.0.41"]);
    drop(sim);
    case.end(&format!("answers={}", found.answers), &note, elapsed, timeout, LARGE_HEAP);
}

/// A second device claims the good IGD's USN with other LOCATIONs (40 of them, one
/// host): answers are told apart by LOCATION, each is judged on its own, the claimer
/// gets at most MAX_EXAMINED_PER_HOST examinations, and the good IGD stays the gateway.
#[test]
fn duplicate_usn_with_other_locations() {
    let name = "duplicate_usn_other_locations";
    let case = Case::begin(name);
    let uuid = "5d1e0000-0000-4000-8000-00000000dddd";
    let flood = Flood { count: 40, vary: FloodVary::LocationPath, per_second: None };
    let sim = start(vec![
        good().with_uuid(uuid),
        DeviceSpec::media_renderer().on_ip(ip(42)).with_uuid(uuid).with_ssdp(SsdpBehavior::Flood(flood)),
    ]);
    let (found, elapsed) = run_discover(&sim, TIMEOUT);
    good_found(&found, &sim);
    assert_eq!(found.gateway().map(|d| d.description_url.clone()), Some(sim.location(0)));
    let usn = found.devices.iter().find(|d| d.description_url == sim.location(0)).map(|d| d.usn.clone()).unwrap();
    let claimers: Vec<&Device> = found.devices.iter().filter(|d| d.description_url.contains("127.0.0.42")).collect();
    assert!(!claimers.is_empty(), "the claimer's answers are listed");
    assert!(claimers.iter().all(|d| d.usn == usn), "same USN");
    let examined: Vec<&&Device> = claimers.iter().filter(|d| d.status == IgdStatus::NoIgd).collect();
    assert!(
        !examined.is_empty() && examined.len() <= MAX_EXAMINED_PER_HOST,
        "{} claimer descriptions examined",
        examined.len()
    );
    for d in &claimers {
        assert!(!d.is_valid_gateway());
        one_line(name, &d.note, &[]);
    }
    let note = notes_from(&found, 42).first().map(|n| n.to_string()).unwrap_or_default();
    one_line(name, &note, &["not examining", "4 descriptions from 127.0.0.42 are examined already"]);
    drop(sim);
    case.end(&format!("listed={} examined={}", claimers.len(), examined.len()), &note, elapsed, TIMEOUT, SMALL_HEAP);
}

// ---------------------------------------------------------------------------------------
// SOAP (engine level: what the game sees)

/// An unknown code (899) with a two-line description: UNKNOWN_ERROR, one line.
#[test]
fn soap_fault_unknown_code() {
    soap_add_case(
        "soap_fault_899",
        SoapFault::upnp(899, "Weird\nrouter error"),
        UpnpResult::UnknownError,
        &["UPnP error 899", "unknown code", "Weird\\nrouter error"],
        &[TIMEOUT_HINT],
        Duration::from_secs(1),
    );
}

#[test]
fn soap_fault_known_codes() {
    let name = "soap_fault_718_606_714";
    let case = Case::begin(name);
    let sim = start(vec![
        good()
            .with_fault("AddPortMapping", SoapFault::upnp(718, "ConflictInMappingEntry"))
            .with_fault("DeletePortMapping", SoapFault::upnp(606, "Action not authorized")),
    ]);
    let record = gateway_record(&sim);
    let started = Instant::now();
    let add = failure(
        name,
        record.add_port_mapping(40000, 40000, "hostile", "TCP", 60),
        UpnpResult::ConflictWithOtherMapping,
        &["Couldn't add port mapping.", "UPnP error 718 (ConflictInMappingEntry)", "another device"],
    );
    let delete = failure(
        name,
        record.delete_port_mapping(40000, "TCP"),
        UpnpResult::NotAuthorized,
        &["Couldn't delete port mapping.", "UPnP error 606", "Action not authorized"],
    );
    sim.set_faults(0, vec![FaultRule::always("GetExternalIPAddress", SoapFault::upnp(714, "NoSuchEntryInArray"))]);
    let query = failure(
        name,
        record.query_external_address(),
        UpnpResult::NoSuchEntryInArray,
        &["Couldn't get external IP address.", "UPnP error 714"],
    );
    let elapsed = started.elapsed();
    drop(sim);
    case.end(
        &format!("{:?}/{:?}/{:?}", add.result, delete.result, query.result),
        &add.message,
        elapsed,
        Duration::from_secs(1),
        SMALL_HEAP,
    );
}

/// 200 OK with another action's response.
#[test]
fn soap_wrong_body() {
    soap_add_case(
        "soap_200_wrong_body",
        SoapFault::WrongBody(
            b"<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
<u:GetExternalIPAddressResponse xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:2\">\
<NewExternalIPAddress>1.2.3.4</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>"
                .to_vec(),
        ),
        UpnpResult::InvalidResponse,
        &["no <AddPortMappingResponse>"],
        &[TIMEOUT_HINT],
        Duration::from_secs(1),
    );
}

/// 200 OK with a "billion laughs" document as the answer: refused unexpanded.
#[test]
fn soap_entity_bomb() {
    soap_add_case(
        "soap_200_entity_bomb",
        SoapFault::WrongBody(Content::EntityBomb.bytes()),
        UpnpResult::InvalidResponse,
        &["AddPortMapping: XML uses the undeclared or external entity &lol9;"],
        &[TIMEOUT_HINT],
        Duration::from_secs(1),
    );
}

/// 200 OK with a body that is not XML at all.
#[test]
fn soap_not_xml_body() {
    soap_add_case(
        "soap_200_not_xml",
        SoapFault::WrongBody(b"<html><body>\n<h1>It works!</h1>\n".to_vec()),
        UpnpResult::InvalidResponse,
        &["AddPortMapping: malformed XML"],
        &[TIMEOUT_HINT],
        Duration::from_secs(1),
    );
}

#[test]
fn soap_empty_body() {
    soap_add_case(
        "soap_200_empty_body",
        SoapFault::EmptyBody,
        UpnpResult::HttpError,
        &["the router sent an empty answer"],
        &[TIMEOUT_HINT],
        Duration::from_secs(1),
    );
}

#[test]
fn soap_error_status_without_fault() {
    soap_add_case(
        "soap_500_without_fault",
        SoapFault::Status(500),
        UpnpResult::HttpError,
        &["the router answered HTTP 500"],
        &[TIMEOUT_HINT],
        Duration::from_secs(1),
    );
}

/// The router reads the request and never answers: bounded by the engine's action
/// deadline (ACTION_TIMEOUT).
#[test]
fn soap_stall() {
    soap_add_case(
        "soap_stall",
        SoapFault::Stall,
        UpnpResult::HttpError,
        &["/ctl/IPConn: no complete answer in time", TIMEOUT_HINT],
        &[],
        ACTION_TIMEOUT,
    );
}

#[test]
fn soap_reset() {
    soap_add_case(
        "soap_reset",
        SoapFault::Reset,
        UpnpResult::HttpError,
        &["http://127.0.0.1:", "/ctl/IPConn: connection"],
        &[TIMEOUT_HINT],
        Duration::from_secs(1),
    );
}
