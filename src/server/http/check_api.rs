//! The check API (check socket and its TCP listener): `POST /v1/check`,
//! `POST /v1/feedback`, `GET /v1/health`, `GET /v1/catalog`,
//! `GET /v1/openapi.json`, `GET /metrics`.

use super::transport::{
    json, method_not_allowed, no_content, parse_json, read_body, required, Failure, Ident, Resp,
    Routed,
};
use crate::catalog::Effect;
use crate::check::{check_one, Ctx, Item};
use crate::date::Day;
use crate::server::access::{Caller, Client};
use crate::server::audit::record::{check_line, feedback_line, item_status};
use crate::server::metrics::{Endpoint, Gauges, Lookup};
use crate::server::state::State;
use crate::snapshot::Snapshot;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Routes a request of the check socket.
pub(crate) async fn routes(st: &Arc<State>, ident: &Ident, req: Request<Incoming>) -> Routed {
    let caller = || match ident {
        Ident::Unix(c) => c.clone(),
        Ident::Tcp => st
            .access
            .tcp(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes())),
    };
    let path = req.uri().path().to_string();
    let m = req.method().clone();
    match path.as_str() {
        "/v1/check" if m == Method::POST => {
            let c = caller();
            (Endpoint::Check, check(st, &c, req).await)
        }
        "/v1/feedback" if m == Method::POST => {
            let c = caller();
            (Endpoint::Feedback, feedback(st, &c, req).await)
        }
        "/v1/health" if m == Method::GET => (Endpoint::Health, health(st)),
        "/metrics" if m == Method::GET => (Endpoint::Metrics, Ok(metrics(st))),
        "/v1/catalog" if m == Method::GET => (Endpoint::Catalog, Ok(catalog(st))),
        "/v1/openapi.json" if m == Method::GET => (Endpoint::OpenApi, Ok(super::openapi())),
        "/v1/check" | "/v1/feedback" | "/v1/health" | "/metrics" | "/v1/catalog"
        | "/v1/openapi.json" => (Endpoint::Unknown, Err(method_not_allowed(&m, &path))),
        _ => (
            Endpoint::Unknown,
            Err(Failure::not_found(format!(
                "no endpoint {path} on the check socket"
            ))),
        ),
    }
}

#[derive(Deserialize)]
struct CheckRequest {
    matter: Option<String>,
    as_of: Option<String>,
    request_id: Option<String>,
    subjects: Option<Vec<Subject>>,
}

#[derive(Deserialize)]
struct Subject {
    code: Option<String>,
    role: Option<String>,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    id: &'a str,
    data_date: Day,
}

#[derive(Serialize)]
struct MatterRef<'a> {
    id: &'a str,
    must_query: bool,
}

#[derive(Serialize)]
struct CheckResponse<'a> {
    receipt: &'a str,
    request_id: Option<&'a str>,
    as_of: Day,
    snapshot: SnapshotRef<'a>,
    matter: MatterRef<'a>,
    results: &'a [Item],
}

/// Longest `request_id` kept (it is echoed and recorded).
const MAX_REQUEST_ID: usize = 256;

async fn check(st: &State, caller: &Caller, req: Request<Incoming>) -> Result<Resp, Failure> {
    let q = read_check_request(st, req).await?;
    let served = st.served();
    let snap = &served.snap;
    let mi = matter_index(snap, &q.matter)?;
    let codes = subject_codes(st, q.subjects)?;
    let client = permitted_client(caller, &q.matter)?;
    let receipt = admit_and_issue_receipt(st).await?;
    let ctx = Ctx {
        snap,
        holds: &served.holds,
        day: q.day,
        matter: Some(mi),
        persons: client.persons,
    };
    let items = look_up(st, &ctx, codes);
    let request_id = q.request_id.as_deref();
    let line = check_line(
        caller, &q.matter, request_id, &receipt, q.day, &snap.id, &items,
    );
    st.audit
        .record(line)
        .await
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    let m = &snap.catalog.matters[mi];
    Ok(json(
        StatusCode::OK,
        &CheckResponse {
            receipt: &receipt,
            request_id,
            as_of: q.day,
            snapshot: SnapshotRef {
                id: &snap.id,
                data_date: snap.data_date,
            },
            matter: MatterRef {
                id: &m.id,
                must_query: m.must_query,
            },
            results: &items,
        },
    ))
}

/// A `/v1/check` body with its required fields and its day.
struct CheckQuery {
    matter: String,
    request_id: Option<String>,
    day: Day,
    subjects: Vec<Subject>,
}

