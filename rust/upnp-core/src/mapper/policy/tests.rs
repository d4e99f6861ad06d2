//! The policy under sequences, with a fake clock and scripted replies: no sockets, no
//! sleeps. Each test names the defect of the review (issue 12) it pins.

use super::*;
use crate::pmp::PmpMethod;
use crate::protocol::pinhole::FirewallStatus;

const PORT: u16 = 41100;
const LOCAL: &str = "10.77.0.2";

fn gateway(version: u8) -> Gateway {
    let service = format!("urn:schemas-upnp-org:service:WANIPConnection:{version}");
    Gateway::new("http://10.77.0.1:5000/ctl/IPConn", &service, LOCAL).unwrap()
}

fn settings(protocols: &[Protocol]) -> Settings {
    Settings {
        port: PORT,
        internal_port: 0,
        protocols: protocols.to_vec(),
        description: "test".into(),
        lease_seconds: 3600,
        port_fallback_count: 10,
        refresh_interval: Duration::from_secs(300),
        remove_on_stop: true,
        allow_nat_pmp: true,
        stun_server: None,
        // The IPv6 tests below switch it on; the IPv4 ones count IPv4 requests.
        ipv6: false,
    }
}

fn found(version: u8) -> Reply {
    Reply::Found(Some(Found::Upnp {
        gateway: gateway(version),
        description_url: "http://10.77.0.1:5000/rootDesc.xml".into(),
        external_address: Some("11.22.33.44".into()),
    }))
}

fn entry(port: u16, client: &str, internal_port: u16, lease_seconds: u32) -> PortMappingEntry {
    PortMappingEntry {
        remote_host: String::new(),
        external_port: port,
        protocol: "UDP".into(),
        internal_port,
        internal_client: client.into(),
        enabled: true,
        description: "test".into(),
        lease_seconds,
    }
}

fn upnp_error(code: u32) -> Error {
    Error::Upnp { action: "X", code, description: "router text".into() }
}

fn pmp_mapping(lifetime_secs: u32, epoch_secs: u32) -> PmpMapping {
    PmpMapping {
        method: PmpMethod::Pcp,
        protocol: Protocol::Udp,
        internal_port: PORT,
        external_port: PORT,
        lifetime_secs,
        external_address: Some(IpAddr::from([11, 22, 33, 44])),
        epoch_secs,
        nonce: [7; 12],
    }
}

/// A policy, the fake clock, the jobs it handed out and not yet answered, and every
/// request and event it produced.
struct Run {
    policy: Policy,
    now: Instant,
    out: Vec<Job>,
    requests: Vec<Request>,
    events: Vec<Event>,
}

impl Run {
    fn new(settings: Settings) -> Run {
        let now = Instant::now();
        let mut run =
            Run { policy: Policy::new(settings, now), now, out: Vec::new(), requests: Vec::new(), events: Vec::new() };
        run.collect();
        run
    }

    fn collect(&mut self) {
        while let Some(job) = self.policy.poll_job() {
            self.requests.push(job.request.clone());
            self.out.push(job);
        }
        while let Some(event) = self.policy.poll_event() {
            self.events.push(event);
        }
    }

    /// Answers the oldest outstanding job that `which` accepts with `reply`.
    fn answer(&mut self, which: impl Fn(&Request) -> bool, reply: Reply) {
        let at =
            self.out.iter().position(|j| which(&j.request)).unwrap_or_else(|| panic!("no such job: {:?}", self.out));
        let job = self.out.remove(at);
        self.policy.handle_reply(job, reply, self.now);
        self.collect();
    }

    /// Answers every outstanding job the way a healthy router does, until none is left.
    fn serve(&mut self, router: &dyn Fn(&Request) -> Reply) {
        for _ in 0..1000 {
            let Some(job) = self.out.first().cloned() else { return };
            self.out.remove(0);
            let reply = router(&job.request);
            self.policy.handle_reply(job, reply, self.now);
            self.collect();
        }
        panic!("the policy never stopped asking");
    }

    /// Moves the clock by `step` until `total` passed, serving each wake-up.
    fn run_for(&mut self, total: Duration, step: Duration, router: &dyn Fn(&Request) -> Reply) {
        let end = self.now + total;
        while self.now < end {
            self.now += step;
            self.policy.handle_timeout(self.now);
            self.collect();
            self.serve(router);
        }
    }

    fn count(&self, which: impl Fn(&Request) -> bool) -> usize {
        self.requests.iter().filter(|r| which(r)).count()
    }

    fn lost(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| if let Event::Lost { reason, .. } = e { Some(reason.clone()) } else { None })
            .collect()
    }
}

fn is_add(r: &Request) -> bool {
    matches!(r, Request::Add(..))
}

/// A router that grants everything and lists what it was given.
fn healthy(lease_left: u32) -> impl Fn(&Request) -> Reply {
    move |r| match r {
        Request::FindGateway => found(2),
        Request::ExternalAddress(_) => Reply::ExternalAddress(Ok("11.22.33.44".into())),
        Request::LocalAddress(_) => Reply::LocalAddress(Ok(LOCAL.parse().unwrap())),
        Request::Add(..) | Request::Delete(..) | Request::UnmapPmp(..) => Reply::Done(Ok(())),
        Request::AddAny(_, args) => Reply::AddedAny(Ok(args.external_port)),
        Request::Check(_, port, _) => Reply::Checked(Ok(entry(*port, LOCAL, PORT, lease_left))),
        Request::MapPmp(..) | Request::RenewPmp(..) => Reply::Pmp(Ok(pmp_mapping(1, 100))),
        Request::Stun(..) => Reply::Stun(Ok(SocketAddr::from(([11, 22, 33, 44], PORT)))),
        Request::FindPinholes => pinholes_found(true, true, &[CLIENT6]),
        Request::AddPinhole(_, pinhole, _) => Reply::PinholeId(Ok(pinhole_id(pinhole))),
        Request::UpdatePinhole(..) | Request::DeletePinhole(..) | Request::UnmapPinholePcp(..) => Reply::Done(Ok(())),
        Request::MapPinholePcp(_, protocol, ..) => Reply::Pmp(Ok(pcp_pinhole(*protocol, 600, 100))),
        Request::RenewPinholePcp(_, m, _) => Reply::Pmp(Ok(pcp_pinhole(m.protocol, 600, 100))),
    }
}

/// A check due by `refresh_interval` (300 s), not asked for by the owner.
fn timed_check(run: &mut Run) {
    run.now += Duration::from_secs(301);
    run.policy.handle_timeout(run.now);
    run.collect();
}

fn mapped(run: &mut Run) {
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.serve(&healthy(3600));
    assert!(run.events.contains(&Event::Completed(UpnpResult::Success)), "{:?}", run.events);
}

#[test]
fn defect_2_a_one_second_lease_is_not_a_request_storm() {
    let mut run = Run::new(Settings { lease_seconds: 1, ..settings(&[Protocol::Udp]) });
    mapped(&mut run);
    // A router that says one second is left on every check.
    run.run_for(Duration::from_secs(60), Duration::from_millis(10), &healthy(1));
    let renewals = run.count(is_add) - 1;
    assert!(renewals <= 60 / MIN_RENEW_INTERVAL.as_secs() as usize + 1, "{renewals} renewals in 60 s");
    assert!(renewals >= 10, "still renewed: {renewals}");
}

