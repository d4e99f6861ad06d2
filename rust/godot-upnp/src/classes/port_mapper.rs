//! `UPNPPortMapper`: a Node that keeps a port open without blocking a frame. The work runs
//! in `upnp_core::mapper` on its own thread; `process` drains its events on the main
//! thread and turns them into signals. Nothing here waits on the network.
//!
//! Handlers may call back into the node (even `start()` or `free()`): signals emitted from
//! `&mut self` go through gdext's `base_mut()`, which lets a handler bind the node again,
//! and every error line is printed under such a guard too (a script `Logger` may read the
//! node). Events of a mapper that a handler replaced are dropped.

use crate::registration;
use godot::classes::file_access::ModeFlags;
use godot::classes::{FileAccess, INode, Node, Os, ProjectSettings};
use godot::prelude::*;
use std::time::Duration;
use upnp_core::engine::DiscoverSettings;
use upnp_core::mapper::policy::{MIN_LEASE, Settings};
use upnp_core::mapper::{Event, Mapper, MapperConfig, Status, private_address};
use upnp_core::protocol::igd::{Protocol, classify_external_address};
use upnp_core::protocol::result::UpnpResult;

/// Where the last working gateway's description URL is kept for the next start.
const WARM_START_FILE: &str = "user://upnp_port_mapper_gateway.txt";

/// Keeps a port open on the router while the game runs, without ever blocking a frame.
///
/// Set [member port], add the node to the tree and call [method start] (or enable
/// [member auto_start]). It finds the router (remembering it for the next run), maps the
/// port for each protocol (choosing another port when the port is taken), renews the
/// mapping, re-adds it when the router forgets it, follows the external address, and
/// removes the mapping when the node leaves the tree. With [member ipv6] (on by default)
/// it opens the port for IPv6 players too, as pinholes through the router's IPv6
/// firewall. All network work runs on a thread of its own; results arrive as signals on
/// the main thread. Like every node in the scene tree it belongs to the main thread: its
/// methods called from another thread print an error and do nothing (use
/// [method Object.call_deferred] or the signals).
///
/// A property out of range makes [method start] fail at once: one error line, the status
/// text says which property, and [signal upnp_completed] carries
/// [constant RustUPNP.UPNP_RESULT_INVALID_PORT] (port, internal_port),
/// [constant RustUPNP.UPNP_RESULT_INVALID_PROTOCOL] (protocols),
/// [constant RustUPNP.UPNP_RESULT_INVALID_DURATION] (lease_duration) or
/// [constant RustUPNP.UPNP_RESULT_INVALID_PARAM] (the others).
#[derive(GodotClass)]
#[class(init, base = Node, rename = UPNPPortMapper)]
pub struct PortMapper {
    base: Base<Node>,
    /// The external port to open (1 to 65535).
    #[export]
    #[init(val = 0)]
    port: i32,
    /// The port on this computer the router forwards to; 0 means the same as the external port.
    #[export]
    #[init(val = 0)]
    internal_port: i32,
    /// Which protocols to map: UDP, TCP or both.
    #[export(enum = (UDP = 1, TCP = 2, Both = 3))]
    #[init(val = 3)]
    protocols: i32,
    /// The mapping's name in the router's list; empty means the project's name.
    #[export]
    description: GString,
    /// Lease in seconds: 0 asks for a permanent mapping where the router allows, else the
    /// longest it grants; otherwise at least 10. Leases are renewed before they end.
    #[export]
    #[init(val = 0)]
    lease_duration: i32,
    /// Whether the node calls [method start] when it enters the tree.
    #[export]
    #[init(val = false)]
    auto_start: bool,
    /// How many other ports to try when another device holds [member port].
    #[export]
    #[init(val = 10)]
    port_fallback_count: i32,
    /// Seconds between checks of the mappings and of the external address.
    #[export]
    #[init(val = 300.0)]
    refresh_interval: f64,
    /// How long to look for the router, in milliseconds.
    #[export]
    #[init(val = 2000)]
    discover_timeout: i32,
    /// Whether NAT-PMP / PCP may be used when UPnP is not available.
    #[export]
    #[init(val = true)]
    allow_nat_pmp: bool,
    /// Whether the mappings are removed when the node stops or leaves the tree.
    #[export]
    #[init(val = true)]
    remove_on_exit: bool,
    /// As [member RustUPNP.discover_multicast_if].
    #[export]
    discover_multicast_if: GString,
    /// As [member RustUPNP.discover_local_port].
    #[export]
    #[init(val = 0)]
    discover_local_port: i32,
    /// As [member RustUPNP.discover_ipv6].
    #[export]
    #[init(val = false)]
    discover_ipv6: bool,
    /// A STUN server ([code]host:port[/code] or [code]host[/code] for port 3478), asked at
    /// each start and check (at most every 5 s) which address the internet sees this computer
    /// as; empty (the default) asks none. When that address differs from the router's external address,
    /// another NAT is in between and [method get_status_text] says so (a router with a
    /// public-looking address can hide one). The request goes out from the internal UDP port
    /// when it is free, else from another port; the first [signal upnp_completed] waits for
    /// the answer (at most 1.5 s). Only what the server sees is used; nothing is sent
    /// unless this is set.
    #[export]
    stun_server: GString,
    /// Whether to open the port for IPv6 players too: where the router offers pinholes
    /// through its IPv6 firewall (UPnP's WANIPv6FirewallControl with the firewall on and
    /// pinholes allowed, else PCP over IPv6), the node opens [member internal_port] (or
    /// [member port]) for each protocol to each of this computer's IPv6 addresses a player
    /// could reach (global, and unique-local [code]fc00::/7[/code]; not link-local; at most
    /// 4), renews the pinholes, opens them again after a router reboot and removes them
    /// with the mappings. Each open pinhole emits [signal port_mapped] with the IPv6
    /// address and the method [code]"UPnP IPv6 pinhole"[/code] or
    /// [code]"PCP IPv6 pinhole"[/code]. IPv6 never changes [method get_status] (which is
    /// about the IPv4 mappings); [method get_status_text] adds what IPv6 players can reach,
    /// e.g. "UDP 3928 open on 11.22.33.44 (UPnP); IPv6 2001:db8::2 open (UPnP pinhole)",
    /// "IPv6 open (router firewall off)" or "IPv6: the router offers no pinholes"
    /// (nothing when this computer has no such IPv6 address). The router is looked for
    /// over IPv6 in parallel with the IPv4 search; the IPv4 result never waits for it.
    #[export]
    #[init(val = true)]
    ipv6: bool,
    mapper: Option<Mapper>,
    status: i32,
    status_text: GString,
    external_address: GString,
    mapped: Vec<(Protocol, u16)>,
    /// The remembered gateway URL (as read at start, or written since).
    warm_url: Option<String>,
    /// Whether upnp_completed was emitted for the current start().
    completed: bool,
    /// Whether the node left the tree while started (it starts again on re-entering when
    /// [member auto_start] is set).
    left_while_started: bool,
}

