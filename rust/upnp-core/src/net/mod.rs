//! The only I/O in the crate: the SSDP socket (socket2) and HTTP exchanges (ureq), each
//! bounded by a deadline.

pub mod http;
pub mod interfaces;
pub mod pmp;
pub mod ssdp;
