//! The OpenAI-shaped error body, `{"error": {"message", "type", "param",
//! "code"}}`: written by the enclave's API and its evidence endpoint and by
//! the verifying proxy, read by the client SDK. One type for all of them.
//!
//! Extension rule: readers ignore fields they do not know (OpenAI's own
//! clients do, and servers add fields); `message` and `type` are always
//! present.

use serde::{Deserialize, Serialize};

/// An error answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The error.
    pub error: ApiErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    /// What went wrong, for people (never a request's content).
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`,
    /// `server_error`, ….
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// A stable machine-readable name, e.g. `attestation_failed`.
    pub code: Option<String>,
}

impl ApiErrorBody {
    /// An error of OpenAI type `kind` with `code`, about `param` if given.
    pub fn new(kind: &str, code: &str, param: Option<&str>, message: impl Into<String>) -> ApiErrorBody {
        ApiErrorBody {
            error: ApiErrorDetail {
                message: message.into(),
                kind: kind.to_string(),
                param: param.map(str::to_string),
                code: Some(code.to_string()),
            },
        }
    }

    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_openai_shape() {
        let e = ApiErrorBody::new("invalid_request_error", "bad_nonce", Some("nonce"), "no nonce");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "nonce");
        assert_eq!(serde_json::from_slice::<ApiErrorBody>(&e.to_json()).unwrap(), e);
        // A server's extra fields do not stop a reader.
        let more = br#"{"error": {"message": "m", "type": "t", "param": null, "code": null, "extra": 1}}"#;
        assert_eq!(
            serde_json::from_slice::<ApiErrorBody>(more)
                .unwrap()
                .error
                .message,
            "m"
        );
    }
}
