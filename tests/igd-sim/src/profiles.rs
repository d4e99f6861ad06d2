//! Real routers' quirks, replayed: one profile per behaviour seen in the field, each built
//! from a public capture or report and citing it. A profile is the devices to give
//! [`crate::Simulator::start`] (on the IP given, any port), so a test runs the real client
//! against it end to end. The descriptions are in `data/profiles/` (trimmed to what a
//! client reads; see `data/README.md`).
//!
//! Snapshot cited as "TS upnp_test.go": tailscale/tailscale `net/portmapper/upnp_test.go`
//! and `select_test.go` at de9ec7ee25627e0e518f53c710a3fc3d947c86c1.

use crate::spec::{
    Arrival, ConnectionState, Content, DeviceSpec, HttpBehavior, IgdVersion, Ipv6Firewall, RawAnswer, SoapSpec,
    SsdpAnswer, SsdpBehavior,
};
use std::net::IpAddr;

/// MikroTik CHR 7.10's description: two WANDevices, each with one WANConnectionDevice
/// holding a WANIPConnection:1 (tailscale/tailscale#8364; fixture `mikrotikRootDescXML`
/// in TS upnp_test.go).
pub const MIKROTIK_CHR_DESCRIPTION: &[u8] = include_bytes!("../data/profiles/mikrotik-chr-7.10.xml");
/// The control path of the MikroTik's first WANIPConnection (WAN device 1).
pub const MIKROTIK_FIRST_CONTROL: &str = "/upnp/control/yomkmsnooi/wanipconn-1";
/// The control path of the MikroTik's second WANIPConnection (WAN device 7).
pub const MIKROTIK_SECOND_CONTROL: &str = "/upnp/control/xstnsgeuyh/wanipconn-7";

/// Huawei HG531 V1's description: only `urn:dslforum-org` names (TR-064), its one
/// connection service a `urn:dslforum-org:service:WANPPPConnection:1`
/// (tailscale/tailscale#10911; fixture `huaweiRootDescXML` in TS upnp_test.go).
pub const HUAWEI_HG531_DESCRIPTION: &[u8] = include_bytes!("../data/profiles/huawei-hg531-v1.xml");
/// The control path of the Huawei's WANPPPConnection.
pub const HUAWEI_CONTROL: &str = "/ctrlt/WANPPPConnection_1";

/// The WFADevice (Wi-Fi Protected Setup) description a Sagemcom FAST3890V3 answers
/// `ssdp:all` with (tailscale/tailscale#3557, the capture in the 2022-08-29 comment:
/// `ST: urn:schemas-wifialliance-org:device:WFADevice:1`, `upnp:rootdevice` and its
/// `uuid:`, all with the WFADevice's LOCATION).
pub const SAGEMCOM_WFA_DESCRIPTION: &[u8] = include_bytes!("../data/profiles/sagemcom-wfadevice.xml");

/// An IGDv1 description whose every element carries a namespace prefix (`ns0:`), bound
/// to the UPnP device namespace: legal XML that a parser matching `<root>` literally
/// refuses. Written for the simulator: prefixes are any identifier the device's XML
/// writer picks (StevenLooman/async_upnp_client#222 shows `m:` where `u:` is usual).
pub const PREFIXED_DESCRIPTION: &[u8] = include_bytes!("../data/profiles/prefixed-igdv1.xml");

/// TP-Link ER605's SSDP answer (tailscale/tailscale#7377, the log of 2023-03-04): sent
/// from an ephemeral source port (41212, 49883, ...) rather than 1900, headers in this
/// order. Orange FunBox6 (tailscale/tailscale#14344) and Sagemcom Home Hub 3000
/// (tailscale/tailscale#10771, "discovery response from non-UPnP port 52269") do the same.
pub const ER605_ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=100\r\nDATE: Sat, 04 Mar 2023 08:46:08 GMT\r\n\
EXT:\r\nLOCATION: {LOCATION}\r\nSERVER: TP-Link SMB ER605, UPnP/1.0\r\nST: {ST}\r\nUSN: {USN}\r\n\r\n";

