//! The IPv6 side of the mapper: on IPv6 there is no NAT, but the router's firewall drops
//! unsolicited traffic, so the game's port is opened as a pinhole for each of this host's
//! reachable IPv6 addresses (by the router's WANIPv6FirewallControl service, else by PCP
//! over IPv6, one pinhole per protocol for the address PCP is asked from).
//!
//! It runs beside the IPv4 slots on requests of its own and never decides the status:
//! a failure here changes only the IPv6 part of the status line. Pinholes are renewed at
//! half their lease; the IPv4 path's checks (timed, or the owner's refresh) renew them
//! too (at once when that check found an IPv4 mapping forgotten), which is how a
//! rebooted router's loss is found (`UpdatePinhole` refused, a PCP epoch that went back,
//! as for IPv4 PCP mappings): they are then opened again and reported again. They are removed at stop with the IPv4 mappings.

use super::*;
use crate::protocol::pinhole::{FirewallStatus, MAX_LEASE_SECONDS};

/// The lease asked for a pinhole when the mapper's lease is 0 ("permanent"): a pinhole
/// has no permanent lease; an hour, renewed at half, leaves a pinhole of a game that
/// crashed open for an hour at most.
pub const PINHOLE_LEASE: u32 = 3600;
/// Most addresses opened: a host may carry several temporary (privacy) addresses, which
/// cannot be told apart cheaply.
pub const MAX_PINHOLE_ADDRESSES: usize = 4;
/// Shortest time between two lookups of the router's IPv6 service when the last found
/// none (or found pinholes not allowed, or the firewall off).
pub const PINHOLE_LOOKUP_INTERVAL: Duration = MAX_RETRY;

/// How the router lets IPv6 in, as [`Request::FindPinholes`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinholeRoute {
    /// Its WANIPv6FirewallControl service, reached over IPv6, and that service's status.
    Upnp {
        /// The service.
        firewall: Firewall,
        /// Its `GetFirewallStatus` answer.
        status: FirewallStatus,
    },
    /// No such service; PCP is tried at the router's IPv6 address.
    Pcp(Ipv6Addr),
    /// Neither (no IPv6 router found).
    None,
}

/// What [`Request::FindPinholes`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundPinholes {
    /// How the router lets IPv6 in.
    pub route: PinholeRoute,
    /// This host's IPv6 addresses a player could reach (global first, then unique-local;
    /// at most [`MAX_PINHOLE_ADDRESSES`]).
    pub addresses: Vec<Ipv6Addr>,
}

impl FoundPinholes {
    /// Nothing to open pinholes through, or for (no IPv6 router, no address, or asked
    /// while stopping).
    pub fn nothing() -> FoundPinholes {
        FoundPinholes { route: PinholeRoute::None, addresses: Vec::new() }
    }
}

/// The pinholes' state.
#[derive(Debug, Default)]
pub(super) struct V6 {
    state: State,
    /// A [`Request::FindPinholes`] is out.
    looking: bool,
    looked_at: Option<Instant>,
    holes: Vec<Hole>,
    /// When the current (or last) check began.
    checked_at: Option<Instant>,
}

