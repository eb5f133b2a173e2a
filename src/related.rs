//! Related parties (关联主体, SPEC §8) as pure functions: which relations are
//! in effect, which hits of an organisation a relation binds to the people
//! behind it, and the measures that reach a subject through its roles.
//!
//! A relation `(O, P, role)` says that party `P` holds `role` in
//! organisation `O` from `from` through `until`. For a check of code `X` on
//! day `D`:
//! 1. `X` holds a role in `O`: the relation *binds* `X` to an effective hit
//!    `h` of `O` when it is in effect on `D` or was on the day `h`'s entry
//!    was listed (for a derived watch hit, the black entry's `listed_on`);
//! 2. a party `P` holds a role in `X`: shown when the relation is in effect on
//!    `D` and `P`'s status on `D` is not `clear`;
//! 3. both give `related` items; 4. measures whose `applies_to` names the
//!    role fire through rule-1 relations on the bound, active hits (never a
//!    reward for a subject whose own status is black or watch);
//! 5. relations never change `X`'s own status or hits; 6. a caller without
//!    person permission sees no natural person through a relation.

use crate::date::Day;
use crate::entry::Facts;
pub use crate::roles::{
    applies_mask, role_bit, via_byte, ProfileItem, Role, APPLIES_SUBJECT, VIA_PERSON, VIA_SUBJECT,
};
use crate::rules::{Evaluation, Hit, MeasureTable, SubjectStatus};

/// What the rules need of one relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelationFacts {
    pub role: Role,
    pub from: Day,
    pub until: Option<Day>,
}

/// Whether the relation is in effect on `d`: `from ≤ d ≤ until`.
pub fn in_effect(r: &RelationFacts, d: Day) -> bool {
    r.from <= d && r.until.is_none_or(|u| d <= u)
}

/// Rule 1: whether the relation binds its party to a hit on `d`, where
/// `entry_listed_on` is the `listed_on` of the entry behind the hit (the
/// black entry's, for a derived watch hit).
pub fn binds(r: &RelationFacts, d: Day, entry_listed_on: Day) -> bool {
    in_effect(r, d) || in_effect(r, entry_listed_on)
}

/// Rule 1: indices of the hits of an organisation's evaluation that the
/// relation binds on `d`. `org_entries` are the facts `org` was evaluated
/// from.
pub fn bound_hits(
    r: &RelationFacts,
    d: Day,
    org: &Evaluation,
    org_entries: &[Facts],
) -> Vec<usize> {
    org.hits
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            org_entries
                .get(h.entry)
                .is_some_and(|f| binds(r, d, f.listed_on))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Rule 2: whether a party holding a role in the checked code is shown:
/// the relation is in effect on `d` and the party is not `clear`.
pub fn party_shown(r: &RelationFacts, d: Day, party_status: SubjectStatus) -> bool {
    in_effect(r, d) && party_status != SubjectStatus::Clear
}

/// The days on which rule 1 or 2 may change for one relation: its `from`
/// and the day after its `until` (its `listed_on` tests are fixed days).
pub fn boundaries(r: &RelationFacts, out: &mut Vec<Day>) {
    out.push(r.from);
    if let Some(u) = r.until {
        out.push(u.plus(1));
    }
}

/// One organisation the checked code holds a role in (rule 1), evaluated.
#[derive(Clone, Copy, Debug)]
pub struct OrgLink<'a> {
    pub relation: RelationFacts,
    /// Rule 6: false when the organisation's code counts as a natural person
    /// and the caller may not query persons. Such a link shows nothing and
    /// fires nothing.
    pub visible: bool,
    pub org: &'a Evaluation,
    pub org_entries: &'a [Facts],
}

/// Hits of one organisation through which a measure fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Through {
    /// Index of the link in the slice given to [`measures`].
    pub link: usize,
    /// Indices into that organisation's hits.
    pub hits: Vec<usize>,
}

/// A measure that applies to the checked code, directly and/or through
/// relations, fired once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// Index of the measure in the catalog.
    pub measure: usize,
    /// Indices into the checked code's own hits.
    pub own: Vec<usize>,
    pub through: Vec<Through>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FiredMeasures {
    pub must_apply: Vec<Fired>,
    pub may_apply: Vec<Fired>,
    pub rewards: Vec<Fired>,
}

