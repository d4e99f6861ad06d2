//! NAT-PMP (RFC 6886) and PCP (RFC 6887) messages: requests as bytes, answers decoded
//! against the request they answer, and the two protocols' result codes as the engine's
//! `UPNPResult`, and when to retransmit. No I/O, no clock, no randomness (the caller
//! brings the PCP nonce and the retransmission jitter).
//!
//! Both protocols use UDP port 5351 on the gateway. A PCP server that also speaks NAT-PMP
//! tells the two apart by the first byte (version 0 = NAT-PMP, 2 = PCP); a NAT-PMP-only
//! gateway answers a PCP request with a NAT-PMP "unsupported version" message, which is
//! what makes PCP-first with NAT-PMP fallback work (RFC 6887 §9).

use super::igd::Protocol;
use super::result::UpnpResult;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The gateway's NAT-PMP and PCP port.
pub const SERVER_PORT: u16 = 5351;
/// NAT-PMP's version number.
pub const NATPMP_VERSION: u8 = 0;
/// The PCP version we speak (RFC 6887).
pub const PCP_VERSION: u8 = 2;
/// PCP's MAP opcode.
pub const PCP_OPCODE_MAP: u8 = 1;
/// Length of a PCP MAP request and of a PCP MAP answer without options.
pub const PCP_MAP_LEN: usize = 60;
/// Largest PCP message (RFC 6887 §7): anything longer is not PCP.
pub const PCP_MAX_LEN: usize = 1100;
/// Length of a NAT-PMP mapping request.
pub const NATPMP_MAP_REQUEST_LEN: usize = 12;
/// Length of a NAT-PMP mapping answer.
pub const NATPMP_MAP_RESPONSE_LEN: usize = 16;
/// Length of a NAT-PMP external-address answer.
pub const NATPMP_ADDRESS_RESPONSE_LEN: usize = 12;

const PCP_HEADER_LEN: usize = 24;
const RESPONSE_BIT: u8 = 0x80;
const NATPMP_OP_EXTERNAL_ADDRESS: u8 = 0;

/// A PCP mapping nonce: chosen by the client, sent with every request for the same
/// mapping (renewal, deletion), echoed by the server. PCP servers key mappings on it.
pub type Nonce = [u8; 12];

/// Which of the two protocols made a mapping or sent an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PmpMethod {
    /// Port Control Protocol, RFC 6887 (version 2).
    Pcp,
    /// NAT Port Mapping Protocol, RFC 6886 (version 0).
    NatPmp,
}

impl PmpMethod {
    /// "PCP" or "NAT-PMP".
    pub fn as_str(self) -> &'static str {
        match self {
            PmpMethod::Pcp => "PCP",
            PmpMethod::NatPmp => "NAT-PMP",
        }
    }
}

impl fmt::Display for PmpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A result code of one of the two protocols (NAT-PMP's are 16-bit, PCP's 8-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResultCode {
    /// The protocol whose numbering `code` uses.
    pub method: PmpMethod,
    /// The code as sent.
    pub code: u16,
}

impl ResultCode {
    /// The code both protocols use for "I do not speak that version".
    pub fn is_unsupported_version(self) -> bool {
        self.code == 1
    }

    /// The RFC's name for the code (`None` when unassigned).
    pub fn name(self) -> Option<&'static str> {
        Some(match (self.method, self.code) {
            (_, 0) => "SUCCESS",
            (PmpMethod::NatPmp, 1) => "UNSUPPORTED_VERSION",
            (PmpMethod::NatPmp, 2) => "NOT_AUTHORIZED",
            (PmpMethod::NatPmp, 3) => "NETWORK_FAILURE",
            (PmpMethod::NatPmp, 4) => "OUT_OF_RESOURCES",
            (PmpMethod::NatPmp, 5) => "UNSUPPORTED_OPCODE",
            (PmpMethod::Pcp, 1) => "UNSUPP_VERSION",
            (PmpMethod::Pcp, 2) => "NOT_AUTHORIZED",
            (PmpMethod::Pcp, 3) => "MALFORMED_REQUEST",
            (PmpMethod::Pcp, 4) => "UNSUPP_OPCODE",
            (PmpMethod::Pcp, 5) => "UNSUPP_OPTION",
            (PmpMethod::Pcp, 6) => "MALFORMED_OPTION",
            (PmpMethod::Pcp, 7) => "NETWORK_FAILURE",
            (PmpMethod::Pcp, 8) => "NO_RESOURCES",
            (PmpMethod::Pcp, 9) => "UNSUPP_PROTOCOL",
            (PmpMethod::Pcp, 10) => "USER_EX_QUOTA",
            (PmpMethod::Pcp, 11) => "CANNOT_PROVIDE_EXTERNAL",
            (PmpMethod::Pcp, 12) => "ADDRESS_MISMATCH",
            (PmpMethod::Pcp, 13) => "EXCESSIVE_REMOTE_PEERS",
            _ => return None,
        })
    }

    /// The engine's result for the code, chosen by meaning so that a game handles a
    /// NAT-PMP/PCP refusal the same way as the UPnP refusal that means the same.
    pub fn upnp_result(self) -> UpnpResult {
        match (self.method, self.code) {
            (_, 0) => UpnpResult::Success,
            // The gateway speaks neither version, or not the MAP operation: as far as
            // port mapping goes it is not a usable gateway.
            (_, 1) | (PmpMethod::NatPmp, 5) | (PmpMethod::Pcp, 4) => UpnpResult::InvalidGateway,
            (_, 2) => UpnpResult::NotAuthorized,
            // NAT-PMP NETWORK_FAILURE: the gateway has no external address yet (e.g. its
            // own DHCP has not finished); UPnP's ActionFailed means the same.
            (PmpMethod::NatPmp, 3) | (PmpMethod::Pcp, 7) => UpnpResult::ActionFailed,
            (PmpMethod::NatPmp, 4) | (PmpMethod::Pcp, 8 | 10 | 13) => UpnpResult::NoPortMapsAvailable,
            // The gateway could not parse what we sent.
            (PmpMethod::Pcp, 3 | 5 | 6) => UpnpResult::InvalidArgs,
            (PmpMethod::Pcp, 9) => UpnpResult::ActionFailed,
            // Only sent when the suggested external port is taken and the client asked
            // for that port or nothing; UPnP's 718 is the same situation.
            (PmpMethod::Pcp, 11) => UpnpResult::ConflictWithOtherMapping,
            // A NAT between us and the PCP server rewrote our address: no mapping made
            // through it can reach us, which is what ActionFailed's hint says.
            (PmpMethod::Pcp, 12) => UpnpResult::ActionFailed,
            _ => UpnpResult::UnknownError,
        }
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} result {} ({})", self.method, self.code, self.name().unwrap_or("unknown code"))
    }
}

