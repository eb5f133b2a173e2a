//! Checking codes against a snapshot: the full result item of `/v1/check`
//! and `credlist check`, and the one-byte flags of the batch protocol.
//! Shared by the command line and the daemon.

use crate::codes::{self, CodeKind, Key};
use crate::date::Day;
use crate::entry::Kind;
use crate::rules::{self, flags, SubjectStatus};
use crate::snapshot::format::slot_of_hash;
use crate::snapshot::read::{lookup_in, prefetch, prefetch_slot, prefetch_slot_at, slot_if};
use crate::snapshot::tags::{next_candidate, tag_of};
use crate::snapshot::{Slot, Snapshot};

mod related;
use rayon::prelude::*;
use roaring::RoaringBitmap;
use serde::Serialize;
use std::collections::HashSet;

/// Objection holds resolved against one snapshot: entry numbers, and the
/// subjects that have one (a held subject skips the precomputed flags).
#[derive(Clone, Debug, Default)]
pub struct Holds {
    entries: HashSet<u32>,
    subjects: RoaringBitmap,
}

impl Holds {
    pub fn new(snap: &Snapshot, entry_numbers: impl IntoIterator<Item = u32>) -> Holds {
        let mut h = Holds::default();
        for e in entry_numbers {
            if e < snap.entries() {
                h.entries.insert(e);
                let sid = snap.entry(e).sid;
                h.subjects.insert(sid);
                // A hold suspends the organisation's measures for the
                // people behind it too (§8 rule 4).
                for r in snap.relations_as_org(sid) {
                    h.subjects.insert(snap.relation(r).party);
                }
            }
        }
        h
    }
    pub fn is_held(&self, entry: u32) -> bool {
        self.entries.contains(&entry)
    }
    pub fn subject_held(&self, sid: u32) -> bool {
        !self.subjects.is_empty() && self.subjects.contains(sid)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Everything a check needs besides the codes.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub holds: &'a Holds,
    pub day: Day,
    /// Matter index in the catalog; `None` = lists only, no measures.
    pub matter: Option<usize>,
    /// May the caller query natural persons?
    pub persons: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HitOut {
    pub entry_id: String,
    pub kind: Kind,
    pub domain: String,
    pub authority: String,
    pub listed_on: Day,
    pub valid_until: Option<Day>,
    pub suspended: bool,
    pub suppressed: bool,
    pub derived: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MeasureOut {
    pub id: String,
    pub name: String,
    /// The measure's legal basis from the catalog (what officers cite);
    /// empty when the catalog gives none.
    pub basis: String,
    /// The triggering entries' ids, sorted, each once.
    pub entries: Vec<String>,
    /// The relations it fired through (§8 rule 4), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Vec<ViaOut>>,
    /// The listing authority of each of `entries`, in the same order: not
    /// part of the answer, but recorded in the audit register (SPEC §9),
    /// whatever way the measure fired (an organisation's entry for a
    /// measure through a relation included).
    #[serde(skip)]
    pub authorities: Vec<String>,
}

pub use related::{RelatedOut, ViaOut};

/// One result item (SPEC §6): a valid code with its status, hits and
/// measures, or an invalid / forbidden code with an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SubjectStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<Vec<HitOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub must_apply: Option<Vec<MeasureOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub may_apply: Option<Vec<MeasureOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Vec<MeasureOut>>,
    /// Related organisations and parties (§8): present on every valid,
    /// answered item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Vec<RelatedOut>>,
}

impl Item {
    fn bare(code: String, input: &str, role: Option<String>) -> Item {
        let input = (input != code).then(|| input.to_string());
        Item {
            code,
            input,
            role,
            valid: false,
            status: None,
            warning: None,
            error: None,
            hits: None,
            must_apply: None,
            may_apply: None,
            rewards: None,
            related: None,
        }
    }

    /// The subject status, `None` for an invalid or forbidden item.
    pub fn answered_status(&self) -> Option<SubjectStatus> {
        self.status
    }
}

/// The reported form of a hit of the subject whose entries start at
/// `first`. Only the entry's id is read of its strings: its name and the
/// basis after it are not part of the answer, and each line of them read
/// is a cache miss in the daemon.
pub fn hit_out(snap: &Snapshot, first: u32, h: &rules::Hit) -> HitOut {
    let (entry_id, authority) = snap.entry_id_authority(first + h.entry as u32);
    HitOut {
        entry_id: entry_id.to_string(),
        kind: h.kind,
        domain: snap.domain_id(h.domain).to_string(),
        authority: authority.to_string(),
        listed_on: h.listed_on,
        valid_until: h.valid_until,
        suspended: h.suspended,
        suppressed: h.suppressed,
        derived: h.derived,
    }
}

/// Where a code stands before its rules are evaluated.
pub enum Resolved {
    Invalid(String),
    Forbidden,
    /// A valid code not on any list.
    Clear {
        warning: Option<String>,
    },
    Listed {
        slot: Slot,
        warning: Option<String>,
    },
}

/// Validates a code and finds its subject: a code that equals a listed code
/// after normalisation is always answered, whatever its check character.
pub fn resolve(ctx: &Ctx, input: &str) -> (String, Resolved) {
    let norm = codes::normalize(input);
    match codes::parse_normalized(&norm, ctx.day) {
        Ok(p) => {
            let canon = p.code.as_str().to_string();
            let found = p.code.key().and_then(|k| ctx.snap.lookup(k));
            let person = found.map_or(p.kind == CodeKind::Person, |s| s.person());
            if person && !ctx.persons {
                return (canon, Resolved::Forbidden);
            }
            let r = match found {
                Some(slot) => Resolved::Listed {
                    slot,
                    warning: p.warning,
                },
                None => Resolved::Clear { warning: p.warning },
            };
            (canon, r)
        }
        Err(e) => {
            let found = <&[u8; 18]>::try_from(norm.as_bytes())
                .ok()
                .and_then(Key::from_bytes)
                .and_then(|k| ctx.snap.lookup(k));
            match found {
                Some(slot) if slot.person() && !ctx.persons => (norm, Resolved::Forbidden),
                Some(slot) => (
                    norm,
                    Resolved::Listed {
                        slot,
                        warning: Some(format!("listed code fails validation: {e}")),
                    },
                ),
                None => (norm, Resolved::Invalid(e.to_string())),
            }
        }
    }
}

/// The full result item for one code.
pub fn check_one(ctx: &Ctx, input: &str, role: Option<String>) -> Item {
    let (code, resolved) = resolve(ctx, input);
    let mut item = Item::bare(code, input, role);
    match resolved {
        Resolved::Invalid(e) => item.error = Some(e),
        Resolved::Forbidden => {
            item.valid = true;
            item.error = Some("forbidden".into());
        }
        Resolved::Clear { warning } => {
            item.valid = true;
            item.status = Some(SubjectStatus::Clear);
            item.warning = warning;
            item.hits = Some(Vec::new());
            item.must_apply = Some(Vec::new());
            item.may_apply = Some(Vec::new());
            item.rewards = Some(Vec::new());
            item.related = Some(Vec::new());
        }
        Resolved::Listed { slot, warning } => {
            item.valid = true;
            item.warning = warning;
            answer_listed(ctx, slot.sid, &mut item);
        }
    }
    item
}

/// Status, hits, related codes and measures of a subject in the snapshot.
fn answer_listed(ctx: &Ctx, sid: u32, item: &mut Item) {
    let first = ctx.snap.subject_entries(sid).start;
    let ev = ctx
        .snap
        .evaluate_facts(sid, ctx.day, &|e| ctx.holds.is_held(e), &mut Vec::new());
    let hits: Vec<HitOut> = ev
        .hits
        .iter()
        .map(|h| hit_out(ctx.snap, first, h))
        .collect();
    let rel = related::Related::of(ctx, sid);
    item.related = Some(rel.items(ctx));
    let (mut must, mut may, mut rewards) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(m) = ctx.matter {
        let links = rel.links();
        let fired = crate::related::measures(&ctx.snap.measures, m, &ev, &links, ctx.day);
        let out = |list: Vec<crate::related::Fired>| -> Vec<MeasureOut> {
            let mut v: Vec<MeasureOut> = list
                .into_iter()
                .map(|f| rel.measure_out(ctx, &f, &hits))
                .collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v
        };
        must = out(fired.must_apply);
        may = out(fired.may_apply);
        rewards = out(fired.rewards);
    }
    item.must_apply = Some(must);
    item.may_apply = Some(may);
    item.rewards = Some(rewards);
    item.status = Some(ev.status);
    item.hits = Some(hits);
}

/// Length of one code in the batch protocol.
pub const CODE_LEN: usize = 18;

/// Flags of one already-normalised code (SPEC §6 batch protocol,
/// version 1).
#[inline]
pub fn flags_of(ctx: &Ctx, code: &[u8; CODE_LEN]) -> u8 {
    flags_of_code::<false>(ctx, code) as u8
}

/// Flags of one already-normalised code in batch protocol version 2 (§8):
/// the version-1 bits and the RELATED bits.
#[inline]
pub fn flags_v2_of(ctx: &Ctx, code: &[u8; CODE_LEN]) -> u16 {
    flags_of_code::<true>(ctx, code)
}

#[inline]
fn flags_of_code<const V2: bool>(ctx: &Ctx, code: &[u8; CODE_LEN]) -> u16 {
    let Some(key) = Key::from_bytes(code) else {
        return flags::UNANSWERED as u16;
    };
    match ctx.snap.lookup(key) {
        Some(slot) => flags_of_slot::<V2>(ctx, &slot),
        None => flags_of_miss(ctx, code) as u16,
    }
}

#[inline]
fn flags_of_slot<const V2: bool>(ctx: &Ctx, slot: &Slot) -> u16 {
    if slot.person() && !ctx.persons {
        return flags::UNANSWERED as u16;
    }
    let day = ctx.day.to_u32();
    if day >= slot.from && day < slot.to && !ctx.holds.subject_held(slot.sid) {
        let measures = ctx.matter.map_or(0, |m| {
            ctx.snap
                .profile_flags(m, slot.profile)
                .bits(ctx.persons, slot.black_or_watch())
        });
        let v1 = ((slot.info & flags::LISTS) | measures) as u16;
        if !V2 {
            return v1;
        }
        let related = slot.related | if ctx.persons { slot.related_person } else { 0 };
        return v1 | (related as u16) << 8;
    }
    related::flags_slow(ctx, slot.sid, V2)
}

#[inline]
fn flags_of_miss(ctx: &Ctx, code: &[u8; CODE_LEN]) -> u8 {
    flags_of_unlisted(ctx, codes::classify(code, ctx.day))
}

/// The flags of a code not in the table, given its classification.
#[inline]
fn flags_of_unlisted(ctx: &Ctx, kind: Option<CodeKind>) -> u8 {
    match kind {
        Some(CodeKind::Person) if !ctx.persons => flags::UNANSWERED,
        Some(_) => 0,
        None => flags::UNANSWERED,
    }
}

/// Frames at least this many codes long are split across cores.
pub const PARALLEL_MIN_CODES: usize = 16 * 1024;
const CHUNK_CODES: usize = 4096;

/// A batch answer word: `u8` for protocol version 1, `u16` for version 2.
pub trait FlagWord: Copy + Send + Sync {
    const V2: bool;
    fn from_flags(f: u16) -> Self;
}

impl FlagWord for u8 {
    const V2: bool = false;
    #[inline]
    fn from_flags(f: u16) -> u8 {
        f as u8
    }
}

impl FlagWord for u16 {
    const V2: bool = true;
    #[inline]
    fn from_flags(f: u16) -> u16 {
        f
    }
}

/// The flags of a code found in the table or not.
#[inline]
fn flags_found<W: FlagWord>(ctx: &Ctx, code: &[u8], found: Option<Slot>) -> W {
    W::from_flags(match found {
        Some(slot) => {
            if W::V2 {
                flags_of_slot::<true>(ctx, &slot)
            } else {
                flags_of_slot::<false>(ctx, &slot)
            }
        }
        None => flags_of_miss(ctx, code.try_into().expect("18 bytes")) as u16,
    })
}

/// Batch lookups straight in the table. Software pipeline: the slot of
/// code i + AHEAD is prefetched while code i is probed, so cache misses
/// overlap instead of queueing.
fn flags_probed<W: FlagWord>(ctx: &Ctx, codes: &[u8], out: &mut [W]) {
    let (table, capacity) = ctx.snap.table();
    const AHEAD: usize = 16;
    let key_at = |i: usize| {
        let c: &[u8; CODE_LEN] = codes[i * CODE_LEN..(i + 1) * CODE_LEN]
            .try_into()
            .expect("18 bytes");
        let k = Key::from_bytes(c);
        if let Some(key) = k {
            prefetch_slot(table, capacity, key);
        }
        k
    };
    let n = out.len();
    let mut ring = [None; AHEAD];
    for (i, r) in ring.iter_mut().enumerate().take(n) {
        *r = key_at(i);
    }
    for i in 0..n {
        let k = ring[i % AHEAD];
        if i + AHEAD < n {
            ring[i % AHEAD] = key_at(i + AHEAD);
        }
        let code = &codes[i * CODE_LEN..(i + 1) * CODE_LEN];
        out[i] = match k {
            None => W::from_flags(flags::UNANSWERED as u16),
            Some(key) => flags_found(ctx, code, lookup_in(table, capacity, key)),
        };
    }
}

/// A code on its way through [`flags_filtered`].
#[derive(Clone, Copy, Default)]
struct Probe {
    /// `None`: not a code of the USCC alphabet (answered unanswered).
    key: Option<Key>,
    tag: u8,
    /// The slot to look at: the home slot until the filter is read, then
    /// the first candidate (`None`: not in the table).
    at: Option<u64>,
    /// The answer if the code is not in the table.
    unlisted: u8,
}

/// Batch lookups through the probe filter (`snapshot::tags`), in a
/// three-stage software pipeline: the filter line of code i + FAR is
/// prefetched; the filter of code i + NEAR is read (its line has arrived)
/// and its candidate slot, if any, prefetched; code i is answered. Codes
/// not in the table never touch the table.
fn flags_filtered<W: FlagWord>(ctx: &Ctx, tags: &[u8], codes: &[u8], out: &mut [W]) {
    let (table, capacity) = ctx.snap.table();
    const FAR: usize = 32;
    const NEAR: usize = 12;
    let code_at = |i: usize| -> &[u8] { &codes[i * CODE_LEN..(i + 1) * CODE_LEN] };
    let births = codes::BirthLimit::new(ctx.day);
    let first = |i: usize| -> Probe {
        let (key, kind) = codes::scan(code_at(i).try_into().expect("18 bytes"), births);
        key.map_or_else(Probe::default, |key| {
            let h = key.hash();
            let home = slot_of_hash(h, capacity);
            prefetch(tags, home as usize);
            Probe {
                key: Some(key),
                tag: tag_of(h),
                at: Some(home),
                unlisted: flags_of_unlisted(ctx, kind),
            }
        })
    };
    let second = |p: &mut Probe| {
        if p.key.is_some() {
            p.at = p.at.and_then(|home| next_candidate(tags, home, p.tag));
            if let Some(c) = p.at {
                prefetch_slot_at(table, c);
            }
        }
    };
    let n = out.len();
    let mut ring = [Probe::default(); FAR];
    for (i, r) in ring.iter_mut().enumerate().take(n) {
        *r = first(i);
    }
    for r in ring.iter_mut().take(n.min(NEAR)) {
        second(r);
    }
    for i in 0..n {
        let p = ring[i % FAR];
        if i + NEAR < n {
            second(&mut ring[(i + NEAR) % FAR]);
        }
        if i + FAR < n {
            ring[i % FAR] = first(i + FAR);
        }
        out[i] = match p.key {
            None => W::from_flags(flags::UNANSWERED as u16),
            Some(key) => {
                let want = key.to_le_bytes();
                let mut at = p.at;
                let mut found = None;
                // A candidate whose key differs (one in 128 occupied
                // slots shares a filter byte): on to the next.
                while let Some(c) = at {
                    found = slot_if(table, c, &want);
                    if found.is_some() {
                        break;
                    }
                    at = next_candidate(tags, c + 1, p.tag);
                }
                match found {
                    Some(_) => flags_found(ctx, code_at(i), found),
                    None => W::from_flags(p.unlisted as u16),
                }
            }
        };
    }
}

/// Flags for `codes` (n × 18 bytes) into `out` (n words: `u8` for
/// protocol version 1, `u16` for version 2).
pub fn batch_flags<W: FlagWord>(ctx: &Ctx, codes: &[u8], out: &mut [W]) {
    debug_assert_eq!(codes.len(), out.len() * CODE_LEN);
    let run = |codes: &[u8], out: &mut [W]| match ctx.snap.probe_filter() {
        Some(tags) => flags_filtered(ctx, tags, codes, out),
        None => flags_probed(ctx, codes, out),
    };
    if out.len() >= PARALLEL_MIN_CODES {
        codes
            .par_chunks(CHUNK_CODES * CODE_LEN)
            .zip(out.par_chunks_mut(CHUNK_CODES))
            .for_each(|(c, o)| run(c, o));
    } else {
        run(codes, out);
    }
}
