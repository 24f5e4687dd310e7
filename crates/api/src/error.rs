//! OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}`
//! with the HTTP status that goes with them. The one place where engine
//! and request errors become responses. Messages never quote the request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use blindfold_engine::EngineError;
use blindfold_protocol::ApiErrorBody;

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OpenAI's `type`.
    pub kind: &'static str,
    /// OpenAI's `code`.
    pub code: &'static str,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// What went wrong (never the request's content).
    pub message: String,
}

impl ApiError {
    /// 400 `invalid_request_error`.
    pub fn invalid(code: &'static str, param: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code,
            param: param.map(str::to_string),
            message: message.into(),
        }
    }

    /// 401: no key or an unknown key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            code: "invalid_api_key",
            param: None,
            message: message.into(),
        }
    }

    /// 429 for a key over one of its limits.
    pub fn rate_limited(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            code,
            param: None,
            message: message.into(),
        }
    }

    /// 404 for a model this server does not serve.
    pub fn unknown_model(asked: &str, served: &str) -> Self {
        let mut asked: String = asked.chars().take(64).collect();
        asked.retain(|c| !c.is_control());
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: "model_not_found",
            param: Some("model".into()),
            message: format!("the model `{asked}` does not exist; this server serves `{served}`"),
        }
    }

    /// 404 for a path that is not part of the API.
    pub fn not_found() -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: "unknown_url",
            param: None,
            message: "unknown path".into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e {
            EngineError::ContextTooLong { .. } => {
                ApiError::invalid("context_length_exceeded", Some("messages"), message)
            }
            EngineError::InvalidParameter { param, .. } => {
                ApiError::invalid("invalid_value", Some(param), message)
            }
            EngineError::Overloaded { .. } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                kind: "server_overloaded",
                code: "queue_full",
                param: None,
                message,
            },
            EngineError::Tokenizer(_) | EngineError::ChatTemplate(_) => {
                ApiError::invalid("invalid_prompt", Some("messages"), message)
            }
            EngineError::Upstream(_) => ApiError {
                status: StatusCode::BAD_GATEWAY,
                kind: "server_error",
                code: "upstream_error",
                param: None,
                message,
            },
            // How it ended, not what it printed (the operator's log has that).
            EngineError::UpstreamExited { how, .. } => ApiError {
                status: StatusCode::BAD_GATEWAY,
                kind: "server_error",
                code: "upstream_error",
                param: None,
                message: format!("upstream engine: the server process {how}"),
            },
            _ => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "server_error",
                code: "internal_error",
                param: None,
                message,
            },
        }
    }
}

impl ApiError {
    /// The JSON body.
    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody::new(self.kind, self.code, self.param.as_deref(), self.message.clone())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// A JSON body error, described without quoting the body: serde's own
/// messages include the offending value, which may be prompt text.
pub fn json_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::invalid(
            "invalid_json",
            None,
            format!("the request body is not valid JSON (at {at})"),
        ),
        Category::Data => {
            let text = e.to_string();
            // "unknown field `x`, expected ..." / "missing field `x`" name a
            // field, not a value; "invalid type: string \"...\"" quotes one.
            let field = text
                .split('`')
                .nth(1)
                .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"))
                .map(|f| f.chars().take(64).filter(|c| !c.is_control()).collect::<String>());
            let what = if text.starts_with("unknown field") {
                "is not a known field".to_string()
            } else if text.starts_with("missing field") {
                "is required".to_string()
            } else {
                // The last ", expected " is serde's; earlier ones could be
                // inside the quoted value.
                let expected = text
                    .rsplit_once(", expected ")
                    .map(|(_, x)| x.split(" at line").next().unwrap_or(x).to_string())
                    .unwrap_or_else(|| "another type".into());
                format!("has the wrong type or value (expected {expected})")
            };
            match field {
                Some(f) => ApiError::invalid("invalid_field", Some(&f), format!("`{f}` {what} ({at})")),
                None => ApiError::invalid("invalid_field", None, format!("a field {what} ({at})")),
            }
        }
    }
}
