//! TLS 1.3 termination and the evidence endpoints (per-session quotes,
//! and session signatures on epoch evidence: `crate::epochs`).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use blindfold_attester::Tpm;
use blindfold_protocol::binding::{EXPORTER_LABEL, EXPORTER_LEN, NONCE_LEN};
use blindfold_protocol::wellknown::{
    ENVIRONMENT_PATH, EVIDENCE_PATH, RECEIPT_EVIDENCE_PATH, SERVER_NAME, SESSION_EVIDENCE_PATH,
};
use blindfold_protocol::ApiErrorBody;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::epochs::Epochs;
use crate::idle::{CountingIo, SessionTimer};
use crate::measure::StartState;
use crate::peer_cap::PeerCap;
use crate::receipts::Receipts;
use crate::tls_key::TlsKey;

/// Open connections at most (more are dropped at accept).
const MAX_CONNECTIONS: usize = 256;
/// Open connections from one address at most: half the total, so one
/// client (a proxy's session pool, or a flood) leaves room for others.
const MAX_CONNECTIONS_PER_ADDRESS: usize = MAX_CONNECTIONS / 2;
/// Time allowed for a TLS handshake and for a request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared by all connections.
#[derive(Debug)]
pub struct Shared {
    /// The TPM (one command at a time).
    pub tpm: Mutex<Tpm>,
    /// What start-up measured.
    pub state: StartState,
    /// Limits evidence requests.
    pub limiter: RateLimiter,
    /// The API routes, when a model is served.
    pub api: Option<axum::Router>,
    /// The receipt key and its evidence, when a model is served: every
    /// API answer carries a signed receipt.
    pub receipts: Option<Arc<Receipts>>,
    /// How long an attested session may idle between requests.
    pub idle_timeout: Duration,
    /// What the environment route reports (not measured).
    pub environment: Environment,
}

/// The unmeasured facts the environment route reports.
#[derive(Debug)]
pub struct Environment {
    /// When the enclave started serving.
    pub started: Instant,
    /// `embedded`, `upstream` or `none`.
    pub engine: &'static str,
    /// The served model's id.
    pub model_id: Option<String>,
    /// `image` or `process`.
    pub mode: &'static str,
}

fn environment_response(environment: &Environment) -> Response<Full<Bytes>> {
    let report = blindfold_protocol::EnvironmentV1::new(
        env!("CARGO_PKG_VERSION"),
        environment.engine,
        environment.model_id.clone(),
        environment.started.elapsed().as_secs(),
        environment.mode,
    );
    match serde_json::to_vec(&report) {
        Ok(body) => reply(StatusCode::OK, body),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "environment"),
    }
}

/// A fixed-window limiter: at most `per_second` evidence requests per second.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    /// One fixed window per client address, so one client cannot starve others.
    windows: Mutex<std::collections::HashMap<std::net::IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter allowing each client address `per_second` requests each second.
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            per_second: per_second.max(1),
            windows: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn allow(&self, peer: std::net::IpAddr) -> bool {
        let Ok(mut windows) = self.windows.lock() else {
            return false;
        };
        // Forget idle clients so the table stays bounded by recent peers.
        if windows.len() > 4096 {
            windows.retain(|_, w| w.0.elapsed().as_secs() < 1);
        }
        let w = windows.entry(peer).or_insert((Instant::now(), 0));
        if w.0.elapsed().as_secs() >= 1 {
            *w = (Instant::now(), 0);
        }
        w.1 += 1;
        w.1 <= self.per_second
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// An OpenAI-shaped error answer (the same type the API and proxy write).
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let kind = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    reply(status, ApiErrorBody::new(kind, code, None, message).to_json())
}

