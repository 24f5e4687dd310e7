//! The broker as an HTTPS service (TLS 1.3 only): `POST /v1/challenge`,
//! then `POST /v1/release` on the same connection; and, behind the owner's
//! bearer token, `GET /v1/owner/audit` and `POST /v1/owner/policies/NAME`.
//! Every decision (releases, refusals, policies taken or refused) is
//! appended to the audit log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use blindfold_crypto::PublicKey;
use blindfold_model_store::ModelStore;
use blindfold_protocol::binding::{EXPORTER_LABEL, EXPORTER_LEN};
use blindfold_protocol::release::ReleaseRequestV1;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::owner::{check_owner_token, OwnerAuth, OWNER_AUDIT_PATH, OWNER_POLICY_PREFIX};
use crate::{
    decide, load_policy, load_policy_versioned, read_policy, store_policy, verify_policy, Challenges, Error,
    Kek, KeyStore, PolicyVersions, ReleaseSession,
};

pub use blindfold_protocol::release::{CHALLENGE_PATH, RELEASE_PATH};
/// Largest request body (evidence included).
const MAX_BODY: usize = 1 << 20;
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a broker runs with.
pub struct BrokerConfig {
    /// The owner's store: policies and wrapped keys.
    pub store: ModelStore,
    /// The key-encryption key.
    pub kek: Kek,
    /// The owner's public key, which every policy must verify under.
    pub owner_key: PublicKey,
    /// The broker's TLS key (PKCS#8 DER, ECDSA P-256): its SPKI is what
    /// enclaves pin.
    pub tls_key_pkcs8: Zeroizing<Vec<u8>>,
    /// The development platform's CA, for policies that allow development.
    pub platform_ca: Option<Vec<blindfold_x509::Certificate>>,
    /// The broker's local state: policy versions seen.
    pub policy_versions: PathBuf,
    /// The audit log (JSON lines, appended).
    pub audit_log: PathBuf,
    /// SHA-256 of the owner's bearer token (`generate_owner_token`); none
    /// turns the owner routes off.
    pub owner_token_sha256: Option<[u8; 32]>,
}

/// One line of the audit log: a decision, never a key or a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// When (RFC 3339).
    pub time: String,
    /// The connection it arrived on.
    pub connection: u64,
    /// The model asked for.
    pub model: String,
    /// The key id asked for.
    pub key_id: String,
    /// The platform the evidence verified as (when it did).
    pub platform: Option<String>,
    /// `released` or `refused`.
    pub verdict: String,
    /// Why it was refused, or the policy version it was released under.
    pub reason: String,
}

struct Broker {
    config: BrokerConfig,
    keys: KeyStore,
    challenges: Challenges,
    versions: Mutex<PolicyVersions>,
    audit: Mutex<()>,
    spki: Vec<u8>,
}

/// The SPKI (DER) of a broker TLS key: what an enclave's configuration pins.
pub fn tls_spki(pkcs8: &[u8]) -> Result<Vec<u8>, Error> {
    let pair = rcgen::KeyPair::try_from(pkcs8).map_err(|e| Error::Tls(e.to_string()))?;
    Ok(pair.public_key_der())
}

/// Serves the broker on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, config: BrokerConfig) -> Result<(), Error> {
    let spki = tls_spki(&config.tls_key_pkcs8)?;
    let pair =
        rcgen::KeyPair::try_from(config.tls_key_pkcs8.as_slice()).map_err(|e| Error::Tls(e.to_string()))?;
    let cert = rcgen::CertificateParams::new(vec![blindfold_protocol::release::BROKER_SERVER_NAME.into()])
        .and_then(|p| p.self_signed(&pair))
        .map_err(|e| Error::Tls(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(config.tls_key_pkcs8.to_vec()));
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    // Replicas share the store and nothing else: refuse one that would let
    // their updates overwrite each other.
    config.store.check_conditional_writes().await?;
    let broker = Arc::new(Broker {
        keys: KeyStore::new(config.store.clone(), config.kek.clone()),
        versions: Mutex::new(PolicyVersions::load(&config.policy_versions)?),
        challenges: Challenges::default(),
        audit: Mutex::new(()),
        spki,
        config,
    });
    let next_connection = AtomicU64::new(1);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let connection = next_connection.fetch_add(1, Ordering::Relaxed);
        let (acceptor, broker) = (acceptor.clone(), broker.clone());
        tokio::spawn(async move {
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
            let service = hyper::service::service_fn(move |req| {
                let broker = broker.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&broker, connection, exporter, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn refused(status: StatusCode, why: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": why }))
}

async fn handle(
    broker: &Broker,
    connection: u64,
    exporter: [u8; EXPORTER_LEN],
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, CHALLENGE_PATH) => match broker.challenges.issue(connection) {
            Ok(challenge) => json(StatusCode::OK, &challenge),
            Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (&Method::POST, RELEASE_PATH) => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return refused(StatusCode::PAYLOAD_TOO_LARGE, "the request is larger than 1 MiB"),
            };
            let request: ReleaseRequestV1 = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => return refused(StatusCode::BAD_REQUEST, &format!("not a release request: {e}")),
            };
            let outcome = release(broker, connection, &exporter, &request).await;
            let (platform, verdict, reason, response) = match outcome {
                Ok((released, version)) => (
                    Some(released.platform.name().to_string()),
                    "released",
                    format!(
                        "policy version {version}, trust basis {}",
                        released.trust_basis.name()
                    ),
                    json(StatusCode::OK, &released.response),
                ),
                Err(e) => {
                    let why = e.to_string();
                    (None, "refused", why.clone(), refused(StatusCode::FORBIDDEN, &why))
                }
            };
            broker.audit(AuditRecord {
                time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                connection,
                model: request.model.clone(),
                key_id: request.key_id.clone(),
                platform,
                verdict: verdict.into(),
                reason,
            });
            response
        }
        (&Method::GET, OWNER_AUDIT_PATH) => match owner_refusal(broker, &req) {
            Some(response) => response,
            None => {
                let _guard = broker.audit.lock().unwrap_or_else(|p| p.into_inner());
                let log = std::fs::read(&broker.config.audit_log).unwrap_or_default();
                let mut response = Response::new(Full::new(Bytes::from(log)));
                response.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/x-ndjson"),
                );
                response
            }
        },
        (&Method::POST, path) if path.starts_with(OWNER_POLICY_PREFIX) => {
            let model = path[OWNER_POLICY_PREFIX.len()..].to_string();
            if let Some(response) = owner_refusal(broker, &req) {
                return response;
            }
            if !blindfold_model_store::valid_name(&model) {
                return refused(StatusCode::BAD_REQUEST, "not a model name");
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return refused(StatusCode::PAYLOAD_TOO_LARGE, "the request is larger than 1 MiB"),
            };
            let (verdict, reason, response) = match take_policy(broker, &model, body.to_vec()).await {
                Ok((version, key_id)) => (
                    "policy-set",
                    format!("policy version {version} for key {key_id}"),
                    json(
                        StatusCode::OK,
                        &serde_json::json!({ "model": model, "version": version }),
                    ),
                ),
                Err(e) => {
                    let why = e.to_string();
                    ("policy-refused", why.clone(), refused(StatusCode::CONFLICT, &why))
                }
            };
            broker.audit(AuditRecord {
                time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                connection,
                model,
                key_id: String::new(),
                platform: None,
                verdict: verdict.into(),
                reason,
            });
            response
        }
        _ => refused(StatusCode::NOT_FOUND, "no such route"),
    }
}

