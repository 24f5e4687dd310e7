//! An upstream generation runs in the task that reads it: nothing goes
//! upstream before it is read, its events arrive in order, and dropping it
//! (the client went away) closes the upstream connection at once and stops
//! counting it as running.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use blindfold_engine::{Engine, GenerateRequest, GenerationEvent, Prompt, SamplingParams};
use blindfold_engine_upstream::{UpstreamEngine, UpstreamOptions};

/// What the one-connection upstream saw.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A request arrived.
    Request,
    /// Writing failed after this many tokens: the peer closed.
    Closed { tokens: u32 },
}

/// Serves one streamed answer, a token every 20 ms for as long as the
/// peer reads, and reports what happened.
fn upstream() -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        reader.read_exact(&mut vec![0; length]).unwrap();
        seen.send(Seen::Request).unwrap();
        let mut out = stream;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        out.write_all(head.as_bytes()).unwrap();
        for tokens in 0.. {
            let event = format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{tokens} \"}},\"finish_reason\":null}}]}}\n\n"
            );
            let chunk = format!("{:x}\r\n{event}\r\n", event.len());
            if out.write_all(chunk.as_bytes()).is_err() {
                seen.send(Seen::Closed { tokens }).unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (addr, receiver)
}

fn request() -> GenerateRequest {
    GenerateRequest {
        request_id: 1,
        prompt: Prompt::Text("hi".into()),
        sampling: SamplingParams::default(),
        max_tokens: None,
        stop: Vec::new(),
        bad_words: Vec::new(),
    }
}

#[test]
fn a_generation_runs_while_read_and_dropping_it_closes_the_upstream_connection() {
    let runtime = blindfold_testdata::generation::runtime();
    let (address, seen) = upstream();
    let engine = UpstreamEngine::new(UpstreamOptions {
        address,
        upstream_model: "m".into(),
        model_id: "m".into(),
        context_length: 2048,
        response_timeout: Duration::from_secs(10),
    })
    .unwrap();

    let mut generation = engine.submit(request()).unwrap();
    assert_eq!(engine.load().running, 1);
    // Submitted, not read: no task of its own has sent anything (the
    // runtime's workers are idle and would have run one).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(seen.try_recv(), Err(mpsc::TryRecvError::Empty));

    let texts = runtime.block_on(async {
        let mut texts = Vec::new();
        while texts.len() < 3 {
            match generation.recv().await {
                Some(GenerationEvent::Text(t)) => texts.push(t),
                other => panic!("expected text, got {other:?}"),
            }
        }
        texts
    });
    assert_eq!(texts, ["t0 ", "t1 ", "t2 "]);
    assert_eq!(seen.recv_timeout(Duration::from_secs(1)), Ok(Seen::Request));

    drop(generation);
    assert_eq!(engine.load().running, 0);
    match seen.recv_timeout(Duration::from_secs(2)) {
        Ok(Seen::Closed { tokens }) => assert!(tokens < 20, "closed only after {tokens} tokens"),
        other => panic!("the upstream connection stayed open: {other:?}"),
    }
}
