//! `igd-sim`: runs simulated UPnP devices for shell scripts, e.g. inside a test network
//! namespace:
//!
//! ```text
//! igd-sim --multicast c0 --address 10.77.0.100 --count 20 --kind media-renderer
//! igd-sim --unicast 127.0.0.1:0 --kind trickle --trickle-rate 100
//! ```
//!
//! It prints `SSDP <address>`, `LOCATION <index> <url>` and `CONTROL <index> <url>` (the
//! control URL) per device, then `READY`, and runs until standard input closes, SIGTERM,
//! or `--duration` runs out.
//! Run `igd-sim --help` for every flag (the text is [`HELP`] below).

use igd_sim::{
    Content, DeviceSpec, FaultRule, Flood, FloodVary, HttpBehavior, IgdVersion, RawAnswer, SimConfig, Simulator,
    SoapFault, SsdpAnswer, SsdpBehavior, SsdpMode, templates,
};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

/// The `--help` text.
const HELP: &str = "\
igd-sim: scripted UPnP IGD simulator for tests (dev only; never sends to a multicast group)

USAGE:
    igd-sim --unicast ADDR [OPTIONS]
    igd-sim --multicast IFACE [--ipv6] --address IP [OPTIONS]

WHERE SEARCHES ARRIVE (exactly one):
    --unicast ADDR        receive M-SEARCH on this UDP address, e.g. 127.0.0.1:0
    --multicast IFACE     join 239.255.255.250 on IFACE, port 1900, and listen on port
                          1900 of each device address for unicast searches (refused in
                          PID 1's network namespace unless IGD_SIM_ALLOW_HOST_NETNS=1)
    --ipv6                with --multicast: join ff02::c instead

DEVICES:
    --address IP          first device's address (default 127.0.0.1); device i gets IP+i.
                          The addresses must already exist: nothing is configured.
    --count N             number of devices (default 1)
    --http-port PORT      HTTP port of every device (default 0: any free port)
    --kind KIND           what the description URL does (default igd):
                            igd             miniupnpd IGDv2 description and SOAP service
                            igd-v1          miniupnpd IGDv1 description and SOAP service
                            media-renderer  a MediaRenderer, not a gateway
                            stall           accepts, reads the request, never answers
                            trickle         the IGDv2 description at --trickle-rate B/s
                            huge            a --huge-bytes body, streamed
                            huge-no-length  the same without Content-Length
                            reset           resets the connection half way through the body
                            chunked         the IGDv2 description, chunked (64-byte chunks)
                            invalid-xml     a truncated description
                            invalid-utf8    invalid UTF-8 in the friendlyName
                            entity-bomb     a billion-laughs document
                            redirect        302 to /elsewhere.xml
                            http-error      500 with an HTML body
                            port-closed     nothing listens on the advertised port
    --trickle-rate BPS    bytes per second for trickle (default 64)
    --huge-bytes N        body size for huge (default 100000000)
    --ssdp MODE           answer (default), echo (answer any ST), silent, notify (a NOTIFY
                          instead of an answer), odd-case (odd header case)
    --copies N            copies of each SSDP answer (default 1)
    --delay-ms MS         wait before answering each search (default 0)
    --flood K             answer each search with K distinct answers (USN and LOCATION vary)
    --flood-rate N        flood pace in datagrams per second (default: as fast as possible)
    --external-ip IP      GetExternalIPAddress's answer (default 11.22.33.44)
    --disconnected        GetStatusInfo answers Disconnected
    --secure-mode         refuse mappings whose internal client is not the requester
    --fault ACTION=SPEC   inject a fault into ACTION (or * for all); repeatable. SPEC is
                          CODE[:DESCRIPTION] (UPnP error), status:N, empty, wrong-body,
                          stall, reset or delay:MS

LIFETIME AND OUTPUT:
    --duration SECONDS    stop after this long (fractions allowed)
    --ignore-stdin        do not stop when standard input closes (a background job `cmd &`
                          in a script has /dev/null as input: use this or a pipe)
    -h, --help            this text

Prints `SSDP <addr>`, `LOCATION <index> <url>` and `CONTROL <index> <url>` per device,
then `READY`; runs until standard input closes, SIGTERM, or the duration ends.
";

/// Parsed command line.
struct Options {
    mode: SsdpMode,
    address: IpAddr,
    count: usize,
    http_port: u16,
    kind: String,
    trickle_rate: u32,
    huge_bytes: u64,
    ssdp: String,
    copies: u32,
    delay: Duration,
    flood: Option<u32>,
    flood_rate: Option<u32>,
    external_ip: Option<String>,
    disconnected: bool,
    secure_mode: bool,
    faults: Vec<FaultRule>,
    duration: Option<Duration>,
    ignore_stdin: bool,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("igd-sim: {e}\n(igd-sim --help lists the flags)");
            return ExitCode::from(2);
        }
    };
    let config = match build(&options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("igd-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("igd-sim: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "SSDP {}", sim.ssdp_addr());
        for (i, location) in sim.locations().iter().enumerate() {
            let _ = writeln!(out, "LOCATION {i} {location}");
            let _ = writeln!(out, "CONTROL {i} {}", sim.control_url(i));
        }
        let _ = writeln!(out, "READY");
        let _ = out.flush();
    }
    let (tx, rx) = mpsc::channel::<()>();
    if !options.ignore_stdin {
        // Detached on purpose: it blocks on stdin, and the process exits when main returns.
        let _ = std::thread::Builder::new().name("igd-sim-stdin".into()).spawn(move || {
            let mut sink = [0u8; 1024];
            let mut stdin = std::io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
    } else {
        // Keep the sender alive so that recv waits for the duration (or forever).
        std::mem::forget(tx);
    }
    match options.duration {
        Some(d) => {
            let _ = rx.recv_timeout(d);
        }
        None => {
            let _ = rx.recv();
        }
    }
    sim.stop();
    ExitCode::SUCCESS
}

fn parse(args: Vec<String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        mode: SsdpMode::Unicast("127.0.0.1:0".parse().expect("literal")),
        address: IpAddr::from([127, 0, 0, 1]),
        count: 1,
        http_port: 0,
        kind: "igd".into(),
        trickle_rate: 64,
        huge_bytes: 100_000_000,
        ssdp: "answer".into(),
        copies: 1,
        delay: Duration::ZERO,
        flood: None,
        flood_rate: None,
        external_ip: None,
        disconnected: false,
        secure_mode: false,
        faults: Vec::new(),
        duration: None,
        ignore_stdin: false,
    };
    let mut unicast: Option<SocketAddr> = None;
    let mut multicast: Option<String> = None;
    let mut ipv6 = false;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--unicast" => unicast = Some(number(&flag, &value()?)?),
            "--multicast" => multicast = Some(value()?),
            "--ipv6" => ipv6 = true,
            "--address" => o.address = number(&flag, &value()?)?,
            "--count" => o.count = number(&flag, &value()?)?,
            "--http-port" => o.http_port = number(&flag, &value()?)?,
            "--kind" => o.kind = value()?,
            "--trickle-rate" => o.trickle_rate = number(&flag, &value()?)?,
            "--huge-bytes" => o.huge_bytes = number(&flag, &value()?)?,
            "--ssdp" => o.ssdp = value()?,
            "--copies" => o.copies = number(&flag, &value()?)?,
            "--delay-ms" => o.delay = Duration::from_millis(number(&flag, &value()?)?),
            "--flood" => o.flood = Some(number(&flag, &value()?)?),
            "--flood-rate" => o.flood_rate = Some(number(&flag, &value()?)?),
            "--external-ip" => o.external_ip = Some(value()?),
            "--disconnected" => o.disconnected = true,
            "--secure-mode" => o.secure_mode = true,
            "--fault" => o.faults.push(fault(&value()?)?),
            "--duration" => {
                let seconds: f64 = number(&flag, &value()?)?;
                o.duration = Some(Duration::try_from_secs_f64(seconds).map_err(|e| format!("--duration: {e}"))?);
            }
            "--ignore-stdin" => o.ignore_stdin = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    o.mode = match (unicast, multicast) {
        (Some(_), Some(_)) => return Err("--unicast and --multicast exclude each other".into()),
        (Some(addr), None) => SsdpMode::Unicast(addr),
        (None, Some(interface)) => SsdpMode::Multicast { interface, ipv6 },
        (None, None) => return Err("say where searches arrive: --unicast ADDR or --multicast IFACE".into()),
    };
    if o.count == 0 {
        return Err("--count must be at least 1".into());
    }
    Ok(Some(o))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| format!("{flag} {text:?}: {e}"))
}

