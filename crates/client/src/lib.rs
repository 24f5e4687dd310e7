//! The Blindfold client SDK.
//!
//! What it is for: talking to a Blindfold enclave the way an OpenAI client
//! talks to a server, except that every TLS session is attested before
//! the first byte of a request goes out. [`Trust::from_files`] resolves
//! what to trust (a signed reference bundle under a pinned publisher key,
//! a platform CA, the development opt-in) with no network;
//! [`Client::connect`] attests a first session; requests reuse attested
//! sessions and attest new ones when needed ([`Client::request`]; a
//! session has no task of its own: reading the answer drives it,
//! [`SessionBody`]);
//! [`Client::chat_completion`], [`Client::completion`] and
//! [`Client::stream`] speak the OpenAI API; [`Client::report`] is the
//! verification report.
//!
//! What it is not: a verifier (that is `blindfold-attest`, called through
//! `blindfold-atls`) or a server (the proxy in `blindfold-cli` is built on
//! this crate).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod openai;
pub mod report;
mod seen_bundles;
mod session_body;
mod trust;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::Value;

pub use report::Report;
pub use seen_bundles::SeenBundles;
pub use session_body::SessionBody;
use session_body::{Lease, Pool, Pooled};
pub use trust::{ReferenceSource, Trust, TrustFiles};

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A file or argument cannot be used.
    #[error("{0}")]
    Input(String),
    /// The reference was refused (bad signature, unsigned without opt-in).
    #[error("{0}")]
    Reference(String),
    /// The enclave's evidence did not verify or appraise: nothing was sent.
    #[error("attestation failed: {0}")]
    Attestation(#[from] blindfold_atls::Error),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// The API answered an error.
    #[error("the enclave answered {status}: {body}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Its (OpenAI-shaped) body.
        body: Value,
    },
}

/// Most idle attested sessions kept open (sessions in use are out of the
/// pool; the enclave accepts 128 connections per client address).
pub(crate) const MAX_IDLE_SESSIONS: usize = 128;
/// Longest wait for an idle session to take a new request.
const READY_WAIT: Duration = Duration::from_millis(100);
/// Most attestations under way at once: a burst of new requests opens
/// sessions at this pace (each costs the enclave a TPM quote) and reuses
/// those that free up meanwhile, instead of asking for one each.
const MAX_ATTESTING: usize = 4;
/// Longest a request waits for a session (attesting, or waiting out a busy
/// enclave's `Retry-After`).
const SESSION_DEADLINE: Duration = Duration::from_secs(30);
/// How often a request without a session looks for one that freed up.
const SESSION_POLL: Duration = Duration::from_millis(1);

/// An attested client; see the crate docs.
pub struct Client {
    addr: String,
    trust: Trust,
    /// Idle sessions; a session in use is out of it, with its answer
    /// ([`SessionBody`]).
    sessions: Arc<Pool>,
    attesting: tokio::sync::Semaphore,
    /// The report of the session the last request went on (or of the
    /// attestation that failed last).
    report: Mutex<Arc<Report>>,
    /// Told of every attestation after the first (new sessions).
    observer: Option<AttestationObserver>,
}

/// Called with the report of each new session's attestation, verified or
/// failed (a proxy logs them).
pub type AttestationObserver = Arc<dyn Fn(&Report) + Send + Sync>;

