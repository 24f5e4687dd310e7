//! `blindfold proxy`: a verifying, OpenAI-compatible endpoint on loopback,
//! in front of one enclave or several.
//!
//! Checks, in order, for every request: the `Host` (and `Origin`, if any)
//! name this proxy (a web page cannot drive it by DNS rebinding), and a
//! browser's `Sec-Fetch-Site` is `same-origin` or `none` (an `<img>` on
//! another site sends no `Origin`, but would start an attestation); an
//! attested session to an enclave exists or is attested now (the client
//! SDK); only then is the request forwarded, and the answer streams back
//! as it arrives. A failed verification answers HTTP 502
//! `attestation_failed` with the reason and forwards nothing. The proxy
//! logs nothing about requests' content.
//!
//! With several upstreams each is attested on its own (every session, as
//! with one); a request goes to the verified upstream with the fewest
//! requests outstanding. An upstream whose attestation fails, or that
//! cannot be reached, is taken out (nothing was sent to it, so the request
//! moves to another); a health check every few seconds takes out one
//! that stops answering and attests again one that was taken out, which
//! then comes back. No request ever goes to an upstream that is not
//! verified.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Json;
use blindfold_client::{report, Client, OutgoingRequest, Trust};
use blindfold_protocol::ApiErrorBody;
use futures_util::StreamExt as _;
use tokio::sync::Mutex;

use crate::args::ProxyArgs;
use crate::exit::Failure;
use crate::verify_cmd::{runtime, trust};

/// Largest request body forwarded (the enclave has its own limit too).
const MAX_BODY: usize = 16 << 20;

/// How often upstreams are checked (and taken-out ones attested again).
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
/// Longest a health check may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Most health intervals between two attempts to attest an upstream that is out.
const MAX_BACKOFF: u64 = 16;

/// One enclave behind the proxy.
struct Upstream {
    url: String,
    /// The attested client while the upstream is in service.
    client: Mutex<Option<Arc<Client>>>,
    /// Set while `client` holds a client (read without the lock).
    verified: AtomicBool,
    /// The report of its last session, or of its last failure.
    last_report: std::sync::Mutex<report::Report>,
    /// Requests sent and not yet answered in full.
    outstanding: AtomicUsize,
    /// Requests it has answered (streams finished or not).
    answered: AtomicU64,
    /// Attestations failed in a row (the health check tries it again
    /// after 1, 2, 4, ... intervals, at most [`MAX_BACKOFF`]).
    failures: AtomicU32,
}

/// Counts a request as outstanding until its answer is dropped.
struct Outstanding(Arc<ProxyState>, usize);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.upstreams[self.1]
            .outstanding
            .fetch_sub(1, Ordering::Relaxed);
    }
}

struct ProxyState {
    upstreams: Vec<Upstream>,
    trust: Trust,
    allowed_hosts: Vec<String>,
}

/// What `/blindfold/verification` shows of one upstream among several.
#[derive(serde::Serialize)]
struct UpstreamStatus {
    upstream: String,
    verified: bool,
    outstanding: usize,
    answered: u64,
    report: report::Report,
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

impl Upstream {
    fn new(url: &str) -> Upstream {
        Upstream {
            url: url.to_string(),
            client: Mutex::new(None),
            verified: AtomicBool::new(false),
            last_report: std::sync::Mutex::new(report::failure_report(url, "not verified yet")),
            outstanding: AtomicUsize::new(0),
            answered: AtomicU64::new(0),
            failures: AtomicU32::new(0),
        }
    }

