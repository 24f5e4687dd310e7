//! `blindfold proxy`: a verifying, OpenAI-compatible endpoint on loopback.
//!
//! Checks, in order, for every request: the `Host` (and `Origin`, if any)
//! name this proxy (a web page cannot drive it by DNS rebinding), and a
//! browser's `Sec-Fetch-Site` is `same-origin` or `none` (an `<img>` on
//! another site sends no `Origin`, but would start an attestation); an
//! attested session to the enclave exists or is attested now (the
//! client SDK); only then is the request forwarded, and the answer streams
//! back as it arrives. A failed verification answers HTTP 502
//! `attestation_failed` with the reason and forwards nothing. The proxy
//! logs nothing about requests' content.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::anyhow;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Json;
use blindfold_client::{report, Client, OutgoingRequest, Trust};
use blindfold_protocol::ApiErrorBody;
use tokio::sync::Mutex;

use crate::args::ProxyArgs;
use crate::exit::Failure;
use crate::verify_cmd::{runtime, trust};

/// Largest request body forwarded (the enclave has its own limit too).
const MAX_BODY: usize = 16 << 20;

struct ProxyState {
    upstream: String,
    trust: Trust,
    client: Mutex<Option<Arc<Client>>>,
    last_report: std::sync::Mutex<report::Report>,
    allowed_hosts: Vec<String>,
}

/// One line on standard error per attestation: which session (by its
/// nonce) and how it appraised, or why it failed. No request content.
fn log_outcome(report: &report::Report) {
    match report {
        report::Report::Verified(r) => eprintln!(
            "blindfold proxy: verified {} (session nonce {}, {}, trust basis {}, appraisal {})",
            r.enclave,
            r.binding
                .nonce
                .as_deref()
                .map_or("none", |n| &n[..n.len().min(16)]),
            r.platform,
            r.trust_basis,
            r.appraisal.status
        ),
        report::Report::Failed(f) => eprintln!(
            "blindfold proxy: {} NOT verified, nothing sent: {}",
            f.enclave, f.reason
        ),
    }
}

fn error(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Response {
    (status, Json(ApiErrorBody::new(kind, code, None, message))).into_response()
}

impl ProxyState {
    /// The attested client, attesting now if there is none.
    async fn client(&self) -> Result<Arc<Client>, String> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        match Client::connect(&self.upstream, self.trust.clone()).await {
            Ok(c) => {
                log_outcome(&c.report());
                // Every later session's attestation is logged too.
                let c = Arc::new(c.with_attestation_observer(Arc::new(log_outcome)));
                *slot = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                let reason = e.to_string();
                let failed = report::failure_report(&self.upstream, &reason);
                log_outcome(&failed);
                *self.last_report.lock().unwrap_or_else(|p| p.into_inner()) = failed;
                Err(reason)
            }
        }
    }

    /// Host and Origin must name this proxy.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("");
        if !self.allowed_hosts.iter().any(|a| a == host) {
            return Err(Box::new(error(
                StatusCode::MISDIRECTED_REQUEST,
                "invalid_request_error",
                "host_not_allowed",
                "the Host header does not name this proxy (DNS rebinding protection)",
            )));
        }
        // Browsers send no Origin on simple GETs (an <img> tag), but they
        // do say where a request comes from: only this proxy's own pages
        // and the user's direct navigation may start an attestation.
        if let Some(site) = headers.get("sec-fetch-site") {
            if !matches!(site.to_str().unwrap_or(""), "same-origin" | "none") {
                return Err(Box::new(error(
                    StatusCode::FORBIDDEN,
                    "invalid_request_error",
                    "origin_not_allowed",
                    "requests from other sites' web pages are refused",
                )));
            }
        }
        if let Some(origin) = headers.get("origin") {
            let origin = origin.to_str().unwrap_or("");
            let ok = self.allowed_hosts.iter().any(|a| origin == format!("http://{a}"));
            if !ok {
                return Err(Box::new(error(
                    StatusCode::FORBIDDEN,
                    "invalid_request_error",
                    "origin_not_allowed",
                    "requests from web pages of other origins are refused",
                )));
            }
        }
        Ok(())
    }
}

