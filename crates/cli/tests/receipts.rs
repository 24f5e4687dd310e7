//! Signed receipts end to end: a local enclave serving the packaged model
//! signs every answer (a header on a complete one, a comment before
//! `[DONE]` on a streamed one), both reach the client through `blindfold
//! proxy`, and `blindfold receipt verify` proves, offline, against the
//! receipt evidence and the signed reference, which measured enclave
//! answered which request with which response; and refuses each change
//! with its own error.

#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use blindfold_protocol::receipt::IssuedReceiptV1;
use common::proxy_fixture::*;
use common::*;
use serde_json::json;

/// `curl` to the proxy: writes the body to `out` and returns the headers.
fn curl(base: &str, path: &str, request: Option<&Path>, out: &Path) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail-with-body", "-D", "-", "-o"]).arg(out);
    if let Some(body) = request {
        cmd.args(["-H", "content-type: application/json", "--data-binary"])
            .arg(format!("@{}", body.display()));
    }
    let o = run(cmd.arg(format!("{base}{path}")));
    assert!(o.status.success(), "curl {path}: {}", text(&o.stderr));
    text(&o.stdout)
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

struct Check<'a> {
    f: &'a Fixture,
    evidence: PathBuf,
}

impl Check<'_> {
    fn verify(&self, receipt: &Path, reference: &str, extra: &[&std::ffi::OsStr]) -> Output {
        run(blindfold()
            .args(["receipt", "verify"])
            .arg(receipt)
            .arg(&self.evidence)
            .args(extra)
            .arg("--reference")
            .arg(self.f.path(reference))
            .arg("--publisher-key")
            .arg(self.f.path("publisher.pub"))
            .arg("--platform-ca")
            .arg(self.f.path("platform/ca.pem"))
            .arg("--allow-dev-reference")
            .args(["--require", "affirming"]))
    }
}