#[test]
fn defect_2_a_pcp_server_granting_one_second_is_renewed_at_most_every_five() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    run.answer(
        |r| matches!(r, Request::FindGateway),
        Reply::Found(Some(Found::Pmp { server: Ipv4Addr::new(10, 77, 0, 1), external_address: None })),
    );
    run.serve(&healthy(0));
    run.run_for(Duration::from_secs(60), Duration::from_millis(10), &healthy(0));
    let renewals = run.count(|r| matches!(r, Request::RenewPmp(..)));
    assert!((10..=13).contains(&renewals), "{renewals} renewals in 60 s");
}

#[test]
fn defect_3_the_internal_port_stays_on_every_fallback_path() {
    // IGDv1: no AddAnyPortMapping, so the next ports are tried one by one.
    let mut run = Run::new(settings(&[Protocol::Udp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(1));
    run.answer(is_add, Reply::Done(Err(upnp_error(718))));
    run.answer(is_add, Reply::Done(Err(upnp_error(718))));
    let Some(Request::Add(_, args)) = run.out.first().map(|j| j.request.clone()) else { panic!("{:?}", run.out) };
    assert_eq!((args.external_port, args.internal_port), (PORT + 2, PORT));
    run.answer(is_add, Reply::Done(Ok(())));
    assert!(run.events.iter().any(|e| matches!(e, Event::Mapped { external_port, .. } if *external_port == PORT + 2)));
    // IGDv2: AddAnyPortMapping keeps it too.
    let mut run = Run::new(settings(&[Protocol::Udp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_add, Reply::Done(Err(upnp_error(718))));
    let Some(Request::AddAny(_, args)) = run.out.first().map(|j| j.request.clone()) else { panic!("{:?}", run.out) };
    assert_eq!(args.internal_port, PORT);
    // And NAT-PMP/PCP after a UPnP refusal.
    let mut run = Run::new(Settings { internal_port: 5000, ..settings(&[Protocol::Udp]) });
    run.answer(|r| matches!(r, Request::FindGateway), found(1));
    run.answer(is_add, Reply::Done(Err(upnp_error(606))));
    assert!(matches!(run.out[0].request, Request::MapPmp(_, Protocol::Udp, 5000, PORT, _)), "{:?}", run.out);
}

#[test]
fn defect_4_refreshes_coalesce_and_a_stop_overtakes_them() {
    let mut run = Run::new(settings(&[Protocol::Udp, Protocol::Tcp]));
    mapped(&mut run);
    let before = run.requests.len();
    run.policy.handle_refresh(run.now);
    run.collect();
    for _ in 0..100 {
        run.policy.handle_refresh(run.now);
    }
    run.collect();
    run.serve(&healthy(3600));
    // One check asked at once, one more for the 100 asked during it: 2 probes, 2 checks and
    // (an owner's refresh re-creates listed mappings) 2 deletes and 2 adds each.
    assert_eq!(run.requests.len() - before, 16, "{:?}", &run.requests[before..]);
    // A stop during a check: nothing more is checked, the mappings are removed.
    run.policy.handle_refresh(run.now);
    run.collect();
    for _ in 0..100 {
        run.policy.handle_refresh(run.now);
    }
    let before = run.requests.len();
    run.policy.handle_stop();
    run.collect();
    run.serve(&healthy(3600));
    let after: Vec<&Request> = run.requests[before..].iter().collect();
    assert!(after.iter().all(|r| matches!(r, Request::Delete(..))), "{after:?}");
    assert_eq!(after.len(), 2);
    assert!(run.policy.is_done());
    assert_eq!(run.events.last(), Some(&Event::Status(Status::Stopped, text::STOPPED_REMOVED.into())));
}

#[test]
fn a_stop_during_an_add_waits_for_it_and_removes_what_it_made() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.policy.handle_stop();
    run.collect();
    assert!(!run.policy.is_done(), "the add in flight may land");
    run.answer(is_add, Reply::Done(Ok(())));
    assert!(matches!(run.out[..], [Job { request: Request::Delete(_, PORT, Protocol::Udp), .. }]), "{:?}", run.out);
    run.serve(&healthy(3600));
    assert!(run.policy.is_done());
}

#[test]
fn the_fallback_loop_ends_at_a_stop() {
    let mut run = Run::new(Settings { port_fallback_count: 60_000, ..settings(&[Protocol::Udp]) });
    run.answer(|r| matches!(r, Request::FindGateway), found(1));
    for _ in 0..5 {
        run.answer(is_add, Reply::Done(Err(upnp_error(718))));
    }
    run.policy.handle_stop();
    run.answer(is_add, Reply::Done(Err(upnp_error(718))));
    assert!(run.out.is_empty() && run.policy.is_done(), "{:?}", run.out);
    assert_eq!(run.count(is_add), 6);
}

#[test]
fn a_mapper_stopped_before_it_starts_asks_nothing() {
    let now = Instant::now();
    let mut policy = Policy::new(settings(&[Protocol::Udp, Protocol::Tcp]), now);
    policy.handle_stop();
    assert_eq!(policy.poll_job(), None);
    assert!(policy.is_done());
}

#[test]
fn defect_8_a_lan_address_change_is_a_loss_repaired_for_the_new_address() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.answer(|r| matches!(r, Request::ExternalAddress(_)), Reply::ExternalAddress(Ok("11.22.33.44".into())));
    run.answer(|r| matches!(r, Request::LocalAddress(_)), Reply::LocalAddress(Ok("10.77.0.3".parse().unwrap())));
    run.answer(|r| matches!(r, Request::Check(..)), Reply::Checked(Ok(entry(PORT, LOCAL, PORT, 3000))));
    assert_eq!(run.lost(), ["this computer's LAN address changed from 10.77.0.2 to 10.77.0.3"]);
    // The old address's mapping is deleted where the router allows (secure mode refuses).
    run.answer(|r| matches!(r, Request::Delete(..)), Reply::Done(Err(upnp_error(606))));
    let Some(Request::Add(gateway, args)) = run.out.first().map(|j| j.request.clone()) else { panic!("{:?}", run.out) };
    assert_eq!((gateway.local_address(), args.external_port), ("10.77.0.3", PORT));
    // The old mapping still holds the port: the fallback gives the next one.
    run.answer(is_add, Reply::Done(Err(upnp_error(718))));
    run.serve(&healthy(3600));
    assert_eq!(run.policy.shown.as_ref().map(|s| s.0), Some(Status::Mapped));
}

#[test]
fn defect_9_only_a_missing_or_foreign_entry_is_a_loss() {
    let cases: [(Reply, &[&str], usize); 5] = [
        // The router has no such action: re-added quietly.
        (Reply::Checked(Err(upnp_error(401))), &[], 1),
        (Reply::Checked(Err(Error::InvalidResponse("garbled".into()))), &[], 1),
        // A timeout or a reset says nothing: looked at again later.
        (Reply::Checked(Err(Error::Timeout("no answer".into()))), &[], 0),
        (Reply::Checked(Err(Error::Http("connection reset".into()))), &[], 0),
        (Reply::Checked(Err(upnp_error(714))), &["the router no longer has the mapping"], 1),
    ];
    for (reply, lost, adds) in cases {
        let mut run = Run::new(settings(&[Protocol::Udp]));
        mapped(&mut run);
        run.policy.handle_refresh(run.now);
        run.collect();
        let before = run.count(is_add);
        run.answer(|r| matches!(r, Request::ExternalAddress(_)), Reply::ExternalAddress(Ok("11.22.33.44".into())));
        run.answer(|r| matches!(r, Request::LocalAddress(_)), Reply::LocalAddress(Ok(LOCAL.parse().unwrap())));
        let shown = format!("{reply:?}");
        run.answer(|r| matches!(r, Request::Check(..)), reply);
        run.serve(&healthy(3600));
        assert_eq!(run.lost(), lost, "{shown}");
        assert_eq!(run.count(is_add) - before, adds, "{shown}");
    }
    // Another client's entry on our port is a loss too.
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.serve(&|r| match r {
        Request::Check(..) => Reply::Checked(Ok(entry(PORT, "10.77.0.9", PORT, 0))),
        other => healthy(3600)(other),
    });
    assert_eq!(run.lost(), ["the router now forwards it to 10.77.0.9:41100"]);
}

#[test]
fn a_shortened_lease_is_renewed_before_it_ends() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    timed_check(&mut run);
    // Asked for 3600 s; the router lists 100 s left.
    run.serve(&healthy(100));
    assert!(run.policy.poll_timeout().unwrap() <= run.now + Duration::from_secs(50));
    let before = run.count(is_add);
    run.run_for(Duration::from_secs(60), Duration::from_secs(1), &healthy(100));
    assert!(run.count(is_add) > before, "renewed within the 100 s the router granted");
}

#[test]
fn a_failed_external_address_query_keeps_the_mappings() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    timed_check(&mut run);
    run.answer(|r| matches!(r, Request::ExternalAddress(_)), Reply::ExternalAddress(Err(Error::Timeout("x".into()))));
    run.answer(|r| matches!(r, Request::LocalAddress(_)), Reply::LocalAddress(Ok(LOCAL.parse().unwrap())));
    // Looked for again; found at the same place, the mapping is still there.
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.serve(&healthy(3600));
    assert!(run.lost().is_empty(), "{:?}", run.lost());
    assert_eq!(run.count(is_add), 1, "nothing re-added");
    // Not found at all: lost, and still removed at stop.
    run.policy.handle_refresh(run.now);
    run.collect();
    run.answer(|r| matches!(r, Request::ExternalAddress(_)), Reply::ExternalAddress(Err(Error::Timeout("x".into()))));
    run.answer(|r| matches!(r, Request::LocalAddress(_)), Reply::LocalAddress(Ok(LOCAL.parse().unwrap())));
    run.answer(|r| matches!(r, Request::FindGateway), Reply::Found(None));
    assert_eq!(run.lost(), [text::ROUTER_GONE]);
    run.policy.handle_stop();
    run.collect();
    assert!(matches!(run.out[..], [Job { request: Request::Delete(..), .. }]), "{:?}", run.out);
}