/// The values of the `Status` enum, as registered.
const STATUS_IDLE: i32 = 0;
const STATUS_WORKING: i32 = 1;
const STATUS_MAPPED: i32 = 2;
const STATUS_FAILED: i32 = 3;
const STATUS_STOPPED: i32 = 4;

/// Registers what gdext's macros cannot: the `Status` enum.
pub fn register() {
    registration::register_enum::<PortMapper>(
        "Status",
        [
            ("STATUS_IDLE", STATUS_IDLE, "Not started."),
            ("STATUS_WORKING", STATUS_WORKING, "Looking for the router or mapping the port."),
            ("STATUS_MAPPED", STATUS_MAPPED, "The port is open for every protocol asked for."),
            ("STATUS_FAILED", STATUS_FAILED, "Mapping failed; it is retried. See [method get_status_text]."),
            ("STATUS_STOPPED", STATUS_STOPPED, "Stopped by [method stop]."),
        ]
        .into_iter(),
    );
}

#[godot_api]
impl INode for PortMapper {
    fn ready(&mut self) {
        if self.auto_start {
            self.begin();
        }
    }

    fn enter_tree(&mut self) {
        // ready() runs once; a node moved in the tree (reparent) comes back here.
        if std::mem::take(&mut self.left_while_started) && self.auto_start {
            self.begin();
        }
    }

    fn process(&mut self, _delta: f64) {
        let Some(mapper) = &self.mapper else { return };
        let session = mapper.session();
        for event in mapper.poll() {
            // A handler restarted or stopped the node: what is left belongs to the old run.
            if self.mapper.as_ref().map(Mapper::session) != Some(session) {
                break;
            }
            self.handle(event);
        }
    }

    fn exit_tree(&mut self) {
        if self.mapper.is_some() {
            self.left_while_started = true;
            let text = if self.remove_on_exit {
                "Stopped: the node left the scene tree; the port mappings were removed."
            } else {
                "Stopped: the node left the scene tree; the port mappings stay until their lease ends."
            };
            self.shut_down();
            self.report_lost(text, "the node left the scene tree", STATUS_STOPPED);
        }
    }
}

