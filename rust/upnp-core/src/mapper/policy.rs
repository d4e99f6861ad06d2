//! The port mapper's decisions, with no I/O and no clock of its own (in the manner of
//! `quinn-proto`): [`Policy`] is fed commands, the replies to the requests it asked for,
//! and the current time; it answers with requests to perform ([`Policy::poll_job`]), the
//! time to be woken at ([`Policy::poll_timeout`]) and events for the owner
//! ([`Policy::poll_event`]). Which port next, when to renew, what a failed check means and
//! when a mapping counts as lost are decided here, unit-tested with a fake clock; the
//! driver (`driver.rs`) only performs.
//!
//! Each protocol has a slot with at most one request in flight, so UDP and TCP proceed in
//! parallel; requests about the gateway itself (finding it, its external address, our
//! address towards it) run while no slot is busy. IPv6 pinholes ([`pinholes`]) run beside
//! the slots, on requests of their own, and never decide the status.

use super::text;
use super::{Event, Method, Status};
use crate::error::Error;
use crate::firewall::Firewall;
use crate::gateway::Gateway;
use crate::pmp::PmpMapping;
use crate::protocol::igd::{ExternalAddressKind, MappingArgs, PortMappingEntry, Protocol, classify_external_address};
use crate::protocol::pinhole::Pinhole;
use crate::protocol::result::UpnpResult;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

mod pinholes;
use pinholes::V6;
pub use pinholes::{FoundPinholes, MAX_PINHOLE_ADDRESSES, PINHOLE_LEASE, PINHOLE_LOOKUP_INTERVAL, PinholeRoute};

/// First retry delay after a failure; doubles up to [`MAX_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(60);
/// Shortest time between two renewals of one mapping, whatever the lease: a 1 s lease
/// (asked for, or granted by a router) must not become a request storm.
pub const MIN_RENEW_INTERVAL: Duration = Duration::from_secs(5);
/// How many other ports a 501 (ActionFailed) is taken as "port taken" for: some routers
/// answer so where 718 is meant (Linksys, nicotine-plus #2088; libtorrent treats 501 as a
/// conflict), others for every mapping (miniupnpd with a private WAN address), so not for
/// all `port_fallback_count` ports.
pub const MAX_ACTION_FAILED_PORTS: u8 = 3;
/// The shortest lease worth asking for: renewed at half of it, it never lapses.
pub const MIN_LEASE: u32 = 2 * MIN_RENEW_INTERVAL.as_secs() as u32;
/// The longest lease asked for when the router refuses a permanent one (IGDv2's maximum),
/// and the lifetime asked of NAT-PMP/PCP for "permanent" (they have none).
pub const LONGEST_LEASE: u32 = 604_800;

/// What the policy needs of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// External port asked for.
    pub port: u16,
    /// Internal port (0 = the same as `port`); it stays whatever external port is chosen.
    pub internal_port: u16,
    /// Protocols to map, one slot each.
    pub protocols: Vec<Protocol>,
    /// Router-visible description.
    pub description: String,
    /// Lease in seconds (0 = permanent where allowed, else the longest granted).
    pub lease_seconds: u32,
    /// How many other ports to try when the port is taken.
    pub port_fallback_count: u16,
    /// Time between regular checks.
    pub refresh_interval: Duration,
    /// Whether stopping removes the mappings.
    pub remove_on_stop: bool,
    /// Whether NAT-PMP/PCP may be used.
    pub allow_nat_pmp: bool,
    /// A STUN server ("host:port") to ask which address the internet sees, compared with
    /// the router's external address; `None`: not asked.
    pub stun_server: Option<String>,
    /// Whether to open IPv6 pinholes for this host's reachable IPv6 addresses (see
    /// [`pinholes`]).
    pub ipv6: bool,
}

impl Settings {
    /// The port on this computer, whichever external port the router gives.
    pub fn internal_port(&self) -> u16 {
        if self.internal_port == 0 { self.port } else { self.internal_port }
    }

    /// The local port STUN asks from: the mapped UDP port (0 when only TCP is mapped).
    fn stun_port(&self) -> u16 {
        if self.protocols.contains(&Protocol::Udp) { self.internal_port() } else { 0 }
    }

    fn pmp_lifetime(&self) -> u32 {
        if self.lease_seconds == 0 { LONGEST_LEASE } else { self.lease_seconds }
    }
}

/// What the search for a router found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// A UPnP gateway, its description URL and the external address it reported.
    Upnp {
        /// Its connection service.
        gateway: Gateway,
        /// Its description URL (worth remembering).
        description_url: String,
        /// Its external address, when it gave one.
        external_address: Option<String>,
    },
    /// A NAT-PMP/PCP server and the external address it reported.
    Pmp {
        /// The server (the default gateway).
        server: Ipv4Addr,
        /// Its external address, when it gave one.
        external_address: Option<Ipv4Addr>,
    },
}

/// A request for the driver to perform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Find the gateway (remembered URL, SSDP and a NAT-PMP/PCP probe).
    FindGateway,
    /// UPnP `GetExternalIPAddress`.
    ExternalAddress(Gateway),
    /// Our address on the way to the gateway (reads the routing table; sends nothing).
    LocalAddress(IpAddr),
    /// UPnP `AddPortMapping` (a new mapping or a renewal).
    Add(Gateway, MappingArgs),
    /// UPnP `AddAnyPortMapping` (IGDv2).
    AddAny(Gateway, MappingArgs),
    /// UPnP `GetSpecificPortMappingEntry`.
    Check(Gateway, u16, Protocol),
    /// UPnP `DeletePortMapping`.
    Delete(Gateway, u16, Protocol),
    /// A NAT-PMP/PCP mapping: server, protocol, internal port, suggested external port,
    /// lifetime.
    MapPmp(Ipv4Addr, Protocol, u16, u16, u32),
    /// A NAT-PMP/PCP renewal of a mapping, with the lifetime asked.
    RenewPmp(Ipv4Addr, PmpMapping, u32),
    /// A NAT-PMP/PCP deletion.
    UnmapPmp(Ipv4Addr, PmpMapping),
    /// A STUN Binding: server ("host:port"), local UDP port to send from when free.
    Stun(String, u16),
    /// How the router lets IPv6 in: its WANIPv6FirewallControl service and status (found
    /// by an IPv6 search), else PCP at its IPv6 address; and this host's reachable IPv6
    /// addresses.
    FindPinholes,
    /// `AddPinhole` for a lease (seconds).
    AddPinhole(Firewall, Pinhole, u32),
    /// `UpdatePinhole`: the pinhole, its id, the new lease.
    UpdatePinhole(Firewall, Pinhole, u16, u32),
    /// `DeletePinhole`: the pinhole and its id.
    DeletePinhole(Firewall, Pinhole, u16),
    /// A PCP MAP over IPv6 (a pinhole for our own address): server, protocol, our port,
    /// lifetime.
    MapPinholePcp(Ipv6Addr, Protocol, u16, u32),
    /// A PCP renewal of a pinhole, with the lifetime asked.
    RenewPinholePcp(Ipv6Addr, PmpMapping, u32),
    /// A PCP deletion of a pinhole.
    UnmapPinholePcp(Ipv6Addr, PmpMapping),
}