#[test]
fn the_status_is_set_before_a_loss_and_the_completion_comes_once() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.serve(&|r| match r {
        Request::Check(..) => Reply::Checked(Err(upnp_error(714))),
        other => healthy(3600)(other),
    });
    let lost_at = run.events.iter().position(|e| matches!(e, Event::Lost { .. })).unwrap();
    assert!(
        matches!(&run.events[lost_at - 1], Event::Status(Status::Working, t) if t.starts_with("UDP 41100 was lost")),
        "{:?}",
        run.events
    );
    assert_eq!(run.events.iter().filter(|e| matches!(e, Event::Completed(_))).count(), 1);
    // Re-added: the status says so before the event that reports it.
    let n = run.events.len();
    assert!(matches!(run.events[n - 1], Event::Mapped { .. }), "{:?}", run.events);
    assert!(matches!(run.events[n - 2], Event::Status(Status::Mapped, _)), "{:?}", run.events);
}

/// Every event comes after the status that describes the state after it (issue 16): a
/// `port_mapped` handler reads the port open (and what is still being opened), an
/// `external_address_changed` handler reads the new address. Before: the status came at
/// the end of the round ("Looking for the router..." inside the first port_mapped, the
/// old address inside external_address_changed).
#[test]
fn each_event_follows_the_status_it_leads_to() {
    let mut run = Run::new(settings(&[Protocol::Udp, Protocol::Tcp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(|r| matches!(r, Request::Add(_, a) if a.protocol == Protocol::Udp), Reply::Done(Ok(())));
    let n = run.events.len();
    assert!(matches!(run.events[n - 1], Event::Mapped { protocol: Protocol::Udp, .. }), "{:?}", run.events);
    assert_eq!(
        run.events[n - 2],
        Event::Status(Status::Working, "UDP 41100 open on 11.22.33.44 (UPnP). Opening TCP 41100...".into())
    );
    run.answer(is_add, Reply::Done(Ok(())));
    let n = run.events.len();
    assert!(matches!(run.events[n - 1], Event::Completed(UpnpResult::Success)), "{:?}", run.events);
    assert!(matches!(run.events[n - 2], Event::Mapped { protocol: Protocol::Tcp, .. }), "{:?}", run.events);
    let both = "UDP 41100, TCP 41100 open on 11.22.33.44 (UPnP)".to_string();
    assert_eq!(run.events[n - 3], Event::Status(Status::Mapped, both));
    // The external address changes at a check.
    timed_check(&mut run);
    run.serve(&|r| match r {
        Request::ExternalAddress(_) => Reply::ExternalAddress(Ok("22.33.44.55".into())),
        other => healthy(3600)(other),
    });
    let at = run.events.iter().position(|e| matches!(e, Event::ExternalAddressChanged { .. })).unwrap();
    assert_eq!(
        run.events[at - 1],
        Event::Status(Status::Mapped, "UDP 41100, TCP 41100 open on 22.33.44.55 (UPnP)".into())
    );
}

#[test]
fn lease_rules_retry_once_each() {
    // 725: only permanent leases.
    let mut run = Run::new(settings(&[Protocol::Udp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_add, Reply::Done(Err(upnp_error(725))));
    assert!(matches!(&run.out[0].request, Request::Add(_, a) if a.lease_seconds == 0));
    // A permanent lease refused: the longest one.
    let mut run = Run::new(Settings { lease_seconds: 0, ..settings(&[Protocol::Udp]) });
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_add, Reply::Done(Err(upnp_error(402))));
    assert!(matches!(&run.out[0].request, Request::Add(_, a) if a.lease_seconds == LONGEST_LEASE));
    run.answer(is_add, Reply::Done(Err(upnp_error(402))));
    // Refused again: not a loop; NAT-PMP/PCP is tried at the router's address.
    assert!(matches!(&run.out[0].request, Request::MapPmp(..)), "{:?}", run.out);
}

#[test]
fn a_pcp_router_restart_is_noticed_by_its_epoch() {
    assert!(!router_restarted(1000, Duration::from_secs(80), 1080));
    assert!(!router_restarted(1000, Duration::from_secs(80), 1069));
    assert!(router_restarted(1000, Duration::from_secs(80), 1067));
    assert!(router_restarted(1000, Duration::from_secs(80), 3));
    assert!(!router_restarted(5, Duration::ZERO, 5));
    assert!(!router_restarted(4_000_000_000, Duration::from_secs(10), 4_000_000_010));
    let mut run = Run::new(settings(&[Protocol::Udp]));
    run.answer(
        |r| matches!(r, Request::FindGateway),
        Reply::Found(Some(Found::Pmp { server: Ipv4Addr::new(10, 77, 0, 1), external_address: None })),
    );
    run.answer(|r| matches!(r, Request::MapPmp(..)), Reply::Pmp(Ok(pmp_mapping(3600, 1000))));
    run.now += Duration::from_secs(100);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.answer(|r| matches!(r, Request::RenewPmp(..)), Reply::Pmp(Ok(pmp_mapping(3600, 5))));
    assert_eq!(run.lost(), ["the router restarted and forgot the mapping"]);
    assert_eq!(run.events.iter().filter(|e| matches!(e, Event::Mapped { .. })).count(), 2);
}

#[test]
fn a_402_for_a_lease_retries_permanent_and_501_counts_as_taken_three_times() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(1));
    run.answer(is_add, Reply::Done(Err(upnp_error(402))));
    assert!(matches!(&run.out[0].request, Request::Add(_, a) if a.lease_seconds == 0), "{:?}", run.out);
    // 501 where 718 is meant: the next port, for three ports at most.
    for next in 1..=3 {
        run.answer(is_add, Reply::Done(Err(upnp_error(501))));
        assert!(matches!(&run.out[0].request, Request::Add(_, a) if a.external_port == PORT + next), "{:?}", run.out);
    }
    run.answer(is_add, Reply::Done(Err(upnp_error(501))));
    assert!(matches!(&run.out[0].request, Request::MapPmp(..)), "then NAT-PMP/PCP: {:?}", run.out);
}

fn found_with_address(address: &str) -> Reply {
    Reply::Found(Some(Found::Upnp {
        gateway: gateway(2),
        description_url: "http://10.77.0.1:5000/rootDesc.xml".into(),
        external_address: Some(address.into()),
    }))
}

fn is_stun(r: &Request) -> bool {
    matches!(r, Request::Stun(..))
}

fn last_status(run: &Run) -> (Status, String) {
    run.events
        .iter()
        .rev()
        .find_map(|e| if let Event::Status(s, t) = e { Some((*s, t.clone())) } else { None })
        .expect("a status")
}

#[test]
fn stun_is_asked_from_the_mapped_port_and_the_completion_waits_for_its_verdict() {
    let stun = Some("10.78.0.1:3478".to_string());
    let mut run = Run::new(Settings { stun_server: stun.clone(), ..settings(&[Protocol::Udp]) });
    assert!(run.requests.contains(&Request::Stun("10.78.0.1:3478".into(), PORT)), "{:?}", run.requests);
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_add, Reply::Done(Ok(())));
    assert!(!run.events.iter().any(|e| matches!(e, Event::Completed(_))), "held for STUN: {:?}", run.events);
    run.answer(is_stun, Reply::Stun(Ok(SocketAddr::from(([22, 33, 44, 55], 50000)))));
    let n = run.events.len();
    assert_eq!(run.events[n - 1], Event::Completed(UpnpResult::Success));
    let Event::Status(Status::Mapped, text) = &run.events[n - 2] else { panic!("{:?}", run.events) };
    assert!(text.contains("sees this computer as 22.33.44.55, not as the router's address 11.22.33.44"), "{text}");
    // Every check asks again; a matching answer confirms the address.
    run.now += Duration::from_secs(301);
    run.policy.handle_timeout(run.now);
    run.collect();
    assert_eq!(run.count(is_stun), 2);
    run.serve(&healthy(3600));
    assert_eq!(
        last_status(&run),
        (Status::Mapped, text::mapped("UDP 41100", "11.22.33.44", "UPnP", Some([11, 22, 33, 44].into())))
    );
    // A TCP-only mapper asks from any port.
    let run = Run::new(Settings { stun_server: stun, ..settings(&[Protocol::Tcp]) });
    assert!(run.requests.contains(&Request::Stun("10.78.0.1:3478".into(), 0)));
}

#[test]
fn a_silent_stun_server_changes_nothing_but_the_wait() {
    let mut run = Run::new(Settings { stun_server: Some("10.78.0.1:3478".into()), ..settings(&[Protocol::Udp]) });
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_add, Reply::Done(Ok(())));
    run.answer(is_stun, Reply::Stun(Err(Error::Timeout("no answer".into()))));
    assert_eq!(run.events.last(), Some(&Event::Completed(UpnpResult::Success)));
    assert_eq!(last_status(&run), (Status::Mapped, "UDP 41100 open on 11.22.33.44 (UPnP)".into()));
    // Without a server nothing is asked.
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    assert_eq!(run.count(is_stun), 0);
}

