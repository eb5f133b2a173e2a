//! The batch socket's connection loop (SPEC §6 "Batch socket"): reads
//! request frames, answers the complete ones in order, and closes the
//! connection after a refused frame, a timeout, or at shutdown. The frames
//! themselves are [`crate::wire::batch`].
//!
//! After statuses 1 and 2 (and 3 for a caller not in the config) the
//! connection is closed; after 3, 4 and 5 it stays open, except for a
//! large frame refused with status 5 because the budget for bytes in
//! flight stayed spent (its rest is not read).
//!
//! # Memory held by frames
//!
//! Every connection reads into a buffer of 64 KiB (more only while
//! `max_frames_in_flight` frames are read ahead). A frame over 64 KiB
//! draws on `limits.max_inflight_bytes`, shared by all connections, for
//! 3.5 times its size (the frame, the copy of its codes answered off the
//! lane, its answer, its audit line) before its
//! body is read, and gives it back when answered. A frame that finds the
//! budget spent waits (its bytes stay in the caller's socket) until its
//! read deadline, then gets status 5 and the connection is closed. So
//! large frames hold at most `max_inflight_bytes` however many
//! connections send them; their audit lines then wait in the audit
//! queue, bounded apart (`audit::QUEUE_BYTES`).

use super::access::Caller;
use super::audit::record::batch_line;
use super::conns::Slot;
use super::metrics::{Endpoint, Listener, Lookup, Outcome};
use super::state::{Served, State};
use crate::check::{batch_flags, Ctx, FlagWord, CODE_LEN};
use crate::date::Day;
use crate::rules::flags;
use crate::wire::batch::{
    begin_ok, bytes_wanted, encode_error_in, parse_frame, refusal_version, status, Frame,
    FrameError, Version,
};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, OwnedSemaphorePermit};

/// Frames at least this long are answered off the lane: those are the
/// frames [`batch_flags`] spreads over the cores with rayon, which may take
/// milliseconds, and the lane keeps serving its other connections
/// meanwhile (see `server::lanes`). Shorter frames (a 4096-code frame is
/// about a hundred microseconds of lookups) are answered on the lane:
/// handing them over would cost more than it saves.
const OFF_LANE_MIN_CODES: usize = crate::check::PARALLEL_MIN_CODES;

/// Read buffer space asked for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Frames longer than this draw on the daemon's budget for bytes in
/// flight (`limits.max_inflight_bytes`); shorter ones fit in the read
/// buffer every connection has anyway.
const BUDGET_MIN_FRAME: usize = READ_CHUNK;

/// What a large frame costs the budget, in KiB: the frame, the copy of
/// its codes answered off the lane, its answer (a byte a code, two in
/// version 2) and its audit line (at most about 26 bytes a code, against
/// 18 in the frame): 3.5 times the frame.
fn frame_cost_kib(frame_bytes: usize) -> u32 {
    let bytes = frame_bytes as u64 * 7 / 2;
    bytes.div_ceil(1024).min(u32::MAX as u64) as u32
}

/// Serves one batch connection until the peer closes, a frame is refused
/// with closing, a timeout, eviction, or shutdown.
pub async fn serve<S>(
    st: Arc<State>,
    mut stream: S,
    caller: Caller,
    slot: Arc<Slot>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &st.config.limits;
    let max_codes = limits.max_batch_codes;
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut start = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut in_flight = InFlight { st: &st, on: false };
    let mut draining = false;
    // When the first byte of the frame being received was seen: the whole
    // frame must arrive within read_timeout of it, however it trickles in.
    let mut frame_started: Option<tokio::time::Instant> = None;
    // The budget share of the large frame being received.
    let mut share: Option<OwnedSemaphorePermit> = None;
    loop {
        slot.busy();
        let (answered, close) = answer_frames(&st, &caller, &rbuf, &mut start, &mut out).await;
        if answered > 0 {
            // A frame completed: what is pending now is the next one.
            frame_started = None;
            share = None;
        }
        if !out.is_empty() {
            // Waiting on the caller to read: another connection may take
            // this one's place.
            slot.waiting(Instant::now());
            let written = tokio::select! {
                r = tokio::time::timeout(limits.idle_timeout(), stream.write_all(&out)) => r,
                _ = slot.evicted() => return,
            };
            if !matches!(written, Ok(Ok(()))) {
                return;
            }
            out.clear();
            if out.capacity() > 4 * READ_CHUNK {
                out.shrink_to(READ_CHUNK);
            }
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
        compact(&mut rbuf, &mut start);
        if answered == limits.max_frames_in_flight {
            continue;
        }
        let partial = rbuf.len() > start;
        in_flight.set(partial);
        // On shutdown, finish the frame being received, then stop: bytes
        // of later frames are not waited for.
        if *shutdown.borrow() {
            if !partial || (draining && answered > 0) {
                return;
            }
            draining = true;
        }
        let now = tokio::time::Instant::now();
        let deadline = if partial {
            let began = *frame_started.get_or_insert(now);
            slot.waiting(began.into_std());
            began + limits.read_timeout()
        } else {
            frame_started = None;
            slot.idle(now.into_std());
            now + limits.idle_timeout()
        };
        // Room for the rest of the current frame (its `len` was bounded by
        // parse_frame), or a chunk. A large frame first gets its share of
        // the budget, waiting for it until the frame's deadline.
        let want = bytes_wanted(&rbuf[start..], max_codes);
        let frame_bytes = rbuf.len() - start + want;
        if share.is_none() && frame_bytes > BUDGET_MIN_FRAME {
            let cost = frame_cost_kib(frame_bytes).min(budget_kib(limits.max_inflight_bytes));
            let got = tokio::select! {
                r = tokio::time::timeout_at(deadline, st.inflight_kib.clone().acquire_many_owned(cost)) => r.ok().and_then(|r| r.ok()),
                _ = slot.evicted() => return,
                _ = shutdown.changed(), if !draining => None,
            };
            match got {
                Some(p) => share = Some(p),
                None => {
                    refuse_over_budget(&st, &mut stream, &rbuf[start..], limits.max_inflight_bytes)
                        .await;
                    return;
                }
            }
        }
        rbuf.reserve(want.max(READ_CHUNK));
        tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read_buf(&mut rbuf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(_)) => in_flight.set(true),
            },
            _ = shutdown.changed(), if !partial => return,
            // Another connection needs the place (see `server::conns`):
            // this one is idle or waiting on its caller.
            _ = slot.evicted() => return,
        }
    }
}

