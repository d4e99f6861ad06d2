//! The worker thread: a thin driver of the [`Policy`]. It hands each request to a thread
//! of its own (so UDP and TCP go out together), feeds the replies, the owner's commands
//! and the time back, and passes the policy's events to the owner. Every request has a
//! deadline; changes to the router go through the owner's [`Ledger`].

use super::find::{self, Finder};
use super::ownership::{Change, Key, Ledger};
use super::policy::{FoundPinholes, Job, Policy, Reply, Request};
use super::{Event, MapperConfig, Shared, Status};
use crate::error::Error;
use crate::gateway::ACTION_TIMEOUT;
use crate::net::{http, stun};
use crate::panic_guard;
use crate::pmp::{self, PmpMethod};
use crate::protocol::pinhole::Pinhole;
use crate::protocol::result::UpnpResult;
use crossbeam_channel::{Receiver, Sender, at, never, select};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Deadline of one NAT-PMP exchange: four sends on RFC 6886's schedule.
const NATPMP_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of one PCP exchange: RFC 6887 §8.1.1 resends after about 3 s, so 4 s gives a
/// lost request a second chance (a mapping falls back to NAT-PMP on an explicit answer,
/// not on this deadline).
const PCP_TIMEOUT: Duration = Duration::from_secs(4);

/// Deadline of one STUN exchange: sends at 0 and 500 ms (RFC 8489's RTO), then waits 1 s
/// for an answer. The first `upnp_completed` waits for it when a server is set.
const STUN_TIMEOUT: Duration = Duration::from_millis(1500);

fn pmp_deadline(method: PmpMethod) -> Instant {
    Instant::now()
        + match method {
            PmpMethod::Pcp => PCP_TIMEOUT,
            PmpMethod::NatPmp => NATPMP_TIMEOUT,
        }
}

/// What a request's thread needs.
struct Context {
    shared: Arc<Shared>,
    finder: Mutex<Finder>,
    ledger: Arc<Ledger>,
    session: u64,
}

/// One mapper session's worker.
pub struct Driver {
    policy: Policy,
    shared: Arc<Shared>,
    rings: Receiver<()>,
    context: Arc<Context>,
}

impl Driver {
    /// A driver for `config`, session `session` of the owner whose mappings `ledger` tracks.
    pub(super) fn new(
        config: MapperConfig,
        shared: Arc<Shared>,
        rings: Receiver<()>,
        ledger: Arc<Ledger>,
        session: u64,
    ) -> Driver {
        let finder = Finder {
            options: config.discover.clone(),
            warm_url: config.warm_description_url.clone(),
            allow_nat_pmp: config.mapping.allow_nat_pmp,
            pmp_server: config.pmp_server,
        };
        Driver {
            policy: Policy::new(config.mapping, Instant::now()),
            shared: Arc::clone(&shared),
            rings,
            context: Arc::new(Context { shared: Arc::clone(&shared), finder: Mutex::new(finder), ledger, session }),
        }
    }

    /// Runs the session to its end.
    pub fn run(mut self) {
        let (replies_tx, replies) = crossbeam_channel::unbounded();
        loop {
            let now = Instant::now();
            // A stop overtakes everything: a refresh asked before it no longer matters.
            if self.shared.stop.load(Ordering::Relaxed) {
                self.policy.handle_stop();
            } else if self.shared.refresh.swap(false, Ordering::Relaxed) {
                self.policy.handle_refresh(now);
            }
            self.policy.handle_timeout(now);
            while let Some(job) = self.policy.poll_job() {
                if let Err(job) = self.spawn(job, &replies_tx) {
                    let job = *job;
                    let reply = failed(&job.request, Error::Socket("cannot start a thread".into()));
                    self.policy.handle_reply(job, reply, Instant::now());
                }
            }
            let events: Vec<Event> = std::iter::from_fn(|| self.policy.poll_event()).collect();
            if !events.is_empty() {
                self.shared.push_events(events);
            }
            if self.policy.is_done() {
                return;
            }
            let timer = self.policy.poll_timeout().map_or_else(never, at);
            select! {
                recv(replies) -> got => {
                    if let Ok((job, reply)) = got {
                        self.reply(job, reply);
                    }
                },
                recv(self.rings) -> _ => {},
                recv(timer) -> _ => {},
            }
        }
    }

