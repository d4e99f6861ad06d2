//! A port kept open for a game, on a thread of its own: find the gateway (the last
//! known description URL, SSDP and a NAT-PMP/PCP probe of the default gateway in
//! parallel; the first usable UPnP answer wins), map each protocol (another port on
//! conflicts; NAT-PMP/PCP when UPnP is absent or refuses), renew before the lease ends
//! and check on every refresh (re-adding a mapping the router lost, following the
//! external address), and remove everything on stop. The owner talks to it over
//! channels and never blocks.

use crate::discover::{self, DiscoverOptions};
use crate::error::Error;
use crate::gateway::{ACTION_TIMEOUT, Gateway};
use crate::panic_guard;
use crate::pmp::{self, PmpMapping, PmpMethod};
use crate::protocol::igd::{ExternalAddressKind, MappingArgs, Protocol, classify_external_address};
use crate::protocol::result::UpnpResult;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::net::{IpAddr, Ipv4Addr};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the owner waits for the worker when it is dropped (removal included).
pub const STOP_WAIT: Duration = Duration::from_millis(100);
/// How long a restarted mapper waits for its predecessor's removals (they run at once,
/// each within its own deadline).
const PREVIOUS_WAIT: Duration = Duration::from_secs(6);
/// First retry delay after a failure; doubles up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);
/// The longest lease asked for when the router refuses a permanent one (IGDv2's maximum),
/// and the lifetime asked of NAT-PMP/PCP for "permanent" (they have none; the router
/// grants what it allows and the mapping is renewed at half of that).
const LONGEST_LEASE: u32 = 604_800;
/// How long SSDP waits for the remembered description URL to answer (it starts at once
/// when that fails): a known router is mapped in about 60 ms, a moved one costs this.
const WARM_HEAD_START: Duration = Duration::from_millis(100);
/// Deadline of one NAT-PMP/PCP exchange (it retransmits within it, RFC 6886 §3.1).
const PMP_TIMEOUT: Duration = Duration::from_secs(2);
/// When NAT-PMP/PCP answered first, how much longer a UPnP answer is awaited: UPnP is
/// preferred (the engine's own protocol, and the router lists its mappings), but a
/// router without UPnP must not cost the whole discovery timeout.
const UPNP_GRACE: Duration = Duration::from_millis(300);

/// What to keep open and how.
#[derive(Clone, Debug)]
pub struct MapperConfig {
    /// External port asked for.
    pub port: u16,
    /// Internal port (0 = the same as the external port chosen).
    pub internal_port: u16,
    /// Protocols to map, each separately.
    pub protocols: Vec<Protocol>,
    /// Router-visible description.
    pub description: String,
    /// Lease in seconds (0 = permanent where the router allows, else the longest it grants).
    pub lease_seconds: u32,
    /// How many other ports to try when the port is taken.
    pub port_fallback_count: u16,
    /// How often the mappings and the external address are checked.
    pub refresh_interval: Duration,
    /// Discovery settings (its timeout bounds the search for the gateway).
    pub discover: DiscoverOptions,
    /// A description URL that worked last time, tried at once next to SSDP.
    pub warm_description_url: Option<String>,
    /// Whether stopping removes the mappings (else they stay until their lease ends).
    pub remove_on_stop: bool,
    /// Whether NAT-PMP/PCP may be used when UPnP is absent or refuses.
    pub allow_nat_pmp: bool,
}

/// How a mapping was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// UPnP IGD (SOAP AddPortMapping / AddAnyPortMapping).
    Upnp,
    /// NAT-PMP (RFC 6886).
    NatPmp,
    /// PCP (RFC 6887).
    Pcp,
}

impl Method {
    /// The name shown to players ("UPnP", "NAT-PMP" or "PCP").
    pub fn name(self) -> &'static str {
        match self {
            Method::Upnp => "UPnP",
            Method::NatPmp => "NAT-PMP",
            Method::Pcp => "PCP",
        }
    }
}

impl From<PmpMethod> for Method {
    fn from(method: PmpMethod) -> Self {
        match method {
            PmpMethod::Pcp => Method::Pcp,
            PmpMethod::NatPmp => Method::NatPmp,
        }
    }
}

/// Where the mapper stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Looking for the gateway or mapping.
    Working,
    /// Every protocol is mapped.
    Mapped,
    /// Mapping failed; it is retried later.
    Failed,
    /// Stopped; the mappings were removed.
    Stopped,
}

