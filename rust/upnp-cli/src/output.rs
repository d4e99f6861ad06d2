//! Printing results as text for people or JSON for scripts.

use crate::diagnose::Diagnosis;
use serde_json::{Value, json};
use std::net::Ipv6Addr;
use std::time::Duration;
use upnp_core::gateway::StatusInfo;
use upnp_core::protocol::igd::{ExternalAddressKind, classify_external_address};
use upnp_core::protocol::pinhole::{self, FirewallStatus, Pinhole};
use upnp_core::{Device, Discovery, Error, Firewall, Gateway, MappingArgs, PortMappingEntry, Protocol};

/// Where results go: text or JSON on stdout, failures on stderr (or JSON on stdout).
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    fn print_json(&self, value: Value) {
        println!("{value}");
    }

    /// One line saying what failed and what to try.
    pub fn failure(&self, what: &str, e: &Error) {
        let result = e.result();
        if self.json {
            self.print_json(json!({
                "error": format!("{what} failed: {e}"),
                "result": result.code(),
                "result_name": result.constant_name(),
                "upnp_code": e.upnp_code(),
                "hint": e.hint(),
            }));
        } else {
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            eprintln!("upnp: {what} failed: {e} [{}]{hint}", result.constant_name());
        }
    }

    pub fn discovery(&self, d: &Discovery) {
        if self.json {
            self.print_json(json!({
                "devices": d.devices.iter().map(device_json).collect::<Vec<_>>(),
                "answers": d.answers,
                "elapsed_ms": d.elapsed.as_secs_f64() * 1000.0,
                "notes": d.notes,
            }));
            return;
        }
        println!(
            "{} device(s) in {:.0} ms ({} distinct answers)",
            d.devices.len(),
            d.elapsed.as_secs_f64() * 1000.0,
            d.answers
        );
        for (i, device) in d.devices.iter().enumerate() {
            println!("{i}: {} [{}]", device.description_url, device.status.constant_name());
            println!("   st: {}", device.service_type);
            if let Some(g) = &device.gateway {
                println!("   control: {} ({})", g.control_url(), g.service_type());
                println!("   our address: {}", g.local_address());
            }
            if let Some(a) = &device.external_address {
                println!("   external address: {}", address_text(a));
            }
            if !device.note.is_empty() {
                println!("   note: {}", device.note);
            }
        }
        for note in &d.notes {
            println!("note: {note}");
        }
    }

    /// The `diagnose` report.
    pub fn diagnosis(&self, d: &Diagnosis) {
        let (address, source, kind) = d.external_address();
        let advice = d.advice();
        let stun_json = d.stun.as_ref().map(|(server, answer)| {
            let seen = answer.as_ref().ok();
            json!({
                "server": server,
                "answered": seen.is_some(),
                "address": seen.map(|a| a.mapped.ip().to_string()),
                "port": seen.map(|a| a.mapped.port()),
                "same_as_external": seen.map(|a| a.mapped.ip().to_string() == address),
                "error": answer.as_ref().err().map(ToString::to_string),
            })
        });
        if self.json {
            let interfaces: Vec<Value> = d
                .interfaces
                .iter()
                .map(|i| {
                    json!({
                        "name": i.name,
                        "index": i.index,
                        "ipv4": i.ipv4.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "ipv6": i.ipv6.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "gateway": i.gateway_v4.map(|g| g.to_string()),
                        "point_to_point": i.point_to_point,
                    })
                })
                .collect();
            let devices: Vec<Value> = d
                .devices()
                .iter()
                .enumerate()
                .map(|(n, device)| {
                    let mut v = device_json(device);
                    v["chosen"] = json!(d.chosen() == Some(n));
                    v["why"] = json!(d.why(n));
                    v
                })
                .collect();
            let gateway = d.chosen().map(|n| {
                let device = &d.devices()[n];
                let g = device.gateway.as_ref().expect("a usable gateway has a connection service");
                json!({
                    "description_url": device.description_url,
                    "igd_control_url": g.control_url().to_string(),
                    "igd_our_addr": g.local_address().to_string(),
                    "why": d.why(n),
                })
            });
            let pmp: Vec<Value> = d
                .pmp
                .iter()
                .map(|a| {
                    let probe = a.result.as_ref().ok();
                    json!({
                        "interface": a.interface,
                        "gateway": a.gateway.to_string(),
                        "answered": probe.is_some(),
                        "method": probe.map(|p| p.method.as_str()),
                        "external_address": probe.and_then(|p| p.external_address).map(|e| e.to_string()),
                        "error": a.result.as_ref().err().map(ToString::to_string),
                    })
                })
                .collect();
            let discovery = d.discovery.as_ref().ok();
            self.print_json(json!({
                "interfaces": interfaces,
                "devices": devices,
                "answers": discovery.map_or(0, |x| x.answers),
                "notes": discovery.map(|x| x.notes.clone()).unwrap_or_default(),
                "discovery_error": d.discovery.as_ref().err().map(ToString::to_string),
                "gateway": gateway,
                "external_address": address,
                "external_address_kind": kind.name(),
                "external_address_source": source.as_str(),
                "pmp": pmp,
                "stun": stun_json,
                "advice": advice.text(),
                "advice_code": advice.code(),
                "elapsed_ms": d.elapsed.as_secs_f64() * 1000.0,
            }));
            return;
        }
        println!("Interfaces searched:");
        if d.interfaces.is_empty() {
            println!("  (none)");
        }
        for i in &d.interfaces {
            let addresses: Vec<String> =
                i.ipv4.iter().map(ToString::to_string).chain(i.ipv6.iter().map(ToString::to_string)).collect();
            let gateway = i.gateway_v4.map(|g| format!("gateway {g}")).unwrap_or_else(|| "no gateway".into());
            let p2p = if i.point_to_point { ", point-to-point" } else { "" };
            println!("  {}: {} ({gateway}{p2p})", i.name, addresses.join(", "));
        }
        match &d.discovery {
            Ok(x) => println!("Devices found:    {} ({} distinct answers)", x.devices.len(), x.answers),
            Err(e) => println!("Devices found:    none, the search failed: {e}"),
        }
        for (n, device) in d.devices().iter().enumerate() {
            println!("  {n}: {} [{}]", device.description_url, device.status.constant_name());
            println!("     {}", d.why(n));
        }
        match d.chosen() {
            Some(n) => {
                let g = d.devices()[n].gateway.as_ref().expect("a usable gateway has a connection service");
                println!("Gateway:          device {n}, {} (our address {})", g.control_url(), g.local_address());
            }
            None => println!("Gateway:          none"),
        }
        let address = if address.is_empty() { "(none)".to_string() } else { address };
        println!("External address: {address} ({}, from {})", kind.name(), source.as_str());
        if d.pmp.is_empty() {
            println!("NAT-PMP/PCP:      not asked (no searched interface has a gateway)");
        }
        for a in &d.pmp {
            match &a.result {
                Ok(p) => {
                    let ext = p.external_address.map(|e| format!(", external address {e}")).unwrap_or_default();
                    println!("NAT-PMP/PCP:      {} ({}) answered {}{ext}", a.gateway, a.interface, p.method);
                }
                Err(e) => println!("NAT-PMP/PCP:      {} ({}): {e}", a.gateway, a.interface),
            }
        }
        match &d.stun {
            None => println!("STUN:             not asked (--stun host:port)"),
            Some((server, Ok(answer))) => {
                let same = if answer.mapped.ip().to_string() == address { "the same as" } else { "not" };
                println!("STUN:             {server} sees {} ({same} the external address)", answer.mapped)
            }
            Some((server, Err(e))) => println!("STUN:             {server}: {e}"),
        }
        println!("Advice:           {}", advice.text());
        println!("(in {:.0} ms)", d.elapsed.as_secs_f64() * 1000.0);
    }

    /// `status`: the connection service's state, then the IPv6 side (the firewall
    /// service's status or why there is none, and our reachable IPv6 addresses).
    pub fn status(
        &self,
        device: &Device,
        status: &StatusInfo,
        external: &str,
        firewall: &Result<(Firewall, FirewallStatus), Error>,
        ipv6: &[Ipv6Addr],
    ) {
        let gateway = device.gateway.as_ref().expect("status is shown for gateways");
        let kind = classify_external_address(external);
        let nat_note = upnp_core::device::behind_nat_note(Some(external));
        if self.json {
            self.print_json(json!({
                "device": device_json(device),
                "connection_status": status.connection_status,
                "last_connection_error": status.last_error,
                "uptime_seconds": status.uptime_seconds,
                "external_address": external,
                "external_address_kind": kind.name(),
                "note": nat_note,
                "ipv6_firewall": firewall_json(firewall),
                "ipv6_addresses": ipv6_json(ipv6),
            }));
            return;
        }
        let name = if device.friendly_name.is_empty() { "(no name)" } else { &device.friendly_name };
        println!("Gateway:          {name} ({})", device.description_url);
        println!("Service:          {} at {}", gateway.service_type(), gateway.control_url());
        println!("Our address:      {}", gateway.local_address());
        let uptime = status.uptime_seconds.map(|u| format!(", up {u} s")).unwrap_or_default();
        println!("Connection:       {}{uptime}", status.connection_status);
        println!("External address: {}", address_text(external));
        if !nat_note.is_empty() {
            println!("Note:             {nat_note}");
        }
        match firewall {
            Ok((f, status)) => println!("IPv6 firewall:    {} ({})", status.text(), f.control_url()),
            Err(e) => println!("IPv6 firewall:    {e}"),
        }
        println!("IPv6 addresses:   {}", ipv6_text(ipv6));
    }

    pub fn pinhole_added(&self, id: u16, hole: &Pinhole, lease_seconds: u32, took: Duration) {
        let remote_host = hole.remote_host.map(|h| h.to_string()).unwrap_or_default();
        if self.json {
            self.print_json(json!({
                "id": id,
                "internal_client": hole.internal_client.to_string(),
                "internal_port": hole.internal_port,
                "protocol": hole.protocol.as_str(),
                "remote_host": remote_host,
                "remote_port": hole.remote_port,
                "lease_seconds": lease_seconds,
                "action_ms": took.as_secs_f64() * 1000.0,
            }));
        } else {
            let from = if remote_host.is_empty() { "any host".to_string() } else { remote_host };
            let port = if hole.remote_port == 0 { String::new() } else { format!(" port {}", hole.remote_port) };
            println!(
                "pinhole {id}: {} [{}]:{} open from {from}{port} ({lease_seconds} s)",
                hole.protocol, hole.internal_client, hole.internal_port
            );
        }
    }

    /// `update` (`lease_seconds` set) or `delete` done.
    pub fn pinhole_changed(&self, done: &str, id: u16, lease_seconds: Option<u32>, took: Duration) {
        if self.json {
            self.print_json(json!({
                done: { "id": id, "lease_seconds": lease_seconds },
                "action_ms": took.as_secs_f64() * 1000.0,
            }));
        } else {
            let lease = lease_seconds.map(|l| format!(" ({l} s)")).unwrap_or_default();
            println!("pinhole {id} {done}{lease}");
        }
    }

    pub fn pinhole_checked(&self, id: u16, working: Option<bool>, packets: u32, took: Duration) {
        if self.json {
            self.print_json(json!({
                "id": id,
                "working": working,
                "packets": packets,
                "action_ms": took.as_secs_f64() * 1000.0,
            }));
        } else {
            let working = match working {
                Some(true) => "working",
                Some(false) => "not working",
                None => "unknown (no packet went through yet)",
            };
            println!("pinhole {id}: {working}, {packets} packets");
        }
    }

    pub fn pinholes(&self, firewall: &Firewall, status: FirewallStatus, packets: &[(u16, Result<u32, Error>)]) {
        if self.json {
            let list: Vec<Value> = packets
                .iter()
                .map(|(id, p)| {
                    json!({
                        "id": id,
                        "packets": p.as_ref().ok(),
                        "error": p.as_ref().err().map(ToString::to_string),
                        "upnp_code": p.as_ref().err().and_then(Error::upnp_code),
                    })
                })
                .collect();
            self.print_json(json!({
                "ipv6_firewall": firewall_json(&Ok((firewall.clone(), status))),
                "pinholes": list,
            }));
            return;
        }
        println!("IPv6 firewall: {} ({})", status.text(), firewall.control_url());
        if packets.is_empty() {
            println!("(UPnP cannot list pinholes: give the ids `pinhole add` printed)");
        }
        for (id, p) in packets {
            match p {
                Ok(n) => println!("pinhole {id}: {n} packets"),
                Err(e) => println!("pinhole {id}: {e}"),
            }
        }
    }

    pub fn external_ip(&self, external: &str) {
        if self.json {
            let kind = classify_external_address(external);
            self.print_json(json!({ "external_address": external, "external_address_kind": kind.name() }));
        } else {
            println!("{external}");
        }
    }

    pub fn added(&self, gateway: &Gateway, args: &MappingArgs, external_port: u16, took: Duration) {
        if self.json {
            self.print_json(json!({
                "external_port": external_port,
                "internal_port": args.internal_port,
                "protocol": args.protocol.as_str(),
                "internal_client": gateway.local_address(),
                "description": args.description,
                "lease_seconds": args.lease_seconds,
                "action_ms": took.as_secs_f64() * 1000.0,
            }));
        } else {
            println!(
                "{} {external_port} -> {}:{} mapped ({})",
                args.protocol,
                gateway.local_address(),
                args.internal_port,
                lease_text(args.lease_seconds)
            );
        }
    }

    pub fn deleted(&self, port: u16, protocol: Protocol, took: Duration) {
        if self.json {
            self.print_json(json!({
                "deleted": { "external_port": port, "protocol": protocol.as_str() },
                "action_ms": took.as_secs_f64() * 1000.0,
            }));
        } else {
            println!("{protocol} {port} deleted");
        }
    }

    pub fn mappings(&self, entries: &[PortMappingEntry]) {
        if self.json {
            let list: Vec<Value> = entries
                .iter()
                .map(|e| {
                    json!({
                        "external_port": e.external_port,
                        "protocol": e.protocol,
                        "internal_client": e.internal_client,
                        "internal_port": e.internal_port,
                        "description": e.description,
                        "enabled": e.enabled,
                        "remote_host": e.remote_host,
                        "lease_seconds": e.lease_seconds,
                    })
                })
                .collect();
            self.print_json(json!({ "mappings": list }));
            return;
        }
        if entries.is_empty() {
            println!("no port mappings");
        }
        for e in entries {
            println!(
                "{:<3} {:>5} -> {}:{:<5} {:<9} {:?}{}",
                e.protocol,
                e.external_port,
                e.internal_client,
                e.internal_port,
                lease_text(e.lease_seconds),
                e.description,
                if e.enabled { "" } else { " (disabled)" }
            );
        }
    }
}

