//! The admin API (admin socket): `POST /v1/admin/reload`,
//! `POST /v1/admin/holds`, `DELETE /v1/admin/holds/{entry_id}`,
//! `GET /v1/admin/holds`, `GET /v1/admin/stats`. Only peers with uid 0 or
//! the daemon's own uid are served.

use super::transport::{
    json, method_not_allowed, no_content, parse_json, read_body, required, Failure, Ident, Resp,
    Routed,
};
use crate::date::timestamp;
use crate::server::metrics::{Endpoint, Listener};
use crate::server::state::{AdminError, State};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Decodes `%XX` escapes of a path segment.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Routes a request of the admin socket.
pub(crate) async fn routes(st: &Arc<State>, ident: &Ident, req: Request<Incoming>) -> Routed {
    let uid = match ident {
        Ident::Unix(c) => c.peer.uid,
        Ident::Tcp => None,
    };
    let path = req.uri().path().to_string();
    let endpoint = match path.as_str() {
        "/v1/admin/reload" => Endpoint::AdminReload,
        "/v1/admin/stats" => Endpoint::AdminStats,
        p if p == "/v1/admin/holds" || p.starts_with("/v1/admin/holds/") => Endpoint::AdminHolds,
        _ => Endpoint::Unknown,
    };
    if uid.is_none_or(|u| u != 0 && u != st.uid) {
        return (
            endpoint,
            Err(Failure::forbidden(
                "the admin socket serves only root and the daemon's own user",
            )),
        );
    }
    let uid = uid.unwrap_or(0);
    let m = req.method().clone();
    let result = match (path.as_str(), &m) {
        ("/v1/admin/reload", &Method::POST) => reload(st, req).await,
        ("/v1/admin/stats", &Method::GET) => Ok(stats(st).await),
        ("/v1/admin/holds", &Method::GET) => {
            let holds = st.list_holds().await;
            Ok(json(StatusCode::OK, &serde_json::json!({ "holds": holds })))
        }
        ("/v1/admin/holds", &Method::POST) => place_hold(st, uid, req).await,
        (p, &Method::DELETE) if p.starts_with("/v1/admin/holds/") => {
            match percent_decode(&p["/v1/admin/holds/".len()..]) {
                Some(id) if !id.is_empty() => st
                    .release_hold(&id, &format!("uid {uid}"))
                    .await
                    .map(|()| no_content())
                    .map_err(admin_failure),
                _ => Err(Failure::not_found("no entry id in the path")),
            }
        }
        ("/v1/admin/reload" | "/v1/admin/stats" | "/v1/admin/holds", _) => {
            Err(method_not_allowed(&m, &path))
        }
        _ => Err(Failure::not_found(format!(
            "no endpoint {path} on the admin socket"
        ))),
    };
    (endpoint, result)
}

fn admin_failure(e: AdminError) -> Failure {
    match e {
        AdminError::NotFound(m) => Failure::not_found(m),
        AdminError::Refused(m) => {
            Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "snapshot_refused", m)
        }
        AdminError::Unavailable(m) => Failure::unavailable(m),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {
    path: Option<String>,
}

async fn reload(st: &State, req: Request<Incoming>) -> Result<Resp, Failure> {
    let body = read_body(st, req).await?;
    let path = if body.iter().all(|b| b.is_ascii_whitespace()) {
        None
    } else {
        let r: ReloadRequest = parse_json(&body)?;
        r.path.map(std::path::PathBuf::from)
    };
    let served = st.reload(path).await.map_err(admin_failure)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "generation": served.generation,
            "snapshot": {
                "id": served.snap.id,
                "data_date": served.snap.data_date,
                "entries": served.snap.entries(),
                "path": served.path,
            },
            "holds": {"active": served.holds.len(), "dormant": served.dormant},
        }),
    ))
}

#[derive(Deserialize)]
struct HoldRequest {
    entry_id: Option<String>,
    reason: Option<String>,
    /// Who asks (the admin command sends the login name).
    by: Option<String>,
}

async fn place_hold(st: &State, uid: u32, req: Request<Incoming>) -> Result<Resp, Failure> {
    let body = read_body(st, req).await?;
    let r: HoldRequest = parse_json(&body)?;
    let entry_id = required(r.entry_id.filter(|s| !s.is_empty()), "entry_id")?;
    let reason = required(r.reason.filter(|s| !s.trim().is_empty()), "reason")?;
    let by = match r.by.filter(|b| !b.is_empty()) {
        Some(b) => format!("{b} (uid {uid})"),
        None => format!("uid {uid}"),
    };
    let hold = st
        .place_hold(&entry_id, &reason, &by)
        .await
        .map_err(admin_failure)?;
    let mut v = serde_json::to_value(&hold).expect("holds serialize");
    v["dormant"] = false.into();
    Ok(json(StatusCode::CREATED, &v))
}

async fn stats(st: &State) -> Resp {
    let s = st.served();
    let a = &st.audit.stats;
    let holds = st.list_holds().await;
    let dormant = holds.iter().filter(|h| h.dormant).count();
    let feedback: Vec<_> = st
        .metrics
        .feedback_counts()
        .into_iter()
        .map(|(m, applied, n)| serde_json::json!({"measure": m, "applied": applied, "count": n}))
        .collect();
    let conns: serde_json::Map<String, serde_json::Value> = Listener::ALL
        .iter()
        .map(|l| {
            (
                l.label().to_string(),
                st.metrics.open_connections(*l).into(),
            )
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "snapshot": {
                "id": s.snap.id,
                "data_date": s.snap.data_date,
                "path": s.path,
                "entries": s.snap.entries(),
                "subjects": s.snap.subjects(),
                "generation": s.generation,
                "loaded_at": timestamp(s.loaded_at),
                "age_seconds": s.age_seconds(),
            },
            "started_at": timestamp(st.started_at),
            "uptime_seconds": st.started.elapsed().as_secs_f64(),
            "requests": st.metrics.request_counts(),
            "reloads": st.metrics.reloads.load(Ordering::Relaxed),
            "reload_failures": st.metrics.reload_failures.load(Ordering::Relaxed),
            "holds": {"active": holds.len() - dormant, "dormant": dormant},
            "feedback": feedback,
            "receipts": {"boot": st.receipts.boot(), "issued": st.receipts.issued()},
            "audit": {
                "path": st.audit.path(),
                "healthy": st.audit.healthy(),
                "records": a.records.load(Ordering::Relaxed),
                "bytes": a.bytes.load(Ordering::Relaxed),
                "errors": a.errors.load(Ordering::Relaxed),
                "lost": a.lost.load(Ordering::Relaxed),
                "rotations": a.rotations.load(Ordering::Relaxed),
                "queued_bytes": st.audit.queued_bytes(),
            },
            "connections": conns,
            "clients": st.config.clients.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("FY-2024-0901").as_deref(),
            Some("FY-2024-0901")
        );
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
