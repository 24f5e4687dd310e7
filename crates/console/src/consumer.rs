//! The consumer's and the auditor's routes: verify an enclave (a new
//! attested session, so a new nonce), chat on verified sessions only, and
//! what the enclave's environment is, attested or only reported. All of it
//! through the client SDK, as `blindfold verify` and `blindfold chat` do.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use blindfold_client::openai::{ChatMessage, ChatRequest};
use blindfold_client::{report, Client, Report, Trust};
use blindfold_protocol::RuntimeEvent;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{json_error, refuse, ApiError, Console};

/// Most tokens one console answer may ask for.
const MAX_TOKENS: u32 = 1024;

/// The enclave the console talks to: verified (a client whose sessions
/// are all attested), or the last failure.
#[derive(Default)]
pub(crate) struct EnclaveSlot {
    current: Mutex<Option<Current>>,
}

struct Current {
    url: String,
    client: Option<Arc<Client>>,
    report: Report,
}

/// `GET /api/enclave`: the enclave chosen and its last report.
pub(crate) async fn current(State(console): State<Arc<Console>>) -> Response {
    let slot = console.enclave.current.lock().await;
    match slot.as_ref() {
        Some(c) => Json(serde_json::json!({ "url": c.url, "report": c.report })).into_response(),
        None => Json(serde_json::Value::Null).into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct VerifyRequest {
    url: String,
}

/// `POST /api/enclave/verify` `{url}`: a new attested session to `url`
/// (a new nonce), appraised under the console's trust files. The answer is
/// the verification report, or why it failed; only a verified enclave is
/// ever sent a prompt.
pub(crate) async fn verify(State(console): State<Arc<Console>>, Json(req): Json<VerifyRequest>) -> Response {
    let url = req.url.trim().to_string();
    if url.is_empty() {
        return json_error(StatusCode::UNPROCESSABLE_ENTITY, "give the enclave's address");
    }
    let mut slot = console.enclave.current.lock().await;
    // Whatever happens, the previous enclave is no longer the one in use.
    *slot = None;
    let trust = match Trust::from_files(&console.config.trust) {
        Ok(t) => t,
        Err(e) => return json_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let mut refused_pcrs = None;
    let current = match Client::connect(&url, trust.clone()).await {
        Ok(client) => Current {
            url,
            report: client.report(),
            client: Some(Arc::new(client)),
        },
        Err(e) => {
            let addr = blindfold_client::address_of(&url);
            if matches!(
                e,
                blindfold_client::ClientError::Attestation(blindfold_atls::Error::Refused(_))
            ) {
                // Refused on what it measured: fetch a verified (not
                // appraised) quote to show each PCR beside the reference.
                if let Ok(v) =
                    blindfold_atls::verified_evidence(&addr, trust.policy.platform_ca.clone()).await
                {
                    refused_pcrs = Some(report::pcr_rows(v.pcrs(), &trust.policy.reference));
                }
            }
            Current {
                report: report::failure_report(&addr, &e.to_string()),
                url,
                client: None,
            }
        }
    };
    let answer = Json(serde_json::json!({
        "url": current.url,
        "report": current.report,
        "refused_pcrs": refused_pcrs,
    }))
    .into_response();
    *slot = Some(current);
    answer
}

async fn verified_client(console: &Console) -> Result<(Arc<Client>, Report), ApiError> {
    let slot = console.enclave.current.lock().await;
    match slot.as_ref() {
        Some(Current {
            client: Some(client), ..
        }) => Ok((client.clone(), client.report())),
        Some(Current { report, .. }) => Err(refuse(
            StatusCode::CONFLICT,
            format!(
                "the enclave is not verified, nothing was sent: {}",
                match report {
                    Report::Failed(f) => f.reason.as_str(),
                    Report::Verified(_) => "no session",
                }
            ),
        )),
        None => Err(refuse(
            StatusCode::CONFLICT,
            "no enclave is verified yet, nothing was sent: verify one first",
        )),
    }
}

/// `GET /api/enclave/environment`: what the evidence attests about the
/// enclave, and apart from it what the enclave only reports.
pub(crate) async fn environment(State(console): State<Arc<Console>>) -> Response {
    let (client, report) = match verified_client(&console).await {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let Report::Verified(verified) = &report else {
        return json_error(StatusCode::CONFLICT, "the enclave is not verified");
    };
    let mut attested = serde_json::Map::new();
    attested.insert("platform".into(), verified.platform.clone().into());
    attested.insert("trust_basis".into(), verified.trust_basis.clone().into());
    for event in &verified.runtime_events {
        match event {
            RuntimeEvent::EnclaveBinary { sha256 } => {
                attested.insert("enclave_binary_sha256".into(), hex::encode(sha256).into());
            }
            RuntimeEvent::AppDisk { root_hash } => {
                attested.insert("app_disk_root_hash".into(), hex::encode(root_hash).into());
            }
            RuntimeEvent::Config { sha256 } => {
                attested.insert("config_sha256".into(), hex::encode(sha256).into());
            }
            RuntimeEvent::Model { name, sha256 } => {
                attested.insert("model".into(), name.clone().into());
                attested.insert("model_sha256".into(), hex::encode(sha256).into());
            }
            _ => {}
        }
    }
    let reported = match client.environment().await {
        Ok(e) => serde_json::to_value(e).unwrap_or_default(),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    Json(serde_json::json!({ "attested": attested, "reported": reported })).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ChatBody {
    messages: Vec<ChatMessage>,
    max_tokens: Option<u32>,
}

/// `POST /api/chat` `{messages, max_tokens}`: the answer streamed as
/// server-sent events (`data: {"text": ...}`, then `data: {"done": true}`
/// or `data: {"error": ...}`), on attested sessions only. Refused with 409
/// while no enclave is verified.
pub(crate) async fn chat(State(console): State<Arc<Console>>, Json(body): Json<ChatBody>) -> Response {
    let (client, _) = match verified_client(&console).await {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let model = match client.model_list().await.map(|l| l.data.into_iter().next()) {
        Ok(Some(m)) => m.id,
        Ok(None) => return json_error(StatusCode::BAD_GATEWAY, "the enclave serves no model"),
        Err(e) => return json_error(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let request = ChatRequest {
        model,
        messages: body.messages,
        max_tokens: Some(body.max_tokens.unwrap_or(128).min(MAX_TOKENS)),
        temperature: Some(0.0),
        stream: true,
        stream_options: None,
    };
    let mut stream = match client.stream_chat(&request).await {
        Ok(s) => s,
        Err(e) => return json_error(StatusCode::BAD_GATEWAY, e.to_string()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(16);
    tokio::spawn(async move {
        let event = |v: serde_json::Value| format!("data: {v}\n\n");
        while let Some(chunk) = stream.next_chunk().await {
            let line = match chunk {
                Ok(c) => match &c.error {
                    Some(e) => event(serde_json::json!({ "error": e.message })),
                    None => event(serde_json::json!({ "text": c.text() })),
                },
                Err(e) => event(serde_json::json!({ "error": e.to_string() })),
            };
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Ok(event(serde_json::json!({ "done": true })))).await;
    });
    let body = Body::from_stream(tokio_stream_from(rx));
    ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// A receiver as a stream of body chunks.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::convert::Infallible>>,
) -> impl futures_util::Stream<Item = Result<String, std::convert::Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
