//! Test helper: calls upnp-core's NAT-PMP/PCP client once and prints the outcome as one
//! JSON document, so that the suite can run the library inside the bed's client
//! namespace (`ip netns exec`) as the other suites run the CLI.
//!
//! Usage (timeouts in milliseconds; a mapping is passed back as the JSON it was printed as):
//!   pmp-probe gateway
//!   pmp-probe map GATEWAY udp|tcp INTERNAL SUGGESTED LIFETIME TIMEOUT [auto|pcp|natpmp]
//!   pmp-probe renew GATEWAY MAPPING_JSON LIFETIME TIMEOUT
//!   pmp-probe unmap GATEWAY MAPPING_JSON TIMEOUT
//!   pmp-probe external GATEWAY TIMEOUT
//! Success: exit 0 and `{"elapsed_ms": .., ...}`. Failure: exit 1 and
//! `{"result": <UPNPResult>, "result_name", "error", "hint", "elapsed_ms"}`.

use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use upnp_core::pmp::{self, PmpMapping, PmpMethod};
use upnp_core::{Error, Protocol};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let outcome = run(&args);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (mut doc, code) = match outcome {
        Ok(doc) => (doc, ExitCode::SUCCESS),
        Err(e) => (
            json!({
                "result": e.result().code(),
                "result_name": e.result().constant_name(),
                "error": e.to_string(),
                "hint": e.hint(),
            }),
            ExitCode::FAILURE,
        ),
    };
    doc["elapsed_ms"] = json!(elapsed_ms);
    println!("{doc}");
    code
}

fn run(args: &[&str]) -> Result<Value, Error> {
    match args {
        ["gateway"] => Ok(json!({ "gateway": pmp::default_gateway().map(|g| g.to_string()) })),
        ["map", gateway, protocol, internal, suggested, lifetime, timeout, rest @ ..] => {
            let (gateway, deadline) = (ip(gateway), deadline(timeout));
            let (protocol, internal, suggested, lifetime) =
                (proto(protocol), number(internal), number(suggested), number(lifetime));
            let mapping = match rest.first().copied().unwrap_or("auto") {
                "auto" => pmp::map_port(gateway, protocol, internal, suggested, lifetime, deadline)?,
                "pcp" => {
                    pmp::map_port_with(PmpMethod::Pcp, gateway, protocol, internal, suggested, lifetime, deadline)?
                }
                "natpmp" => {
                    pmp::map_port_with(PmpMethod::NatPmp, gateway, protocol, internal, suggested, lifetime, deadline)?
                }
                other => usage(&format!("unknown method {other}")),
            };
            Ok(json!({ "mapping": to_json(&mapping) }))
        }
        ["renew", gateway, mapping, lifetime, timeout] => {
            let renewed = pmp::renew(ip(gateway), &from_json(mapping), number(lifetime), deadline(timeout))?;
            Ok(json!({ "mapping": to_json(&renewed) }))
        }
        ["unmap", gateway, mapping, timeout] => {
            pmp::unmap_port(ip(gateway), &from_json(mapping), deadline(timeout))?;
            Ok(json!({}))
        }
        ["external", gateway, timeout] => {
            Ok(json!({ "external_address": pmp::external_address(ipv4(gateway), deadline(timeout))?.to_string() }))
        }
        _ => usage("unknown command"),
    }
}

fn to_json(m: &PmpMapping) -> Value {
    json!({
        "method": m.method.as_str(),
        "protocol": m.protocol.as_str(),
        "internal_port": m.internal_port,
        "external_port": m.external_port,
        "lifetime_secs": m.lifetime_secs,
        "external_address": m.external_address.map(|a| a.to_string()),
        "epoch_secs": m.epoch_secs,
        "nonce": m.nonce.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    })
}

fn from_json(text: &str) -> PmpMapping {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| usage(&format!("bad mapping JSON: {e}")));
    let field = |name: &str| v[name].as_u64().unwrap_or_else(|| usage(&format!("mapping has no {name}")));
    let hex = v["nonce"].as_str().unwrap_or_else(|| usage("mapping has no nonce"));
    let mut nonce = [0u8; 12];
    for (i, byte) in nonce.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or_else(|| usage("bad nonce"));
    }
    PmpMapping {
        method: match v["method"].as_str() {
            Some("PCP") => PmpMethod::Pcp,
            Some("NAT-PMP") => PmpMethod::NatPmp,
            _ => usage("mapping has no method"),
        },
        protocol: proto(v["protocol"].as_str().unwrap_or("")),
        internal_port: field("internal_port") as u16,
        external_port: field("external_port") as u16,
        lifetime_secs: field("lifetime_secs") as u32,
        external_address: v["external_address"].as_str().map(ip),
        epoch_secs: field("epoch_secs") as u32,
        nonce,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or_else(|_| usage(&format!("not an IP address: {text}")))
}

fn ipv4(text: &str) -> Ipv4Addr {
    text.parse().unwrap_or_else(|_| usage(&format!("not an IPv4 address: {text}")))
}

fn proto(text: &str) -> Protocol {
    Protocol::parse(&text.to_ascii_uppercase()).unwrap_or_else(|| usage(&format!("not udp or tcp: {text}")))
}

fn number<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| usage(&format!("not a number: {text}")))
}

fn deadline(timeout_ms: &str) -> Instant {
    Instant::now() + Duration::from_millis(number(timeout_ms))
}

fn usage(why: &str) -> ! {
    eprintln!("pmp-probe: {why} (see the usage at the top of tests/igd/src/bin/pmp-probe.rs)");
    std::process::exit(2)
}