async fn handle(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    if let Err(refused) = state.check_origin(request.headers()) {
        return *refused;
    }
    if request.uri().path() == "/blindfold/verification" {
        // Attest if nothing was attested yet. The client's report is the
        // one of the session its last request went on (or of its last
        // failed attestation); before any client, the failure to make one.
        let report = match state.client().await {
            Ok(client) => client.report(),
            Err(_) => state
                .last_report
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        return Json(report).into_response();
    }
    let client = match state.client().await {
        Ok(c) => c,
        Err(reason) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "attestation_failed",
                "attestation_failed",
                format!("the enclave was not verified, nothing was forwarded: {reason}"),
            )
        }
    };
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "body_too_large",
                "the request body is too large",
            )
        }
    };
    let passed = ["content-type", "authorization", "accept"];
    let outgoing = OutgoingRequest {
        method: parts.method,
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        headers: parts
            .headers
            .iter()
            .filter(|(k, _)| passed.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body,
    };
    match client.request(&outgoing).await {
        Ok(response) => {
            let (parts, incoming) = response.into_parts();
            let mut out = Response::new(Body::new(incoming));
            *out.status_mut() = parts.status;
            for name in ["content-type", "cache-control", "x-request-id"] {
                if let Some(v) = parts.headers.get(name) {
                    out.headers_mut().insert(name, v.clone());
                }
            }
            out
        }
        Err(blindfold_client::ClientError::Attestation(blindfold_atls::Error::Busy { .. })) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_overloaded",
            "enclave_busy",
            "the enclave is answering as many attestations as it allows; try again shortly",
        ),
        Err(blindfold_client::ClientError::Attestation(e)) => {
            // A new session failed verification: nothing was sent on it.
            // The sessions verified before stay in use (the client drops
            // the failed one alone); the client's report shows the failure.
            error(
                StatusCode::BAD_GATEWAY,
                "attestation_failed",
                "attestation_failed",
                format!("the enclave was not verified, nothing was forwarded: {e}"),
            )
        }
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "upstream_error",
            e.to_string(),
        ),
    }
}

pub fn proxy(args: &ProxyArgs) -> Result<(), Failure> {
    if !args.listen.ip().is_loopback() && !args.listen_public {
        return Err(Failure::Unusable(anyhow!(
            "{} is not a loopback address: the proxy speaks plain HTTP; add --listen-public to allow it",
            args.listen
        )));
    }
    let trust = trust(&args.trust)?;
    let rt = runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::Unusable(anyhow!(e).context(format!("listening on {}", args.listen))))?;
        let local: SocketAddr = listener.local_addr().map_err(|e| Failure::Unusable(anyhow!(e)))?;
        let port = local.port();
        let mut allowed_hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        if !local.ip().is_loopback() {
            allowed_hosts.push(local.to_string());
        }
        let state = Arc::new(ProxyState {
            upstream: args.upstream.clone(),
            trust,
            client: Mutex::new(None),
            last_report: std::sync::Mutex::new(report::failure_report(&args.upstream, "not verified yet")),
            allowed_hosts,
        });
        // Attest at start so a bad enclave shows at once (requests retry,
        // unless it must verify now).
        if let Err(reason) = state.client().await {
            if args.require_verified_at_start {
                return Err(Failure::CheckFailed(anyhow!(
                    "{} did not verify at start: {reason}",
                    args.upstream
                )));
            }
            eprintln!("blindfold proxy: answering 502 until {} verifies", args.upstream);
        }
        eprintln!("blindfold proxy: listening on http://{local} (OpenAI base URL http://{local}/v1)");
        let app = axum::Router::new().fallback(handle).with_state(state);
        // Streamed tokens are small writes: no delayed-ACK stalls.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .await
            .map_err(|e| Failure::Unusable(anyhow!(e)))
    })
}