/// The budget in KiB, as [`State::inflight_kib`] holds it.
fn budget_kib(max_inflight_bytes: usize) -> u32 {
    (max_inflight_bytes / 1024).clamp(1, u32::MAX as usize) as u32
}

/// Answers status 5 to a large frame that got no share of the budget for
/// bytes in flight before its deadline (its request id when its header is
/// in); the caller closes the connection (the rest of the frame is not
/// read).
async fn refuse_over_budget<S>(st: &State, stream: &mut S, pending: &[u8], budget: usize)
where
    S: AsyncWrite + Unpin,
{
    let rid = if pending.len() >= 14 {
        u64::from_le_bytes(pending[6..14].try_into().expect("8 bytes"))
    } else {
        0
    };
    st.metrics.request(
        Endpoint::Batch,
        Outcome::Unavailable,
        std::time::Duration::ZERO,
    );
    tracing::debug!("batch frame refused: the budget for bytes in flight is spent");
    let mut out = Vec::new();
    encode_error_in(
        &mut out,
        refusal_version(pending),
        status::UNAVAILABLE,
        rid,
        &format!(
            "the daemon's budget for large frames in flight ({budget} bytes) stayed spent \
             until this frame's read timeout; retry later"
        ),
    );
    let _ = tokio::time::timeout(st.config.limits.read_timeout(), stream.write_all(&out)).await;
    let _ = stream.shutdown().await;
}

/// Answers the complete frames of `rbuf[*start..]` in order, at most
/// `max_frames_in_flight` of them, and moves `start` past them: how many
/// were answered, and whether the connection is to be closed.
async fn answer_frames(
    st: &State,
    caller: &Caller,
    rbuf: &[u8],
    start: &mut usize,
    out: &mut Vec<u8>,
) -> (usize, bool) {
    let limits = &st.config.limits;
    let max_codes = limits.max_batch_codes;
    let mut answered = 0;
    while answered < limits.max_frames_in_flight {
        match parse_frame(&rbuf[*start..], max_codes) {
            Ok(Some((frame, used))) => {
                let close = !handle(st, caller, &frame, out).await;
                *start += used;
                answered += 1;
                if close {
                    return (answered, true);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let outcome = match e {
                    FrameError::Malformed { .. } => Outcome::BadRequest,
                    FrameError::TooLarge { .. } => Outcome::TooLarge,
                };
                st.metrics
                    .request(Endpoint::Batch, outcome, std::time::Duration::ZERO);
                tracing::debug!(client = caller.client_name(), error = %e.message(max_codes), "batch frame refused");
                encode_error_in(
                    out,
                    refusal_version(&rbuf[*start..]),
                    e.status(),
                    e.request_id(),
                    &e.message(max_codes),
                );
                return (answered, true);
            }
        }
    }
    (answered, false)
}

/// Drops the answered bytes at the front of the read buffer: all of them
/// (and the room a big frame took) when nothing else is pending, else once
/// they are half the buffer.
fn compact(rbuf: &mut Vec<u8>, start: &mut usize) {
    if *start == rbuf.len() {
        rbuf.clear();
        *start = 0;
        if rbuf.capacity() > 4 * READ_CHUNK {
            rbuf.shrink_to(READ_CHUNK);
        }
    } else if *start > 0 && *start >= rbuf.len() / 2 {
        rbuf.drain(..*start);
        *start = 0;
    }
}

/// Counts a connection's frame in flight (first byte read, not yet
/// answered) in the metrics.
struct InFlight<'a> {
    st: &'a State,
    on: bool,
}

