//! Discovery: send the searches, examine each answering device in parallel as its answer
//! arrives, and finish by the caller's deadline however many devices answer and however
//! slowly they serve their descriptions.

use crate::device::{self, Device};
use crate::error::Error;
use crate::net::ssdp::{SearchSocket, SocketConfig, own_addresses_on};
use crate::protocol::quoted;
use crate::protocol::ssdp::{self, MAX_DATAGRAM};
use crate::protocol::url::{self, HttpUrl, OwnAddress};
use crossbeam_channel::{Receiver, Sender, at, never, select};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// When an unanswered search is sent a second time (against packet loss).
pub const RESEND_AFTER: Duration = Duration::from_millis(100);
/// Most devices examined at the same time.
pub const MAX_PARALLEL_EXAMINATIONS: usize = 16;
/// Most distinct description URLs examined in one discovery.
pub const MAX_EXAMINED: usize = 64;
/// Most description URLs examined per answering address (one host can't crowd out others).
pub const MAX_EXAMINED_PER_HOST: usize = 4;
/// Most distinct answers kept.
pub const MAX_ANSWERS: usize = 256;
/// Most distinct answers kept per answering address: a host flooding answers can't
/// crowd out the router's (a router answers a search once per service it has, about ten
/// for `ssdp:all`).
pub const MAX_ANSWERS_PER_HOST: usize = 32;
/// Most diagnostic notes kept.
const MAX_NOTES: usize = 16;
/// Most diagnostic notes about one answering address (a noisy host can't crowd out the
/// notes about the others).
const MAX_NOTES_PER_HOST: usize = 4;
/// How often the receiving thread checks whether it is still wanted.
const RECEIVE_SLICE: Duration = Duration::from_millis(50);

/// What to search for and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverOptions {
    /// How long to wait for answers and descriptions (the engine's `timeout`).
    pub timeout: Duration,
    /// Keep answers whose ST contains this (the engine's `device_filter`); it also
    /// selects the searches (IGD searches for IGD-related filters, else `ssdp:all`).
    pub filter: String,
    /// Socket set-up: IPv6, TTL, source port, multicast interface, unicast target.
    pub socket: SocketConfig,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            timeout: Duration::from_millis(2000),
            filter: ssdp::DEFAULT_FILTER.to_string(),
            socket: SocketConfig { ttl: 2, ..SocketConfig::default() },
        }
    }
}

/// What a discovery found.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// The devices, in the engine's order (newest answer first).
    pub devices: Vec<Device>,
    /// Distinct usable answers received.
    pub answers: usize,
    /// Why some datagrams were not used (bounded list).
    pub notes: Vec<String>,
    /// Time from start to return.
    pub elapsed: Duration,
}

impl Discovery {
    /// The first usable gateway, in device order (the engine's `get_gateway()`).
    pub fn gateway(&self) -> Option<&Device> {
        self.devices.iter().find(|d| d.is_valid_gateway())
    }

    /// What the engine would return: `NoDevices` when nothing usable answered, else
    /// success (even when the filter kept no device).
    pub fn check_answered(&self) -> Result<(), Error> {
        if self.answers == 0 { Err(Error::NoDevices) } else { Ok(()) }
    }
}

/// Discovers devices, waiting the whole timeout for answers (like the engine).
/// Fails only when the search cannot be sent; see [`Discovery::check_answered`].
pub fn discover(options: &DiscoverOptions) -> Result<Discovery, Error> {
    Search::new(options, false)?.run()
}

/// Like [`discover`], but returns as soon as one usable gateway is confirmed (it is
/// then `devices[0]`), without waiting out the timeout.
pub fn find_gateway(options: &DiscoverOptions) -> Result<Discovery, Error> {
    Search::new(options, true)?.run()
}

/// Examines the device whose description is at `description_url`, skipping discovery
/// (the engine has no such call; Godot PR #68276 asked for one). The URL's host must be
/// an IP address: a host name fails at once with [`Error::Http`] (`HTTP_ERROR`) and is
/// never resolved, as a lookup would not keep to `timeout` (the port mapper reads this
/// URL from a file, which is input like any other).
pub fn device_from_url(description_url: &str, timeout: Duration) -> Result<Device, Error> {
    let location = crate::gateway::literal_url("description URL", description_url)?;
    Ok(device::examine(&location, description_url, Instant::now() + timeout))
}

