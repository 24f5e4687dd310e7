//! The upstream engine: forwards each request to an OpenAI-compatible
//! server on loopback inside the enclave and streams its answer back.
//!
//! Only loopback addresses are accepted: the prompt must not leave the
//! enclave. A server the enclave starts itself is watched
//! ([`crate::upstream_process`]): if it ends, waiting for it and every
//! request fail at once saying how it ended.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderValue;
use hyper::Request;
use tokio::sync::mpsc;

use crate::connections::{connect, Connections, Sender};
use crate::upstream_process::ProcessWatch;
use blindfold_driven_http::closed_unanswered;
use blindfold_engine::{
    Engine, EngineError, EngineLoad, FinishReason, GenerateRequest, Generation, GenerationEvent, ModelInfo,
    Prompt, Usage,
};

/// How to reach the upstream server.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// Its address; must be a loopback address.
    pub address: SocketAddr,
    /// The model name to send upstream.
    pub upstream_model: String,
    /// The model name our clients see.
    pub model_id: String,
    /// Context window to report.
    pub context_length: usize,
    /// Longest wait for the first byte of an answer.
    pub response_timeout: Duration,
}

/// Forwards to an OpenAI-compatible server; see the module docs.
pub struct UpstreamEngine {
    info: ModelInfo,
    options: UpstreamOptions,
    running: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    process: Option<ProcessWatch>,
    connections: std::sync::Arc<Connections>,
}

impl UpstreamEngine {
    /// An engine forwarding to `options.address`. Its generations run in
    /// the task that reads them (a tokio runtime's).
    pub fn new(options: UpstreamOptions) -> Result<Self, EngineError> {
        if !is_loopback(options.address.ip()) {
            return Err(EngineError::Upstream(format!(
                "{} is not a loopback address: prompts must not leave the enclave",
                options.address
            )));
        }
        Ok(UpstreamEngine {
            info: ModelInfo {
                id: options.model_id.clone(),
                context_length: options.context_length,
                created: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            },
            options,
            running: Default::default(),
            process: None,
            connections: Default::default(),
        })
    }

    /// Watches the server process the enclave started: once it ends,
    /// waiting and requests fail at once saying how.
    pub fn with_process(mut self, process: ProcessWatch) -> Self {
        self.process = Some(process);
        self
    }

    /// Waits until the upstream answers `GET /v1/models` (it may still be
    /// loading its model).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let attempt = async {
                let mut link = connect(self.options.address).await?;
                let req = Request::get("/v1/models")
                    .header("host", "localhost")
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| EngineError::Upstream(e.to_string()))?;
                let resp = link
                    .connection
                    .drive(link.sender.send_request(req))
                    .await
                    .map_err(|e| EngineError::Upstream(e.to_string()))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(EngineError::Upstream(format!("status {}", resp.status())))
                }
            };
            if let Some(exit) = self.process.as_ref().and_then(ProcessWatch::exited) {
                return Err(exit.error());
            }
            match attempt.await {
                Ok(()) => {
                    if let Some(process) = &self.process {
                        process.mark_serving();
                    }
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(EngineError::Upstream(format!("not ready after {timeout:?}: {e}")))
                }
                Err(_) => {
                    let pause = tokio::time::sleep(Duration::from_millis(200));
                    match &self.process {
                        Some(process) => {
                            tokio::select! {
                                exit = process.ended() => return Err(exit.error()),
                                _ = pause => {}
                            }
                        }
                        None => pause.await,
                    }
                }
            }
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// The OpenAI request the upstream server gets (completions or chat).
#[derive(Debug, serde::Serialize)]
struct UpstreamRequest<'a> {
    model: &'a str,
    stream: bool,
    stream_options: StreamOptions,
    temperature: f32,
    top_p: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
    /// vLLM's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    repetition_penalty: Option<f32>,
    /// llama.cpp's name for the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_penalty: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [blindfold_engine::ChatMessage]>,
}

#[derive(Debug, serde::Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The path and OpenAI request body for `request`.
fn upstream_body(request: &GenerateRequest, model: &str) -> Result<(&'static str, Vec<u8>), EngineError> {
    let s = &request.sampling;
    let penalty = (s.repetition_penalty != 1.0).then_some(s.repetition_penalty);
    let (path, prompt, messages) = match &request.prompt {
        Prompt::Text(text) => ("/v1/completions", Some(text.as_str()), None),
        Prompt::Chat(messages) => ("/v1/chat/completions", None, Some(messages.as_slice())),
    };
    let body = UpstreamRequest {
        model,
        stream: true,
        stream_options: StreamOptions { include_usage: true },
        temperature: s.temperature,
        top_p: s.top_p,
        max_tokens: request.max_tokens,
        seed: s.seed,
        top_k: (s.top_k > 0).then_some(s.top_k),
        repetition_penalty: penalty,
        repeat_penalty: penalty,
        stop: &request.stop,
        prompt,
        messages,
    };
    let body =
        serde_json::to_vec(&body).map_err(|e| EngineError::Internal(format!("upstream request: {e}")))?;
    Ok((path, body))
}