impl InFlight<'_> {
    fn set(&mut self, on: bool) {
        if on != self.on {
            self.on = on;
            self.st
                .metrics
                .in_flight(Listener::Batch, if on { 1 } else { -1 });
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Answers one frame into `out`; `false` to close the connection.
async fn handle(st: &State, caller: &Caller, frame: &Frame<'_>, out: &mut Vec<u8>) -> bool {
    let started = Instant::now();
    let rid = frame.request_id;
    let served = st.served();
    let snap = &served.snap;
    let done = |o: Outcome| st.metrics.request(Endpoint::Batch, o, started.elapsed());
    let matter = if frame.matter.is_empty() {
        None
    } else {
        match snap.catalog.matter_index(frame.matter) {
            Some(i) => Some(i),
            None => {
                encode_error_in(
                    out,
                    frame.version,
                    status::UNKNOWN_MATTER,
                    rid,
                    &format!("unknown matter {:?}", frame.matter),
                );
                done(Outcome::UnknownMatter);
                return true;
            }
        }
    };
    let Some(client) = caller.client.as_deref() else {
        encode_error_in(
            out,
            frame.version,
            status::FORBIDDEN,
            rid,
            "caller is not a configured client",
        );
        done(Outcome::Forbidden);
        return false;
    };
    if !client.may_check((!frame.matter.is_empty()).then_some(frame.matter)) {
        let msg = format!(
            "client {:?} may not check matter {:?}",
            client.name, frame.matter
        );
        encode_error_in(out, frame.version, status::FORBIDDEN, rid, &msg);
        done(Outcome::Forbidden);
        return true;
    }
    if let Err(e) = st.audit.admit() {
        encode_error_in(out, frame.version, status::UNAVAILABLE, rid, &e.to_string());
        done(Outcome::Unavailable);
        return true;
    }
    let day = match frame.as_of {
        0 => Day::today(),
        d => Day::from_u32(d),
    };
    let before = out.len();
    let at = begin_ok(out, frame.version, rid, frame.n());
    let ask = Ask {
        served: served.clone(),
        day,
        matter,
        persons: client.persons,
    };
    let line = match frame.version {
        Version::V1 => {
            if frame.n() >= OFF_LANE_MIN_CODES {
                let words = ask.off_lane::<u8>(frame.codes.to_vec()).await;
                out[at.clone()].copy_from_slice(&words);
            } else {
                batch_flags(&ask.ctx(), frame.codes, &mut out[at.clone()]);
            }
            count_lookups(st, &out[at.clone()]);
            batch_line(caller, frame, day, &snap.id, &out[at])
        }
        Version::V2 => {
            let words = if frame.n() >= OFF_LANE_MIN_CODES {
                ask.off_lane::<u16>(frame.codes.to_vec()).await
            } else {
                let mut words = vec![0u16; frame.n()];
                batch_flags(&ask.ctx(), frame.codes, &mut words);
                words
            };
            for (b, w) in out[at].chunks_exact_mut(2).zip(&words) {
                b.copy_from_slice(&w.to_le_bytes());
            }
            // The register and the counters keep the version-1 bits.
            let low: Vec<u8> = words.iter().map(|&w| w as u8).collect();
            count_lookups(st, &low);
            batch_line(caller, frame, day, &snap.id, &low)
        }
    };
    if let Err(e) = st.audit.record(line).await {
        out.truncate(before);
        encode_error_in(out, frame.version, status::UNAVAILABLE, rid, &e.to_string());
        done(Outcome::Unavailable);
        return true;
    }
    done(Outcome::Ok);
    true
}

/// What a frame asks of the served snapshot.
struct Ask {
    served: Arc<Served>,
    day: Day,
    matter: Option<usize>,
    persons: bool,
}

impl Ask {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            snap: &self.served.snap,
            holds: &self.served.holds,
            day: self.day,
            matter: self.matter,
            persons: self.persons,
        }
    }

    /// The flags of a large frame's codes, computed by rayon over the
    /// cores while the lane serves its other connections.
    async fn off_lane<W: FlagWord + Default + 'static>(self, codes: Vec<u8>) -> Vec<W> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let mut words = vec![W::default(); codes.len() / CODE_LEN];
            batch_flags(&self.ctx(), &codes, &mut words);
            let _ = tx.send(words);
        });
        // The release profile aborts on a panic, so the sender is never
        // dropped unsent.
        rx.await.expect("the flags of a frame are always sent")
    }
}

/// Counts a frame's lookups by result.
fn count_lookups(st: &State, flags_out: &[u8]) {
    let (mut listed, mut unanswered) = (0u64, 0u64);
    for &f in flags_out {
        listed += (f & flags::LISTS != 0) as u64;
        unanswered += (f & flags::UNANSWERED != 0) as u64;
    }
    let clear = flags_out.len() as u64 - listed - unanswered;
    st.metrics.lookups(true, Lookup::Listed, listed);
    st.metrics.lookups(true, Lookup::Unanswered, unanswered);
    st.metrics.lookups(true, Lookup::Clear, clear);
}
