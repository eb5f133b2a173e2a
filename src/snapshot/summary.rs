//! What a build precomputes before writing: the subjects (every code with an
//! entry or in a relation, in key order), the relations indexed both ways,
//! and each subject's flags, related bits and measure profile at the data
//! date with the days `[from, to)` they hold for.

use super::format::{INFO_PERSON, NONE_DAY};
use super::rows::{Arena, EntryRec, KeyBytes, RelationRec};
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

impl Subjects {
    /// `entries` must be sorted by key.
    pub(crate) fn new(entries: &[EntryRec], relations: &[RelationRec]) -> Subjects {
        let mut listed: Vec<(KeyBytes, bool)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if i == 0 || entries[i - 1].key != e.key {
                listed.push((e.key, e.person));
            }
        }
        let mut related: Vec<(KeyBytes, bool)> = relations
            .par_iter()
            .flat_map_iter(|r| [(r.org, r.org_person), (r.party, r.party_person)])
            .collect();
        related.par_sort_unstable_by_key(|k| k.0);
        related.dedup_by_key(|k| k.0);
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

    pub(crate) fn sid(&self, k: KeyBytes) -> u32 {
        self.keys
            .binary_search(&k)
            .expect("every relation code is a subject") as u32
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
        arena: &Arena,
    ) -> Relations {
        let id_bytes = |r: &RelationRec| arena.bytes_of(r.relation_id);
        let mut recs: Vec<IndexedRelation> = relations
            .into_par_iter()
            .map(|rec| IndexedRelation {
                org: subjects.sid(rec.org),
                party: subjects.sid(rec.party),
                rec,
            })
            .collect();
        recs.par_sort_unstable_by(|a, b| {
            (a.org, a.party)
                .cmp(&(b.org, b.party))
                .then_with(|| id_bytes(&a.rec).cmp(id_bytes(&b.rec)))
        });
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
        let mut by_party: Vec<u32> = (0..recs.len() as u32).collect();
        by_party.par_sort_by_key(|&i| (recs[i as usize].party, recs[i as usize].org, i));
        let party_first = starts(&|i| recs[i].party, recs.len());
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

    fn as_party(&self, s: usize) -> impl Iterator<Item = &IndexedRelation> {
        self.by_party[self.party_first[s] as usize..self.party_first[s + 1] as usize]
            .iter()
            .map(|&i| &self.recs[i as usize])
    }
}

/// Per-subject summary precomputed at the data date.
pub(crate) struct Summary {
    pub(crate) info: u8,
    /// RELATED bits (`related::related_bit`) of related organisations and
    /// parties shown to every caller, and of those that count as natural
    /// persons (shown only with person permission).
    pub(crate) related: u8,
    pub(crate) related_person: u8,
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) profile: Profile,
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

/// Every subject's [`Summary`] at the data date.
pub(crate) fn summarize(
    entries: &[EntryRec],
    subjects: &Subjects,
    relations: &Relations,
    catalog: &Catalog,
    data_date: Day,
) -> Vec<Summary> {
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
                .map(|e| e.facts),
        );
    };
    (0..subjects.len())
        .into_par_iter()
        .map_init(Scratch::default, |sc, s| {
            facts_of(s, &mut sc.facts);
            let ev = rules::evaluate(&sc.facts, data_date, &|_| false, &wd);
            rules::boundaries(&sc.facts, &wd, &mut sc.bounds);
            let mut related = 0u8;
            let mut related_person = 0u8;
            // Rule 1: the organisations this subject holds a role in.
            let mut orgs: Vec<(related::RelationFacts, bool, Vec<Facts>, Evaluation)> = Vec::new();
            for r in relations.as_party(s) {
                let mut facts = Vec::new();
                facts_of(r.org as usize, &mut facts);
                let org_ev = rules::evaluate(&facts, data_date, &|_| false, &wd);
                rules::boundaries(&facts, &wd, &mut sc.more);
                sc.bounds.extend_from_slice(&sc.more);
                related::boundaries(&r.rec.facts, &mut sc.bounds);
                let bound = related::bound_hits(&r.rec.facts, data_date, &org_ev, &facts);
                if !bound.is_empty() {
                    let bit = related::related_bit(org_ev.status);
                    if r.rec.org_person {
                        related_person |= bit;
                    } else {
                        related |= bit;
                    }
                }
                orgs.push((r.rec.facts, r.rec.org_person, facts, org_ev));
            }
            // Rule 2: the parties holding a role in this subject.
            for r in relations.as_org(s) {
                let mut facts = Vec::new();
                facts_of(r.party as usize, &mut facts);
                let party_ev = rules::evaluate(&facts, data_date, &|_| false, &wd);
                rules::boundaries(&facts, &wd, &mut sc.more);
                sc.bounds.extend_from_slice(&sc.more);
                related::boundaries(&r.rec.facts, &mut sc.bounds);
                if related::party_shown(&r.rec.facts, data_date, party_ev.status) {
                    let bit = related::related_bit(party_ev.status);
                    if r.rec.party_person {
                        related_person |= bit;
                    } else {
                        related |= bit;
                    }
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
            Summary {
                info: ev.flags() | if subjects.person[s] { INFO_PERSON } else { 0 },
                related,
                related_person,
                from,
                to,
                profile: Profile::new(profile),
            }
        })
        .collect()
}