    fn report(&self) -> report::Report {
        self.last_report.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The attested client, attesting now if there is none.
    async fn client(&self, trust: &Trust) -> Result<Arc<Client>, String> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        match Client::connect(&self.url, trust.clone()).await {
            Ok(c) => {
                log_outcome(&c.report());
                // Every later session's attestation is logged too.
                let c = Arc::new(c.with_attestation_observer(Arc::new(log_outcome)));
                *slot = Some(c.clone());
                self.verified.store(true, Ordering::Relaxed);
                self.failures.store(0, Ordering::Relaxed);
                Ok(c)
            }
            Err(e) => {
                let reason = e.to_string();
                let failed = report::failure_report(&self.url, &reason);
                log_outcome(&failed);
                *self.last_report.lock().unwrap_or_else(|p| p.into_inner()) = failed;
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(reason)
            }
        }
    }

    /// Takes the upstream out of service: no request goes to it until it
    /// is attested again.
    async fn take_out(&self, reason: &str) {
        let mut slot = self.client.lock().await;
        if slot.take().is_some() {
            eprintln!("blindfold proxy: {} taken out: {reason}", self.url);
        }
        self.verified.store(false, Ordering::Relaxed);
        *self.last_report.lock().unwrap_or_else(|p| p.into_inner()) =
            report::failure_report(&self.url, reason);
    }

    /// The report of the session its last request went on.
    async fn current_report(&self) -> report::Report {
        match self.client.lock().await.as_ref() {
            Some(c) => c.report(),
            None => self.report(),
        }
    }
}

impl ProxyState {
    /// An upstream for the next request, not one of `tried`: the verified
    /// one with the fewest requests outstanding (then the fewest answered);
    /// with none verified, the first that attests now.
    async fn pick(&self, tried: &[usize]) -> Result<(usize, Arc<Client>), String> {
        let verified = self
            .upstreams
            .iter()
            .enumerate()
            .filter(|(i, u)| !tried.contains(i) && u.verified.load(Ordering::Relaxed))
            // Ties (all idle) go to the one that answered least.
            .min_by_key(|(_, u)| {
                (
                    u.outstanding.load(Ordering::Relaxed),
                    u.answered.load(Ordering::Relaxed),
                )
            });
        if let Some((i, u)) = verified {
            if let Some(c) = u.client.lock().await.clone() {
                return Ok((i, c));
            }
        }
        let mut reasons = Vec::new();
        for (i, u) in self.upstreams.iter().enumerate() {
            if tried.contains(&i) {
                continue;
            }
            match u.client(&self.trust).await {
                Ok(c) => return Ok((i, c)),
                Err(reason) => reasons.push(format!("{}: {reason}", u.url)),
            }
        }
        Err(if reasons.is_empty() {
            "no upstream left to try".into()
        } else {
            reasons.join("; ")
        })
    }

