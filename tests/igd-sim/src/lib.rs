//! A scripted UPnP Internet Gateway Device simulator for tests and benchmarks (dev only).
//!
//! One [`Simulator`] serves any number of devices ([`DeviceSpec`]), each with its own
//! SSDP behaviour ([`SsdpBehavior`]: normal answers, raw templates, silence, floods), its
//! own HTTP server for its description ([`HttpBehavior`]: captured miniupnpd IGDv2/IGDv1
//! descriptions, a MediaRenderer, stalls, trickles, huge bodies, resets, redirects, ...)
//! and an emulated WANIPConnection service ([`SoapSpec`], with a port mapping table like
//! miniupnpd's and injectable [`SoapFault`]s).
//!
//! SSDP is received in one of two ways ([`SsdpMode`]):
//! - **unicast**: a UDP socket on an explicit address such as `127.0.0.1:0`; the client
//!   under test sends its M-SEARCH there (its "unicast target"). This is what tests on
//!   the host use.
//! - **multicast**: port 1900, joined to `239.255.255.250` or `ff02::c` on a named
//!   interface. Only allowed inside a network namespace other than PID 1's (a test
//!   namespace), unless `IGD_SIM_ALLOW_HOST_NETNS=1` is set.
//!
//! **Network safety**: the simulator never sends anything to a multicast group. It only
//! answers datagrams it received, by unicast to their sender, and serves TCP connections
//! made to it. Every thread stops within about 100 ms of [`Simulator::stop`] or drop.
//!
//! ```no_run
//! use igd_sim::{DeviceSpec, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::unicast_local(vec![DeviceSpec::igd_v2()])).unwrap();
//! println!("search {} and find {}", sim.ssdp_addr(), sim.location(0));
//! sim.stop();
//! ```

mod content;
mod http;
mod igd;
pub mod profiles;
mod soap;
mod spec;
mod ssdp;

pub use content::templates;
pub use content::{IGD_V1_DESCRIPTION, IGD_V2_DESCRIPTION, MEDIA_RENDERER_DESCRIPTION};
pub use spec::{
    Arrival, CONTROL_PATH, ConnectionState, Content, DESCRIPTION_PATH, DeviceSpec, FaultRule, Flood, FloodVary,
    HttpBehavior, IgdVersion, Ipv6Firewall, RawAnswer, SoapFault, SoapSpec, SsdpAnswer, SsdpBehavior,
    media_renderer_targets,
};
pub use ssdp::interface_index;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often blocked threads look at the stop flag.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// Most requests and searches kept by [`Simulator::requests`]; later ones are counted in
/// [`Simulator::dropped_requests`] only.
pub const MAX_RECORDED: usize = 100_000;

/// How the simulator receives M-SEARCH requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SsdpMode {
    /// A UDP socket bound to this address (e.g. `127.0.0.1:0`); clients send their
    /// searches to [`Simulator::ssdp_addr`].
    Unicast(SocketAddr),
    /// Port 1900 (`SO_REUSEADDR`), joined to `239.255.255.250` (or `ff02::c` when `ipv6`)
    /// on this interface, and each device's own address on port 1900 for unicast searches:
    /// each search is told apart by where it was sent ([`Arrival`]). Refused in PID 1's
    /// network namespace (see the crate docs).
    Multicast {
        /// Interface name, e.g. `c0`.
        interface: String,
        /// Join `ff02::c` on `[::]:1900` instead of `239.255.255.250` on `0.0.0.0:1900`.
        /// The other family's group is joined as well when a device has an address of
        /// that family: a dual-stack router is a device on each family's address (each
        /// device answers only the searches of its own family).
        ipv6: bool,
    },
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How searches are received.
    pub ssdp: SsdpMode,
    /// The devices, in index order.
    pub devices: Vec<DeviceSpec>,
}

impl SimConfig {
    /// Unicast SSDP on `127.0.0.1` (any port) with these devices.
    pub fn unicast_local(devices: Vec<DeviceSpec>) -> Self {
        SimConfig { ssdp: SsdpMode::Unicast(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)), devices }
    }
}