#[test]
fn a_stop_before_the_stun_answer_still_reports_the_completion() {
    let mut run = Run::new(Settings { stun_server: Some("10.78.0.1:3478".into()), ..settings(&[Protocol::Udp]) });
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_add, Reply::Done(Ok(())));
    run.policy.handle_stop();
    run.collect();
    assert!(run.events.contains(&Event::Completed(UpnpResult::Success)), "{:?}", run.events);
}

#[test]
fn a_router_without_an_external_address_is_never_a_success() {
    for address in ["", "0.0.0.0"] {
        let mut run = Run::new(settings(&[Protocol::Udp, Protocol::Tcp]));
        run.answer(|r| matches!(r, Request::FindGateway), found_with_address(address));
        assert_eq!(run.count(is_add), 0, "nothing is mapped through it");
        assert!(run.events.contains(&Event::Completed(UpnpResult::InvalidGateway)), "{:?}", run.events);
        assert_eq!(last_status(&run), (Status::Failed, text::private_address(address)));
        assert!(!run.events.iter().any(|e| matches!(e, Event::Mapped { .. })));
        // Looked for again after the retry delay: now connected, it maps.
        run.now += FIRST_RETRY;
        run.policy.handle_timeout(run.now);
        run.collect();
        run.answer(|r| matches!(r, Request::FindGateway), found(2));
        run.serve(&healthy(3600));
        assert_eq!(run.count(is_add), 2);
        assert_eq!(last_status(&run).0, Status::Mapped, "{address:?}");
    }
}