/// What the worker reports, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// One protocol is mapped (first time, after a re-add, or on another port).
    Mapped {
        /// The gateway's external address ("" when it does not know it).
        external_address: String,
        /// The external port the router gave.
        external_port: u16,
        /// UDP or TCP.
        protocol: Protocol,
        /// How it was mapped.
        method: Method,
    },
    /// The first attempt after a start ended: success or the failure's result. After an
    /// internal error it may come a second time (with `UNKNOWN_ERROR`): owners report
    /// only the first.
    Completed(UpnpResult),
    /// A mapping disappeared from the router (a reboot, a reset) or could not be renewed.
    Lost {
        /// The protocol whose mapping was lost.
        protocol: Protocol,
        /// Why, in a few words.
        reason: String,
    },
    /// The gateway's external address changed.
    ExternalAddressChanged {
        /// The address before.
        old: String,
        /// The address now.
        new: String,
    },
    /// The status and one line a game can show.
    Status(Status, String),
    /// The gateway's description URL, worth remembering for a warm start.
    GatewayFound(String),
}

enum Command {
    Refresh,
    /// Remove the mappings (as configured), then end.
    Stop,
}

/// The owner's handle: commands in, events out. Dropping it stops the worker, waiting at
/// most [`STOP_WAIT`] (the mappings are removed within that budget when the router answers).
pub struct Mapper {
    commands: Sender<Command>,
    events: Receiver<Event>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Mapper {
    /// Starts a worker for `config`. When `previous` is given (a restart), it is asked
    /// to stop and the new worker waits for it to remove its mappings (at most
    /// [`PREVIOUS_WAIT`]) before mapping, so that its removals cannot hit the new
    /// mappings, and the caller does not wait at all.
    pub fn start(config: MapperConfig, previous: Option<Mapper>) -> Mapper {
        if let Some(previous) = &previous {
            previous.request_stop();
        }
        let (commands, commands_rx) = crossbeam_channel::unbounded();
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let thread = thread::Builder::new()
            .name("upnp-port-mapper".into())
            .spawn(move || {
                if let Some(mut previous) = previous {
                    previous.wait_stopped(PREVIOUS_WAIT);
                }
                // A bug must not leave the owner waiting for events that never come.
                let crash_events = events_tx.clone();
                let worker = Worker::new(config, events_tx, commands_rx);
                if let Err(line) = panic_guard::catch(|| worker.run()) {
                    let _ = crash_events.send(Event::Status(Status::Failed, line));
                    let _ = crash_events.send(Event::Completed(UpnpResult::UnknownError));
                }
                let _ = done_tx.send(());
            })
            .ok();
        Mapper { commands, events, done, thread }
    }

    /// Asks the worker to stop (removing its mappings as configured) and returns at once;
    /// the worker finishes in the background.
    pub fn stop_in_background(mut self) {
        self.request_stop();
        self.thread = None;
    }

    /// Asks the worker to stop and waits up to `limit` for it to end.
    fn wait_stopped(&mut self, limit: Duration) {
        self.request_stop();
        // A worker still in a blocking step (a discovery, a slow router) is left to finish
        // on its own: it holds nothing of the owner's and ends by its own deadlines.
        if let Some(thread) = self.thread.take()
            && self.done.recv_timeout(limit).is_ok()
        {
            let _ = thread.join();
        }
    }

    /// Asks for a check (and a re-map where needed) now.
    pub fn refresh(&self) {
        let _ = self.commands.send(Command::Refresh);
    }

    /// The events reported since the last call, without waiting.
    pub fn poll(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// Asks the worker to remove the mappings and end; returns at once.
    pub fn request_stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }
}

impl Drop for Mapper {
    fn drop(&mut self) {
        self.wait_stopped(STOP_WAIT);
    }
}

/// One mapping the worker made.
struct Held {
    protocol: Protocol,
    external_port: u16,
    internal_port: u16,
    renew_at: Option<Instant>,
    via: Via,
}

/// The protocol holding a mapping, which renews and removes it.
enum Via {
    Upnp,
    Pmp {
        mapping: PmpMapping,
        /// When the gateway answered (with `mapping.epoch_secs`), to notice its restarts.
        answered_at: Instant,
    },
}

impl Held {
    fn method(&self) -> Method {
        match &self.via {
            Via::Upnp => Method::Upnp,
            Via::Pmp { mapping, .. } => mapping.method.into(),
        }
    }
}

/// What the search for a router found.
enum Found {
    Upnp { gateway: Gateway, external_address: Option<String> },
    Pmp { server: Ipv4Addr, external_address: Option<Ipv4Addr> },
}

/// One racer's answer in [`Worker::find_gateway`].
enum Answer {
    /// The gateway, its description URL and the external address it reported.
    Upnp(Option<(Gateway, String, Option<String>)>),
    Pmp(Option<(Ipv4Addr, Option<Ipv4Addr>)>),
}

struct Worker {
    config: MapperConfig,
    events: Sender<Event>,
    commands: Receiver<Command>,
    /// The UPnP gateway, when one answered.
    gateway: Option<Gateway>,
    /// The NAT-PMP/PCP server, once it answered or a fallback to it was tried.
    pmp_server: Option<Ipv4Addr>,
    external_address: String,
    held: Vec<Held>,
    retry_delay: Duration,
    /// A stop arrived during a step: map nothing more.
    stopping: bool,
}

/// Why a step failed: the result for `upnp_completed` and the line for players.
struct Failure {
    result: UpnpResult,
    text: String,
}

impl Worker {
    fn new(config: MapperConfig, events: Sender<Event>, commands: Receiver<Command>) -> Self {
        Worker {
            config,
            events,
            commands,
            gateway: None,
            pmp_server: None,
            external_address: String::new(),
            held: Vec::new(),
            retry_delay: FIRST_RETRY,
            stopping: false,
        }
    }

    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn run(mut self) {
        self.emit(Event::Status(Status::Working, "Looking for the router...".into()));
        let first = self.establish();
        let result = first.as_ref().err().map_or(UpnpResult::Success, |f| f.result);
        // The status first, so that a handler of the completion already reads it.
        self.report(first);
        self.emit(Event::Completed(result));
        while !self.stopping {
            let wait = self.next_check().saturating_duration_since(Instant::now());
            match self.commands.recv_timeout(wait) {
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Command::Refresh) | Err(RecvTimeoutError::Timeout) => {}
            }
            let outcome = self.check();
            self.report(outcome);
        }
        let text = if self.config.remove_on_stop {
            self.remove_all();
            "Stopped; the port mappings were removed."
        } else {
            "Stopped; the port mappings stay until their lease ends."
        };
        self.emit(Event::Status(Status::Stopped, text.into()));
    }