/// `ACTION=CODE[:DESCRIPTION]`, `ACTION=status:N`, `ACTION=empty`, ...
fn fault(text: &str) -> Result<FaultRule, String> {
    let (action, spec) = text.split_once('=').ok_or_else(|| format!("--fault {text:?}: expected ACTION=SPEC"))?;
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let fault = match kind {
        "empty" => SoapFault::EmptyBody,
        "wrong-body" => SoapFault::WrongBody(b"<?xml version=\"1.0\"?><nothing/>".to_vec()),
        "stall" => SoapFault::Stall,
        "reset" => SoapFault::Reset,
        "status" => SoapFault::Status(number("--fault status", arg)?),
        "delay" => SoapFault::Delay(Duration::from_millis(number("--fault delay", arg)?)),
        code => SoapFault::upnp(number("--fault code", code)?, if arg.is_empty() { "Simulated" } else { arg }),
    };
    Ok(FaultRule::always(action, fault))
}

fn build(o: &Options) -> Result<SimConfig, String> {
    let mut devices = Vec::with_capacity(o.count);
    for i in 0..o.count {
        let ip = nth_address(o.address, i).ok_or("--address + --count runs past the last address")?;
        let mut device = preset(o)?.at(SocketAddr::new(ip, o.http_port));
        if let Some(ip) = &o.external_ip {
            device.soap.external_ip = ip.clone();
        }
        if o.disconnected {
            device.soap.connection_status = "Disconnected".into();
        }
        device.soap.secure_mode = o.secure_mode;
        device.soap.faults = o.faults.clone();
        devices.push(device);
    }
    Ok(SimConfig { ssdp: o.mode.clone(), devices })
}

