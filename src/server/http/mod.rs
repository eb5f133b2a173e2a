//! The HTTP/1.1 + JSON sockets: the check socket (and its optional loopback
//! TCP listener) and the admin socket.
//!
//! Check socket: `POST /v1/check`, `POST /v1/feedback`, `GET /v1/health`,
//! `GET /v1/catalog`, `GET /v1/openapi.json`, `GET /metrics`. Admin socket: `POST /v1/admin/reload`,
//! `POST /v1/admin/holds`, `DELETE /v1/admin/holds/{entry_id}`,
//! `GET /v1/admin/holds`, `GET /v1/admin/stats`.
//!
//! Every error is `{"error": {"kind", "message"}}` with one of the kinds:
//! 400 `bad_json`, `missing_field`, `bad_date`, `unknown_matter`,
//! `too_many_subjects`, `too_large`, `unknown_receipt`, `unknown_measure`;
//! 403 `forbidden`; 404 `not_found`; 405 `method_not_allowed`; 408
//! `timeout`; 422 `snapshot_refused`; 503 `unavailable`.
//!
//! Both APIs are described by the OpenAPI 3.1 document `openapi.json`
//! beside this file, served as it is at `GET /v1/openapi.json`; the
//! `openapi` integration test validates real answers against it.
//!
//! `/v1/health`, `/v1/catalog`, `/v1/openapi.json` and `/metrics` carry no
//! personal data and answer any caller
//! that can reach the socket; the other check endpoints need a configured
//! client (or none configured). The admin socket serves only peers with
//! uid 0 or the daemon's own uid, on top of its 0600 mode.
//!
//! - `transport`: one connection served by hyper, its timeouts, bodies
//!   within their limits, failures answered as error JSON;
//! - `check_api`: the check socket's endpoints;
//! - `admin_api`: the admin socket's endpoints.

mod admin_api;
mod check_api;
mod transport;

pub use transport::Ident;

use crate::server::conns::Slot;
/// The OpenAPI 3.1 document of the check and admin APIs.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

use crate::server::metrics::Listener;
use crate::server::state::State;
use hyper::body::Incoming;
use hyper::Request;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// `GET /v1/openapi.json`: the document as it is kept in the repository.
fn openapi() -> transport::Resp {
    let mut r = hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from_static(
        OPENAPI_JSON.as_bytes(),
    )));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Which API a socket serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Check,
    Admin,
}

/// The Prometheus text of `GET /metrics` (check socket and `[metrics]`
/// listener alike).
pub fn metrics_text(st: &State) -> String {
    st.metrics.render(&check_api::gauges(st))
}

/// Serves one HTTP connection of the check or admin socket until the peer
/// closes, it is idle too long, or shutdown (then in-flight requests finish
/// first).
pub async fn serve<IO>(
    st: Arc<State>,
    io: IO,
    listener: Listener,
    api: Api,
    ident: Ident,
    slot: Arc<Slot>,
    shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let router = move |st: Arc<State>, req: Request<Incoming>| {
        let ident = ident.clone();
        async move {
            match api {
                Api::Check => check_api::routes(&st, &ident, req).await,
                Api::Admin => admin_api::routes(&st, &ident, req).await,
            }
        }
    };
    transport::serve_connection(st, io, listener, router, slot, shutdown).await
}
