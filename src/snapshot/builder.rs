//! Building a snapshot: accepted entries are pushed as they are read, then
//! `Builder::finish` indexes them into the file's sections, which
//! [`Sections::write_file`] writes durably.
//!
//! A build that reads files in parallel gives each file a builder of its
//! own and `Builder::append_all` moves them, in input order, into one.

use super::format::{Meta, NONE_DAY};
use super::rows::{Arena, EntryRec, Interner, RelationRec};
use super::write::{assemble, Sections};
use super::SnapshotError;
use crate::catalog::Catalog;
use crate::codes::Key;
use crate::date::Day;
use crate::entry::Facts;
use crate::related::RelationFacts;
use rayon::prelude::*;

/// One accepted entry, as pushed; its strings are copied into the builder.
pub(crate) struct Row<'a> {
    pub(crate) key: Key,
    /// The code counts as a natural person (§1).
    pub(crate) person: bool,
    pub(crate) facts: Facts,
    /// §10: the day the listing reached the platform.
    pub(crate) reported_on: Option<Day>,
    pub(crate) entry_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) authority: &'a str,
    pub(crate) basis: &'a str,
}

/// One accepted relation (SPEC §8), as pushed.
pub(crate) struct RelationRow<'a> {
    pub(crate) org: Key,
    /// The organisation's code counts as a natural person (§1).
    pub(crate) org_person: bool,
    pub(crate) party: Key,
    pub(crate) party_person: bool,
    pub(crate) relation_id: &'a str,
    pub(crate) facts: RelationFacts,
}

/// The rows of one part to append ([`Builder::append_all`]), all but those
/// at the `drop_*` indices (sorted, distinct, in range). Its entries are
/// the `slab` rows, then those of `acc`.
pub(crate) struct Part {
    pub(crate) acc: Builder,
    pub(crate) drop_entries: Vec<u32>,
    pub(crate) drop_relations: Vec<u32>,
    pub(crate) slab: SlabRows,
}

/// Entries per run of a slab (a few in tests, so that they span runs).
pub(crate) const SLAB_RUN: usize = if cfg!(test) { 4 } else { 1 << 14 };

/// The entries a part's reader wrote into a slab shared by the readers of
/// all parts ([`Builder::append_all_with`]) rather than into its own vector:
/// its first `rows` entries, [`SLAB_RUN`] to a run, run `k` at
/// `slab[runs[k]..]`.
#[derive(Default, Debug)]
pub(crate) struct SlabRows {
    pub(crate) runs: Vec<usize>,
    pub(crate) rows: usize,
}

impl SlabRows {
    /// The slab index of the part's entry `i` (`i < rows`).
    pub(crate) fn at(&self, i: usize) -> usize {
        self.runs[i / SLAB_RUN] + i % SLAB_RUN
    }
}

/// Removes the elements at `holes` (sorted, distinct, in range) by moving
/// the last elements into them: O(holes), the order is not kept.
fn remove_at<T: Copy>(v: &mut Vec<T>, holes: &[usize]) {
    let (mut lo, mut hi) = (0, holes.len());
    while lo < hi {
        let last = v.len() - 1;
        let x = v.pop().expect("more elements than holes");
        if holes[hi - 1] == last {
            hi -= 1;
        } else {
            v[holes[lo]] = x;
            lo += 1;
        }
    }
}

/// The rows of `rows` whose indices are not in `drop` (sorted).
fn kept<'a, T>(rows: &'a [T], drop: &'a [u32]) -> impl Iterator<Item = &'a T> + 'a {
    let mut d = drop.iter().peekable();
    rows.iter().enumerate().filter_map(move |(i, r)| {
        if d.peek().is_some_and(|&&x| x as usize == i) {
            d.next();
            None
        } else {
            Some(r)
        }
    })
}

/// The accepted entries and relations of a build and their strings, in
/// push order.
#[derive(Default, Debug)]
pub struct Builder {
    pub entries: Vec<EntryRec>,
    pub relations: Vec<RelationRec>,
    /// Each entry's entry_id, name and basis, back to back.
    pub arena: Arena,
    pub(crate) authorities: Interner,
}

impl Builder {
    /// Room for about `rows` entries and `string_bytes` of their strings.
    pub(crate) fn with_capacity(rows: usize, string_bytes: usize) -> Builder {
        let mut b = Builder::default();
        b.reserve(rows, string_bytes);
        b
    }