/// A router whose SSDP answers come from a port of their own, not 1900 and not the port
/// the search went to (the simulator always answers from each device's own socket; this
/// profile also copies the ER605's answer, see [`ER605_ANSWER`]). IGDv1, works otherwise.
pub fn answers_from_another_port(ip: IpAddr) -> DeviceSpec {
    let answer = RawAnswer { answer_to: IgdVersion::V1.search_targets(), ..RawAnswer::one(ER605_ANSWER) };
    DeviceSpec::igd_v1().on_ip(ip).with_ssdp(SsdpBehavior::Raw(answer))
}

/// Tailscale's portmapper on why it searches both ways (tailscale/tailscale
/// `net/portmapper/portmapper.go` at d39b7169b8caa9f6ed2642161d995224fbeb3d45, the
/// comment before its M-SEARCH sends): "many home routers also respond to SSDP queries
/// directed at udp/1900 on their LAN unicast IP", "the specs do not _require_ UPnP
/// devices to respond to unicast SSDP queries, so some conformant UPnP implementations
/// only respond to multicast queries" (tailscale/tailscale#3197 is one), and "some LANs
/// and OSes have broken multicast", where only the unicast query gets through.
///
/// A router that answers only searches sent to the group (tailscale/tailscale#3197):
/// IGDv1, works otherwise. Multicast mode only: in unicast mode it never answers.
pub fn answers_only_multicast(ip: IpAddr) -> DeviceSpec {
    let answer = SsdpAnswer::for_targets(IgdVersion::V1.search_targets()).only_to(Arrival::Multicast);
    DeviceSpec::igd_v1().on_ip(ip).with_ssdp(SsdpBehavior::Answer(answer))
}

/// A router that answers only searches sent to its own address, port 1900: what a client
/// sees of a router whose multicast is broken on the LAN (see [`answers_only_multicast`]
/// for the source). IGDv1, works otherwise.
pub fn answers_only_unicast(ip: IpAddr) -> DeviceSpec {
    let answer = SsdpAnswer::for_targets(IgdVersion::V1.search_targets()).only_to(Arrival::Unicast);
    DeviceSpec::igd_v1().on_ip(ip).with_ssdp(SsdpBehavior::Answer(answer))
}

/// A FRITZ!Box answering the IPv6 link-local group from its `fe80::` address, naming
/// that address without a zone in `LOCATION` (home-assistant/core#71418, a FRITZ!Box
/// 7590: `ssdp_location='http://[fe80::464e:6dff:fe69:ce8b%3]:49000/igddesc.xml'`, the
/// `%3` being the client's addition: async_upnp_client adds the scope since 0.25,
/// home-assistant/core#69127, which shows the same for `fboxdesc.xml`). `addr` is the link-local address with the scope the simulator binds
/// on (its LOCATION is written without it). IGDv1, works otherwise.
pub fn link_local_location(addr: std::net::SocketAddrV6) -> DeviceSpec {
    DeviceSpec::igd_v1().at(addr.into())
}

/// Sagemcom FAST3890V3 (tailscale/tailscale#3557): `ssdp:all` is answered only by its
/// WFADevice (device 0); its IGD (device 1, same IP, another port, as the capture's
/// `:1990/.../WFADevice.xml` and `:49153/.../gatedesc0b.xml`) answers only searches that
/// name it, such as `InternetGatewayDevice:1`.
pub fn ssdp_all_finds_only_a_wfa_device(ip: IpAddr) -> Vec<DeviceSpec> {
    let wfa_targets = vec![
        "upnp:rootdevice".to_string(),
        "urn:schemas-wifialliance-org:device:WFADevice:1".to_string(),
        "urn:schemas-wifialliance-org:service:WFAWLANConfig:1".to_string(),
    ];
    let wfa = DeviceSpec::igd_v1()
        .on_ip(ip)
        .with_ssdp(SsdpBehavior::Answer(SsdpAnswer::for_targets(wfa_targets)))
        .with_http(HttpBehavior::Serve(Content::Bytes(SAGEMCOM_WFA_DESCRIPTION.to_vec())));
    let igd_targets = vec![
        "urn:schemas-upnp-org:device:InternetGatewayDevice:1".to_string(),
        "urn:schemas-upnp-org:service:WANIPConnection:1".to_string(),
    ];
    let igd = DeviceSpec::igd_v1()
        .on_ip(ip)
        .with_ssdp(SsdpBehavior::Answer(SsdpAnswer::for_targets(igd_targets).without_ssdp_all()));
    vec![wfa, igd]
}

