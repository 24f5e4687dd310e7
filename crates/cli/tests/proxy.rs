//! `blindfold proxy`, `blindfold chat` and the client SDK against a real
//! local enclave serving the packaged model: the `openai` package through
//! the proxy (its answers carrying signed receipts, which it still parses); a tampered enclave (wrong reference) gets nothing forwarded;
//! foreign Host/Origin refused; references from another key or unsigned
//! refused before anything is sent; a canary prompt stays out of logs and
//! disk; `chat -p` and the SDK answer and refuse a tampered enclave.

#![allow(clippy::unwrap_used, missing_docs)]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::proxy_fixture::*;
use common::*;
use serde_json::{json, Value};

#[test]
fn the_openai_package_works_through_the_proxy() {
    require_tool("swtpm");
    let f = Fixture::start(&[]);
    let p = proxy(&f, &f.trust("good.ref.json", "publisher.pub"), &[]);
    let script = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../api/tests/openai_client.py");
    let out = Command::new(blindfold_testdata::openai_python())
        .arg(script)
        .arg(format!("{}/v1", p.base))
        .arg("smollm2")
        .arg("receipts")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("receipts seen and skipped"),
        "{}",
        text(&out.stdout)
    );
    let (status, report) = http(&p.base, "GET", "/blindfold/verification", &[], "");
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["reference"], "signed");
    assert!(f.api_requests() >= 5, "the enclave saw the requests");
}

/// The proxy's report is the one of the session its requests go on: when
/// the enclave closes an idle session and the proxy attests a new one, the
/// report follows (it used to keep the first session's).
#[test]
fn the_report_follows_a_re_attested_session() {
    require_tool("swtpm");
    let f = Fixture::start_with_idle_timeout(&[], 1);
    let p = proxy(&f, &f.trust("good.ref.json", "publisher.pub"), &[]);
    let session_nonce = |p: &Proxy| {
        let (status, body) = http(&p.base, "POST", "/v1/chat/completions", &[], &chat_body("river"));
        assert_eq!(status, 200, "{body}");
        let (status, report) = http(&p.base, "GET", "/blindfold/verification", &[], "");
        assert_eq!(status, 200);
        let report: Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["verified"], true, "{report}");
        report["binding"]["nonce"].as_str().unwrap().to_string()
    };
    let first = session_nonce(&p);
    // The enclave closes a session idle for its idle timeout (1 s here) or
    // its 10 s header-read timeout, whichever is longer: the next request
    // goes on a new, newly attested session.
    std::thread::sleep(Duration::from_millis(11_500));
    let second = session_nonce(&p);
    assert_ne!(first, second, "the report still shows the closed session");
    // Both attestations were logged, each naming its session.
    let log = p.stderr.lock().unwrap().clone();
    for nonce in [&first, &second] {
        assert!(log.contains(&nonce[..16]), "{nonce} not in:\n{log}");
    }
    assert_eq!(log.matches("blindfold proxy: verified").count(), 2, "{log}");
}