impl Request {
    /// Whether it changes the router's table (these are awaited before a stop removes
    /// what they made; queries are abandoned).
    pub fn changes_router(&self) -> bool {
        matches!(
            self,
            Request::Add(..)
                | Request::AddAny(..)
                | Request::Delete(..)
                | Request::MapPmp(..)
                | Request::RenewPmp(..)
                | Request::UnmapPmp(..)
                | Request::AddPinhole(..)
                | Request::UpdatePinhole(..)
                | Request::DeletePinhole(..)
                | Request::MapPinholePcp(..)
                | Request::RenewPinholePcp(..)
                | Request::UnmapPinholePcp(..)
        )
    }

    /// Whether it is about IPv6 pinholes (answered to the pinholes, never to a slot).
    pub fn is_pinhole(&self) -> bool {
        matches!(
            self,
            Request::FindPinholes
                | Request::AddPinhole(..)
                | Request::UpdatePinhole(..)
                | Request::DeletePinhole(..)
                | Request::MapPinholePcp(..)
                | Request::RenewPinholePcp(..)
                | Request::UnmapPinholePcp(..)
        )
    }
}

/// A request and the slot it is for (`None`: about the gateway).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The protocol slot, an index into the configured protocols.
    pub slot: Option<usize>,
    /// What to do.
    pub request: Request,
}

/// What came of a [`Job`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// [`Request::FindGateway`].
    Found(Option<Found>),
    /// [`Request::ExternalAddress`].
    ExternalAddress(Result<String, Error>),
    /// [`Request::LocalAddress`].
    LocalAddress(Result<IpAddr, Error>),
    /// [`Request::Add`], [`Request::Delete`], [`Request::UnmapPmp`] and the pinhole
    /// updates and deletions.
    Done(Result<(), Error>),
    /// [`Request::AddAny`]: the port the router chose.
    AddedAny(Result<u16, Error>),
    /// [`Request::Check`].
    Checked(Result<PortMappingEntry, Error>),
    /// [`Request::MapPmp`], [`Request::RenewPmp`] and their pinhole counterparts.
    Pmp(Result<PmpMapping, Error>),
    /// A change was not sent: a newer mapper of the same owner holds this mapping now.
    NotOwner,
    /// [`Request::Stun`]: the address and port the server saw.
    Stun(Result<SocketAddr, Error>),
    /// [`Request::FindPinholes`].
    Pinholes(FoundPinholes),
    /// [`Request::AddPinhole`]: the pinhole's id.
    PinholeId(Result<u16, Error>),
}

/// Why the last attempt failed: the result for the owner and the line for players.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The engine's result code.
    pub result: UpnpResult,
    /// One line for players.
    pub text: String,
}

/// A mapping this mapper made.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    external_port: u16,
    internal_port: u16,
    /// The lease asked for (UPnP) or granted (NAT-PMP/PCP), in seconds; 0 = permanent.
    lease_seconds: u32,
    /// When it was made or last renewed.
    renewed_at: Instant,
    renew_at: Option<Instant>,
    via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Via {
    Upnp,
    Pmp { server: Ipv4Addr, mapping: PmpMapping },
}

impl Held {
    fn method(&self) -> Method {
        match &self.via {
            Via::Upnp => Method::Upnp,
            Via::Pmp { mapping, .. } => mapping.method.into(),
        }
    }

    fn upnp(external_port: u16, internal_port: u16, lease_seconds: u32, now: Instant) -> Held {
        Held {
            external_port,
            internal_port,
            lease_seconds,
            renewed_at: now,
            renew_at: renew_time(lease_seconds, now),
            via: Via::Upnp,
        }
    }

    fn pmp(server: Ipv4Addr, mapping: PmpMapping, now: Instant) -> Held {
        Held {
            external_port: mapping.external_port,
            internal_port: mapping.internal_port,
            lease_seconds: mapping.lifetime_secs,
            renewed_at: now,
            renew_at: renew_time(mapping.lifetime_secs, now),
            via: Via::Pmp { server, mapping },
        }
    }
}

/// Renew at half the lease, like NAT-PMP clients do (RFC 6886 §3.3), never sooner than
/// [`MIN_RENEW_INTERVAL`]; never for lease 0.
fn renew_time(lease_seconds: u32, now: Instant) -> Option<Instant> {
    (lease_seconds > 0).then(|| now + (Duration::from_secs(u64::from(lease_seconds)) / 2).max(MIN_RENEW_INTERVAL))
}

/// Progress of one attempt to map a protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Attempt {
    /// The external port being asked for.
    port: u16,
    /// Other ports tried so far.
    others: u16,
    tried_any: bool,
    /// The lease asked for in the current request.
    lease: u32,
    lease_retried: bool,
    /// Ports refused with 501 so far (some routers say so for a port taken).
    action_failures: u8,
    /// Why UPnP failed, when the attempt went on by NAT-PMP/PCP.
    upnp_error: Option<Error>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SlotState {
    /// Not mapped (never, lost, or the last attempt failed).
    Missing,
    /// Being mapped.
    Trying(Attempt),
    /// Mapped.
    Held(Held),
    /// Mapped; a renewal or a repairing re-add is in flight.
    Renewing(Held),
    /// Listed as ours, deleted to be added again at once (an owner's refresh: a router
    /// may list a mapping it no longer forwards, and only delete + add repairs that).
    Recreating(Held),
    /// Deleted for a repair; added again once no other slot has a request out, so that
    /// every repairing delete comes before any re-add (miniupnpd 2.3.1 deletes the filter
    /// rule of a port whatever its protocol: a delete after another protocol's re-add
    /// takes that one's new rule).
    Deleted(Held),
    /// A mapping for our old LAN address is being deleted before it is made again.
    Replacing,
}