#[test]
fn a_held_mapping_is_kept_but_not_called_open_while_the_router_has_no_address() {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    let disconnected = |r: &Request| match r {
        Request::ExternalAddress(_) => Reply::ExternalAddress(Ok("0.0.0.0".into())),
        other => healthy(3600)(other),
    };
    run.now += Duration::from_secs(301);
    run.policy.handle_timeout(run.now);
    run.collect();
    run.serve(&disconnected);
    assert_eq!(last_status(&run), (Status::Failed, text::private_address("0.0.0.0")));
    assert!(run.lost().is_empty(), "not lost: {:?}", run.lost());
    assert_eq!(run.count(|r| matches!(r, Request::Delete(..))), 0);
    // The connection comes back: open again, same mapping, no re-add.
    let adds = run.count(is_add);
    run.run_for(Duration::from_secs(2), Duration::from_millis(100), &healthy(3600));
    assert_eq!(last_status(&run), (Status::Mapped, "UDP 41100 open on 11.22.33.44 (UPnP)".into()));
    assert_eq!(run.count(is_add), adds);
}

fn is_delete(r: &Request) -> bool {
    matches!(r, Request::Delete(..))
}

#[test]
fn an_owner_s_refresh_re_creates_listed_mappings_and_a_timed_check_does_not() {
    let mut run = Run::new(settings(&[Protocol::Udp, Protocol::Tcp]));
    mapped(&mut run);
    let before = run.requests.len();
    // A timed check: only looked at.
    timed_check(&mut run);
    run.serve(&healthy(3600));
    assert_eq!(run.count(is_delete), 0, "{:?}", &run.requests[before..]);
    // The owner's refresh: each listed mapping deleted and added again on its own port.
    let before = run.requests.len();
    run.policy.handle_refresh(run.now);
    run.collect();
    run.serve(&healthy(3600));
    let after: Vec<&Request> = run.requests[before..].iter().collect();
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let mine: Vec<&str> = after
            .iter()
            .filter_map(|r| match r {
                Request::Check(_, port, p) if *p == protocol && *port == PORT => Some("check"),
                Request::Delete(_, port, p) if *p == protocol && *port == PORT => Some("delete"),
                Request::Add(_, args) if args.protocol == protocol && args.external_port == PORT => Some("add"),
                _ => None,
            })
            .collect();
        assert_eq!(mine, ["check", "delete", "add"], "{protocol:?}: {after:?}");
    }
    assert!(run.lost().is_empty(), "a repair is not a loss: {:?}", run.lost());
    assert_eq!(last_status(&run), (Status::Mapped, "UDP 41100, TCP 41100 open on 11.22.33.44 (UPnP)".into()));
    // 50 refreshes: one check now, one more for those asked during it.
    let before = run.requests.len();
    for _ in 0..50 {
        run.policy.handle_refresh(run.now);
    }
    run.collect();
    run.serve(&healthy(3600));
    assert_eq!(run.requests[before..].iter().filter(|r| is_delete(r)).count(), 4, "{:?}", &run.requests[before..]);
}

/// A UDP mapping, an owner's refresh, its check answered "listed as ours": the repairing
/// delete is out.
fn repair_under_way() -> Run {
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.answer(|r| matches!(r, Request::ExternalAddress(_)), Reply::ExternalAddress(Ok("11.22.33.44".into())));
    run.answer(|r| matches!(r, Request::LocalAddress(_)), Reply::LocalAddress(Ok(LOCAL.parse().unwrap())));
    run.answer(|r| matches!(r, Request::Check(..)), Reply::Checked(Ok(entry(PORT, LOCAL, PORT, 3600))));
    assert!(run.out.iter().any(|j| is_delete(&j.request)), "{:?}", run.out);
    run
}

#[test]
fn a_stop_during_a_repair_removes_what_is_left_once() {
    // Stopped while the repairing delete is out: it landed, nothing more to remove.
    let mut run = repair_under_way();
    run.policy.handle_stop();
    run.collect();
    run.answer(is_delete, Reply::Done(Ok(())));
    run.serve(&healthy(3600));
    assert_eq!(run.count(is_delete), 1, "the repair's delete, nothing after it");
    assert_eq!(run.count(is_add), 1, "no re-add after the stop");
    assert!(run.policy.is_done());
    // Now stop while the re-add is out: it landed, so it is removed.
    let mut run = repair_under_way();
    run.answer(is_delete, Reply::Done(Ok(())));
    run.policy.handle_stop();
    run.collect();
    run.answer(is_add, Reply::Done(Ok(())));
    run.serve(&healthy(3600));
    assert_eq!(run.count(is_delete), 2, "the repair's delete and the stop's");
    assert_eq!(last_status(&run).0, Status::Stopped);
    // Stop while the repairing delete is out and it fails: the mapping is still removed.
    let mut run = repair_under_way();
    run.policy.handle_stop();
    run.collect();
    run.answer(is_delete, Reply::Done(Err(Error::Timeout("lost".into()))));
    run.serve(&healthy(3600));
    assert_eq!(run.count(is_delete), 2, "removed at stop after the failed repair");
    assert_eq!(run.count(is_add), 1, "no re-add after the stop");
}

/// A check may come every 0.1 s (the shortest refresh_interval), and the STUN server is
/// often a public one: it is asked at most once per MIN_RENEW_INTERVAL.
#[test]
fn a_fast_refresh_interval_does_not_flood_the_stun_server() {
    let settings = Settings {
        refresh_interval: Duration::from_millis(100),
        stun_server: Some("10.78.0.1:3478".into()),
        ..settings(&[Protocol::Udp])
    };
    let mut run = Run::new(settings);
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.serve(&healthy(3600));
    run.run_for(Duration::from_secs(20), Duration::from_millis(50), &healthy(3600));
    let checks = run.count(|r| matches!(r, Request::Check(..)));
    let asked = run.count(is_stun);
    assert!(checks >= 100, "{checks} checks in 20 s");
    assert!((4..=5).contains(&asked), "{asked} STUN requests in 20 s");
}

/// Two protocols repaired at once: both deletes go out before either re-add (miniupnpd
/// 2.3.1 deletes a port's filter rule whatever its protocol, so a delete after the other
/// protocol's re-add took that one's new rule: 3 of 8 repairs in the bed left one
/// protocol unforwarded).
#[test]
fn every_repairing_delete_comes_before_any_re_add() {
    let mut run = Run::new(settings(&[Protocol::Udp, Protocol::Tcp]));
    mapped(&mut run);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.answer(|r| matches!(r, Request::ExternalAddress(_)), Reply::ExternalAddress(Ok("11.22.33.44".into())));
    run.answer(|r| matches!(r, Request::LocalAddress(_)), Reply::LocalAddress(Ok(LOCAL.parse().unwrap())));
    let listed = |p: Protocol| move |r: &Request| matches!(r, Request::Check(_, _, q) if *q == p);
    let deleting = |p: Protocol| move |r: &Request| matches!(r, Request::Delete(_, _, q) if *q == p);
    run.answer(listed(Protocol::Udp), Reply::Checked(Ok(entry(PORT, LOCAL, PORT, 3600))));
    run.answer(deleting(Protocol::Udp), Reply::Done(Ok(())));
    assert!(!run.out.iter().any(|j| is_add(&j.request)), "no re-add while TCP's check is out: {:?}", run.out);
    run.answer(listed(Protocol::Tcp), Reply::Checked(Ok(entry(PORT, LOCAL, PORT, 3600))));
    assert!(!run.out.iter().any(|j| is_add(&j.request)), "nor while TCP's delete is out: {:?}", run.out);
    run.answer(deleting(Protocol::Tcp), Reply::Done(Ok(())));
    assert_eq!(run.out.iter().filter(|j| is_add(&j.request)).count(), 2, "{:?}", run.out);
    run.serve(&healthy(3600));
    assert_eq!(last_status(&run), (Status::Mapped, "UDP 41100, TCP 41100 open on 11.22.33.44 (UPnP)".into()));
}

