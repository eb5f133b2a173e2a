//! What a build precomputes before writing: the subjects (every code with an
//! entry or in a relation, in key order), the relations indexed both ways,
//! and each subject's flags, related bits and measure profile at the data
//! date with the days `[from, to)` they hold for.

use super::format::{INFO_PERSON, NONE_DAY};
use super::read::prefetch;
use super::rows::{Arena, EntryRec, Interner, KeyBytes, RelationRec};
use crate::catalog::Catalog;
use crate::date::Day;
use crate::entry::{Facts, Kind};
use crate::related::{self, OrgLink, ProfileItem};
use crate::rules::{self, Evaluation};
use rayon::prelude::*;

/// The subjects of a snapshot, by subject id.
pub(crate) struct Subjects {
    pub(crate) keys: Vec<KeyBytes>,
    pub(crate) person: Vec<bool>,
    /// Subject `s` owns entries `first[s] .. first[s + 1]` (possibly none:
    /// a code known only from relations).
    pub(crate) first: Vec<u32>,
}

/// The codes at either end of the relations, each sorted: a packed key
/// (big-endian, so that integer order is [`KeyBytes`] order) in the high 96
/// bits, the relation's index in the low 32.
pub(crate) struct Endpoints {
    pub(crate) org: Vec<u128>,
    pub(crate) party: Vec<u128>,
}

fn key_bits(k: KeyBytes) -> u128 {
    let mut b = [0u8; 16];
    b[..12].copy_from_slice(&k.0);
    u128::from_be_bytes(b)
}

fn bits_key(x: u128) -> KeyBytes {
    let b = x.to_be_bytes();
    KeyBytes(b[..12].try_into().expect("12 bytes"))
}

impl Endpoints {
    /// `relations` must number fewer than 2^32.
    pub(crate) fn new(relations: &[RelationRec]) -> Endpoints {
        let sorted = |end: fn(&RelationRec) -> KeyBytes| {
            let mut v: Vec<u128> = relations
                .par_iter()
                .enumerate()
                .map(|(i, r)| key_bits(end(r)) | i as u128)
                .collect();
            v.par_sort_unstable();
            v
        };
        let (org, party) = rayon::join(|| sorted(|r| r.org), || sorted(|r| r.party));
        Endpoints { org, party }
    }
}