struct ScheduledSearch {
    at: Instant,
    search: usize,
    repeat: bool,
}

struct Answer {
    /// Index of the search this answer belongs to.
    search: usize,
    location: String,
    st: String,
    usn: String,
}

struct Search<'a> {
    options: &'a DiscoverOptions,
    first_gateway: bool,
    targets: &'static [&'static str],
    mx: u64,
    start: Instant,
    deadline: Instant,
    socket: SearchSocket,
    answers: Vec<Answer>,
    seen: HashSet<(String, String, String)>,
    answer_quota: Quota,
    /// Examination results by description URL; `None` while running or queued.
    examined: HashMap<String, Option<Device>>,
    examination_quota: Quota,
    queue: VecDeque<(HttpUrl, String)>,
    running: usize,
    results_tx: Sender<(String, Device)>,
    results_rx: Receiver<(String, Device)>,
    notes: Vec<String>,
    notes_per_host: HashMap<IpAddr, usize>,
    /// This host's IPv6 addresses by interface index (see `own_addresses_towards`).
    own_addresses: HashMap<u32, Vec<OwnAddress>>,
    receiver_stop: Arc<AtomicBool>,
}

impl Drop for Search<'_> {
    fn drop(&mut self) {
        self.receiver_stop.store(true, Ordering::Relaxed);
    }
}

impl<'a> Search<'a> {
    fn new(options: &'a DiscoverOptions, first_gateway: bool) -> Result<Self, Error> {
        let start = Instant::now();
        let socket = SearchSocket::open(&options.socket)?;
        let (results_tx, results_rx) = crossbeam_channel::unbounded();
        Ok(Search {
            options,
            first_gateway,
            targets: ssdp::search_targets(&options.filter),
            mx: ssdp::mx_for_timeout_ms(options.timeout.as_millis() as u64),
            start,
            deadline: start + options.timeout,
            socket,
            answers: Vec::new(),
            seen: HashSet::new(),
            answer_quota: Quota::new(MAX_ANSWERS, MAX_ANSWERS_PER_HOST),
            examined: HashMap::new(),
            examination_quota: Quota::new(MAX_EXAMINED, MAX_EXAMINED_PER_HOST),
            queue: VecDeque::new(),
            running: 0,
            results_tx,
            results_rx,
            notes: Vec::new(),
            notes_per_host: HashMap::new(),
            own_addresses: HashMap::new(),
            receiver_stop: Arc::new(AtomicBool::new(false)),
        })
    }

    fn run(mut self) -> Result<Discovery, Error> {
        let mut schedule = self.search_schedule().into_iter().peekable();
        // The first search is sent now: a socket that cannot send fails the discovery.
        let mut sent = vec![false; self.targets.len()];
        if let Some(first) = schedule.next() {
            self.socket.send_search(self.targets[first.search], self.mx)?;
            sent[first.search] = true;
        }
        let mut datagrams = self.spawn_receiver()?;
        let deadline = at(self.deadline);
        let results = self.results_rx.clone();
        loop {
            let next_send = schedule.peek().map_or_else(never, |s| at(s.at));
            select! {
                recv(datagrams) -> got => match got {
                    Ok((bytes, from)) => self.on_datagram(&bytes, from),
                    Err(_) => datagrams = never(),
                },
                recv(results) -> got => {
                    let Ok((location, device)) = got else { continue };
                    self.running -= 1;
                    let done = self.first_gateway && device.is_valid_gateway();
                    self.examined.insert(location, Some(device));
                    if done {
                        break;
                    }
                    self.start_queued();
                },
                recv(next_send) -> _ => {
                    let Some(send) = schedule.next() else { continue };
                    if self.should_send(&send, sent[send.search]) {
                        // Best effort: the first send already proved the socket works.
                        let _ = self.socket.send_search(self.targets[send.search], self.mx);
                        sent[send.search] = true;
                    }
                },
                recv(deadline) -> _ => break,
            }
        }
        Ok(self.finish())
    }

