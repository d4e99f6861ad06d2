//! What a simulated device does: its SSDP, HTTP and SOAP behaviours.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The path of every device's description URL (`LOCATION`), as miniupnpd names it.
pub const DESCRIPTION_PATH: &str = "/rootDesc.xml";

/// The WANIPConnection control URL of the captured descriptions (relative, so it works on
/// any address and port).
pub const CONTROL_PATH: &str = "/ctl/IPConn";

/// The IGD generation a device claims: it chooses the captured description, the service
/// type and the SSDP targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgdVersion {
    /// InternetGatewayDevice:1 with WANIPConnection:1.
    V1,
    /// InternetGatewayDevice:2 with WANIPConnection:2 (`AddAnyPortMapping`).
    V2,
}

impl IgdVersion {
    /// The version digit.
    pub fn number(self) -> u8 {
        match self {
            IgdVersion::V1 => 1,
            IgdVersion::V2 => 2,
        }
    }

    /// `urn:schemas-upnp-org:service:WANIPConnection:N`.
    pub fn service_type(self) -> String {
        format!("urn:schemas-upnp-org:service:WANIPConnection:{}", self.number())
    }

    /// `urn:schemas-upnp-org:device:InternetGatewayDevice:N`.
    pub fn device_type(self) -> String {
        format!("urn:schemas-upnp-org:device:InternetGatewayDevice:{}", self.number())
    }

    /// The search targets miniupnpd answers for this generation (a search for a lower
    /// version of a URN is answered too, echoing the version asked).
    pub fn search_targets(self) -> Vec<String> {
        let n = self.number();
        vec![
            "upnp:rootdevice".to_string(),
            format!("urn:schemas-upnp-org:device:InternetGatewayDevice:{n}"),
            format!("urn:schemas-upnp-org:device:WANDevice:{n}"),
            format!("urn:schemas-upnp-org:device:WANConnectionDevice:{n}"),
            format!("urn:schemas-upnp-org:service:WANIPConnection:{n}"),
            "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1".to_string(),
            "urn:schemas-upnp-org:service:Layer3Forwarding:1".to_string(),
        ]
    }
}

/// The search targets of the bundled MediaRenderer description.
pub fn media_renderer_targets() -> Vec<String> {
    vec![
        "upnp:rootdevice".to_string(),
        "urn:schemas-upnp-org:device:MediaRenderer:1".to_string(),
        "urn:schemas-upnp-org:service:RenderingControl:1".to_string(),
        "urn:schemas-upnp-org:service:ConnectionManager:1".to_string(),
        "urn:schemas-upnp-org:service:AVTransport:1".to_string(),
    ]
}

/// One simulated device: where it listens and how it behaves.
#[derive(Clone, Debug)]
pub struct DeviceSpec {
    /// The address its HTTP server binds and that its SSDP answers claim in `LOCATION`
    /// (port 0: any free port). Its SSDP answers are sent from this IP too. In multicast
    /// mode the address must already exist on an interface.
    pub addr: SocketAddr,
    /// The UUID in its `USN` (without `uuid:`); `None`: one derived from its index,
    /// `5d1e0000-0000-4000-8000-<index as 12 hex digits>`.
    pub uuid: Option<String>,
    /// How it answers M-SEARCH.
    pub ssdp: SsdpBehavior,
    /// How it serves its description URL (every GET, whatever the path).
    pub http: HttpBehavior,
    /// How its WANIPConnection control URL answers (every POST, whatever the path).
    pub soap: SoapSpec,
}

impl Default for DeviceSpec {
    fn default() -> Self {
        DeviceSpec::igd_v2()
    }
}

impl DeviceSpec {
    /// A working miniupnpd-like IGDv2 on 127.0.0.1 (any port).
    pub fn igd_v2() -> Self {
        DeviceSpec::igd(IgdVersion::V2)
    }

    /// A working miniupnpd-like IGDv1 on 127.0.0.1 (any port).
    pub fn igd_v1() -> Self {
        DeviceSpec::igd(IgdVersion::V1)
    }

    /// A working miniupnpd-like IGD of the given generation on 127.0.0.1 (any port).
    pub fn igd(version: IgdVersion) -> Self {
        DeviceSpec {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            uuid: None,
            ssdp: SsdpBehavior::Answer(SsdpAnswer::for_targets(version.search_targets())),
            http: HttpBehavior::Serve(match version {
                IgdVersion::V1 => Content::IgdV1,
                IgdVersion::V2 => Content::IgdV2,
            }),
            soap: SoapSpec::new(version),
        }
    }