#[derive(Clone, Debug)]
struct Slot {
    protocol: Protocol,
    state: SlotState,
    busy: bool,
    failure: Option<Failure>,
}

/// Where the mapper is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Looking for the gateway.
    Finding,
    /// A check's gateway questions (external and local address) are out.
    Probing,
    /// Slots are mapping, checking or renewing.
    Slots,
    /// Waiting for the next check.
    Idle,
    /// Stop asked: waiting for the changes in flight.
    Stopping,
    /// Removing the mappings.
    Removing,
    /// Finished.
    Done,
}

/// The route to the router's mapping service.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    None,
    Upnp(Gateway),
    Pmp(Ipv4Addr),
}

/// The decisions of one mapper session. See the module docs.
#[derive(Debug)]
pub struct Policy {
    settings: Settings,
    phase: Phase,
    route: Route,
    /// Where NAT-PMP/PCP goes after a UPnP refusal (the UPnP router's own address).
    pmp_fallback: Option<Ipv4Addr>,
    external_address: String,
    /// The UPnP router answered that it has no external address ("" or 0.0.0.0, see
    /// [`ExternalAddressKind::None`]): nothing new is mapped through it until it has one,
    /// since a mapping would be reported open and reach no one (tailscale/corp#23538:
    /// Tailscale refuses such a router too).
    no_address: bool,
    /// The last STUN answer (the address the internet sees) or why there was none.
    stun: Option<Result<IpAddr, String>>,
    /// A STUN request is out.
    stun_out: bool,
    /// When the last STUN request went out (at most one per [`MIN_RENEW_INTERVAL`]: the
    /// server is often a public one, and a check can come every 0.1 s).
    stun_asked_at: Option<Instant>,
    /// The first round's result, held back until the STUN answer is in, so that an
    /// `upnp_completed` handler reads the status line with its verdict.
    held_completion: Option<UpnpResult>,
    /// The last round's failure (`None`: everything mapped).
    round_failure: Option<Failure>,
    /// Our LAN address before it changed (entries for it are ours, to be replaced).
    old_local_address: Option<String>,
    slots: Vec<Slot>,
    /// Mappings made but no longer checked (the router vanished), with the protocol and
    /// the UPnP gateway they were made on; removed at stop.
    stale: Vec<(Protocol, Held, Option<Gateway>)>,
    /// Gateway questions of the current probe still out, and whether one found the
    /// router unreachable.
    probes_out: usize,
    unreachable: bool,
    /// A query failed for a passing reason in this round: check again soon.
    transient: bool,
    next_check: Instant,
    retry_delay: Duration,
    refresh_wanted: bool,
    /// The current check was asked for by the owner: listed mappings are re-created.
    recreate: bool,
    stop: bool,
    /// Changes to the router handed out and not yet answered (a stop waits for them;
    /// queries in flight are abandoned).
    changes_in_flight: usize,
    /// Removals handed out at stop and not yet answered.
    removals_out: usize,
    queue: VecDeque<Job>,
    completed: bool,
    /// The IPv4 status and its line, before the IPv6 part is added.
    base: Option<(Status, String)>,
    shown: Option<(Status, String)>,
    events: VecDeque<Event>,
    /// The IPv6 pinholes.
    v6: V6,
}

impl Policy {
    /// A new session: it starts by looking for the gateway.
    pub fn new(settings: Settings, now: Instant) -> Policy {
        let slots = settings
            .protocols
            .iter()
            .map(|&protocol| Slot { protocol, state: SlotState::Missing, busy: false, failure: None })
            .collect();
        let mut policy = Policy {
            settings,
            phase: Phase::Finding,
            route: Route::None,
            pmp_fallback: None,
            external_address: String::new(),
            no_address: false,
            stun: None,
            stun_out: false,
            stun_asked_at: None,
            held_completion: None,
            round_failure: None,
            old_local_address: None,
            slots,
            stale: Vec::new(),
            probes_out: 0,
            unreachable: false,
            transient: false,
            next_check: now,
            retry_delay: FIRST_RETRY,
            refresh_wanted: false,
            recreate: false,
            stop: false,
            changes_in_flight: 0,
            removals_out: 0,
            queue: VecDeque::new(),
            completed: false,
            base: None,
            shown: None,
            events: VecDeque::new(),
            v6: V6::default(),
        };
        policy.show(Status::Working, text::LOOKING.into());
        policy.find();
        policy.ask_stun(now);
        policy.look_for_pinholes(now);
        policy
    }

    /// The next request to perform, if any. Each is answered with [`Policy::handle_reply`].
    pub fn poll_job(&mut self) -> Option<Job> {
        let job = self.queue.pop_front()?;
        if job.request.changes_router() {
            self.changes_in_flight += 1;
        }
        Some(job)
    }

