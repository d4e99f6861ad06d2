//! Printing results as text for people or JSON for scripts.

use crate::diagnose::Diagnosis;
use serde_json::{Value, json};
use std::time::Duration;
use upnp_core::gateway::StatusInfo;
use upnp_core::protocol::igd::{ExternalAddressKind, classify_external_address};
use upnp_core::{Device, Discovery, Error, Gateway, MappingArgs, PortMappingEntry, Protocol};

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

    pub fn status(&self, device: &Device, status: &StatusInfo, external: &str) {
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
    fn the_address_line_names_its_kind() {
        assert_eq!(address_text("11.22.33.44"), "11.22.33.44 (public)");
        assert_eq!(address_text("10.0.0.2"), "10.0.0.2 (private: another router in front)");
        assert_eq!(address_text("100.64.1.2"), "100.64.1.2 (shared: carrier-grade NAT)");
        for none in ["", "0.0.0.0", "::"] {
            assert_eq!(address_text(none), "(none)", "{none:?}");
        }
    }
}