    /// A MediaRenderer (not a gateway) on 127.0.0.1 (any port). It answers SOAP like an
    /// IGD all the same, should a client post to it.
    pub fn media_renderer() -> Self {
        DeviceSpec {
            ssdp: SsdpBehavior::Answer(SsdpAnswer::for_targets(media_renderer_targets())),
            http: HttpBehavior::Serve(Content::MediaRenderer),
            ..DeviceSpec::igd_v2()
        }
    }

    /// The same device at another address (port 0: any free port).
    pub fn at(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The same device on another IP, any free port.
    pub fn on_ip(mut self, ip: IpAddr) -> Self {
        self.addr = SocketAddr::new(ip, 0);
        self
    }

    /// The same device with another UUID.
    pub fn with_uuid(mut self, uuid: impl Into<String>) -> Self {
        self.uuid = Some(uuid.into());
        self
    }

    /// The same device with another SSDP behaviour.
    pub fn with_ssdp(mut self, ssdp: SsdpBehavior) -> Self {
        self.ssdp = ssdp;
        self
    }

    /// The same device with another HTTP behaviour for its description URL.
    pub fn with_http(mut self, http: HttpBehavior) -> Self {
        self.http = http;
        self
    }

    /// The same device with another SOAP set-up.
    pub fn with_soap(mut self, soap: SoapSpec) -> Self {
        self.soap = soap;
        self
    }

    /// The same device with a fault injected into every call of `action` (`"*"`: every
    /// action).
    pub fn with_fault(mut self, action: impl Into<String>, fault: SoapFault) -> Self {
        self.soap.faults.push(FaultRule::always(action, fault));
        self
    }
}

/// How a device answers M-SEARCH requests. Answers always go by unicast to the sender of
/// the search, from the device's own IP; nothing is ever sent to a multicast group.
#[derive(Clone, Debug)]
pub enum SsdpBehavior {
    /// Well-formed answers shaped like miniupnpd's.
    Answer(SsdpAnswer),
    /// Datagrams from templates, for malformed or odd answers.
    Raw(RawAnswer),
    /// No answer at all (the device is still reachable by HTTP).
    Silent,
    /// Many distinct answers to each search.
    Flood(Flood),
}

/// Well-formed answers: `HTTP/1.1 200 OK` with `ST`, `USN: uuid:<uuid>::<ST>`, `LOCATION`
/// and miniupnpd's other headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsdpAnswer {
    /// The search targets the device has. Empty: it answers every search, echoing the ST
    /// asked (`ssdp:all` is answered as `upnp:rootdevice`). Otherwise it answers a search
    /// whose ST is one of these (ASCII case-insensitive; a URN with a lower version is
    /// answered too, echoing the version asked), and `ssdp:all` once per target.
    pub targets: Vec<String>,
    /// Claim this ST in every answer instead of the one asked.
    pub fixed_st: Option<String>,
    /// Copies of each answer sent (0 sends none).
    pub copies: u32,
    /// Wait this long after the search before answering (the receiver keeps serving
    /// other searches meanwhile).
    pub delay: Duration,
    /// Leave `ssdp:all` unanswered (only searches naming one of the targets get an
    /// answer), as a gateway does that answers `ssdp:all` only with another device.
    pub silent_to_ssdp_all: bool,
    /// Answer only searches that arrived this way (sent to the group, or to the device's
    /// own address); `None`: any search.
    pub only_arrivals: Option<Arrival>,
}

/// How a search reached the simulator: sent to the multicast group, or by unicast to an
/// address of the simulator's (in unicast mode, every search).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arrival {
    /// To `239.255.255.250` or `ff02::c`.
    Multicast,
    /// To an address of the simulator's, port 1900 (or the unicast mode's address).
    Unicast,
}

impl Default for SsdpAnswer {
    fn default() -> Self {
        SsdpAnswer::echo()
    }
}

impl SsdpAnswer {
    /// Answers every search once, at once, echoing its ST.
    pub fn echo() -> Self {
        SsdpAnswer {
            targets: Vec::new(),
            fixed_st: None,
            copies: 1,
            delay: Duration::ZERO,
            silent_to_ssdp_all: false,
            only_arrivals: None,
        }
    }