/// Lets an owner call through (`None`), or answers 401 (missing or wrong
/// token) or 404 (owner routes off).
fn owner_refusal(broker: &Broker, req: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match check_owner_token(header, broker.config.owner_token_sha256.as_ref()) {
        OwnerAuth::Allowed => None,
        OwnerAuth::Missing => Some(refused(
            StatusCode::UNAUTHORIZED,
            "an owner call needs the owner's bearer token",
        )),
        OwnerAuth::Wrong => Some(refused(
            StatusCode::UNAUTHORIZED,
            "the owner token does not match",
        )),
        OwnerAuth::Off => Some(refused(
            StatusCode::NOT_FOUND,
            "owner calls are off: this broker has no owner token",
        )),
    }
}

/// An uploaded policy: signed by the owner, for `model`, its version above
/// every version this broker has seen; then stored and recorded.
async fn take_policy(broker: &Broker, model: &str, envelope: Vec<u8>) -> Result<(u64, String), Error> {
    let highest = broker
        .versions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .highest(model);
    // Newer than what this broker has seen and than what the store holds
    // (another replica may have taken a newer one); written only if the
    // store still holds what was read.
    let stored = load_policy_versioned(&broker.config.store, model).await?;
    let stored_version = stored
        .as_ref()
        .and_then(|(bytes, _)| read_policy(bytes, &broker.config.owner_key, model).ok())
        .map_or(0, |p| p.version);
    let policy = verify_policy(
        &envelope,
        &broker.config.owner_key,
        model,
        SystemTime::now(),
        highest.max(stored_version) + 1,
    )?;
    store_policy(
        &broker.config.store,
        model,
        envelope,
        stored.as_ref().map(|(_, v)| v),
    )
    .await?;
    broker
        .versions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(model, policy.policy.version)?;
    Ok((policy.policy.version, policy.policy.key_id))
}

async fn release(
    broker: &Broker,
    connection: u64,
    exporter: &[u8],
    request: &ReleaseRequestV1,
) -> Result<(crate::Released, u64), Error> {
    let challenge = broker.challenges.take(&request.challenge, connection)?;
    let now = SystemTime::now();
    let bytes = load_policy(&broker.config.store, &request.model).await?;
    let highest = broker
        .versions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .highest(&request.model);
    let policy = verify_policy(&bytes, &broker.config.owner_key, &request.model, now, highest)?;
    broker
        .versions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(&request.model, policy.policy.version)?;
    let data_key = broker
        .keys
        .get(&policy.policy.model, &policy.policy.key_id)
        .await?;
    let session = ReleaseSession {
        broker_spki_der: &broker.spki,
        exporter,
    };
    let released = decide(
        request,
        &challenge,
        &policy,
        session,
        &data_key,
        broker.config.platform_ca.as_deref(),
        now,
    )?;
    Ok((released, policy.policy.version))
}

impl Broker {
    fn audit(&self, record: AuditRecord) {
        use std::io::Write;
        let _guard = self.audit.lock().unwrap_or_else(|p| p.into_inner());
        let line = serde_json::to_string(&record).unwrap_or_default();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.audit_log)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            eprintln!("blindfold kbs: cannot append to the audit log: {e}");
        }
    }
}
