//! An upstream generation runs in the task that reads it: nothing goes
//! upstream before it is read, its events arrive in order, and dropping it
//! (the client went away) closes the upstream connection at once and stops
//! counting it as running. A connection whose answer ended is kept for the
//! next request, one the server closed is replaced, and a request that
//! went out on a kept connection as the server closed it goes again on a
//! new one.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use blindfold_engine::{Engine, GenerateRequest, GenerationEvent, Prompt, SamplingParams};
use blindfold_engine_upstream::{UpstreamEngine, UpstreamOptions};
use blindfold_testdata::standin::{chunk, read_request};

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
        read_request(&mut BufReader::new(stream.try_clone().unwrap()))
            .unwrap()
            .unwrap();
        seen.send(Seen::Request).unwrap();
        let mut out = stream;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        out.write_all(head.as_bytes()).unwrap();
        for tokens in 0.. {
            let event = format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{tokens} \"}},\"finish_reason\":null}}]}}\n\n"
            );
            if out.write_all(chunk(&event).as_bytes()).is_err() {
                seen.send(Seen::Closed { tokens }).unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (addr, receiver)
}

/// When a [`keep_alive_upstream`] closes a connection.
#[derive(Clone, Copy)]
enum Close {
    /// After its last answer (as a server's keep-alive limit would).
    AfterLastAnswer,
    /// When the next request arrives after its last answer, unanswered: a
    /// request sent just as the server closes (llama.cpp's server closes
    /// every streamed answer's connection just after its last chunk).
    OnTheNextRequest,
}

/// Answers every request with two tokens, chunked, on connections kept
/// open for `requests_per_connection` requests, then closed as `close`
/// says; counts the connections it accepted.
fn keep_alive_upstream(requests_per_connection: usize, close: Close) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                for _ in 0..requests_per_connection {
                    let Ok(Some(_)) = read_request(&mut reader) else {
                        return;
                    };
                    let mut answer =
                        String::from("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                    for event in [
                        r#"data: {"choices":[{"text":"a","finish_reason":null}]}"#,
                        r#"data: {"choices":[{"text":"b","finish_reason":"length"}]}"#,
                        "data: [DONE]",
                    ] {
                        answer.push_str(&chunk(&format!("{event}\n\n")));
                    }
                    answer.push_str("0\r\n\r\n");
                    if out.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
                if let Close::OnTheNextRequest = close {
                    let _ = read_request(&mut reader);
                }
            });
        }
    });
    (addr, accepted)
}

fn engine(address: SocketAddr) -> UpstreamEngine {
    UpstreamEngine::new(UpstreamOptions {
        address,
        upstream_model: "m".into(),
        model_id: "m".into(),
        context_length: 2048,
        response_timeout: Duration::from_secs(10),
    })
    .unwrap()
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
    let engine = engine(address);

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

#[test]
fn a_connection_is_kept_for_the_next_request_and_replaced_once_the_server_closed_it() {
    let runtime = blindfold_testdata::generation::runtime();
    let (address, accepted) = keep_alive_upstream(2, Close::AfterLastAnswer);
    let engine = engine(address);
    let answer = |engine: &UpstreamEngine| {
        let generation = engine.submit(request()).unwrap();
        runtime.block_on(blindfold_testdata::generation::finish(generation))
    };
    for round in 1..=3 {
        let (text, last) = answer(&engine);
        assert_eq!(text, "ab", "round {round}");
        assert!(
            matches!(last, GenerationEvent::Finished { .. }),
            "round {round}: {last:?}"
        );
        if round == 2 {
            // The server closes the connection after its second answer.
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // Rounds 1 and 2 on the first connection, round 3 on a new one.
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn a_request_sent_as_the_server_closes_its_kept_connection_goes_again_on_a_new_one() {
    let runtime = blindfold_testdata::generation::runtime();
    let (address, accepted) = keep_alive_upstream(1, Close::OnTheNextRequest);
    let engine = engine(address);
    for round in 1..=3 {
        let generation = engine.submit(request()).unwrap();
        let (text, last) = runtime.block_on(blindfold_testdata::generation::finish(generation));
        assert_eq!(text, "ab", "round {round}");
        assert!(
            matches!(last, GenerationEvent::Finished { .. }),
            "round {round}: {last:?}"
        );
    }
    // Rounds 2 and 3 first went on the kept connection, which closed.
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}