    /// Answers only searches for these targets (and `ssdp:all`), once, at once.
    pub fn for_targets(targets: Vec<String>) -> Self {
        SsdpAnswer { targets, ..SsdpAnswer::echo() }
    }

    /// The same answers, all claiming `st`.
    pub fn with_fixed_st(mut self, st: impl Into<String>) -> Self {
        self.fixed_st = Some(st.into());
        self
    }

    /// The same answers, `copies` times each.
    pub fn with_copies(mut self, copies: u32) -> Self {
        self.copies = copies;
        self
    }

    /// The same answers, but none to `ssdp:all`.
    pub fn without_ssdp_all(mut self) -> Self {
        self.silent_to_ssdp_all = true;
        self
    }

    /// The same answers, but only to searches that arrived as `arrival`.
    pub fn only_to(mut self, arrival: Arrival) -> Self {
        self.only_arrivals = Some(arrival);
        self
    }

    /// The same answers, after `delay`.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Raw datagrams sent in answer to a search, each after its placeholders are replaced:
/// `{LOCATION}` (the description URL), `{ST}` (the ST asked), `{USN}`
/// (`uuid:<uuid>::<ST asked>`), `{UUID}`, `{IP}` (the device's IP, IPv6 without
/// brackets), `{HOSTPORT}` (`ip:port`, IPv6 in brackets) and `{PORT}` (its HTTP port).
/// Bytes need not be UTF-8. See [`crate::templates`] for ready-made ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawAnswer {
    /// The datagrams, sent in order for each search answered.
    pub datagrams: Vec<Vec<u8>>,
    /// Answer only searches for these STs (matched like [`SsdpAnswer::targets`]); empty:
    /// every search.
    pub answer_to: Vec<String>,
    /// Wait this long after the search before sending.
    pub delay: Duration,
}

impl RawAnswer {
    /// One template sent in answer to every search.
    pub fn one(template: impl Into<Vec<u8>>) -> Self {
        RawAnswer { datagrams: vec![template.into()], answer_to: Vec::new(), delay: Duration::ZERO }
    }

    /// Several templates sent in order in answer to every search.
    pub fn many(templates: Vec<Vec<u8>>) -> Self {
        RawAnswer { datagrams: templates, answer_to: Vec::new(), delay: Duration::ZERO }
    }
}

/// `count` distinct well-formed answers to each search (ST echoed), differing in `USN`
/// (`uuid:<uuid>-<n>::<ST>`) and/or `LOCATION` path (`/flood/<n>/rootDesc.xml`, served
/// like the description). At most 64 floods run at a time per simulator; searches beyond
/// that start none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flood {
    /// Answers per search.
    pub count: u32,
    /// What differs between the answers.
    pub vary: FloodVary,
    /// Pace in datagrams per second; `None` (or 0): as fast as the socket takes them (a
    /// receiver with a default-sized buffer then drops most of them).
    pub per_second: Option<u32>,
}

/// What differs between the answers of a [`Flood`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloodVary {
    /// The USN only (one LOCATION).
    Usn,
    /// The LOCATION path only (one USN).
    LocationPath,
    /// Both.
    Both,
}

/// A description body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// miniupnpd 2.3.1's captured IGDv2 root description.
    IgdV2,
    /// miniupnpd 2.3.1's captured IGDv1 root description.
    IgdV1,
    /// A MediaRenderer:1 description (not a gateway).
    MediaRenderer,
    /// The IGDv2 description with invalid UTF-8 bytes (`\xff\xfe`) in its friendlyName.
    InvalidUtf8,
    /// The IGDv2 description cut in the middle of an element, so never closed.
    InvalidXml,
    /// A "billion laughs" document: nested DTD entities that expand to gigabytes.
    EntityBomb,
    /// These bytes.
    Bytes(Vec<u8>),
}