    /// Reserves room so that the big vectors do not grow by copying.
    pub(crate) fn reserve(&mut self, rows: usize, string_bytes: usize) {
        self.entries.reserve(rows);
        self.arena.bytes.reserve(string_bytes);
    }

    #[cfg(test)]
    pub(crate) fn push(&mut self, row: &Row) {
        let rec = self.record(row);
        self.entries.push(rec);
    }

    /// The record of an entry whose strings and authority are stored here,
    /// for the caller to keep.
    pub(crate) fn record(&mut self, row: &Row) -> EntryRec {
        // The name and the basis right after the entry_id (see EntryRec).
        let entry_id = self.arena.push(row.entry_id);
        let name = self.arena.push(row.name);
        // Decision numbers are mostly unique: stored, not interned.
        let basis = self.arena.push(row.basis);
        let rec = EntryRec {
            key: row.key.into(),
            person: row.person,
            facts: row.facts.into(),
            reported_on: row.reported_on.map_or(NONE_DAY, Day::to_u32),
            entry_id,
            name_len: name.len() as u16,
            basis_len: basis.len() as u16,
            authority: self.authorities.intern(row.authority),
        };
        debug_assert!(rec.name() == name && rec.basis() == basis);
        rec
    }

    pub(crate) fn push_relation(&mut self, row: &RelationRow) {
        let rec = RelationRec {
            org: row.org.into(),
            party: row.party.into(),
            org_person: row.org_person,
            party_person: row.party_person,
            facts: row.facts,
            relation_id: self.arena.push(row.relation_id),
        };
        self.relations.push(rec);
    }

    /// Moves the entries and relations of every part after this builder's,
    /// part after part, in order, leaving out those at the `drop_*`
    /// indices. Each part's strings are appended whole (dropped rows'
    /// strings included, moved, not copied), so the result is that of
    /// appending the parts one by one; the rows are copied in parallel,
    /// each part into its own range.
    #[cfg(test)]
    pub(crate) fn append_all(&mut self, parts: Vec<Part>) {
        self.append_all_with(parts, Vec::new());
    }

    /// [`Builder::append_all`] of parts whose entries lie partly in `slab`
    /// (every element of it in a run of some part, see [`SlabRows`]). The
    /// slab's entries are fixed up and kept in place, not copied (a copy
    /// writes as much fresh memory): the entries come in no particular
    /// order then, which [`Builder::finish`] does not depend on.
    pub(crate) fn append_all_with(&mut self, mut parts: Vec<Part>, mut slab: Vec<EntryRec>) {
        // Authorities are interned in part order: their indices depend on it.
        let auth: Vec<Vec<u32>> = parts
            .iter()
            .map(|p| {
                p.acc
                    .authorities
                    .values
                    .iter()
                    .map(|v| self.authorities.intern(v))
                    .collect()
            })
            .collect();
        // Drops among each part's own entries, as indices into them.
        let own_drops: Vec<Vec<u32>> = parts
            .iter()
            .map(|p| {
                let k = p.slab.rows as u32;
                let i = p.drop_entries.partition_point(|&d| d < k);
                p.drop_entries[i..].iter().map(|&d| d - k).collect()
            })
            .collect();
        let n_entries: Vec<usize> = parts
            .iter()
            .zip(&own_drops)
            .map(|(p, d)| p.acc.entries.len() - d.len())
            .collect();
        let n_relations: Vec<usize> = parts
            .iter()
            .map(|p| p.acc.relations.len() - p.drop_relations.len())
            .collect();
        let (total_e, total_r) = (
            n_entries.iter().sum::<usize>(),
            n_relations.iter().sum::<usize>(),
        );
        self.relations.reserve(total_r);
        let arenas: Vec<Arena> = parts
            .iter_mut()
            .map(|p| std::mem::take(&mut p.acc.arena))
            .collect();
        let mut base = self.arena.len();
        let mut bases = Vec::with_capacity(parts.len());
        for a in &arenas {
            bases.push(base);
            base += a.len();
        }
        if !slab.is_empty() {
            fix_slab(&mut slab, &parts, &auth, &bases);
            if self.entries.is_empty() {
                self.entries = slab;
            } else {
                self.entries.append(&mut slab);
            }
        }
        self.entries.reserve(total_e);
        let mut jobs = Vec::with_capacity(parts.len());
        {
            let mut e_rest = &mut self.entries.spare_capacity_mut()[..total_e];
            let mut r_rest = &mut self.relations.spare_capacity_mut()[..total_r];
            for (i, (p, a)) in parts.iter().zip(&auth).enumerate() {
                let (e, er) = std::mem::take(&mut e_rest).split_at_mut(n_entries[i]);
                let (r, rr) = std::mem::take(&mut r_rest).split_at_mut(n_relations[i]);
                (e_rest, r_rest) = (er, rr);
                jobs.push((p, &own_drops[i], a, bases[i], e, r));
            }
        }
        let all_written = jobs
            .into_par_iter()
            .map(|(p, drops, auth, base, e_out, r_out)| {
                let mut out = e_out.iter_mut();
                for e in kept(&p.acc.entries, drops) {
                    let mut e = *e;
                    e.entry_id = e.entry_id.shifted(base);
                    e.authority = auth[e.authority as usize];
                    out.next().expect("sized to the kept entries").write(e);
                }
                let entries_full = out.next().is_none();
                let mut out = r_out.iter_mut();
                for r in kept(&p.acc.relations, &p.drop_relations) {
                    let mut r = *r;
                    r.relation_id = r.relation_id.shifted(base);
                    out.next().expect("sized to the kept relations").write(r);
                }
                entries_full && out.next().is_none()
            })
            .all(|full| full);
        assert!(all_written, "drop indices out of range or repeated");
        let (le, lr) = (self.entries.len(), self.relations.len());
        // SAFETY: the first `total_*` elements of each vector's spare
        // capacity were split into one range per part above, and each part's
        // job wrote every element of its ranges, one per kept row, checked
        // above to fill their ranges exactly (a job finding more rows than
        // room panics on its `expect`; fewer fails the assert).
        unsafe {
            self.entries.set_len(le + total_e);
            self.relations.set_len(lr + total_r);
        }
        for a in arenas {
            self.arena.append(a);
        }
    }