/// What an answer said, once it is known to answer our request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<T> {
    /// The request was granted.
    Success(T),
    /// The gateway refused with this code (never SUCCESS, never unsupported version).
    Refused(ResultCode),
    /// The gateway does not speak the version we sent; it told us the one it speaks
    /// (0 for a NAT-PMP-only gateway answering PCP).
    UnsupportedVersion {
        /// The version field of the answer.
        server_version: u8,
    },
}

impl<T> Reply<T> {
    /// The same reply with the success value transformed.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        match self {
            Reply::Success(t) => Reply::Success(f(t)),
            Reply::Refused(code) => Reply::Refused(code),
            Reply::UnsupportedVersion { server_version } => Reply::UnsupportedVersion { server_version },
        }
    }
}

/// Why a datagram is not a usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// It is well formed but answers something else (another opcode, another nonce,
    /// another port), or is a request: wait for the real answer.
    Unrelated(String),
    /// It is too short, too long or contradicts the protocol.
    Malformed(String),
    /// A PCP refusal without the MAP payload: only the payload ties an answer to its
    /// request (RFC 6887 §8.3 matches answers by their opcode-specific data, §11.4 by the
    /// nonce, protocol and internal port), so anyone able to send to our port could have
    /// forged it. Wait on for a verifiable answer; report this one only if none comes.
    Unverified(ResultCode),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Unrelated(m) => write!(f, "an unrelated message ({m})"),
            DecodeError::Malformed(m) => write!(f, "a malformed message ({m})"),
            DecodeError::Unverified(code) => write!(f, "an unverifiable refusal ({code})"),
        }
    }
}

/// The IANA protocol number PCP uses for a transport protocol.
pub fn ip_protocol_number(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
    }
}

/// NAT-PMP's opcode for mapping a transport protocol.
pub fn natpmp_map_opcode(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Udp => 1,
        Protocol::Tcp => 2,
    }
}

/// An IPv4 address as PCP carries it: IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
pub fn ipv4_mapped(address: Ipv4Addr) -> [u8; 16] {
    address.to_ipv6_mapped().octets()
}

/// The IPv4 address inside an IPv4-mapped field; `None` for a real IPv6 address and for
/// `::ffff:0.0.0.0` (PCP's "no address").
pub fn from_ipv4_mapped(field: [u8; 16]) -> Option<Ipv4Addr> {
    Ipv6Addr::from(field).to_ipv4_mapped().filter(|a| !a.is_unspecified())
}

