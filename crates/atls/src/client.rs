//! Connect, attest over the same session, then hand out the session.

use std::sync::Arc;
use std::time::SystemTime;

use blindfold_attest::{
    appraise, AcceptPolicy, Appraisal, AppraisalOptions, Evidence, Layout, ReferenceKind, ReferenceValues,
    TpmAnchor, VerifiedEvidence, Verifier, VerifyOptions,
};
use blindfold_protocol::binding::{EXPORTER_LABEL, EXPORTER_LEN, NONCE_LEN};
use blindfold_protocol::wellknown::{EVIDENCE_PATH, SERVER_NAME};
use blindfold_protocol::{qualifying_data, untrusted_text, Purpose};
use blindfold_tpm::Freshness;
use blindfold_x509::Certificate;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

use crate::connection::SessionConnection;
use crate::epoch::{epoch_session, FreshnessMode};
use crate::error::Error;
use blindfold_attest::epoch::EpochAge;

/// Most characters of an unverified server's text shown in an error.
const MAX_SHOWN: usize = 200;

/// Largest evidence answer read (bytes).
const MAX_EVIDENCE: usize = 1 << 20;

/// What the client requires of the enclave.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    /// Reference values (already checked: signed by a pinned publisher, or
    /// unsigned by the caller's explicit choice).
    pub reference: ReferenceValues,
    /// For the local platform (danger): the platform CA that certifies the AK.
    pub platform_ca: Option<Vec<Certificate>>,
    /// AK-certificate intermediates supplied at run time (never anchors).
    pub ak_intermediates: Vec<Certificate>,
    /// What the appraisal must meet before the session is handed out.
    pub accept: AcceptPolicy,
    /// Per-session quotes (the default) or, by the client's choice, epoch
    /// evidence.
    pub freshness: FreshnessMode,
}

/// An attested TLS session, ready for requests.
pub struct AttestedSession {
    /// HTTP/1.1 over the attested session. From [`connect_driven`], its
    /// requests make progress only while the connection is driven.
    pub sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    /// What was verified.
    pub verified: VerifiedEvidence,
    /// The appraisal.
    pub appraisal: Appraisal,
    /// SHA-256 of the TLS leaf's SPKI the evidence is bound to (hex).
    pub leaf_spki_sha256: String,
    /// The epoch the session was checked against, when the client accepts
    /// epoch evidence; `None` for a quote made for this session.
    pub epoch: Option<EpochAge>,
}

impl std::fmt::Debug for AttestedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestedSession")
            .field("leaf_spki_sha256", &self.leaf_spki_sha256)
            .finish()
    }
}

