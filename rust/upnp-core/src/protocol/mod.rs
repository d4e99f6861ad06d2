//! The protocol core: pure functions over bytes and values, no I/O. Everything that
//! decides something (what a datagram says, which service is the gateway, what a fault
//! means) lives here and is tested without sockets or clocks.

pub mod description;
pub mod igd;
pub mod pmp;
pub mod result;
pub mod soap;
pub mod ssdp;
pub mod url;
pub(crate) mod xml;

pub use xml::XmlError;
