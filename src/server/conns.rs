//! Connection places: how many connections the daemon holds, whose they
//! are, and which one gives up its place when a new caller needs it.
//!
//! A single misbehaving caller must not take the daemon from the others,
//! so a place is bounded three ways:
//!
//! - **Per peer**: one peer holds at most `max_connections_per_peer`
//!   places. A Unix-socket peer is its process (`SO_PEERCRED` pid; the uid
//!   when the pid is not visible, e.g. from another pid namespace); a TCP
//!   peer is its address (the TCP listener is loopback-only, so its callers
//!   share one address and this is that listener's share). A peer at its
//!   limit gives up one of its own places to a new connection of its own.
//! - **In all**: the check, batch and TCP listeners share
//!   `max_connections` places (the admin socket has its own). At the
//!   limit, a new connection takes the place of another.
//! - **Which place is given up**: never a connection the daemon is
//!   working for; of the others, one of the peer holding the most places
//!   (so a flood, however fast it reconnects, evicts its own connections
//!   and not those of the callers beside it), and of that peer's, the one
//!   that has waited on its caller the longest: idle since its last
//!   answer (or since it connected), a request or batch frame started and
//!   not finished, or an answer the caller does not read. Idle and stalled
//!   connections are not told apart: both cost a place and nothing else,
//!   and the one that has waited the longest is the least likely to be
//!   about to finish.
//!
//! A new connection that finds no place to take within [`EVICT_WAIT`] is
//! closed. Each connection's task watches its [`Place`] and closes when
//! asked to ([`Place::evicted`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a new connection waits for an evicted one to give up its place.
pub const EVICT_WAIT: Duration = Duration::from_millis(200);

/// Who a connection belongs to, for the per-peer limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKey {
    /// A Unix-socket peer process.
    Pid(i32),
    /// A Unix-socket peer whose pid is not visible.
    Uid(u32),
    /// A TCP peer address.
    Addr(IpAddr),
}

/// What a connection is doing, for the choice of which to evict.
const IDLE: u8 = 0;
/// Waiting on its caller: a request started and not received, or an
/// answer not read.
const WAITING: u8 = 1;
/// The daemon is working on a request: never evicted.
const BUSY: u8 = 2;

/// One held place, shared by the table and the connection's task.
pub struct Slot {
    id: u64,
    peer: PeerKey,
    phase: AtomicU8,
    /// Milliseconds after the table's epoch when the phase began.
    since_ms: AtomicU64,
    evicted: AtomicBool,
    wake: Notify,
    epoch: Instant,
}

impl Slot {
    fn set(&self, phase: u8, at: Instant) {
        let ms = at.saturating_duration_since(self.epoch).as_millis() as u64;
        self.since_ms.store(ms, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }
    /// No request in progress since `at`.
    pub fn idle(&self, at: Instant) {
        self.set(IDLE, at);
    }
    /// Waiting on the caller since `at` (a request started, an answer
    /// unread).
    pub fn waiting(&self, since: Instant) {
        self.set(WAITING, since);
    }
    /// The daemon is working for this connection.
    pub fn busy(&self) {
        self.set(BUSY, Instant::now());
    }
    /// Resolves when the place is taken for another connection.
    pub async fn evicted(&self) {
        loop {
            let woken = self.wake.notified();
            if self.evicted.load(Ordering::SeqCst) {
                return;
            }
            woken.await;
        }
    }
    /// True when the place was taken for another connection.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }
}

/// A held place; given back when dropped.
pub struct Place {
    table: Arc<Conns>,
    pub slot: Arc<Slot>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut t = self.table.lock();
        t.slots.remove(&self.slot.id);
        if let Some(n) = t.per_peer.get_mut(&self.slot.peer) {
            *n -= 1;
            if *n == 0 {
                t.per_peer.remove(&self.slot.peer);
            }
        }
        drop(t);
        self.table.freed.notify_waiters();
    }
}

