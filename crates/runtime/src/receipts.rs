//! Signed receipts (`blindfold_protocol::receipt`, `docs/receipts.md`):
//! the per-boot receipt key, the one quote that vouches for it, and the
//! receipt on every API answer.
//!
//! The key is a P-256 key made in memory after the model is measured and
//! never written anywhere; its evidence is quoted once, then served as is
//! (its SHA-256 is what every receipt cites). Each API answer is signed
//! over salted digests of the exact request and response bodies: a
//! complete answer carries the receipt in a header, a streamed one as an
//! SSE comment before `data: [DONE]`. Receipts hold digests only: no prompt
//! or answer is kept, logged or written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use base64::Engine as _;
use blindfold_attester::Tpm;
use blindfold_protocol::receipt::{
    receipt_qualifying_data, request_digest, BodyHasher, IssuedReceiptV1, ReceiptModel, ReceiptV1,
    RECEIPT_COMMENT_PREFIX, RECEIPT_HEADER, SALT_LEN,
};
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::measure::StartState;
use crate::server::error;
use crate::tls_key::TlsKey;

/// The last event of a streamed answer.
const DONE: &[u8] = b"data: [DONE]\n\n";

/// The receipt key, its evidence and this boot's counter.
#[derive(Debug)]
pub struct Receipts {
    key: TlsKey,
    spki: Vec<u8>,
    evidence: Bytes,
    evidence_sha256: String,
    model: Option<ReceiptModel>,
    counter: AtomicU64,
    /// The API's request body limit (bodies are read whole to be hashed).
    request_limit: usize,
}

impl Receipts {
    /// Makes the receipt key and quotes its binding: call once the model
    /// is measured (the evidence's runtime log then names it).
    pub fn start(tpm: &mut Tpm, state: &StartState, request_limit: usize) -> anyhow::Result<Receipts> {
        let key = TlsKey::generate().context("receipt key")?;
        let spki = key.spki_der().context("receipt key")?;
        let evidence = blindfold_attester::evidence::quoted(tpm, state, &receipt_qualifying_data(&spki))
            .context("quoting the receipt key")?
            .to_json();
        let model = ReceiptModel::last_measured(&state.log.events);
        Ok(Receipts {
            key,
            spki,
            evidence_sha256: hex::encode(Sha256::digest(&evidence)),
            evidence: Bytes::from(evidence),
            model,
            counter: AtomicU64::new(0),
            request_limit,
        })
    }

    /// The receipt evidence document, byte for byte what receipts cite.
    pub fn evidence(&self) -> Bytes {
        self.evidence.clone()
    }

    fn issue(&self, salt: &[u8; SALT_LEN], request: [u8; 32], response: [u8; 32]) -> IssuedReceiptV1 {
        let mut receipt = ReceiptV1 {
            blindfold_receipt: ReceiptV1::VERSION,
            evidence_sha256: self.evidence_sha256.clone(),
            receipt_key: self.spki.clone(),
            counter: self.counter.fetch_add(1, Ordering::Relaxed) + 1,
            model: self.model.clone(),
            request_sha256: hex::encode(request),
            response_sha256: hex::encode(response),
            signature: Vec::new(),
        };
        receipt.signature = self.key.sign_der(&receipt.signed_bytes());
        IssuedReceiptV1 {
            receipt,
            salt: hex::encode(salt),
        }
    }

    /// Answers `req` with `api`; the answer carries its receipt.
    pub async fn answer(self: Arc<Self>, req: Request<Incoming>, api: axum::Router) -> Response<Body> {
        use tower::ServiceExt as _;
        let (parts, body) = req.into_parts();
        let request = match http_body_util::Limited::new(body, self.request_limit)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    "the request body is larger than this enclave accepts",
                )
            }
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the request body was cut off",
                )
            }
        };
        let mut salt = [0u8; SALT_LEN];
        if getrandom::getrandom(&mut salt).is_err() {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "no random source for the receipt",
            );
        }
        let request_sha256 = request_digest(&salt, &request);
        let answer = match api.oneshot(Request::from_parts(parts, Body::from(request))).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let streamed = answer
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if streamed {
            self.stream_with_receipt(answer, salt, request_sha256)
        } else {
            self.whole_with_receipt(answer, salt, request_sha256).await
        }
    }

    /// A complete answer: read whole, its receipt in a header.
    async fn whole_with_receipt(
        &self,
        answer: Response<Body>,
        salt: [u8; SALT_LEN],
        request_sha256: [u8; 32],
    ) -> Response<Body> {
        let (mut parts, body) = answer.into_parts();
        let Ok(collected) = body.collect().await else {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the answer failed",
            );
        };
        let bytes = collected.to_bytes();
        let mut hasher = BodyHasher::response(&salt);
        hasher.update(&bytes);
        let issued = self.issue(&salt, request_sha256, hasher.finish());
        let encoded = base64::engine::general_purpose::STANDARD.encode(issued.to_json());
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            parts.headers.insert(RECEIPT_HEADER, value);
        }
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(bytes))
    }

    /// A streamed answer: every event hashed as it goes, the receipt as a
    /// comment before `data: [DONE]` (or at the end of a stream without
    /// one).
    fn stream_with_receipt(
        self: Arc<Self>,
        answer: Response<Body>,
        salt: [u8; SALT_LEN],
        request_sha256: [u8; 32],
    ) -> Response<Body> {
        let (parts, body) = answer.into_parts();
        struct Going {
            events: axum::body::BodyDataStream,
            hasher: Option<BodyHasher>,
            receipts: Arc<Receipts>,
            salt: [u8; SALT_LEN],
            request_sha256: [u8; 32],
        }
        impl Going {
            fn receipt_line(&mut self) -> Vec<u8> {
                let digest = self.hasher.take().map(BodyHasher::finish).unwrap_or_default();
                let issued = self.receipts.issue(&self.salt, self.request_sha256, digest);
                let mut line = RECEIPT_COMMENT_PREFIX.as_bytes().to_vec();
                line.extend_from_slice(&issued.to_json());
                line.extend_from_slice(b"\n\n");
                line
            }
        }
        let going = Going {
            events: body.into_data_stream(),
            hasher: Some(BodyHasher::response(&salt)),
            receipts: self,
            salt,
            request_sha256,
        };
        let stream = futures_util::stream::unfold(going, |mut g| async move {
            g.hasher.as_ref()?;
            match g.events.next().await {
                Some(Ok(chunk)) if chunk.ends_with(DONE) => {
                    let before = &chunk[..chunk.len() - DONE.len()];
                    if let Some(h) = g.hasher.as_mut() {
                        h.update(before);
                    }
                    let mut out = before.to_vec();
                    out.extend_from_slice(&g.receipt_line());
                    out.extend_from_slice(DONE);
                    Some((Ok(Bytes::from(out)), g))
                }
                Some(Ok(chunk)) => {
                    if let Some(h) = g.hasher.as_mut() {
                        h.update(&chunk);
                    }
                    Some((Ok(chunk), g))
                }
                Some(Err(e)) => {
                    g.hasher = None;
                    Some((Err(e), g))
                }
                None => {
                    let line = g.receipt_line();
                    Some((Ok(Bytes::from(line)), g))
                }
            }
        });
        Response::from_parts(parts, Body::from_stream(stream))
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    error(status, code, message).map(Body::new)
}