/// The nonce from `?nonce=HEX`: exactly 32 bytes, and nothing else in the query.
fn nonce_from_query(query: Option<&str>) -> Result<Vec<u8>, &'static str> {
    let value = query
        .and_then(|q| q.strip_prefix("nonce="))
        .filter(|v| !v.contains('&'))
        .ok_or("the only parameter is nonce=<64 hex digits>")?;
    let nonce = hex::decode(value).map_err(|_| "nonce is not hex")?;
    if nonce.len() != NONCE_LEN {
        return Err("nonce must be exactly 32 bytes");
    }
    Ok(nonce)
}

/// What the requests of one TLS connection share.
struct Connection {
    peer: std::net::IpAddr,
    spki: Arc<Vec<u8>>,
    epochs: Arc<Epochs>,
    exporter: [u8; EXPORTER_LEN],
    /// Session evidence is answered once per connection (it is bound to
    /// this connection's exporter; more would only be work for the enclave).
    session_evidence_given: AtomicBool,
}

/// Session evidence on epoch evidence: one signature, no TPM command, so
/// not held to the per-address limit of per-session quotes, but answered
/// once per connection.
fn session_evidence_response(req: &Request<Incoming>, conn: &Connection) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "session evidence is fetched with GET",
        );
    }
    let nonce = match nonce_from_query(req.uri().query()) {
        Ok(n) => n,
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid_nonce", why),
    };
    if conn.session_evidence_given.swap(true, Ordering::Relaxed) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "session_evidence_given",
            "session evidence is answered once per connection",
        );
    }
    match conn.epochs.session(&nonce, &conn.exporter) {
        Some(session) => reply(StatusCode::OK, session.to_json()),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "epoch_unavailable",
            "no epoch has been quoted: ask for per-session evidence",
        ),
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: Arc<Connection>,
) -> Result<Response<axum::body::Body>, Infallible> {
    if req.uri().path() == SESSION_EVIDENCE_PATH {
        return Ok(session_evidence_response(&req, &conn).map(axum::body::Body::new));
    }
    if req.uri().path() == ENVIRONMENT_PATH && req.method() == Method::GET {
        return Ok(environment_response(&shared.environment).map(axum::body::Body::new));
    }
    if req.uri().path() == RECEIPT_EVIDENCE_PATH && req.method() == Method::GET {
        return Ok(match &shared.receipts {
            Some(receipts) => reply(StatusCode::OK, receipts.evidence()),
            None => error(
                StatusCode::NOT_FOUND,
                "not_found",
                "this enclave serves no model, so it signs no receipts",
            ),
        }
        .map(axum::body::Body::new));
    }
    if req.uri().path() != EVIDENCE_PATH {
        return Ok(match (&shared.api, &shared.receipts) {
            (Some(api), Some(receipts)) => receipts.clone().answer(req, api.clone()).await,
            (Some(api), None) => {
                use tower::ServiceExt;
                match api.clone().oneshot(req.map(axum::body::Body::new)).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            }
            (None, _) => error(StatusCode::NOT_FOUND, "not_found", "not found").map(axum::body::Body::new),
        });
    }
    if req.method() != Method::GET {
        return Ok(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "evidence is fetched with GET",
        )
        .map(axum::body::Body::new));
    }
    Ok(
        evidence_response(conn.peer, req, shared, conn.spki.clone(), conn.exporter)
            .await
            .map(axum::body::Body::new),
    )
}

async fn evidence_response(
    peer: std::net::IpAddr,
    req: Request<Incoming>,
    shared: Arc<Shared>,
    spki: Arc<Vec<u8>>,
    exporter: [u8; EXPORTER_LEN],
) -> Response<Full<Bytes>> {
    if !shared.limiter.allow(peer) {
        let mut busy = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many evidence requests",
        );
        // The window is one second.
        busy.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        return busy;
    }
    let nonce = match nonce_from_query(req.uri().query()) {
        Ok(n) => n,
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid_nonce", why),
    };
    let work = tokio::task::spawn_blocking(move || {
        let mut tpm = shared
            .tpm
            .lock()
            .map_err(|_| anyhow::anyhow!("TPM lock poisoned"))?;
        anyhow::Ok(blindfold_attester::evidence::evidence(
            &mut tpm,
            &shared.state,
            &nonce,
            &spki,
            &exporter,
        )?)
    })
    .await;
    match work {
        Ok(Ok(evidence)) => reply(StatusCode::OK, evidence.to_json()),
        Ok(Err(e)) => {
            eprintln!("blindfold-enclave: evidence failed: {e:#}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "evidence_unavailable",
                "the TPM could not produce evidence",
            )
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "evidence task failed",
        ),
    }
}

