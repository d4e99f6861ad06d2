//! A port kept open for a game, on a thread of its own: find the gateway (the last known
//! description URL, SSDP and a NAT-PMP/PCP probe in parallel), map each protocol (another
//! port on conflicts; NAT-PMP/PCP when UPnP is absent or refuses), renew before the lease
//! ends, check on every refresh (re-adding a mapping the router lost, following the
//! external address and our own LAN address), and remove everything on stop. Beside
//! that, open the port as IPv6 pinholes through the router's firewall for this host's
//! reachable IPv6 addresses (renewed, re-opened and removed the same way).
//!
//! - [`policy`]: every decision, as a state machine without I/O or clock.
//! - `driver`: the worker thread that performs the policy's requests.
//! - `find`: the race that finds the gateway.
//! - `ownership`: which of an owner's successive mappers holds each mapping.
//! - `text`: the lines shown to players.
//!
//! The owner talks to the worker through [`Mapper`] and never blocks: commands are flags
//! (many refreshes make one check; a stop overtakes everything), events wait in a bounded
//! queue until the owner collects them.

mod driver;
mod find;
mod ownership;
pub mod policy;
mod text;

/// The players' view of a router's external address (for tools that show it before
/// anything is mapped, as the node's status text does once it is).
pub use text::private_address;

use crate::discover::DiscoverOptions;
use crate::pmp::PmpMethod;
use crate::protocol::igd::Protocol;
use crate::protocol::result::UpnpResult;
use crossbeam_channel::{Receiver, Sender};
use ownership::Ledger;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long the owner waits for the worker when it is dropped (removal included).
pub const STOP_WAIT: Duration = Duration::from_millis(100);
/// Most events kept for an owner that does not collect them (a paused scene tree); the
/// oldest are dropped first, never the completion.
pub const MAX_EVENTS: usize = 256;

/// What to keep open and how.
#[derive(Clone, Debug)]
pub struct MapperConfig {
    /// What to map, for how long, how often to check (the policy's settings).
    pub mapping: policy::Settings,
    /// Discovery settings (its timeout bounds the search for the gateway).
    pub discover: DiscoverOptions,
    /// A description URL that worked last time, tried at once next to SSDP.
    pub warm_description_url: Option<String>,
    /// The NAT-PMP/PCP server to probe (`None`: the system's default gateway).
    pub pmp_server: Option<Ipv4Addr>,
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
    /// An IPv6 pinhole through the router's firewall by UPnP (WANIPv6FirewallControl).
    UpnpPinhole,
    /// An IPv6 pinhole through the router's firewall by PCP over IPv6 (RFC 6887 §11.3).
    PcpPinhole,
}

impl Method {
    /// The name shown to players ("UPnP", "NAT-PMP", "PCP", "UPnP IPv6 pinhole" or
    /// "PCP IPv6 pinhole").
    pub fn name(self) -> &'static str {
        match self {
            Method::Upnp => "UPnP",
            Method::NatPmp => "NAT-PMP",
            Method::Pcp => "PCP",
            Method::UpnpPinhole => "UPnP IPv6 pinhole",
            Method::PcpPinhole => "PCP IPv6 pinhole",
        }
    }

    /// Whether it is an IPv6 pinhole (not an IPv4 port mapping).
    pub fn is_pinhole(self) -> bool {
        matches!(self, Method::UpnpPinhole | Method::PcpPinhole)
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
    /// Looking for the gateway, mapping, or mapping again after a loss.
    Working,
    /// Every protocol is mapped.
    Mapped,
    /// Mapping failed; it is retried later.
    Failed,
    /// Stopped; the mappings were removed (as configured).
    Stopped,
}

/// What the worker reports, in order. A status comes before the events it explains, so
/// that a handler of `Lost` or `Completed` already reads the state after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// One protocol is mapped (first time, after a re-add, or on another port), or an
    /// IPv6 pinhole is open (first time, or again after the router lost it).
    Mapped {
        /// The gateway's external address ("" when it does not know it); for a pinhole
        /// our own IPv6 address it lets traffic in to.
        external_address: String,
        /// The external port the router gave (a pinhole's: our own port).
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
    /// A mapping disappeared from the router (a reboot, a reset), was taken over, or could
    /// not be renewed; it is being made again.
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

/// What owner and worker share: command flags, a doorbell that wakes the worker, and the
/// events waiting for the owner.
struct Shared {
    refresh: AtomicBool,
    stop: AtomicBool,
    doorbell: Sender<()>,
    events: Mutex<EventQueue>,
}

impl Shared {
    fn ring(&self) {
        // A full doorbell already wakes the worker.
        let _ = self.doorbell.try_send(());
    }

    fn push_events(&self, events: impl IntoIterator<Item = Event>) {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).extend(events);
    }
}