impl Engine for UpstreamEngine {
    fn model(&self) -> &ModelInfo {
        &self.info
    }

    fn submit(&self, request: GenerateRequest) -> Result<Generation, EngineError> {
        request.sampling.validate()?;
        if let Some(exit) = self.process.as_ref().and_then(ProcessWatch::exited) {
            return Err(exit.error());
        }
        if !request.bad_words.is_empty() {
            return Err(EngineError::InvalidParameter {
                param: "bad_words",
                reason: "not supported by the upstream engine".into(),
            });
        }
        let (events, receiver) = mpsc::unbounded_channel();
        let (path, body) = upstream_body(&request, &self.options.upstream_model)?;
        let address = self.options.address;
        let timeout = self.options.response_timeout;
        let running = Running::start(self.running.clone());
        let request_id = request.request_id;
        let process = self.process.clone();
        let connections = self.connections.clone();
        // Driven by the task that reads the generation (the API's answer):
        // no task of its own, and a client that goes away drops it, which
        // closes the upstream connection and so cancels upstream.
        let driver = async move {
            let started = std::time::Instant::now();
            let outcome = match forward(&connections, address, path, body, timeout, &events).await {
                // A broken connection: say so if the server process died.
                Err(e) => match &process {
                    Some(p) => match p.ended_within(Duration::from_secs(1)).await {
                        Some(exit) => Err(exit.error()),
                        None => Err(e),
                    },
                    None => Err(e),
                },
                ok => ok,
            };
            drop(running);
            match outcome {
                Ok((reason, usage)) => {
                    tracing::info!(
                        request_id,
                        prompt_tokens = usage.prompt_tokens,
                        completion_tokens = usage.completion_tokens,
                        total_ms = started.elapsed().as_secs_f64() * 1e3,
                        "upstream generation finished"
                    );
                    let _ = events.send(GenerationEvent::Finished { reason, usage });
                }
                Err(e) => {
                    tracing::warn!(request_id, error = %e, "upstream generation failed");
                    let _ = events.send(GenerationEvent::Failed(e));
                }
            }
        };
        Ok(Generation::driven(None, receiver, driver))
    }

