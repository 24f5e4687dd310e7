//! # blindfold-console
//!
//! The web console `blindfold console` serves: one page with four tabs.
//!
//! - **Model owner** (behind the owner's token): seal a model from a file
//!   with live progress, the published models (size, digest, key, policy
//!   version and the build it releases to), delete, rotate the key, a
//!   policy editor that starts from a publisher's *signed build reference*
//!   (never from a live machine) and shows its PCRs and app-disk root
//!   hash, the AWS KMS key policy for that build, and the broker's audit
//!   log.
//! - **Model consumer**: verify an enclave, then chat with streamed
//!   answers; the server refuses to send a prompt while no enclave is
//!   verified (the page disables its button too).
//! - **Attestation**: a new nonce and a new verification; each quoted PCR
//!   beside the reference, the trust basis in words, the AK chain, the
//!   firmware and runtime logs; the report as JSON.
//! - **Environment**: what the evidence attests, and apart from it what
//!   the enclave only reports (uptime, engine), labelled so.
//!
//! Everything goes through the same code as the CLI: the owner's
//! operations are `blindfold_kbs::seal_model` and its neighbours, the
//! consumer's are the `blindfold_client` SDK. The assets are embedded; no
//! Node.js, no build step.
//!
//! Security: it listens on loopback unless told otherwise, and then only
//! over TLS; every request's `Host` must name the console (DNS rebinding)
//! and a browser's `Origin`/`Sec-Fetch-Site` must be its own; every call
//! that changes state carries the page's CSRF token in a header (which a
//! cross-origin page cannot set without a CORS grant this server never
//! gives); a strict Content-Security-Policy; owner calls need the owner's
//! token, checked against its SHA-256 only. Prompts, answers, weights and
//! keys are never logged.
//!
//! What it is **not**: a service of the operator's. It runs in the trust
//! domain of whoever uses it: the owner's pages on the owner's machine,
//! the consumer's on the consumer's.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consumer;
mod guard;
mod owner;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use blindfold_client::TrustFiles;

pub use tls::{load_tls, serve_tls};

/// What the console serves and with what.
#[derive(Debug)]
pub struct ConsoleConfig {
    /// The model owner's side; `None` hides the owner's pages.
    pub owner: Option<OwnerConfig>,
    /// How enclaves are verified (the same files `blindfold verify` takes).
    pub trust: TrustFiles,
    /// The enclave the consumer pages start with.
    pub default_enclave: Option<String>,
    /// Host names (without port) users reach the console by, besides its
    /// listening address (and `localhost` on loopback): the `Host` check
    /// refuses any other.
    pub host_names: Vec<String>,
}

/// The model owner's stores, keys and broker state.
pub struct OwnerConfig {
    /// Where sealed models and wrapped keys live.
    pub stores: blindfold_kbs::OwnerStores,
    /// The key-encryption key (from its file).
    pub kek_text: zeroize::Zeroizing<Vec<u8>>,
    /// The owner's policy-signing key.
    pub owner_key: blindfold_kbs::DsseSigner,
    /// SHA-256 of the owner's token (`blindfold kbs token`).
    pub owner_token_sha256: [u8; 32],
    /// The broker's state directory (its audit log), if on this machine.
    pub kbs_state_dir: Option<PathBuf>,
}

impl std::fmt::Debug for OwnerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerConfig")
            .field("models", &self.stores.models.url())
            .field("keys", &self.stores.keys.url())
            .field("kbs_state_dir", &self.kbs_state_dir)
            .finish_non_exhaustive()
    }
}

/// Shared by every request.
pub(crate) struct Console {
    pub(crate) config: ConsoleConfig,
    pub(crate) guard: guard::Guard,
    pub(crate) owner_jobs: owner::Jobs,
    pub(crate) enclave: consumer::EnclaveSlot,
}

const INDEX_HTML: &str = include_str!("../assets/index.html");
const CONSOLE_JS: &str = include_str!("../assets/console.js");
const CONSOLE_CSS: &str = include_str!("../assets/console.css");

/// The console's routes for a listener at `local` (its `Host` names).
pub fn router(config: ConsoleConfig, local: SocketAddr, tls: bool) -> Result<Router, String> {
    let guard = guard::Guard::new(local, tls, &config.host_names)?;
    let console = Arc::new(Console {
        config,
        guard,
        owner_jobs: owner::Jobs::default(),
        enclave: consumer::EnclaveSlot::default(),
    });
    let app = Router::new()
        .route("/", get(index))
        .route("/console.js", get(|| asset("text/javascript", CONSOLE_JS)))
        .route("/console.css", get(|| asset("text/css", CONSOLE_CSS)))
        .route("/api/enclave", get(consumer::current))
        .route("/api/enclave/verify", post(consumer::verify))
        .route("/api/enclave/environment", get(consumer::environment))
        .route("/api/chat", post(consumer::chat))
        .route("/api/owner/check", get(owner::check))
        .route("/api/owner/models", get(owner::list))
        .route("/api/owner/models/{name}", delete(owner::delete))
        .route("/api/owner/models/{name}/rotate", post(owner::rotate))
        .route("/api/owner/models/{name}/policy", post(owner::set_policy))
        .route("/api/owner/seal", post(owner::seal))
        .route("/api/owner/jobs", get(owner::jobs))
        .route("/api/owner/reference", post(owner::reference))
        .route("/api/owner/kms-policy", post(owner::kms_policy))
        .route("/api/owner/audit", get(owner::audit))
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            guard::check,
        ))
        .with_state(console);
    Ok(app)
}

async fn index(axum::extract::State(console): axum::extract::State<Arc<Console>>) -> Response {
    let page = INDEX_HTML
        .replace("{{csrf}}", console.guard.csrf_token())
        .replace(
            "{{owner}}",
            if console.config.owner.is_some() {
                "on"
            } else {
                "off"
            },
        )
        .replace(
            "{{enclave}}",
            &html_attribute(console.config.default_enclave.as_deref().unwrap_or("")),
        );
    Html(page).into_response()
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `text` safe inside a double-quoted HTML attribute.
fn html_attribute(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => "&quot;".to_string(),
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A refusal or failure: answered as `{"error": MESSAGE}` with `status`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: axum::http::StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// An [`ApiError`].
pub(crate) fn refuse(status: axum::http::StatusCode, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

/// A JSON error answer: `{"error": MESSAGE}` with `status`.
pub(crate) fn json_error(status: axum::http::StatusCode, message: impl Into<String>) -> Response {
    refuse(status, message).into_response()
}