#[godot_api]
impl PortMapper {
    /// Emitted once per [method start] when the first attempt ends: a [enum RustUPNP.UPNPResult]
    /// value, [code]0[/code] (OK) when every protocol is mapped. The meaning of the class
    /// reference's example signal of the same name. Not emitted for a start that was
    /// stopped (or restarted) before its first attempt ended.
    #[signal]
    fn upnp_completed(error: i32);

    /// Emitted when a protocol's port is open: the router's external address, the external
    /// port it gave, "UDP" or "TCP", and the method ("UPnP", "NAT-PMP" or "PCP"). With
    /// [member ipv6], also for each IPv6 pinhole opened (first time, or again after the
    /// router lost it): this computer's IPv6 address, the port, the protocol and the
    /// method "UPnP IPv6 pinhole" or "PCP IPv6 pinhole". A pinhole does not change
    /// [method get_external_address] or [method get_mapped_port].
    #[signal]
    fn port_mapped(external_address: GString, external_port: i32, protocol: GString, method: GString);

    /// Emitted when a mapping disappeared (a router reboot) or could not be renewed; the
    /// node re-adds it and emits [signal port_mapped] again.
    #[signal]
    fn mapping_lost(protocol: GString, reason: GString);

    /// Emitted when the router's external address changes.
    #[signal]
    fn external_address_changed(old_address: GString, new_address: GString);

    /// Starts mapping (again, after [method stop]). Returns at once; see [signal upnp_completed].
    /// On a running node it starts afresh with the current properties: what the new run
    /// maps is handed over, never removed by the old run, and the old run's signals stop.
    #[func(gd_self)]
    fn start(mut this: Gd<Self>) {
        if !on_owner_thread(&this, "start") {
            return;
        }
        this.bind_mut().begin();
    }

    /// Stops, removing the mappings the node made when [member remove_on_exit] is set.
    /// Returns at once; the removal finishes in the background.
    #[func(gd_self)]
    fn stop(this: Gd<Self>) {
        if !on_owner_thread(&this, "stop") {
            return;
        }
        if let Some(mapper) = &this.bind().mapper {
            mapper.request_stop();
        }
    }

    /// Checks the mappings and the external address now instead of at the next interval,
    /// and re-creates each UPnP mapping the router still lists (deleted and added again on
    /// the same port, without [signal mapping_lost] or [signal port_mapped]). Call it when
    /// players cannot get through although the node says the port is open: some routers
    /// keep listing (and renewing) a mapping they no longer forward, which only a delete
    /// and a new add repairs; the node cannot see that by itself. The timed checks every
    /// [member refresh_interval] only look.
    #[func(gd_self)]
    fn refresh(this: Gd<Self>) {
        if !on_owner_thread(&this, "refresh") {
            return;
        }
        if let Some(mapper) = &this.bind().mapper {
            mapper.refresh();
        }
    }

    /// The router's external address ("" until known).
    #[func(gd_self)]
    fn get_external_address(this: Gd<Self>) -> GString {
        if !on_owner_thread(&this, "get_external_address") {
            return GString::new();
        }
        this.bind().external_address.clone()
    }

    /// The external port mapped for [param protocol] ("UDP" or "TCP"), or 0.
    #[func(gd_self)]
    fn get_mapped_port(this: Gd<Self>, protocol: GString) -> i32 {
        if !on_owner_thread(&this, "get_mapped_port") {
            return 0;
        }
        let text = protocol.to_string();
        let Some(wanted) = Protocol::parse(&text) else {
            let shown: String = text.chars().take(40).collect();
            godot_error!("UPNPPortMapper: get_mapped_port() takes \"UDP\" or \"TCP\", not {shown:?}");
            return 0;
        };
        this.bind().mapped.iter().find(|(p, _)| *p == wanted).map_or(0, |(_, port)| i32::from(*port))
    }

    /// Where the node stands: a [enum Status] value.
    #[func(gd_self)]
    fn get_status(this: Gd<Self>) -> i32 {
        if !on_owner_thread(&this, "get_status") {
            return STATUS_IDLE;
        }
        this.bind().status
    }

    /// One line a game can show, e.g. "UDP 3928 open on 11.22.33.44 (UPnP)", followed by
    /// what IPv6 players can reach when [member ipv6] is on (see there).
    #[func(gd_self)]
    fn get_status_text(this: Gd<Self>) -> GString {
        if !on_owner_thread(&this, "get_status_text") {
            return GString::new();
        }
        this.bind().status_text.clone()
    }