/// Accepts the enclave's self-issued leaf (trust comes from the evidence),
/// but verifies every handshake signature with it.
#[derive(Debug)]
struct AttestationBound {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AttestationBound {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not accepted".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn random_nonce() -> Result<[u8; NONCE_LEN], Error> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut n).map_err(|e| Error::Connect(format!("random nonce: {e}")))?;
    Ok(n)
}

/// Time allowed for connecting, the handshake, and the evidence answer.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Time allowed for the TCP connection and the TLS handshake alone. A
/// forwarder (QEMU's user network, a load balancer) accepts at once and
/// only then reaches the server; if the server was not up yet, that
/// connection can hang for many seconds after the server is listening
/// (the forwarder's SYN retries back off), so a caller waiting for an
/// enclave to start gives up on it early and connects again.
const HANDSHAKE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Connects to `addr` (`host:port`), attests the session, and returns it,
/// within 30 seconds. The session's connection runs in a task of its own.
pub async fn connect(addr: &str, policy: &ClientPolicy) -> Result<AttestedSession, Error> {
    let (session, connection) = connect_driven(addr, policy).await?;
    tokio::spawn(connection.run());
    Ok(session)
}

/// Like [`connect`], but the session's connection is handed back, not
/// run: its requests make progress only while the caller drives it
/// ([`SessionConnection::drive`]), in the task that reads the answers.
pub async fn connect_driven(
    addr: &str,
    policy: &ClientPolicy,
) -> Result<(AttestedSession, SessionConnection), Error> {
    tokio::time::timeout(DEADLINE, connect_inner(addr, policy))
        .await
        .map_err(|_| {
            Error::Connect(format!(
                "{addr}: no attested session within {} s",
                DEADLINE.as_secs()
            ))
        })?
}

async fn connect_inner(
    addr: &str,
    policy: &ClientPolicy,
) -> Result<(AttestedSession, SessionConnection), Error> {
    if policy.reference.kind == ReferenceKind::Foreign {
        // A foreign file lists some PCRs and only warns about the rest, so a
        // quote could leave PCRs out to silence it: Blindfold references only.
        return Err(Error::ForeignReference(policy.reference.format.name()));
    }
    // One expected platform picks the trust anchor; with several (or
    // none), the acceptance rule checks the one that verified.
    let platform = match policy.accept.platforms.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    let (mut sender, mut connection, verified, appraisal, spki, epoch) = match &policy.freshness {
        FreshnessMode::PerSessionQuote => {
            let (sender, connection, _, verified, spki) = verified_session(
                addr,
                platform,
                policy.platform_ca.clone(),
                policy.ak_intermediates.clone(),
            )
            .await?;
            let appraisal = appraise_and_accept(&verified, policy)?;
            (sender, connection, verified, appraisal, spki, None)
        }
        FreshnessMode::Epoch { max_age, cache } => {
            let (sender, connection, verified, appraisal, spki, age) =
                epoch_session(addr, platform, policy, *max_age, cache).await?;
            (sender, connection, verified, appraisal, spki, Some(age))
        }
    };
    // Hand out a sender that can take the next request right away.
    connection
        .drive(sender.ready())
        .await
        .map_err(|e| Error::Evidence(format!("session closed after the evidence: {e}")))?;
    let spki_hash = blindfold_crypto::default_provider().hash(blindfold_crypto::HashAlg::Sha256, &[&spki]);
    let session = AttestedSession {
        sender,
        verified,
        appraisal,
        leaf_spki_sha256: spki_hash.to_hex(),
        epoch,
    };
    Ok((session, connection))
}

/// Appraises verified evidence against the policy's reference and applies
/// its acceptance rule.
pub(crate) fn appraise_and_accept(
    verified: &VerifiedEvidence,
    policy: &ClientPolicy,
) -> Result<Appraisal, Error> {
    let appraisal = appraise(
        verified,
        Some(&policy.reference),
        &AppraisalOptions {
            development_reference: policy.accept.development_reference,
            policy: None,
        },
    )?;
    appraisal.accept(&policy.accept).map_err(Error::Refused)?;
    Ok(appraisal)
}

/// What a reference boot's evidence is anchored in.
#[derive(Debug, Clone)]
pub enum ReferenceAnchor {
    /// The local platform's CA (a development platform).
    PlatformCa(Vec<Certificate>),
    /// A cloud platform's bundled root (its AK certificate or hardware
    /// report), with AK intermediates supplied at run time.
    Cloud {
        /// The platform the evidence must be from.
        platform: blindfold_attest::Platform,
        /// Intermediates supplied at run time (never anchors).
        ak_intermediates: Vec<Certificate>,
    },
}

/// For a reference boot only (`blindfold platform reference`, `platform
/// capture`): the
/// evidence of the enclave at `addr`, verified (quote, AK chain to
/// `platform_ca`, the session binding, the firmware and runtime logs
/// replayed to the quote) but appraised against nothing. What it returns
/// is what the platform measured, to be taken as reference values by
/// whoever controls this boot; never a reason to trust the machine.
pub async fn reference_evidence(
    addr: &str,
    anchor: ReferenceAnchor,
) -> Result<(Evidence, VerifiedEvidence), Error> {
    let (platform, platform_ca, ak_intermediates) = match anchor {
        ReferenceAnchor::PlatformCa(ca) => (None, Some(ca), Vec::new()),
        ReferenceAnchor::Cloud {
            platform,
            ak_intermediates,
        } => (Some(platform), None, ak_intermediates),
    };
    tokio::time::timeout(DEADLINE, async {
        let (_, _, evidence, verified, _) =
            verified_session(addr, platform, platform_ca, ak_intermediates).await?;
        Ok((evidence, verified))
    })
    .await
    .map_err(|_| Error::Connect(format!("{addr}: no evidence within {} s", DEADLINE.as_secs())))?
}

/// The evidence of the enclave at `addr`, verified (quote, AK anchored in
/// a cloud root or `platform_ca`, the session binding, the logs replayed
/// to the quote) but appraised against nothing: what an enclave that was
/// refused actually measured, to show beside the reference. Never a reason
/// to trust it.
pub async fn verified_evidence(
    addr: &str,
    platform_ca: Option<Vec<Certificate>>,
) -> Result<VerifiedEvidence, Error> {
    tokio::time::timeout(DEADLINE, async {
        let (_, _, _, verified, _) = verified_session(addr, None, platform_ca, Vec::new()).await?;
        Ok(verified)
    })
    .await
    .map_err(|_| Error::Connect(format!("{addr}: no evidence within {} s", DEADLINE.as_secs())))?
}

pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A TLS session not yet attested: see [`open_session`].
pub(crate) type OpenSession = (Sender, SessionConnection, Vec<u8>, [u8; EXPORTER_LEN]);

/// A TLS 1.3 session to `addr` (the server's handshake signature checked
/// with its own leaf), ready for HTTP: the sender, its connection (to be
/// driven), the leaf's SPKI and the session's exported keying material.
pub(crate) async fn open_session(addr: &str) -> Result<OpenSession, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AttestationBound {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = rustls::ClientConfig::builder_with_provider(provider.clone() as Arc<CryptoProvider>)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Connect(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = tokio::time::timeout(HANDSHAKE_DEADLINE, async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::Connect(format!("{addr}: {e}")))?;
        // Requests and streamed tokens are small writes: send them at once.
        tcp.set_nodelay(true)
            .map_err(|e| Error::Connect(format!("{addr}: {e}")))?;
        let name = ServerName::try_from(SERVER_NAME).map_err(|e| Error::Connect(e.to_string()))?;
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Connect(format!("TLS: {e}")))
    })
    .await
    .map_err(|_| {
        Error::Connect(format!(
            "{addr}: no TLS handshake within {} s",
            HANDSHAKE_DEADLINE.as_secs()
        ))
    })??;

    let (_, conn) = tls.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| Error::Connect("no server certificate".into()))?;
    let spki = Certificate::from_der(leaf.as_ref())
        .and_then(|c| c.spki_der())
        .map_err(|e| Error::Connect(format!("server certificate: {e}")))?;
    let mut exporter = [0u8; EXPORTER_LEN];
    conn.export_keying_material(&mut exporter, EXPORTER_LABEL, None)
        .map_err(|e| Error::Connect(format!("exporter: {e}")))?;

    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| Error::Evidence(e.to_string()))?;
    Ok((sender, SessionConnection::new(connection), spki, exporter))
}