#[test]
fn a_tampered_enclave_gets_nothing_and_foreign_pages_are_refused() {
    require_tool("swtpm");
    let f = Fixture::start(&[]);
    // Required to verify at start, the proxy does not start at all.
    let out = run(blindfold()
        .args([
            "proxy",
            &format!("https://{}", f.addr),
            "--listen",
            "127.0.0.1:0",
            "--require-verified-at-start",
        ])
        .args(f.trust("wrong.ref.json", "publisher.pub")));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("did not verify at start") && err.contains("NOT verified"),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");
    let bad = proxy(&f, &f.trust("wrong.ref.json", "publisher.pub"), &[]);
    let (status, body) = http(
        &bad.base,
        "POST",
        "/v1/chat/completions",
        &[],
        &chat_body("hello"),
    );
    assert_eq!(status, 502, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["type"], "attestation_failed", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("PCR 15"),
        "{body}"
    );
    let (_, report) = http(&bad.base, "GET", "/blindfold/verification", &[], "");
    assert_eq!(serde_json::from_str::<Value>(&report).unwrap()["verified"], false);

    let good = proxy(&f, &f.trust("good.ref.json", "publisher.pub"), &[]);
    let (status, _) = http(
        &good.base,
        "POST",
        "/v1/chat/completions",
        &[("host", "evil.example")],
        &chat_body("hi"),
    );
    assert!((400..500).contains(&status), "{status}");
    let (status, _) = http(
        &good.base,
        "POST",
        "/v1/chat/completions",
        &[("origin", "http://evil.example")],
        &chat_body("hi"),
    );
    assert!((400..500).contains(&status), "{status}");
    // An <img> or link on another site sends no Origin, but the browser
    // says where it comes from: refused before anything is attested.
    for site in ["cross-site", "same-site"] {
        let (status, body) = http(
            &good.base,
            "GET",
            "/blindfold/verification",
            &[("sec-fetch-site", site)],
            "",
        );
        assert_eq!(status, 403, "{site}: {body}");
        assert!(body.contains("origin_not_allowed"), "{body}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        f.api_requests(),
        0,
        "a request reached the enclave: {:?}",
        f.log.lock().unwrap()
    );
    // The same proxy forwards its own origin's requests.
    let origin = good.base.clone();
    let (status, body) = http(
        &good.base,
        "POST",
        "/v1/chat/completions",
        &[("origin", &origin)],
        &chat_body("hi"),
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn bad_references_and_public_addresses_are_refused_before_anything_is_sent() {
    require_tool("swtpm");
    let f = Fixture::start(&[]);
    let upstream = format!("https://{}", f.addr);
    let mut other_key = f.trust("other-key.ref.json", "publisher.pub");
    other_key.splice(0..0, ["proxy".to_string(), upstream.clone()]);
    let out = run(blindfold().args(&other_key));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("refused before any evidence was requested"),
        "{}",
        text(&out.stderr)
    );
    let out = run(blindfold()
        .args(["proxy", &upstream, "--reference"])
        .arg(f.path("good.ref.json")));
    assert_eq!(
        out.status.code(),
        Some(2),
        "unsigned without --reference-unsigned: {}",
        text(&out.stderr)
    );
    let mut public = f.trust("good.ref.json", "publisher.pub");
    public.splice(
        0..0,
        [
            "proxy".to_string(),
            upstream,
            "--listen".into(),
            "0.0.0.0:0".into(),
        ],
    );
    let out = run(blindfold().args(&public));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--listen-public"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(f.api_requests(), 0);
}

#[test]
fn chat_and_the_sdk_answer_a_verified_enclave_and_refuse_a_tampered_one() {
    require_tool("swtpm");
    let f = Fixture::start(&[]);
    let url = format!("https://{}", f.addr);
    let out = run(blindfold()
        .args([
            "chat",
            &url,
            "-p",
            "apple, apple, apple, apple,",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
        ])
        .args(f.trust("good.ref.json", "publisher.pub")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("verified"), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).trim().is_empty());
    // The private way: the prompt on standard input, never in argv.
    let mut child = blindfold()
        .args([
            "chat",
            &url,
            "--prompt-file",
            "-",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
        ])
        .args(f.trust("good.ref.json", "publisher.pub"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"apple, apple, apple, apple,\n").unwrap();
    }
    let piped = child.wait_with_output().unwrap();
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    assert_eq!(
        text(&piped.stdout),
        text(&out.stdout),
        "the same prompt from stdin gets the same greedy answer"
    );
    let out = run(blindfold()
        .args(["chat", &url, "-p", "hi"])
        .args(f.trust("wrong.ref.json", "publisher.pub")));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("attestation failed"),
        "{}",
        text(&out.stderr)
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let files = |reference: &str| blindfold_client::TrustFiles {
        reference: f.path(reference),
        publisher_key: Some(f.path("publisher.pub")),
        platform_ca: Some(f.path("platform/ca.pem")),
        ak_intermediates: None,
        accept: blindfold_attest::AcceptPolicy::development(),
        state_dir: Some(f.path("client-state")),
        ..Default::default()
    };
    rt.block_on(async {
        let trust = blindfold_client::Trust::from_files(&files("good.ref.json")).unwrap();
        let client = blindfold_client::Client::connect(&url, trust).await.unwrap();
        assert!(client.report().verified());
        let answer = client
            .chat_completion(&json!({"model": "smollm2", "max_tokens": 8, "temperature": 0,
                                     "messages": [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]}))
            .await
            .unwrap();
        assert!(answer["choices"][0]["message"]["content"].as_str().unwrap().contains("Paris"), "{answer}");
        let mut stream = client
            .stream("/v1/completions", &json!({"model": "smollm2", "prompt": "river, river, river,", "max_tokens": 4, "temperature": 0}))
            .await
            .unwrap();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(blindfold_client::chunk_text(&chunk.unwrap()));
        }
        assert!(text.contains("river"), "{text}");
        // The signed receipt came just before [DONE].
        let receipt = stream.receipt().expect("the stream's receipt");
        assert_eq!(receipt.receipt.model.as_ref().unwrap().name, "smollm2");
        let trust = blindfold_client::Trust::from_files(&files("wrong.ref.json")).unwrap();
        let err = blindfold_client::Client::connect(&url, trust).await.err().unwrap();
        assert!(matches!(err, blindfold_client::ClientError::Attestation(_)), "{err:?}");
    });
}

#[test]
fn a_canary_through_the_proxy_stays_out_of_logs_and_disk() {
    require_tool("swtpm");
    let root = tempfile::tempdir().unwrap();
    let (home, tmp) = (root.path().join("home"), root.path().join("tmp"));
    std::fs::create_dir(&home).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    let since = SystemTime::now() - Duration::from_secs(1);
    let env: [(&str, &Path); 3] = [
        ("HOME", &home),
        ("TMPDIR", &tmp),
        ("RUST_LOG", Path::new("trace")),
    ];
    let f = Fixture::start(&env);
    let p = proxy(&f, &f.trust("good.ref.json", "publisher.pub"), &env);
    let canary = format!(
        "Zq{:x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let prompt = format!("{canary}, {canary}, {canary}, {canary},");
    let body = json!({"model": "smollm2", "prompt": prompt, "max_tokens": 24, "temperature": 0}).to_string();
    let (status, answer) = http(&p.base, "POST", "/v1/completions", &[], &body);
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.matches(&canary).count() >= 1,
        "the model did not repeat the canary: {answer}"
    );
    let (status, _) = http(&p.base, "POST", "/v1/chat/completions", &[], &chat_body(&canary));
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let enclave_log = f.log.lock().unwrap().join("\n");
    assert!(
        enclave_log.contains("request_id"),
        "the enclave logged nothing at trace"
    );
    assert!(!enclave_log.contains(&canary), "canary in the enclave's log");
    assert!(
        !p.stderr.lock().unwrap().contains(&canary),
        "canary in the proxy's log"
    );
    let mut files = Vec::new();
    for d in [home.as_path(), tmp.as_path(), f.dir.path(), Path::new("/tmp")] {
        files.extend(blindfold_testdata::files_touched_since(d, since));
    }
    if let Some(file) = blindfold_testdata::file_containing(&files, &canary) {
        panic!("canary on disk in {}", file.display());
    }
}