    /// What players outside meet behind a router whose external (WAN) address is [param
    /// address] (e.g. what [method RustUPNP.query_external_address] returned), before
    /// anything is mapped: a Dictionary with "kind" ("public"; "private": another router is
    /// in front; "shared": the provider's carrier-grade NAT; "none": no address) and
    /// "players" ("" for a public address, else the sentence [method get_status_text] gives:
    /// why mapped ports cannot be reached from outside and what to do).
    #[func]
    fn describe_external_address(address: GString) -> VarDictionary {
        let address = address.to_string();
        vdict! {
            "kind" => classify_external_address(&address).name(),
            "players" => private_address(&address),
        }
    }
}

impl PortMapper {
    /// [method start]'s work.
    fn begin(&mut self) {
        // A running worker hands over to the new one without the caller waiting: the old
        // one removes only the mappings the new one does not take over.
        let previous = self.mapper.take();
        let config = match self.config() {
            Ok(config) => config,
            Err((result, message)) => {
                if let Some(previous) = previous {
                    previous.stop_in_background();
                    self.base_mut().set_process(false);
                }
                self.report_lost(message, "start() was called with an invalid property", STATUS_FAILED);
                self.print_error(message);
                self.signals().upnp_completed().emit(result.code());
                return;
            }
        };
        self.status = STATUS_WORKING;
        self.status_text = "Looking for the router...".into();
        self.mapped.clear();
        self.completed = false;
        self.warm_url = config.warm_description_url.clone();
        self.mapper = Some(Mapper::start(config, previous));
        self.base_mut().set_process(true);
    }

    /// The worker's settings, or the property that is out of range: its result code and
    /// the line for the error channel and the status text.
    fn config(&self) -> Result<MapperConfig, (UpnpResult, &'static str)> {
        let port = u16::try_from(self.port)
            .ok()
            .filter(|&p| p > 0)
            .ok_or((UpnpResult::InvalidPort, "The port must be set between 1 and 65535."))?;
        let internal_port = u16::try_from(self.internal_port).map_err(|_| {
            (UpnpResult::InvalidPort, "internal_port must be 0 (the same as port) or between 1 and 65535.")
        })?;
        if !(1..=3).contains(&self.protocols) {
            return Err((UpnpResult::InvalidProtocol, "protocols must be UDP (1), TCP (2) or both (3)."));
        }
        let protocols = [(1, Protocol::Udp), (2, Protocol::Tcp)]
            .into_iter()
            .filter(|(bit, _)| self.protocols & bit != 0)
            .map(|(_, p)| p)
            .collect::<Vec<_>>();
        let lease_seconds = u32::try_from(self.lease_duration)
            .ok()
            .filter(|&lease| lease == 0 || lease >= MIN_LEASE)
            .ok_or((
            UpnpResult::InvalidDuration,
            "lease_duration must be 0 (permanent) or at least 10 seconds (a shorter lease cannot be renewed in time).",
        ))?;
        let port_fallback_count = u16::try_from(self.port_fallback_count)
            .map_err(|_| (UpnpResult::InvalidParam, "port_fallback_count must be between 0 and 65535."))?;
        // NaN fails the comparison too.
        if !(self.refresh_interval >= 0.1 && self.refresh_interval <= 86_400.0) {
            return Err((UpnpResult::InvalidParam, "refresh_interval must be between 0.1 and 86400 seconds."));
        }
        if !(100..=60_000).contains(&self.discover_timeout) {
            return Err((UpnpResult::InvalidParam, "discover_timeout must be between 100 and 60000 milliseconds."));
        }
        let local_port = u16::try_from(self.discover_local_port)
            .map_err(|_| (UpnpResult::InvalidParam, "discover_local_port must be between 0 and 65535."))?;
        let stun_server = self.stun_server.to_string();
        let stun_server = match stun_server.trim() {
            "" => None,
            server => {
                upnp_core::protocol::stun::parse_server(server).map_err(|_| {
                    (UpnpResult::InvalidParam, "stun_server must be empty or host:port, e.g. stun.example.net:3478.")
                })?;
                Some(server.to_string())
            }
        };
        let description = if self.description.is_empty() {
            ProjectSettings::singleton().get_setting("application/config/name").to_string()
        } else {
            self.description.to_string()
        };
        let settings = DiscoverSettings {
            multicast_if: self.discover_multicast_if.to_string(),
            local_port: local_port.into(),
            ipv6: self.discover_ipv6,
        };
        let timeout = Duration::from_millis(self.discover_timeout as u64);
        Ok(MapperConfig {
            mapping: Settings {
                port,
                internal_port,
                protocols,
                description,
                lease_seconds,
                port_fallback_count,
                refresh_interval: Duration::from_secs_f64(self.refresh_interval),
                remove_on_stop: self.remove_on_exit,
                allow_nat_pmp: self.allow_nat_pmp,
                stun_server,
                ipv6: self.ipv6,
            },
            discover: settings.options(timeout, 2, "InternetGatewayDevice"),
            warm_description_url: read_warm_start(),
            pmp_server: None,
        })
    }

