//! The web console in headless Chromium (Debian's chromium and
//! chromedriver, driven over WebDriver): from an empty store the owner
//! seals the packaged model and sets its policy around the publisher's
//! signed build; the enclave of that build gets the key from the broker;
//! the consumer verifies it and gets a streamed answer; the auditor sees
//! each PCR against the reference and the environment; a tampered enclave
//! is refused with the failing PCR shown and the chat refuses too; a
//! cross-origin POST, a missing CSRF token and a foreign Host are
//! refused. A screenshot of each tab is saved (`BLINDFOLD_SCREENSHOTS`,
//! else the test's temporary directory): the README shows them.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blindfold_enclave_config::EnclaveConfig;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Starts `cmd` and returns it with the first stderr line containing
/// `marker`; the rest of its stderr is kept in `log`.
fn start_logged(cmd: &mut Command, marker: &str, log: Arc<Mutex<String>>) -> (KillOnDrop, String) {
    let mut child = KillOnDrop(cmd.stderr(Stdio::piped()).spawn().unwrap());
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains(marker) {
            std::thread::spawn(move || {
                for l in lines.map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&l);
                    log.push('\n');
                }
            });
            return (child, line);
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    panic!("{cmd:?} ended before saying {marker:?}: {seen}");
}

fn start_until(cmd: &mut Command, marker: &str) -> (KillOnDrop, String) {
    start_logged(cmd, marker, Arc::default())
}

fn after<'a>(line: &'a str, prefix: &str) -> &'a str {
    line.split(prefix)
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
}

fn platform(dir: &Path) -> (String, StopPlatformOnDrop) {
    ok(blindfold().args(["platform", "init"]).arg(dir));
    let tcti = ok(blindfold().args(["platform", "start"]).arg(dir))
        .trim()
        .to_string();
    (tcti, StopPlatformOnDrop(dir.to_path_buf()))
}

fn start_enclave(d: &Path, config: &Path, tcti: &str, name: &str) -> (String, KillOnDrop) {
    let launch = blindfold_enclave_config::LaunchConfig {
        tcti: tcti.into(),
        listen: "127.0.0.1:0".into(),
    };
    let path = d.join(name);
    std::fs::write(&path, launch.to_bytes().unwrap()).unwrap();
    let enclave = Path::new(env!("CARGO_BIN_EXE_blindfold")).with_file_name("blindfold-enclave");
    assert!(enclave.exists(), "cargo build -p blindfold-runtime first");
    let (child, line) = start_until(
        Command::new(enclave)
            .arg("--config")
            .arg(config)
            .arg("--launch")
            .arg(&path),
        "listening on ",
    );
    (after(&line, "listening on ").to_string(), child)
}