impl Subjects {
    /// `entries` must be sorted by key; `ends` are those of `relations`.
    pub(crate) fn new(
        entries: &[EntryRec],
        relations: &[RelationRec],
        ends: &Endpoints,
    ) -> Subjects {
        let mut listed: Vec<(KeyBytes, bool)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if i == 0 || entries[i - 1].key != e.key {
                listed.push((e.key, e.person));
            }
        }
        // The distinct codes of the relations, in key order, each read as
        // at its first end (organisation ends before party ends); a code
        // reads the same at every end.
        let mut related: Vec<(KeyBytes, bool)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        let (org, party) = (&ends.org, &ends.party);
        while i < org.len() || j < party.len() {
            let take_org = j == party.len() || (i < org.len() && org[i] >> 32 <= party[j] >> 32);
            let (x, person) = if take_org {
                i += 1;
                (org[i - 1], relations[org[i - 1] as u32 as usize].org_person)
            } else {
                j += 1;
                let x = party[j - 1];
                (x, relations[x as u32 as usize].party_person)
            };
            let k = bits_key(x);
            if related.last().is_none_or(|l| l.0 != k) {
                related.push((k, person));
            }
        }
        // Merge the two sorted lists; a listed code keeps its entries' reading.
        let mut keys = Vec::with_capacity(listed.len() + related.len());
        let mut person = Vec::with_capacity(listed.len() + related.len());
        let (mut i, mut j) = (0, 0);
        while i < listed.len() || j < related.len() {
            let take_listed =
                j == related.len() || (i < listed.len() && listed[i].0 <= related[j].0);
            let (k, p) = if take_listed { listed[i] } else { related[j] };
            if take_listed {
                if j < related.len() && related[j].0 == k {
                    j += 1;
                }
                i += 1;
            } else {
                j += 1;
            }
            keys.push(k);
            person.push(p);
        }
        let mut first = Vec::with_capacity(keys.len() + 1);
        let mut e = 0usize;
        for k in &keys {
            first.push(e as u32);
            while e < entries.len() && entries[e].key == *k {
                e += 1;
            }
        }
        first.push(entries.len() as u32);
        Subjects {
            keys,
            person,
            first,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The subject id of each relation's end, by relation index: a merge of
    /// the sorted ends with the subject keys (every end is a subject).
    fn sids(&self, ends: &[u128]) -> Vec<u32> {
        const CHUNK: usize = 1 << 16;
        let mut sorted = vec![0u32; ends.len()];
        sorted
            .par_chunks_mut(CHUNK)
            .zip(ends.par_chunks(CHUNK))
            .for_each(|(out, ends)| {
                let mut s = self.keys.partition_point(|&k| k < bits_key(ends[0]));
                for (o, &x) in out.iter_mut().zip(ends) {
                    let k = bits_key(x);
                    while self.keys[s] < k {
                        s += 1;
                    }
                    debug_assert!(self.keys[s] == k, "every relation code is a subject");
                    *o = s as u32;
                }
            });
        let mut by_relation = vec![0u32; ends.len()];
        for (&x, &s) in ends.iter().zip(&sorted) {
            by_relation[x as u32 as usize] = s;
        }
        by_relation
    }
}

/// One relation with its subjects resolved.
#[derive(Clone, Copy)]
pub(crate) struct IndexedRelation {
    pub(crate) org: u32,
    pub(crate) party: u32,
    pub(crate) rec: RelationRec,
}

/// Relations sorted by (organisation, party, relation_id), with the
/// organisation ranges and a party index.
pub(crate) struct Relations {
    pub(crate) recs: Vec<IndexedRelation>,
    /// Relations of organisation `s`: `org_first[s] .. org_first[s + 1]`.
    pub(crate) org_first: Vec<u32>,
    /// Relation numbers of party `s`:
    /// `by_party[party_first[s] .. party_first[s + 1]]`.
    pub(crate) party_first: Vec<u32>,
    pub(crate) by_party: Vec<u32>,
}

impl Relations {
    pub(crate) fn new(
        relations: Vec<RelationRec>,
        subjects: &Subjects,
        ends: &Endpoints,
        arena: &Arena,
    ) -> Relations {
        let id_bytes = |r: &RelationRec| arena.bytes_of(r.relation_id);
        let (org_sid, party_sid) =
            rayon::join(|| subjects.sids(&ends.org), || subjects.sids(&ends.party));
        // Sorted as (organisation, party) pairs with an index, then gathered.
        let mut order: Vec<(u64, u32)> = (0..relations.len())
            .into_par_iter()
            .map(|i| ((org_sid[i] as u64) << 32 | party_sid[i] as u64, i as u32))
            .collect();
        order.par_sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                id_bytes(&relations[a.1 as usize]).cmp(id_bytes(&relations[b.1 as usize]))
            })
        });
        let recs: Vec<IndexedRelation> = order
            .par_iter()
            .map(|&(pair, i)| IndexedRelation {
                org: (pair >> 32) as u32,
                party: pair as u32,
                rec: relations[i as usize],
            })
            .collect();
        let n = subjects.len();
        let starts = |sid_of: &dyn Fn(usize) -> u32, count: usize| {
            let mut first = vec![0u32; n + 1];
            for i in 0..count {
                first[sid_of(i) as usize + 1] += 1;
            }
            for s in 0..n {
                first[s + 1] += first[s];
            }
            first
        };
        let org_first = starts(&|i| recs[i].org, recs.len());
        let party_first = starts(&|i| recs[i].party, recs.len());
        // Counting placement: relation numbers in increasing order, so each
        // party's numbers come out in (organisation, number) order.
        let mut next: Vec<u32> = party_first[..n].to_vec();
        let mut by_party = vec![0u32; recs.len()];
        for (i, r) in recs.iter().enumerate() {
            let at = &mut next[r.party as usize];
            by_party[*at as usize] = i as u32;
            *at += 1;
        }
        Relations {
            recs,
            org_first,
            party_first,
            by_party,
        }
    }

    fn as_org(&self, s: usize) -> &[IndexedRelation] {
        &self.recs[self.org_first[s] as usize..self.org_first[s + 1] as usize]
    }

    /// Step `step` of fetching into cache what summarising subject `s`
    /// reads at random: the other side of each of its relations, and that
    /// side's first entry. Each step needs what the one before fetched:
    /// 0 the relations where `s` is the party, 1 the other sides' entry
    /// ranges, 2 their first entries. Summarising follows the subjects in
    /// order, so it runs the steps a few subjects apart ahead of itself.
    fn fetch_other_sides(&self, s: usize, step: usize, first: &[u32], entries: &[EntryRec]) {
        if s + 1 >= self.org_first.len() {
            return;
        }
        let by_party =
            &self.by_party[self.party_first[s] as usize..self.party_first[s + 1] as usize];
        if step == 0 {
            by_party
                .iter()
                .for_each(|&i| prefetch(&self.recs, i as usize));
            return;
        }
        let others = self.as_org(s).iter().map(|r| r.party).chain(
            by_party
                .iter()
                .filter_map(|&i| self.recs.get(i as usize))
                .map(|r| r.org),
        );
        for o in others {
            match step {
                1 => prefetch(first, o as usize),
                _ => {
                    if let Some(&f) = first.get(o as usize) {
                        prefetch(entries, f as usize);
                    }
                }
            }
        }
    }

    fn as_party(&self, s: usize) -> impl Iterator<Item = &IndexedRelation> {
        self.by_party[self.party_first[s] as usize..self.party_first[s + 1] as usize]
            .iter()
            .map(|&i| &self.recs[i as usize])
    }
}