    /// Indexes the entries into the sections of a snapshot as of
    /// `data_date`, ready to be written. `meta` carries the input digests
    /// and row counts; entry and subject counts are filled in here.
    pub(crate) fn finish(
        self,
        catalog: &Catalog,
        data_date: Day,
        meta: Meta,
    ) -> Result<Sections, SnapshotError> {
        let Builder {
            entries,
            relations,
            arena,
            authorities,
        } = self;
        assemble(
            entries,
            relations,
            arena,
            authorities.values,
            catalog,
            data_date,
            meta,
        )
    }
}

/// Fixes up the entries of `parts` in `slab` as [`Builder::append_all`]
/// does their own (strings after `bases`, authorities renumbered by `auth`),
/// then removes the dropped ones and the runs' unused room.
fn fix_slab(slab: &mut Vec<EntryRec>, parts: &[Part], auth: &[Vec<u32>], bases: &[u64]) {
    // The part and first row of every run.
    let mut owner = vec![(usize::MAX, 0); slab.len().div_ceil(SLAB_RUN)];
    for (pi, p) in parts.iter().enumerate() {
        for (k, &start) in p.slab.runs.iter().enumerate() {
            owner[start / SLAB_RUN] = (pi, k * SLAB_RUN);
        }
    }
    assert!(
        owner.iter().all(|o| o.0 != usize::MAX) && slab.len() % SLAB_RUN == 0,
        "every slab run belongs to a part"
    );
    slab.par_chunks_mut(SLAB_RUN)
        .zip(&owner)
        .for_each(|(run, &(pi, first))| {
            let (p, auth, base) = (&parts[pi], &auth[pi], bases[pi]);
            let used = (p.slab.rows - first).min(SLAB_RUN);
            for e in &mut run[..used] {
                e.entry_id = e.entry_id.shifted(base);
                e.authority = auth[e.authority as usize];
            }
        });
    let mut holes = Vec::new();
    for p in parts {
        if let Some(&last) = p.slab.runs.last() {
            let used = p.slab.rows - (p.slab.runs.len() - 1) * SLAB_RUN;
            holes.extend(last + used..last + SLAB_RUN);
        }
        let dropped = p
            .drop_entries
            .partition_point(|&d| (d as usize) < p.slab.rows);
        holes.extend(
            p.drop_entries[..dropped]
                .iter()
                .map(|&d| p.slab.at(d as usize)),
        );
    }
    holes.sort_unstable();
    remove_at(slab, &holes);
}
