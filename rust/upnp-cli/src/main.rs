//! `upnp`: find the UPnP gateway, show its state, add, list or delete port mappings, and
//! open IPv6 pinholes.
//! A diagnosis tool on the same core the Godot extension uses.

mod diagnose;
mod output;

use clap::{Args, Parser, Subcommand, ValueEnum};
use output::Output;
use std::net::{Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use upnp_core::gateway::ACTION_TIMEOUT;
use upnp_core::protocol::{igd, pinhole};
use upnp_core::{Device, DiscoverOptions, Error, Firewall, SocketConfig};

/// Find UPnP gateways and manage their port mappings.
#[derive(Parser, Debug)]
#[command(name = "upnp", version, about)]
struct Cli {
    #[command(flatten)]
    options: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct GlobalOptions {
    /// Discovery timeout in milliseconds.
    #[arg(long, global = true, default_value_t = 2000)]
    timeout: u64,
    /// Multicast TTL (IPv4) or hop limit (IPv6).
    #[arg(long, global = true, default_value_t = 2)]
    ttl: u8,
    /// Discover over IPv6 (ff05::c and ff02::c).
    #[arg(long, global = true)]
    ipv6: bool,
    /// Network interface for multicast, by name (eth0) or address.
    #[arg(long, global = true, value_name = "NAME|ADDRESS")]
    interface: Option<String>,
    /// Source port for discovery: 0 = any, 1 = 1900, else that port.
    #[arg(long, global = true, default_value_t = 0)]
    local_port: u16,
    /// Keep devices whose SSDP ST contains this text.
    #[arg(long, global = true, default_value = "InternetGatewayDevice")]
    filter: String,
    /// Skip discovery and use the device described at this URL.
    #[arg(long, global = true, value_name = "DESCRIPTION_URL")]
    url: Option<String>,
    /// Send searches to this address instead of multicast (for simulators).
    #[arg(long, global = true, value_name = "ADDRESS:PORT", hide = true)]
    target: Option<SocketAddr>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the devices that answer discovery, with their status.
    Discover {
        /// Stop at the first usable gateway instead of waiting the whole timeout.
        #[arg(long)]
        first: bool,
    },
    /// Show the gateway, its connection state and external address.
    Status,
    /// Print the gateway's external address.
    ExternalIp,
    /// Map an external port to this computer.
    Add {
        /// External port (1-65535).
        port: u16,
        /// Internal port (default: the same as PORT).
        #[arg(long, default_value_t = 0)]
        internal: u16,
        /// Protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// Description the router shows.
        #[arg(long, default_value = "upnp CLI")]
        desc: String,
        /// Lease in seconds (0 = permanent, or the longest the router allows).
        #[arg(long, default_value_t = 0)]
        lease: u32,
        /// Let the router pick another port if PORT is taken (IGD v2 AddAnyPortMapping).
        #[arg(long)]
        any: bool,
    },
    /// Remove a port mapping.
    Delete {
        /// External port.
        port: u16,
        /// Protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
    },
    /// List the gateway's port mappings.
    List,
    /// IPv6 pinholes (the router's WANIPv6FirewallControl:1): let players in through the
    /// router's IPv6 firewall to this computer. Without --url the router is found over
    /// IPv6 and asked from our IPv6 address: a router in secure mode (miniupnpd's default)
    /// opens pinholes only for the address a request comes from, and refuses any asked
    /// over IPv4 (606).
    ///
    /// Bad input fails before anything is sent, with one error line: an address that is
    /// not IPv6 or an id that is not a number 0-65535 gives UPNP_RESULT_INVALID_ARGS (20), a
    /// port out of range UPNP_RESULT_INVALID_PORT (17), a lease outside 1-86400 s
    /// UPNP_RESULT_INVALID_DURATION (19). A router with its IPv6 firewall off answers 702
    /// (UPNP_RESULT_ACTION_FAILED; nothing to open then), one with no such service
    /// UPNP_RESULT_INVALID_GATEWAY.
    #[command(verbatim_doc_comment)]
    Pinhole {
        #[command(subcommand)]
        command: PinholeCommand,
    },
    /// One report: the interfaces searched, the devices found, the gateway chosen and why,
    /// the external address and its kind, the NAT-PMP/PCP answers, and one line of advice.
    /// Always exits 0 with a report; takes about --timeout.
    ///
    /// JSON fields: interfaces[] {name, index, ipv4[], ipv6[], gateway (null: none),
    /// point_to_point}; devices[] (as `discover`, plus chosen, why); answers; notes[];
    /// discovery_error (null when the search was sent); gateway (the chosen device's
    /// description_url, igd_control_url, igd_our_addr, why; null: none); external_address
    /// ("" when none); external_address_kind (public, private, shared, none);
    /// external_address_source (upnp, natpmp, none); pmp[] {interface, gateway, answered,
    /// method (NAT-PMP or PCP), external_address, error}; stun (null: not asked; else
    /// {server, answered, address, port, same_as_external, error}); advice; advice_code
    /// (ok, another_nat, hidden_nat, shared_address, no_external_address, pmp_only,
    /// device_not_usable, no_router, switch_upnp_on, search_failed); elapsed_ms.
    #[command(verbatim_doc_comment)]
    Diagnose {
        /// A STUN server (host:port, or host for 3478) to ask which address the internet
        /// sees; a difference from the router's external address is a NAT in between.
        #[arg(long, value_name = "SERVER")]
        stun: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
#[command(args_conflicts_with_subcommands = true)]
enum PinholeCommand {
    /// Open a pinhole to PORT of this computer; prints its id (JSON: id, internal_client,
    /// internal_port, protocol, remote_host, remote_port, lease_seconds, action_ms).
    #[command(allow_negative_numbers = true)]
    Add {
        /// Our port the traffic goes to (1-65535).
        port: i64,
        /// Protocol.
        #[arg(long, value_enum, default_value_t = Proto::Udp)]
        proto: Proto,
        /// Lease in seconds (1-86400; renew it with `update`).
        #[arg(long, default_value_t = 3600)]
        lease: i64,
        /// Only this IPv6 host may come in (default: any).
        #[arg(long, default_value = "")]
        remote_host: String,
        /// Only from this port (0: any).
        #[arg(long, default_value_t = 0)]
        remote_port: i64,
        /// Our IPv6 address to open it for (default: the one the router sees us as, else
        /// this host's first global or unique-local address).
        #[arg(long)]
        internal_client: Option<String>,
    },
    /// Give pinhole ID a new lease of LEASE seconds (1-86400), from now.
    #[command(allow_negative_numbers = true)]
    Update {
        /// The id `add` printed.
        id: String,
        /// Lease in seconds.
        lease: i64,
    },
    /// Close pinhole ID.
    Delete {
        /// The id `add` printed.
        id: String,
    },
    /// Whether traffic goes through pinhole ID (CheckPinholeWorking; "unknown" until a
    /// packet went through) and how many packets did (GetPinholePackets).
    Check {
        /// The id `add` printed.
        id: String,
    },
    /// The firewall's status and, for each ID given, its packet count or why it has none.
    /// UPnP has no action that lists pinholes: give the ids `add` printed.
    List {
        /// Pinhole ids.
        ids: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn engine_name(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.options.json);
    match run(&cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err((what, e)) => {
            out.failure(&what, &e);
            ExitCode::FAILURE
        }
    }
}

type Failure = (String, Error);

fn run(cli: &Cli, out: &Output) -> Result<(), Failure> {
    let o = &cli.options;
    match &cli.command {
        Command::Discover { first } => {
            let options = discover_options(o);
            let run = if *first { upnp_core::find_gateway } else { upnp_core::discover };
            let discovery = run(&options).map_err(|e| ("discovery".to_string(), e))?;
            discovery.check_answered().map_err(|e| ("discovery".to_string(), e))?;
            out.discovery(&discovery);
            Ok(())
        }
        Command::Status => {
            let device = gateway_device(o, discover_options(o))?;
            let gateway = device.gateway.as_ref().expect("a valid gateway has a connection service");
            let status = gateway.status_info(deadline()).map_err(|e| ("GetStatusInfo".to_string(), e))?;
            let external =
                gateway.external_ip_address(deadline()).map_err(|e| ("GetExternalIPAddress".to_string(), e))?;
            // The IPv6 side never fails the command: a router without the service, or
            // one that does not answer it, is what the report says.
            let firewall =
                Firewall::find(&device.description_url, deadline()).and_then(|f| f.status(deadline()).map(|s| (f, s)));
            out.status(&device, &status, &external, &firewall, &own_ipv6_addresses());
            Ok(())
        }
        Command::Pinhole { command } => pinhole(o, command, out),
        Command::ExternalIp => {
            let device = gateway_device(o, discover_options(o))?;
            let gateway = device.gateway.as_ref().expect("a valid gateway has a connection service");
            let external =
                gateway.external_ip_address(deadline()).map_err(|e| ("GetExternalIPAddress".to_string(), e))?;
            out.external_ip(&external);
            Ok(())
        }
        Command::Add { port, internal, proto, desc, lease, any } => {
            let what = format!("adding {} port {port}", proto.engine_name());
            let args = igd::check_add(
                true,
                i64::from(*port),
                i64::from(*internal),
                desc,
                proto.engine_name(),
                i64::from(*lease),
            )
            .map_err(|e| (what.clone(), e.into()))?;
            let device = gateway_device(o, discover_options(o))?;
            let gateway = device.gateway.as_ref().expect("a valid gateway has a connection service");
            let started = Instant::now();
            let external_port = if *any {
                gateway.add_any_port_mapping(&args, deadline())
            } else {
                gateway.add_port_mapping(&args, deadline()).map(|()| args.external_port)
            }
            .map_err(|e| (what, e))?;
            out.added(gateway, &args, external_port, started.elapsed());
            Ok(())
        }
        Command::Delete { port, proto } => {
            let device = gateway_device(o, discover_options(o))?;
            let gateway = device.gateway.as_ref().expect("a valid gateway has a connection service");
            let protocol = igd::Protocol::parse(proto.engine_name()).expect("UDP and TCP parse");
            let started = Instant::now();
            gateway
                .delete_port_mapping(*port, protocol, deadline())
                .map_err(|e| (format!("deleting {protocol} port {port}"), e))?;
            out.deleted(*port, protocol, started.elapsed());
            Ok(())
        }
        Command::Diagnose { stun } => {
            out.diagnosis(&diagnose::Diagnosis::run(&discover_options(o), o.url.as_deref(), stun.as_deref()));
            Ok(())
        }
        Command::List => {
            let device = gateway_device(o, discover_options(o))?;
            let gateway = device.gateway.as_ref().expect("a valid gateway has a connection service");
            let entries = gateway.list_mappings(deadline()).map_err(|e| ("listing mappings".to_string(), e))?;
            out.mappings(&entries);
            Ok(())
        }
    }
}

fn deadline() -> Instant {
    Instant::now() + ACTION_TIMEOUT
}

fn discover_options(o: &GlobalOptions) -> DiscoverOptions {
    DiscoverOptions {
        timeout: Duration::from_millis(o.timeout),
        filter: o.filter.clone(),
        socket: SocketConfig {
            ipv6: o.ipv6,
            ttl: o.ttl,
            local_port: o.local_port,
            multicast_if: o.interface.clone(),
            unicast_target: o.target,
        },
    }
}

/// The gateway to act on: the device at `--url`, or the first usable one discovery
/// (with `options`) finds.
fn gateway_device(o: &GlobalOptions, options: DiscoverOptions) -> Result<Device, Failure> {
    let device = match &o.url {
        Some(url) => upnp_core::device_from_url(url, Duration::from_millis(o.timeout).max(ACTION_TIMEOUT))
            .map_err(|e| ("reading the device description".to_string(), e))?,
        None => {
            let discovery = upnp_core::find_gateway(&options).map_err(|e| ("discovery".to_string(), e))?;
            discovery.check_answered().map_err(|e| ("discovery".to_string(), e))?;
            match discovery.gateway() {
                Some(d) => d.clone(),
                None => {
                    let why = discovery
                        .devices
                        .first()
                        .map(|d| format!(" (first device: {}: {})", d.description_url, d.note))
                        .unwrap_or_default();
                    return Err((format!("finding a gateway{why}"), Error::NoGateway));
                }
            }
        }
    };
    if device.is_valid_gateway() {
        Ok(device)
    } else {
        let note = if device.note.is_empty() { "not usable" } else { device.note.as_str() };
        Err((format!("using {} ({}: {note})", device.description_url, device.status.constant_name()), Error::NoGateway))
    }
}

/// `upnp pinhole ...`: every argument checked before the router is looked for.
fn pinhole(o: &GlobalOptions, command: &PinholeCommand, out: &Output) -> Result<(), Failure> {
    let id_of = |what: &str, id: &str| pinhole::parse_id(id).map_err(|e| (format!("{what} {id:?}"), e.into()));
    match command {
        PinholeCommand::Add { port, proto, lease, remote_host, remote_port, internal_client } => {
            let what = format!("opening a pinhole to {} port {port}", proto.engine_name());
            let invalid = |e: igd::InvalidArgument| (what.clone(), Error::from(e));
            // Everything is checked before the router is looked for; the default address
            // is known only then, so a stand-in takes its place in this first check.
            let given_client = internal_client.as_deref().unwrap_or("::1");
            pinhole::check_pinhole(remote_host, *remote_port, given_client, *port, proto.engine_name())
                .map_err(invalid)?;
            let lease_seconds = pinhole::check_lease(*lease).map_err(invalid)?;
            let firewall = firewall(o)?;
            let client = match internal_client {
                Some(client) => client.clone(),
                None => firewall
                    .pinhole_address()
                    .or_else(|| own_ipv6_addresses().first().copied())
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            };
            let hole = pinhole::check_pinhole(remote_host, *remote_port, &client, *port, proto.engine_name())
                .map_err(|e| (format!("{what} (this host has no global or unique-local IPv6 address)"), e.into()))?;
            let started = Instant::now();
            let id = firewall.add_pinhole(&hole, lease_seconds, deadline()).map_err(|e| (what, e))?;
            out.pinhole_added(id, &hole, lease_seconds, started.elapsed());
        }
        PinholeCommand::Update { id, lease } => {
            let what = "renewing pinhole";
            let id = id_of(what, id)?;
            let lease_seconds = pinhole::check_lease(*lease).map_err(|e| (format!("{what} {id}"), e.into()))?;
            let firewall = firewall(o)?;
            let started = Instant::now();
            firewall.update_pinhole(id, lease_seconds, deadline()).map_err(|e| (format!("{what} {id}"), e))?;
            out.pinhole_changed("updated", id, Some(lease_seconds), started.elapsed());
        }
        PinholeCommand::Delete { id } => {
            let id = id_of("deleting pinhole", id)?;
            let firewall = firewall(o)?;
            let started = Instant::now();
            firewall.delete_pinhole(id, deadline()).map_err(|e| (format!("deleting pinhole {id}"), e))?;
            out.pinhole_changed("deleted", id, None, started.elapsed());
        }
        PinholeCommand::Check { id } => {
            let id = id_of("checking pinhole", id)?;
            let firewall = firewall(o)?;
            let started = Instant::now();
            let working =
                firewall.check_pinhole_working(id, deadline()).map_err(|e| (format!("checking pinhole {id}"), e))?;
            let check_took = started.elapsed();
            let packets = firewall
                .pinhole_packets(id, deadline())
                .map_err(|e| (format!("counting pinhole {id}'s packets"), e))?;
            out.pinhole_checked(id, working, packets, check_took);
        }
        PinholeCommand::List { ids } => {
            let ids = ids.iter().map(|id| id_of("listing pinhole", id)).collect::<Result<Vec<u16>, _>>()?;
            let firewall = firewall(o)?;
            let status = firewall.status(deadline()).map_err(|e| ("GetFirewallStatus".to_string(), e))?;
            let packets: Vec<_> = ids.iter().map(|&id| (id, firewall.pinhole_packets(id, deadline()))).collect();
            out.pinholes(&firewall, status, &packets);
        }
    }
    Ok(())
}

/// The router's firewall service: at `--url`, or on the gateway an IPv6 discovery finds.
fn firewall(o: &GlobalOptions) -> Result<Firewall, Failure> {
    let description_url = match &o.url {
        Some(url) => url.clone(),
        None => {
            let mut options = discover_options(o);
            options.socket.ipv6 = true;
            gateway_device(o, options)?.description_url
        }
    };
    Firewall::find(&description_url, deadline()).map_err(|e| ("finding the IPv6 firewall service".to_string(), e))
}

/// This host's IPv6 addresses a player could reach (global first, then unique-local).
fn own_ipv6_addresses() -> Vec<Ipv6Addr> {
    pinhole::reachable_addresses(upnp_core::net::interfaces::list().into_iter().flat_map(|i| i.ipv6))
}