/// The device for `--kind`, `--ssdp` and the SSDP tuning flags.
fn preset(o: &Options) -> Result<DeviceSpec, String> {
    let igd = DeviceSpec::igd_v2();
    let description = |http| Ok::<_, String>(igd.clone().with_http(http));
    let mut device = match o.kind.as_str() {
        "igd" => igd.clone(),
        "igd-v1" => DeviceSpec::igd(IgdVersion::V1),
        "media-renderer" => DeviceSpec::media_renderer(),
        "stall" => description(HttpBehavior::Stall)?,
        "trickle" => {
            description(HttpBehavior::Trickle { content: Content::IgdV2, bytes_per_second: o.trickle_rate.max(1) })?
        }
        "huge" => description(HttpBehavior::Huge { bytes: o.huge_bytes, content_length: true })?,
        "huge-no-length" => description(HttpBehavior::Huge { bytes: o.huge_bytes, content_length: false })?,
        "reset" => description(HttpBehavior::ResetMidBody {
            content: Content::IgdV2,
            after: igd_sim::IGD_V2_DESCRIPTION.len() / 2,
        })?,
        "chunked" => description(HttpBehavior::Chunked { content: Content::IgdV2, chunk_size: 64 })?,
        "invalid-xml" => description(HttpBehavior::Serve(Content::InvalidXml))?,
        "invalid-utf8" => description(HttpBehavior::Serve(Content::InvalidUtf8))?,
        "entity-bomb" => description(HttpBehavior::Serve(Content::EntityBomb))?,
        "redirect" => description(HttpBehavior::Redirect { code: 302, location: "/elsewhere.xml".into() })?,
        "http-error" => description(HttpBehavior::Status {
            code: 500,
            body: b"<html><body>Internal Server Error</body></html>".to_vec(),
        })?,
        "port-closed" => description(HttpBehavior::PortClosed)?,
        other => return Err(format!("unknown --kind {other:?}")),
    };
    let targets = match &device.ssdp {
        SsdpBehavior::Answer(a) => a.targets.clone(),
        _ => Vec::new(),
    };
    device.ssdp = match o.ssdp.as_str() {
        "answer" => SsdpBehavior::Answer(SsdpAnswer::for_targets(targets)),
        "echo" => SsdpBehavior::Answer(SsdpAnswer::echo()),
        "silent" => SsdpBehavior::Silent,
        "notify" => SsdpBehavior::Raw(RawAnswer::one(templates::NOTIFY)),
        "odd-case" => SsdpBehavior::Raw(RawAnswer::one(templates::ODD_CASE)),
        other => return Err(format!("unknown --ssdp {other:?}")),
    };
    match &mut device.ssdp {
        SsdpBehavior::Answer(a) => {
            a.copies = o.copies;
            a.delay = o.delay;
        }
        SsdpBehavior::Raw(r) => r.delay = o.delay,
        _ => {}
    }
    if let Some(count) = o.flood {
        device.ssdp = SsdpBehavior::Flood(Flood { count, vary: FloodVary::Both, per_second: o.flood_rate });
    }
    Ok(device)
}

/// `base + n`, for IPv4 or IPv6.
fn nth_address(base: IpAddr, n: usize) -> Option<IpAddr> {
    Some(match base {
        IpAddr::V4(v4) => IpAddr::V4(u32::from(v4).checked_add(u32::try_from(n).ok()?)?.into()),
        IpAddr::V6(v6) => IpAddr::V6(u128::from(v6).checked_add(n as u128)?.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_parse() {
        let o = parse(args("--multicast c0 --address 10.77.0.100 --count 20 --kind media-renderer")).unwrap().unwrap();
        assert_eq!(o.mode, SsdpMode::Multicast { interface: "c0".into(), ipv6: false });
        let config = build(&o).unwrap();
        assert_eq!(config.devices.len(), 20);
        assert_eq!(config.devices[19].addr, "10.77.0.119:0".parse().unwrap());
        assert_eq!(config.devices[0].http, HttpBehavior::Serve(Content::MediaRenderer));
        let o = parse(args("--unicast 127.0.0.1:0 --kind trickle --fault AddPortMapping=899:Odd --duration 0.5"))
            .unwrap()
            .unwrap();
        assert_eq!(o.faults[0].fault, SoapFault::upnp(899, "Odd"));
        assert_eq!(o.duration, Some(Duration::from_millis(500)));
        assert!(parse(args("--kind igd")).is_err());
        assert!(parse(args("--unicast 127.0.0.1:0 --bogus")).is_err());
        assert!(parse(args("--help")).unwrap().is_none());
        assert_eq!(nth_address("fd77::ff".parse().unwrap(), 2), Some("fd77::101".parse().unwrap()));
        for kind in ["igd", "igd-v1", "stall", "huge", "reset", "port-closed", "entity-bomb"] {
            let o = parse(args(&format!("--unicast 127.0.0.1:0 --kind {kind}"))).unwrap().unwrap();
            assert!(build(&o).is_ok(), "{kind}");
        }
    }
}