fn lease_text(seconds: u32) -> String {
    if seconds == 0 { "permanent".into() } else { format!("{seconds} s") }
}

/// An external address with its kind, so that a reader sees at once whether another NAT
/// is in front of the router: "11.22.33.44 (public)", "(none)".
fn address_text(external: &str) -> String {
    match classify_external_address(external) {
        ExternalAddressKind::None => "(none)".into(),
        ExternalAddressKind::Shared => format!("{} (shared: carrier-grade NAT)", external.trim()),
        ExternalAddressKind::Private => format!("{} (private: another router in front)", external.trim()),
        ExternalAddressKind::Public => format!("{} (public)", external.trim()),
    }
}

/// The firewall service and its status, or why there is none (`service: null`).
fn firewall_json(firewall: &Result<(Firewall, FirewallStatus), Error>) -> Value {
    match firewall {
        Ok((f, status)) => json!({
            "control_url": f.control_url().to_string(),
            "service_type": f.service_type(),
            "our_address": f.local_address().to_string(),
            "enabled": status.enabled,
            "inbound_pinhole_allowed": status.inbound_pinhole_allowed,
            "error": null,
        }),
        Err(e) => json!({
            "control_url": null,
            "enabled": null,
            "inbound_pinhole_allowed": null,
            "error": e.to_string(),
            "result_name": e.result().constant_name(),
        }),
    }
}

