//! `igd-sim`: runs simulated UPnP devices for shell scripts, e.g. inside a test network
//! namespace:
//!
//! ```text
//! igd-sim --multicast c0 --address 10.77.0.100 --count 20 --kind media-renderer
//! igd-sim --unicast 127.0.0.1:0 --kind trickle --trickle-rate 100
//! igd-sim --multicast c0 --address 10.77.0.50 --profile permanent-only --log-soap
//! igd-sim --multicast lan0 --address 10.77.0.1 --address6 fd77::1 --profile v6-firewall-off
//! ```
//!
//! It prints `SSDP <address>`, `LOCATION <index> <url>` and `CONTROL <index> <url>` (the
//! control URL) per device, then `READY`, and runs until standard input closes, SIGTERM,
//! or `--duration` runs out. Lines on standard input are commands (`forget`: empty every
//! table), so a test can change the router while it runs.
//! Run `igd-sim --help` for every flag (the text is [`HELP`] below).

use igd_sim::profiles::{self, DescriptionLead};
use igd_sim::{
    Arrival, Content, DeviceSpec, FaultRule, Flood, FloodVary, HttpBehavior, IgdVersion, RawAnswer, SimConfig,
    SimMapping, Simulator, SoapFault, SsdpAnswer, SsdpBehavior, SsdpMode, templates,
};
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A profile's devices on an IP.
type MakeProfile = fn(IpAddr) -> Vec<DeviceSpec>;

/// The routers of `igd_sim::profiles` by `--profile` name, with what each does, its
/// parameters fixed to the values `tests/quirks.rs` uses. Every device is on `--address`.
/// A profile giving no device does not apply to that address.
const PROFILES: &[(&str, &str, MakeProfile)] = &[
    ("another-port", "SSDP answers from a port of its own (TP-Link ER605's answer); IGDv1", |ip| {
        vec![profiles::answers_from_another_port(ip)]
    }),
    (
        "sagemcom-wfa",
        "ssdp:all answered by a WFADevice only; the IGD (device 1) answers InternetGatewayDevice:1",
        profiles::ssdp_all_finds_only_a_wfa_device,
    ),
    ("mikrotik-two-wans", "two WANIPConnections: the first Disconnected, the second 11.22.33.44", |ip| {
        vec![profiles::mikrotik_two_wans(ip, ("Disconnected", ""), ("Connected", "11.22.33.44"))]
    }),
    ("huawei-dslforum", "only urn:dslforum-org names (a WANPPPConnection)", |ip| {
        vec![profiles::huawei_dslforum_only(ip)]
    }),
    ("no-external-address", "connected, GetExternalIPAddress answers 0.0.0.0", |ip| {
        vec![profiles::external_address_unspecified(ip)]
    }),
    ("leading-whitespace", "a tab and a newline before the description's <?xml", |ip| {
        vec![profiles::description_with_prefix_bytes(ip, DescriptionLead::Whitespace)]
    }),
    ("leading-bom", "a UTF-8 byte order mark before the description's <?xml", |ip| {
        vec![profiles::description_with_prefix_bytes(ip, DescriptionLead::Bom)]
    }),
    ("leading-bom-whitespace", "a BOM, then whitespace, before the description's <?xml", |ip| {
        vec![profiles::description_with_prefix_bytes(ip, DescriptionLead::BomAndWhitespace)]
    }),
    ("namespace-prefixes", "every description element prefixed ns0:", |ip| {
        vec![profiles::description_with_namespace_prefixes(ip)]
    }),
    ("soap-prefix", "SOAP envelopes prefixed SOAP: (ARRIS)", |ip| vec![profiles::soap_envelope_prefix(ip, "SOAP")]),
    ("soap-env-prefix", "SOAP envelopes prefixed SOAP-ENV: (TP-Link)", |ip| {
        vec![profiles::soap_envelope_prefix(ip, "SOAP-ENV")]
    }),
    ("permanent-only", "725 OnlyPermanentLeasesSupported for any lease but 0 (MikroTik)", |ip| {
        vec![profiles::permanent_leases_only(ip)]
    }),
    ("invalid-args-for-leases", "402 Invalid Args for any lease but 0, SOAP: envelopes (ARRIS)", |ip| {
        vec![profiles::invalid_args_for_leases(ip)]
    }),
    ("action-failed-for-conflicts", "501 ActionFailed where 718 is meant (Linksys)", |ip| {
        vec![profiles::action_failed_for_conflicts(ip)]
    }),
    ("multicast-only", "answers only searches sent to the group (tailscale#3197); IGDv1", |ip| {
        vec![profiles::answers_only_multicast(ip)]
    }),
    ("unicast-only", "answers only searches sent to --address:1900 (broken multicast); IGDv1", |ip| {
        vec![profiles::answers_only_unicast(ip)]
    }),
    (
        "fritzbox-link-local",
        "LOCATION names --address, an fe80:: one, without a zone (FRITZ!Box); IGDv1",
        |ip| match ip {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => {
                vec![profiles::link_local_location(SocketAddrV6::new(v6, 0, 0, 0))]
            }
            _ => Vec::new(),
        },
    ),
    ("v6-firewall-off", "IPv6 firewall off: FirewallEnabled 0, pinhole actions 702 FirewallDisabled; IGDv2", |ip| {
        vec![profiles::ipv6_firewall_off(ip)]
    }),
    ("v6-inbound-disallowed", "InboundPinholeAllowed 0: pinhole actions 703 InboundPinholeNotAllowed; IGDv2", |ip| {
        vec![profiles::ipv6_inbound_pinholes_disallowed(ip)]
    }),
];