/// Per-subject summary precomputed at the data date (its measure profile
/// is in [`Summaries::profile_of`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct Summary {
    pub(crate) info: u8,
    /// RELATED bits (`related::related_bit`) of related organisations and
    /// parties shown to every caller, and of those that count as natural
    /// persons (shown only with person permission).
    pub(crate) related: u8,
    pub(crate) related_person: u8,
    pub(crate) from: u32,
    pub(crate) to: u32,
}

/// Every subject's [`Summary`], and its measure profile as an id into the
/// distinct profiles, numbered in order of first use by subject id (so
/// the numbering does not depend on how the work was split).
pub(crate) struct Summaries {
    pub(crate) of: Vec<Summary>,
    pub(crate) profile_of: Vec<u32>,
    pub(crate) profiles: Vec<Profile>,
}

/// Makes the ids of chunks numbered apart (chunk `c` of `ids` numbered
/// by `local[c]`, each `chunk` long) those of numbering the whole in one
/// go; returns the values by their new number.
fn renumber<T: Clone + Eq + std::hash::Hash + Send + Sync>(
    local: Vec<Interner<T>>,
    ids: &mut [u32],
    chunk: usize,
) -> Vec<T> {
    let mut global = Interner::default();
    let remaps: Vec<Vec<u32>> = local
        .into_iter()
        .map(|l| l.values.iter().map(|v| global.intern(v)).collect())
        .collect();
    ids.par_chunks_mut(chunk)
        .zip(&remaps)
        .for_each(|(ids, remap)| ids.iter_mut().for_each(|id| *id = remap[*id as usize]));
    global.values
}

