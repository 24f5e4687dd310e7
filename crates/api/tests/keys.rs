//! API keys inside the enclave: 401 without a valid key, 429 over a
//! key's token limit, per-key counters of requests and tokens only.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use blindfold_api::{new_api_key, ApiConfig, ApiKeyConfig};
use blindfold_engine_candle::EmbeddedOptions;
use serde_json::json;

const CANARY: &str = "CANARY-7d1e2f";

#[test]
fn keys_authenticate_limit_and_count() {
    let (key, config_entry) = new_api_key("team-a").unwrap();
    let key = key.as_str();
    let config = ApiConfig {
        api_keys: vec![ApiKeyConfig {
            requests_per_minute: Some(100),
            tokens_per_minute: Some(60),
            ..config_entry
        }],
        ..ApiConfig::default()
    };
    let server = common::serve(EmbeddedOptions::default(), config);
    let a = server.addr;
    let body = json!({"model": common::MODEL, "max_tokens": 8, "temperature": 0,
                      "messages": [{"role": "user", "content": format!("say {CANARY}")}]});
    let path = "/v1/chat/completions";
    let (status, answer) = common::post_json(a, path, &[], &body);
    assert_eq!(
        (status, common::openai_error(&answer).as_str()),
        (401, "invalid_api_key")
    );
    let (status, answer) = common::post_json(a, path, &[("authorization", "Bearer sk-wrong")], &body);
    assert_eq!(
        (status, common::openai_error(&answer).as_str()),
        (401, "invalid_api_key")
    );
    let (status, _) = common::raw(a, "GET", "/v1/models", &[], b"");
    assert_eq!(status, 401);
    let auth = format!("Bearer {key}");
    let auth = [("authorization", auth.as_str())];
    // The first request fits; it uses ~50 tokens, the second goes over 60.
    let (status, first) = common::post_json(a, path, &auth, &body);
    assert_eq!(status, 200, "{first}");
    let used = first["usage"]["total_tokens"].as_u64().unwrap();
    let (status, second) = common::post_json(a, path, &auth, &body);
    let rejected = if used >= 60 {
        assert_eq!(
            (status, common::openai_error(&second).as_str()),
            (429, "tokens_limit_exceeded")
        );
        1
    } else {
        assert_eq!(status, 200);
        let (status, third) = common::post_json(a, path, &auth, &body);
        assert_eq!(
            (status, common::openai_error(&third).as_str()),
            (429, "tokens_limit_exceeded")
        );
        1
    };
    let (status, usage) = common::raw(a, "GET", "/v1/usage", &auth, b"");
    assert_eq!(status, 200);
    let usage: serde_json::Value = serde_json::from_slice(&usage).unwrap();
    assert_eq!(usage["key"], "team-a");
    assert!(usage["requests"].as_u64().unwrap() >= 1);
    assert_eq!(usage["rejected"].as_u64().unwrap(), rejected);
    assert!(usage["prompt_tokens"].as_u64().unwrap() >= first["usage"]["prompt_tokens"].as_u64().unwrap());
    assert!(usage["completion_tokens"].as_u64().unwrap() >= 1);
    assert!(
        !usage.to_string().contains(CANARY),
        "usage carries content: {usage}"
    );
    assert_eq!(
        usage.as_object().unwrap().len(),
        5,
        "usage has only counters: {usage}"
    );
}