/// How a device's HTTP server answers GET requests (any path). POSTs go to the SOAP
/// emulation, except with [`HttpBehavior::Stall`] and [`HttpBehavior::PortClosed`], which
/// apply to every request. Every answer carries `Connection: close` and the connection
/// is closed after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpBehavior {
    /// `200 OK`, `Content-Type: text/xml`, `Content-Length`, the body.
    Serve(Content),
    /// This status (any code), `Content-Type: text/html`, `Content-Length`, the body.
    Status {
        /// The status code.
        code: u16,
        /// The body.
        body: Vec<u8>,
    },
    /// A redirect: this status (e.g. 301, 302, 307), `Location`, no body.
    Redirect {
        /// The status code.
        code: u16,
        /// The `Location` header value, as is.
        location: String,
    },
    /// `200 OK` with `Transfer-Encoding: chunked`, the body cut in chunks of this size.
    Chunked {
        /// The body.
        content: Content,
        /// Bytes per chunk (at least 1).
        chunk_size: usize,
    },
    /// `200 OK` with `Content-Length` sent at once, then the body at this rate.
    Trickle {
        /// The body.
        content: Content,
        /// Bytes per second (at least 1).
        bytes_per_second: u32,
    },
    /// `200 OK` and a body of `bytes` bytes (an XML prefix, then spaces) streamed from a
    /// small buffer, never allocated whole; with or without `Content-Length` (without,
    /// the end is the close).
    Huge {
        /// Body size.
        bytes: u64,
        /// Whether to announce the size.
        content_length: bool,
    },
    /// `200 OK` with the full `Content-Length`, `after` bytes of the body, then a TCP
    /// reset (RST).
    ResetMidBody {
        /// The body.
        content: Content,
        /// Body bytes sent before the reset.
        after: usize,
    },
    /// These exact bytes (status line and headers included), then the close.
    Raw(Vec<u8>),
    /// Reads the request, then never answers; the connection is held until the
    /// simulator stops.
    Stall,
    /// Nothing listens: the port is bound once (so it is known) and closed at once, so
    /// connections are refused.
    PortClosed,
}

/// The emulated WANIPConnection service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoapSpec {
    /// The service type answers name when the request's `SOAPAction` names none
    /// (otherwise the request's service type is echoed, as miniupnpd does).
    pub service_type: String,
    /// `GetExternalIPAddress`'s answer (may be empty or private).
    pub external_ip: String,
    /// `GetStatusInfo`'s `NewConnectionStatus`, e.g. "Connected" or "Disconnected".
    pub connection_status: String,
    /// miniupnpd's `secure_mode`: `AddPortMapping` for an internal client other than the
    /// requesting address fails with 718, `AddAnyPortMapping` with 606. Off by default:
    /// the internal client is whatever `NewInternalClient` says.
    pub secure_mode: bool,
    /// Lowest external port `AddPortMapping` accepts (miniupnpd's test bed allows
    /// 1024-65535; below: 606). `AddAnyPortMapping` picks from here up.
    pub min_external_port: u16,
    /// Most mappings held; more fail with 728 NoPortMapsAvailable.
    pub max_mappings: usize,
    /// Injected faults, the first matching rule wins.
    pub faults: Vec<FaultRule>,
    /// Per control URL path answers of `GetStatusInfo` and `GetExternalIPAddress`, for
    /// descriptions with several connection services (a request to a path listed here
    /// gets its values; any other path gets `connection_status` and `external_ip`).
    pub connections: Vec<ConnectionState>,
    /// `AddPortMapping` and `AddAnyPortMapping` with a lease other than 0 fail with this
    /// code (some routers take permanent mappings only: 725 OnlyPermanentLeasesSupported,
    /// or 402 Invalid Args); `None`: any lease is taken.
    pub refuse_leases: Option<u32>,
    /// The code of a conflict with another client's mapping: 718 ConflictInMappingEntry,
    /// or what some routers send instead (501 ActionFailed).
    pub conflict_code: u32,
    /// The namespace prefix of the SOAP envelope in answers and faults (miniupnpd: `s`;
    /// other stacks send `SOAP-ENV` or `SOAP`).
    pub envelope_prefix: String,
    /// What the WANIPv6FirewallControl:1 service (in the IGDv2 description) says of the
    /// router's IPv6 firewall; `None`: its actions are not emulated (401 Invalid Action).
    pub ipv6_firewall: Option<Ipv6Firewall>,
}

