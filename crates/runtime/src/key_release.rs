//! Getting a sealed model's data key from the owner's key broker
//! (`docs/sealed-models.md`, "The release decision").
//!
//! One TLS 1.3 connection, the broker's key pinned by the SHA-256 of its
//! SubjectPublicKeyInfo from the *measured* configuration; on it a
//! challenge, then a release request whose evidence binds the key-release
//! purpose, the challenge, the model, its key id, a fresh HPKE key made
//! here and this very session. The data key comes back sealed to that HPKE
//! key, which never leaves memory. A broker that cannot be reached is
//! tried a bounded number of times; a refusal is final and its reason is
//! passed on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use blindfold_attester::Tpm;
use blindfold_crypto::{default_provider, HashAlg};
use blindfold_enclave_config::SealedModelConfig;
use blindfold_protocol::binding::{EXPORTER_LABEL, EXPORTER_LEN};
use blindfold_protocol::release::{
    release_qualifying_data, ChallengeV1, ReleaseKeyPair, ReleaseRequestV1, ReleaseResponseV1,
    BROKER_SERVER_NAME, CHALLENGE_PATH, RELEASE_PATH,
};
use der::{Decode, Encode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use zeroize::Zeroizing;

use crate::measure::StartState;

/// Tries to reach the broker before giving up, and the pause after each
/// failed try (doubling).
const CONNECT_TRIES: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// Bound on one try: connecting, the TLS handshake and each answer.
const TRY_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest answer read from the broker.
const MAX_ANSWER: usize = 64 * 1024;

/// The SubjectPublicKeyInfo (DER) of a certificate.
fn spki_der(cert: &[u8]) -> Result<Vec<u8>, String> {
    let cert = x509_cert::Certificate::from_der(cert).map_err(|e| format!("broker certificate: {e}"))?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("broker certificate: {e}"))
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    default_provider()
        .hash(HashAlg::Sha256, &[bytes])
        .as_bytes()
        .to_vec()
}

/// Accepts the broker's certificate only if its key is the pinned one
/// (its name and issuer mean nothing here: the key is the identity).
#[derive(Debug)]
struct PinnedSpki {
    spki_sha256: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// Set when the broker showed another key: the handshake's failure is
    /// then a refusal, not a network hiccup to retry.
    other_key: Arc<AtomicBool>,
}

impl ServerCertVerifier for PinnedSpki {
    fn verify_server_cert(
        &self,
        cert: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let spki = spki_der(cert).map_err(rustls::Error::General)?;
        let got = sha256(&spki);
        if got == self.spki_sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            self.other_key.store(true, Ordering::Relaxed);
            Err(rustls::Error::General(format!(
                "the broker's key has SPKI SHA-256 {}, the configuration pins {}",
                hex::encode(got),
                hex::encode(&self.spki_sha256)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A pinned connection: its request sender, the broker's SPKI and this
/// session's exporter.
struct Connection {
    sender: Sender,
    broker_spki: Vec<u8>,
    exporter: [u8; EXPORTER_LEN],
}

/// `https://HOST:PORT` → `HOST:PORT`.
fn authority(url: &str) -> anyhow::Result<&str> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("the key broker {url} is not an https:// URL"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || !authority.contains(':') {
        return Err(anyhow!("the key broker {url} is not https://HOST:PORT"));
    }
    Ok(authority)
}

async fn connect(sealed: &SealedModelConfig) -> Result<Connection, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let other_key = Arc::new(AtomicBool::new(false));
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Failure::Refused(e.into()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedSpki {
            spki_sha256: sealed.broker_spki_sha256.clone(),
            provider,
            other_key: other_key.clone(),
        }))
        .with_no_client_auth();
    let authority = authority(&sealed.broker).map_err(Failure::Refused)?;
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to the key broker {}", sealed.broker))
        .map_err(Failure::Unreachable)?;
    let server_name = ServerName::try_from(BROKER_SERVER_NAME).map_err(|e| Failure::Refused(e.into()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .with_context(|| format!("TLS with the key broker {}", sealed.broker))
        .map_err(|e| {
            // A key that is not the pinned one is not a network hiccup.
            if other_key.load(Ordering::Relaxed) {
                Failure::Refused(e)
            } else {
                Failure::Unreachable(e)
            }
        })?;
    let (_, session) = tls.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| Failure::Refused(anyhow!("the key broker sent no certificate")))?;
    let broker_spki = spki_der(leaf).map_err(|e| Failure::Refused(anyhow!(e)))?;
    let mut exporter = [0u8; EXPORTER_LEN];
    session
        .export_keying_material(&mut exporter, EXPORTER_LABEL, None)
        .map_err(|e| Failure::Refused(e.into()))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| Failure::Unreachable(e.into()))?;
    tokio::spawn(conn);
    Ok(Connection {
        sender,
        broker_spki,
        exporter,
    })
}

/// Whether a failure is worth another try (the broker was not reached or
/// the connection broke), as opposed to an answer.
#[derive(Debug)]
enum Failure {
    Unreachable(anyhow::Error),
    Refused(anyhow::Error),
}

async fn post(sender: &mut Sender, path: &str, body: Vec<u8>) -> Result<Vec<u8>, Failure> {
    let request = hyper::Request::post(path)
        .header("host", BROKER_SERVER_NAME)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Failure::Refused(e.into()))?;
    let response = tokio::time::timeout(TRY_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| Failure::Unreachable(anyhow!("the key broker did not answer {path} in time")))?
        .map_err(|e| Failure::Unreachable(anyhow!("{path}: {e}")))?;
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| Failure::Unreachable(anyhow!("reading the answer to {path}: {e}")))?
        .to_bytes();
    if status.is_success() {
        return Ok(body.to_vec());
    }
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: String,
    }
    let why = serde_json::from_slice::<Refusal>(&body)
        .map(|r| r.error)
        .unwrap_or_else(|_| "no reason given".into());
    Err(Failure::Refused(anyhow!(
        "the key broker refused ({status}): {why}"
    )))
}

