//! The whole KMS key release over a recording transport and a stand-in
//! attester: the IMDSv2 token, the role's credentials with it, the
//! attestation document over the enclave's own RSA key, KMS `Decrypt`
//! signed with those credentials and naming that document, and KMS's
//! answer (an envelope OpenSSL made for that key) opened. An answer with a
//! plaintext is refused.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::SystemTime;

use base64::Engine as _;
use blindfold_kms_recipient::*;
use common::*;

struct Recording {
    sent: Vec<HttpRequest>,
    kms_answer: Vec<u8>,
}

impl Transport for Recording {
    fn send(&mut self, request: &HttpRequest) -> Result<Vec<u8>, Error> {
        self.sent.push(request.clone());
        Ok(match (request.method.as_str(), request.path.as_str()) {
            ("PUT", "/latest/api/token") => b"tok-123\n".to_vec(),
            ("GET", p) if p.starts_with("/latest/meta-data/iam/security-credentials/") => {
                br#"{"Code": "Success", "AccessKeyId": "ASIAROLE", "SecretAccessKey": "role-secret", "Token": "role-token", "Expiration": "2026-12-05T18:00:00Z"}"#.to_vec()
            }
            ("POST", "/") => self.kms_answer.clone(),
            other => panic!("unexpected request {other:?}"),
        })
    }
}

/// Answers "doc:" ‖ SPKI, and keeps the SPKI it was asked about.
struct StandInAttester(Vec<u8>);

impl RecipientAttester for StandInAttester {
    fn attestation_document(&mut self, spki: &[u8]) -> Result<Vec<u8>, Error> {
        self.0 = spki.to_vec();
        Ok([b"doc:".as_slice(), spki].concat())
    }
}

#[test]
fn the_release_runs_imds_then_kms_and_opens_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = recipient(d, "enclave");
    let spki = key.public_key_der().unwrap();
    let mut opts = vec!["-stream", "-aes-256-cbc"];
    opts.extend_from_slice(&OAEP_SHA256);
    let envelope = envelope(d, &[0x42; 32], "enclave", &opts);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut transport = Recording {
        sent: Vec::new(),
        kms_answer: serde_json::to_vec(
            &serde_json::json!({ "CiphertextForRecipient": b64.encode(&envelope), "KeyId": "k" }),
        )
        .unwrap(),
    };
    let mut attester = StandInAttester(Vec::new());
    let release = KmsRelease {
        region: "eu-west-1",
        role: "enclave-role",
        key_id: Some("alias/model-key"),
        ciphertext_blob: b"owner-blob",
    };
    let data_key =
        release_data_key_with(key, &mut transport, &mut attester, &release, SystemTime::now()).unwrap();
    assert_eq!(data_key.as_slice(), &[0x42; 32]);

    assert_eq!(attester.0, spki, "the document is over the enclave's own key");
    let [token, creds, kms] = &transport.sent[..] else {
        panic!("{:?}", transport.sent)
    };
    assert_eq!((token.method.as_str(), token.host.as_str()), ("PUT", IMDS_HOST));
    assert!(creds
        .headers
        .contains(&("x-aws-ec2-metadata-token".into(), "tok-123".into())));
    assert_eq!(
        creds.path,
        "/latest/meta-data/iam/security-credentials/enclave-role"
    );
    assert_eq!(kms.host, "kms.eu-west-1.amazonaws.com");
    let header = |name: &str| {
        kms.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-amz-security-token").as_deref(), Some("role-token"));
    assert!(header("authorization").unwrap().contains("Credential=ASIAROLE/"));
    let body: serde_json::Value = serde_json::from_slice(&kms.body).unwrap();
    assert_eq!(
        body["Recipient"]["AttestationDocument"],
        b64.encode([b"doc:".as_slice(), &spki].concat())
    );
    assert_eq!(body["CiphertextBlob"], b64.encode(b"owner-blob"));

    // KMS answering the plaintext (a key policy that lets it out) is refused.
    let mut transport = Recording {
        sent: Vec::new(),
        kms_answer: br#"{"Plaintext": "QkJC", "KeyId": "k"}"#.to_vec(),
    };
    let e = release_data_key(&mut transport, &mut attester, &release, SystemTime::now()).unwrap_err();
    assert!(e.to_string().contains("plaintext itself"), "{e}");
}