/// Reads and parses the body: required fields, `request_id` length, `as_of`.
async fn read_check_request(st: &State, req: Request<Incoming>) -> Result<CheckQuery, Failure> {
    let body = read_body(st, req).await?;
    let r: CheckRequest = parse_json(&body)?;
    let matter = required(r.matter, "matter")?;
    let subjects = required(r.subjects, "subjects")?;
    if r.request_id
        .as_ref()
        .is_some_and(|id| id.len() > MAX_REQUEST_ID)
    {
        return Err(Failure::bad(
            "bad_json",
            format!("request_id is longer than {MAX_REQUEST_ID} bytes"),
        ));
    }
    let day = match &r.as_of {
        None => Day::today(),
        Some(s) => Day::parse(s).map_err(|e| Failure::bad("bad_date", format!("as_of: {e}")))?,
    };
    Ok(CheckQuery {
        matter,
        request_id: r.request_id,
        day,
        subjects,
    })
}

/// The matter's index in the served catalog (checked before permissions).
fn matter_index(snap: &Snapshot, matter: &str) -> Result<usize, Failure> {
    snap.catalog.matter_index(matter).ok_or_else(|| {
        let known: Vec<&str> = snap.catalog.matters.iter().map(|m| m.id.as_str()).collect();
        Failure::bad(
            "unknown_matter",
            format!(
                "unknown matter {matter:?} (the catalog has: {})",
                known.join(", ")
            ),
        )
    })
}

/// The subjects' codes and roles, within `max_subjects`.
fn subject_codes(
    st: &State,
    subjects: Vec<Subject>,
) -> Result<Vec<(String, Option<String>)>, Failure> {
    let max = st.config.limits.max_subjects;
    if subjects.len() > max {
        return Err(Failure::bad(
            "too_many_subjects",
            format!("{} subjects; at most {max} per request", subjects.len()),
        ));
    }
    if subjects.is_empty() {
        return Err(Failure::bad("missing_field", "subjects is empty"));
    }
    let mut codes = Vec::with_capacity(subjects.len());
    for (i, s) in subjects.into_iter().enumerate() {
        codes.push((required(s.code, &format!("subjects[{i}].code"))?, s.role));
    }
    Ok(codes)
}

/// The caller's client, when it may check the matter.
fn permitted_client<'a>(caller: &'a Caller, matter: &str) -> Result<&'a Client, Failure> {
    let Some(client) = caller.client.as_deref() else {
        return Err(Failure::forbidden("caller is not a configured client"));
    };
    if !client.may_check(Some(matter)) {
        return Err(Failure::forbidden(format!(
            "client {:?} may not check matter {matter:?}",
            client.name
        )));
    }
    Ok(client)
}

/// Refuses the check while the audit register cannot take it; issues the
/// receipt.
async fn admit_and_issue_receipt(st: &State) -> Result<String, Failure> {
    st.audit
        .admit()
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    st.receipts.issue().await.map_err(|e| {
        tracing::error!(error = %e, "cannot record receipts");
        Failure::unavailable("receipts cannot be recorded (see the daemon's log)")
    })
}

/// Checks every code and counts the lookups by result.
fn look_up(st: &State, ctx: &Ctx<'_>, codes: Vec<(String, Option<String>)>) -> Vec<Item> {
    let items: Vec<Item> = codes
        .into_iter()
        .map(|(code, role)| check_one(ctx, &code, role))
        .collect();
    for it in &items {
        let l = match item_status(it) {
            "clear" => Lookup::Clear,
            "invalid" => Lookup::Invalid,
            "forbidden" => Lookup::Forbidden,
            _ => Lookup::Listed,
        };
        st.metrics.lookups(false, l, 1);
    }
    items
}

#[derive(Deserialize)]
struct FeedbackRequest {
    receipt: Option<String>,
    code: Option<String>,
    measure: Option<String>,
    applied: Option<bool>,
    note: Option<String>,
}

async fn feedback(st: &State, caller: &Caller, req: Request<Incoming>) -> Result<Resp, Failure> {
    let body = read_body(st, req).await?;
    let r: FeedbackRequest = parse_json(&body)?;
    let receipt = required(r.receipt, "receipt")?;
    let code = required(r.code, "code")?;
    let measure = required(r.measure, "measure")?;
    let applied = required(r.applied, "applied")?;
    if caller.client.is_none() {
        return Err(Failure::forbidden("caller is not a configured client"));
    }
    if !st.receipts.verify(&receipt) {
        let by = if st.receipts.keyed() {
            "a daemon holding this daemon's receipt key"
        } else {
            "this daemon"
        };
        return Err(Failure::bad(
            "unknown_receipt",
            format!("receipt {receipt:?} was not issued by {by}"),
        ));
    }
    let served = st.served();
    if !served.snap.catalog.measures.iter().any(|m| m.id == measure) {
        return Err(Failure::bad(
            "unknown_measure",
            format!("unknown measure {measure:?}"),
        ));
    }
    st.audit
        .admit()
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    let line = feedback_line(
        caller,
        &receipt,
        &code,
        &measure,
        applied,
        r.note.as_deref(),
    );
    st.audit
        .record(line)
        .await
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    st.metrics.feedback(&measure, applied);
    Ok(no_content())
}

