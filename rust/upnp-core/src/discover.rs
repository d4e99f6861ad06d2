//! Discovery: send the searches, examine each answering device in parallel as its answer
//! arrives, and finish by the caller's deadline however many devices answer and however
//! slowly they serve their descriptions.

use crate::device::{self, Device};
use crate::error::Error;
use crate::net::ssdp::{SearchSocket, SocketConfig};
use crate::protocol::quoted;
use crate::protocol::ssdp::{self, MAX_DATAGRAM};
use crate::protocol::url::{self, HttpUrl};
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
/// Most diagnostic notes kept.
const MAX_NOTES: usize = 16;
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
/// (the engine has no such call; Godot PR #68276 asked for one).
pub fn device_from_url(description_url: &str, timeout: Duration) -> Result<Device, Error> {
    let location = HttpUrl::parse(description_url)
        .map_err(|e| Error::Http(format!("the description URL {} {e}", quoted(description_url))))?;
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
    /// Examination results by description URL; `None` while running or queued.
    examined: HashMap<String, Option<Device>>,
    per_host: HashMap<IpAddr, usize>,
    queue: VecDeque<(HttpUrl, String)>,
    running: usize,
    results_tx: Sender<(String, Device)>,
    results_rx: Receiver<(String, Device)>,
    notes: Vec<String>,
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
            examined: HashMap::new(),
            per_host: HashMap::new(),
            queue: VecDeque::new(),
            running: 0,
            results_tx,
            results_rx,
            notes: Vec::new(),
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
    fn search_schedule(&self) -> Vec<ScheduledSearch> {
        let step = self.options.timeout / self.targets.len() as u32;
        let mut schedule = Vec::new();
        for search in 0..self.targets.len() {
            let first = self.start + step * search as u32;
            schedule.push(ScheduledSearch { at: first, search, repeat: false });
            schedule.push(ScheduledSearch { at: first + RESEND_AFTER.min(step / 2), search, repeat: true });
        }
        schedule.retain(|s| s.at < self.deadline || s.search == 0 && !s.repeat);
        schedule.sort_by_key(|s| s.at);
        schedule
    }

    fn should_send(&self, send: &ScheduledSearch, already_sent: bool) -> bool {
        if send.repeat {
            already_sent && !self.answers.iter().any(|a| a.search == send.search)
        } else {
            self.answers.is_empty()
        }
    }

    fn spawn_receiver(&self) -> Result<Receiver<(Vec<u8>, SocketAddr)>, Error> {
        let socket = self.socket.try_clone()?;
        let stop = Arc::clone(&self.receiver_stop);
        let deadline = self.deadline;
        let (tx, rx) = crossbeam_channel::bounded(1024);
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
        Ok(rx)
    }

    fn note(&mut self, text: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(text);
        }
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let answer = match ssdp::parse_answer(bytes) {
            Ok(a) => a,
            Err(e) => return self.note(format!("ignored a datagram from {from}: {e}")),
        };
        let location = match HttpUrl::parse(&answer.location) {
            Ok(u) => u,
            Err(e) => return self.note(format!("ignored {from}: its LOCATION {} {e}", quoted(&answer.location))),
        };
        if let Err(why) = url::location_allowed(&location, from.ip()) {
            return self.note(format!("ignored {from}: its LOCATION {} {why}", location));
        }
        let key = (answer.location.clone(), answer.st.clone(), answer.usn.clone());
        if self.seen.contains(&key) {
            return;
        }
        if self.answers.len() >= MAX_ANSWERS {
            return self.note(format!("ignored {from}: more than {MAX_ANSWERS} answers"));
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

    fn examine(&mut self, location: HttpUrl, raw: String, host: IpAddr) {
        if self.examined.contains_key(&raw) {
            return;
        }
        let count = self.per_host.entry(host).or_insert(0);
        if *count >= MAX_EXAMINED_PER_HOST || self.examined.len() >= MAX_EXAMINED {
            return self.note(format!("not examining {raw}: too many descriptions from {host} or in all"));
        }
        *count += 1;
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