    fn load(&self) -> EngineLoad {
        EngineLoad {
            queued: 0,
            running: self.running.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}

/// Counts a generation as running until it ends or is dropped.
struct Running(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Running {
    fn start(count: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Running(count)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn forward(
    connections: &Connections,
    address: SocketAddr,
    path: &'static str,
    body: Vec<u8>,
    timeout: Duration,
    events: &mpsc::UnboundedSender<GenerationEvent>,
) -> Result<(FinishReason, Usage), EngineError> {
    let body = Bytes::from(body);
    let (mut link, reused) = connections.get(address).await?;
    let sent = link
        .connection
        .drive(send(&mut link.sender, path, body.clone(), timeout))
        .await;
    let resp = match sent {
        // A kept connection the server closed before answering: it goes
        // once more on a new one. llama.cpp's server closes every streamed
        // answer's connection just after its last chunk, so a request can
        // go out on a connection that is closing. A generation changes
        // nothing upstream, so sending it again is safe. The time allowed
        // for the answer's head is per attempt.
        Err(Sent::Not(e)) if reused && closed_unanswered(&e) => {
            link = connect(address).await?;
            link.connection
                .drive(send(&mut link.sender, path, body, timeout))
                .await
        }
        other => other,
    }
    .map_err(Sent::into_error)?;
    let (reason, usage, ended) = link.connection.drive(stream_answer(resp, events)).await?;
    if ended {
        connections.put(link);
    }
    Ok((reason, usage))
}

/// Why a request got no answer.
enum Sent {
    /// hyper's error: the request failed (perhaps before it went out).
    Not(hyper::Error),
    /// No answer within the time allowed.
    TimedOut(Duration),
}

impl Sent {
    fn into_error(self) -> EngineError {
        match self {
            Sent::Not(e) => EngineError::Upstream(format!("request failed: {e}")),
            Sent::TimedOut(t) => EngineError::Upstream(format!("no answer within {t:?}")),
        }
    }
}

/// Sends the request; the answer's head.
async fn send(
    sender: &mut Sender,
    path: &'static str,
    body: Bytes,
    timeout: Duration,
) -> Result<hyper::Response<hyper::body::Incoming>, Sent> {
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = hyper::Method::POST;
    *req.uri_mut() = hyper::Uri::from_static(path);
    let headers = req.headers_mut();
    headers.insert(hyper::header::HOST, HeaderValue::from_static("localhost"));
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    tokio::time::timeout(timeout, sender.send_request(req))
        .await
        .map_err(|_| Sent::TimedOut(timeout))?
        .map_err(Sent::Not)
}

/// Turns the streamed answer into events; also says whether the body was
/// read to its end (its connection can take another request).
async fn stream_answer(
    resp: hyper::Response<hyper::body::Incoming>,
    events: &mpsc::UnboundedSender<GenerationEvent>,
) -> Result<(FinishReason, Usage, bool), EngineError> {
    let status = resp.status();
    if !status.is_success() {
        // The body may echo the prompt: report the status only.
        return Err(EngineError::Upstream(format!("answered status {status}")));
    }
    let mut body = resp.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    let mut reason = FinishReason::Stop;
    let mut usage = Usage::default();
    let mut chunks = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| EngineError::Upstream(format!("reading the stream: {e}")))?;
        let Some(data) = frame.data_ref() else { continue };
        buffer.extend_from_slice(data);
        let mut consumed = 0;
        while let Some(end) = buffer[consumed..].iter().position(|b| *b == b'\n') {
            let line = &buffer[consumed..consumed + end];
            consumed += end + 1;
            let line = std::str::from_utf8(line)
                .map_err(|_| EngineError::Upstream("the stream is not UTF-8".into()))?;
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                if usage.completion_tokens == 0 {
                    usage.completion_tokens = chunks;
                }
                let ended = body_ends(&mut body).await;
                return Ok((reason, usage, ended));
            }
            // Only the fields we pass on; the rest of the chunk is skipped
            // unparsed (no `Value` tree).
            let chunk: StreamChunk = serde_json::from_str(data)
                .map_err(|_| EngineError::Upstream("a stream event is not an OpenAI chunk".into()))?;
            if let Some(u) = chunk.usage {
                usage.prompt_tokens = u.prompt_tokens;
                usage.completion_tokens = u.completion_tokens;
            }
            let Some(choice) = chunk.choices.into_iter().next() else {
                continue;
            };
            let text = choice
                .delta
                .and_then(|d| d.content)
                .or(choice.text)
                .unwrap_or_default();
            if !text.is_empty() {
                chunks += 1;
                if events.send(GenerationEvent::Text(text)).is_err() {
                    // Client gone: dropping the connection cancels upstream.
                    return Err(EngineError::Upstream("cancelled: the client went away".into()));
                }
            }
            match choice.finish_reason.as_deref() {
                Some("length") => reason = FinishReason::Length,
                Some(_) => reason = FinishReason::Stop,
                None => {}
            }
        }
        buffer.drain(..consumed);
    }
    Err(EngineError::Upstream("the stream ended without [DONE]".into()))
}

/// Longest wait after `[DONE]` for the body's end (the connection is not
/// kept without it).
const END_WAIT: Duration = Duration::from_millis(100);

/// Whether the body ends, with nothing more, soon after `[DONE]`.
async fn body_ends(body: &mut hyper::body::Incoming) -> bool {
    matches!(tokio::time::timeout(END_WAIT, body.frame()).await, Ok(None))
}

/// An OpenAI streaming chunk (chat or completion), as far as we read it.
/// Text fields are owned: serde fills a `Cow` inside an `Option` owned
/// anyway, and the text goes on as an owned event.
#[derive(serde::Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    #[serde(default)]
    usage: Option<StreamUsage>,
}

#[derive(serde::Deserialize)]
struct StreamChoice {
    #[serde(default)]
    delta: Option<StreamDelta>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(serde::Deserialize)]
struct StreamDelta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(serde::Deserialize)]
struct StreamUsage {
    #[serde(default)]
    prompt_tokens: usize,
    #[serde(default)]
    completion_tokens: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_loopback_upstream_is_refused() {
        let options = UpstreamOptions {
            address: "10.0.0.1:8080".parse().unwrap(),
            upstream_model: "m".into(),
            model_id: "m".into(),
            context_length: 2048,
            response_timeout: Duration::from_secs(5),
        };
        let err = UpstreamEngine::new(options).err().unwrap();
        assert!(err.to_string().contains("not a loopback address"), "{err}");
    }

    #[test]
    fn the_upstream_request_names_only_what_was_asked() {
        let request = GenerateRequest {
            request_id: 1,
            prompt: Prompt::Chat(vec![blindfold_engine::ChatMessage {
                role: blindfold_engine::Role::User,
                content: "hi".into(),
            }]),
            sampling: blindfold_engine::SamplingParams {
                temperature: 0.5,
                repetition_penalty: 1.1,
                ..Default::default()
            },
            max_tokens: Some(7),
            stop: vec![],
            bad_words: vec![],
        };
        let (path, body) = upstream_body(&request, "m").unwrap();
        assert_eq!(path, "/v1/chat/completions");
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains(r#""messages":[{"role":"user","content":"hi"}]"#),
            "{text}"
        );
        assert!(
            text.contains(r#""max_tokens":7"#) && text.contains(r#""repeat_penalty":1.1"#),
            "{text}"
        );
        for absent in ["prompt", "seed", "top_k", "stop"] {
            assert!(!text.contains(&format!("\"{absent}\"")), "{absent} in {text}");
        }
    }
}