    /// When to call [`Policy::handle_timeout`] (`None`: only replies or commands move it).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stop {
            return None;
        }
        match (self.ipv4_timeout(), self.pinhole_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the next check or IPv4 renewal is due (only between rounds).
    fn ipv4_timeout(&self) -> Option<Instant> {
        if self.phase != Phase::Idle {
            return None;
        }
        let renewals = self.held().filter_map(|h| h.renew_at);
        Some(renewals.fold(self.next_check, Instant::min))
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the session has ended (stopped, removals done).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Time passed: renews the pinholes that are due and starts a check when one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stop {
            return;
        }
        self.renew_due_pinholes(now);
        if self.ipv4_timeout().is_some_and(|at| at <= now) {
            self.check(now, false);
        }
    }

    /// The owner asked for a check now. Requests coalesce: many while one check runs make
    /// one more check after it. Unlike a timed check, it re-creates each UPnP mapping the
    /// router lists as ours (delete, then the same add): the owner asks when players could
    /// not get through, and a router that lists a mapping without forwarding it (the
    /// node cannot tell: the list looks right) is repaired only so.
    pub fn handle_refresh(&mut self, now: Instant) {
        match self.phase {
            Phase::Idle => self.check(now, true),
            Phase::Finding | Phase::Probing | Phase::Slots => self.refresh_wanted = true,
            Phase::Stopping | Phase::Removing | Phase::Done => {}
        }
    }

    /// The owner asked to stop: nothing new is asked; once the changes in flight are
    /// answered the mappings are removed (as configured) and the session ends.
    pub fn handle_stop(&mut self) {
        if self.stop {
            return;
        }
        self.stop = true;
        self.queue.clear();
        if let Some(result) = self.held_completion.take() {
            self.emit(Event::Completed(result));
        }
        for slot in &mut self.slots {
            slot.busy = false;
        }
        self.v6.forget_busy();
        self.phase = Phase::Stopping;
        self.remove_when_quiet();
    }

    /// The reply to a job from [`Policy::poll_job`].
    pub fn handle_reply(&mut self, job: Job, reply: Reply, now: Instant) {
        if job.request.changes_router() {
            self.changes_in_flight = self.changes_in_flight.saturating_sub(1);
        }
        if self.stop {
            self.after_stop(job, reply, now);
            return;
        }
        if job.request.is_pinhole() {
            self.pinhole_reply(job.request, reply, now);
            return;
        }
        match job.slot {
            None => self.gateway_reply(reply, now),
            Some(i) if i < self.slots.len() => {
                self.slots[i].busy = false;
                self.slot_reply(i, job.request, reply, now);
                self.re_add_deleted();
                self.end_round_if_quiet(now);
            }
            Some(_) => {}
        }
    }

    // --- the gateway ------------------------------------------------------------------

    fn find(&mut self) {
        self.phase = Phase::Finding;
        self.queue.push_back(Job { slot: None, request: Request::FindGateway });
    }

    fn gateway_reply(&mut self, reply: Reply, now: Instant) {
        match (self.phase, reply) {
            (_, Reply::Stun(answer)) => self.stun_answered(answer),
            (Phase::Finding, Reply::Found(found)) => self.on_found(found, now),
            (Phase::Probing, Reply::ExternalAddress(answer)) => {
                match answer {
                    Ok(address) => self.router_address(address),
                    Err(e) if is_transport(&e) => self.unreachable = true,
                    // A router that cannot say (a SOAP error) still maps: check the mappings.
                    Err(_) => {}
                }
                self.probe_answered(now);
            }
            (Phase::Probing, Reply::LocalAddress(answer)) => {
                match answer {
                    Ok(address) => self.follow_local_address(address.to_string()),
                    Err(_) => self.unreachable = true,
                }
                self.probe_answered(now);
            }
            _ => {}
        }
    }

    fn on_found(&mut self, found: Option<Found>, now: Instant) {
        let (route, external_address) = match found {
            Some(Found::Upnp { gateway, description_url, external_address }) => {
                self.emit(Event::GatewayFound(description_url));
                self.pmp_fallback = match gateway.control_url().ip() {
                    Some(IpAddr::V4(address)) => Some(address),
                    _ => None,
                };
                (Route::Upnp(gateway), external_address)
            }
            Some(Found::Pmp { server, external_address }) => {
                self.no_address = false;
                (Route::Pmp(server), Some(external_address.map(|a| a.to_string()).unwrap_or_default()))
            }
            None => {
                self.give_up_held(text::ROUTER_GONE);
                self.route = Route::None;
                let failure = Failure {
                    result: UpnpResult::NoGateway,
                    text: text::no_router(self.settings.allow_nat_pmp).into(),
                };
                for slot in &mut self.slots {
                    slot.failure = Some(failure.clone());
                }
                self.end_round(now);
                return;
            }
        };
        // UPnP mappings can no longer be checked when UPnP is gone (NAT-PMP/PCP ones are
        // renewed at their server whatever answers discovery).
        let upnp = matches!(route, Route::Upnp(_));
        for i in 0..self.slots.len() {
            let kept = match &self.slots[i].state {
                SlotState::Held(held) => upnp || !matches!(held.via, Via::Upnp),
                _ => true,
            };
            if !kept {
                self.lose(i, "the router now answers another protocol");
            }
        }
        let upnp_answered = upnp && external_address.is_some();
        self.route = route;
        match external_address {
            Some(address) if upnp_answered => self.router_address(address),
            Some(address) => self.follow_address(address),
            // The router did not say (a failed query): it may still map.
            None => self.no_address = false,
        }
        self.work_slots(now);
    }

    fn probe_answered(&mut self, now: Instant) {
        self.probes_out = self.probes_out.saturating_sub(1);
        if self.probes_out > 0 {
            return;
        }
        if std::mem::take(&mut self.unreachable) {
            // The router is gone or moved (a reboot may change its URL): look for it
            // again, keeping the mappings, which are checked against what is found.
            self.show(Status::Working, text::ROUTER_GONE.into());
            self.find();
        } else {
            self.work_slots(now);
        }
    }

    /// A UPnP router's answer to `GetExternalIPAddress`.
    fn router_address(&mut self, address: String) {
        self.no_address = classify_external_address(&address) == ExternalAddressKind::None;
        self.follow_address(address);
    }

    /// Takes the router's answer as the external address, reporting a change.
    fn follow_address(&mut self, address: String) {
        if address != self.external_address {
            let old = std::mem::replace(&mut self.external_address, address.clone());
            if !old.is_empty() {
                self.show_holdings();
                self.emit(Event::ExternalAddressChanged { old, new: address });
            }
        }
    }

    fn follow_local_address(&mut self, address: String) {
        if let Route::Upnp(gateway) = &self.route
            && gateway.local_address() != address
        {
            self.old_local_address = Some(gateway.local_address().to_string());
            self.route = Route::Upnp(gateway.with_local_address(&address));
        }
    }

    // --- rounds -----------------------------------------------------------------------

    /// A check: the gateway's questions first (UPnP), then every slot; `asked`: by the
    /// owner (listed mappings are re-created).
    fn check(&mut self, now: Instant, asked: bool) {
        self.check_pinholes(now);
        self.refresh_wanted = false;
        self.recreate = asked;
        self.transient = false;
        self.ask_stun(now);
        let nothing_held = self.held().next().is_none() && self.stale.is_empty();
        match self.route.clone() {
            // Nothing to keep (the last attempt failed), or no router: look for one
            // afresh, it may have come back or changed (UPnP switched on, a new router).
            Route::None => self.find(),
            _ if nothing_held => self.find(),
            Route::Upnp(gateway) => {
                self.phase = Phase::Probing;
                self.probes_out = 2;
                let towards = gateway.control_url().ip();
                self.queue.push_back(Job { slot: None, request: Request::ExternalAddress(gateway) });
                match towards {
                    Some(ip) => self.queue.push_back(Job { slot: None, request: Request::LocalAddress(ip) }),
                    None => self.probes_out = 1,
                }
            }
            Route::Pmp(_) => self.work_slots(now),
        }
    }

    /// Gives every idle slot its next request: map what is missing, check what is held.
    fn work_slots(&mut self, now: Instant) {
        self.phase = Phase::Slots;
        for i in 0..self.slots.len() {
            let state = self.slots[i].state.clone();
            match state {
                SlotState::Missing if self.no_address => self.slots[i].failure = Some(self.no_address_failure()),
                SlotState::Missing => self.start_attempt(i),
                SlotState::Held(held) => self.check_held(i, held),
                SlotState::Trying(_)
                | SlotState::Renewing(_)
                | SlotState::Recreating(_)
                | SlotState::Deleted(_)
                | SlotState::Replacing => {}
            }
        }
        self.end_round_if_quiet(now);
    }

    fn end_round_if_quiet(&mut self, now: Instant) {
        if self.phase == Phase::Slots && self.slots.iter().all(|s| !s.busy) {
            self.end_round(now);
        }
    }

    /// The status after a round, the completion once, and the next check.
    fn end_round(&mut self, now: Instant) {
        self.phase = Phase::Idle;
        let failure = if self.no_address && matches!(self.route, Route::Upnp(_)) {
            Some(self.no_address_failure())
        } else {
            self.slots
                .iter()
                .filter(|s| !matches!(s.state, SlotState::Held(_)))
                .find_map(|s| s.failure.clone())
                .or_else(|| {
                    self.slots.iter().any(|s| !matches!(s.state, SlotState::Held(_))).then(|| Failure {
                        result: UpnpResult::NoGateway,
                        text: text::no_router(self.settings.allow_nat_pmp).into(),
                    })
                })
        };
        let result = failure.as_ref().map_or(UpnpResult::Success, |f| f.result);
        self.round_failure = failure.clone();
        self.show_round();
        // A failure, or a check that could not tell, is retried sooner, backing off.
        let wait = if failure.is_none() && !self.transient {
            self.retry_delay = FIRST_RETRY;
            self.settings.refresh_interval
        } else {
            let wait = self.retry_delay;
            self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
            wait
        };
        if !self.completed {
            self.completed = true;
            if self.stun_out {
                self.held_completion = Some(result);
            } else {
                self.emit(Event::Completed(result));
            }
        }
        self.next_check = now + wait.min(self.settings.refresh_interval.max(Duration::from_millis(100)));
        if std::mem::take(&mut self.refresh_wanted) {
            self.check(now, true);
        }
    }

    /// The status line of the last round: what is open (with the STUN verdict) or why not.
    fn show_round(&mut self) {
        match self.round_failure.clone() {
            None => {
                let text = self.mapped_text();
                self.show(Status::Mapped, text);
            }
            // The STUN verdict may have come after the round.
            Some(_) if self.no_address && matches!(self.route, Route::Upnp(_)) => {
                let text = self.no_address_failure().text;
                self.show(Status::Failed, text);
            }
            Some(failure) => self.show(Status::Failed, failure.text),
        }
    }

    fn no_address_failure(&self) -> Failure {
        let mut text = text::private_address(&self.external_address);
        if let Some(Ok(seen)) = &self.stun {
            text.push_str(&format!(" A STUN server sees this computer as {seen}."));
        }
        Failure { result: UpnpResult::InvalidGateway, text }
    }

    // --- STUN -------------------------------------------------------------------------

    /// Asks the STUN server (when one is set, no request is out and the last one is at
    /// least [`MIN_RENEW_INTERVAL`] old) which address the internet sees; the answer
    /// refines the status line.
    fn ask_stun(&mut self, now: Instant) {
        let due = self.stun_asked_at.is_none_or(|at| now >= at + MIN_RENEW_INTERVAL);
        if let Some(server) = self.settings.stun_server.clone()
            && !self.stun_out
            && due
        {
            self.stun_out = true;
            self.stun_asked_at = Some(now);
            self.queue.push_back(Job { slot: None, request: Request::Stun(server, self.settings.stun_port()) });
        }
    }

    fn stun_answered(&mut self, answer: Result<SocketAddr, Error>) {
        self.stun_out = false;
        self.stun = Some(answer.map(|a| a.ip()).map_err(|e| e.to_string()));
        if self.phase == Phase::Idle && self.completed {
            self.show_round();
        }
        if let Some(result) = self.held_completion.take() {
            self.emit(Event::Completed(result));
        }
    }

    // --- slots ------------------------------------------------------------------------

    fn start_attempt(&mut self, i: usize) {
        let attempt = Attempt {
            port: self.settings.port,
            others: 0,
            tried_any: false,
            lease: self.settings.lease_seconds,
            lease_retried: false,
            action_failures: 0,
            upnp_error: None,
        };
        match self.route.clone() {
            Route::Upnp(gateway) => {
                let args = self.args(self.slots[i].protocol, attempt.port, attempt.lease);
                self.slots[i].state = SlotState::Trying(attempt);
                self.ask(i, Request::Add(gateway, args));
            }
            Route::Pmp(server) => {
                self.slots[i].state = SlotState::Trying(attempt);
                self.ask_pmp(i, server);
            }
            Route::None => {}
        }
    }

    fn ask(&mut self, i: usize, request: Request) {
        self.slots[i].busy = true;
        self.queue.push_back(Job { slot: Some(i), request });
    }

    fn ask_pmp(&mut self, i: usize, server: Ipv4Addr) {
        let (protocol, port, internal) = (self.slots[i].protocol, self.settings.port, self.settings.internal_port());
        self.ask(i, Request::MapPmp(server, protocol, internal, port, self.settings.pmp_lifetime()));
    }

    fn args(&self, protocol: Protocol, external_port: u16, lease_seconds: u32) -> MappingArgs {
        MappingArgs {
            external_port,
            internal_port: self.settings.internal_port(),
            protocol,
            description: self.settings.description.clone(),
            lease_seconds,
        }
    }

    fn check_held(&mut self, i: usize, held: Held) {
        let protocol = self.slots[i].protocol;
        match (&held.via, self.route.clone()) {
            (Via::Upnp, Route::Upnp(gateway)) => self.ask(i, Request::Check(gateway, held.external_port, protocol)),
            // NAT-PMP/PCP cannot list mappings: a renewal (one round trip) re-creates a
            // forgotten one, and the answer's epoch tells whether it was forgotten.
            (Via::Pmp { server, mapping }, _) => {
                let request = Request::RenewPmp(*server, mapping.clone(), self.settings.pmp_lifetime());
                self.slots[i].state = SlotState::Renewing(held);
                self.ask(i, request);
            }
            _ => {}
        }
    }

    fn slot_reply(&mut self, i: usize, request: Request, reply: Reply, now: Instant) {
        let state = std::mem::replace(&mut self.slots[i].state, SlotState::Missing);
        match (state, reply) {
            (SlotState::Trying(attempt), reply) => self.attempt_reply(i, attempt, &request, reply, now),
            (SlotState::Held(held), Reply::Checked(answer)) => self.checked(i, held, answer, now),
            (SlotState::Renewing(held), reply) => self.renewed(i, held, reply, now),
            (SlotState::Recreating(_), Reply::NotOwner) => {}
            // Deleted (or already gone): the same add, once every repairing delete is done.
            (SlotState::Recreating(held), _) => self.slots[i].state = SlotState::Deleted(held),
            (SlotState::Replacing, _) => self.start_attempt(i),
            (state, _) => self.slots[i].state = state,
        }
    }

    fn attempt_reply(&mut self, i: usize, mut a: Attempt, request: &Request, reply: Reply, now: Instant) {
        let protocol = self.slots[i].protocol;
        let gateway = match &self.route {
            Route::Upnp(gateway) => Some(gateway.clone()),
            _ => None,
        };
        match reply {
            Reply::Done(Ok(())) => {
                let internal = self.settings.internal_port();
                self.hold(i, Held::upnp(a.port, internal, a.lease, now));
            }
            Reply::AddedAny(Ok(port)) => {
                let internal = self.settings.internal_port();
                self.hold(i, Held::upnp(port, internal, a.lease, now));
            }
            Reply::Pmp(Ok(mapping)) => {
                let Request::MapPmp(server, ..) = *request else { return };
                if let Some(address) = mapping.external_address {
                    self.follow_address(address.to_string());
                }
                self.hold(i, Held::pmp(server, mapping, now));
            }
            Reply::Pmp(Err(e)) => self.fail(i, a.upnp_error.as_ref().unwrap_or(&e)),
            Reply::NotOwner => {}
            Reply::Done(Err(e)) => {
                let Some(gateway) = gateway else { return };
                let action_failed = e.upnp_code() == Some(501) && a.action_failures < MAX_ACTION_FAILED_PORTS;
                if a.lease != 0 && refuses_finite_lease(&e) && !a.lease_retried {
                    a.lease_retried = true;
                    a.lease = 0;
                } else if self.settings.lease_seconds == 0 && a.lease == 0 && refuses_lease(&e) && !a.lease_retried {
                    a.lease_retried = true;
                    a.lease = LONGEST_LEASE;
                } else if (is_conflict(&e) || action_failed) && a.others < self.settings.port_fallback_count {
                    a.others += 1;
                    a.action_failures += u8::from(action_failed);
                    if !a.tried_any && gateway.supports_add_any() {
                        a.tried_any = true;
                        let args = self.args(protocol, a.port, a.lease);
                        self.slots[i].state = SlotState::Trying(a);
                        return self.ask(i, Request::AddAny(gateway, args));
                    }
                    a.port = next_port(a.port);
                } else {
                    return self.upnp_failed(i, a, e);
                }
                let args = self.args(protocol, a.port, a.lease);
                self.slots[i].state = SlotState::Trying(a);
                self.ask(i, Request::Add(gateway, args));
            }
            Reply::AddedAny(Err(_)) => {
                // The router would not choose: go on with the next ports ourselves.
                let Some(gateway) = gateway else { return };
                a.port = next_port(a.port);
                let args = self.args(protocol, a.port, a.lease);
                self.slots[i].state = SlotState::Trying(a);
                self.ask(i, Request::Add(gateway, args));
            }
            _ => {}
        }
    }

    /// UPnP refused: NAT-PMP/PCP at the router's address when allowed, else the failure.
    fn upnp_failed(&mut self, i: usize, mut a: Attempt, e: Error) {
        match self.pmp_fallback.filter(|_| self.settings.allow_nat_pmp) {
            Some(server) => {
                a.upnp_error = Some(e);
                self.slots[i].state = SlotState::Trying(a);
                self.ask_pmp(i, server);
            }
            None => self.fail(i, &e),
        }
    }

    fn fail(&mut self, i: usize, e: &Error) {
        let protocol = self.slots[i].protocol;
        let text =
            text::failure(e, protocol, self.settings.port, self.settings.port_fallback_count, &self.external_address);
        self.slots[i].state = SlotState::Missing;
        self.slots[i].failure = Some(Failure { result: e.result(), text });
    }

    fn hold(&mut self, i: usize, held: Held) {
        let event = Event::Mapped {
            external_address: self.external_address.clone(),
            external_port: held.external_port,
            protocol: self.slots[i].protocol,
            method: held.method(),
        };
        self.slots[i].failure = None;
        self.slots[i].state = SlotState::Held(held);
        self.show_holdings();
        self.emit(event);
    }

    /// The status for what is held now, before an event about it, so that its handler
    /// reads the state after the event: every protocol open, or some still being opened,
    /// or (a router that lost its address) not usable.
    fn show_holdings(&mut self) {
        if self.no_address && matches!(self.route, Route::Upnp(_)) {
            let text = self.no_address_failure().text;
            return self.show(Status::Failed, text);
        }
        if self.held().next().is_none() {
            return;
        }
        let pending: Vec<String> = self
            .slots
            .iter()
            .filter(|s| {
                !matches!(
                    s.state,
                    SlotState::Held(_) | SlotState::Renewing(_) | SlotState::Recreating(_) | SlotState::Deleted(_)
                )
            })
            .map(|s| format!("{} {}", s.protocol.as_str(), self.settings.port))
            .collect();
        let text = self.mapped_text();
        match pending.is_empty() {
            true => self.show(Status::Mapped, text),
            false => self.show(Status::Working, text::opening_more(&text, &pending.join(", "))),
        }
    }

    fn checked(&mut self, i: usize, mut held: Held, answer: Result<PortMappingEntry, Error>, now: Instant) {
        let Route::Upnp(gateway) = self.route.clone() else {
            self.slots[i].state = SlotState::Held(held);
            return;
        };
        let protocol = self.slots[i].protocol;
        match answer {
            Ok(entry)
                if entry.internal_client == gateway.local_address() && entry.internal_port == held.internal_port =>
            {
                // The lease the router actually has: a shortened one is renewed before it ends.
                if entry.lease_seconds > 0 {
                    let by_router = now + (Duration::from_secs(u64::from(entry.lease_seconds)) / 2);
                    let at = by_router.max(held.renewed_at + MIN_RENEW_INTERVAL);
                    held.renew_at = Some(held.renew_at.map_or(at, |r| r.min(at)));
                }
                if self.recreate {
                    self.slots[i].state = SlotState::Recreating(held.clone());
                    self.ask(i, Request::Delete(gateway, held.external_port, protocol));
                } else if held.renew_at.is_some_and(|at| at <= now) {
                    // The same AddPortMapping extends the lease.
                    self.re_add(i, held);
                } else {
                    self.slots[i].state = SlotState::Held(held);
                }
            }
            Ok(entry) if self.old_local_address.as_deref() == Some(entry.internal_client.as_str()) => {
                let reason = format!(
                    "this computer's LAN address changed from {} to {}",
                    entry.internal_client,
                    gateway.local_address()
                );
                self.lose(i, &reason);
                // Delete the old address's mapping where the router allows, then map again.
                self.slots[i].state = SlotState::Replacing;
                self.ask(i, Request::Delete(gateway, held.external_port, protocol));
            }
            Ok(entry) => {
                let reason = format!("the router now forwards it to {}:{}", entry.internal_client, entry.internal_port);
                self.lose(i, &reason);
                self.start_attempt(i);
            }
            Err(e) if e.upnp_code() == Some(714) => {
                self.lose(i, "the router no longer has the mapping");
                self.router_forgot();
                self.start_attempt(i);
            }
            Err(e) if is_transport(&e) => {
                // A timeout or a reset says nothing about the mapping: look again soon.
                self.transient = true;
                self.slots[i].state = SlotState::Held(held);
            }
            Err(_) => {
                // The router cannot tell (no such action, or a broken answer): the same
                // AddPortMapping again keeps the mapping whether or not it still had it.
                self.re_add(i, held);
            }
        }
    }

    /// Re-adds the mappings deleted for a repair, once no slot has a request out.
    fn re_add_deleted(&mut self) {
        if self.slots.iter().any(|s| s.busy) {
            return;
        }
        for i in 0..self.slots.len() {
            if let SlotState::Deleted(held) = self.slots[i].state.clone() {
                self.re_add(i, held);
            }
        }
    }

    /// The same AddPortMapping for a held mapping (a renewal, or after a repairing delete).
    fn re_add(&mut self, i: usize, held: Held) {
        let Route::Upnp(gateway) = self.route.clone() else {
            self.slots[i].state = SlotState::Held(held);
            return;
        };
        let args = self.args(self.slots[i].protocol, held.external_port, held.lease_seconds);
        self.slots[i].state = SlotState::Renewing(held);
        self.ask(i, Request::Add(gateway, args));
    }

    fn renewed(&mut self, i: usize, held: Held, reply: Reply, now: Instant) {
        match reply {
            Reply::Done(Ok(())) => {
                self.slots[i].state =
                    SlotState::Held(Held::upnp(held.external_port, held.internal_port, held.lease_seconds, now));
            }
            Reply::Pmp(Ok(renewed)) => {
                let Via::Pmp { server, mapping } = &held.via else {
                    self.slots[i].state = SlotState::Held(held);
                    return;
                };
                let server = *server;
                let elapsed = now.saturating_duration_since(held.renewed_at);
                let reason = if router_restarted(mapping.epoch_secs, elapsed, renewed.epoch_secs) {
                    Some("the router restarted and forgot the mapping")
                } else if renewed.external_port != mapping.external_port {
                    Some("the router moved the mapping to another port")
                } else {
                    None
                };
                if let Some(address) = renewed.external_address {
                    self.follow_address(address.to_string());
                }
                let renewed = Held::pmp(server, renewed, now);
                match reason {
                    Some(reason) => {
                        self.lose(i, reason);
                        self.router_forgot();
                        self.hold(i, renewed);
                    }
                    None => self.slots[i].state = SlotState::Held(renewed),
                }
            }
            Reply::NotOwner => {}
            Reply::Done(Err(e)) | Reply::Pmp(Err(e)) if is_transport(&e) => {
                self.transient = true;
                self.slots[i].state = SlotState::Held(held);
            }
            Reply::Done(Err(e)) | Reply::Pmp(Err(e)) => {
                self.lose(i, &format!("renewal failed: {e}"));
                self.start_attempt(i);
            }
            _ => self.slots[i].state = SlotState::Held(held),
        }
    }

    /// Reports slot `i`'s mapping lost (the status first, so that a handler already reads
    /// it) and leaves the slot missing.
    fn lose(&mut self, i: usize, reason: &str) {
        let protocol = self.slots[i].protocol;
        let port = match &self.slots[i].state {
            SlotState::Held(h) | SlotState::Renewing(h) => h.external_port,
            _ => self.settings.port,
        };
        self.show(Status::Working, text::remapping(protocol, port, reason));
        self.emit(Event::Lost { protocol, reason: reason.into() });
        self.slots[i].state = SlotState::Missing;
    }

    /// The router vanished: every mapping is reported lost and kept for removal at stop.
    fn give_up_held(&mut self, reason: &str) {
        let gateway = match &self.route {
            Route::Upnp(gateway) => Some(gateway.clone()),
            _ => None,
        };
        for i in 0..self.slots.len() {
            if let SlotState::Held(held) = self.slots[i].state.clone() {
                self.lose(i, reason);
                self.stale.push((self.slots[i].protocol, held, gateway.clone()));
            }
        }
    }

    // --- stopping ---------------------------------------------------------------------

    fn after_stop(&mut self, job: Job, reply: Reply, now: Instant) {
        match self.phase {
            Phase::Stopping => {
                // A change that landed is a mapping to remove; nothing else matters now.
                if job.request.is_pinhole() {
                    self.pinhole_landed(&job.request, reply, now);
                } else if let Some(i) = job.slot.filter(|&i| i < self.slots.len()) {
                    let state = std::mem::replace(&mut self.slots[i].state, SlotState::Missing);
                    self.slots[i].state = self.landed(state, &job.request, reply, now);
                }
                self.remove_when_quiet();
            }
            Phase::Removing if job.request.changes_router() => {
                self.removals_out = self.removals_out.saturating_sub(1);
                if self.removals_out == 0 {
                    self.finish();
                }
            }
            _ => {}
        }
    }

    /// What a slot holds after a reply that arrived once stopping.
    fn landed(&self, state: SlotState, request: &Request, reply: Reply, now: Instant) -> SlotState {
        let internal = self.settings.internal_port();
        match (state, request, reply) {
            (SlotState::Trying(a), Request::Add(..), Reply::Done(Ok(()))) => {
                SlotState::Held(Held::upnp(a.port, internal, a.lease, now))
            }
            (SlotState::Trying(a), _, Reply::AddedAny(Ok(port))) => {
                SlotState::Held(Held::upnp(port, internal, a.lease, now))
            }
            (_, Request::MapPmp(server, ..) | Request::RenewPmp(server, ..), Reply::Pmp(Ok(mapping))) => {
                SlotState::Held(Held::pmp(*server, mapping, now))
            }
            (SlotState::Held(held) | SlotState::Renewing(held), _, _) => SlotState::Held(held),
            // The repairing delete failed: the mapping is still there, to be removed.
            (SlotState::Recreating(held), _, Reply::Done(Err(_))) => SlotState::Held(held),
            _ => SlotState::Missing,
        }
    }

    /// Once no change is in flight: the removals (as configured), then the end.
    fn remove_when_quiet(&mut self) {
        if self.changes_in_flight > 0 {
            return;
        }
        self.phase = Phase::Removing;
        if self.settings.remove_on_stop {
            let current = match &self.route {
                Route::Upnp(gateway) => Some(gateway.clone()),
                _ => None,
            };
            let mut held = std::mem::take(&mut self.stale);
            for slot in &mut self.slots {
                if let SlotState::Held(h) | SlotState::Renewing(h) =
                    std::mem::replace(&mut slot.state, SlotState::Missing)
                {
                    held.push((slot.protocol, h, current.clone()));
                }
            }
            for (protocol, h, gateway) in held {
                let request = match (h.via, gateway) {
                    (Via::Pmp { server, mapping }, _) => Request::UnmapPmp(server, mapping),
                    (Via::Upnp, Some(gateway)) => Request::Delete(gateway, h.external_port, protocol),
                    (Via::Upnp, None) => continue,
                };
                self.removals_out += 1;
                self.queue.push_back(Job { slot: None, request });
            }
            for request in self.pinhole_removals() {
                self.removals_out += 1;
                self.queue.push_back(Job { slot: None, request });
            }
        }
        if self.removals_out == 0 {
            self.finish();
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        let text = if self.settings.remove_on_stop { text::STOPPED_REMOVED } else { text::STOPPED_KEPT };
        self.show(Status::Stopped, text.into());
    }

    // --- helpers ----------------------------------------------------------------------

    fn held(&self) -> impl Iterator<Item = &Held> {
        self.slots.iter().filter_map(|s| match &s.state {
            SlotState::Held(h) | SlotState::Renewing(h) | SlotState::Recreating(h) | SlotState::Deleted(h) => Some(h),
            _ => None,
        })
    }

    fn mapped_text(&self) -> String {
        let mut ports = Vec::new();
        let mut methods: Vec<&str> = Vec::new();
        for slot in &self.slots {
            if let SlotState::Held(h) | SlotState::Renewing(h) | SlotState::Recreating(h) | SlotState::Deleted(h) =
                &slot.state
            {
                ports.push(format!("{} {}", slot.protocol.as_str(), h.external_port));
                let name = h.method().name();
                if !methods.contains(&name) {
                    methods.push(name);
                }
            }
        }
        let outside = self.stun.as_ref().and_then(|answer| answer.as_ref().ok().copied());
        text::mapped(&ports.join(", "), &self.external_address, &methods.join(", "), outside)
    }

    /// Sets the IPv4 status and its line; reported with the IPv6 part, only when changed.
    fn show(&mut self, status: Status, text: String) {
        self.base = Some((status, text));
        self.display();
    }

    /// Reports the status line (the IPv4 line, then the IPv6 one) when it changed: after
    /// a change of either part, before the event about it.
    fn display(&mut self) {
        let Some((status, base)) = self.base.clone() else { return };
        let text = match (status, self.pinhole_line()) {
            (Status::Stopped, _) | (_, None) => base,
            (_, Some(v6)) => text::with_ipv6(&base, &v6),
        };
        if self.shown.as_ref() != Some(&(status, text.clone())) {
            self.shown = Some((status, text.clone()));
            self.emit(Event::Status(status, text));
        }
    }

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }
}