    /// The status after a step, and the retry schedule.
    fn report(&mut self, outcome: Result<(), Failure>) {
        match outcome {
            Ok(()) => {
                self.retry_delay = FIRST_RETRY;
                let text = self.mapped_text();
                self.emit(Event::Status(Status::Mapped, text));
            }
            Err(failure) => {
                self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
                self.emit(Event::Status(Status::Failed, failure.text));
            }
        }
    }

    /// When to look again: the next renewal, the refresh interval, or the retry delay.
    fn next_check(&self) -> Instant {
        let now = Instant::now();
        let complete = !self.held.is_empty() && self.held.len() == self.config.protocols.len();
        let regular = if complete { self.config.refresh_interval } else { self.retry_delay };
        let mut next = now + regular.min(self.config.refresh_interval.max(Duration::from_millis(100)));
        for held in &self.held {
            if let Some(renew) = held.renew_at {
                next = next.min(renew);
            }
        }
        next
    }

    /// Finds the gateway and maps every protocol.
    fn establish(&mut self) -> Result<(), Failure> {
        match self.find_gateway()? {
            Found::Upnp { gateway, external_address } => {
                if let Some(address) = external_address {
                    self.follow_address(address);
                }
                self.gateway = Some(gateway);
            }
            Found::Pmp { server, external_address } => {
                self.follow_address(external_address.map(|a| a.to_string()).unwrap_or_default());
                self.pmp_server = Some(server);
            }
        }
        self.map_missing()
    }

    /// Forgets the router and every mapping (reporting each lost), then starts again.
    fn start_over(&mut self, reason: &str) -> Result<(), Failure> {
        self.gateway = None;
        self.pmp_server = None;
        for held in std::mem::take(&mut self.held) {
            self.emit(Event::Lost { protocol: held.protocol, reason: reason.into() });
        }
        self.establish()
    }