/// Rule 4: the measures of matter `matter` for a subject evaluated as
/// `own`, with the organisations it holds roles in. A measure fired several
/// ways is reported once with every way it fired.
pub fn measures(
    table: &MeasureTable,
    matter: usize,
    own: &Evaluation,
    links: &[OrgLink],
    d: Day,
) -> FiredMeasures {
    let own_black_or_watch = matches!(own.status, SubjectStatus::Black | SubjectStatus::Watch);
    // The active hits each visible link binds: the same for every measure.
    let bound: Vec<Vec<usize>> = links
        .iter()
        .map(|link| {
            if !link.visible {
                return Vec::new();
            }
            bound_hits(&link.relation, d, link.org, link.org_entries)
                .into_iter()
                .filter(|&i| link.org.hits[i].is_active())
                .collect()
        })
        .collect();
    let mut out = FiredMeasures::default();
    for m in 0..table.len() {
        let own_hits = if table.applies_to(m) & APPLIES_SUBJECT != 0 {
            table.triggering(m, matter, &own.hits)
        } else {
            Vec::new()
        };
        let mut through = Vec::new();
        let via_allowed = !(table.is_reward(m) && own_black_or_watch);
        for (li, link) in links.iter().enumerate() {
            if !via_allowed || table.applies_to(m) & role_bit(link.relation.role) == 0 {
                continue;
            }
            let hits: Vec<usize> = bound[li]
                .iter()
                .copied()
                .filter(|&i| {
                    let h: &Hit = &link.org.hits[i];
                    table.matches(m, matter, h.kind, h.domain)
                })
                .collect();
            if !hits.is_empty() {
                through.push(Through { link: li, hits });
            }
        }
        if own_hits.is_empty() && through.is_empty() {
            continue;
        }
        let fired = Fired {
            measure: m,
            own: own_hits,
            through,
        };
        match (table.is_reward(m), table.is_mandatory(m)) {
            (true, _) => out.rewards.push(fired),
            (false, true) => out.must_apply.push(fired),
            (false, false) => out.may_apply.push(fired),
        }
    }
    out
}

/// Everything the measures of any matter depend on, sorted and deduped:
/// the subject's own active hits and, per rule-1 link, the active hits it
/// binds. `links` carry `visible = true` here; whether the organisation
/// counts as a person goes into `via` through `org_is_person`.
pub fn profile(own: &Evaluation, links: &[(OrgLink, bool)], d: Day) -> Vec<ProfileItem> {
    let mut p: Vec<ProfileItem> = own
        .hits
        .iter()
        .filter(|h| h.is_active())
        .map(|h| ProfileItem {
            kind: h.kind,
            via: VIA_SUBJECT,
            domain: h.domain,
        })
        .collect();
    for (link, org_is_person) in links {
        let via = via_byte(link.relation.role, *org_is_person);
        for i in bound_hits(&link.relation, d, link.org, link.org_entries) {
            let h = &link.org.hits[i];
            if h.is_active() {
                p.push(ProfileItem {
                    kind: h.kind,
                    via,
                    domain: h.domain,
                });
            }
        }
    }
    p.sort_unstable();
    p.dedup();
    p
}

/// Batch v2 flag bits (SPEC §8) for the statuses of related codes.
pub mod flags {
    pub const RELATED_BLACK: u16 = 1 << 8;
    pub const RELATED_WATCH: u16 = 1 << 9;
    pub const RELATED_RED: u16 = 1 << 10;
    pub const RELATED: u16 = RELATED_BLACK | RELATED_WATCH | RELATED_RED;
}

/// The RELATED bit of one related code's status, shifted down by 8 so it
/// fits in a byte (0 for `clear`).
pub fn related_bit(status: SubjectStatus) -> u8 {
    match status {
        SubjectStatus::Black => (flags::RELATED_BLACK >> 8) as u8,
        SubjectStatus::Watch => (flags::RELATED_WATCH >> 8) as u8,
        SubjectStatus::Red => (flags::RELATED_RED >> 8) as u8,
        SubjectStatus::Clear => 0,
    }
}

#[cfg(test)]
mod tests;