fn next_port(port: u16) -> u16 {
    if port == u16::MAX { 1024 } else { port + 1 }
}

/// Whether an error says nothing about the router's table (the request or its answer was
/// lost on the way).
fn is_transport(error: &Error) -> bool {
    matches!(error, Error::Http(_) | Error::Timeout(_) | Error::Socket(_) | Error::PmpUnavailable(_))
}

fn is_conflict(error: &Error) -> bool {
    matches!(error.result(), UpnpResult::ConflictWithOtherMapping | UpnpResult::ConflictWithOtherMechanism)
}

/// Whether the router refused a finite lease: 725 (OnlyPermanentLeasesSupported; MikroTik
/// says it for any lease, tailscale #9343) or 402 (InvalidArgs; ARRIS NVG578LX, tailscale
/// #15223). Retried once with lease 0.
fn refuses_finite_lease(error: &Error) -> bool {
    matches!(error.upnp_code(), Some(725 | 402))
}

/// Whether the router refused a lease of 0 (IGDv2 routers may want a finite lease).
fn refuses_lease(error: &Error) -> bool {
    matches!(error.result(), UpnpResult::InvalidArgs | UpnpResult::InvalidDuration | UpnpResult::ActionFailed)
        && error.upnp_code().is_some_and(|c| c == 402 || c == 501 || c == 724)
}

/// RFC 6886 §3.6: the gateway lost its mappings when its epoch advanced less than 7/8 of
/// the time that passed on our clock, less 2 s of slack.
fn router_restarted(previous_epoch: u32, elapsed: Duration, epoch: u32) -> bool {
    let expected = u64::from(previous_epoch) + elapsed.as_secs() * 7 / 8;
    u64::from(epoch) + 2 < expected
}

#[cfg(test)]
mod tests;