/// `https://host:port[/]` or `host:port` → `host:port`.
pub fn address_of(url: &str) -> String {
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

impl Client {
    /// Attests a first session to `url`; fails if the enclave does not
    /// verify (then nothing was sent).
    pub async fn connect(url: &str, trust: Trust) -> Result<Client, ClientError> {
        let addr = address_of(url);
        let deadline = tokio::time::Instant::now() + SESSION_DEADLINE;
        let (session, connection) = loop {
            match blindfold_atls::connect_driven(&addr, &trust.policy).await {
                Err(blindfold_atls::Error::Busy { retry_after })
                    if tokio::time::Instant::now() + retry_after < deadline =>
                {
                    tokio::time::sleep(retry_after).await
                }
                other => break other?,
            }
        };
        let report = Arc::new(report::verification_report(&addr, &session, &trust));
        Ok(Client {
            addr,
            trust,
            sessions: Arc::new(Mutex::new(vec![Pooled {
                session,
                connection,
                report: report.clone(),
            }])),
            attesting: tokio::sync::Semaphore::new(MAX_ATTESTING),
            report: Mutex::new(report),
            observer: None,
        })
    }

    /// Tells `observer` of every later attestation (each new session's,
    /// verified or failed).
    pub fn with_attestation_observer(mut self, observer: AttestationObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The report of the session the most recent request went on (after
    /// [`Client::connect`], of the first session), or of the attestation
    /// that failed last.
    pub fn report(&self) -> Report {
        Report::clone(&self.report.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The enclave's `host:port`.
    pub fn address(&self) -> &str {
        &self.addr
    }

    /// Sends `request` on an idle attested session, attesting a new one if
    /// none is idle. The response body streams from the enclave; reading it
    /// drives the session, which goes back to the pool once the body has
    /// been read to its end ([`SessionBody`]).
    ///
    /// New sessions are attested at most [`MAX_ATTESTING`] at a time; a
    /// request that finds neither an idle session nor a free attestation
    /// slot waits for one. An enclave that answers "busy" (HTTP 429) is
    /// asked again after its `Retry-After`, within [`SESSION_DEADLINE`].
    /// A session that fails attestation is dropped alone: the verified
    /// sessions stay in use.
    pub async fn request(&self, request: &OutgoingRequest) -> Result<Response<SessionBody>, ClientError> {
        let deadline = tokio::time::Instant::now() + SESSION_DEADLINE;
        loop {
            if let Some(mut pooled) = self.take_idle().await {
                let sent = pooled
                    .connection
                    .drive(pooled.session.sender.send_request(request.build()))
                    .await;
                match sent {
                    Ok(r) => return Ok(self.lease(r, pooled)),
                    // The session closed under us (the enclave closes idle
                    // sessions), before any answer: it goes on another.
                    Err(e) if blindfold_driven_http::closed_unanswered(&e) => continue,
                    Err(e) => return Err(ClientError::Http(e.to_string())),
                }
            }
            let Ok(permit) = self.attesting.try_acquire() else {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ClientError::Http(format!(
                        "no attested session was free within {} s",
                        SESSION_DEADLINE.as_secs()
                    )));
                }
                tokio::time::sleep(SESSION_POLL).await;
                continue;
            };
            let attested = blindfold_atls::connect_driven(&self.addr, &self.trust.policy).await;
            drop(permit);
            let (mut session, mut connection) = match attested {
                Ok(s) => s,
                Err(blindfold_atls::Error::Busy { retry_after }) => {
                    if tokio::time::Instant::now() + retry_after >= deadline {
                        return Err(blindfold_atls::Error::Busy { retry_after }.into());
                    }
                    tokio::time::sleep(retry_after).await;
                    continue;
                }
                Err(e) => {
                    let failed = report::failure_report(&self.addr, &e.to_string());
                    if let Some(observe) = &self.observer {
                        observe(&failed);
                    }
                    *self.report.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(failed);
                    return Err(e.into());
                }
            };
            let report = Arc::new(report::verification_report(&self.addr, &session, &self.trust));
            if let Some(observe) = &self.observer {
                observe(&report);
            }
            *self.report.lock().unwrap_or_else(|p| p.into_inner()) = report.clone();
            let sent = connection
                .drive(session.sender.send_request(request.build()))
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?;
            let pooled = Pooled {
                session,
                connection,
                report,
            };
            return Ok(self.lease(sent, pooled));
        }
    }

    /// An idle session that is still open and takes a request, out of the
    /// pool (closed ones are dropped on the way).
    async fn take_idle(&self) -> Option<Pooled> {
        loop {
            let mut pooled = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            let sender = &mut pooled.session.sender;
            if blindfold_driven_http::ready_within(sender, &mut pooled.connection, READY_WAIT).await {
                *self.report.lock().unwrap_or_else(|p| p.into_inner()) = pooled.report.clone();
                return Some(pooled);
            }
        }
    }

    /// `response` with a body that drives `pooled` and gives it back.
    fn lease(&self, response: Response<hyper::body::Incoming>, pooled: Pooled) -> Response<SessionBody> {
        let lease = Lease {
            pooled,
            pool: Arc::downgrade(&self.sessions),
        };
        response.map(|body| SessionBody::new(body, lease))
    }

    /// Sends `method path` with an optional JSON body; a non-2xx answer
    /// becomes [`ClientError::Api`].
    async fn send_json<B: serde::Serialize + ?Sized>(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Response<SessionBody>, ClientError> {
        let body = match body {
            Some(b) => Bytes::from(
                serde_json::to_vec(b).map_err(|e| ClientError::Http(format!("request body: {e}")))?,
            ),
            None => Bytes::new(),
        };
        let request = OutgoingRequest {
            method,
            path: path.to_string(),
            headers: vec![(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            )],
            body,
        };
        let response = self.request(&request).await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = serde_json::from_slice(&read_body(response).await?).unwrap_or(Value::Null);
            return Err(ClientError::Api { status, body });
        }
        Ok(response)
    }

    async fn json<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let response = self.send_json(method, path, body).await?;
        serde_json::from_slice(&read_body(response).await?)
            .map_err(|e| ClientError::Http(format!("answer is not JSON: {e}")))
    }

    /// `GET /v1/models`.
    pub async fn models(&self) -> Result<Value, ClientError> {
        self.json(hyper::Method::GET, "/v1/models", None::<&Value>).await
    }

    /// The enclave's report of what is not measured (engine, uptime):
    /// shown as reported, never as attested.
    pub async fn environment(&self) -> Result<blindfold_protocol::EnvironmentV1, ClientError> {
        self.json(
            hyper::Method::GET,
            blindfold_protocol::wellknown::ENVIRONMENT_PATH,
            None::<&Value>,
        )
        .await
    }

    /// `GET /v1/models`, typed.
    pub async fn model_list(&self) -> Result<openai::ModelList, ClientError> {
        self.json(hyper::Method::GET, "/v1/models", None::<&Value>).await
    }

    /// Streams a chat answer (`stream` is set whatever `request` says).
    pub async fn stream_chat(&self, request: &openai::ChatRequest) -> Result<ChunkStream, ClientError> {
        let request = openai::ChatRequest {
            stream: true,
            ..request.clone()
        };
        let response = self
            .send_json(hyper::Method::POST, "/v1/chat/completions", Some(&request))
            .await?;
        Ok(ChunkStream {
            body: response.into_body(),
            buffer: Vec::new(),
            done: false,
            receipt: None,
        })
    }

    /// `POST /v1/chat/completions` (not streaming).
    pub async fn chat_completion(&self, body: &Value) -> Result<Value, ClientError> {
        self.json(hyper::Method::POST, "/v1/chat/completions", Some(body))
            .await
    }

    /// `POST /v1/completions` (not streaming).
    pub async fn completion(&self, body: &Value) -> Result<Value, ClientError> {
        self.json(hyper::Method::POST, "/v1/completions", Some(body))
            .await
    }

    /// Streams `path` (`/v1/chat/completions` or `/v1/completions`) with
    /// `"stream": true` added: the chunks, until `[DONE]`.
    pub async fn stream(&self, path: &str, body: &Value) -> Result<ChunkStream, ClientError> {
        let mut body = body.clone();
        body["stream"] = Value::Bool(true);
        let response = self.send_json(hyper::Method::POST, path, Some(&body)).await?;
        Ok(ChunkStream {
            body: response.into_body(),
            buffer: Vec::new(),
            done: false,
            receipt: None,
        })
    }
}

/// A request to send to the enclave (kept whole so it can be sent again
/// on a fresh session if the one it was sent on closed).
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// Method.
    pub method: hyper::Method,
    /// Path and query.
    pub path: String,
    /// Headers to pass on (`host` is set by the client).
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// The whole body.
    pub body: Bytes,
}

impl OutgoingRequest {
    fn build(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.path.parse().unwrap_or_else(|_| hyper::Uri::from_static("/"));
        let headers = request.headers_mut();
        for (k, v) in &self.headers {
            headers.append(k.clone(), v.clone());
        }
        headers.insert(
            hyper::header::HOST,
            hyper::header::HeaderValue::from_static(blindfold_protocol::wellknown::SERVER_NAME),
        );
        request
    }
}

/// Server-sent chunks of a streaming answer.
pub struct ChunkStream {
    body: SessionBody,
    buffer: Vec<u8>,
    done: bool,
    receipt: Option<blindfold_protocol::receipt::IssuedReceiptV1>,
}

impl ChunkStream {
    /// The enclave's signed receipt for this answer, once the stream has
    /// reached it (just before `[DONE]`); check it offline with `blindfold
    /// receipt verify` against the enclave's receipt evidence.
    pub fn receipt(&self) -> Option<&blindfold_protocol::receipt::IssuedReceiptV1> {
        self.receipt.as_ref()
    }

    /// The next chunk, or `None` after `[DONE]`.
    pub async fn next(&mut self) -> Option<Result<Value, ClientError>> {
        let data = self.next_data().await?;
        Some(
            data.and_then(|d| {
                serde_json::from_str(&d).map_err(|e| ClientError::Http(format!("bad chunk: {e}")))
            }),
        )
    }

    /// The next chunk, typed, or `None` after `[DONE]`.
    pub async fn next_chunk(&mut self) -> Option<Result<openai::StreamChunk, ClientError>> {
        let data = self.next_data().await?;
        Some(
            data.and_then(|d| {
                serde_json::from_str(&d).map_err(|e| ClientError::Http(format!("bad chunk: {e}")))
            }),
        )
    }

    /// The next event's data, or `None` after `[DONE]`.
    async fn next_data(&mut self) -> Option<Result<String, ClientError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                if let Some(json) = line
                    .trim_end()
                    .strip_prefix(blindfold_protocol::receipt::RECEIPT_COMMENT_PREFIX)
                {
                    self.receipt =
                        blindfold_protocol::receipt::IssuedReceiptV1::from_json(json.as_bytes()).ok();
                    continue;
                }
                let Some(data) = line.trim_end().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    self.done = true;
                    // The end is right behind it: read it now, so that the
                    // session is back in the pool for the caller's next
                    // request (a dropped body would read it in the
                    // background).
                    let rest = async { while let Some(Ok(_)) = self.body.frame().await {} };
                    let _ = tokio::time::timeout(session_body::END_WAIT, rest).await;
                    return None;
                }
                return Some(Ok(data.to_string()));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.buffer.extend_from_slice(data);
                    }
                }
                Some(Err(e)) => return Some(Err(ClientError::Http(e.to_string()))),
                None => {
                    self.done = true;
                    return Some(Err(ClientError::Http("the stream ended without [DONE]".into())));
                }
            }
        }
    }
}

async fn read_body(response: Response<SessionBody>) -> Result<Bytes, ClientError> {
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?
        .to_bytes())
}

/// The text a chunk adds (chat `delta.content` or completion `text`).
pub fn chunk_text(chunk: &Value) -> &str {
    let choice = &chunk["choices"][0];
    choice["delta"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str())
        .unwrap_or("")
}