    /// The warm URL, SSDP and a NAT-PMP/PCP probe at the same time. The first usable UPnP
    /// gateway wins; NAT-PMP/PCP is taken when no UPnP gateway came within
    /// [`UPNP_GRACE`] of its answer (or at all).
    fn find_gateway(&mut self) -> Result<Found, Failure> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let timeout = self.config.discover.timeout;
        let mut upnp_racers = 1;
        // SSDP waits for the remembered URL (at most WARM_HEAD_START): a router busy
        // answering a search serves the description and SOAP calls more slowly.
        let (warm_tx, warm_rx) = crossbeam_channel::bounded(1);
        if let Some(url) = self.config.warm_description_url.clone().filter(|u| !u.is_empty()) {
            upnp_racers += 1;
            let tx = tx.clone();
            thread::spawn(move || {
                let found = discover::device_from_url(&url, timeout).ok().filter(|d| d.is_valid_gateway());
                let found = found.and_then(|d| Some((d.gateway?, url, d.external_address)));
                let _ = warm_tx.send(found.is_some());
                let _ = tx.send(Answer::Upnp(found));
            });
        } else {
            drop(warm_tx);
        }
        let mut pmp_pending = self.config.allow_nat_pmp;
        if pmp_pending {
            let tx = tx.clone();
            thread::spawn(move || {
                let _ = tx.send(Answer::Pmp(probe_pmp(Instant::now() + timeout)));
            });
        }
        let options = self.config.discover.clone();
        thread::spawn(move || {
            if warm_rx.recv_timeout(WARM_HEAD_START) == Ok(true) {
                let _ = tx.send(Answer::Upnp(None));
                return;
            }
            let found = discover::find_gateway(&options).ok().and_then(|found| {
                let device = found.gateway()?.clone();
                Some((device.gateway?, device.description_url, device.external_address))
            });
            let _ = tx.send(Answer::Upnp(found));
        });
        // Every racer ends by the discovery timeout; a little slack for its last reply.
        let mut deadline = Instant::now() + timeout + Duration::from_millis(500);
        let mut pmp = None;
        while upnp_racers > 0 || pmp_pending {
            match rx.recv_deadline(deadline) {
                Ok(Answer::Upnp(Some((gateway, url, external_address)))) => {
                    self.emit(Event::GatewayFound(url.clone()));
                    // A later rediscovery (the router rebooted) tries this URL at once too.
                    self.config.warm_description_url = Some(url);
                    return Ok(Found::Upnp { gateway, external_address });
                }
                Ok(Answer::Upnp(None)) => upnp_racers -= 1,
                Ok(Answer::Pmp(found)) => {
                    pmp_pending = false;
                    if found.is_some() {
                        deadline = deadline.min(Instant::now() + UPNP_GRACE);
                        pmp = found;
                    }
                }
                Err(_) => break,
            }
        }
        if let Some((server, external_address)) = pmp {
            return Ok(Found::Pmp { server, external_address });
        }
        let text = if self.config.allow_nat_pmp {
            "No router answered UPnP, NAT-PMP or PCP; the router may have them switched off. Switch UPnP \
             on in the router's settings, or forward the port by hand."
        } else {
            "No UPnP router answered; it may have UPnP switched off. Switch it on in the router's \
             settings, or forward the port by hand."
        };
        Err(Failure { result: UpnpResult::NoGateway, text: text.into() })
    }

    /// Maps every protocol not held yet: by UPnP all at once (one round trip instead of
    /// one per protocol), then NAT-PMP/PCP for any UPnP could not map.
    fn map_missing(&mut self) -> Result<(), Failure> {
        let missing: Vec<Protocol> =
            self.config.protocols.iter().copied().filter(|p| !self.held.iter().any(|h| h.protocol == *p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if self.stop_requested() {
            return Err(Failure { result: UpnpResult::UnknownError, text: "Stopped.".into() });
        }
        let this: &Worker = self;
        let by_upnp: Vec<Option<Result<Held, Error>>> = match &this.gateway {
            Some(gateway) => thread::scope(|scope| {
                let attempts: Vec<_> =
                    missing.iter().map(|&protocol| scope.spawn(move || this.map_one(gateway, protocol))).collect();
                attempts.into_iter().map(|a| Some(a.join().unwrap_or(Err(Error::Cancelled)))).collect()
            }),
            None => missing.iter().map(|_| None).collect(),
        };
        let mut outcome = Ok(());
        for (protocol, upnp) in missing.into_iter().zip(by_upnp) {
            let held = match upnp {
                Some(Ok(held)) => Ok(held),
                Some(Err(e)) => self.map_by_pmp(protocol, Some(e)),
                None => self.map_by_pmp(protocol, None),
            };
            match held {
                Ok(held) => {
                    self.emit(Event::Mapped {
                        external_address: self.external_address.clone(),
                        external_port: held.external_port,
                        protocol,
                        method: held.method(),
                    });
                    self.held.push(held);
                }
                // Keep what the other protocol got; report the first failure.
                Err(failure) => outcome = outcome.and(Err(failure)),
            }
        }
        outcome
    }

    /// Maps one protocol by NAT-PMP/PCP (when allowed and the router speaks it), after
    /// UPnP failed with `upnp_error` or was not there. A failure reports the UPnP error
    /// when UPnP was tried: it is the one the router's owner can act on.
    fn map_by_pmp(&mut self, protocol: Protocol, upnp_error: Option<Error>) -> Result<Held, Failure> {
        let pmp_error = match self.fallback_server() {
            Some(server) => match self.map_pmp(server, protocol) {
                Ok(held) => return Ok(held),
                Err(e) => Some(e),
            },
            None => None,
        };
        match upnp_error.or(pmp_error) {
            Some(e) => Err(self.failure(&e, protocol)),
            None => Err(Failure { result: UpnpResult::NoGateway, text: "No router to map the port on.".into() }),
        }
    }

    /// The NAT-PMP/PCP server to try: the one found, else (after a UPnP refusal) the UPnP
    /// router's own address, which is where a router runs NAT-PMP/PCP too.
    fn fallback_server(&mut self) -> Option<Ipv4Addr> {
        if !self.config.allow_nat_pmp {
            return None;
        }
        if self.pmp_server.is_none() {
            self.pmp_server = match self.gateway.as_ref()?.control_url().ip() {
                Some(IpAddr::V4(address)) => Some(address),
                _ => pmp::default_gateway(),
            };
        }
        self.pmp_server
    }

    /// A NAT-PMP/PCP mapping: the router picks another port itself when ours is taken.
    fn map_pmp(&mut self, server: Ipv4Addr, protocol: Protocol) -> Result<Held, Error> {
        let internal_port = self.internal_port_for(self.config.port);
        let lifetime = self.pmp_lifetime();
        let mapping =
            pmp::map_port(server, protocol, internal_port, self.config.port, lifetime, Instant::now() + PMP_TIMEOUT)?;
        if let Some(address) = mapping.external_address {
            self.follow_address(address.to_string());
        }
        Ok(held_pmp(mapping))
    }

    fn pmp_lifetime(&self) -> u32 {
        if self.config.lease_seconds == 0 { LONGEST_LEASE } else { self.config.lease_seconds }
    }

    /// Adds one mapping: the port asked for, else AddAnyPortMapping (IGDv2), else the
    /// next ports, up to `port_fallback_count` other ports.
    fn map_one(&self, gateway: &Gateway, protocol: Protocol) -> Result<Held, Error> {
        let mut port = self.config.port;
        let mut tried_any = !gateway.supports_add_any();
        let mut others = 0;
        loop {
            match self.add(gateway, protocol, port) {
                Ok(held) => return Ok(held),
                Err(e) if is_conflict(&e) && others < self.config.port_fallback_count => {
                    others += 1;
                    if !tried_any {
                        tried_any = true;
                        let args = self.args(protocol, port, self.config.lease_seconds);
                        if let Ok(chosen) = gateway.add_any_port_mapping(&args, Instant::now() + ACTION_TIMEOUT) {
                            return Ok(held_upnp(protocol, chosen, args.internal_port, args.lease_seconds));
                        }
                    }
                    port = if port == u16::MAX { 1024 } else { port + 1 };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// AddPortMapping, with the lease rules: a refused lease 0 becomes the longest lease,
    /// and a router that only takes permanent leases gets one.
    fn add(&self, gateway: &Gateway, protocol: Protocol, port: u16) -> Result<Held, Error> {
        let asked = self.config.lease_seconds;
        let mut lease = asked;
        let args = self.args(protocol, port, lease);
        if let Err(e) = gateway.add_port_mapping(&args, Instant::now() + ACTION_TIMEOUT) {
            lease = match e.result() {
                UpnpResult::OnlyPermanentLeaseSupported if asked != 0 => 0,
                _ if asked == 0 && refuses_lease(&e) => LONGEST_LEASE,
                _ => return Err(e),
            };
            gateway.add_port_mapping(&self.args(protocol, port, lease), Instant::now() + ACTION_TIMEOUT)?;
        }
        Ok(held_upnp(protocol, port, args.internal_port, lease))
    }

    /// The port on this computer for external `port` (internal_port 0 = the same).
    fn internal_port_for(&self, port: u16) -> u16 {
        if self.config.internal_port == 0 { port } else { self.config.internal_port }
    }

    fn args(&self, protocol: Protocol, port: u16, lease_seconds: u32) -> MappingArgs {
        let internal_port = self.internal_port_for(port);
        MappingArgs {
            external_port: port,
            internal_port,
            protocol,
            description: self.config.description.clone(),
            lease_seconds,
        }
    }

    /// A refresh: renew what is due, re-add what the router lost, follow the external
    /// address; rediscover the router when it stopped answering or nothing is held.
    fn check(&mut self) -> Result<(), Failure> {
        if self.held.is_empty() {
            // Nothing to keep (the last attempt failed): look for the router afresh, it
            // may have come back or changed (UPnP switched on, a new router).
            return self.start_over("");
        }
        if let Some(gateway) = self.gateway.clone() {
            match gateway.external_ip_address(Instant::now() + ACTION_TIMEOUT) {
                Ok(address) => self.follow_address(address),
                // The router is gone or moved (a reboot may change its URL): start over,
                // keeping no claim on mappings it may have forgotten.
                Err(_) => return self.start_over("the router stopped answering"),
            }
        }
        let mut kept = Vec::new();
        for held in std::mem::take(&mut self.held) {
            if let Some(held) = self.recheck(held) {
                kept.push(held);
            }
        }
        self.held = kept;
        self.map_missing()
    }

    /// Checks one mapping: `None` when it is lost (reported; `map_missing` re-adds it).
    fn recheck(&mut self, held: Held) -> Option<Held> {
        let lost = |reason: String| Event::Lost { protocol: held.protocol, reason };
        match &held.via {
            Via::Upnp => {
                let gateway = self.gateway.clone()?;
                let present = gateway
                    .specific_mapping(held.external_port, held.protocol, Instant::now() + ACTION_TIMEOUT)
                    .map(|entry| {
                        entry.internal_client == gateway.local_address() && entry.internal_port == held.internal_port
                    });
                match present {
                    Ok(true) if held.renew_at.is_none_or(|at| at > Instant::now()) => Some(held),
                    // Due for renewal: the same AddPortMapping extends the lease.
                    Ok(true) => match self.add(&gateway, held.protocol, held.external_port) {
                        Ok(renewed) => Some(renewed),
                        Err(e) => {
                            self.emit(lost(format!("renewal failed: {e}")));
                            None
                        }
                    },
                    Ok(false) | Err(_) => {
                        self.emit(lost("the router no longer has the mapping".into()));
                        None
                    }
                }
            }
            Via::Pmp { mapping, answered_at } => {
                // NAT-PMP/PCP cannot list mappings: a renewal (one round trip) re-creates
                // a forgotten one, and the answer's epoch tells whether it was forgotten.
                let server = self.pmp_server?;
                let renewed = match pmp::renew(server, mapping, self.pmp_lifetime(), Instant::now() + PMP_TIMEOUT) {
                    Ok(renewed) => renewed,
                    Err(e) => {
                        self.emit(lost(format!("renewal failed: {e}")));
                        return None;
                    }
                };
                let reason = if router_restarted(mapping.epoch_secs, answered_at.elapsed(), renewed.epoch_secs) {
                    Some("the router restarted and forgot the mapping")
                } else if renewed.external_port != mapping.external_port {
                    Some("the router moved the mapping to another port")
                } else {
                    None
                };
                if let Some(address) = renewed.external_address {
                    self.follow_address(address.to_string());
                }
                let renewed = held_pmp(renewed);
                if let Some(reason) = reason {
                    self.emit(lost(reason.into()));
                    self.emit(Event::Mapped {
                        external_address: self.external_address.clone(),
                        external_port: renewed.external_port,
                        protocol: renewed.protocol,
                        method: renewed.method(),
                    });
                }
                Some(renewed)
            }
        }
    }

    /// Takes the router's answer as the external address, reporting a change.
    fn follow_address(&mut self, address: String) {
        if address != self.external_address {
            let old = std::mem::replace(&mut self.external_address, address.clone());
            if !old.is_empty() {
                self.emit(Event::ExternalAddressChanged { old, new: address });
            }
        }
    }

    /// Whether the owner asked to stop or is gone (checked between steps).
    fn stop_requested(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => self.stopping = true,
                Ok(Command::Refresh) => continue,
                Err(TryRecvError::Empty) => {}
            }
            return self.stopping;
        }
    }

    /// Removes every mapping made, all at once (a quitting game gives the worker
    /// [`STOP_WAIT`]); best effort, each call bounded by its deadline. When the owner was
    /// dropped this continues in the background after its `STOP_WAIT`.
    fn remove_all(&mut self) {
        let held = std::mem::take(&mut self.held);
        let (gateway, server) = (self.gateway.as_ref(), self.pmp_server);
        thread::scope(|scope| {
            for held in &held {
                scope.spawn(move || match (&held.via, gateway, server) {
                    (Via::Upnp, Some(gateway), _) => {
                        let deadline = Instant::now() + ACTION_TIMEOUT;
                        let _ = gateway.delete_port_mapping(held.external_port, held.protocol, deadline);
                    }
                    (Via::Pmp { mapping, .. }, _, Some(server)) => {
                        let _ = pmp::unmap_port(server, mapping, Instant::now() + PMP_TIMEOUT);
                    }
                    _ => {}
                });
            }
        });
    }

    /// The failure of mapping `protocol`, with a line a player can act on.
    fn failure(&self, error: &Error, protocol: Protocol) -> Failure {
        let text = match classify_external_address(&self.external_address) {
            ExternalAddressKind::Public => {
                failure_text(error, protocol, self.config.port, self.config.port_fallback_count)
            }
            _ => private_address_text(&self.external_address),
        };
        Failure { result: error.result(), text }
    }

    fn mapped_text(&self) -> String {
        let ports: Vec<String> =
            self.held.iter().map(|h| format!("{} {}", h.protocol.as_str(), h.external_port)).collect();
        let mut methods: Vec<&str> = self.held.iter().map(|h| h.method().name()).collect();
        methods.dedup();
        mapped_text(&ports.join(", "), &self.external_address, &methods.join(", "))
    }
}

/// One line for an open port; when the router's own address is private the port is open
/// on the router only, and the line says so.
fn mapped_text(ports: &str, external_address: &str, methods: &str) -> String {
    match classify_external_address(external_address) {
        ExternalAddressKind::Public => format!("{ports} open on {external_address} ({methods})"),
        _ => format!(
            "{ports} open on the router ({methods}), but {}",
            lower_first(&private_address_text(external_address))
        ),
    }
}

/// Why players outside cannot reach a port on this router.
fn private_address_text(external_address: &str) -> String {
    match external_address {
        // miniupnpd answers so (and NAT-PMP's NETWORK_FAILURE) rather than disclose it.
        "" => "The router reports no public address: it is behind carrier-grade NAT or another router, so \
               players outside cannot reach this port."
            .to_string(),
        address => format!(
            "The router's own address {address} is private (carrier-grade NAT): players outside cannot reach \
             this port."
        ),
    }
}

fn failure_text(error: &Error, protocol: Protocol, port: u16, fallback_count: u16) -> String {
    match error.result() {
        UpnpResult::ConflictWithOtherMapping => format!(
            "{} {port} and the next {fallback_count} ports are taken by other devices; choose another port.",
            protocol.as_str()
        ),
        _ => format!("The router refused to open {} {port}: {error}.", protocol.as_str()),
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

fn held_upnp(protocol: Protocol, external_port: u16, internal_port: u16, lease_seconds: u32) -> Held {
    Held { protocol, external_port, internal_port, renew_at: renew_time(lease_seconds), via: Via::Upnp }
}

fn held_pmp(mapping: PmpMapping) -> Held {
    Held {
        protocol: mapping.protocol,
        external_port: mapping.external_port,
        internal_port: mapping.internal_port,
        renew_at: renew_time(mapping.lifetime_secs),
        via: Via::Pmp { mapping, answered_at: Instant::now() },
    }
}

/// Renew at half the lease, like NAT-PMP clients do (RFC 6886 §3.3); never for lease 0.
fn renew_time(lease_seconds: u32) -> Option<Instant> {
    (lease_seconds > 0).then(|| Instant::now() + Duration::from_secs(u64::from(lease_seconds) / 2))
}

/// RFC 6886 §3.6: the gateway lost its mappings when its epoch advanced less than 7/8 of
/// the time that passed on our clock, less 2 s of slack.
fn router_restarted(previous_epoch: u32, elapsed: Duration, epoch: u32) -> bool {
    let expected = u64::from(previous_epoch) + elapsed.as_secs() * 7 / 8;
    u64::from(epoch) + 2 < expected
}

/// Whether NAT-PMP/PCP answers at the default gateway, and the external address it
/// reports. An answer that refuses the address request (a router behind another NAT, a
/// PCP-only server) still shows that it speaks the protocol.
fn probe_pmp(deadline: Instant) -> Option<(Ipv4Addr, Option<Ipv4Addr>)> {
    let server = pmp::default_gateway()?;
    match pmp::external_address(server, deadline) {
        Ok(address) => Some((server, Some(address).filter(|a| !a.is_unspecified()))),
        Err(Error::Pmp { .. }) => Some((server, None)),
        Err(_) => None,
    }
}

fn is_conflict(error: &Error) -> bool {
    matches!(error.result(), UpnpResult::ConflictWithOtherMapping | UpnpResult::ConflictWithOtherMechanism)
}

/// Whether the router refused a lease of 0 (IGDv2 routers may want a finite lease).
fn refuses_lease(error: &Error) -> bool {
    matches!(error.result(), UpnpResult::InvalidArgs | UpnpResult::InvalidDuration | UpnpResult::ActionFailed)
        && error.upnp_code().is_some_and(|c| c == 402 || c == 501 || c == 724)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_epoch_than_expected_means_the_router_restarted() {
        // Answered at epoch 1000; 80 s later it should say about 1070 or more.
        assert!(!router_restarted(1000, Duration::from_secs(80), 1080));
        assert!(!router_restarted(1000, Duration::from_secs(80), 1069));
        assert!(router_restarted(1000, Duration::from_secs(80), 1067));
        assert!(router_restarted(1000, Duration::from_secs(80), 3));
        // Right after the first answer nothing can look like a restart.
        assert!(!router_restarted(5, Duration::ZERO, 5));
        assert!(!router_restarted(4_000_000_000, Duration::from_secs(10), 4_000_000_010));
    }

    #[test]
    fn status_lines_name_the_address_and_the_method() {
        assert_eq!(mapped_text("UDP 3928", "11.22.33.44", "UPnP"), "UDP 3928 open on 11.22.33.44 (UPnP)");
        assert_eq!(
            mapped_text("UDP 3928, TCP 3928", "11.22.33.44", "PCP"),
            "UDP 3928, TCP 3928 open on 11.22.33.44 (PCP)"
        );
        assert_eq!(
            mapped_text("UDP 3928", "100.64.1.2", "UPnP"),
            "UDP 3928 open on the router (UPnP), but the router's own address 100.64.1.2 is private \
             (carrier-grade NAT): players outside cannot reach this port."
        );
        assert!(mapped_text("UDP 3928", "", "NAT-PMP").contains("reports no public address"));
        assert_eq!(
            private_address_text("10.0.0.2"),
            "The router's own address 10.0.0.2 is private (carrier-grade NAT): players outside cannot reach \
             this port."
        );
    }

    #[test]
    fn failure_lines_say_what_to_do() {
        let conflict =
            Error::Upnp { action: "AddPortMapping", code: 718, description: "ConflictInMappingEntry".into() };
        assert_eq!(
            failure_text(&conflict, Protocol::Udp, 3928, 10),
            "UDP 3928 and the next 10 ports are taken by other devices; choose another port."
        );
        let refused = Error::Upnp { action: "AddPortMapping", code: 501, description: "Action Failed".into() };
        assert!(failure_text(&refused, Protocol::Tcp, 80, 0).starts_with("The router refused to open TCP 80: "));
    }
}