/// One try: connect, challenge, quote, release, open.
async fn try_release(
    tpm: &mut Tpm,
    state: &StartState,
    sealed: &SealedModelConfig,
    key_id: &str,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut conn = tokio::time::timeout(TRY_TIMEOUT, connect(sealed))
        .await
        .map_err(|_| {
            Failure::Unreachable(anyhow!("the key broker {} did not answer in time", sealed.broker))
        })??;
    let challenge: ChallengeV1 =
        serde_json::from_slice(&post(&mut conn.sender, CHALLENGE_PATH, Vec::new()).await?)
            .map_err(|e| Failure::Refused(anyhow!("the broker's challenge is not one: {e}")))?;
    let challenge_bytes = hex::decode(&challenge.challenge)
        .map_err(|_| Failure::Refused(anyhow!("the broker's challenge is not hex")))?;
    let pair = ReleaseKeyPair::generate();
    let hpke_public_key = pair.public_key();
    let qualifying = release_qualifying_data(
        &challenge_bytes,
        &sealed.name,
        key_id,
        &hpke_public_key,
        &conn.broker_spki,
        &conn.exporter,
    );
    let evidence = blindfold_attester::evidence::quoted(tpm, state, &qualifying)
        .map_err(|e| Failure::Refused(e.into()))?;
    let request = ReleaseRequestV1 {
        blindfold_release: 1,
        challenge: challenge.challenge,
        model: sealed.name.clone(),
        key_id: key_id.to_string(),
        hpke_public_key: hex::encode(&hpke_public_key),
        evidence,
    };
    let body = serde_json::to_vec(&request).map_err(|e| Failure::Refused(e.into()))?;
    let answer = post(&mut conn.sender, RELEASE_PATH, body).await?;
    let response: ReleaseResponseV1 = serde_json::from_slice(&answer)
        .map_err(|e| Failure::Refused(anyhow!("the broker's answer is not a release: {e}")))?;
    pair.open(&response, &sealed.name)
        .map_err(|e| Failure::Refused(anyhow!("{e}")))
}

/// The data key of `sealed` (key `key_id`) from its broker, after at most
/// [`CONNECT_TRIES`] tries to reach it.
pub async fn release_key(
    tpm: &mut Tpm,
    state: &StartState,
    sealed: &SealedModelConfig,
    key_id: &str,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut pause = FIRST_PAUSE;
    let mut tries = 0;
    loop {
        tries += 1;
        match try_release(tpm, state, sealed, key_id).await {
            Ok(key) => return Ok(key),
            Err(Failure::Refused(e)) => return Err(e),
            Err(Failure::Unreachable(e)) if tries >= CONNECT_TRIES => {
                return Err(e.context(format!(
                    "the key broker {} could not be reached ({tries} tries)",
                    sealed.broker
                )))
            }
            Err(Failure::Unreachable(e)) => {
                tracing::warn!(broker = %sealed.broker, try_ = tries, "key broker unreachable: {e:#}; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_url_is_https_host_and_port() {
        assert_eq!(authority("https://127.0.0.1:8443").unwrap(), "127.0.0.1:8443");
        assert_eq!(authority("https://kbs.example:443/").unwrap(), "kbs.example:443");
        for bad in ["http://127.0.0.1:1", "https://host", "https://h:1/v1", "https://"] {
            assert!(authority(bad).is_err(), "{bad}");
        }
    }
}