/// An address in a PCP address field (RFC 6887 §5): IPv4 as IPv4-mapped, IPv6 as is.
pub fn pcp_address(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(v4) => ipv4_mapped(v4),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address in a PCP address field; `None` for the "no address" of either family
/// (`::ffff:0.0.0.0`, `::`).
pub fn from_pcp_address(field: [u8; 16]) -> Option<IpAddr> {
    let v6 = Ipv6Addr::from(field);
    match v6.to_ipv4_mapped() {
        Some(v4) => (!v4.is_unspecified()).then_some(IpAddr::V4(v4)),
        None => (!v6.is_unspecified()).then_some(IpAddr::V6(v6)),
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

// ---------------------------------------------------------------------------------------
// Retransmission

/// NAT-PMP's first wait for an answer (RFC 6886 §3.1: 250 ms, doubling each time).
pub const NATPMP_INITIAL_RETRANSMIT: Duration = Duration::from_millis(250);
/// Most NAT-PMP transmissions of one request: RFC 6886 §3.1 gives up after 9 (about
/// 64 s in all); a caller's deadline normally ends it much sooner.
pub const NATPMP_MAX_TRANSMISSIONS: u32 = 9;
/// PCP's initial retransmission time, IRT (RFC 6887 §8.1.1: 3 seconds).
pub const PCP_IRT: Duration = Duration::from_secs(3);
/// PCP's maximum retransmission time, MRT (RFC 6887 §8.1.1: 1024 seconds). PCP has no
/// maximum count or duration (MRC = MRD = 0): the caller's deadline ends it.
pub const PCP_MRT: Duration = Duration::from_secs(1024);
/// The magnitude of PCP's randomization factor: RAND is uniform in [-0.1, +0.1]
/// (RFC 6887 §8.1.1), so that clients restarted together do not retransmit in step.
pub const PCP_RAND: f64 = 0.1;

/// How long to wait for an answer after a transmission before sending the request again:
/// `previous` is the wait after the transmission before (`None` after the first),
/// `random` a uniform random number in [0, 1] (PCP's randomization; NAT-PMP has none).
///
/// - NAT-PMP (RFC 6886 §3.1): 250 ms, then double the previous wait.
/// - PCP (RFC 6887 §8.1.1): RT = (1 + RAND) * IRT, then RT = (1 + RAND) *
///   MIN(2 * RTprev, MRT).
pub fn retransmit_interval(method: PmpMethod, previous: Option<Duration>, random: f64) -> Duration {
    match method {
        PmpMethod::NatPmp => previous.map_or(NATPMP_INITIAL_RETRANSMIT, |p| p * 2),
        PmpMethod::Pcp => {
            // NaN would make `mul_f64` panic.
            let unit = if random.is_nan() { 0.0 } else { random.clamp(0.0, 1.0) };
            let factor = 1.0 + PCP_RAND * (2.0 * unit - 1.0);
            previous.map_or(PCP_IRT, |p| (p * 2).min(PCP_MRT)).mul_f64(factor)
        }
    }
}

/// Most transmissions of one request (`None`: as many as fit before the deadline).
pub fn max_transmissions(method: PmpMethod) -> Option<u32> {
    match method {
        PmpMethod::NatPmp => Some(NATPMP_MAX_TRANSMISSIONS),
        PmpMethod::Pcp => None,
    }
}

// ---------------------------------------------------------------------------------------
// PCP

/// A PCP MAP request (RFC 6887 §11.1): an IPv4 mapping through a NAT, or, with IPv6
/// addresses, a pinhole through an IPv6 firewall (the server opens the address and port
/// as they are: external equals internal, §11.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcpMapRequest {
    /// Our own address as the gateway sees it (the packet's source address; a server
    /// answers ADDRESS_MISMATCH when the two differ).
    pub client_address: IpAddr,
    /// The mapping's nonce (the same for every request about this mapping).
    pub nonce: Nonce,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Our port.
    pub internal_port: u16,
    /// The external port we would like (0 = no preference).
    pub suggested_external_port: u16,
    /// The external address we would like (`None` = no preference: the all-zeros
    /// address of the client's family).
    pub suggested_external_address: Option<IpAddr>,
    /// Requested lifetime in seconds; 0 deletes the mapping.
    pub lifetime_secs: u32,
}

impl PcpMapRequest {
    /// The request's bytes: 24-byte common header, 36-byte MAP payload, no options.
    pub fn encode(&self) -> [u8; PCP_MAP_LEN] {
        let mut b = [0u8; PCP_MAP_LEN];
        b[0] = PCP_VERSION;
        b[1] = PCP_OPCODE_MAP; // R bit clear: a request
        b[4..8].copy_from_slice(&self.lifetime_secs.to_be_bytes());
        b[8..24].copy_from_slice(&pcp_address(self.client_address));
        b[24..36].copy_from_slice(&self.nonce);
        b[36] = ip_protocol_number(self.protocol);
        b[40..42].copy_from_slice(&self.internal_port.to_be_bytes());
        b[42..44].copy_from_slice(&self.suggested_external_port.to_be_bytes());
        let none = match self.client_address {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        b[44..60].copy_from_slice(&pcp_address(self.suggested_external_address.unwrap_or(none)));
        b
    }
}

/// A granted PCP MAP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcpMapResponse {
    /// Granted lifetime in seconds (0 after a deletion).
    pub lifetime_secs: u32,
    /// The server's epoch: seconds since its mapping state began. When it goes back,
    /// the gateway lost its mappings (RFC 6887 §8.5).
    pub epoch_secs: u32,
    /// The external port the gateway assigned.
    pub external_port: u16,
    /// The external address it assigned (an IPv6 pinhole's is our own address; `None`
    /// for the "no address" of either family).
    pub external_address: Option<IpAddr>,
}

/// Decodes a datagram received after `request`: an answer to it, a refusal, a
/// version mismatch (including a NAT-PMP-only gateway's answer), or an error saying why
/// the datagram does not answer this request.
pub fn decode_pcp_map_response(request: &PcpMapRequest, datagram: &[u8]) -> Result<Reply<PcpMapResponse>, DecodeError> {
    let b = datagram;
    if b.len() < 4 {
        return Err(DecodeError::Malformed(format!("{} bytes, shorter than any answer", b.len())));
    }
    if b[0] == NATPMP_VERSION {
        // A NAT-PMP gateway: whatever it says, it does not speak PCP. RFC 6886 §3.5 has it
        // answer another version with opcode byte 0 and UNSUPPORTED_VERSION (miniupnpd
        // sets the R bit and echoes the opcode); a request has 0 in bytes 2-3.
        if b[1] & RESPONSE_BIT == 0 && be16(b, 2) != 1 {
            return Err(DecodeError::Unrelated("a NAT-PMP request".into()));
        }
        return Ok(Reply::UnsupportedVersion { server_version: NATPMP_VERSION });
    }
    if b[1] & RESPONSE_BIT == 0 {
        return Err(DecodeError::Unrelated("a PCP request, not an answer".into()));
    }
    if b[1] & !RESPONSE_BIT != PCP_OPCODE_MAP {
        return Err(DecodeError::Unrelated(format!("a PCP answer to opcode {}", b[1] & !RESPONSE_BIT)));
    }
    let code = ResultCode { method: PmpMethod::Pcp, code: u16::from(b[3]) };
    if b[0] != PCP_VERSION {
        // A server of another version answers UNSUPP_VERSION with the version it speaks;
        // anything else from it is not an answer we can read.
        return if code.is_unsupported_version() {
            Ok(Reply::UnsupportedVersion { server_version: b[0] })
        } else {
            Err(DecodeError::Malformed(format!("PCP version {} answer with {code}", b[0])))
        };
    }
    if b.len() > PCP_MAX_LEN || !b.len().is_multiple_of(4) {
        return Err(DecodeError::Malformed(format!("{} bytes is no PCP message length", b.len())));
    }
    if b.len() < PCP_HEADER_LEN {
        return Err(DecodeError::Malformed(format!("{} bytes, shorter than a PCP header", b.len())));
    }
    let has_payload = b.len() >= PCP_MAP_LEN;
    if has_payload {
        // Error answers may come without the MAP payload (RFC 6887 §7.2); when it is
        // there it must be ours.
        if b[24..36] != request.nonce {
            return Err(DecodeError::Unrelated("a PCP answer for another nonce".into()));
        }
        if b[36] != ip_protocol_number(request.protocol) || be16(b, 40) != request.internal_port {
            return Err(DecodeError::Unrelated("a PCP answer for another protocol or internal port".into()));
        }
    }
    if code.is_unsupported_version() {
        return Ok(Reply::UnsupportedVersion { server_version: b[0] });
    }
    if code.code != 0 {
        // RFC 6887 §8.3 matches a response to its request by the opcode-specific data,
        // whose random nonce (§11.1) is what an off-path forger cannot know: without it,
        // this could come from anyone.
        return if has_payload { Ok(Reply::Refused(code)) } else { Err(DecodeError::Unverified(code)) };
    }
    if !has_payload {
        return Err(DecodeError::Malformed(format!("a PCP MAP success of {} bytes has no MAP payload", b.len())));
    }
    let mut address = [0u8; 16];
    address.copy_from_slice(&b[44..60]);
    Ok(Reply::Success(PcpMapResponse {
        lifetime_secs: be32(b, 4),
        epoch_secs: be32(b, 8),
        external_port: be16(b, 42),
        external_address: from_pcp_address(address),
    }))
}

// ---------------------------------------------------------------------------------------
// NAT-PMP

/// A NAT-PMP mapping request (RFC 6886 §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatPmpMapRequest {
    /// UDP or TCP.
    pub protocol: Protocol,
    /// Our port.
    pub internal_port: u16,
    /// The external port we would like (0 = no preference; must be 0 when deleting).
    pub suggested_external_port: u16,
    /// Requested lifetime in seconds; 0 deletes the mapping.
    pub lifetime_secs: u32,
}

impl NatPmpMapRequest {
    /// The request's 12 bytes.
    pub fn encode(&self) -> [u8; NATPMP_MAP_REQUEST_LEN] {
        let mut b = [0u8; NATPMP_MAP_REQUEST_LEN];
        b[0] = NATPMP_VERSION;
        b[1] = natpmp_map_opcode(self.protocol);
        b[4..6].copy_from_slice(&self.internal_port.to_be_bytes());
        b[6..8].copy_from_slice(&self.suggested_external_port.to_be_bytes());
        b[8..12].copy_from_slice(&self.lifetime_secs.to_be_bytes());
        b
    }
}

/// A granted NAT-PMP mapping answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatPmpMapResponse {
    /// Seconds since the gateway's mapping state began (goes back after a reboot).
    pub epoch_secs: u32,
    /// The external port the gateway assigned (0 after a deletion).
    pub external_port: u16,
    /// Granted lifetime in seconds (0 after a deletion).
    pub lifetime_secs: u32,
}

