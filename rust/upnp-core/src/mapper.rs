//! A port kept open for a game, on a thread of its own: find the gateway (the last
//! known description URL and SSDP in parallel, the first usable answer wins), map each
//! protocol (another port on conflicts), renew before the lease ends and check on every
//! refresh (re-adding a mapping the router lost, following the external address), and
//! remove everything on stop. The owner talks to it over channels and never blocks.

use crate::discover::{self, DiscoverOptions};
use crate::error::Error;
use crate::gateway::{ACTION_TIMEOUT, Gateway};
use crate::protocol::igd::{ExternalAddressKind, MappingArgs, Protocol, classify_external_address};
use crate::protocol::result::UpnpResult;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the owner waits for the worker when it is dropped (removal included).
pub const STOP_WAIT: Duration = Duration::from_millis(100);
/// First retry delay after a failure; doubles up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);
/// The longest lease asked for when the router refuses a permanent one (IGDv2's maximum).
const LONGEST_LEASE: u32 = 604_800;

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
}

/// How a mapping was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// UPnP IGD (SOAP AddPortMapping / AddAnyPortMapping).
    Upnp,
}

impl Method {
    /// The name shown to players ("UPnP").
    pub fn name(self) -> &'static str {
        match self {
            Method::Upnp => "UPnP",
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
    /// The first attempt after a start ended: success or the failure's result.
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
    /// Starts a worker for `config`.
    pub fn start(config: MapperConfig) -> Mapper {
        let (commands, commands_rx) = crossbeam_channel::unbounded();
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let thread = thread::Builder::new()
            .name("upnp-port-mapper".into())
            .spawn(move || {
                Worker::new(config, events_tx, commands_rx).run();
                let _ = done_tx.send(());
            })
            .ok();
        Mapper { commands, events, done, thread }
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
        self.request_stop();
        // A worker still in a blocking step (a discovery, a slow router) is left to finish
        // on its own: it holds nothing of the owner's and ends by its own deadlines.
        if self.done.recv_timeout(STOP_WAIT).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

/// One mapping the worker made.
struct Held {
    protocol: Protocol,
    external_port: u16,
    internal_port: u16,
    renew_at: Option<Instant>,
}

struct Worker {
    config: MapperConfig,
    events: Sender<Event>,
    commands: Receiver<Command>,
    gateway: Option<Gateway>,
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
        self.emit(Event::Completed(first.as_ref().err().map_or(UpnpResult::Success, |f| f.result)));
        self.report(first);
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
        let gateway = self.find_gateway()?;
        self.external_address = gateway.external_ip_address(Instant::now() + ACTION_TIMEOUT).unwrap_or_default();
        self.gateway = Some(gateway);
        self.map_missing()
    }

    /// The warm URL and SSDP at the same time; the first usable gateway wins.
    fn find_gateway(&self) -> Result<Gateway, Failure> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let timeout = self.config.discover.timeout;
        let mut racers = 1;
        if let Some(url) = self.config.warm_description_url.clone().filter(|u| !u.is_empty()) {
            racers += 1;
            let tx = tx.clone();
            thread::spawn(move || {
                let found = discover::device_from_url(&url, timeout).ok().filter(|d| d.is_valid_gateway());
                let _ = tx.send(found.and_then(|d| Some((d.gateway?, url))));
            });
        }
        let options = self.config.discover.clone();
        thread::spawn(move || {
            let found = discover::find_gateway(&options).ok().and_then(|found| {
                let device = found.gateway()?.clone();
                Some((device.gateway?, device.description_url))
            });
            let _ = tx.send(found);
        });
        // Both racers end by the discovery timeout; a little slack for their last reply.
        let deadline = Instant::now() + timeout + Duration::from_millis(500);
        for _ in 0..racers {
            match rx.recv_deadline(deadline) {
                Ok(Some((gateway, url))) => {
                    self.emit(Event::GatewayFound(url));
                    return Ok(gateway);
                }
                Ok(None) => {}
                Err(_) => break,
            }
        }
        Err(Failure {
            result: UpnpResult::NoGateway,
            text: "No UPnP router answered; it may have UPnP switched off. Forward the port by hand \
                   in the router's settings."
                .into(),
        })
    }

    /// Maps every protocol not held yet.
    fn map_missing(&mut self) -> Result<(), Failure> {
        let Some(gateway) = self.gateway.clone() else {
            return Err(Failure { result: UpnpResult::NoGateway, text: "No router to map the port on.".into() });
        };
        for &protocol in &self.config.protocols.clone() {
            if self.held.iter().any(|h| h.protocol == protocol) {
                continue;
            }
            if self.stop_requested() {
                return Err(Failure { result: UpnpResult::UnknownError, text: "Stopped.".into() });
            }
            let held = self.map_one(&gateway, protocol).map_err(|e| self.failure(&e, protocol))?;
            self.emit(Event::Mapped {
                external_address: self.external_address.clone(),
                external_port: held.external_port,
                protocol,
                method: Method::Upnp,
            });
            self.held.push(held);
        }
        Ok(())
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
                            return Ok(self.held(protocol, chosen, args.internal_port, args.lease_seconds));
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
        Ok(self.held(protocol, port, args.internal_port, lease))
    }

    fn args(&self, protocol: Protocol, port: u16, lease_seconds: u32) -> MappingArgs {
        let internal_port = if self.config.internal_port == 0 { port } else { self.config.internal_port };
        MappingArgs {
            external_port: port,
            internal_port,
            protocol,
            description: self.config.description.clone(),
            lease_seconds,
        }
    }

    fn held(&self, protocol: Protocol, external_port: u16, internal_port: u16, lease_seconds: u32) -> Held {
        // Renew at half the lease, like NAT-PMP clients do (RFC 6886 §3.3).
        let renew_at = (lease_seconds > 0).then(|| Instant::now() + Duration::from_secs(u64::from(lease_seconds) / 2));
        Held { protocol, external_port, internal_port, renew_at }
    }

    /// A refresh: renew what is due, re-add what the router lost, follow the external
    /// address; rediscover the gateway when it stopped answering.
    fn check(&mut self) -> Result<(), Failure> {
        let Some(gateway) = self.gateway.clone() else { return self.establish() };
        let deadline = Instant::now() + ACTION_TIMEOUT;
        let address = match gateway.external_ip_address(deadline) {
            Ok(address) => address,
            Err(_) => {
                // The router is gone or moved (a reboot may change its URL): start over,
                // keeping no claim on mappings it may have forgotten.
                self.gateway = None;
                for held in std::mem::take(&mut self.held) {
                    self.emit(Event::Lost { protocol: held.protocol, reason: "the router stopped answering".into() });
                }
                return self.establish();
            }
        };
        if address != self.external_address {
            let old = std::mem::replace(&mut self.external_address, address.clone());
            self.emit(Event::ExternalAddressChanged { old, new: address });
        }
        let now = Instant::now();
        let mut kept = Vec::new();
        for held in std::mem::take(&mut self.held) {
            let present = gateway
                .specific_mapping(held.external_port, held.protocol, Instant::now() + ACTION_TIMEOUT)
                .map(|entry| {
                    entry.internal_client == gateway.local_address() && entry.internal_port == held.internal_port
                });
            match present {
                Ok(true) if held.renew_at.is_none_or(|at| at > now) => kept.push(held),
                Ok(true) => {
                    // Due for renewal: the same AddPortMapping extends the lease.
                    match self.add(&gateway, held.protocol, held.external_port) {
                        Ok(renewed) => kept.push(renewed),
                        Err(e) => {
                            self.emit(Event::Lost { protocol: held.protocol, reason: format!("renewal failed: {e}") })
                        }
                    }
                }
                Ok(false) | Err(_) => self.emit(Event::Lost {
                    protocol: held.protocol,
                    reason: "the router no longer has the mapping".into(),
                }),
            }
        }
        self.held = kept;
        self.map_missing()
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

    /// Removes every mapping made (best effort, each call bounded by its deadline). When the
    /// owner was dropped this continues in the background after its `STOP_WAIT`.
    fn remove_all(&mut self) {
        let Some(gateway) = self.gateway.clone() else { return };
        for held in std::mem::take(&mut self.held) {
            let _ = gateway.delete_port_mapping(held.external_port, held.protocol, Instant::now() + ACTION_TIMEOUT);
        }
    }

    /// The failure of mapping `protocol`, with a line a player can act on.
    fn failure(&self, error: &Error, protocol: Protocol) -> Failure {
        let port = self.config.port;
        let text = match (error.result(), classify_external_address(&self.external_address)) {
            (_, kind) if kind != ExternalAddressKind::Public => match self.external_address.as_str() {
                "" => "The router reports no public address: it is behind carrier-grade NAT or another \
                       router, so players outside cannot reach this port."
                    .to_string(),
                address => format!(
                    "The router's own address {address} is private (carrier-grade NAT): players outside \
                     cannot reach this port."
                ),
            },
            (UpnpResult::ConflictWithOtherMapping, _) => format!(
                "{} {port} and the next {} ports are taken by other devices; choose another port.",
                protocol.as_str(),
                self.config.port_fallback_count
            ),
            _ => format!("The router refused to open {} {port}: {error}.", protocol.as_str()),
        };
        Failure { result: error.result(), text }
    }

    fn mapped_text(&self) -> String {
        let ports: Vec<String> =
            self.held.iter().map(|h| format!("{} {}", h.protocol.as_str(), h.external_port)).collect();
        format!("{} open on {} ({})", ports.join(", "), self.external_address, Method::Upnp.name())
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
