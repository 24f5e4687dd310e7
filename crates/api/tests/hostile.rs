//! Malformed and hostile requests get OpenAI-shaped errors, never a panic,
//! and the server keeps answering afterwards.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use blindfold_api::ApiConfig;
use blindfold_engine_candle::EmbeddedOptions;
use serde_json::json;

#[test]
fn hostile_inputs_get_openai_errors() {
    let server = common::serve(EmbeddedOptions::default(), ApiConfig::default());
    let a = server.addr;
    let chat = "/v1/chat/completions";
    let msg = json!([{"role": "user", "content": "hi"}]);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("invalid JSON", b"{\"model\": ".to_vec(), 400, "invalid_json"),
        ("not an object", b"[1, 2]".to_vec(), 400, "invalid_json"),
        (
            "invalid UTF-8",
            [
                b"{\"model\": \"".as_slice(),
                &[0xff, 0xfe],
                b"\", \"messages\": []}",
            ]
            .concat(),
            400,
            "invalid_json",
        ),
        (
            "negative max_tokens",
            json!({"model": common::MODEL, "messages": msg, "max_tokens": -5})
                .to_string()
                .into_bytes(),
            400,
            "invalid_value",
        ),
        (
            "max_tokens beyond the whole context",
            json!({"model": common::MODEL, "messages": msg, "max_tokens": 100_000_000})
                .to_string()
                .into_bytes(),
            400,
            "context_length_exceeded",
        ),
        (
            "unknown field",
            json!({"model": common::MODEL, "messages": msg, "frobnicate": 1})
                .to_string()
                .into_bytes(),
            400,
            "unknown_field",
        ),
        (
            "wrong type",
            json!({"model": common::MODEL, "messages": "CANARY-in-a-wrong-place"})
                .to_string()
                .into_bytes(),
            400,
            "invalid_field",
        ),
        (
            "missing field",
            json!({"model": common::MODEL}).to_string().into_bytes(),
            400,
            "invalid_field",
        ),
        (
            "unknown model",
            json!({"model": "gpt-4o", "messages": msg})
                .to_string()
                .into_bytes(),
            404,
            "model_not_found",
        ),
        (
            "n > 1",
            json!({"model": common::MODEL, "messages": msg, "n": 2})
                .to_string()
                .into_bytes(),
            400,
            "unsupported_value",
        ),
        (
            "temperature out of range",
            json!({"model": common::MODEL, "messages": msg, "temperature": 9})
                .to_string()
                .into_bytes(),
            400,
            "invalid_value",
        ),
        (
            "empty messages",
            json!({"model": common::MODEL, "messages": []})
                .to_string()
                .into_bytes(),
            400,
            "invalid_value",
        ),
    ];
    for (name, body, status, code) in cases {
        let (got, answer) = common::raw(a, "POST", chat, &[("content-type", "application/json")], &body);
        let answer: serde_json::Value =
            serde_json::from_slice(&answer).unwrap_or_else(|_| panic!("{name}: not JSON"));
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(common::openai_error(&answer), code, "{name}: {answer}");
        assert!(
            !answer.to_string().contains("CANARY"),
            "{name}: the error quotes the request: {answer}"
        );
    }
    // A 10 MB prompt is over the 1 MiB default limit.
    let big =
        json!({"model": common::MODEL, "messages": [{"role": "user", "content": "x".repeat(10 << 20)}]});
    let (status, answer) = common::post_json(a, chat, &[], &big);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(common::openai_error(&answer), "body_too_large");
    // A prompt over the context window (within the body limit).
    let long =
        json!({"model": common::MODEL, "messages": [{"role": "user", "content": "apple, ".repeat(9000)}]});
    let (status, answer) = common::post_json(a, chat, &[], &long);
    assert_eq!(
        (status, common::openai_error(&answer).as_str()),
        (400, "context_length_exceeded"),
        "{answer}"
    );
    // Unknown paths are OpenAI-shaped 404s too; the server is still up.
    let (status, answer) = common::raw(a, "GET", "/v1/nothing-here", &[], b"");
    assert_eq!(status, 404);
    assert_eq!(
        common::openai_error(&serde_json::from_slice(&answer).unwrap()),
        "unknown_url"
    );
    let (status, answer) = common::raw(a, "GET", "/health", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn the_body_limit_is_configurable() {
    let server = common::serve(
        EmbeddedOptions::default(),
        ApiConfig {
            body_limit: 64,
            ..ApiConfig::default()
        },
    );
    let body = json!({"model": common::MODEL, "messages": [{"role": "user", "content": "x".repeat(100)}]});
    let (status, answer) = common::post_json(server.addr, "/v1/chat/completions", &[], &body);
    assert_eq!(
        (status, common::openai_error(&answer).as_str()),
        (413, "body_too_large")
    );
}

#[test]
fn blindllama_triton_clients_keep_working() {
    let server = common::serve(EmbeddedOptions::default(), ApiConfig::default());
    let body = json!({"text_input": "river, river, river, river,", "max_tokens": 8, "bad_words": "", "stop_words": ""});
    let (status, answer) = common::post_json(server.addr, "/v2/models/ensemble/generate", &[], &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model_name"], "ensemble");
    assert!(
        answer["text_output"].as_str().unwrap().contains("river"),
        "{answer}"
    );
    let body = json!({"text_input": "river, river, river, river,", "max_tokens": 8, "bad_words": "", "stop_words": ["river, river"]});
    let (_, answer) = common::post_json(server.addr, "/v2/models/ensemble/generate", &[], &body);
    assert_eq!(answer["text_output"], " ", "{answer}");
    let (status, answer) = common::post_json(
        server.addr,
        "/v2/models/ensemble/generate",
        &[],
        &json!({"text_input": "x", "max_tokens": -1}),
    );
    assert_eq!(
        (status, common::openai_error(&answer).as_str()),
        (400, "invalid_value")
    );
}