/// The NAT-PMP external-address request (opcode 0).
pub fn encode_natpmp_external_address_request() -> [u8; 2] {
    [NATPMP_VERSION, NATPMP_OP_EXTERNAL_ADDRESS]
}

/// A granted NAT-PMP external-address answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatPmpAddressResponse {
    /// Seconds since the gateway's mapping state began.
    pub epoch_secs: u32,
    /// The gateway's external IPv4 address (0.0.0.0 when it has none).
    pub address: Ipv4Addr,
}

/// The common part of every NAT-PMP answer: checks version and opcode, returns the
/// result code, or the reply to give when it is not SUCCESS.
fn natpmp_header<T>(b: &[u8], opcode: u8) -> Result<Option<Reply<T>>, DecodeError> {
    if b.len() < 4 {
        return Err(DecodeError::Malformed(format!("{} bytes, shorter than any NAT-PMP answer", b.len())));
    }
    if b[0] != NATPMP_VERSION {
        if is_pcp_unsupp_version(b, opcode) {
            return Ok(Some(Reply::UnsupportedVersion { server_version: b[0] }));
        }
        return Err(DecodeError::Unrelated(format!("version {} is not NAT-PMP", b[0])));
    }
    if b[1] != RESPONSE_BIT | opcode {
        return Err(DecodeError::Unrelated(format!("a NAT-PMP message with opcode {}", b[1])));
    }
    let code = ResultCode { method: PmpMethod::NatPmp, code: be16(b, 2) };
    Ok(match code.code {
        0 => None,
        _ if code.is_unsupported_version() => Some(Reply::UnsupportedVersion { server_version: NATPMP_VERSION }),
        _ => Some(Reply::Refused(code)),
    })
}

/// Whether `b` is a PCP server's UNSUPP_VERSION answer to a NAT-PMP request with
/// `opcode`: a PCP-only server answers version 0 like any version it does not speak
/// (RFC 6887 §9, §8.2: before any other check), with a PCP header (§7.2: its own version,
/// the request's opcode with the R bit, the 8-bit result code in byte 3, at least 24
/// bytes, §8.3). Any other PCP message, an unsolicited ANNOUNCE included, is not one.
fn is_pcp_unsupp_version(b: &[u8], opcode: u8) -> bool {
    (PCP_HEADER_LEN..=PCP_MAX_LEN).contains(&b.len())
        && b.len().is_multiple_of(4)
        && b[1] == RESPONSE_BIT | opcode
        && b[3] == 1
}