// --- IPv6 pinholes (issue 15 item 2) ------------------------------------------------------

const CLIENT6: &str = "fd77::2";
const ROUTER6: &str = "fd77::1";

fn firewall() -> Firewall {
    let service = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";
    Firewall::new("http://[fd77::1]:5000/ctl/IP6FCtl", service, CLIENT6.parse().unwrap()).unwrap()
}

fn v6(protocols: &[Protocol]) -> Settings {
    Settings { ipv6: true, ..settings(protocols) }
}

fn addresses(list: &[&str]) -> Vec<Ipv6Addr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn pinholes_found(enabled: bool, inbound_pinhole_allowed: bool, list: &[&str]) -> Reply {
    let status = FirewallStatus { enabled, inbound_pinhole_allowed };
    Reply::Pinholes(FoundPinholes {
        route: PinholeRoute::Upnp { firewall: firewall(), status },
        addresses: addresses(list),
    })
}

/// The id a router gives: one per address and protocol.
fn pinhole_id(pinhole: &Pinhole) -> u16 {
    pinhole.internal_client.segments()[7] * 10 + u16::from(pinhole.protocol == Protocol::Tcp)
}

fn pcp_pinhole(protocol: Protocol, lifetime_secs: u32, epoch_secs: u32) -> PmpMapping {
    PmpMapping {
        method: PmpMethod::Pcp,
        protocol,
        internal_port: PORT,
        external_port: PORT,
        lifetime_secs,
        external_address: Some(IpAddr::V6(CLIENT6.parse().unwrap())),
        epoch_secs,
        nonce: [9; 12],
    }
}

fn is_find_pinholes(r: &Request) -> bool {
    matches!(r, Request::FindPinholes)
}

fn is_add_pinhole(r: &Request) -> bool {
    matches!(r, Request::AddPinhole(..))
}

fn is_update_pinhole(r: &Request) -> bool {
    matches!(r, Request::UpdatePinhole(..))
}

/// The pinholes reported: (address, port, protocol, method).
fn pinholes_mapped(run: &Run) -> Vec<(String, u16, Protocol, Method)> {
    run.events
        .iter()
        .filter_map(|e| match e {
            Event::Mapped { external_address, external_port, protocol, method } if method.is_pinhole() => {
                Some((external_address.clone(), *external_port, *protocol, *method))
            }
            _ => None,
        })
        .collect()
}

fn status_count(run: &Run) -> usize {
    run.events.iter().filter(|e| matches!(e, Event::Status(..))).count()
}

const BOTH_OPEN: &str = "UDP 41100, TCP 41100 open on 11.22.33.44 (UPnP)";

#[test]
fn pinholes_open_for_each_address_and_protocol_and_each_report_follows_its_status() {
    let mut run = Run::new(v6(&[Protocol::Udp, Protocol::Tcp]));
    assert!(run.out.iter().any(|j| is_find_pinholes(&j.request)), "asked at once, beside the search: {:?}", run.out);
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_find_pinholes, pinholes_found(true, true, &["2a01:4f8::2", CLIENT6]));
    run.serve(&healthy(3600));
    let pinholes: Vec<&Request> = run.requests.iter().filter(|r| is_add_pinhole(r)).collect();
    assert_eq!(pinholes.len(), 4, "{pinholes:?}");
    for r in &pinholes {
        let Request::AddPinhole(_, p, lease) = r else { unreachable!() };
        assert_eq!((p.remote_host, p.remote_port, p.internal_port, *lease), (None, 0, PORT, 3600), "{p:?}");
    }
    let mut mapped = pinholes_mapped(&run);
    mapped.sort_by_key(|m| (m.0.clone(), m.2 == Protocol::Tcp));
    let m = |a: &str, p| (a.to_string(), PORT, p, Method::UpnpPinhole);
    assert_eq!(
        mapped,
        [
            m("2a01:4f8::2", Protocol::Udp),
            m("2a01:4f8::2", Protocol::Tcp),
            m(CLIENT6, Protocol::Udp),
            m(CLIENT6, Protocol::Tcp)
        ]
    );
    assert_eq!(Method::UpnpPinhole.name(), "UPnP IPv6 pinhole");
    assert_eq!(
        last_status(&run),
        (Status::Mapped, format!("{BOTH_OPEN}; IPv6 2a01:4f8::2, fd77::2 open (UPnP pinholes)"))
    );
    // Every pinhole report comes right after a status that already names its address.
    for (at, event) in run.events.iter().enumerate() {
        if let Event::Mapped { external_address, method, .. } = event
            && method.is_pinhole()
        {
            let Event::Status(_, text) = &run.events[at - 1] else { panic!("{:?}", run.events) };
            assert!(text.contains(external_address.as_str()), "{text} before {event:?}");
        }
    }
    assert_eq!(run.events.iter().filter(|e| matches!(e, Event::Completed(_))).count(), 1);
}