/// Test builds only (debug assertions on; release and measured builds
/// compile this away): hands the TLS key to a test that plays a thief, via
/// `BLINDFOLD_ENCLAVE_TEST_STEAL_TLS_KEY=<file>`.
#[cfg(debug_assertions)]
fn test_hook_export_key(key: &TlsKey) {
    if let Some(path) = std::env::var_os("BLINDFOLD_ENCLAVE_TEST_STEAL_TLS_KEY") {
        let _ = std::fs::write(path, key.test_only_pkcs8());
    }
}

#[cfg(not(debug_assertions))]
fn test_hook_export_key(_: &TlsKey) {}

/// Always the one per-boot key.
#[derive(Debug)]
struct OneKey(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneKey {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Makes the per-boot TLS key and certificate and serves TLS 1.3 only.
pub async fn serve(listen: String, shared: Arc<Shared>) -> anyhow::Result<()> {
    let tls_key = TlsKey::generate().context("TLS key")?;
    let signer = rcgen::KeyPair::from_remote(Box::new(tls_key.clone())).context("TLS key")?;
    let cert = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])?
        .self_signed(&signer)
        .context("TLS certificate")?;
    let spki = Arc::new(signer.public_key_der());
    test_hook_export_key(&tls_key);
    let epochs = {
        let (shared, spki) = (shared.clone(), spki.clone());
        Arc::new(
            tokio::task::spawn_blocking(move || Epochs::start(&shared, spki))
                .await
                .context("the first epoch")?,
        )
    };
    epochs.spawn_rotation(shared.clone());
    let certified = Arc::new(rustls::sign::CertifiedKey::new(
        vec![CertificateDer::from(cert.der().to_vec())],
        Arc::new(tls_key),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneKey(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!(
        "blindfold-enclave: ready, listening on {} (TLS 1.3)",
        listener.local_addr()?
    );
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let per_address = PeerCap::new(MAX_CONNECTIONS_PER_ADDRESS);
    loop {
        // Accept errors (e.g. out of file descriptors) never stop the enclave.
        let (tcp, peer) = match listener.accept().await {
            Ok((tcp, addr)) => (tcp, addr.ip()),
            Err(e) => {
                eprintln!("blindfold-enclave: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = per_address.admit(peer) else {
            continue; // this address holds its share: drop the connection
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            continue; // at capacity: drop the connection
        };
        // Tokens go out as small TLS records: without this, each waits for
        // the peer's delayed ACK (~40 ms) behind the one before.
        let _ = tcp.set_nodelay(true);
        let (acceptor, shared, spki, epochs) =
            (acceptor.clone(), shared.clone(), spki.clone(), epochs.clone());
        tokio::spawn(async move {
            let _permits = (permit, slot);
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                return;
            };
            let mut exporter = [0u8; EXPORTER_LEN];
            if tls
                .get_ref()
                .1
                .export_keying_material(&mut exporter, EXPORTER_LABEL, None)
                .is_err()
            {
                return;
            }
            let idle = shared.idle_timeout;
            let conn = Arc::new(Connection {
                peer,
                spki,
                epochs,
                exporter,
                session_evidence_given: AtomicBool::new(false),
            });
            let service = service_fn(move |req| handle(req, shared.clone(), conn.clone()));
            // Headers within 10 s of their first byte; idle between
            // requests for `idle_timeout` (crate::idle).
            let read = Arc::new(AtomicU64::new(0));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(SessionTimer::new(read.clone(), idle))
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(CountingIo::new(tls, read)), service)
                .await;
        });
    }
}
