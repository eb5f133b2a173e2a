//! The related codes of a checked subject (SPEC §8) read from the snapshot:
//! the organisations it holds a role in and the parties holding a role in
//! it, evaluated on the check's day with its holds, and shown as this
//! caller may see them (rule 6).

use super::{Ctx, HitOut, MeasureOut};
use crate::entry::Facts;
use crate::related::{self as rel, Fired, OrgLink, Role};
use crate::rules::{self, flags, Evaluation, SubjectStatus};
use crate::snapshot::read::RelationView;
use serde::Serialize;

/// One item of a result's `related` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RelatedOut {
    pub code: String,
    /// `org`: an organisation the checked code holds a role in (rule 1);
    /// `party`: a party that holds a role in the checked code (rule 2).
    /// Items are sorted by side, code, role and relation_id.
    pub side: &'static str,
    pub role: Role,
    pub relation_id: String,
    /// The related code's own status on the check's day.
    pub status: SubjectStatus,
    pub entries: Vec<String>,
}

/// One way a measure fired through a relation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ViaOut {
    pub code: String,
    pub role: Role,
    pub relation_id: String,
}

/// An organisation the checked code holds a role in, evaluated.
pub(crate) struct OrgSide<'s> {
    view: RelationView<'s>,
    visible: bool,
    ev: Evaluation,
    facts: Vec<Facts>,
    /// Number of the organisation's first entry.
    first: u32,
}

/// A party holding a role in the checked code, evaluated.
pub(crate) struct PartySide<'s> {
    view: RelationView<'s>,
    visible: bool,
    ev: Evaluation,
    first: u32,
}

pub(crate) struct Related<'s> {
    orgs: Vec<OrgSide<'s>>,
    parties: Vec<PartySide<'s>>,
}

impl<'s> Related<'s> {
    /// The relations of subject `sid` in the snapshot, evaluated on the
    /// check's day with its holds.
    pub(crate) fn of(ctx: &Ctx<'s>, sid: u32) -> Related<'s> {
        let snap = ctx.snap;
        let held = |e: u32| ctx.holds.is_held(e);
        let orgs = snap
            .relations_as_party(sid)
            .map(|r| {
                let view = snap.relation(r);
                let mut facts = Vec::new();
                let ev = snap.evaluate_facts(view.org, ctx.day, &held, &mut facts);
                OrgSide {
                    visible: !view.org_person || ctx.persons,
                    first: snap.subject_entries(view.org).start,
                    view,
                    ev,
                    facts,
                }
            })
            .collect();
        let parties = snap
            .relations_as_org(sid)
            .map(|r| {
                let view = snap.relation(r);
                let ev = snap.evaluate_facts(view.party, ctx.day, &held, &mut Vec::new());
                PartySide {
                    visible: !view.party_person || ctx.persons,
                    first: snap.subject_entries(view.party).start,
                    view,
                    ev,
                }
            })
            .collect();
        Related { orgs, parties }
    }

    /// The rule-1 links for [`rel::measures`].
    pub(crate) fn links(&self) -> Vec<OrgLink<'_>> {
        self.orgs
            .iter()
            .map(|o| OrgLink {
                relation: o.view.facts,
                visible: o.visible,
                org: &o.ev,
                org_entries: &o.facts,
            })
            .collect()
    }