#[test]
fn the_ipv4_result_waits_for_nothing_of_ipv6_and_a_refused_pinhole_fails_nothing() {
    let mut run = Run::new(v6(&[Protocol::Udp, Protocol::Tcp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.answer(is_add, Reply::Done(Ok(())));
    run.answer(is_add, Reply::Done(Ok(())));
    // The IPv6 lookup is still out: IPv4 is reported, with nothing about IPv6 yet.
    assert!(run.events.contains(&Event::Completed(UpnpResult::Success)), "{:?}", run.events);
    assert_eq!(last_status(&run), (Status::Mapped, BOTH_OPEN.into()));
    run.answer(is_find_pinholes, pinholes_found(true, true, &[CLIENT6]));
    assert_eq!(last_status(&run), (Status::Mapped, format!("{BOTH_OPEN}; IPv6: opening pinholes...")));
    let refused = upnp_error(606);
    for _ in 0..2 {
        run.answer(is_add_pinhole, Reply::PinholeId(Err(refused.clone())));
    }
    assert_eq!(
        last_status(&run),
        (Status::Mapped, format!("{BOTH_OPEN}; {}", text::pinholes_refused(&refused.to_string())))
    );
    assert!(pinholes_mapped(&run).is_empty());
    assert!(run.lost().is_empty());
    assert_eq!(run.events.iter().filter(|e| matches!(e, Event::Completed(_))).count(), 1);
    // Asked again at a check (at most every 5 s), not at every wake-up.
    timed_check(&mut run);
    run.serve(&healthy(3600));
    assert_eq!(run.count(is_add_pinhole), 4);
    assert_eq!(last_status(&run), (Status::Mapped, format!("{BOTH_OPEN}; IPv6 fd77::2 open (UPnP pinholes)")));
    // And an IPv4 failure with IPv6 open: IPv4 decides the status, the line tells both.
    let mut run = Run::new(v6(&[Protocol::Udp]));
    run.answer(|r| matches!(r, Request::FindGateway), found(1));
    run.answer(is_find_pinholes, pinholes_found(true, true, &[CLIENT6]));
    run.answer(is_add_pinhole, Reply::PinholeId(Ok(7)));
    run.answer(is_add, Reply::Done(Err(upnp_error(501))));
    run.serve(&|r| match r {
        Request::Add(..) => Reply::Done(Err(upnp_error(501))),
        Request::MapPmp(..) => Reply::Pmp(Err(Error::PmpUnavailable("no answer".into()))),
        other => healthy(3600)(other),
    });
    let (status, line) = last_status(&run);
    assert_eq!(status, Status::Failed);
    assert!(
        line.starts_with("The router refused to open UDP 41100")
            && line.ends_with(". IPv6 fd77::2 open (UPnP pinhole)"),
        "{line}"
    );
}

#[test]
fn pinholes_are_renewed_at_half_their_lease_and_never_more_often_than_every_5_s() {
    let slow = |lease_seconds| Settings {
        lease_seconds,
        refresh_interval: Duration::from_secs(86_400),
        ..v6(&[Protocol::Udp])
    };
    let mut run = Run::new(slow(100));
    mapped(&mut run);
    assert_eq!(run.count(is_add_pinhole), 1);
    run.run_for(Duration::from_secs(300), Duration::from_millis(500), &healthy(3600));
    let updates: Vec<&Request> = run.requests.iter().filter(|r| is_update_pinhole(r)).collect();
    assert_eq!(updates.len(), 6, "every 50 s in 300 s: {updates:?}");
    assert!(matches!(updates[0], Request::UpdatePinhole(_, _, 20, 100)), "{:?}", updates[0]);
    assert_eq!(pinholes_mapped(&run).len(), 1, "a renewal is not reported");
    // A 10 s lease (the shortest the node takes) and a router that cannot be reached for a
    // while: still one request per 5 s at most.
    let mut run = Run::new(slow(10));
    mapped(&mut run);
    let unreachable = |r: &Request| match r {
        Request::UpdatePinhole(..) => Reply::Done(Err(Error::Timeout("no answer".into()))),
        other => healthy(3600)(other),
    };
    run.run_for(Duration::from_secs(60), Duration::from_millis(100), &unreachable);
    let updates = run.count(is_update_pinhole);
    assert!((11..=13).contains(&updates), "{updates} updates in 60 s");
    assert_eq!(run.count(is_add_pinhole), 1, "a timeout is not a loss");
    // Lease 0 (permanent) asks for an hour, a longer one for the service's day at most.
    for (lease, asked) in [(0, PINHOLE_LEASE), (200_000, 86_400)] {
        let mut run = Run::new(slow(lease));
        mapped(&mut run);
        assert!(run.requests.iter().any(|r| matches!(r, Request::AddPinhole(_, _, l) if *l == asked)), "{lease}");
    }
}

#[test]
fn a_rebooted_router_s_pinholes_are_opened_again_at_the_check_that_finds_the_loss() {
    let mut run = Run::new(v6(&[Protocol::Udp, Protocol::Tcp]));
    mapped(&mut run);
    assert_eq!(pinholes_mapped(&run).len(), 2);
    // The router restarted with an empty table: its mappings and pinholes are gone.
    timed_check(&mut run);
    run.serve(&|r| match r {
        Request::Check(..) => Reply::Checked(Err(upnp_error(714))),
        Request::UpdatePinhole(..) => Reply::Done(Err(upnp_error(704))),
        other => healthy(3600)(other),
    });
    assert_eq!(run.lost().len(), 2, "the IPv4 mappings: {:?}", run.lost());
    assert_eq!(run.count(is_add_pinhole), 4, "each pinhole added again");
    assert_eq!(pinholes_mapped(&run).len(), 4, "and reported again");
    assert_eq!(last_status(&run), (Status::Mapped, format!("{BOTH_OPEN}; IPv6 fd77::2 open (UPnP pinholes)")));
    // A reboot found by the IPv4 check 2 s after the pinholes were (re)made: renewed at
    // once all the same (not only once 5 s passed), so opened again at that check.
    let before = (run.count(is_update_pinhole), pinholes_mapped(&run).len());
    run.now += Duration::from_secs(2);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.serve(&|r| match r {
        Request::Check(..) => Reply::Checked(Err(upnp_error(714))),
        Request::UpdatePinhole(..) => Reply::Done(Err(upnp_error(402))),
        other => healthy(3600)(other),
    });
    assert_eq!(run.count(is_update_pinhole), before.0 + 2);
    assert_eq!(pinholes_mapped(&run).len(), before.1 + 2);
    // The owner's refresh checks them too.
    let before = run.count(is_update_pinhole);
    run.now += MIN_RENEW_INTERVAL;
    run.policy.handle_refresh(run.now);
    run.collect();
    run.serve(&healthy(3600));
    assert_eq!(run.count(is_update_pinhole), before + 2);
    assert_eq!(pinholes_mapped(&run).len(), 6, "nothing lost, nothing reported");
}

#[test]
fn pcp_pinholes_are_renewed_and_a_restart_is_found_by_the_epoch() {
    let pcp = Reply::Pinholes(FoundPinholes {
        route: PinholeRoute::Pcp(ROUTER6.parse().unwrap()),
        addresses: addresses(&[CLIENT6]),
    });
    let mut run = Run::new(v6(&[Protocol::Udp]));
    run.answer(is_find_pinholes, pcp.clone());
    assert!(
        matches!(run.out[..], [.., Job { request: Request::MapPinholePcp(_, Protocol::Udp, PORT, 3600), .. }]),
        "{:?}",
        run.out
    );
    run.answer(|r| matches!(r, Request::MapPinholePcp(..)), Reply::Pmp(Ok(pcp_pinhole(Protocol::Udp, 600, 1000))));
    assert_eq!(pinholes_mapped(&run), [(CLIENT6.to_string(), PORT, Protocol::Udp, Method::PcpPinhole)]);
    assert_eq!(Method::PcpPinhole.name(), "PCP IPv6 pinhole");
    run.answer(|r| matches!(r, Request::FindGateway), found(2));
    run.serve(&healthy(3600));
    assert_eq!(
        last_status(&run),
        (Status::Mapped, "UDP 41100 open on 11.22.33.44 (UPnP); IPv6 fd77::2 open (PCP pinhole)".into())
    );
    // Renewed at half the granted 600 s; the epoch went on: quiet.
    run.now += Duration::from_secs(300);
    run.policy.handle_timeout(run.now);
    run.collect();
    run.answer(|r| matches!(r, Request::RenewPinholePcp(..)), Reply::Pmp(Ok(pcp_pinhole(Protocol::Udp, 600, 1300))));
    assert_eq!(pinholes_mapped(&run).len(), 1);
    // A timed check leaves it alone (miniupnpd cannot delete a renewed PCP pinhole, so it
    // is renewed only when due)...
    let renewals = run.count(|r| matches!(r, Request::RenewPinholePcp(..)));
    run.now += Duration::from_secs(100);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.serve(&healthy(3600));
    assert_eq!(run.count(|r| matches!(r, Request::RenewPinholePcp(..))), renewals);
    // ...unless it finds an IPv4 mapping forgotten: renewed then; the epoch went back (a
    // restart), the renewal made it again: reported.
    run.now += Duration::from_secs(2);
    run.policy.handle_refresh(run.now);
    run.collect();
    run.serve(&|r| match r {
        Request::Check(..) => Reply::Checked(Err(upnp_error(714))),
        Request::RenewPinholePcp(..) => Reply::Pmp(Ok(pcp_pinhole(Protocol::Udp, 600, 3))),
        other => healthy(3600)(other),
    });
    assert_eq!(run.count(|r| matches!(r, Request::RenewPinholePcp(..))), renewals + 1);
    assert_eq!(pinholes_mapped(&run).len(), 2);
    // Stopped: deleted with lifetime 0 at the same server.
    run.policy.handle_stop();
    run.collect();
    assert!(run.out.iter().any(|j| matches!(&j.request, Request::UnmapPinholePcp(s, m) if s.to_string() == ROUTER6 && m.protocol == Protocol::Udp)), "{:?}", run.out);
    run.serve(&healthy(3600));
    assert!(run.policy.is_done());
    // A router that does not answer PCP over IPv6 offers no pinholes (said once both
    // protocols' requests are answered).
    let mut run = Run::new(v6(&[Protocol::Udp, Protocol::Tcp]));
    run.answer(is_find_pinholes, pcp.clone());
    let silent = || Reply::Pmp(Err(Error::PmpUnavailable("silent".into())));
    run.answer(|r| matches!(r, Request::MapPinholePcp(..)), silent());
    assert!(run.out.iter().any(|j| matches!(j.request, Request::MapPinholePcp(..))), "{:?}", run.out);
    run.answer(|r| matches!(r, Request::MapPinholePcp(..)), silent());
    mapped(&mut run);
    assert_eq!(last_status(&run), (Status::Mapped, format!("{BOTH_OPEN}; {}", text::IPV6_NO_SERVICE)));
    // One unanswered, the other granted: the granted one is kept (and removed at stop).
    let mut run = Run::new(v6(&[Protocol::Udp, Protocol::Tcp]));
    run.answer(is_find_pinholes, pcp);
    run.answer(|r| matches!(r, Request::MapPinholePcp(_, Protocol::Udp, ..)), silent());
    run.answer(
        |r| matches!(r, Request::MapPinholePcp(_, Protocol::Tcp, ..)),
        Reply::Pmp(Ok(pcp_pinhole(Protocol::Tcp, 600, 100))),
    );
    mapped(&mut run);
    assert_eq!(
        last_status(&run),
        (Status::Mapped, format!("{BOTH_OPEN}; IPv6 fd77::2 (TCP only) open (PCP pinholes)"))
    );
    run.policy.handle_stop();
    run.collect();
    assert!(
        run.out.iter().any(|j| matches!(&j.request, Request::UnmapPinholePcp(_, m) if m.protocol == Protocol::Tcp)),
        "{:?}",
        run.out
    );
}

#[test]
fn stop_removes_the_pinholes_including_one_being_added() {
    let mut run = Run::new(v6(&[Protocol::Udp, Protocol::Tcp]));
    mapped(&mut run);
    run.policy.handle_stop();
    run.collect();
    let deletes: Vec<u16> = run
        .out
        .iter()
        .filter_map(|j| if let Request::DeletePinhole(_, _, id) = j.request { Some(id) } else { None })
        .collect();
    assert_eq!(deletes, [20, 21]);
    run.serve(&healthy(3600));
    assert!(run.policy.is_done());
    assert_eq!(run.count(is_delete), 2, "and the IPv4 mappings");
    assert_eq!(run.events.last(), Some(&Event::Status(Status::Stopped, text::STOPPED_REMOVED.into())));
    // Stopped while the AddPinhole is out: it lands, then it is removed.
    let mut run = Run::new(v6(&[Protocol::Udp]));
    run.answer(is_find_pinholes, pinholes_found(true, true, &[CLIENT6]));
    run.policy.handle_stop();
    run.collect();
    run.answer(|r| matches!(r, Request::FindGateway), Reply::Found(None));
    assert!(!run.policy.is_done());
    run.answer(is_add_pinhole, Reply::PinholeId(Ok(20)));
    assert!(matches!(run.out[..], [Job { request: Request::DeletePinhole(_, _, 20), .. }]), "{:?}", run.out);
    run.serve(&healthy(3600));
    assert!(run.policy.is_done());
    // remove_on_exit off: they stay to their lease.
    let mut run = Run::new(Settings { remove_on_stop: false, ..v6(&[Protocol::Udp]) });
    mapped(&mut run);
    run.policy.handle_stop();
    run.collect();
    run.serve(&healthy(3600));
    assert_eq!(run.count(|r| matches!(r, Request::DeletePinhole(..))), 0);
    assert!(run.policy.is_done());
}

#[test]
fn a_router_that_needs_or_allows_no_pinholes_says_so_once() {
    let cases = [
        (pinholes_found(false, true, &[CLIENT6]), Some(text::IPV6_FIREWALL_OFF)),
        (pinholes_found(true, false, &[CLIENT6]), Some(text::IPV6_NOT_ALLOWED)),
        (
            Reply::Pinholes(FoundPinholes { route: PinholeRoute::None, addresses: addresses(&[CLIENT6]) }),
            Some(text::IPV6_NO_SERVICE),
        ),
        // No address a player could reach: nothing to open, nothing said.
        (pinholes_found(true, true, &[]), None),
    ];
    for (answer, said) in cases {
        let mut run = Run::new(v6(&[Protocol::Udp]));
        run.answer(is_find_pinholes, answer.clone());
        mapped(&mut run);
        let line = said.map_or("UDP 41100 open on 11.22.33.44 (UPnP)".to_string(), |s| {
            format!("UDP 41100 open on 11.22.33.44 (UPnP); {s}")
        });
        assert_eq!(last_status(&run), (Status::Mapped, line.clone()));
        assert_eq!(run.count(is_add_pinhole), 0);
        assert!(pinholes_mapped(&run).is_empty());
        // An hour of checks: looked at again at each (at most every minute), nothing new said.
        let statuses = status_count(&run);
        let same = |r: &Request| if is_find_pinholes(r) { answer.clone() } else { healthy(3600)(r) };
        run.run_for(Duration::from_secs(3600), Duration::from_secs(1), &same);
        assert_eq!(status_count(&run), statuses, "{line}");
        assert_eq!(run.count(is_find_pinholes), 1 + 12, "{line}");
    }
    // IPv6 off: nothing asked, nothing said.
    let mut run = Run::new(settings(&[Protocol::Udp]));
    mapped(&mut run);
    run.run_for(Duration::from_secs(600), Duration::from_secs(1), &healthy(3600));
    assert_eq!(run.count(is_find_pinholes), 0);
    assert_eq!(last_status(&run), (Status::Mapped, "UDP 41100 open on 11.22.33.44 (UPnP)".into()));
}