    /// Ends the worker (removing mappings as configured), waiting at most `mapper::STOP_WAIT`.
    fn shut_down(&mut self) {
        if let Some(mapper) = self.mapper.take() {
            drop(mapper);
            self.base_mut().set_process(false);
        }
    }

    /// Sets the status after the mappings ended, then reports each protocol that was open
    /// as lost (so a `mapping_lost` handler reads the new status).
    fn report_lost(&mut self, text: &str, reason: &str, status: i32) {
        self.status = status;
        self.status_text = text.into();
        for (protocol, _) in std::mem::take(&mut self.mapped) {
            self.signals().mapping_lost().emit(&GString::from(protocol.as_str()), &GString::from(reason));
        }
    }

    /// One error line; a `Logger` that reads the node meanwhile may bind it.
    fn print_error(&mut self, message: &str) {
        let _reentrant = self.base_mut();
        godot_error!("UPNPPortMapper: {message}");
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Mapped { external_address, external_port, protocol, method } => {
                // A pinhole is about IPv6 players: the IPv4 mapping's state stays.
                if !method.is_pinhole() {
                    self.external_address = external_address.as_str().into();
                    self.mapped.retain(|(p, _)| *p != protocol);
                    self.mapped.push((protocol, external_port));
                }
                self.signals().port_mapped().emit(
                    &GString::from(external_address.as_str()),
                    i32::from(external_port),
                    &GString::from(protocol.as_str()),
                    &GString::from(method.name()),
                );
            }
            // Once per start(), as documented (an internal error may repeat it).
            Event::Completed(result) if !self.completed => {
                self.completed = true;
                self.signals().upnp_completed().emit(result.code());
            }
            Event::Completed(_) => {}
            Event::Lost { protocol, reason } => {
                self.mapped.retain(|(p, _)| *p != protocol);
                self.signals().mapping_lost().emit(&GString::from(protocol.as_str()), &GString::from(reason.as_str()));
            }
            Event::ExternalAddressChanged { old, new } => {
                self.external_address = new.as_str().into();
                self.signals()
                    .external_address_changed()
                    .emit(&GString::from(old.as_str()), &GString::from(new.as_str()));
            }
            Event::Status(status, text) => {
                self.status = match status {
                    Status::Working => STATUS_WORKING,
                    Status::Mapped => STATUS_MAPPED,
                    Status::Failed => STATUS_FAILED,
                    Status::Stopped => STATUS_STOPPED,
                };
                if status == Status::Stopped {
                    self.mapped.clear();
                }
                self.status_text = text.as_str().into();
            }
            Event::GatewayFound(url) => {
                // Only a new router costs a file write on the main thread.
                if self.warm_url.as_deref() != Some(url.as_str()) {
                    write_warm_start(&url);
                    self.warm_url = Some(url);
                }
            }
        }
    }
}

/// Like every node in the scene tree, the node belongs to the main thread: a call from
/// another thread prints one line and does nothing (it never binds the node, so it cannot
/// collide with the main thread's `process`). A node outside the tree may be used from
/// any one thread, as Godot allows.
fn on_owner_thread(node: &Gd<PortMapper>, method: &str) -> bool {
    let os = Os::singleton();
    if !node.is_inside_tree() || os.get_thread_caller_id() == os.get_main_thread_id() {
        return true;
    }
    godot_error!(
        "UPNPPortMapper: {method}() was called from a thread; call it from the main thread, e.g. call_deferred(\"{method}\"), or use the signals (nodes in the scene tree are not thread-safe)"
    );
    false
}

fn read_warm_start() -> Option<String> {
    FileAccess::file_exists(WARM_START_FILE)
        .then(|| FileAccess::get_file_as_string(WARM_START_FILE).to_string().trim().to_string())
        .filter(|url| url.starts_with("http://"))
}

fn write_warm_start(url: &str) {
    if let Some(mut file) = FileAccess::open(WARM_START_FILE, ModeFlags::WRITE) {
        file.store_string(url);
    }
}