/// A router's IPv6 firewall that lets no pinhole be made, as WANIPv6FirewallControl:1
/// reports it: its state variables `FirewallEnabled` and `InboundPinholeAllowed`
/// (ISO/IEC 29341-24-11 §5.3.1 and §5.3.2, the UPnP Forum's 2010 service document §2.3.1
/// and §2.3.2), which `GetFirewallStatus` returns (§5.5.2; §2.5.1). Answered as miniupnpd does
/// (miniupnp/miniupnp `miniupnpd/upnpsoap.c` at 0027ffaca52fe40f639ad2a4d4cf22c4460c6a79,
/// `GetFirewallStatus` and `CheckStatus`): `AddPinhole`, `UpdatePinhole`,
/// `DeletePinhole`, `CheckPinholeWorking` and `GetPinholePackets` fail with 702
/// FirewallDisabled when the firewall is off, else with 703 InboundPinholeNotAllowed;
/// `GetOutboundPinholeTimeout` fails with 702 when it is off, else with 501 (miniupnpd
/// does not implement it). A working firewall with a pinhole table is not emulated: the
/// test bed's real miniupnpd is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Firewall {
    /// `FirewallEnabled` 0, `InboundPinholeAllowed` 1: no firewall, inbound IPv6 already
    /// reaches every host.
    Off,
    /// `FirewallEnabled` 1, `InboundPinholeAllowed` 0: the firewall drops inbound IPv6
    /// and lets no control point open it.
    NoInboundPinholes,
}

/// What one connection service (one control URL path) of a multi-WAN device answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionState {
    /// The control URL path, as the request names it (`/upnp/control/x/wanipconn-1`).
    pub path: String,
    /// `GetStatusInfo`'s `NewConnectionStatus`.
    pub connection_status: String,
    /// `GetExternalIPAddress`'s answer.
    pub external_ip: String,
}

impl ConnectionState {
    /// A service at `path` with this status and external address.
    pub fn new(path: impl Into<String>, connection_status: impl Into<String>, external_ip: impl Into<String>) -> Self {
        ConnectionState {
            path: path.into(),
            connection_status: connection_status.into(),
            external_ip: external_ip.into(),
        }
    }
}

impl Default for SoapSpec {
    fn default() -> Self {
        SoapSpec::new(IgdVersion::V2)
    }
}

impl SoapSpec {
    /// A connected, fault-free service of this generation with external address
    /// 11.22.33.44 (the test bed's).
    pub fn new(version: IgdVersion) -> Self {
        SoapSpec {
            service_type: version.service_type(),
            external_ip: "11.22.33.44".to_string(),
            connection_status: "Connected".to_string(),
            secure_mode: false,
            min_external_port: 1024,
            max_mappings: 1024,
            faults: Vec::new(),
            connections: Vec::new(),
            refuse_leases: None,
            conflict_code: 718,
            envelope_prefix: "s".to_string(),
            ipv6_firewall: None,
        }
    }
}

/// A fault injected into the calls of one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// The action name (`AddPortMapping`), or `"*"` for every action.
    pub action: String,
    /// What the call gets instead of its normal answer.
    pub fault: SoapFault,
    /// How many calls get it; `None`: all of them. Calls after that are served normally.
    pub times: Option<u32>,
}

impl FaultRule {
    /// The fault for every call of `action`.
    pub fn always(action: impl Into<String>, fault: SoapFault) -> Self {
        FaultRule { action: action.into(), fault, times: None }
    }

    /// The fault for the next `times` calls of `action` only.
    pub fn times(action: impl Into<String>, fault: SoapFault, times: u32) -> Self {
        FaultRule { action: action.into(), fault, times: Some(times) }
    }
}

/// What an action call gets instead of its normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoapFault {
    /// HTTP 500 with a miniupnpd-shaped `s:Fault` / `UPnPError` of this code and
    /// description (any code, known or not, e.g. 899).
    Upnp {
        /// `errorCode`.
        code: u32,
        /// `errorDescription`.
        description: String,
    },
    /// HTTP 200 with this body (e.g. another action's response, or not XML).
    WrongBody(Vec<u8>),
    /// HTTP 200 with `Content-Length: 0`.
    EmptyBody,
    /// Reads the request, never answers, holds the connection until the simulator stops.
    Stall,
    /// Reads the request, then resets the connection (RST) without answering.
    Reset,
    /// This HTTP status with an empty body and no fault.
    Status(u16),
    /// The normal answer, after this delay.
    Delay(Duration),
}

impl SoapFault {
    /// A UPnP error fault.
    pub fn upnp(code: u32, description: impl Into<String>) -> Self {
        SoapFault::Upnp { code, description: description.into() }
    }
}
