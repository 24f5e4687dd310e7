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
