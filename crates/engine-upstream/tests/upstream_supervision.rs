//! The upstream server process the engine starts is watched: when it ends,
//! while loading or while serving, the error arrives within seconds and
//! says how it ended (exit status or signal), never what it was asked.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use blindfold_engine::{Engine, EngineError, GenerationEvent, UpstreamConfig};
use blindfold_engine_upstream::start;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(port: u16, command: Vec<String>) -> UpstreamConfig {
    UpstreamConfig {
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        upstream_model: "m".into(),
        model_id: "m".into(),
        context_length: 2048,
        command: Some(command),
        weights: None,
    }
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

#[test]
fn a_server_crashing_while_loading_is_reported_at_once_with_its_signal() {
    let rt = common::runtime();
    let started = Instant::now();
    let err = rt
        .block_on(start(&config(
            free_port(),
            sh("echo 'loading the model' >&2; sleep 0.3; kill -SEGV $$"),
        )))
        .err()
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the error took {took:?}");
    match &err {
        EngineError::UpstreamExited {
            how,
            last_lines,
            was_serving,
        } => {
            assert!(how.contains("SIGSEGV"), "{how}");
            assert_eq!(last_lines, &["loading the model".to_string()]);
            assert!(!was_serving);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("killed by signal SIGSEGV") && text.contains("loading the model"),
        "{text}"
    );
}

#[test]
fn a_server_exiting_while_loading_is_reported_with_its_status() {
    let rt = common::runtime();
    let started = Instant::now();
    let err = rt
        .block_on(start(&config(
            free_port(),
            sh("echo 'no such model file' >&2; exit 3"),
        )))
        .err()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        text.contains("exited with status 3") && text.contains("no such model file"),
        "{text}"
    );
}

#[test]
fn only_the_last_lines_of_its_start_up_output_are_kept() {
    let rt = common::runtime();
    let script = "for i in $(seq 1 100); do echo \"line $i\" >&2; done; exit 1";
    let err = rt
        .block_on(start(&config(free_port(), sh(script))))
        .err()
        .unwrap();
    let EngineError::UpstreamExited { last_lines, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        last_lines.len(),
        blindfold_engine_upstream::upstream_process::TAIL_LINES
    );
    assert_eq!(last_lines.last().unwrap(), "line 100");
}

/// A stand-in server: ready at once, and on the first request it writes
/// the request (with its prompt) to its standard error and crashes.
const CRASH_ON_REQUEST: &str = r#"
import http.server, os, signal, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "11")
        self.end_headers()
        self.wfile.write(b'{"data":[]}')
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        sys.stderr.write(body.decode() + "\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSEGV)
print("stand-in starting", file=sys.stderr, flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

#[test]
fn a_server_crashing_while_serving_fails_the_request_at_once_without_its_output() {
    const CANARY: &str = "CANARY-7d1f0c2e-upstream-prompt";
    let rt = common::runtime();
    let port = free_port();
    let argv = vec![
        "python3".into(),
        "-c".into(),
        CRASH_ON_REQUEST.into(),
        port.to_string(),
    ];
    let started = rt.block_on(start(&config(port, argv))).unwrap();
    let mut request = common::greedy(&format!("say {CANARY}"), 4);
    request.request_id = 7;
    let t0 = Instant::now();
    let generation = started.engine.submit(request).unwrap();
    let (_, end) = rt.block_on(common::finish(generation));
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
    let GenerationEvent::Failed(err) = end else {
        panic!("{end:?}")
    };
    match &err {
        EngineError::UpstreamExited {
            how,
            last_lines,
            was_serving,
        } => {
            assert!(how.contains("SIGSEGV"), "{how}");
            assert!(was_serving);
            assert!(last_lines.is_empty(), "{last_lines:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains(CANARY), "{err}");
    // Later requests fail at once with the same error.
    let again = started.engine.submit(common::greedy("again", 4)).err().unwrap();
    assert_eq!(again, err);
}

#[test]
fn stopping_the_handle_kills_the_server() {
    let rt = common::runtime();
    let port = free_port();
    let argv = vec![
        "python3".into(),
        "-c".into(),
        CRASH_ON_REQUEST.into(),
        port.to_string(),
    ];
    let mut started = rt.block_on(start(&config(port, argv))).unwrap();
    let process = started.process.take().unwrap();
    let pid = process.pid().unwrap();
    let exit = rt.block_on(process.stop());
    assert!(exit.how.contains("SIGKILL"), "{}", exit.how);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}
