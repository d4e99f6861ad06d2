//! `upnp`: find the UPnP gateway, show its state, and add, list or delete port mappings.
//! A diagnosis tool on the same core the Godot extension uses.

mod diagnose;
mod output;

use clap::{Args, Parser, Subcommand, ValueEnum};
use output::Output;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use upnp_core::gateway::ACTION_TIMEOUT;
use upnp_core::protocol::igd;
use upnp_core::{Device, DiscoverOptions, Error, SocketConfig};

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
            let device = gateway_device(o)?;
            let gateway = device.gateway.as_ref().expect("a valid gateway has a connection service");
            let status = gateway.status_info(deadline()).map_err(|e| ("GetStatusInfo".to_string(), e))?;
            let external =
                gateway.external_ip_address(deadline()).map_err(|e| ("GetExternalIPAddress".to_string(), e))?;
            out.status(&device, &status, &external);
            Ok(())
        }
        Command::ExternalIp => {
            let device = gateway_device(o)?;
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
            let device = gateway_device(o)?;
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
            let device = gateway_device(o)?;
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
            let device = gateway_device(o)?;
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

/// The gateway to act on: the device at `--url`, or the first usable one discovery finds.
fn gateway_device(o: &GlobalOptions) -> Result<Device, Failure> {
    let device = match &o.url {
        Some(url) => upnp_core::device_from_url(url, Duration::from_millis(o.timeout).max(ACTION_TIMEOUT))
            .map_err(|e| ("reading the device description".to_string(), e))?,
        None => {
            let discovery = upnp_core::find_gateway(&discover_options(o)).map_err(|e| ("discovery".to_string(), e))?;
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