impl V6 {
    /// At a stop: nothing in flight is waited for but the changes (counted by the policy).
    pub(super) fn forget_busy(&mut self) {
        for hole in &mut self.holes {
            hole.busy = false;
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum State {
    /// Off, or not known yet.
    #[default]
    Unknown,
    /// Pinholes are opened through this route.
    Open(Route6),
    /// The router's firewall is off: everything already comes in.
    FirewallOff,
    /// The router's firewall allows no pinholes.
    NotAllowed,
    /// The router offers no pinholes (no service, no PCP answer).
    NoService,
    /// This host has no IPv6 address a player could reach: nothing to say.
    NoAddress,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Route6 {
    Upnp(Firewall),
    Pcp(Ipv6Addr),
}

/// One pinhole: a protocol, for one address (UPnP) or the address PCP is asked from.
#[derive(Clone, Debug)]
struct Hole {
    protocol: Protocol,
    /// The address (UPnP); `None` for PCP, which opens for the address it is asked from.
    address: Option<Ipv6Addr>,
    state: HoleState,
    busy: bool,
    /// When it was last asked for (a refused one is asked again at a check, at most
    /// every [`MIN_RENEW_INTERVAL`]).
    tried_at: Option<Instant>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HoleState {
    Missing,
    Open(Opened),
    /// The router refused it: why.
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Opened {
    /// Our address it lets traffic in to.
    address: Ipv6Addr,
    /// Our port.
    port: u16,
    via: HoleVia,
    renewed_at: Instant,
    renew_at: Option<Instant>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HoleVia {
    Upnp { id: u16, pinhole: Pinhole, lease: u32 },
    Pcp(PmpMapping),
}

impl Opened {
    /// What a granted `AddPinhole` or PCP MAP opened (`None` for any other answer).
    fn by(request: &Request, reply: &Reply, now: Instant) -> Option<Opened> {
        match (request, reply) {
            (Request::AddPinhole(_, pinhole, lease), Reply::PinholeId(Ok(id))) => Some(Opened {
                address: pinhole.internal_client,
                port: pinhole.internal_port,
                via: HoleVia::Upnp { id: *id, pinhole: pinhole.clone(), lease: *lease },
                renewed_at: now,
                renew_at: renew_time(*lease, now),
            }),
            (Request::MapPinholePcp(..), Reply::Pmp(Ok(mapping))) => Some(Opened::pcp(mapping.clone(), now)),
            _ => None,
        }
    }

    /// A PCP pinhole: RFC 6887 §11.3, for an IPv6 internal address the "external" one is
    /// our own (unspecified when the answer named none).
    fn pcp(mapping: PmpMapping, now: Instant) -> Opened {
        let address = match mapping.external_address {
            Some(IpAddr::V6(address)) => address,
            _ => Ipv6Addr::UNSPECIFIED,
        };
        Opened {
            address,
            port: mapping.external_port,
            renewed_at: now,
            renew_at: renew_time(mapping.lifetime_secs, now),
            via: HoleVia::Pcp(mapping),
        }
    }

    fn method(&self) -> Method {
        match self.via {
            HoleVia::Upnp { .. } => Method::UpnpPinhole,
            HoleVia::Pcp(_) => Method::PcpPinhole,
        }
    }
}

impl Policy {
    /// The lease asked of a UPnP pinhole: the mapper's lease within the service's range,
    /// [`PINHOLE_LEASE`] for a permanent one.
    fn pinhole_lease(&self) -> u32 {
        match self.settings.lease_seconds {
            0 => PINHOLE_LEASE,
            lease => lease.min(MAX_LEASE_SECONDS),
        }
    }

    /// Asks how the router lets IPv6 in (when IPv6 is on and no lookup is out).
    pub(super) fn look_for_pinholes(&mut self, now: Instant) {
        if !self.settings.ipv6 || self.v6.looking {
            return;
        }
        self.v6.looking = true;
        self.v6.looked_at = Some(now);
        self.queue.push_back(Job { slot: None, request: Request::FindPinholes });
    }

    /// At each check: renews the open UPnP pinholes (which finds those a router forgot), asks
    /// again for the missing and refused ones, and looks for the service again where
    /// none was found (at most every [`PINHOLE_LOOKUP_INTERVAL`]).
    pub(super) fn check_pinholes(&mut self, now: Instant) {
        if !self.settings.ipv6 {
            return;
        }
        self.v6.checked_at = Some(now);
        if !matches!(self.v6.state, State::Open(_)) {
            if self.v6.looked_at.is_none_or(|at| now >= at + PINHOLE_LOOKUP_INTERVAL) {
                self.look_for_pinholes(now);
            }
            return;
        }
        for i in 0..self.v6.holes.len() {
            let hole = &self.v6.holes[i];
            if hole.busy {
                continue;
            }
            match &hole.state {
                // PCP pinholes are renewed only when due (or when the router forgot an
                // IPv4 mapping): miniupnpd 2.3.1 refuses to delete a renewed one
                // (NOT_AUTHORIZED; tests/igd/tests/pmp.rs), so a game that stops before
                // half the lifetime leaves none behind.
                HoleState::Open(Opened { via: HoleVia::Pcp(_), .. }) => {}
                HoleState::Open(open) if now >= open.renewed_at + MIN_RENEW_INTERVAL => self.renew_pinhole(i),
                HoleState::Open(_) => {}
                HoleState::Missing | HoleState::Refused(_) => {
                    if hole.tried_at.is_none_or(|at| now >= at + MIN_RENEW_INTERVAL) {
                        self.open_pinhole(i, now);
                    }
                }
            }
        }
    }

    /// The IPv4 path found that the router forgot a mapping (a reboot, a reset): each
    /// pinhole not renewed (or made) since the check began is renewed now, whatever its
    /// interval, which finds whether the router forgot it too and opens it again.
    pub(super) fn router_forgot(&mut self) {
        let since = self.v6.checked_at;
        for i in 0..self.v6.holes.len() {
            let hole = &self.v6.holes[i];
            let stale = matches!(&hole.state, HoleState::Open(o) if since.is_none_or(|at| o.renewed_at < at));
            if !hole.busy && stale {
                self.renew_pinhole(i);
            }
        }
    }

    /// When the next pinhole renewal is due.
    pub(super) fn pinhole_timeout(&self) -> Option<Instant> {
        self.v6
            .holes
            .iter()
            .filter(|h| !h.busy)
            .filter_map(|h| match &h.state {
                HoleState::Open(open) => open.renew_at,
                _ => None,
            })
            .min()
    }

    /// Renews each pinhole whose time has come.
    pub(super) fn renew_due_pinholes(&mut self, now: Instant) {
        for i in 0..self.v6.holes.len() {
            let hole = &self.v6.holes[i];
            if !hole.busy && matches!(&hole.state, HoleState::Open(o) if o.renew_at.is_some_and(|at| at <= now)) {
                self.renew_pinhole(i);
            }
        }
    }

    fn ask_pinhole(&mut self, i: usize, request: Request) {
        self.v6.holes[i].busy = true;
        self.queue.push_back(Job { slot: None, request });
    }

    fn open_pinhole(&mut self, i: usize, now: Instant) {
        let port = self.settings.internal_port();
        let hole = &mut self.v6.holes[i];
        hole.tried_at = Some(now);
        let protocol = hole.protocol;
        let request = match (&self.v6.state, hole.address) {
            (State::Open(Route6::Upnp(firewall)), Some(address)) => {
                let pinhole = Pinhole {
                    remote_host: None,
                    remote_port: 0,
                    internal_client: address,
                    internal_port: port,
                    protocol,
                };
                Request::AddPinhole(firewall.clone(), pinhole, self.pinhole_lease())
            }
            (State::Open(Route6::Pcp(server)), _) => {
                Request::MapPinholePcp(*server, protocol, port, self.pinhole_lease())
            }
            _ => return,
        };
        self.ask_pinhole(i, request);
    }

    fn renew_pinhole(&mut self, i: usize) {
        let HoleState::Open(open) = &self.v6.holes[i].state else { return };
        let request = match (&self.v6.state, &open.via) {
            (State::Open(Route6::Upnp(firewall)), HoleVia::Upnp { id, pinhole, lease }) => {
                Request::UpdatePinhole(firewall.clone(), pinhole.clone(), *id, *lease)
            }
            (State::Open(Route6::Pcp(server)), HoleVia::Pcp(mapping)) => {
                Request::RenewPinholePcp(*server, mapping.clone(), self.pinhole_lease())
            }
            _ => return,
        };
        self.ask_pinhole(i, request);
    }

    /// The hole a pinhole request is about.
    fn hole_of(&self, request: &Request) -> Option<usize> {
        let (protocol, address) = match request {
            Request::AddPinhole(_, p, _) | Request::UpdatePinhole(_, p, ..) | Request::DeletePinhole(_, p, _) => {
                (p.protocol, Some(p.internal_client))
            }
            Request::MapPinholePcp(_, protocol, ..) => (*protocol, None),
            Request::RenewPinholePcp(_, m, _) | Request::UnmapPinholePcp(_, m) => (m.protocol, None),
            _ => return None,
        };
        self.v6.holes.iter().position(|h| h.protocol == protocol && h.address == address)
    }

    /// The answer to a pinhole request (not stopping).
    pub(super) fn pinhole_reply(&mut self, request: Request, reply: Reply, now: Instant) {
        if let (Request::FindPinholes, Reply::Pinholes(found)) = (&request, reply.clone()) {
            self.v6.looking = false;
            return self.pinholes_found(found, now);
        }
        let Some(i) = self.hole_of(&request) else { return };
        self.v6.holes[i].busy = false;
        let state = std::mem::replace(&mut self.v6.holes[i].state, HoleState::Missing);
        if let Some(opened) = Opened::by(&request, &reply, now) {
            return self.pinhole_opened(i, opened);
        }
        match (state, request, reply) {
            (HoleState::Open(open), Request::RenewPinholePcp(..), Reply::Pmp(Ok(renewed))) => {
                let HoleVia::Pcp(mapping) = &open.via else { return };
                let elapsed = now.saturating_duration_since(open.renewed_at);
                let forgotten = router_restarted(mapping.epoch_secs, elapsed, renewed.epoch_secs)
                    || renewed.external_port != mapping.external_port;
                if forgotten {
                    // Made again by the renewal: reported again.
                    self.pinhole_opened(i, Opened::pcp(renewed, now));
                } else {
                    let renew_at = renew_time(renewed.lifetime_secs, now);
                    let via = HoleVia::Pcp(renewed);
                    self.v6.holes[i].state = HoleState::Open(Opened { via, renewed_at: now, renew_at, ..open });
                }
            }
            (HoleState::Open(open), Request::UpdatePinhole(..), Reply::Done(Ok(()))) => {
                let lease = match &open.via {
                    HoleVia::Upnp { lease, .. } => *lease,
                    HoleVia::Pcp(m) => m.lifetime_secs,
                };
                let renew_at = renew_time(lease, now);
                self.v6.holes[i].state = HoleState::Open(Opened { renewed_at: now, renew_at, ..open });
            }
            // A newer mapper of the same owner holds it now.
            (state, _, Reply::NotOwner) => self.v6.holes[i].state = state,
            (HoleState::Open(open), _, Reply::Done(Err(e)) | Reply::Pmp(Err(e))) if is_transport(&e) => {
                // Says nothing about the pinhole: asked again a little later.
                let renew_at = Some(now + MIN_RENEW_INTERVAL);
                self.v6.holes[i].state = HoleState::Open(Opened { renew_at, ..open });
            }
            (HoleState::Open(_), _, Reply::Done(Err(_)) | Reply::Pmp(Err(_))) => {
                // The router no longer knows it (a reboot): opened again at once.
                self.display();
                self.open_pinhole(i, now);
            }
            (_, Request::MapPinholePcp(..), Reply::Pmp(Err(Error::PmpUnavailable(_))))
                if self.v6.holes.iter().all(|h| !h.busy && !matches!(h.state, HoleState::Open(_))) =>
            {
                // Nothing answers PCP at the router's IPv6 address (and nothing was opened
                // there, which would have to be removed).
                self.v6.state = State::NoService;
                self.v6.holes.clear();
                self.display();
            }
            (_, _, Reply::PinholeId(Err(e)) | Reply::Pmp(Err(e))) if is_transport(&e) => self.display(),
            (_, _, Reply::PinholeId(Err(e)) | Reply::Pmp(Err(e))) => {
                self.v6.holes[i].state = HoleState::Refused(e.to_string());
                self.display();
            }
            (state, ..) => self.v6.holes[i].state = state,
        }
    }

    /// A pinhole is open (first time, or again after a loss): the status first, then the
    /// event.
    fn pinhole_opened(&mut self, i: usize, opened: Opened) {
        if opened.address.is_unspecified() {
            self.v6.holes[i].state = HoleState::Refused("the router's PCP answer named no IPv6 address".into());
            return self.display();
        }
        let event = Event::Mapped {
            external_address: opened.address.to_string(),
            external_port: opened.port,
            protocol: self.v6.holes[i].protocol,
            method: opened.method(),
        };
        self.v6.holes[i].state = HoleState::Open(opened);
        self.display();
        self.emit(event);
    }

    fn pinholes_found(&mut self, found: FoundPinholes, now: Instant) {
        let mut addresses = found.addresses;
        addresses.truncate(MAX_PINHOLE_ADDRESSES);
        let route = match found.route {
            _ if addresses.is_empty() => Err(State::NoAddress),
            PinholeRoute::Upnp { status, .. } if !status.enabled => Err(State::FirewallOff),
            PinholeRoute::Upnp { status, .. } if !status.inbound_pinhole_allowed => Err(State::NotAllowed),
            PinholeRoute::Upnp { firewall, .. } => Ok(Route6::Upnp(firewall)),
            PinholeRoute::Pcp(server) => Ok(Route6::Pcp(server)),
            PinholeRoute::None => Err(State::NoService),
        };
        match route {
            Err(state) => self.v6.state = state,
            Ok(route) => {
                let per_address: Vec<Option<Ipv6Addr>> = match route {
                    Route6::Upnp(_) => addresses.into_iter().map(Some).collect(),
                    Route6::Pcp(_) => vec![None],
                };
                let protocols = self.settings.protocols.clone();
                self.v6.holes = per_address
                    .into_iter()
                    .flat_map(|address| {
                        protocols.iter().map(move |&protocol| Hole {
                            protocol,
                            address,
                            state: HoleState::Missing,
                            busy: false,
                            tried_at: None,
                        })
                    })
                    .collect();
                self.v6.state = State::Open(route);
                for i in 0..self.v6.holes.len() {
                    self.open_pinhole(i, now);
                }
            }
        }
        self.display();
    }

    /// A pinhole request answered once stopping: what it opened is removed too.
    pub(super) fn pinhole_landed(&mut self, request: &Request, reply: Reply, now: Instant) {
        if let Some(opened) = Opened::by(request, &reply, now)
            && let Some(i) = self.hole_of(request)
        {
            self.v6.holes[i].state = HoleState::Open(opened);
        }
    }

    /// The removals of every open pinhole (at stop).
    pub(super) fn pinhole_removals(&mut self) -> Vec<Request> {
        let route = self.v6.state.clone();
        let mut removals = Vec::new();
        for hole in &mut self.v6.holes {
            let HoleState::Open(open) = std::mem::replace(&mut hole.state, HoleState::Missing) else { continue };
            match (&route, open.via) {
                (State::Open(Route6::Upnp(firewall)), HoleVia::Upnp { id, pinhole, .. }) => {
                    removals.push(Request::DeletePinhole(firewall.clone(), pinhole, id));
                }
                (State::Open(Route6::Pcp(server)), HoleVia::Pcp(mapping)) => {
                    removals.push(Request::UnmapPinholePcp(*server, mapping));
                }
                _ => {}
            }
        }
        removals
    }

    /// The IPv6 part of the status line (`None`: nothing to say).
    pub(super) fn pinhole_line(&self) -> Option<String> {
        if !self.settings.ipv6 {
            return None;
        }
        match &self.v6.state {
            State::Unknown | State::NoAddress => None,
            State::FirewallOff => Some(text::IPV6_FIREWALL_OFF.into()),
            State::NotAllowed => Some(text::IPV6_NOT_ALLOWED.into()),
            State::NoService => Some(text::IPV6_NO_SERVICE.into()),
            State::Open(route) => {
                let method = match route {
                    Route6::Upnp(_) => "UPnP",
                    Route6::Pcp(_) => "PCP",
                };
                // Each address with what is open for it, in the order found.
                let mut open: Vec<(Ipv6Addr, Vec<Protocol>)> = Vec::new();
                for hole in &self.v6.holes {
                    if let HoleState::Open(o) = &hole.state {
                        match open.iter_mut().find(|(a, _)| *a == o.address) {
                            Some((_, protocols)) => protocols.push(hole.protocol),
                            None => open.push((o.address, vec![hole.protocol])),
                        }
                    }
                }
                if !open.is_empty() {
                    return Some(text::pinholes_open(&open, &self.settings.protocols, method));
                }
                let refused = self.v6.holes.iter().find_map(|h| match &h.state {
                    HoleState::Refused(why) if !h.busy => Some(why.as_str()),
                    _ => None,
                });
                let opening = self.v6.holes.iter().any(|h| h.busy || h.state == HoleState::Missing);
                match (opening, refused) {
                    (false, Some(why)) => Some(text::pinholes_refused(why)),
                    _ => Some(text::IPV6_OPENING.into()),
                }
            }
        }
    }
}