    /// When each M-SEARCH goes out. Like the engine, the searches are tried one after
    /// the other and later ones only when nothing has answered yet; each is repeated
    /// once after [`RESEND_AFTER`] unless it was answered. Fewer searches matter:
    /// miniupnpd delays its answers and its HTTP service by about 25 ms per M-SEARCH in
    /// flight (measured on the test bed: one search, description in 2 ms; four searches
    /// sent twice, 100 ms).
    ///
    /// The IGD search after `ssdp:all` ([`ssdp::is_igd_companion`]) goes out with the
    /// first repeat instead, when no answer names an IGD by then.
    fn search_schedule(&self) -> Vec<ScheduledSearch> {
        let step = self.options.timeout / self.targets.len() as u32;
        let mut schedule = Vec::new();
        for search in 0..self.targets.len() {
            let first = if ssdp::is_igd_companion(self.targets, search) {
                self.start + RESEND_AFTER.min(step / 2)
            } else {
                self.start + step * search as u32
            };
            schedule.push(ScheduledSearch { at: first, search, repeat: false });
            schedule.push(ScheduledSearch { at: first + RESEND_AFTER.min(step / 2), search, repeat: true });
        }
        schedule.retain(|s| s.at < self.deadline || s.search == 0 && !s.repeat);
        schedule.sort_by_key(|s| s.at);
        schedule
    }

    fn should_send(&self, send: &ScheduledSearch, already_sent: bool) -> bool {
        if ssdp::is_igd_companion(self.targets, send.search) {
            // Its answers count as `ssdp:all`'s (the engine lists them together).
            let igd_answered = self.answers.iter().any(|a| ssdp::names_igd(&a.st));
            !igd_answered && (already_sent || !send.repeat)
        } else if send.repeat {
            already_sent && !self.answers.iter().any(|a| a.search == send.search)
        } else {
            self.answers.is_empty()
        }
    }