/// Asks for `path` with a fresh nonce on an unverified session; returns
/// the nonce and the answer's body (at most 1 MiB).
pub(crate) async fn ask_with_nonce(
    sender: &mut Sender,
    path: &str,
) -> Result<([u8; NONCE_LEN], Bytes), Error> {
    let nonce = random_nonce()?;
    let request = hyper::Request::get(format!("{path}?nonce={}", hex::encode(nonce)))
        .header(hyper::header::HOST, SERVER_NAME)
        .body(Full::new(Bytes::new()))
        .map_err(|e| Error::Evidence(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Error::Evidence(e.to_string()))?;
    let status = response.status();
    if status == hyper::StatusCode::TOO_MANY_REQUESTS {
        let seconds = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1)
            .min(60);
        return Err(Error::Busy {
            retry_after: std::time::Duration::from_secs(seconds),
        });
    }
    let body = Limited::new(response.into_body(), MAX_EVIDENCE)
        .collect()
        .await
        .map_err(|e| Error::Evidence(format!("reading the answer (at most {MAX_EVIDENCE} bytes): {e}")))?
        .to_bytes();
    if !status.is_success() {
        // The server is not verified yet: its text is shown, never obeyed.
        return Err(Error::Evidence(format!(
            "HTTP {status}: {}",
            untrusted_text(&body, MAX_SHOWN)
        )));
    }
    Ok((nonce, body))
}