/// A request the simulator received: an HTTP request to a device, or an SSDP datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The device whose HTTP server got it; `None` for SSDP datagrams.
    pub device: Option<usize>,
    /// `GET`, `POST`, ... or, for SSDP, the datagram's first word (`M-SEARCH`).
    pub method: String,
    /// The request target (`/ctl/IPConn`; `*` for M-SEARCH).
    pub path: String,
    /// The headers in order, as received (names not case-folded).
    pub headers: Vec<(String, String)>,
    /// The SOAP action named by the `SOAPAction` header (`AddPortMapping`), for POSTs.
    pub action: Option<String>,
    /// The body (for SSDP: the whole datagram).
    pub body: Vec<u8>,
    /// Who sent it.
    pub peer: SocketAddr,
    /// For SSDP: whether it was sent to the group or to one of our addresses.
    pub arrival: Option<Arrival>,
    /// When it was fully received.
    pub at: Instant,
}

impl RecordedRequest {
    /// The first header of this name (ASCII case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
    }

    /// The SOAP arguments of a POST (the action element's children: local names and
    /// trimmed texts, in order); empty for anything else.
    pub fn arguments(&self) -> Vec<(String, String)> {
        if self.action.is_none() {
            return Vec::new();
        }
        soap::parse_request(&self.body).args
    }

    /// Whether it is an SSDP M-SEARCH.
    pub fn is_search(&self) -> bool {
        self.device.is_none() && self.method.eq_ignore_ascii_case("M-SEARCH")
    }
}

/// One port mapping of an emulated IGD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimMapping {
    /// The device holding it.
    pub device: usize,
    /// `NewRemoteHost` as given (usually empty).
    pub remote_host: String,
    /// `NewExternalPort`.
    pub external_port: u16,
    /// `"TCP"` or `"UDP"` (like miniupnpd, anything but `UDP` counts as TCP).
    pub protocol: String,
    /// `NewInternalPort`.
    pub internal_port: u16,
    /// `NewInternalClient`: the mapping's owner.
    pub internal_client: String,
    /// `NewEnabled`.
    pub enabled: bool,
    /// `NewPortMappingDescription`.
    pub description: String,
    /// The lease granted in seconds (requests of 0, negative or over 604800 get 604800).
    pub lease_seconds: u32,
    /// When the lease ends (the mapping then disappears).
    pub expires_at: Instant,
}

/// State shared by all the simulator's threads.
pub(crate) struct Shared {
    stop: AtomicBool,
    log: Mutex<Vec<RecordedRequest>>,
    dropped: AtomicUsize,
    /// Connection threads, joined at stop.
    pub(crate) connections: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        let mut log = lock(&self.log);
        if log.len() < MAX_RECORDED {
            log.push(request);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sleeps up to `duration`, returning early (false) when the simulator stops.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let end = Instant::now() + duration;
        loop {
            if self.stopped() {
                return false;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            thread::sleep(left.min(Duration::from_millis(10)));
        }
    }
}

/// Locks, ignoring poisoning (a panicked connection thread must not wedge the rest).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One running device.
pub(crate) struct Device {
    pub(crate) index: usize,
    pub(crate) location: String,
    pub(crate) http: HttpBehavior,
    pub(crate) igd: Mutex<igd::IgdState>,
}

/// A running simulator. Stops (and joins its threads) on [`Simulator::stop`] or drop.
pub struct Simulator {
    shared: Arc<Shared>,
    devices: Vec<Arc<Device>>,
    ssdp_addr: SocketAddr,
    /// Where each device's SSDP answers come from.
    reply_addrs: Vec<SocketAddr>,
    listeners: Vec<SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("ssdp_addr", &self.ssdp_addr)
            .field("locations", &self.devices.iter().map(|d| &d.location).collect::<Vec<_>>())
            .finish()
    }
}