    /// Every [`HEALTH_INTERVAL`]: a verified upstream that does not answer
    /// `GET /health` is taken out; one that is out is attested again.
    async fn check_health(self: Arc<Self>) {
        let health = OutgoingRequest {
            method: axum::http::Method::GET,
            path: "/health".into(),
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let mut tick: u64 = 0;
        loop {
            tokio::time::sleep(HEALTH_INTERVAL).await;
            tick += 1;
            for u in &self.upstreams {
                let client = u.client.lock().await.clone();
                match client {
                    Some(c) => {
                        let answer = tokio::time::timeout(HEALTH_TIMEOUT, c.request(&health)).await;
                        match answer {
                            Ok(Ok(r)) if r.status().is_success() => {}
                            Ok(Ok(r)) => u.take_out(&format!("health check answered {}", r.status())).await,
                            Ok(Err(e)) => u.take_out(&format!("health check: {e}")).await,
                            Err(_) => u.take_out("health check timed out").await,
                        }
                    }
                    None => {
                        let failures = u.failures.load(Ordering::Relaxed).min(4);
                        let every = (1u64 << failures).min(MAX_BACKOFF);
                        if tick % every == 0 {
                            let _ = u.client(&self.trust).await;
                        }
                    }
                }
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
        // One upstream: its report (attesting if nothing was attested
        // yet), as the console reads it. Several: each with its state.
        if let [only] = state.upstreams.as_slice() {
            let report = match only.client(&state.trust).await {
                Ok(client) => client.report(),
                Err(_) => only.report(),
            };
            return Json(report).into_response();
        }
        let mut all = Vec::new();
        for u in &state.upstreams {
            all.push(UpstreamStatus {
                upstream: u.url.clone(),
                verified: u.verified.load(Ordering::Relaxed),
                outstanding: u.outstanding.load(Ordering::Relaxed),
                answered: u.answered.load(Ordering::Relaxed),
                report: u.current_report().await,
            });
        }
        return Json(serde_json::json!({ "upstreams": all })).into_response();
    }
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
    // Nothing is sent to an upstream whose attestation fails: the request
    // moves to the next. Once sent, it is not sent to another upstream (the
    // client sends it again only on a kept session the enclave closed
    // before answering).
    let mut tried = Vec::new();
    loop {
        let (i, client) = match state.pick(&tried).await {
            Ok(picked) => picked,
            Err(reason) => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    "attestation_failed",
                    "attestation_failed",
                    format!("no enclave was verified, nothing was forwarded: {reason}"),
                )
            }
        };
        let upstream = &state.upstreams[i];
        upstream.outstanding.fetch_add(1, Ordering::Relaxed);
        let guard = Outstanding(state.clone(), i);
        match client.request(&outgoing).await {
            Ok(response) => {
                upstream.answered.fetch_add(1, Ordering::Relaxed);
                let (parts, incoming) = response.into_parts();
                // The request stays outstanding until its answer has streamed.
                let body = Body::new(incoming).into_data_stream().map(move |chunk| {
                    let _counted = &guard;
                    chunk
                });
                let mut out = Response::new(Body::from_stream(body));
                *out.status_mut() = parts.status;
                // The enclave's signed receipt travels with its answer.
                let receipt = blindfold_protocol::receipt::RECEIPT_HEADER;
                for name in ["content-type", "cache-control", "x-request-id", receipt] {
                    if let Some(v) = parts.headers.get(name) {
                        out.headers_mut().insert(name, v.clone());
                    }
                }
                return out;
            }
            Err(blindfold_client::ClientError::Attestation(blindfold_atls::Error::Busy { .. })) => {
                if state.upstreams.len() == 1 {
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server_overloaded",
                        "enclave_busy",
                        "the enclave is answering as many attestations as it allows; try again shortly",
                    );
                }
                tried.push(i);
            }
            Err(blindfold_client::ClientError::Attestation(e)) => {
                // A new session failed verification (or could not be
                // made): nothing was sent on it. One upstream keeps its
                // verified sessions (the client drops the failed one
                // alone); among several, this one leaves service until it
                // attests again.
                if state.upstreams.len() == 1 {
                    return error(
                        StatusCode::BAD_GATEWAY,
                        "attestation_failed",
                        "attestation_failed",
                        format!("the enclave was not verified, nothing was forwarded: {e}"),
                    );
                }
                upstream.take_out(&e.to_string()).await;
                tried.push(i);
            }
            Err(e) => {
                if state.upstreams.len() > 1 {
                    upstream.take_out(&e.to_string()).await;
                }
                return error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    "upstream_error",
                    e.to_string(),
                );
            }
        }
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
        let urls = args.upstreams();
        let state = Arc::new(ProxyState {
            upstreams: urls.iter().map(|u| Upstream::new(u)).collect(),
            trust,
            allowed_hosts,
        });
        // Attest at start so a bad enclave shows at once (requests retry,
        // unless every one must verify now).
        for u in &state.upstreams {
            if let Err(reason) = u.client(&state.trust).await {
                if args.require_verified_at_start {
                    return Err(Failure::CheckFailed(anyhow!(
                        "{} did not verify at start: {reason}",
                        u.url
                    )));
                }
                eprintln!("blindfold proxy: no request goes to {} until it verifies", u.url);
            }
        }
        if state.upstreams.len() > 1 {
            tokio::spawn(state.clone().check_health());
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