/// Events for the owner, at most [`MAX_EVENTS`]: an owner that stops collecting (a paused
/// tree) loses the oldest ones, never the completion.
#[derive(Default)]
struct EventQueue(VecDeque<Event>);

impl EventQueue {
    fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            if self.0.len() >= MAX_EVENTS
                && let Some(oldest) = self.0.iter().position(|e| !matches!(e, Event::Completed(_)))
            {
                self.0.remove(oldest);
            }
            self.0.push_back(event);
        }
    }
}

/// The owner's handle: commands in, events out. Dropping it stops the worker, waiting at
/// most [`STOP_WAIT`] (the mappings are removed within that budget when the router answers).
pub struct Mapper {
    shared: Arc<Shared>,
    session: u64,
    ledger: Arc<Ledger>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Mapper {
    /// Starts a worker for `config`. When `previous` is given (a restart) it is told to
    /// stop and the mappings pass to the new worker: the old one removes only those the
    /// new one does not take over, so a restart never deletes what the new worker maps.
    /// Neither the caller nor the new worker waits for the old one.
    pub fn start(config: MapperConfig, previous: Option<Mapper>) -> Mapper {
        let (ledger, session) = match &previous {
            Some(previous) => (Arc::clone(&previous.ledger), previous.session + 1),
            None => (Arc::new(Ledger::default()), 1),
        };
        if let Some(previous) = previous {
            previous.stop_in_background();
        }
        let (doorbell, rings) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared {
            refresh: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            doorbell,
            events: Mutex::new(EventQueue::default()),
        });
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let worker = driver::Driver::new(config, Arc::clone(&shared), rings, Arc::clone(&ledger), session);
        let thread = thread::Builder::new()
            .name("upnp-port-mapper".into())
            .spawn(move || {
                worker.run();
                let _ = done_tx.send(());
            })
            .ok();
        Mapper { shared, session, ledger, done, thread }
    }

    /// Which start of its owner this is (1, 2, ...): a restarted owner can tell a stale
    /// event from a current one.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Asks the worker to stop (removing its mappings as configured) and returns at once;
    /// the worker finishes in the background.
    pub fn stop_in_background(mut self) {
        self.request_stop();
        self.thread = None;
    }

    /// Asks for a check (and a re-map where needed) now. Requests made while a check runs
    /// make one more check after it.
    pub fn refresh(&self) {
        self.shared.refresh.store(true, Ordering::Relaxed);
        self.shared.ring();
    }

    /// The events reported since the last call, without waiting.
    pub fn poll(&self) -> Vec<Event> {
        let mut queue = self.shared.events.lock().unwrap_or_else(PoisonError::into_inner);
        queue.0.drain(..).collect()
    }

    /// Asks the worker to remove the mappings and end; returns at once. It overtakes any
    /// refresh asked before.
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.ring();
    }

    /// Waits up to `limit` for the worker to end.
    fn wait_stopped(&mut self, limit: Duration) {
        // A worker still in a blocking step (a slow router) is left to finish on its own:
        // it holds nothing of the owner's and ends by its own deadlines.
        if let Some(thread) = self.thread.take()
            && self.done.recv_timeout(limit).is_ok()
        {
            let _ = thread.join();
        }
    }
}

impl Drop for Mapper {
    fn drop(&mut self) {
        self.request_stop();
        self.wait_stopped(STOP_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncollected_queue_keeps_its_bound_and_the_completion() {
        let mut queue = EventQueue::default();
        queue.extend([Event::Completed(UpnpResult::Success)]);
        let status = |n: usize| Event::Status(Status::Mapped, n.to_string());
        queue.extend((0..10 * MAX_EVENTS).map(status));
        assert_eq!(queue.0.len(), MAX_EVENTS);
        assert_eq!(queue.0[0], Event::Completed(UpnpResult::Success));
        assert_eq!(queue.0.back(), Some(&status(10 * MAX_EVENTS - 1)), "the newest are kept");
    }
}