    fn reply(&mut self, job: Job, reply: Result<Reply, String>) {
        let reply = reply.unwrap_or_else(|line| {
            // A bug of ours: the owner hears of it once; the session goes on.
            self.shared.push_events([Event::Status(Status::Failed, line), Event::Completed(UpnpResult::UnknownError)]);
            failed(&job.request, Error::Cancelled)
        });
        self.policy.handle_reply(job, reply, Instant::now());
    }

    /// Runs `job` on a thread of its own; gives it back when no thread can be had.
    fn spawn(&self, job: Job, replies: &Sender<(Job, Result<Reply, String>)>) -> Result<(), Box<Job>> {
        let (context, replies, kept) = (Arc::clone(&self.context), replies.clone(), job.clone());
        thread::Builder::new()
            .name("upnp-port-mapper-request".into())
            .spawn(move || {
                let reply = panic_guard::catch(|| perform(&context, &job.request));
                let _ = replies.send((job, reply));
            })
            .map(drop)
            .map_err(|_| Box::new(kept))
    }
}

/// Performs one request by its deadline.
fn perform(context: &Context, request: &Request) -> Reply {
    let action_deadline = || Instant::now() + ACTION_TIMEOUT;
    let (ledger, session) = (&context.ledger, context.session);
    let owned = |reply: Option<Reply>| reply.unwrap_or(Reply::NotOwner);
    match request {
        // A mapper stopped before its search began (a burst of restarts) searches nothing.
        Request::FindGateway if context.shared.stop.load(Ordering::Relaxed) => Reply::Found(None),
        Request::FindGateway => Reply::Found(context.finder.lock().unwrap_or_else(PoisonError::into_inner).find()),
        Request::ExternalAddress(gateway) => Reply::ExternalAddress(gateway.external_ip_address(action_deadline())),
        Request::LocalAddress(peer) => Reply::LocalAddress(http::local_address_towards(*peer, 0)),
        Request::Check(gateway, port, protocol) => {
            Reply::Checked(gateway.specific_mapping(*port, *protocol, action_deadline()))
        }
        Request::Add(gateway, args) => owned(
            ledger
                .change(Key::Upnp(args.protocol, args.external_port), session, Change::Claim, || {
                    gateway.add_port_mapping(args, action_deadline())
                })
                .map(Reply::Done),
        ),
        Request::AddAny(gateway, args) => {
            let chosen = gateway.add_any_port_mapping(args, action_deadline());
            if let Ok(port) = chosen {
                ledger.claim(Key::Upnp(args.protocol, port), session);
            }
            Reply::AddedAny(chosen)
        }
        Request::Delete(gateway, port, protocol) => owned(
            ledger
                .change(Key::Upnp(*protocol, *port), session, Change::Release, || {
                    gateway.delete_port_mapping(*port, *protocol, action_deadline())
                })
                .map(Reply::Done),
        ),
        Request::MapPmp(server, protocol, internal, suggested, lifetime) => owned(
            ledger
                .change(Key::Pmp(*protocol, *internal), session, Change::Claim, || {
                    pmp::map_port(
                        (*server).into(),
                        *protocol,
                        *internal,
                        *suggested,
                        *lifetime,
                        pmp_deadline(PmpMethod::Pcp),
                    )
                })
                .map(Reply::Pmp),
        ),
        Request::RenewPmp(server, mapping, lifetime) => owned(
            ledger
                .change(Key::Pmp(mapping.protocol, mapping.internal_port), session, Change::Claim, || {
                    pmp::renew((*server).into(), mapping, *lifetime, pmp_deadline(mapping.method))
                })
                .map(Reply::Pmp),
        ),
        Request::Stun(server, port) => {
            Reply::Stun(stun::binding(server, *port, Instant::now() + STUN_TIMEOUT).map(|answer| answer.mapped))
        }
        Request::UnmapPmp(server, mapping) => owned(
            ledger
                .change(Key::Pmp(mapping.protocol, mapping.internal_port), session, Change::Release, || {
                    pmp::unmap_port((*server).into(), mapping, pmp_deadline(mapping.method))
                })
                .map(Reply::Done),
        ),
        Request::FindPinholes if context.shared.stop.load(Ordering::Relaxed) => {
            Reply::Pinholes(FoundPinholes::nothing())
        }
        Request::FindPinholes => {
            // A copy: the gateway's search must not wait for this one.
            let options = context.finder.lock().unwrap_or_else(PoisonError::into_inner).options.clone();
            Reply::Pinholes(find::find_pinholes(&options))
        }
        Request::AddPinhole(firewall, hole, lease) => owned(
            ledger
                .change(pinhole_key(hole), session, Change::Claim, || {
                    firewall.add_pinhole(hole, *lease, action_deadline())
                })
                .map(Reply::PinholeId),
        ),
        Request::UpdatePinhole(firewall, hole, id, lease) => owned(
            ledger
                .change(pinhole_key(hole), session, Change::Claim, || {
                    firewall.update_pinhole(*id, *lease, action_deadline())
                })
                .map(Reply::Done),
        ),
        Request::DeletePinhole(firewall, hole, id) => owned(
            ledger
                .change(pinhole_key(hole), session, Change::Release, || firewall.delete_pinhole(*id, action_deadline()))
                .map(Reply::Done),
        ),
        Request::MapPinholePcp(server, protocol, port, lifetime) => owned(
            ledger
                .change(Key::PcpPinhole(*protocol, *port), session, Change::Claim, || {
                    let deadline = pmp_deadline(PmpMethod::Pcp);
                    pmp::map_port_with(PmpMethod::Pcp, (*server).into(), *protocol, *port, *port, *lifetime, deadline)
                })
                .map(Reply::Pmp),
        ),
        Request::RenewPinholePcp(server, mapping, lifetime) => owned(
            ledger
                .change(Key::PcpPinhole(mapping.protocol, mapping.internal_port), session, Change::Claim, || {
                    pmp::renew((*server).into(), mapping, *lifetime, pmp_deadline(PmpMethod::Pcp))
                })
                .map(Reply::Pmp),
        ),
        Request::UnmapPinholePcp(server, mapping) => owned(
            ledger
                .change(Key::PcpPinhole(mapping.protocol, mapping.internal_port), session, Change::Release, || {
                    pmp::unmap_port((*server).into(), mapping, pmp_deadline(PmpMethod::Pcp))
                })
                .map(Reply::Done),
        ),
    }
}