/// Where `--held-port`'s mappings point: another computer on the LAN.
const OTHER_CLIENT: &str = "10.1.2.3";

/// How often `--log-soap` looks for new requests and table changes.
const LOG_POLL: Duration = Duration::from_millis(10);

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
                          The addresses must already exist: nothing is configured. An
                          fe80:: address is on the --multicast interface (its scope)
    --address6 IP         a dual-stack router: each device also on this IPv6 address
                          (device i's at IP+i; a profile's all on IP), as a device of its
                          own numbered after the others (same UUID, its own tables) that
                          answers IPv6 searches; with --multicast both groups are joined
    --count N             number of devices (default 1)
    --http-port PORT      HTTP port of every device (default 0: any free port)
    --profile NAME        a real router's quirks (igd_sim::profiles; see PROFILES below):
                          it sets the devices, so --kind, --count, --http-port and the
                          SSDP flags do not apply
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
    --held-port PORT      another computer (10.1.2.3) holds PORT for UDP and TCP on every
                          device (for a conflict)
    --fault ACTION=SPEC   inject a fault into ACTION (or * for all); repeatable. SPEC is
                          CODE[:DESCRIPTION] (UPnP error), status:N, empty, wrong-body,
                          stall, reset or delay:MS

LIFETIME AND OUTPUT:
    --duration SECONDS    stop after this long (fractions allowed)
    --ignore-stdin        do not stop when standard input closes (a background job `cmd &`
                          in a script has /dev/null as input: use this or a pipe), nor
                          read commands from it
    --log-soap            print each M-SEARCH (`SEARCH`), each SOAP request (`SOAP`) and
                          each change of a device's port mapping table (`TABLE`),
                          tab-separated:
                            SEARCH <multicast|unicast> <ST> <sender>
                            SOAP <device> <control path> <action> <Name>=<value>...
                            TABLE <device> <PROTO>:<port>:<client>:<internal port>:<lease>:<description>...
                          (the lease granted, in seconds; a table emptied prints no entry)
    -h, --help            this text

