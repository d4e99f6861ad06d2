//! The only I/O in the crate: the SSDP socket (socket2), HTTP exchanges (ureq), NAT-PMP/PCP
//! and STUN datagrams, each bounded by a deadline.

pub mod http;
pub mod interfaces;
pub mod pmp;
pub mod ssdp;
pub mod stun;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Longest single wait on a socket. Linux rounds long socket timeouts up (its timer
/// wheel: 256 ms steps from about 2 s at HZ=250), which would overshoot a deadline; short
/// waits end within a few ms of it.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// The next datagram on `socket` before `until` (`None` when none came), waiting in
/// [`WAIT_SLICE`]s; errors other than a timeout or an interruption are returned.
pub(crate) fn recv_before(
    socket: &UdpSocket,
    until: Instant,
    buf: &mut [u8],
) -> io::Result<Option<(usize, SocketAddr)>> {
    loop {
        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(remaining.min(WAIT_SLICE)))?;
        match socket.recv_from(buf) {
            Ok(got) => return Ok(Some(got)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}
