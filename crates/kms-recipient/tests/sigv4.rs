//! SigV4 as AWS documents it (the published IAM example: signing key and
//! signature), accepted by a real S3-compatible server that checks SigV4
//! (`rclone serve s3`) and refused there under another secret; and the KMS
//! `Decrypt` request with a `Recipient`, field by field.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blindfold_kms_recipient::*;
use blindfold_testdata::s3::{S3Server, ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY};

fn credentials(id: &str, secret: &str, token: Option<&str>) -> Credentials {
    let json = serde_json::json!({ "AccessKeyId": id, "SecretAccessKey": secret, "Token": token });
    parse_imds_credentials(json.to_string().as_bytes()).unwrap()
}

/// 2015-08-30T12:36:00Z, the time of AWS's example.
fn example_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

#[test]
fn the_signature_is_the_one_aws_publishes() {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    assert_eq!(
        hex::encode(signing_key(secret, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
    let mut request = HttpRequest {
        method: "GET".into(),
        host: "iam.amazonaws.com".into(),
        path: "/".into(),
        query: vec![
            ("Action".into(), "ListUsers".into()),
            ("Version".into(), "2010-05-08".into()),
        ],
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: Vec::new(),
    };
    sign_v4(
        &mut request,
        &credentials("AKIDEXAMPLE", secret, None),
        "us-east-1",
        "iam",
        example_time(),
    );
    let auth = &request
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1;
    assert_eq!(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
}

fn send(port: u16, request: &HttpRequest) -> String {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.write_all(&request.to_http1()).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_real_s3_server_accepts_the_signature_and_refuses_another_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let server = S3Server::start(tmp.path());
    let host = format!("127.0.0.1:{}", server.port);
    let list = |secret: &str| {
        let mut request = HttpRequest {
            method: "GET".into(),
            host: host.clone(),
            path: format!("/{BUCKET}"),
            query: vec![
                ("list-type".into(), "2".into()),
                ("prefix".into(), "models/a b".into()),
            ],
            headers: Vec::new(),
            body: Vec::new(),
        };
        sign_v4(
            &mut request,
            &credentials(ACCESS_KEY_ID, secret, None),
            "us-east-1",
            "s3",
            SystemTime::now(),
        );
        send(server.port, &request)
    };
    let ok = list(SECRET_ACCESS_KEY);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("ListBucketResult"), "{ok}");
    let refused = list("another-secret");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("SignatureDoesNotMatch"), "{refused}");
}

#[test]
fn the_kms_decrypt_request_names_the_recipient_and_signs_the_session_token() {
    let creds = credentials("ASIAEXAMPLE", "secret", Some("session-token"));
    let request = kms_decrypt_request(
        "eu-west-1",
        Some("alias/model-key"),
        b"blob",
        b"attestation-doc",
        &creds,
        example_time(),
    )
    .unwrap();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/"));
    assert_eq!(request.host, "kms.eu-west-1.amazonaws.com");
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-amz-target"), Some("TrentService.Decrypt"));
    assert_eq!(header("content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(header("x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(header("x-amz-security-token"), Some("session-token"));
    let auth = header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20150830/eu-west-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="),
        "{auth}"
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "CiphertextBlob": "YmxvYg==",
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "KeyId": "alias/model-key",
            "Recipient": {"AttestationDocument": "YXR0ZXN0YXRpb24tZG9j", "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}
        })
    );
    assert!(kms_decrypt_request("eu west", None, b"", b"", &creds, example_time()).is_err());
    // Credentials never print their secret.
    assert!(!format!("{creds:?}").contains("secret"));

    // The answer: the ciphertext for the recipient, never a plaintext.
    assert_eq!(
        parse_kms_decrypt_answer(br#"{"CiphertextForRecipient": "AQID", "KeyId": "k"}"#).unwrap(),
        [1, 2, 3]
    );
    let e = parse_kms_decrypt_answer(br#"{"Plaintext": "AQID"}"#).unwrap_err();
    assert!(e.to_string().contains("plaintext itself"), "{e}");

    // IMDSv2: a session token first, then the role's credentials with it.
    let token = imds_token_request();
    assert_eq!(
        (token.method.as_str(), token.path.as_str()),
        ("PUT", "/latest/api/token")
    );
    assert!(String::from_utf8(token.to_http1())
        .unwrap()
        .contains("x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"));
    let creds_req = imds_credentials_request("tok", "enclave-role").unwrap();
    assert_eq!(
        creds_req.path,
        "/latest/meta-data/iam/security-credentials/enclave-role"
    );
    assert!(imds_credentials_request("tok", "../x").is_err());
}