async fn wait_text(browser: &Client, css: &str, needle: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let seen = match browser.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if seen.contains(needle) {
            return seen;
        }
        assert!(
            start.elapsed() < limit,
            "{css} never showed {needle:?} within {limit:?}; it shows {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn type_into(browser: &Client, css: &str, value: &str) {
    let e = browser.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn is_disabled(browser: &Client, css: &str) -> bool {
    let e = browser.find(Locator::Css(css)).await.unwrap();
    e.prop("disabled").await.unwrap().as_deref() == Some("true")
}

fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("BLINDFOLD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// One raw HTTP/1.1 request to the console; the status code.
fn raw_status(addr: &str, request: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// In the prompt: it must appear in no log.
const CANARY: &str = "canary-7f3a9c";

#[test]
fn the_console_seals_approves_verifies_and_chats_and_refuses_a_tampered_enclave() {
    for tool in ["swtpm", "mkfs.erofs", "chromium", "chromedriver"] {
        require_tool(tool);
    }
    let model = blindfold_testdata::packaged_model();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let store = format!("file://{}", d.join("store").display());

    // The owner's and the publisher's keys, the KEK, the owner's token.
    for key in ["owner", "publisher", "broker-tls"] {
        ok(blindfold().args(["keygen", "-o"]).arg(d.join(key)));
    }
    ok(blindfold().args(["kbs", "kek", "-o"]).arg(d.join("kek.hex")));
    ok(blindfold()
        .args(["kbs", "token", "-o"])
        .arg(d.join("owner-token")));
    let token = std::fs::read_to_string(d.join("owner-token"))
        .unwrap()
        .trim()
        .to_string();

    // The broker, on the owner's machine.
    let (tcti, _plat) = platform(&d.join("plat"));
    let (_broker, broker_url, broker_spki) = start_broker(blindfold(), d, &store, &d.join("plat/ca.pem"));

    // The console: the owner's stores, and the consumer's trust (the
    // publisher's signed build, which exists only later).
    let console_log = Arc::new(Mutex::new(String::new()));
    let (_console, line) = start_logged(
        blindfold()
            .args([
                "console",
                "--listen",
                "127.0.0.1:0",
                "--store",
                &store,
                "--kek-file",
            ])
            .arg(d.join("kek.hex"))
            .arg("--owner-key")
            .arg(d.join("owner.key"))
            .arg("--owner-token-sha256-file")
            .arg(d.join("owner-token.sha256"))
            .arg("--kbs-state-dir")
            .arg(d.join("kbs"))
            .arg("--reference")
            .arg(d.join("measurements.json"))
            .arg("--publisher-key")
            .arg(d.join("publisher.pub"))
            .arg("--platform-ca")
            .arg(d.join("plat/ca.pem"))
            .args(["--allow-dev", "--allow-dev-reference", "--state-dir"])
            .arg(d.join("client-state")),
        "blindfold console: ",
        console_log.clone(),
    );
    let console_url = after(&line, "blindfold console: ").to_string();
    let console_addr = console_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    let driver_port = free_port();
    let _driver = KillOnDrop(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let profile = d.join("chromium-profile");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1280,1100", format!("--user-data-dir={}", profile.display())],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let start = Instant::now();
        let browser = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{driver_port}"))
                .await
            {
                Ok(b) => break b,
                Err(e) if start.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(300)).await
                }
                Err(e) => panic!("chromedriver: {e}"),
            }
        };
        browser.goto(&console_url).await.unwrap();
        let minute = Duration::from_secs(60);

        // The owner unlocks the owner's pages; a wrong token is refused.
        click(&browser, "#tab-owner").await;
        type_into(&browser, "#owner-token", "bfo_wrong").await;
        click(&browser, "#owner-unlock").await;
        wait_text(&browser, "#owner-status", "the owner's token is missing or wrong", minute).await;
        type_into(&browser, "#owner-token", &token).await;
        click(&browser, "#owner-unlock").await;
        wait_text(&browser, "#owner-status", "unlocked", minute).await;

        // Seal from the empty store, with progress, then the list.
        type_into(&browser, "#seal-path", model.to_str().unwrap()).await;
        type_into(&browser, "#seal-name", "smollm2").await;
        click(&browser, "#seal-go").await;
        wait_text(&browser, "#seal-message", "sealed smollm2", Duration::from_secs(120)).await;
        wait_text(&browser, "#models", "smollm2", minute).await;

        // The publisher's build of an enclave serving that sealed model.
        std::fs::create_dir(d.join("app")).unwrap();
        std::fs::write(d.join("app/README"), "the model is sealed in the owner's store").unwrap();
        ok(blindfold().args(["disk", "build"]).arg(d.join("app")).arg("-o").arg(d.join("app.img")));
        ok(blindfold()
            .args(["enclave-config", "--app-disk"])
            .arg(d.join("app.img.json"))
            .args(["--sealed-model", "smollm2", "--store", &store, "--broker", &broker_url])
            .args(["--broker-spki-sha256", &broker_spki, "-o"])
            .arg(d.join("enclave.json")));
        ok(blindfold()
            .args(["measure", "--app-disk"])
            .arg(d.join("app.img.json"))
            .arg("--enclave-config")
            .arg(d.join("enclave.json"))
            .arg("--sign")
            .arg(d.join("publisher.key"))
            .arg("-o")
            .arg(d.join("measurements.json")));

        // The owner's policy, from that signed build (not a live machine).
        type_into(&browser, "#policy-model", "smollm2").await;
        type_into(&browser, "#policy-reference", d.join("measurements.json").to_str().unwrap()).await;
        type_into(&browser, "#policy-publisher", d.join("publisher.pub").to_str().unwrap()).await;
        click(&browser, "#policy-preview").await;
        wait_text(&browser, "#policy-pcrs", "sha256", minute).await;
        wait_text(&browser, "#policy-root-hash", "app-disk root hash", minute).await;
        click(&browser, "#policy-allow-dev").await;
        click(&browser, "#policy-save").await;
        wait_text(&browser, "#policy-message", "policy v1 for smollm2", minute).await;
        wait_text(&browser, "#models", "v1 until", minute).await;

        // The enclave of that build: the broker releases the key to it.
        let (addr, enclave) = start_enclave(d, &d.join("enclave.json"), &tcti, "launch.json");

        // The consumer: verify, then a streamed answer.
        click(&browser, "#tab-consumer").await;
        assert!(is_disabled(&browser, "#chat-send").await, "no sending before verification");
        type_into(&browser, "#enclave-url", &format!("https://{addr}")).await;
        click(&browser, "#enclave-verify").await;
        wait_text(&browser, "#enclave-state", "verified: ", minute).await;
        assert!(!is_disabled(&browser, "#chat-send").await);
        type_into(&browser, "#chat-input", &format!("Say hi in three words. {CANARY}")).await;
        click(&browser, "#chat-send").await;
        wait_text(&browser, "#chat-log", CANARY, minute).await;
        let start = Instant::now();
        let answer = loop {
            if let Ok(done) = browser.find(Locator::Css(".msg.assistant.done")).await {
                break done.text().await.unwrap();
            }
            assert!(start.elapsed() < Duration::from_secs(120), "no finished answer");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(!answer.trim().is_empty(), "a streamed answer");
        screenshot(&browser, "consumer").await;

        // The auditor: each PCR against the reference, the chain, the logs.
        click(&browser, "#tab-attestation").await;
        let pcrs = wait_text(&browser, "#attest-pcrs", "matches", minute).await;
        assert!(pcrs.contains("15") && !pcrs.contains("differs"), "{pcrs}");
        wait_text(&browser, "#attest-summary", "trust basis — development", minute).await;
        wait_text(&browser, "#attest-chain", "issuer:", minute).await;
        wait_text(&browser, "#attest-runtime", "model", minute).await;
        screenshot(&browser, "attestation").await;

        click(&browser, "#tab-environment").await;
        click(&browser, "#env-refresh").await;
        wait_text(&browser, "#env-attested", "model_sha256", minute).await;
        wait_text(&browser, "#env-reported", "uptime_seconds", minute).await;
        screenshot(&browser, "environment").await;

        // The broker's audit log shows the release.
        click(&browser, "#tab-owner").await;
        click(&browser, "#audit-refresh").await;
        wait_text(&browser, "#audit", "released", minute).await;
        screenshot(&browser, "owner").await;
        // The KMS key policy needs the boot PCRs (4, 12) of a measured
        // image; this process-mode build has only PCR 15: said so.
        type_into(&browser, "#kms-role", "arn:aws:iam::111122223333:role/enclave").await;
        type_into(&browser, "#kms-account", "444455556666").await;
        click(&browser, "#kms-export").await;
        wait_text(&browser, "#kms-output", "the measurements have no PCR4", minute).await;

        // A tampered enclave (another configuration: the model in the
        // clear, no broker) on the same platform, restarted: refused, the
        // failing PCR named, and the chat refused by the server too.
        drop(enclave);
        let mut config = EnclaveConfig::parse(&std::fs::read(d.join("enclave.json")).unwrap()).unwrap();
        config.sealed_model = None;
        config.engine = Some(embedded(model.clone(), "smollm2"));
        std::fs::write(d.join("tampered.json"), config.to_bytes().unwrap()).unwrap();
        ok(blindfold().args(["platform", "stop"]).arg(d.join("plat")));
        let tcti2 = ok(blindfold().args(["platform", "start"]).arg(d.join("plat"))).trim().to_string();
        let (addr2, _tampered) = start_enclave(d, &d.join("tampered.json"), &tcti2, "launch2.json");
        click(&browser, "#tab-consumer").await;
        type_into(&browser, "#enclave-url", &format!("https://{addr2}")).await;
        click(&browser, "#enclave-verify").await;
        let state = wait_text(&browser, "#enclave-state", "NOT verified", minute).await;
        assert!(state.contains("PCR 15"), "{state}");
        assert!(is_disabled(&browser, "#chat-send").await);
        let refused = browser
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 const csrf = document.querySelector('meta[name=\"blindfold-csrf\"]').content;
                 fetch('/api/chat', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Blindfold-Csrf': csrf},
                   body: JSON.stringify({messages: [{role: 'user', content: 'hello'}]})})
                 .then(async r => done([r.status, await r.text()]));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(refused[0], 409, "{refused}");
        assert!(refused[1].as_str().unwrap().contains("not verified, nothing was sent"), "{refused}");
        click(&browser, "#tab-attestation").await;
        wait_text(&browser, "#attest-summary", "NOT verified", minute).await;
        // The quoted PCR 15 beside the reference, marked as differing.
        let differing = browser.find(Locator::Css("#attest-pcrs tr.differs")).await.unwrap();
        let differing = differing.text().await.unwrap();
        assert!(differing.starts_with("15 sha256") && differing.contains("differs"), "{differing}");
        screenshot(&browser, "tampered").await;

        // Rotation re-seals under a new key; the policy then names the old
        // one, which the list says. Deletion asks first.
        click(&browser, "#tab-owner").await;
        click(&browser, "#models tbody tr button").await;
        wait_text(&browser, "#seal-message", "rotated smollm2", Duration::from_secs(120)).await;
        wait_text(&browser, "#models", "names an old key", minute).await;
        click(&browser, "#models tbody tr button.danger").await;
        browser.accept_alert().await.unwrap();
        let start = Instant::now();
        while browser.find(Locator::Css("#models tbody tr")).await.is_ok() {
            assert!(start.elapsed() < minute, "the model was not deleted");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(!d.join("store/models/smollm2/manifest.json").exists());
        browser.close().await.unwrap();
    });

    // Cross-origin and CSRF-less calls, and a foreign Host, are refused
    // before any handler runs.
    let page = {
        let mut s = std::net::TcpStream::connect(&console_addr).unwrap();
        write!(
            s,
            "GET / HTTP/1.1\r\nHost: {console_addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        page
    };
    assert!(
        page.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    let csrf = page.split("name=\"blindfold-csrf\" content=\"").nth(1).unwrap()[..64].to_string();
    let body = r#"{"url":"https://127.0.0.1:1"}"#;
    let post = |extra: &str| {
        format!(
            "POST /api/enclave/verify HTTP/1.1\r\nHost: {console_addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    let from_elsewhere = format!("Origin: http://evil.example\r\nX-Blindfold-Csrf: {csrf}\r\n");
    assert_eq!(raw_status(&console_addr, &post(&from_elsewhere)), 403);
    assert_eq!(raw_status(&console_addr, &post("")), 403, "no CSRF token");
    let other_host = format!(
        "GET /api/enclave HTTP/1.1\r\nHost: rebound.example:{}\r\nConnection: close\r\n\r\n",
        console_addr.rsplit(':').next().unwrap()
    );
    assert_eq!(raw_status(&console_addr, &other_host), 421);
    // The owner's routes without the token.
    let owner =
        format!("GET /api/owner/models HTTP/1.1\r\nHost: {console_addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&console_addr, &owner), 401);
    // The same-origin call with the token passes the checks (and then
    // fails to reach a closed port, which the report says).
    let same = format!("Origin: {console_url}\r\nX-Blindfold-Csrf: {csrf}\r\n");
    let same = same.replace(&format!("{console_addr}/"), &console_addr);
    assert_eq!(raw_status(&console_addr, &post(&same)), 200);

    // The prompt is in no log of the console's.
    let log = console_log.lock().unwrap().clone();
    assert!(!log.contains(CANARY), "{log}");
}

#[test]
fn the_console_listens_beyond_loopback_only_over_tls() {
    require_tool("openssl");
    require_tool("curl");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(blindfold().args(["keygen", "-o"]).arg(d.join("publisher")));
    let trust = ["--reference", "measurements.json", "--publisher-key"];
    let plain = run(blindfold()
        .current_dir(d)
        .args(["console", "--listen", "0.0.0.0:0"])
        .args(trust)
        .arg(d.join("publisher.pub")));
    assert_eq!(plain.status.code(), Some(2), "{}", text(&plain.stderr));
    assert!(
        text(&plain.stderr).contains("0.0.0.0:0 is not a loopback address"),
        "{}",
        text(&plain.stderr)
    );
    let no_tls = run(blindfold()
        .current_dir(d)
        .args(["console", "--listen", "0.0.0.0:0", "--listen-public"])
        .args(trust)
        .arg(d.join("publisher.pub")));
    assert!(!no_tls.status.success());
    assert!(
        text(&no_tls.stderr).contains("--tls-cert"),
        "{}",
        text(&no_tls.stderr)
    );

    let cert = run(Command::new("openssl")
        .current_dir(d)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-keyout",
            "console.key",
            "-out",
            "console.pem",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ]));
    assert!(cert.status.success(), "{}", text(&cert.stderr));
    let port = free_port();
    let (_console, line) = start_until(
        blindfold()
            .current_dir(d)
            .args([
                "console",
                "--listen",
                &format!("0.0.0.0:{port}"),
                "--listen-public",
            ])
            .args([
                "--tls-cert",
                "console.pem",
                "--tls-key",
                "console.key",
                "--host-name",
                "localhost",
            ])
            .args(trust)
            .arg(d.join("publisher.pub")),
        "blindfold console: ",
    );
    assert!(line.contains(&format!("https://0.0.0.0:{port}/")), "{line}");
    let page = run(Command::new("curl")
        .args(["-sk", "--fail"])
        .arg(format!("https://localhost:{port}/")));
    assert!(page.status.success(), "{}", text(&page.stderr));
    assert!(text(&page.stdout).contains("Blindfold console"));
    // Plain HTTP to the TLS port gets no page.
    let plain = run(Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("http://localhost:{port}/")));
    assert!(!text(&plain.stdout).contains("Blindfold console"));
    // A name it was not given is refused (DNS rebinding).
    let other = run(Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("Host: rebound.example:{port}"),
        ])
        .arg(format!("https://localhost:{port}/")));
    assert_eq!(text(&other.stdout), "421");
}