/// Decodes a datagram received after a NAT-PMP mapping `request`.
pub fn decode_natpmp_map_response(
    request: &NatPmpMapRequest,
    datagram: &[u8],
) -> Result<Reply<NatPmpMapResponse>, DecodeError> {
    let b = datagram;
    if let Some(reply) = natpmp_header(b, natpmp_map_opcode(request.protocol))? {
        return Ok(reply);
    }
    if b.len() < NATPMP_MAP_RESPONSE_LEN {
        return Err(DecodeError::Malformed(format!("a NAT-PMP mapping answer of {} bytes", b.len())));
    }
    if be16(b, 8) != request.internal_port {
        return Err(DecodeError::Unrelated(format!("a NAT-PMP answer for internal port {}", be16(b, 8))));
    }
    Ok(Reply::Success(NatPmpMapResponse {
        epoch_secs: be32(b, 4),
        external_port: be16(b, 10),
        lifetime_secs: be32(b, 12),
    }))
}

/// Decodes a datagram received after the external-address request.
pub fn decode_natpmp_address_response(datagram: &[u8]) -> Result<Reply<NatPmpAddressResponse>, DecodeError> {
    let b = datagram;
    if let Some(reply) = natpmp_header(b, NATPMP_OP_EXTERNAL_ADDRESS)? {
        return Ok(reply);
    }
    if b.len() < NATPMP_ADDRESS_RESPONSE_LEN {
        return Err(DecodeError::Malformed(format!("a NAT-PMP address answer of {} bytes", b.len())));
    }
    Ok(Reply::Success(NatPmpAddressResponse {
        epoch_secs: be32(b, 4),
        address: Ipv4Addr::new(b[8], b[9], b[10], b[11]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: Nonce = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

    fn pcp_request() -> PcpMapRequest {
        PcpMapRequest {
            client_address: IpAddr::from([10, 77, 0, 2]),
            nonce: NONCE,
            protocol: Protocol::Udp,
            internal_port: 40500,
            suggested_external_port: 40501,
            suggested_external_address: None,
            lifetime_secs: 3600,
        }
    }

    /// A MAP answer as a server builds it (RFC 6887 §7.2, §11.1), by hand.
    fn pcp_answer(result: u8, nonce: Nonce, protocol: u8, internal: u16) -> Vec<u8> {
        let mut b = vec![2, 0x81, 0, result];
        b.extend_from_slice(&3600u32.to_be_bytes()); // lifetime
        b.extend_from_slice(&77u32.to_be_bytes()); // epoch
        b.extend_from_slice(&[0; 12]); // reserved
        b.extend_from_slice(&nonce);
        b.extend_from_slice(&[protocol, 0, 0, 0]);
        b.extend_from_slice(&internal.to_be_bytes());
        b.extend_from_slice(&40501u16.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 11, 22, 33, 44]);
        b
    }

    #[test]
    fn pcp_map_request_bytes() {
        let b = pcp_request().encode();
        let expected: [u8; 60] = [
            2, 1, 0, 0, 0, 0, 0x0e, 0x10, // version, opcode MAP, reserved, lifetime 3600
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 2, // client ::ffff:10.77.0.2
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, // nonce
            17, 0, 0, 0, // UDP, reserved
            0x9e, 0x34, 0x9e, 0x35, // internal 40500, suggested 40501
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, // no suggested address
        ];
        assert_eq!(b, expected);
        let tcp = PcpMapRequest { protocol: Protocol::Tcp, ..pcp_request() }.encode();
        assert_eq!(tcp[36], 6);
    }

    #[test]
    fn pcp_map_success_is_decoded() {
        let answer = pcp_answer(0, NONCE, 17, 40500);
        let reply = decode_pcp_map_response(&pcp_request(), &answer).unwrap();
        assert_eq!(
            reply,
            Reply::Success(PcpMapResponse {
                lifetime_secs: 3600,
                epoch_secs: 77,
                external_port: 40501,
                external_address: Some(IpAddr::from([11, 22, 33, 44])),
            })
        );
        // Options after the payload are allowed and skipped.
        let mut with_option = answer.clone();
        with_option.extend_from_slice(&[0x80, 0, 0, 0]);
        assert!(matches!(decode_pcp_map_response(&pcp_request(), &with_option), Ok(Reply::Success(_))));
    }

    #[test]
    fn a_real_miniupnpd_answer_is_decoded() {
        // Captured from miniupnpd 2.3.1 in the test bed.
        let hex = "0281000000000e1000000001000000000000000000000000f578397e03386f02c976b74c\
                   110000009e349e3400000000000000000000ffff0b16212c";
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&bytes[24..36]);
        let request = PcpMapRequest { nonce, suggested_external_port: 40500, ..pcp_request() };
        let Ok(Reply::Success(r)) = decode_pcp_map_response(&request, &bytes) else { panic!("not a success") };
        assert_eq!((r.external_port, r.lifetime_secs, r.epoch_secs), (40500, 3600, 1));
        assert_eq!(r.external_address, Some(IpAddr::from([11, 22, 33, 44])));
    }

    #[test]
    fn pcp_answers_for_something_else_are_unrelated() {
        let request = pcp_request();
        let mut other_nonce = NONCE;
        other_nonce[0] ^= 1;
        for (why, datagram) in [
            ("nonce", pcp_answer(0, other_nonce, 17, 40500)),
            ("protocol", pcp_answer(0, NONCE, 6, 40500)),
            ("internal port", pcp_answer(0, NONCE, 17, 40600)),
            ("a request", request.encode().to_vec()),
            ("a PEER answer", {
                let mut b = pcp_answer(0, NONCE, 17, 40500);
                b[1] = 0x82;
                b
            }),
        ] {
            assert!(matches!(decode_pcp_map_response(&request, &datagram), Err(DecodeError::Unrelated(_))), "{why}");
        }
    }

    #[test]
    fn pcp_refusals_and_version_mismatches() {
        let request = pcp_request();
        let refused = pcp_answer(2, NONCE, 17, 40500);
        assert_eq!(
            decode_pcp_map_response(&request, &refused),
            Ok(Reply::Refused(ResultCode { method: PmpMethod::Pcp, code: 2 }))
        );
        // An error answer may carry only the header; nothing in it is ours (no nonce), so
        // it is held back as unverified rather than taken as the answer.
        for code in [2u8, 8] {
            let short_error = &pcp_answer(code, NONCE, 17, 40500)[..24];
            assert_eq!(
                decode_pcp_map_response(&request, short_error),
                Err(DecodeError::Unverified(ResultCode { method: PmpMethod::Pcp, code: u16::from(code) }))
            );
        }
        // A PCP server of another version.
        let mut v1 = pcp_answer(1, NONCE, 17, 40500);
        v1[0] = 1;
        assert_eq!(decode_pcp_map_response(&request, &v1), Ok(Reply::UnsupportedVersion { server_version: 1 }));
        assert_eq!(
            decode_pcp_map_response(&request, &pcp_answer(1, NONCE, 17, 40500)),
            Ok(Reply::UnsupportedVersion { server_version: 2 })
        );
        // A NAT-PMP-only gateway: version 0, opcode 128 + 1, UNSUPPORTED_VERSION, epoch
        // (miniupnpd's form).
        let natpmp = [0, 0x81, 0, 1, 0, 0, 0, 9];
        assert_eq!(decode_pcp_map_response(&request, &natpmp), Ok(Reply::UnsupportedVersion { server_version: 0 }));
        // The same in RFC 6886 §3.5's literal form, whose opcode byte is 0 (no R bit).
        let rfc_natpmp = [0, 0, 0, 1, 0, 0, 0, 9];
        assert_eq!(decode_pcp_map_response(&request, &rfc_natpmp), Ok(Reply::UnsupportedVersion { server_version: 0 }));
        // A NAT-PMP request (reserved bytes 0) is still not an answer.
        assert!(matches!(decode_pcp_map_response(&request, &[0, 0, 0, 0]), Err(DecodeError::Unrelated(_))));
    }

    #[test]
    fn malformed_pcp_datagrams_are_errors() {
        let request = pcp_request();
        let full = pcp_answer(0, NONCE, 17, 40500);
        for len in 0..full.len() {
            match decode_pcp_map_response(&request, &full[..len]) {
                Err(DecodeError::Malformed(_)) => {}
                other => panic!("{len} bytes gave {other:?}"),
            }
        }
        let mut long = full.clone();
        long.resize(PCP_MAX_LEN + 4, 0);
        assert!(matches!(decode_pcp_map_response(&request, &long), Err(DecodeError::Malformed(_))));
        let mut v1_success = full;
        v1_success[0] = 1;
        assert!(matches!(decode_pcp_map_response(&request, &v1_success), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn natpmp_requests_bytes() {
        assert_eq!(encode_natpmp_external_address_request(), [0, 0]);
        let udp = NatPmpMapRequest {
            protocol: Protocol::Udp,
            internal_port: 40500,
            suggested_external_port: 40501,
            lifetime_secs: 7200,
        };
        assert_eq!(udp.encode(), [0, 1, 0, 0, 0x9e, 0x34, 0x9e, 0x35, 0, 0, 0x1c, 0x20]);
        let delete_tcp =
            NatPmpMapRequest { protocol: Protocol::Tcp, suggested_external_port: 0, lifetime_secs: 0, ..udp };
        assert_eq!(delete_tcp.encode(), [0, 2, 0, 0, 0x9e, 0x34, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn natpmp_map_answers() {
        let request = NatPmpMapRequest {
            protocol: Protocol::Tcp,
            internal_port: 40600,
            suggested_external_port: 40600,
            lifetime_secs: 3600,
        };
        // Captured from miniupnpd 2.3.1.
        let ok = [0x00, 0x82, 0, 0, 0, 0, 0, 1, 0x9e, 0x98, 0x9e, 0x98, 0, 0, 0x0e, 0x10];
        assert_eq!(
            decode_natpmp_map_response(&request, &ok),
            Ok(Reply::Success(NatPmpMapResponse { epoch_secs: 1, external_port: 40600, lifetime_secs: 3600 }))
        );
        let mut refused = ok;
        refused[3] = 2;
        assert_eq!(
            decode_natpmp_map_response(&request, &refused),
            Ok(Reply::Refused(ResultCode { method: PmpMethod::NatPmp, code: 2 }))
        );
        // Error answers are accepted from 8 bytes on (some gateways stop after the epoch).
        assert_eq!(
            decode_natpmp_map_response(&request, &[0, 0x82, 0, 4, 0, 0, 0, 1]),
            Ok(Reply::Refused(ResultCode { method: PmpMethod::NatPmp, code: 4 }))
        );
        assert_eq!(
            decode_natpmp_map_response(&request, &[0, 0x82, 0, 1, 0, 0, 0, 1]),
            Ok(Reply::UnsupportedVersion { server_version: 0 })
        );
        let udp_answer = [0x00, 0x81, 0, 0, 0, 0, 0, 1, 0x9e, 0x98, 0x9e, 0x98, 0, 0, 0x0e, 0x10];
        assert!(matches!(decode_natpmp_map_response(&request, &udp_answer), Err(DecodeError::Unrelated(_))));
        let mut other_port = ok;
        other_port[9] = 0;
        assert!(matches!(decode_natpmp_map_response(&request, &other_port), Err(DecodeError::Unrelated(_))));
        assert!(matches!(decode_natpmp_map_response(&request, &request.encode()), Err(DecodeError::Unrelated(_))));
        for len in 0..ok.len() {
            assert!(
                matches!(decode_natpmp_map_response(&request, &ok[..len]), Err(DecodeError::Malformed(_))),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn natpmp_address_answers() {
        let ok = [0, 0x80, 0, 0, 0, 0, 0, 1, 0x0b, 0x16, 0x21, 0x2c];
        assert_eq!(
            decode_natpmp_address_response(&ok),
            Ok(Reply::Success(NatPmpAddressResponse { epoch_secs: 1, address: Ipv4Addr::new(11, 22, 33, 44) }))
        );
        assert_eq!(
            decode_natpmp_address_response(&[0, 0x80, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0]),
            Ok(Reply::Refused(ResultCode { method: PmpMethod::NatPmp, code: 3 }))
        );
        assert!(matches!(decode_natpmp_address_response(&[0, 0x81, 0, 0]), Err(DecodeError::Unrelated(_))));
        assert!(matches!(decode_natpmp_address_response(&[2, 0x80, 0, 0]), Err(DecodeError::Unrelated(_))));
        for len in 0..ok.len() {
            assert!(matches!(decode_natpmp_address_response(&ok[..len]), Err(DecodeError::Malformed(_))), "{len}");
        }
    }

    /// What a PCP-only server sends back for a NAT-PMP request with `opcode`: a PCP
    /// header with its own version, the request's opcode with the R bit, UNSUPP_VERSION.
    fn pcp_unsupp_version(opcode: u8) -> Vec<u8> {
        let mut b = vec![2, 0x80 | opcode, 0, 1];
        b.extend_from_slice(&0u32.to_be_bytes()); // lifetime
        b.extend_from_slice(&7u32.to_be_bytes()); // epoch
        b.extend_from_slice(&[0; 12]);
        b
    }

    #[test]
    fn natpmp_decoders_recognise_a_pcp_only_server() {
        const PCP: Reply<()> = Reply::UnsupportedVersion { server_version: 2 };
        let address = decode_natpmp_address_response(&pcp_unsupp_version(0));
        assert_eq!(address.map(|r| r.map(drop)), Ok(PCP));
        let udp = NatPmpMapRequest {
            protocol: Protocol::Udp,
            internal_port: 1,
            suggested_external_port: 1,
            lifetime_secs: 1,
        };
        assert_eq!(decode_natpmp_map_response(&udp, &pcp_unsupp_version(1)).map(|r| r.map(drop)), Ok(PCP));
        let tcp = NatPmpMapRequest { protocol: Protocol::Tcp, ..udp.clone() };
        assert_eq!(decode_natpmp_map_response(&tcp, &pcp_unsupp_version(2)).map(|r| r.map(drop)), Ok(PCP));
        // Not an answer to this request: another opcode, another result (an unsolicited
        // ANNOUNCE is opcode 0 with SUCCESS), no R bit, or no full PCP header.
        let mut announce = pcp_unsupp_version(0);
        announce[3] = 0;
        let mut request = pcp_unsupp_version(0);
        request[1] = 0;
        for (why, datagram) in [
            ("opcode", pcp_unsupp_version(1)),
            ("result", announce),
            ("request", request),
            ("short", pcp_unsupp_version(0)[..20].to_vec()),
        ] {
            assert!(matches!(decode_natpmp_address_response(&datagram), Err(DecodeError::Unrelated(_))), "{why}");
        }
        assert!(matches!(decode_natpmp_map_response(&udp, &pcp_unsupp_version(2)), Err(DecodeError::Unrelated(_))));
    }

    #[test]
    fn retransmission_schedules() {
        let ms = Duration::from_millis;
        // NAT-PMP (RFC 6886 §3.1): 250 ms, doubling, no randomness, 9 sends.
        assert_eq!(retransmit_interval(PmpMethod::NatPmp, None, 0.0), ms(250));
        assert_eq!(retransmit_interval(PmpMethod::NatPmp, Some(ms(250)), 1.0), ms(500));
        assert_eq!(retransmit_interval(PmpMethod::NatPmp, Some(ms(32_000)), 0.5), ms(64_000));
        assert_eq!(max_transmissions(PmpMethod::NatPmp), Some(9));
        // PCP (RFC 6887 §8.1.1): RT = (1 + RAND) * IRT, then (1 + RAND) * MIN(2 * RTprev,
        // MRT), RAND in [-0.1, +0.1], no count limit.
        let close = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_micros(1);
        assert!(close(retransmit_interval(PmpMethod::Pcp, None, 0.5), ms(3000)));
        assert!(close(retransmit_interval(PmpMethod::Pcp, None, 0.0), ms(2700)));
        assert!(close(retransmit_interval(PmpMethod::Pcp, None, 1.0), ms(3300)));
        assert!(close(retransmit_interval(PmpMethod::Pcp, Some(ms(3000)), 0.5), ms(6000)));
        assert!(close(retransmit_interval(PmpMethod::Pcp, Some(ms(2700)), 0.0), ms(4860)));
        assert!(close(retransmit_interval(PmpMethod::Pcp, Some(ms(700_000)), 0.5), ms(1_024_000)));
        assert!(close(retransmit_interval(PmpMethod::Pcp, Some(ms(1_024_000)), 1.0), ms(1_126_400)));
        assert_eq!(max_transmissions(PmpMethod::Pcp), None);
        // Out-of-range randomness is clamped, never a negative or huge wait.
        assert!(close(retransmit_interval(PmpMethod::Pcp, None, -5.0), ms(2700)));
        assert!(close(retransmit_interval(PmpMethod::Pcp, None, f64::NAN), ms(2700)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every length up to 80 with several fillings.
        let request = pcp_request();
        let natpmp = NatPmpMapRequest {
            protocol: Protocol::Udp,
            internal_port: 1,
            suggested_external_port: 1,
            lifetime_secs: 1,
        };
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..80 {
            for fill in 0..16u8 {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        match fill {
                            0 => 0,
                            1 => 0xff,
                            2 if i < 2 => [2u8, 0x81][i],
                            3 if i < 2 => [0u8, 0x80][i],
                            _ => state as u8,
                        }
                    })
                    .collect();
                let _ = decode_pcp_map_response(&request, &bytes);
                let _ = decode_natpmp_map_response(&natpmp, &bytes);
                let _ = decode_natpmp_address_response(&bytes);
            }
        }
    }

    #[test]
    fn round_trips_through_a_server_view() {
        // What a server reads from our request is what we asked for.
        let request =
            PcpMapRequest { suggested_external_address: Some(IpAddr::from([11, 22, 33, 44])), ..pcp_request() };
        let b = request.encode();
        let mut field = [0u8; 16];
        field.copy_from_slice(&b[8..24]);
        assert_eq!(from_pcp_address(field), Some(request.client_address));
        field.copy_from_slice(&b[44..60]);
        assert_eq!(from_pcp_address(field), request.suggested_external_address);
        assert_eq!(be32(&b, 4), request.lifetime_secs);
        assert_eq!((be16(&b, 40), be16(&b, 42)), (request.internal_port, request.suggested_external_port));
        // And the server's echo of it decodes back to the same values.
        let mut answer = b.to_vec();
        answer[1] |= 0x80;
        let Ok(Reply::Success(r)) = decode_pcp_map_response(&request, &answer) else { panic!() };
        assert_eq!(r.external_port, request.suggested_external_port);
        assert_eq!(r.external_address, request.suggested_external_address);
        assert_eq!(from_ipv4_mapped([0; 16]), None, "a real IPv6 address (::) is not IPv4");
        assert_eq!(from_ipv4_mapped(ipv4_mapped(Ipv4Addr::UNSPECIFIED)), None);
    }

    #[test]
    fn result_codes_map_to_engine_results() {
        let pmp = |code| ResultCode { method: PmpMethod::NatPmp, code }.upnp_result();
        let pcp = |code| ResultCode { method: PmpMethod::Pcp, code }.upnp_result();
        assert_eq!(pmp(0), UpnpResult::Success);
        assert_eq!(pmp(1), UpnpResult::InvalidGateway);
        assert_eq!(pmp(2), UpnpResult::NotAuthorized);
        assert_eq!(pmp(3), UpnpResult::ActionFailed);
        assert_eq!(pmp(4), UpnpResult::NoPortMapsAvailable);
        assert_eq!(pmp(5), UpnpResult::InvalidGateway);
        assert_eq!(pmp(6), UpnpResult::UnknownError);
        assert_eq!(pcp(1), UpnpResult::InvalidGateway);
        assert_eq!(pcp(2), UpnpResult::NotAuthorized);
        assert_eq!(pcp(3), UpnpResult::InvalidArgs);
        assert_eq!(pcp(7), UpnpResult::ActionFailed);
        assert_eq!(pcp(8), UpnpResult::NoPortMapsAvailable);
        assert_eq!(pcp(10), UpnpResult::NoPortMapsAvailable);
        assert_eq!(pcp(11), UpnpResult::ConflictWithOtherMapping);
        assert_eq!(pcp(12), UpnpResult::ActionFailed);
        assert_eq!(pcp(200), UpnpResult::UnknownError);
        assert_eq!(ResultCode { method: PmpMethod::Pcp, code: 8 }.to_string(), "PCP result 8 (NO_RESOURCES)");
        assert_eq!(
            ResultCode { method: PmpMethod::NatPmp, code: 4 }.to_string(),
            "NAT-PMP result 4 (OUT_OF_RESOURCES)"
        );
        assert_eq!(ResultCode { method: PmpMethod::Pcp, code: 99 }.name(), None);
    }

    #[test]
    fn a_pcp_request_from_an_ipv6_address_asks_for_a_pinhole() {
        let ours: Ipv6Addr = "fd77::2".parse().unwrap();
        let request =
            PcpMapRequest { client_address: IpAddr::V6(ours), suggested_external_address: None, ..pcp_request() };
        let b = request.encode();
        assert_eq!(b[8..24], ours.octets(), "the client address as is, not IPv4-mapped");
        assert_eq!(b[44..60], [0u8; 16], "no preference: the IPv6 all-zeros address (RFC 6887 §11.1)");
        // An IPv4 client's "no preference" stays ::ffff:0.0.0.0.
        let v4 = PcpMapRequest { suggested_external_address: None, ..pcp_request() }.encode();
        assert_eq!(v4[44..60], ipv4_mapped(Ipv4Addr::UNSPECIFIED));
        assert_eq!(from_pcp_address(ours.octets()), Some(IpAddr::V6(ours)));
        assert_eq!(from_pcp_address([0; 16]), None);
        assert_eq!(from_pcp_address(ipv4_mapped(Ipv4Addr::UNSPECIFIED)), None);
        assert_eq!(from_pcp_address(ipv4_mapped(Ipv4Addr::new(11, 22, 33, 44))), Some(IpAddr::from([11, 22, 33, 44])));
    }
}