#[test]
fn a_receipt_proves_which_measured_enclave_answered_and_refuses_every_change() {
    require_tool("swtpm");
    require_tool("curl");
    let f = Fixture::start(&[]);
    let p = proxy(&f, &f.trust("good.ref.json", "publisher.pub"), &[]);
    let d = f.dir.path();
    let canary = "receipt-canary-a7c19e";

    // The receipt evidence, once per boot, through the attested session.
    let evidence = d.join("receipt-evidence.json");
    curl(
        &p.base,
        "/.well-known/blindfold/receipt-evidence",
        None,
        &evidence,
    );
    let check = Check { f: &f, evidence };

    // A complete answer: the receipt in its header.
    let request = d.join("request.json");
    std::fs::write(
        &request,
        json!({"model": "smollm2", "max_tokens": 6, "temperature": 0,
               "messages": [{"role": "user", "content": format!("Say {canary}")}]})
        .to_string(),
    )
    .unwrap();
    let response = d.join("response.json");
    let headers = curl(&p.base, "/v1/chat/completions", Some(&request), &response);
    let encoded = header(&headers, "blindfold-receipt").expect("a receipt header");
    let receipt = d.join("receipt.b64");
    std::fs::write(&receipt, encoded).unwrap();
    let issued =
        IssuedReceiptV1::from_json(&base64::engine::general_purpose::STANDARD.decode(encoded).unwrap())
            .unwrap();
    assert!(!encoded.contains(canary) && !String::from_utf8_lossy(&issued.to_json()).contains(canary));
    let bodies = |req: &Path, resp: &Path| {
        vec![
            std::ffi::OsString::from("--request"),
            req.as_os_str().to_owned(),
            "--response".into(),
            resp.as_os_str().to_owned(),
        ]
    };
    let ok = check.verify(&receipt, "good.ref.json", &as_refs(&bodies(&request, &response)));
    passed(&ok);
    let out = text(&ok.stdout);
    assert!(out.contains("receipt:      holds"), "{out}");
    assert!(out.contains("counter:      1"), "{out}");
    assert!(out.contains("model:        smollm2"), "{out}");
    assert!(
        out.contains("request:      matches") && out.contains("response:     matches"),
        "{out}"
    );

    // A streamed answer: the receipt is its last comment, over every byte
    // before it.
    let stream_request = d.join("stream-request.json");
    std::fs::write(
        &stream_request,
        json!({"model": "smollm2", "max_tokens": 6, "temperature": 0, "stream": true,
               "messages": [{"role": "user", "content": "Name a river."}]})
        .to_string(),
    )
    .unwrap();
    let streamed = d.join("answer.sse");
    curl(&p.base, "/v1/chat/completions", Some(&stream_request), &streamed);
    let sse = std::fs::read(&streamed).unwrap();
    assert!(
        sse.ends_with(b"data: [DONE]\n\n"),
        "{}",
        String::from_utf8_lossy(&sse)
    );
    let (_, found) = IssuedReceiptV1::find_in_stream(&sse).unwrap();
    assert_eq!(found.unwrap().receipt.counter, 2);
    let ok = check.verify(
        &streamed,
        "good.ref.json",
        &[
            "--request".as_ref(),
            stream_request.as_os_str(),
            "--json".as_ref(),
        ],
    );
    passed(&ok);
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["holds"], true, "{report}");
    assert_eq!(report["response_matches"], true, "{report}");
    // Process mode: a development reference (PCR 15 only), which holds.
    let claims = &report["evidence"]["appraisal"]["claims"];
    assert_eq!(claims["pcr.sha256.15"]["status"], "affirming", "{report}");
    assert_eq!(claims["freshness"]["status"], "affirming", "{report}");

    // Each change is refused with its own error (exit 1).
    let refused = |o: Output, why: &str| {
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert_eq!(o.status.code(), Some(1), "{all}");
        assert!(all.contains(why), "wanted {why:?}: {all}");
    };
    // One byte of the answer changed.
    let mut changed = std::fs::read(&response).unwrap();
    let at = changed.len() / 2;
    changed[at] ^= 0x01;
    let changed_response = d.join("changed-response.json");
    std::fs::write(&changed_response, &changed).unwrap();
    refused(
        check.verify(
            &receipt,
            "good.ref.json",
            &as_refs(&bodies(&request, &changed_response)),
        ),
        "the response is not the one the receipt signs",
    );
    // Another request.
    refused(
        check.verify(
            &receipt,
            "good.ref.json",
            &as_refs(&bodies(&stream_request, &response)),
        ),
        "the request is not the one the receipt signs",
    );
    // The receipt's counter rewritten.
    let mut forged = issued.clone();
    forged.receipt.counter = 99;
    let forged_path = d.join("forged.json");
    std::fs::write(&forged_path, forged.to_json()).unwrap();
    refused(
        check.verify(&forged_path, "good.ref.json", &[]),
        "its signature does not verify under its receipt key",
    );
    // Other evidence than the one it cites: this boot's session evidence.
    let session_evidence = d.join("session-evidence.json");
    curl(
        &p.base,
        &format!("/.well-known/blindfold/evidence?nonce={}", "ab".repeat(32)),
        None,
        &session_evidence,
    );
    let wrong = Check {
        f: &f,
        evidence: session_evidence,
    };
    refused(
        wrong.verify(&receipt, "good.ref.json", &[]),
        "it cites evidence with SHA-256",
    );
    // A key the evidence does not vouch for: a receipt re-signed with
    // another P-256 key (here a publisher key), citing the real evidence.
    let mut foreign = issued.receipt.clone();
    let spki_pem = std::fs::read_to_string(f.path("other.pub")).unwrap();
    foreign.receipt_key = pem_body(&spki_pem);
    foreign.signature = openssl_sign(&f.path("other.key"), &foreign.signed_bytes(), d);
    let foreign_path = d.join("foreign.json");
    std::fs::write(&foreign_path, serde_json::to_vec(&foreign).unwrap()).unwrap();
    refused(
        check.verify(&foreign_path, "good.ref.json", &[]),
        "its evidence does not vouch for its receipt key",
    );
    // The enclave, appraised against another build's reference.
    refused(
        check.verify(&receipt, "wrong.ref.json", &[]),
        "model name differs: expected \"not-this-model\", measured \"smollm2\"",
    );
    // A bare receipt (no salt) cannot open its digests.
    let bare = d.join("bare.json");
    std::fs::write(&bare, serde_json::to_vec(&issued.receipt).unwrap()).unwrap();
    let o = check.verify(&bare, "good.ref.json", &as_refs(&bodies(&request, &response)));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("has no salt"), "{}", text(&o.stderr));
    let o = check.verify(&bare, "good.ref.json", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // Receipts carry digests only: the canary prompt is in no log.
    drop(p);
    for line in f.log.lock().unwrap().iter() {
        assert!(!line.contains(canary), "the enclave logged the prompt: {line}");
    }
}

fn passed(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
}

fn as_refs(v: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    v.iter().map(|s| s.as_os_str()).collect()
}

fn pem_body(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

/// ECDSA P-256 SHA-256 (DER) over `message` with `key` (PKCS#8 PEM), by openssl.
fn openssl_sign(key: &Path, message: &[u8], d: &Path) -> Vec<u8> {
    let (msg, sig) = (d.join("to-sign.bin"), d.join("signature.der"));
    std::fs::write(&msg, message).unwrap();
    let o = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg("-out")
        .arg(&sig)
        .arg(&msg));
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::read(sig).unwrap()
}