fn pinhole_key(hole: &Pinhole) -> Key {
    Key::Pinhole(hole.protocol, hole.internal_client, hole.internal_port)
}

/// The reply of a request that failed with `error` before it was sent.
fn failed(request: &Request, error: Error) -> Reply {
    match request {
        Request::FindGateway => Reply::Found(None),
        Request::ExternalAddress(_) => Reply::ExternalAddress(Err(error)),
        Request::LocalAddress(_) => Reply::LocalAddress(Err(error)),
        Request::Add(..)
        | Request::Delete(..)
        | Request::UnmapPmp(..)
        | Request::UpdatePinhole(..)
        | Request::DeletePinhole(..)
        | Request::UnmapPinholePcp(..) => Reply::Done(Err(error)),
        Request::AddAny(..) => Reply::AddedAny(Err(error)),
        Request::Check(..) => Reply::Checked(Err(error)),
        Request::MapPmp(..) | Request::RenewPmp(..) | Request::MapPinholePcp(..) | Request::RenewPinholePcp(..) => {
            Reply::Pmp(Err(error))
        }
        Request::Stun(..) => Reply::Stun(Err(error)),
        Request::FindPinholes => Reply::Pinholes(FoundPinholes::nothing()),
        Request::AddPinhole(..) => Reply::PinholeId(Err(error)),
    }
}
