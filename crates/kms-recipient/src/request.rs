//! The enclave's own KMS `Decrypt` call with a `Recipient`, as bytes: the
//! IMDSv2 requests that fetch the instance role's credentials, the KMS
//! request signed with AWS Signature Version 4, and the answer's
//! `CiphertextForRecipient`.
//!
//! No network here: callers send what these build. SigV4 is written here
//! (HMAC-SHA-256 chains, RustCrypto `hmac` + `sha2`) because the crates
//! that offer it pull in the whole AWS SDK runtime; it is checked against
//! AWS's published example signature and against a real S3-compatible
//! server that verifies SigV4 (`tests/sigv4.rs`). Untested against live
//! KMS: nothing here can reach it.

use std::time::SystemTime;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Error;

/// The instance metadata service (IMDSv2).
pub const IMDS_HOST: &str = "169.254.169.254";
/// How long an IMDSv2 session token lives, in seconds (six hours).
pub const IMDS_TOKEN_TTL_S: u32 = 21_600;

/// A request to send: method, path with query, headers (lower-case names)
/// and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `PUT`, `POST`.
    pub method: String,
    /// The host (and the `host` header).
    pub host: String,
    /// Path, without the query.
    pub path: String,
    /// Query parameters, in the order given (signing sorts them).
    pub query: Vec<(String, String)>,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The request as HTTP/1.1 bytes (for a plain connection, or to hand
    /// to a TLS stream).
    pub fn to_http1(&self) -> Vec<u8> {
        let mut target = self.path.clone();
        if !self.query.is_empty() {
            target.push('?');
            target.push_str(&canonical_query(&self.query));
        }
        let mut out = format!("{} {target} HTTP/1.1\r\nhost: {}\r\n", self.method, self.host).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!("content-length: {}\r\nconnection: close\r\n\r\n", self.body.len()).as_bytes(),
        );
        out.extend_from_slice(&self.body);
        out
    }
}

/// Temporary credentials (the instance role's, from IMDS).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`; never printed.
    pub secret_access_key: Zeroizing<String>,
    /// `Token` (the session token), if any.
    #[serde(default)]
    pub token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// `PUT /latest/api/token`: an IMDSv2 session token.
pub fn imds_token_request() -> HttpRequest {
    HttpRequest {
        method: "PUT".into(),
        host: IMDS_HOST.into(),
        path: "/latest/api/token".into(),
        query: Vec::new(),
        headers: vec![(
            "x-aws-ec2-metadata-token-ttl-seconds".into(),
            IMDS_TOKEN_TTL_S.to_string(),
        )],
        body: Vec::new(),
    }
}

/// `GET /latest/meta-data/iam/security-credentials/ROLE` with the session
/// token.
pub fn imds_credentials_request(token: &str, role: &str) -> Result<HttpRequest, Error> {
    if role.is_empty()
        || !role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(Error::Request(format!("{role:?} is not an IAM role name")));
    }
    Ok(HttpRequest {
        method: "GET".into(),
        host: IMDS_HOST.into(),
        path: format!("/latest/meta-data/iam/security-credentials/{role}"),
        query: Vec::new(),
        headers: vec![("x-aws-ec2-metadata-token".into(), token.into())],
        body: Vec::new(),
    })
}

/// The credentials IMDS answered.
pub fn parse_imds_credentials(body: &[u8]) -> Result<Credentials, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Request(format!("not IMDS credentials: {e}")))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptBody<'a> {
    ciphertext_blob: String,
    encryption_algorithm: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    recipient: Recipient,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Recipient {
    attestation_document: String,
    key_encryption_algorithm: &'static str,
}

/// KMS `Decrypt` of `ciphertext_blob` (the owner's data key, encrypted
/// under the owner's KMS key) for a recipient: the NitroTPM attestation
/// document whose `public_key` is the enclave's RSA key. Signed with
/// `credentials` at `at`.
pub fn kms_decrypt_request(
    region: &str,
    key_id: Option<&str>,
    ciphertext_blob: &[u8],
    attestation_document: &[u8],
    credentials: &Credentials,
    at: SystemTime,
) -> Result<HttpRequest, Error> {
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(Error::Request(format!("{region:?} is not an AWS region")));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = serde_json::to_vec(&DecryptBody {
        ciphertext_blob: b64.encode(ciphertext_blob),
        encryption_algorithm: "SYMMETRIC_DEFAULT",
        key_id,
        recipient: Recipient {
            attestation_document: b64.encode(attestation_document),
            key_encryption_algorithm: "RSAES_OAEP_SHA_256",
        },
    })
    .map_err(|e| Error::Request(e.to_string()))?;
    let mut request = HttpRequest {
        method: "POST".into(),
        host: format!("kms.{region}.amazonaws.com"),
        path: "/".into(),
        query: Vec::new(),
        headers: vec![
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), "TrentService.Decrypt".into()),
        ],
        body,
    };
    sign_v4(&mut request, credentials, region, "kms", at);
    Ok(request)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptAnswer {
    ciphertext_for_recipient: Option<String>,
}

/// The `CiphertextForRecipient` of KMS's answer (refused if KMS answered
/// a `Plaintext` instead: a key policy that lets the plaintext out is not
/// one this enclave uses).
pub fn parse_kms_decrypt_answer(body: &[u8]) -> Result<Vec<u8>, Error> {
    if serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("Plaintext").is_some())
    {
        return Err(Error::Request(
            "KMS answered the plaintext itself, not a ciphertext for this enclave".into(),
        ));
    }
    let answer: DecryptAnswer =
        serde_json::from_slice(body).map_err(|e| Error::Request(format!("not a KMS Decrypt answer: {e}")))?;
    let text = answer
        .ciphertext_for_recipient
        .ok_or_else(|| Error::Request("KMS's answer has no CiphertextForRecipient".into()))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Error::Request(format!("CiphertextForRecipient is not base64: {e}")))
}

/// RFC 3986 unreserved characters stay; everything else is %XX.
fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The SigV4 signing key for a day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// `YYYYMMDDTHHMMSSZ`.
fn amz_date(at: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(at).to_string(); // 2015-08-30T12:36:00Z
    text.replace(['-', ':'], "")
}

/// Signs `request` in place (AWS Signature Version 4): adds `x-amz-date`,
/// `x-amz-content-sha256` for S3, the session token if any, and
/// `authorization`. Every header present is signed.
pub fn sign_v4(
    request: &mut HttpRequest,
    credentials: &Credentials,
    region: &str,
    service: &str,
    at: SystemTime,
) {
    let amz_date = amz_date(at);
    let date = amz_date[..8].to_string();
    let payload_hash = hex::encode(Sha256::digest(&request.body));
    request.headers.retain(|(n, _)| n != "authorization");
    request.headers.push(("x-amz-date".into(), amz_date.clone()));
    if service == "s3" {
        request
            .headers
            .push(("x-amz-content-sha256".into(), payload_hash.clone()));
    }
    if let Some(token) = &credentials.token {
        request
            .headers
            .push(("x-amz-security-token".into(), token.to_string()));
    }
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .chain(std::iter::once(("host".to_string(), request.host.clone())))
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = request
        .path
        .split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/");
    let canonical_request = format!(
        "{}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        request.method,
        canonical_query(&request.query)
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(&credentials.secret_access_key, &date, region, service);
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    request.headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        ),
    ));
}
