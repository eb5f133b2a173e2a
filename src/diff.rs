//! Differences between two snapshots, by entry_id: added, removed and
//! changed entries, counted by kind and authority; and by relation_id:
//! added, removed and changed relations (§8), counted by role.

use crate::date::Day;
use crate::related::Role;
use crate::snapshot::read::RelationView;
use crate::snapshot::{EntryView, Snapshot};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryOut {
    pub entry_id: String,
    pub code: String,
    pub kind: &'static str,
    pub domain: String,
    pub authority: String,
    pub basis: String,
    pub listed_on: Day,
    pub valid_until: Option<Day>,
    pub status: &'static str,
    pub exited_on: Option<Day>,
    pub watch_until: Option<Day>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub entry_id: String,
    /// Names of the changed fields, sorted. Name changes are listed without
    /// their values (personal data).
    pub fields: Vec<&'static str>,
    pub old: EntryOut,
    pub new: EntryOut,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub by_authority: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, e: &EntryOut) {
        self.total += 1;
        *self.by_kind.entry(e.kind.to_string()).or_default() += 1;
        *self.by_authority.entry(e.authority.clone()).or_default() += 1;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AllCounts {
    pub added: Counts,
    pub removed: Counts,
    pub changed: Counts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub added: Vec<EntryOut>,
    pub removed: Vec<EntryOut>,
    pub changed: Vec<Changed>,
    pub counts: AllCounts,
    pub relations: RelationDiff,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.relations.is_empty()
    }
}

/// A relation as `diff` and `inspect` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RelationOut {
    pub relation_id: String,
    pub org: String,
    pub party: String,
    pub role: Role,
    pub from: Day,
    pub until: Option<Day>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RelationChanged {
    pub relation_id: String,
    /// Names of the changed fields, sorted.
    pub fields: Vec<&'static str>,
    pub old: RelationOut,
    pub new: RelationOut,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RoleCounts {
    pub total: u64,
    pub by_role: BTreeMap<String, u64>,
}

impl RoleCounts {
    fn add(&mut self, r: &RelationOut) {
        self.total += 1;
        *self.by_role.entry(r.role.as_str().to_string()).or_default() += 1;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelationCounts {
    pub added: RoleCounts,
    pub removed: RoleCounts,
    pub changed: RoleCounts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelationDiff {
    pub added: Vec<RelationOut>,
    pub removed: Vec<RelationOut>,
    pub changed: Vec<RelationChanged>,
    pub counts: RelationCounts,
}

impl RelationDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

pub fn relation_out(snap: &Snapshot, r: &RelationView) -> RelationOut {
    let code = |sid| snap.subject_key(sid).to_code().as_str().to_string();
    RelationOut {
        relation_id: r.relation_id.to_string(),
        org: code(r.org),
        party: code(r.party),
        role: r.facts.role,
        from: r.facts.from,
        until: r.facts.until,
    }
}

/// Relation numbers in relation_id order.
fn relations_by_id(snap: &Snapshot) -> Vec<u32> {
    let mut v: Vec<u32> = (0..snap.relations()).collect();
    v.sort_by(|&a, &b| {
        snap.relation(a)
            .relation_id
            .as_bytes()
            .cmp(snap.relation(b).relation_id.as_bytes())
    });
    v
}

fn diff_relations(old: &Snapshot, new: &Snapshot) -> RelationDiff {
    let mut d = RelationDiff::default();
    let (a, b) = (relations_by_id(old), relations_by_id(new));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => old
                .relation(x)
                .relation_id
                .as_bytes()
                .cmp(new.relation(y).relation_id.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                let r = relation_out(old, &old.relation(a[i]));
                d.counts.removed.add(&r);
                d.removed.push(r);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let r = relation_out(new, &new.relation(b[j]));
                d.counts.added.add(&r);
                d.added.push(r);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (ra, rb) = (
                    relation_out(old, &old.relation(a[i])),
                    relation_out(new, &new.relation(b[j])),
                );
                let mut fields = Vec::new();
                macro_rules! cmp {
                    ($($field:ident),*) => { $( if ra.$field != rb.$field { fields.push(stringify!($field)); } )* };
                }
                cmp!(org, party, role, from, until);
                fields.sort_unstable();
                if !fields.is_empty() {
                    d.counts.changed.add(&rb);
                    d.changed.push(RelationChanged {
                        relation_id: rb.relation_id.clone(),
                        fields,
                        old: ra,
                        new: rb,
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
    d
}

pub fn entry_out(snap: &Snapshot, v: &EntryView) -> EntryOut {
    EntryOut {
        entry_id: v.entry_id.to_string(),
        code: snap.subject_key(v.sid).to_code().as_str().to_string(),
        kind: v.facts.kind.as_str(),
        domain: snap.domain_id(v.facts.domain).to_string(),
        authority: v.authority.to_string(),
        basis: v.basis.to_string(),
        listed_on: v.facts.listed_on,
        valid_until: v.facts.valid_until,
        status: v.facts.status.as_str(),
        exited_on: v.facts.exited_on,
        watch_until: v.facts.watch_until,
    }
}

fn changed_fields(a: &EntryOut, b: &EntryOut, name_changed: bool) -> Vec<&'static str> {
    let mut f = Vec::new();
    macro_rules! cmp {
        ($($field:ident),*) => { $( if a.$field != b.$field { f.push(stringify!($field)); } )* };
    }
    cmp!(
        code,
        kind,
        domain,
        authority,
        basis,
        listed_on,
        valid_until,
        status,
        exited_on,
        watch_until
    );
    if name_changed {
        f.push("name");
    }
    f.sort_unstable();
    f
}

/// Merges both snapshots' entry_id indexes.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Diff {
    let mut d = Diff::default();
    let mut a = old.entries_by_id().peekable();
    let mut b = new.entries_by_id().peekable();
    loop {
        let ord = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(&x), Some(&y)) => old
                .entry(x)
                .entry_id
                .as_bytes()
                .cmp(new.entry(y).entry_id.as_bytes()),
        };
        match ord {
            std::cmp::Ordering::Less => {
                let e = entry_out(old, &old.entry(a.next().expect("peeked")));
                d.counts.removed.add(&e);
                d.removed.push(e);
            }
            std::cmp::Ordering::Greater => {
                let e = entry_out(new, &new.entry(b.next().expect("peeked")));
                d.counts.added.add(&e);
                d.added.push(e);
            }
            std::cmp::Ordering::Equal => {
                let (va, vb) = (
                    old.entry(a.next().expect("peeked")),
                    new.entry(b.next().expect("peeked")),
                );
                let (ea, eb) = (entry_out(old, &va), entry_out(new, &vb));
                let fields = changed_fields(&ea, &eb, va.name != vb.name);
                if !fields.is_empty() {
                    d.counts.changed.add(&eb);
                    d.changed.push(Changed {
                        entry_id: eb.entry_id.clone(),
                        fields,
                        old: ea,
                        new: eb,
                    });
                }
            }
        }
    }
    d.relations = diff_relations(old, new);
    d
}