/// MikroTik CHR 7.10 with two WAN links (tailscale/tailscale#8364; TS select_test.go
/// cases `first_device_disconnected`, `prefer_public_external_IP`): what its two
/// WANIPConnections answer is given, in description order.
pub fn mikrotik_two_wans(ip: IpAddr, first: (&str, &str), second: (&str, &str)) -> DeviceSpec {
    let soap = SoapSpec {
        connections: vec![
            ConnectionState::new(MIKROTIK_FIRST_CONTROL, first.0, first.1),
            ConnectionState::new(MIKROTIK_SECOND_CONTROL, second.0, second.1),
        ],
        ..SoapSpec::new(IgdVersion::V1)
    };
    DeviceSpec::igd_v1()
        .on_ip(ip)
        .with_http(HttpBehavior::Serve(Content::Bytes(MIKROTIK_CHR_DESCRIPTION.to_vec())))
        .with_soap(soap)
}

/// Huawei HG531 V1 (tailscale/tailscale#10911; TS upnp_test.go
/// `TestGetUPnPPortMapping_Legacy`): only `urn:dslforum-org` names. Its SOAP answers
/// name the service type the request names, as the fixture's do
/// (`xmlns:u="urn:dslforum-org:service:WANPPPConnection:1"`).
pub fn huawei_dslforum_only(ip: IpAddr) -> DeviceSpec {
    DeviceSpec::igd_v1().on_ip(ip).with_http(HttpBehavior::Serve(Content::Bytes(HUAWEI_HG531_DESCRIPTION.to_vec())))
}

/// A connected router whose `GetExternalIPAddress` says `0.0.0.0` (tailscale/corp#23538,
/// cited by TS upnp_test.go `TestGetUPnPPortMapping_Invalid`, which refuses it).
pub fn external_address_unspecified(ip: IpAddr) -> DeviceSpec {
    DeviceSpec::igd_v1()
        .on_ip(ip)
        .with_soap(SoapSpec { external_ip: "0.0.0.0".into(), ..SoapSpec::new(IgdVersion::V1) })
}

/// What comes before the IGDv1 description in [`description_with_prefix_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptionLead {
    /// A tab and a newline before `<?xml`: what syncthing 0.10.3 put before its SOAP
    /// body and MikroTik RB951G refused with HTTP 400 (syncthing/syncthing#914, the
    /// `09 3c 3f 78 6d 6c` in its capture); here in a description, for the client to
    /// tolerate what it would not send.
    Whitespace,
    /// A UTF-8 byte order mark (`EF BB BF`): Belkin WeMo's XML
    /// (pupnp/pupnp#412, fixed in pupnp/pupnp#413 by skipping it).
    Bom,
    /// A BOM, then whitespace.
    BomAndWhitespace,
}

/// The captured IGDv1 description with `lead` before it; works otherwise.
pub fn description_with_prefix_bytes(ip: IpAddr, lead: DescriptionLead) -> DeviceSpec {
    let lead: &[u8] = match lead {
        DescriptionLead::Whitespace => b"\t\n",
        DescriptionLead::Bom => b"\xEF\xBB\xBF",
        DescriptionLead::BomAndWhitespace => b"\xEF\xBB\xBF \r\n",
    };
    let mut body = lead.to_vec();
    body.extend_from_slice(crate::IGD_V1_DESCRIPTION);
    DeviceSpec::igd_v1().on_ip(ip).with_http(HttpBehavior::Serve(Content::Bytes(body)))
}

/// A router whose description prefixes every element ([`PREFIXED_DESCRIPTION`]).
pub fn description_with_namespace_prefixes(ip: IpAddr) -> DeviceSpec {
    DeviceSpec::igd_v1().on_ip(ip).with_http(HttpBehavior::Serve(Content::Bytes(PREFIXED_DESCRIPTION.to_vec())))
}