/// 200 "serving", or 503 `unavailable` with the reason whenever checks
/// would be refused (SPEC §11).
fn health(st: &State) -> Result<Resp, Failure> {
    if st.audit.admit().is_err() {
        let why = st.audit.outage().unwrap_or_else(|| {
            "the audit register cannot be written; checks are refused until it can".into()
        });
        return Err(Failure::unavailable(why));
    }
    let s = st.served();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "serving",
            "snapshot": {"id": s.snap.id, "data_date": s.snap.data_date, "entries": s.snap.entries()},
            "generation": s.generation,
            "uptime_seconds": st.started.elapsed().as_secs_f64(),
        }),
    ))
}

/// A domain as `/v1/catalog` shows it.
#[derive(Serialize)]
struct CatalogDomain<'a> {
    id: &'a str,
    name: &'a str,
}

/// A matter as `/v1/catalog` shows it.
#[derive(Serialize)]
struct CatalogMatter<'a> {
    id: &'a str,
    name: &'a str,
    must_query: bool,
}

/// A measure as `/v1/catalog` shows it (SPEC §11).
#[derive(Serialize)]
struct CatalogMeasure<'a> {
    id: &'a str,
    name: &'a str,
    effect: Effect,
    mandatory: bool,
    lists: &'a [String],
    domains: &'a [String],
    matters: &'a [String],
    /// Who the measure reaches: `"subject"` and role names (SPEC §8).
    applies_to: &'a [String],
    basis: &'a str,
}

#[derive(Serialize)]
struct CatalogResponse<'a> {
    snapshot: SnapshotRef<'a>,
    domains: Vec<CatalogDomain<'a>>,
    matters: Vec<CatalogMatter<'a>>,
    measures: Vec<CatalogMeasure<'a>>,
}

/// The served snapshot's catalog: the ids an integrator sends and reads.
/// Public data (no personal data): any caller that reaches the socket.
fn catalog(st: &State) -> Resp {
    let served = st.served();
    let snap = &served.snap;
    let c = &snap.catalog;
    json(
        StatusCode::OK,
        &CatalogResponse {
            snapshot: SnapshotRef {
                id: &snap.id,
                data_date: snap.data_date,
            },
            domains: c
                .domains
                .iter()
                .map(|d| CatalogDomain {
                    id: &d.id,
                    name: &d.name,
                })
                .collect(),
            matters: c
                .matters
                .iter()
                .map(|m| CatalogMatter {
                    id: &m.id,
                    name: &m.name,
                    must_query: m.must_query,
                })
                .collect(),
            measures: c
                .measures
                .iter()
                .map(|m| CatalogMeasure {
                    id: &m.id,
                    name: &m.name,
                    effect: m.effect,
                    mandatory: m.mandatory,
                    lists: &m.lists,
                    domains: &m.domains,
                    matters: &m.matters,
                    applies_to: &m.applies_to,
                    basis: &m.basis,
                })
                .collect(),
        },
    )
}

pub(super) fn gauges(st: &State) -> Gauges {
    let s = st.served();
    let a = &st.audit.stats;
    Gauges {
        generation: s.generation,
        snapshot_age_seconds: s.age_seconds(),
        snapshot_entries: s.snap.entries() as u64,
        holds_active: s.holds.len() as u64,
        holds_dormant: s.dormant as u64,
        uptime_seconds: st.started.elapsed().as_secs_f64(),
        audit_records: a.records.load(Ordering::Relaxed),
        audit_bytes: a.bytes.load(Ordering::Relaxed),
        audit_errors: a.errors.load(Ordering::Relaxed),
        audit_lost: a.lost.load(Ordering::Relaxed),
        audit_queued_bytes: st.audit.queued_bytes() as u64,
        audit_healthy: st.audit.healthy(),
        audit_outages: a.outages.load(Ordering::Relaxed),
        audit_unhealthy_seconds: st.audit.unhealthy_seconds(),
        connections_evicted: st.conns.evictions.load(Ordering::Relaxed),
        connections_refused: st.conns.refusals.load(Ordering::Relaxed),
        receipts: st.receipts.issued(),
    }
}

fn metrics(st: &State) -> Resp {
    let text = st.metrics.render(&gauges(st));
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