COMMANDS (lines on standard input):
    forget                empty every device's port mapping table, the devices running on
                          (a router's WAN reconnect or full table)

Prints `SSDP <addr>`, `LOCATION <index> <url>` and `CONTROL <index> <url>` per device,
then `READY`; runs until standard input closes, SIGTERM, or the duration ends.
";

/// Parsed command line.
struct Options {
    mode: SsdpMode,
    address: IpAddr,
    /// `--address6`: the devices' IPv6 side.
    address6: Option<IpAddr>,
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
    held_port: Option<u16>,
    faults: Vec<FaultRule>,
    duration: Option<Duration>,
    ignore_stdin: bool,
    log_soap: bool,
    profile: Option<String>,
    /// The flags given that shape the devices (which a profile fixes).
    device_flags: Vec<String>,
}

/// What standard input asks for.
enum Command {
    /// Empty every table.
    Forget,
    /// Standard input closed.
    Stop,
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1).collect()) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{}", help());
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
    for mapping in options.held_port.map(|port| held_mappings(port, sim.device_count())).unwrap_or_default() {
        sim.insert_mapping(mapping);
    }
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
    let (tx, rx) = mpsc::channel::<Command>();
    // Kept for the whole run with --ignore-stdin, so that the channel never disconnects.
    let _no_commands = if options.ignore_stdin {
        Some(tx)
    } else {
        // Detached on purpose: it blocks on stdin, and the process exits when main returns.
        let _ = std::thread::Builder::new().name("igd-sim-stdin".into()).spawn(move || read_commands(&tx));
        None
    };
    let end = options.duration.map(|d| Instant::now() + d);
    let mut log = options.log_soap.then(|| SoapLog::new(sim.device_count()));
    loop {
        let left = end.map_or(Duration::MAX, |end| end.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            break;
        }
        let wait = if log.is_some() { left.min(LOG_POLL) } else { left };
        match rx.recv_timeout(wait) {
            Ok(Command::Forget) => sim.forget_mappings(),
            Ok(Command::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(log) = &mut log {
            log.print_news(&sim);
        }
    }
    sim.stop();
    ExitCode::SUCCESS
}

/// The `--help` text with the profiles listed.
fn help() -> String {
    let mut text = HELP.to_string();
    text.push_str("\nPROFILES (--profile NAME; igd_sim::profiles cites each one's source):\n");
    for (name, what, _) in PROFILES {
        text.push_str(&format!("    {name:<28}{what}\n"));
    }
    text
}

/// Sends a command per line of standard input, then `Stop` when it closes.
fn read_commands(tx: &mpsc::Sender<Command>) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "forget" => {
                let _ = tx.send(Command::Forget);
            }
            "" => {}
            other => eprintln!("igd-sim: unknown command {other:?} (commands: forget)"),
        }
    }
    let _ = tx.send(Command::Stop);
}

/// `--log-soap`: what was printed so far.
struct SoapLog {
    /// Requests already looked at.
    seen: usize,
    /// Each device's table as last printed.
    tables: Vec<String>,
}

impl SoapLog {
    fn new(devices: usize) -> Self {
        SoapLog { seen: 0, tables: vec![String::new(); devices] }
    }

    /// Prints the searches and SOAP requests received since the last call, then each table that
    /// changed (so a table line follows the request that changed it).
    fn print_news(&mut self, sim: &Simulator) {
        let mut out = std::io::stdout().lock();
        let requests = sim.requests_from(self.seen);
        self.seen += requests.len();
        for request in &requests {
            if request.is_search() {
                let arrival = if request.arrival == Some(Arrival::Multicast) { "multicast" } else { "unicast" };
                let st = one_field(request.header("ST").unwrap_or(""));
                let _ = writeln!(out, "SEARCH\t{arrival}\t{st}\t{}", request.peer);
                continue;
            }
            if request.action.is_none() {
                continue;
            }
            let mut line = format!(
                "SOAP\t{}\t{}\t{}",
                request.device.unwrap_or(0),
                one_field(&request.path),
                request.action.as_deref().unwrap_or("")
            );
            for (name, value) in request.arguments() {
                line.push_str(&format!("\t{}={}", one_field(&name), one_field(&value)));
            }
            let _ = writeln!(out, "{line}");
        }
        for (i, printed) in self.tables.iter_mut().enumerate() {
            let table: String = sim.mappings_of(i).iter().map(table_entry).collect();
            if table != *printed {
                let _ = writeln!(out, "TABLE\t{i}{table}");
                *printed = table;
            }
        }
        let _ = out.flush();
    }
}

/// One mapping of a `TABLE` line, with its leading tab.
fn table_entry(m: &SimMapping) -> String {
    format!(
        "\t{}:{}:{}:{}:{}:{}",
        m.protocol,
        m.external_port,
        m.internal_client,
        m.internal_port,
        m.lease_seconds,
        one_field(&m.description)
    )
}