/// A subject's measure profile: packed into a `u128` (32 bits an item)
/// when it has at most four items, which is nearly always, so that millions
/// of subjects need no allocation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum Profile {
    Packed(u128),
    Long(Vec<ProfileItem>),
}

impl Profile {
    fn new(items: Vec<ProfileItem>) -> Profile {
        if items.len() <= 4 {
            let packed = items.iter().fold(0u128, |acc, it| {
                acc << 32
                    | ((it.kind as u128 + 1) << 24 | (it.via as u128) << 16 | it.domain as u128)
            });
            Profile::Packed(packed)
        } else {
            Profile::Long(items)
        }
    }

    pub(crate) fn items(&self) -> Vec<ProfileItem> {
        match self {
            Profile::Long(v) => v.clone(),
            Profile::Packed(p) => {
                let mut v = Vec::new();
                let mut p = *p;
                while p != 0 {
                    let it = (p & 0xFFFF_FFFF) as u32;
                    v.push(ProfileItem {
                        kind: Kind::from_u8((it >> 24) as u8 - 1).unwrap_or(Kind::Watch),
                        via: (it >> 16) as u8,
                        domain: it as u16,
                    });
                    p >>= 32;
                }
                v.reverse();
                v
            }
        }
    }
}

/// Evaluations of one subject, reused buffers.
#[derive(Default)]
struct Scratch {
    facts: Vec<Facts>,
    bounds: Vec<Day>,
    more: Vec<Day>,
}

/// Subjects summarised by one task: each task numbers the profiles it
/// meets, and the numbers are made global afterwards, task after task.
const SUMMARY_CHUNK: usize = 1 << 14;

/// Subjects between the steps of [`Relations::fetch_other_sides`].
const FETCH_AHEAD: usize = 8;