    /// A receiving thread per search socket, all feeding one channel.
    fn spawn_receiver(&self) -> Result<Receiver<(Vec<u8>, SocketAddr)>, Error> {
        let (tx, rx) = crossbeam_channel::bounded(1024);
        for socket in self.socket.receivers()? {
            let (stop, deadline, tx) = (Arc::clone(&self.receiver_stop), self.deadline, tx.clone());
            thread::Builder::new()
                .name("upnp-ssdp-recv".into())
                .spawn(move || {
                    let mut buf = vec![0u8; MAX_DATAGRAM];
                    while !stop.load(Ordering::Relaxed) {
                        let slice_end = deadline.min(Instant::now() + RECEIVE_SLICE);
                        match socket.receive(&mut buf, slice_end) {
                            Ok(Some((n, from))) => {
                                if tx.send((buf[..n].to_vec(), from)).is_err() {
                                    break;
                                }
                            }
                            Ok(None) if Instant::now() >= deadline => break,
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| Error::Socket(format!("cannot start the receiving thread: {e}")))?;
        }
        Ok(rx)
    }

    /// Keeps a note about `host`, within [`MAX_NOTES`] and [`MAX_NOTES_PER_HOST`].
    fn note(&mut self, host: IpAddr, text: String) {
        if self.notes.len() >= MAX_NOTES {
            return;
        }
        let count = self.notes_per_host.entry(host).or_insert(0);
        if *count < MAX_NOTES_PER_HOST {
            *count += 1;
            self.notes.push(text);
        }
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let host = from.ip();
        // A host past its cap is dropped before any parsing: a flood must cost as little
        // as possible, or the socket's buffer overflows and other hosts' answers are lost.
        if self.answer_quota.spent(host) {
            return;
        }
        let answer = match ssdp::parse_answer(bytes) {
            Ok(a) => a,
            Err(e) => return self.note(host, format!("ignored a datagram from {from}: {e}")),
        };
        let location = match HttpUrl::parse(&answer.location) {
            Ok(u) => u,
            Err(e) => {
                return self.note(host, format!("ignored {from}: its LOCATION {} {e}", quoted(&answer.location)));
            }
        };
        let location = match url::location_to_fetch(location, from, self.own_addresses_towards(from)) {
            Ok(u) => u,
            Err(why) => {
                return self.note(host, format!("ignored {from}: its LOCATION {} {why}", quoted(&answer.location)));
            }
        };
        let key = (answer.location.clone(), answer.st.clone(), answer.usn.clone());
        if self.seen.contains(&key) {
            return;
        }
        match self.answer_quota.take(host) {
            Ok(()) => {}
            Err(Refused { first: false, .. }) => return,
            Err(Refused { host_cap: true, .. }) => {
                let text = format!(
                    "ignored {from}: more than {MAX_ANSWERS_PER_HOST} answers from {host} (and its later ones)"
                );
                return self.note(host, text);
            }
            Err(Refused { host_cap: false, .. }) => {
                let text = format!("ignored {from}: more than {MAX_ANSWERS} answers in all (and all later ones)");
                return self.note(host, text);
            }
        }
        self.seen.insert(key);
        let wanted = ssdp::filter_matches(&self.options.filter, &answer.st);
        self.answers.push(Answer {
            search: ssdp::search_index(self.targets, &answer.st),
            location: answer.location.clone(),
            st: answer.st,
            usn: answer.usn,
        });
        // Devices the filter drops are never listed, so never examined.
        if wanted {
            self.examine(location, answer.location, from.ip());
        }
    }

    /// This host's addresses on the interface a datagram from `from` arrived on, as far
    /// as [`url::location_allowed`] needs them: for a link-local IPv6 sender, whose scope
    /// names that interface (listed once per interface and discovery); none otherwise.
    fn own_addresses_towards(&mut self, from: SocketAddr) -> &[OwnAddress] {
        match from {
            SocketAddr::V6(v6) => {
                self.own_addresses.entry(v6.scope_id()).or_insert_with(|| own_addresses_on(v6.scope_id()))
            }
            SocketAddr::V4(_) => &[],
        }
    }

    fn examine(&mut self, location: HttpUrl, raw: String, host: IpAddr) {
        if self.examined.contains_key(&raw) {
            return;
        }
        match self.examination_quota.take(host) {
            Ok(()) => {}
            Err(Refused { first: false, .. }) => return,
            Err(Refused { host_cap: true, .. }) => {
                let text = format!(
                    "not examining {raw}: {MAX_EXAMINED_PER_HOST} descriptions from {host} are examined already (nor its later ones)"
                );
                return self.note(host, text);
            }
            Err(Refused { host_cap: false, .. }) => {
                let text = format!(
                    "not examining {raw}: {MAX_EXAMINED} descriptions are examined already (nor any later ones)"
                );
                return self.note(host, text);
            }
        }
        self.examined.insert(raw.clone(), None);
        self.queue.push_back((location, raw));
        self.start_queued();
    }

    fn start_queued(&mut self) {
        while self.running < MAX_PARALLEL_EXAMINATIONS {
            let Some((location, raw)) = self.queue.pop_front() else { return };
            let key = raw.clone();
            let tx = self.results_tx.clone();
            let deadline = self.deadline;
            let spawned = thread::Builder::new().name("upnp-examine".into()).spawn(move || {
                let device = device::examine(&location, &raw, deadline);
                let _ = tx.send((raw, device));
            });
            match spawned {
                Ok(_) => self.running += 1,
                Err(e) => {
                    let device = Device::unexamined(&key, "", "", &format!("not examined: {e}"));
                    self.examined.insert(key, Some(device));
                }
            }
        }
    }

    fn finish(mut self) -> Discovery {
        // Like the engine, only answers to the first search that got any are listed.
        let stage = self.answers.iter().map(|a| a.search).min();
        let mut devices = Vec::new();
        for answer in self.answers.iter().rev() {
            if Some(answer.search) != stage || !ssdp::filter_matches(&self.options.filter, &answer.st) {
                continue;
            }
            let mut device = match self.examined.get(&answer.location) {
                Some(Some(device)) => device.clone(),
                Some(None) => Device::unexamined("", "", "", "description not received within the timeout"),
                None => Device::unexamined("", "", "", "not examined: too many devices answered"),
            };
            device.description_url = answer.location.clone();
            device.service_type = answer.st.clone();
            device.usn = answer.usn.clone();
            devices.push(device);
        }
        if self.first_gateway {
            // Put the gateway that ended the search first; the rest keep their order.
            devices.sort_by_key(|d| !d.is_valid_gateway());
        }
        let answers = self.answers.len();
        Discovery { devices, answers, notes: std::mem::take(&mut self.notes), elapsed: self.start.elapsed() }
    }
}

/// A total cap and a per-host cap on what discovery grants (answers kept, descriptions
/// examined). Each cap's first refusal (per host, for the per-host cap) is flagged so
/// that it is noted once, not once per datagram of a flood.
struct Quota {
    total: usize,
    per_host: usize,
    granted: usize,
    /// Grants per host; `per_host + 1` once a refusal was reported. Only hosts granted
    /// something are keys, so it holds at most `total` entries.
    by_host: HashMap<IpAddr, usize>,
    total_refusal_reported: bool,
}

/// Why [`Quota::take`] said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Refused {
    /// The host's own cap (else the total one).
    host_cap: bool,
    /// The first such refusal (for this host, with `host_cap`): worth a note.
    first: bool,
}

impl Quota {
    fn new(total: usize, per_host: usize) -> Self {
        Quota { total, per_host, granted: 0, by_host: HashMap::new(), total_refusal_reported: false }
    }

    /// Whether `host` was refused already (its cap reached and reported).
    fn spent(&self, host: IpAddr) -> bool {
        self.by_host.get(&host).is_some_and(|&c| c > self.per_host)
    }

    /// Grants one more to `host`, unless a cap is reached.
    fn take(&mut self, host: IpAddr) -> Result<(), Refused> {
        if let Some(count) = self.by_host.get_mut(&host).filter(|c| **c >= self.per_host) {
            let first = *count == self.per_host;
            *count = self.per_host + 1;
            return Err(Refused { host_cap: true, first });
        }
        if self.granted >= self.total {
            let first = !std::mem::replace(&mut self.total_refusal_reported, true);
            return Err(Refused { host_cap: false, first });
        }
        self.granted += 1;
        *self.by_host.entry(host).or_insert(0) += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the hostile-devices matrix: 10,000 answers from one host filled the 256
    /// answers kept before the router's answer arrived, so the router was never found,
    /// and the flood's notes (one per datagram) hid every other note.
    #[test]
    fn one_host_cannot_use_up_the_quota_of_the_others() {
        let flooder: IpAddr = "10.0.0.66".parse().unwrap();
        let router: IpAddr = "10.0.0.1".parse().unwrap();
        let mut quota = Quota::new(MAX_ANSWERS, MAX_ANSWERS_PER_HOST);
        let granted = (0..10_000).filter(|_| quota.take(flooder).is_ok()).count();
        assert_eq!(granted, MAX_ANSWERS_PER_HOST);
        assert_eq!(quota.take(router), Ok(()));
        // The flooder's refusals: the first is flagged for a note, the others are not.
        let mut quota = Quota::new(4, 2);
        assert_eq!((quota.take(flooder), quota.take(flooder)), (Ok(()), Ok(())));
        assert!(!quota.spent(flooder), "at its cap, not yet refused");
        assert_eq!(quota.take(flooder), Err(Refused { host_cap: true, first: true }));
        assert!(quota.spent(flooder), "refused and reported: later datagrams are dropped unread");
        assert!(!quota.spent(router));
        assert_eq!(quota.take(flooder), Err(Refused { host_cap: true, first: false }));
        // The total cap still holds across hosts, and is reported once.
        let others: Vec<IpAddr> = (2..6).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        assert_eq!(quota.take(others[0]), Ok(()));
        assert_eq!(quota.take(others[1]), Ok(()));
        assert_eq!(quota.take(others[2]), Err(Refused { host_cap: false, first: true }));
        assert_eq!(quota.take(others[3]), Err(Refused { host_cap: false, first: false }));
        assert_eq!(quota.take(flooder), Err(Refused { host_cap: true, first: false }));
        assert_eq!(quota.by_host.len(), 3, "only hosts granted something are kept");
    }
}