impl Simulator {
    /// Binds every socket, then starts serving. When it returns, searches are answered
    /// and descriptions served.
    pub fn start(config: SimConfig) -> io::Result<Simulator> {
        let device_ips: Vec<SocketAddr> = config.devices.iter().map(|d| d.addr).collect();
        let ssdp_sockets = ssdp::open(&config.ssdp, &device_ips)?;
        let ssdp_addr = ssdp_sockets[0].0.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            dropped: AtomicUsize::new(0),
            connections: Mutex::new(Vec::new()),
        });
        let mut devices = Vec::new();
        let mut ssdp_devices = Vec::new();
        let mut reply_addrs = Vec::new();
        let mut servers = Vec::new();
        for (index, spec) in config.devices.into_iter().enumerate() {
            let (http_addr, listener) = bind_http(&spec)?;
            let location = format!("http://{}{DESCRIPTION_PATH}", host_port(http_addr));
            let uuid = spec.uuid.clone().unwrap_or_else(|| default_uuid(index));
            // The device's address with port 0 (an IPv6 link-local one keeps its scope).
            let mut reply_addr = spec.addr;
            reply_addr.set_port(0);
            let reply = UdpSocket::bind(reply_addr).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot bind device {index}'s SSDP socket on {}: {e}", spec.addr.ip()))
            })?;
            reply.set_write_timeout(Some(SLICE))?;
            reply_addrs.push(reply.local_addr()?);
            ssdp_devices.push(ssdp::SsdpDevice {
                location: location.clone(),
                uuid,
                http_addr,
                behavior: spec.ssdp.clone(),
                reply,
            });
            let device = Arc::new(Device {
                index,
                location,
                http: spec.http.clone(),
                igd: Mutex::new(igd::IgdState::new(index, spec.soap.clone())),
            });
            if let Some(listener) = listener {
                servers.push((listener, Arc::clone(&device)));
            }
            devices.push(device);
        }

        let mut sim = Simulator {
            shared: Arc::clone(&shared),
            devices,
            ssdp_addr,
            reply_addrs,
            listeners: Vec::new(),
            threads: Vec::new(),
        };
        // From here on, a failure drops `sim`, which stops what already runs.
        let ssdp_shared = Arc::clone(&shared);
        sim.threads.push(
            thread::Builder::new()
                .name("igd-sim-ssdp".into())
                .spawn(move || ssdp::run(ssdp_sockets, ssdp_devices, &ssdp_shared))?,
        );
        for (listener, device) in servers {
            sim.listeners.push(listener.local_addr()?);
            let server_shared = Arc::clone(&shared);
            sim.threads.push(
                thread::Builder::new()
                    .name(format!("igd-sim-http-{}", device.index))
                    .spawn(move || http::accept_loop(listener, device, server_shared))?,
            );
        }
        Ok(sim)
    }

    /// Where the SSDP socket is bound: send M-SEARCH here in unicast mode.
    pub fn ssdp_addr(&self) -> SocketAddr {
        self.ssdp_addr
    }

    /// Where device `i`'s SSDP answers come from: its own IP and a port of its own (never
    /// the port searches are sent to, nor 1900), as several routers answer. Panics when
    /// there is no device `i`.
    pub fn ssdp_reply_addr(&self, i: usize) -> SocketAddr {
        self.reply_addrs[i]
    }

    /// How many devices run.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Device `i`'s description URL, `http://<ip>:<port>/rootDesc.xml` (what its SSDP
    /// answers claim). Panics when there is no device `i`.
    pub fn location(&self, i: usize) -> String {
        self.devices[i].location.clone()
    }

    /// Every description URL, in device order.
    pub fn locations(&self) -> Vec<String> {
        self.devices.iter().map(|d| d.location.clone()).collect()
    }

    /// Device `i`'s control URL (its description URL's host with [`CONTROL_PATH`]).
    pub fn control_url(&self, i: usize) -> String {
        let location = &self.devices[i].location;
        format!("{}{CONTROL_PATH}", location.strip_suffix(DESCRIPTION_PATH).unwrap_or(location))
    }

    /// Every request received so far, in arrival order: HTTP requests of all devices and
    /// SSDP datagrams.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Requests not recorded because [`MAX_RECORDED`] were already kept.
    pub fn dropped_requests(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The requests recorded after the first `start` ones (see [`Simulator::requests`]),
    /// for a caller following the log without copying it whole each time.
    pub fn requests_from(&self, start: usize) -> Vec<RecordedRequest> {
        lock(&self.shared.log).get(start..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Waits until `predicate` holds for at least `count` recorded requests, or `timeout`
    /// passes; returns whether it did.
    pub fn wait_for_requests(
        &self,
        count: usize,
        timeout: Duration,
        predicate: impl Fn(&RecordedRequest) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if lock(&self.shared.log).iter().filter(|r| predicate(r)).count() >= count {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every device's port mappings, by device then table order (the order of
    /// `GetGenericPortMappingEntry`). Expired leases are gone.
    pub fn mappings(&self) -> Vec<SimMapping> {
        self.devices.iter().flat_map(|d| lock(&d.igd).mappings()).collect()
    }

    /// Device `i`'s port mappings, in table order.
    pub fn mappings_of(&self, i: usize) -> Vec<SimMapping> {
        lock(&self.devices[i].igd).mappings()
    }

    /// Adds a mapping to device `mapping.device`'s table as if some client had made it
    /// (replacing one on the same external port and protocol).
    pub fn insert_mapping(&self, mapping: SimMapping) {
        lock(&self.devices[mapping.device].igd).insert(mapping);
    }

    /// Empties every device's port mapping table while the devices keep running and
    /// answering, as consumer routers do on a WAN reconnect or when their table
    /// overflows: "turn off the internet connection in the router settings ... Then turn
    /// on the Internet. Check upnp ports. There are none." (arvidn/libtorrent#7487); "That
    /// router seems to periodically drop port forwarding settings" (arvidn/libtorrent#2922).
    pub fn forget_mappings(&self) {
        for device in &self.devices {
            lock(&device.igd).forget_mappings();
        }
    }

    /// Sets what device `i`'s `GetExternalIPAddress` answers.
    pub fn set_external_ip(&self, i: usize, ip: impl Into<String>) {
        lock(&self.devices[i].igd).spec.external_ip = ip.into();
    }

    /// Sets device `i`'s `GetStatusInfo` connection status ("Connected", "Disconnected").
    pub fn set_connection_status(&self, i: usize, status: impl Into<String>) {
        lock(&self.devices[i].igd).spec.connection_status = status.into();
    }

    /// Replaces device `i`'s injected faults.
    pub fn set_faults(&self, i: usize, faults: Vec<FaultRule>) {
        lock(&self.devices[i].igd).set_faults(faults);
    }

    /// Stops every thread and closes every socket; returns within about 100 ms (held
    /// connections are closed).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.threads.is_empty() && lock(&self.shared.connections).is_empty() {
            return;
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loops at once (they also time out every SLICE).
        for addr in self.listeners.drain(..) {
            let _ = TcpStream::connect_timeout(&wake_addr(addr), Duration::from_millis(20));
        }
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
        let connections: Vec<_> = lock(&self.shared.connections).drain(..).collect();
        for handle in connections {
            let _ = handle.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The UUID of device `index` when its [`DeviceSpec::uuid`] is `None`:
/// `5d1e0000-0000-4000-8000-<index as 12 hex digits>`.
pub fn default_uuid(index: usize) -> String {
    format!("5d1e0000-0000-4000-8000-{index:012x}")
}

/// `ip:port`, IPv6 in brackets (without zone).
pub(crate) fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// Where to connect to reach a listener bound to `addr` (a wildcard becomes loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

/// Binds a device's HTTP listener; for [`HttpBehavior::PortClosed`], binds and closes it
/// at once (so the address is known and refuses connections).
fn bind_http(spec: &DeviceSpec) -> io::Result<(SocketAddr, Option<TcpListener>)> {
    let listener = http::listen(spec.addr).map_err(|e| {
        io::Error::new(e.kind(), format!("cannot listen on {} for a device's HTTP server: {e}", spec.addr))
    })?;
    let addr = listener.local_addr()?;
    if spec.http == HttpBehavior::PortClosed {
        drop(listener);
        return Ok((addr, None));
    }
    Ok((addr, Some(listener)))
}