fn ipv6_json(addresses: &[Ipv6Addr]) -> Vec<Value> {
    addresses.iter().map(|a| json!({ "address": a.to_string(), "kind": ipv6_kind(*a) })).collect()
}

fn ipv6_kind(address: Ipv6Addr) -> &'static str {
    if pinhole::is_unique_local(address) { "unique-local" } else { "global" }
}

/// "2a01::2 (global), fd77::2 (unique-local)", or why there is none.
fn ipv6_text(addresses: &[Ipv6Addr]) -> String {
    if addresses.is_empty() {
        return "(none a player could reach)".into();
    }
    addresses.iter().map(|a| format!("{a} ({})", ipv6_kind(*a))).collect::<Vec<_>>().join(", ")
}

fn device_json(d: &Device) -> Value {
    json!({
        "description_url": d.description_url,
        "service_type": d.service_type,
        "usn": d.usn,
        "igd_status": d.status.code(),
        "igd_status_name": d.status.constant_name(),
        "igd_control_url": d.gateway.as_ref().map(|g| g.control_url().to_string()).unwrap_or_default(),
        "igd_service_type": d.gateway.as_ref().map(|g| g.service_type().to_string()).unwrap_or_default(),
        "igd_our_addr": d.gateway.as_ref().map(|g| g.local_address().to_string()).unwrap_or_default(),
        "external_address": d.external_address,
        "behind_another_nat": d.is_behind_another_nat(),
        "friendly_name": d.friendly_name,
        "note": d.note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_named_by_kind() {
        let parse = |a: &str| a.parse::<Ipv6Addr>().unwrap();
        assert_eq!(ipv6_text(&[]), "(none a player could reach)");
        assert_eq!(
            ipv6_text(&[parse("2a01:4f8::2"), parse("fd77::2")]),
            "2a01:4f8::2 (global), fd77::2 (unique-local)"
        );
        assert_eq!(ipv6_json(&[parse("fd77::2")]), vec![json!({"address": "fd77::2", "kind": "unique-local"})]);
    }

    #[test]
    fn the_address_line_names_its_kind() {
        assert_eq!(address_text("11.22.33.44"), "11.22.33.44 (public)");
        assert_eq!(address_text("10.0.0.2"), "10.0.0.2 (private: another router in front)");
        assert_eq!(address_text("100.64.1.2"), "100.64.1.2 (shared: carrier-grade NAT)");
        for none in ["", "0.0.0.0", "::"] {
            assert_eq!(address_text(none), "(none)", "{none:?}");
        }
    }
}