/// Every subject's [`Summary`] and profile at the data date.
///
/// A profile is interned as soon as it is made: a `Profile` takes 32
/// bytes, and kept for millions of subjects until a serial pass numbered
/// them, they were hundreds of megabytes of fresh memory for a few
/// hundred distinct values.
pub(crate) fn summarize(
    entries: &[EntryRec],
    subjects: &Subjects,
    relations: &Relations,
    catalog: &Catalog,
    data_date: Day,
) -> Summaries {
    let watch_days: Vec<u32> = catalog
        .domains
        .iter()
        .map(|d| d.watch_after_exit_days)
        .collect();
    let wd = |dom: u16| {
        watch_days
            .get(dom as usize)
            .copied()
            .unwrap_or(crate::catalog::DEFAULT_WATCH_AFTER_EXIT_DAYS)
    };
    let first = &subjects.first;
    let facts_of = |s: usize, out: &mut Vec<Facts>| {
        out.clear();
        out.extend(
            entries[first[s] as usize..first[s + 1] as usize]
                .iter()
                .map(|e| e.facts.unpack()),
        );
    };
    let summary_of = |sc: &mut Scratch, s: usize| -> (Summary, Profile) {
        facts_of(s, &mut sc.facts);
        let ev = rules::evaluate(&sc.facts, data_date, &|_| false, &wd);
        rules::boundaries(&sc.facts, &wd, &mut sc.bounds);
        let mut related = 0u8;
        let mut related_person = 0u8;
        let mut mark = |person: bool, status| {
            let bit = related::related_bit(status);
            if person {
                related_person |= bit;
            } else {
                related |= bit;
            }
        };
        // The entries and evaluation of the other side of relation `rec`,
        // whose boundaries and the relation's become this subject's too.
        let other_side = |sc: &mut Scratch, other: u32, rec: &related::RelationFacts| {
            let mut facts = Vec::new();
            facts_of(other as usize, &mut facts);
            let ev = rules::evaluate(&facts, data_date, &|_| false, &wd);
            rules::boundaries(&facts, &wd, &mut sc.more);
            sc.bounds.extend_from_slice(&sc.more);
            related::boundaries(rec, &mut sc.bounds);
            (facts, ev)
        };
        // Rule 1: the organisations this subject holds a role in.
        let mut orgs: Vec<(related::RelationFacts, bool, Vec<Facts>, Evaluation)> = Vec::new();
        for r in relations.as_party(s) {
            let (facts, org_ev) = other_side(sc, r.org, &r.rec.facts);
            let bound = related::bound_hits(&r.rec.facts, data_date, &org_ev, &facts);
            if !bound.is_empty() {
                mark(r.rec.org_person, org_ev.status);
            }
            orgs.push((r.rec.facts, r.rec.org_person, facts, org_ev));
        }
        // Rule 2: the parties holding a role in this subject.
        for r in relations.as_org(s) {
            let (_, party_ev) = other_side(sc, r.party, &r.rec.facts);
            if related::party_shown(&r.rec.facts, data_date, party_ev.status) {
                mark(r.rec.party_person, party_ev.status);
            }
        }
        let links: Vec<(OrgLink, bool)> = orgs
            .iter()
            .map(|(rel, person, facts, org_ev)| {
                (
                    OrgLink {
                        relation: *rel,
                        visible: true,
                        org: org_ev,
                        org_entries: facts,
                    },
                    *person,
                )
            })
            .collect();
        let profile = related::profile(&ev, &links, data_date);
        let from = sc
            .bounds
            .iter()
            .filter(|&&b| b <= data_date)
            .max()
            .map_or(0, |b| b.to_u32());
        let to = sc
            .bounds
            .iter()
            .filter(|&&b| b > data_date)
            .min()
            .map_or(NONE_DAY, |b| b.to_u32());
        let summary = Summary {
            info: ev.flags() | if subjects.person[s] { INFO_PERSON } else { 0 },
            related,
            related_person,
            from,
            to,
        };
        (summary, Profile::new(profile))
    };
    let n = subjects.len();
    let mut of = vec![Summary::default(); n];
    let mut profile_of = vec![0u32; n];
    let local: Vec<Interner<Profile>> = of
        .par_chunks_mut(SUMMARY_CHUNK)
        .zip(profile_of.par_chunks_mut(SUMMARY_CHUNK))
        .enumerate()
        .map_init(Scratch::default, |sc, (c, (sums, ids))| {
            let mut profiles = Interner::default();
            for (s, (sum, id)) in (c * SUMMARY_CHUNK..).zip(sums.iter_mut().zip(ids.iter_mut())) {
                for step in 0..3 {
                    relations.fetch_other_sides(s + (3 - step) * FETCH_AHEAD, step, first, entries);
                }
                let (summary, profile) = summary_of(sc, s);
                *sum = summary;
                *id = profiles.intern(&profile);
            }
            profiles
        })
        .collect();
    let profiles = renumber(local, &mut profile_of, SUMMARY_CHUNK);
    Summaries {
        of,
        profile_of,
        profiles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Numbered chunk by chunk and renumbered, values get the numbers
        /// of numbering the whole in one go.
        #[test]
        fn renumbering_chunks_is_numbering_the_whole(
            values in prop::collection::vec(0u8..8, 0..300),
            chunk in 1usize..20,
        ) {
            let mut whole = Interner::default();
            let expect: Vec<u32> = values.iter().map(|v| whole.intern(v)).collect();
            let mut ids = vec![0u32; values.len()];
            let local: Vec<Interner<u8>> = values
                .chunks(chunk)
                .zip(ids.chunks_mut(chunk))
                .map(|(vs, ids)| {
                    let mut l = Interner::default();
                    for (v, id) in vs.iter().zip(ids) {
                        *id = l.intern(v);
                    }
                    l
                })
                .collect();
            let values_by_id = renumber(local, &mut ids, chunk);
            prop_assert_eq!(ids, expect);
            prop_assert_eq!(values_by_id, whole.values);
        }
    }
}