    /// The `related` items this caller may see.
    pub(crate) fn items(&self, ctx: &Ctx) -> Vec<RelatedOut> {
        let snap = ctx.snap;
        let entry_ids = |first: u32, ev: &Evaluation, hits: &[usize]| {
            let mut ids: Vec<String> = hits
                .iter()
                .map(|&i| {
                    snap.entry_id_authority(first + ev.hits[i].entry as u32)
                        .0
                        .to_string()
                })
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        let mut out = Vec::new();
        for o in self.orgs.iter().filter(|o| o.visible) {
            let bound = rel::bound_hits(&o.view.facts, ctx.day, &o.ev, &o.facts);
            if bound.is_empty() {
                continue;
            }
            out.push(RelatedOut {
                code: code_of(ctx, o.view.org),
                side: "org",
                role: o.view.facts.role,
                relation_id: o.view.relation_id.to_string(),
                status: o.ev.status,
                entries: entry_ids(o.first, &o.ev, &bound),
            });
        }
        for p in self.parties.iter().filter(|p| p.visible) {
            if !rel::party_shown(&p.view.facts, ctx.day, p.ev.status) {
                continue;
            }
            let all: Vec<usize> = (0..p.ev.hits.len()).collect();
            out.push(RelatedOut {
                code: code_of(ctx, p.view.party),
                side: "party",
                role: p.view.facts.role,
                relation_id: p.view.relation_id.to_string(),
                status: p.ev.status,
                entries: entry_ids(p.first, &p.ev, &all),
            });
        }
        // A stable order for people and programs alike (SPEC: not significant).
        out.sort_by(|a, b| {
            (a.side, &a.code, a.role, &a.relation_id).cmp(&(
                b.side,
                &b.code,
                b.role,
                &b.relation_id,
            ))
        });
        out
    }

    /// The RELATED bits (shifted down by 8) of what this caller may see.
    fn bits(&self, ctx: &Ctx) -> u8 {
        let mut b = 0;
        for o in self.orgs.iter().filter(|o| o.visible) {
            if !rel::bound_hits(&o.view.facts, ctx.day, &o.ev, &o.facts).is_empty() {
                b |= rel::related_bit(o.ev.status);
            }
        }
        for p in self.parties.iter().filter(|p| p.visible) {
            if rel::party_shown(&p.view.facts, ctx.day, p.ev.status) {
                b |= rel::related_bit(p.ev.status);
            }
        }
        b
    }

    /// The result form of a measure fired directly and/or through relations;
    /// `hits` are the checked code's own hits.
    pub(crate) fn measure_out(&self, ctx: &Ctx, f: &Fired, hits: &[HitOut]) -> MeasureOut {
        let cm = &ctx.snap.catalog.measures[f.measure];
        let mut triggers: Vec<(String, String)> = f
            .own
            .iter()
            .map(|&i| (hits[i].entry_id.clone(), hits[i].authority.clone()))
            .collect();
        let mut via = Vec::new();
        for t in &f.through {
            let o = &self.orgs[t.link];
            triggers.extend(t.hits.iter().map(|&i| {
                let (id, authority) = ctx
                    .snap
                    .entry_id_authority(o.first + o.ev.hits[i].entry as u32);
                (id.to_string(), authority.to_string())
            }));
            via.push(ViaOut {
                code: code_of(ctx, o.view.org),
                role: o.view.facts.role,
                relation_id: o.view.relation_id.to_string(),
            });
        }
        triggers.sort();
        triggers.dedup_by(|a, b| a.0 == b.0);
        via.sort_by(|a, b| {
            (&a.code, a.role, &a.relation_id).cmp(&(&b.code, b.role, &b.relation_id))
        });
        let (entries, authorities) = triggers.into_iter().unzip();
        MeasureOut {
            id: cm.id.clone(),
            name: cm.name.clone(),
            basis: cm.basis.clone(),
            entries,
            via: (!via.is_empty()).then_some(via),
            authorities,
        }
    }
}

fn code_of(ctx: &Ctx, sid: u32) -> String {
    ctx.snap.subject_key(sid).to_code().as_str().to_string()
}

/// Batch flags of a subject outside its precomputed days, or with a hold
/// on it or on an organisation it holds a role in: the rules on the
/// entries' facts (no strings are read for a flag word).
pub(crate) fn flags_slow(ctx: &Ctx, sid: u32, v2: bool) -> u16 {
    let ev = ctx
        .snap
        .evaluate_facts(sid, ctx.day, &|e| ctx.holds.is_held(e), &mut Vec::new());
    let has_relations = !ctx.snap.relations_as_org(sid).is_empty()
        || ctx.snap.relations_as_party(sid).next().is_some();
    if !has_relations {
        let measures = ctx.matter.map_or(0, |m| {
            ctx.snap.measures.profile_flags(m, &rules::profile(&ev))
        });
        return (ev.flags() | measures) as u16;
    }
    let related = Related::of(ctx, sid);
    let measures = ctx.matter.map_or(0, |m| {
        let links: Vec<(OrgLink, bool)> = related
            .orgs
            .iter()
            .map(|o| {
                (
                    OrgLink {
                        relation: o.view.facts,
                        visible: true,
                        org: &o.ev,
                        org_entries: &o.facts,
                    },
                    o.view.org_person,
                )
            })
            .collect();
        let items = rel::profile(&ev, &links, ctx.day);
        let own_bw = ev.flags() & (flags::BLACK | flags::WATCH) != 0;
        ctx.snap
            .measures
            .item_flags(m, &items)
            .bits(ctx.persons, own_bw)
    });
    let v1 = (ev.flags() | measures) as u16;
    if v2 {
        v1 | (related.bits(ctx) as u16) << 8
    } else {
        v1
    }
}