/// A router whose SOAP envelopes (answers and faults) use `prefix` instead of `s`:
/// `SOAP` for ARRIS NVG578LX (tailscale/tailscale#15223, its 402 fault in
/// `<SOAP:Envelope>`), `SOAP-ENV` for TP-Link Archer C8 (ofekp/TinyUPnP#1, its 401
/// fault).
pub fn soap_envelope_prefix(ip: IpAddr, prefix: &str) -> DeviceSpec {
    DeviceSpec::igd_v1()
        .on_ip(ip)
        .with_soap(SoapSpec { envelope_prefix: prefix.to_string(), ..SoapSpec::new(IgdVersion::V1) })
}

/// MikroTik (tailscale/tailscale#9343; nicotine-plus/nicotine-plus#2200, "hAP ac":
/// `Error code 725: OnlyPermanentLeasesSupported`): every add with a lease other than 0
/// fails with 725; lease 0 is taken (and is permanent on the real router). Follow-on:
/// permanent rules piled up when a client retried on other ports
/// (tailscale/tailscale#10602, tailscale/tailscale#20781).
pub fn permanent_leases_only(ip: IpAddr) -> DeviceSpec {
    DeviceSpec::igd_v1().on_ip(ip).with_soap(SoapSpec { refuse_leases: Some(725), ..SoapSpec::new(IgdVersion::V1) })
}

/// ARRIS NVG578LX (tailscale/tailscale#15223): an add with a lease other than 0 fails
/// with 402 Invalid Args, in a `SOAP:`-prefixed envelope; lease 0 works.
pub fn invalid_args_for_leases(ip: IpAddr) -> DeviceSpec {
    DeviceSpec::igd_v1().on_ip(ip).with_soap(SoapSpec {
        refuse_leases: Some(402),
        envelope_prefix: "SOAP".into(),
        ..SoapSpec::new(IgdVersion::V1)
    })
}

/// A router that answers 501 ActionFailed where 718 ConflictInMappingEntry is meant:
/// the port is held by another client (nicotine-plus/nicotine-plus#2088, Linksys:
/// "Error code 501: ActionFailed" for a port forwarded to another address). libtorrent
/// treats 501 like 718 and tries another port: arvidn/libtorrent `src/upnp.cpp` at
/// 069017e3348e8998ad585c86a5b7eba035d47006, "some routers return 501 action failed".
pub fn action_failed_for_conflicts(ip: IpAddr) -> DeviceSpec {
    DeviceSpec::igd_v1().on_ip(ip).with_soap(SoapSpec { conflict_code: 501, ..SoapSpec::new(IgdVersion::V1) })
}

/// An IGDv2 router whose IPv6 firewall is off (`GetFirewallStatus`: `FirewallEnabled`
/// 0): every pinhole action fails with 702 FirewallDisabled, as miniupnpd's `CheckStatus`
/// answers (see [`Ipv6Firewall`] for the source); inbound IPv6 needs no pinhole there.
/// What a router with its IPv6 firewall switched off in its settings would say: Debian's
/// miniupnpd 2.3.1 has no option that makes it say so (the runtime flag
/// `IPV6FCFWDISABLEDMASK` is never set), so the test bed cannot. Its IPv4 side works.
pub fn ipv6_firewall_off(ip: IpAddr) -> DeviceSpec {
    ipv6_firewall(ip, Ipv6Firewall::Off)
}

/// An IGDv2 router whose IPv6 firewall is on and lets no pinhole be opened
/// (`InboundPinholeAllowed` 0): every pinhole action fails with 703
/// InboundPinholeNotAllowed (miniupnpd's `CheckStatus` again; its flag
/// `IPV6FCINBOUNDDISALLOWEDMASK` is never set by any option either). Its IPv4 side works.
pub fn ipv6_inbound_pinholes_disallowed(ip: IpAddr) -> DeviceSpec {
    ipv6_firewall(ip, Ipv6Firewall::NoInboundPinholes)
}

fn ipv6_firewall(ip: IpAddr, firewall: Ipv6Firewall) -> DeviceSpec {
    DeviceSpec::igd_v2()
        .on_ip(ip)
        .with_soap(SoapSpec { ipv6_firewall: Some(firewall), ..SoapSpec::new(IgdVersion::V2) })
}