/// `text` with control characters (tabs, line breaks) as spaces, so that it stays one
/// field of one line.
fn one_field(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn parse(args: Vec<String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        mode: SsdpMode::Unicast("127.0.0.1:0".parse().expect("literal")),
        address: IpAddr::from([127, 0, 0, 1]),
        address6: None,
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
        held_port: None,
        faults: Vec::new(),
        duration: None,
        ignore_stdin: false,
        log_soap: false,
        profile: None,
        device_flags: Vec::new(),
    };
    let mut unicast: Option<SocketAddr> = None;
    let mut multicast: Option<String> = None;
    let mut ipv6 = false;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        const DEVICE_FLAGS: &[&str] = &[
            "--count",
            "--http-port",
            "--kind",
            "--trickle-rate",
            "--huge-bytes",
            "--ssdp",
            "--copies",
            "--delay-ms",
            "--flood",
            "--flood-rate",
        ];
        if DEVICE_FLAGS.contains(&flag.as_str()) {
            o.device_flags.push(flag.clone());
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--unicast" => unicast = Some(number(&flag, &value()?)?),
            "--multicast" => multicast = Some(value()?),
            "--ipv6" => ipv6 = true,
            "--address" => o.address = number(&flag, &value()?)?,
            "--address6" => match number(&flag, &value()?)? {
                IpAddr::V6(v6) => o.address6 = Some(IpAddr::V6(v6)),
                IpAddr::V4(v4) => return Err(format!("--address6 {v4}: not an IPv6 address")),
            },
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
            "--held-port" => o.held_port = Some(number(&flag, &value()?)?),
            "--profile" => {
                let name = value()?;
                if !PROFILES.iter().any(|(known, _, _)| *known == name) {
                    return Err(format!("unknown --profile {name:?} (igd-sim --help lists them)"));
                }
                o.profile = Some(name);
            }
            "--log-soap" => o.log_soap = true,
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
    if let (Some(profile), Some(flag)) = (&o.profile, o.device_flags.first()) {
        return Err(format!("--profile {profile} sets the devices: {flag} does not apply"));
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
    let mut devices = match &o.profile {
        Some(name) => {
            let (_, _, make) = PROFILES.iter().find(|(known, _, _)| known == name).ok_or("unknown profile")?;
            let devices = make(o.address);
            if devices.is_empty() {
                return Err(format!("--profile {name} does not apply to --address {} (igd-sim --help)", o.address));
            }
            devices
        }
        None => {
            let mut devices = Vec::with_capacity(o.count);
            for i in 0..o.count {
                let ip = nth_address(o.address, i).ok_or("--address + --count runs past the last address")?;
                devices.push(preset(o)?.at(SocketAddr::new(ip, o.http_port)));
            }
            devices
        }
    };
    if let Some(base) = o.address6 {
        let twins = devices
            .iter_mut()
            .enumerate()
            .map(|(i, device)| {
                let offset = if o.profile.is_some() { 0 } else { i };
                let ip = nth_address(base, offset).ok_or("--address6 + --count runs past the last address")?;
                let uuid = device.uuid.get_or_insert_with(|| igd_sim::default_uuid(i)).clone();
                Ok(device.clone().with_uuid(uuid).at(SocketAddr::new(ip, device.addr.port())))
            })
            .collect::<Result<Vec<_>, String>>()?;
        devices.extend(twins);
    }
    for device in &mut devices {
        if let SocketAddr::V6(v6) = &mut device.addr {
            v6.set_scope_id(link_local_scope(*v6.ip(), &o.mode)?);
        }
        if let Some(ip) = &o.external_ip {
            device.soap.external_ip = ip.clone();
        }
        if o.disconnected {
            device.soap.connection_status = "Disconnected".into();
        }
        device.soap.secure_mode |= o.secure_mode;
        device.soap.faults.extend(o.faults.iter().cloned());
    }
    Ok(SimConfig { ssdp: o.mode.clone(), devices })
}

/// The scope of a device's `fe80::` address: the `--multicast` interface's index (0 for
/// any other address, or in unicast mode, where the address must name no interface).
fn link_local_scope(ip: Ipv6Addr, mode: &SsdpMode) -> Result<u32, String> {
    match mode {
        SsdpMode::Multicast { interface, .. } if ip.is_unicast_link_local() => {
            igd_sim::interface_index(interface).map_err(|e| format!("address {ip}: {e}"))
        }
        _ => Ok(0),
    }
}

/// `--held-port`'s mappings, one per protocol on each device.
fn held_mappings(port: u16, devices: usize) -> Vec<SimMapping> {
    let lease = 3600;
    (0..devices)
        .flat_map(|device| {
            ["UDP", "TCP"].map(|protocol| SimMapping {
                device,
                remote_host: String::new(),
                external_port: port,
                protocol: protocol.to_string(),
                internal_port: port,
                internal_client: OTHER_CLIENT.to_string(),
                enabled: true,
                description: "another computer".to_string(),
                lease_seconds: lease,
                expires_at: Instant::now() + Duration::from_secs(u64::from(lease)),
            })
        })
        .collect()
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

    #[test]
    fn every_profile_starts_by_name() {
        for (name, _, _) in PROFILES {
            let address = if *name == "fritzbox-link-local" { "fe80::9" } else { "127.0.0.9" };
            let o =
                parse(args(&format!("--unicast 127.0.0.1:0 --address {address} --profile {name}"))).unwrap().unwrap();
            let config = build(&o).unwrap();
            assert!(!config.devices.is_empty(), "{name}");
            assert!(config.devices.iter().all(|d| d.addr.ip() == o.address), "{name}");
            assert!(help().contains(&format!("    {name} ")), "{name} is in --help");
        }
        let o = parse(args("--unicast 127.0.0.1:0 --profile sagemcom-wfa --fault GetStatusInfo=501")).unwrap().unwrap();
        let config = build(&o).unwrap();
        assert_eq!(config.devices.len(), 2);
        assert!(config.devices.iter().all(|d| d.soap.faults.len() == 1), "SOAP flags apply to every device");
        let o = parse(args("--unicast 127.0.0.1:0 --profile permanent-only")).unwrap().unwrap();
        assert_eq!(build(&o).unwrap().devices[0].soap.refuse_leases, Some(725));
        assert!(parse(args("--unicast 127.0.0.1:0 --profile nonesuch")).is_err());
        let error = parse(args("--unicast 127.0.0.1:0 --profile leading-bom --kind stall")).err().unwrap();
        assert!(error.contains("--kind does not apply"), "{error}");
        let o =
            parse(args("--unicast 127.0.0.1:0 --address 127.0.0.9 --profile fritzbox-link-local")).unwrap().unwrap();
        let error = build(&o).err().unwrap();
        assert!(error.contains("does not apply to --address 127.0.0.9"), "{error}");
        // An fe80:: device is on the --multicast interface: the loopback one, whose name
        // and index are the platform's (lo and 1 on Linux, lo0 on macOS, a longer name on Windows).
        let lo = if_addrs::get_if_addrs().unwrap().into_iter().find(|i| i.is_loopback()).unwrap();
        let mut a = args("--address fe80::9 --profile fritzbox-link-local --multicast");
        a.push(lo.name.clone());
        let o = parse(a).unwrap().unwrap();
        let scoped = std::net::SocketAddrV6::new("fe80::9".parse().unwrap(), 0, 0, lo.index.unwrap());
        assert_eq!(build(&o).unwrap().devices[0].addr, scoped.into());
        assert_eq!(held_mappings(41200, 2).len(), 4);
        let o = parse(args("--unicast 127.0.0.1:0 --address 127.0.0.9 --address6 ::1 --profile v6-firewall-off"))
            .unwrap()
            .unwrap();
        let devices = build(&o).unwrap().devices;
        let addresses: Vec<IpAddr> = devices.iter().map(|d| d.addr.ip()).collect();
        assert_eq!(addresses, ["127.0.0.9".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()], "a dual-stack router");
        assert_eq!(devices[0].uuid, devices[1].uuid, "one router: one UUID");
        assert_eq!(devices[1].soap.ipv6_firewall, Some(igd_sim::Ipv6Firewall::Off));
        let o = parse(args("--unicast 127.0.0.1:0 --count 2 --address6 fd77::10")).unwrap().unwrap();
        let twins: Vec<IpAddr> = build(&o).unwrap().devices.iter().skip(2).map(|d| d.addr.ip()).collect();
        assert_eq!(twins, ["fd77::10".parse::<IpAddr>().unwrap(), "fd77::11".parse().unwrap()]);
        assert!(parse(args("--unicast 127.0.0.1:0 --address6 10.0.0.1")).is_err());
        assert_eq!(one_field("a\tb\nc"), "a b c");
    }
}