/// Verify options for a Blindfold enclave's evidence with `freshness`.
pub(crate) fn verify_options(
    platform: Option<blindfold_attest::Platform>,
    platform_ca: Option<Vec<Certificate>>,
    ak_intermediates: Vec<Certificate>,
    freshness: Option<Freshness>,
) -> VerifyOptions {
    VerifyOptions {
        platform,
        freshness,
        at: SystemTime::now(),
        tpm_anchor: platform_ca.map(TpmAnchor::DangerPlatformCa),
        ak_intermediates,
        replay: Default::default(),
        hardware: Default::default(),
    }
}

/// Refuses evidence that is not Blindfold's with a runtime log, or whose
/// runtime has not logged its ready separator.
pub(crate) fn check_blindfold_layout(evidence: &Evidence) -> Result<(), Error> {
    if evidence.layout != Layout::BlindfoldV1 || evidence.runtime_log.is_none() {
        return Err(Error::Evidence(
            "the answer is not Blindfold evidence with a runtime event log".into(),
        ));
    }
    Ok(())
}

/// Refuses verified evidence whose runtime has not logged its ready
/// separator.
pub(crate) fn check_ready(verified: &VerifiedEvidence) -> Result<(), Error> {
    if !verified.runtime_log().is_some_and(|l| l.is_ready()) {
        return Err(Error::Evidence(
            "the runtime has not logged its ready separator".into(),
        ));
    }
    Ok(())
}

/// A TLS 1.3 session to `addr` and the evidence bound to it, verified
/// (not appraised).
async fn verified_session(
    addr: &str,
    platform: Option<blindfold_attest::Platform>,
    platform_ca: Option<Vec<Certificate>>,
    ak_intermediates: Vec<Certificate>,
) -> Result<(Sender, SessionConnection, Evidence, VerifiedEvidence, Vec<u8>), Error> {
    let (mut sender, mut connection, spki, exporter) = open_session(addr).await?;
    let (nonce, body) = connection
        .drive(ask_with_nonce(&mut sender, EVIDENCE_PATH))
        .await?;
    let evidence = Evidence::parse(&body)?;
    check_blindfold_layout(&evidence)?;
    let options = verify_options(
        platform,
        platform_ca,
        ak_intermediates,
        Some(Freshness::Nonce(
            qualifying_data(Purpose::ClientSession, &nonce, &spki, &exporter).to_vec(),
        )),
    );
    let verified = Verifier::new().verify(&evidence, &options)?;
    check_ready(&verified)?;
    Ok((sender, connection, evidence, verified, spki))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_accepted_but_never_answered_fails_at_the_handshake_deadline() {
        // What a forwarder does while the server behind it is not up: it
        // accepts, then says nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(DEADLINE).await;
            drop(socket);
        });
        let start = std::time::Instant::now();
        let err = match verified_session(&addr, None, None, Vec::new()).await {
            Err(e) => e,
            Ok(_) => panic!("a silent peer gave a session"),
        };
        let waited = start.elapsed();
        assert!(
            matches!(&err, Error::Connect(m) if m.contains("no TLS handshake within 5 s")),
            "{err}"
        );
        assert!(
            waited >= HANDSHAKE_DEADLINE && waited < DEADLINE,
            "gave up after {waited:?}"
        );
        held.abort();
    }
}
