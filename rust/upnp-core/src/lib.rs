//! A UPnP Internet Gateway Device client in pure Rust, built for games: it finds the
//! router, maps ports and never blocks past the caller's deadline.
//!
//! Layout:
//! - [`protocol`]: pure functions over bytes and values (SSDP, descriptions, SOAP, URLs,
//!   the engine's result codes). No I/O.
//! - [`net`]: the only I/O, each call bounded by a deadline.
//! - [`discover`], [`device`], [`gateway`]: the client API built from the two;
//!   [`firewall`]: IPv6 pinholes on the router's WANIPv6FirewallControl service.
//! - [`pmp`]: NAT-PMP and PCP port mapping, for routers that speak them instead of (or
//!   besides) UPnP.
//! - [`mapper`]: a port kept open on a thread of its own (the node's engine): its
//!   decisions a state machine without I/O ([`mapper::policy`]), a thin driver around it.
//! - [`engine`]: the engine's `UPNP` / `UPNPDevice` behaviour over plain values.

pub mod device;
pub mod discover;
pub mod engine;
pub mod error;
pub mod firewall;
pub mod gateway;
pub mod mapper;
pub mod net;
pub mod panic_guard;
pub mod pmp;
pub mod protocol;

pub use device::Device;
pub use discover::{DiscoverOptions, Discovery, device_from_url, discover, find_gateway};
pub use error::Error;
pub use firewall::Firewall;
pub use gateway::Gateway;
pub use net::ssdp::SocketConfig;
pub use protocol::igd::{MappingArgs, PortMappingEntry, Protocol};
pub use protocol::result::{IgdStatus, UpnpResult};
