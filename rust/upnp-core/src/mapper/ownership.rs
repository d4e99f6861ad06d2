//! Which of an owner's successive mappers holds each mapping. A restart starts a new
//! mapper while the old one may still be inside a slow request; both talk to the same
//! router about the same (port, protocol). Every change to a mapping runs under that
//! mapping's lock and is checked against its holder: a newer session's add takes the
//! mapping over, and an older session neither renews nor deletes what it no longer holds.
//! Different mappings do not wait for each other.

use crate::protocol::igd::Protocol;
use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex, PoisonError};

/// A mapping as the router identifies it: UPnP by external port, NAT-PMP/PCP by our
/// internal port, an IPv6 pinhole by our address (UPnP) and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A UPnP mapping's protocol and external port.
    Upnp(Protocol, u16),
    /// A NAT-PMP/PCP mapping's protocol and internal port.
    Pmp(Protocol, u16),
    /// A UPnP pinhole's protocol, address and port.
    Pinhole(Protocol, Ipv6Addr, u16),
    /// A PCP pinhole's protocol and port.
    PcpPinhole(Protocol, u16),
}

/// What a change does to the mapping it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Makes or renews it: allowed unless a newer session holds it; success makes it ours.
    Claim,
    /// Deletes it: allowed only for its holder.
    Release,
}

/// The holders of one owner's mappings (session 0: nobody).
#[derive(Debug, Default)]
pub struct Ledger {
    keys: Mutex<HashMap<Key, Arc<Mutex<u64>>>>,
}

impl Ledger {
    /// Runs `change` for `session` on `key` under the key's lock, unless the ledger says
    /// the session may not; `None` then (nothing was sent).
    pub fn change<T, E>(
        &self,
        key: Key,
        session: u64,
        kind: Change,
        change: impl FnOnce() -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        let holder = Arc::clone(self.keys.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default());
        let mut holder = holder.lock().unwrap_or_else(PoisonError::into_inner);
        let allowed = match kind {
            Change::Claim => *holder <= session,
            Change::Release => *holder == session,
        };
        if !allowed {
            return None;
        }
        let outcome = change();
        if outcome.is_ok() {
            *holder = match kind {
                Change::Claim => session,
                Change::Release => 0,
            };
        }
        Some(outcome)
    }

    /// Records that `session` holds `key` (a mapping whose port the router chose), unless a
    /// newer session does.
    pub fn claim(&self, key: Key, session: u64) {
        let _ = self.change(key, session, Change::Claim, || Ok::<(), ()>(()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const KEY: Key = Key::Upnp(Protocol::Udp, 41000);

    #[test]
    fn a_newer_session_takes_over_and_the_older_cannot_delete_or_renew() {
        let ledger = Ledger::default();
        assert_eq!(ledger.change(KEY, 1, Change::Claim, || Ok::<_, ()>(())), Some(Ok(())));
        assert_eq!(ledger.change(KEY, 2, Change::Claim, || Ok::<_, ()>(())), Some(Ok(())));
        assert_eq!(ledger.change(KEY, 1, Change::Release, || Ok::<_, ()>(())), None, "old delete skipped");
        assert_eq!(ledger.change(KEY, 1, Change::Claim, || Ok::<_, ()>(())), None, "old renewal skipped");
        assert_eq!(ledger.change(KEY, 2, Change::Release, || Ok::<_, ()>(())), Some(Ok(())));
        // A failed add takes nothing over: the older session still removes its own.
        let other = Key::Upnp(Protocol::Tcp, 41000);
        ledger.claim(other, 1);
        assert_eq!(ledger.change(other, 2, Change::Claim, || Err::<(), _>("conflict")), Some(Err("conflict")));
        assert_eq!(ledger.change(other, 1, Change::Release, || Ok::<_, ()>(())), Some(Ok(())));
    }

    #[test]
    fn a_delete_in_flight_finishes_before_the_successor_adds() {
        let ledger = Arc::new(Ledger::default());
        ledger.claim(KEY, 1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (l, o) = (Arc::clone(&ledger), Arc::clone(&order));
        let old = std::thread::spawn(move || {
            l.change(KEY, 1, Change::Release, || {
                std::thread::sleep(Duration::from_millis(100));
                o.lock().unwrap().push("old delete");
                Ok::<_, ()>(())
            })
        });
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        ledger.change(KEY, 2, Change::Claim, || {
            order.lock().unwrap().push("new add");
            Ok::<_, ()>(())
        });
        assert!(started.elapsed() >= Duration::from_millis(50), "the add waited for the delete");
        old.join().unwrap();
        assert_eq!(*order.lock().unwrap(), ["old delete", "new add"]);
    }
}
