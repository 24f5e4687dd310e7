//! Server-sent events end with `data: [DONE]`; a client that disconnects
//! mid-stream frees its slot in the batch.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use blindfold_api::ApiConfig;
use blindfold_engine_candle::EmbeddedOptions;
use serde_json::json;

fn start_stream(addr: std::net::SocketAddr, max_tokens: u32) -> BufReader<std::net::TcpStream> {
    let body = json!({"model": common::MODEL, "prompt": "apple, apple, apple, apple,", "temperature": 0,
                      "max_tokens": max_tokens, "stream": true})
    .to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    BufReader::new(s)
}

fn data_lines(reader: &mut BufReader<std::net::TcpStream>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < n {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(d) = line.trim_end().strip_prefix("data: ") {
            out.push(d.to_string());
        }
    }
    out
}

#[test]
fn a_stream_ends_with_done_and_a_dropped_client_frees_its_slot() {
    let server = common::serve(
        EmbeddedOptions {
            max_batch: 1,
            ..EmbeddedOptions::default()
        },
        ApiConfig::default(),
    );
    let mut reader = start_stream(server.addr, 3);
    let lines = data_lines(&mut reader, 5);
    assert_eq!(lines.last().map(String::as_str), Some("[DONE]"), "{lines:?}");
    let last: serde_json::Value = serde_json::from_str(&lines[lines.len() - 2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");

    // A long stream, read a little, then the client hangs up.
    let mut reader = start_stream(server.addr, 4000);
    assert_eq!(data_lines(&mut reader, 2).len(), 2);
    assert_eq!(server.engine.load().running, 1);
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.engine.load().running != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.engine.load().running,
        0,
        "the dropped stream still holds its slot"
    );
    // The only slot serves the next request.
    let (status, answer) = common::post_json(
        server.addr,
        "/v1/completions",
        &[],
        &json!({"model": common::MODEL, "prompt": "river, river,", "max_tokens": 3, "temperature": 0}),
    );
    assert_eq!(status, 200, "{answer}");
}

/// An engine whose whole answer is waiting before the stream starts.
struct Burst {
    info: blindfold_engine::ModelInfo,
    tokens: usize,
}

impl blindfold_engine::Engine for Burst {
    fn model(&self) -> &blindfold_engine::ModelInfo {
        &self.info
    }

    fn submit(
        &self,
        _request: blindfold_engine::GenerateRequest,
    ) -> Result<blindfold_engine::Generation, blindfold_engine::EngineError> {
        use blindfold_engine::{FinishReason, GenerationEvent, Usage};
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..self.tokens {
            events.send(GenerationEvent::Text(format!("w{i} "))).unwrap();
        }
        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: self.tokens,
        };
        events
            .send(GenerationEvent::Finished {
                reason: FinishReason::Length,
                usage,
            })
            .unwrap();
        Ok(blindfold_engine::Generation::new(Some(3), receiver))
    }

    fn load(&self) -> blindfold_engine::EngineLoad {
        blindfold_engine::EngineLoad::default()
    }
}

/// The HTTP chunks of a chunked body, as sent.
fn chunks(mut body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.push(body[..size].to_vec());
        body = &body[size + 2..];
    }
}

#[test]
fn events_already_waiting_go_out_in_one_write() {
    let tokens = 200;
    let engine = Burst {
        info: blindfold_engine::ModelInfo {
            id: "burst".into(),
            context_length: 4096,
            created: 0,
        },
        tokens,
    };
    let server = common::serve_engine(std::sync::Arc::new(engine), ApiConfig::default());
    let body = json!({"model": "burst", "messages": [{"role": "user", "content": "hi"}],
                      "max_tokens": tokens, "stream": true, "stream_options": {"include_usage": true}})
    .to_string();
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut response = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut response).unwrap();
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..head_end]).to_lowercase();
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let sent = chunks(&response[head_end + 4..]);
    // Every event is there, in order: the role, 200 tokens, the finish,
    // the usage and [DONE].
    let all: Vec<u8> = sent.concat();
    let events: Vec<&str> = std::str::from_utf8(&all)
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .collect();
    assert_eq!(events.len(), tokens + 4, "{events:?}");
    for (i, event) in events[1..=tokens].iter().enumerate() {
        let chunk: serde_json::Value = serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(chunk["choices"][0]["delta"]["content"], format!("w{i} "));
    }
    let usage: serde_json::Value =
        serde_json::from_str(events[tokens + 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], tokens);
    assert_eq!(events[tokens + 3], "data: [DONE]");
    // ...in a few writes, not one per token (16 KiB at most each).
    assert!(
        sent.len() <= 4,
        "{} chunks for {} events",
        sent.len(),
        events.len()
    );
}