#[derive(Default)]
struct Table {
    next_id: u64,
    slots: HashMap<u64, Arc<Slot>>,
    per_peer: HashMap<PeerKey, usize>,
}

/// The places of a group of listeners.
pub struct Conns {
    max: usize,
    max_per_peer: usize,
    table: Mutex<Table>,
    freed: Notify,
    epoch: Instant,
    /// Connections evicted to make room (for the metrics).
    pub evictions: AtomicU64,
    /// Connections refused for want of a place (for the metrics).
    pub refusals: AtomicU64,
}

/// Why a connection got no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its peer holds `max_connections_per_peer` busy connections.
    Peer,
    /// Every place is held by a connection the daemon is working for.
    Full,
}

impl Conns {
    pub fn new(max: usize, max_per_peer: usize) -> Arc<Conns> {
        Arc::new(Conns {
            max,
            max_per_peer: max_per_peer.min(max),
            table: Mutex::new(Table::default()),
            freed: Notify::new(),
            epoch: Instant::now(),
            evictions: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Places held now.
    pub fn held(&self) -> usize {
        self.lock().slots.len()
    }

    /// Finds a place for a new connection of `peer` (see the module docs),
    /// evicting another connection when needed; waits at most
    /// [`EVICT_WAIT`] for it to go.
    pub async fn admit(self: &Arc<Self>, peer: PeerKey) -> Result<Place, Refused> {
        let until = tokio::time::Instant::now() + EVICT_WAIT;
        let mut evicted = false;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the table is looked at: a place given back
            // after the look wakes us.
            freed.as_mut().enable();
            let why = {
                let mut t = self.lock();
                let mine = t.per_peer.get(&peer).copied().unwrap_or(0);
                if mine < self.max_per_peer && t.slots.len() < self.max {
                    return Ok(self.take(&mut t, peer));
                }
                let why = if mine >= self.max_per_peer {
                    Refused::Peer
                } else {
                    Refused::Full
                };
                // One eviction per new connection: a second one only when
                // the first was in vain (its place went to someone else).
                if !evicted || t.slots.values().all(|s| !s.is_evicted()) {
                    let only = (why == Refused::Peer).then_some(peer);
                    match victim(&t, only) {
                        Some(v) => {
                            v.evicted.store(true, Ordering::SeqCst);
                            v.wake.notify_one();
                            self.evictions.fetch_add(1, Ordering::Relaxed);
                            evicted = true;
                        }
                        None if !evicted => {
                            self.refusals.fetch_add(1, Ordering::Relaxed);
                            return Err(why);
                        }
                        None => {}
                    }
                }
                why
            };
            if tokio::time::timeout_at(until, freed).await.is_err() {
                self.refusals.fetch_add(1, Ordering::Relaxed);
                return Err(why);
            }
        }
    }

    fn take(self: &Arc<Self>, t: &mut Table, peer: PeerKey) -> Place {
        t.next_id += 1;
        let slot = Arc::new(Slot {
            id: t.next_id,
            peer,
            phase: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
            epoch: self.epoch,
        });
        slot.idle(Instant::now());
        t.slots.insert(slot.id, slot.clone());
        *t.per_peer.entry(peer).or_insert(0) += 1;
        Place {
            table: self.clone(),
            slot,
        }
    }
}

/// The connection to evict (of `only` that peer, when given): of the
/// peer holding the most places, the one idle or waiting on its caller
/// the longest; never a busy one or one already evicted.
fn victim(t: &Table, only: Option<PeerKey>) -> Option<&Arc<Slot>> {
    let held = |s: &Slot| t.per_peer.get(&s.peer).copied().unwrap_or(0);
    t.slots
        .values()
        .filter(|s| only.is_none_or(|p| s.peer == p))
        .filter(|s| !s.is_evicted() && s.phase.load(Ordering::Relaxed) != BUSY)
        .min_by_key(|s| {
            (
                std::cmp::Reverse(held(s)),
                s.since_ms.load(Ordering::Relaxed),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn the_peer_holding_the_most_places_gives_one_up() {
        rt().block_on(async {
            let c = Conns::new(4, 4);
            // The lone caller's connection is the oldest.
            let lone = c.admit(PeerKey::Pid(1)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            let flood: Vec<Place> = admit_many(&c, PeerKey::Pid(2), 3).await;
            let c2 = c.clone();
            let newcomer = tokio::spawn(async move { c2.admit(PeerKey::Pid(3)).await });
            flood[0].slot.evicted().await;
            assert!(!lone.slot.is_evicted());
            drop(flood);
            assert!(newcomer.await.unwrap().is_ok());
        });
    }

    async fn admit_many(c: &Arc<Conns>, peer: PeerKey, n: usize) -> Vec<Place> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(c.admit(peer).await.unwrap());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        v
    }

    #[test]
    fn the_newest_connection_is_evicted_last() {
        rt().block_on(async {
            let c = Conns::new(2, 2);
            let old = c.admit(PeerKey::Pid(1)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            let new = c.admit(PeerKey::Pid(1)).await.unwrap();
            let c2 = c.clone();
            let newcomer = tokio::spawn(async move { c2.admit(PeerKey::Pid(2)).await.is_ok() });
            old.slot.evicted().await;
            assert!(!new.slot.is_evicted());
            drop(old);
            assert!(newcomer.await.unwrap());
        });
    }

    #[test]
    fn a_full_table_evicts_the_oldest_waiting_connection_never_a_busy_one() {
        rt().block_on(async {
            let c = Conns::new(3, 3);
            let t0 = Instant::now();
            let a = c.admit(PeerKey::Pid(1)).await.unwrap();
            let b = c.admit(PeerKey::Pid(1)).await.unwrap();
            let busy = c.admit(PeerKey::Pid(2)).await.unwrap();
            a.slot.waiting(t0 + Duration::from_millis(5));
            b.slot.waiting(t0);
            busy.slot.busy();
            // The new one waits for b (the oldest waiting) to go.
            let c2 = c.clone();
            let newcomer = tokio::spawn(async move { c2.admit(PeerKey::Pid(3)).await });
            b.slot.evicted().await;
            assert!(!a.slot.is_evicted() && !busy.slot.is_evicted());
            drop(b);
            let newcomer = newcomer.await.unwrap().unwrap();
            // All busy: refused at once.
            a.slot.busy();
            newcomer.slot.busy();
            assert_eq!(c.admit(PeerKey::Pid(4)).await.err(), Some(Refused::Full));
            assert_eq!(c.held(), 3);
        });
    }

    #[test]
    fn a_peer_at_its_limit_evicts_its_own_connections_only() {
        rt().block_on(async {
            let c = Conns::new(10, 2);
            let other = c.admit(PeerKey::Pid(9)).await.unwrap();
            let a = c.admit(PeerKey::Pid(1)).await.unwrap();
            let b = c.admit(PeerKey::Pid(1)).await.unwrap();
            a.slot.busy();
            b.slot.waiting(Instant::now());
            // other is idle and older, but belongs to another peer.
            let c2 = c.clone();
            let newcomer = tokio::spawn(async move { c2.admit(PeerKey::Pid(1)).await });
            b.slot.evicted().await;
            assert!(!other.slot.is_evicted());
            drop(b);
            let newcomer = newcomer.await.unwrap().unwrap();
            assert_eq!(c.held(), 3);
            // Its own connections all busy: refused, though places are free.
            newcomer.slot.busy();
            assert_eq!(c.admit(PeerKey::Pid(1)).await.err(), Some(Refused::Peer));
            assert!(c.admit(PeerKey::Pid(2)).await.is_ok());
            drop((a, other));
        });
    }
}
