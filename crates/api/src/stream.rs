//! Streaming answers as server-sent events, in OpenAI's chunk shapes,
//! ending with `data: [DONE]`. Events already waiting go out together in
//! one write. Dropping the stream (the client went away) drops the
//! engine's receiver, which cancels the generation.

use std::convert::Infallible;
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::Response;
use blindfold_engine::{Generation, GenerationEvent};
use bytes::Bytes;
use futures_util::stream;
use serde::Serialize;

use crate::responses::UsageBody;
use crate::routes::{finish_str, now, Charge, RequestId, Shape};

struct StreamState {
    generation: Generation,
    charge: Charge,
    shape: Shape,
    head: ChunkHead,
    include_usage: bool,
    /// The first write happened (a chat stream's role chunk).
    started: bool,
    /// `[DONE]` was written.
    closed: bool,
}

/// What every chunk of one stream starts with.
struct ChunkHead {
    id: String,
    object: &'static str,
    created: u64,
    model: String,
    /// `{"id":…,"object":…,"created":…,"model":…,"choices":[`, serialised
    /// once from [`Chunk`]: a token's chunk writes only its own text.
    token_prefix: Vec<u8>,
}

impl ChunkHead {
    fn new(id: String, shape: Shape, created: u64, model: String) -> ChunkHead {
        let object = match shape {
            Shape::Chat => "chat.completion.chunk",
            Shape::Completion => "text_completion",
        };
        let mut head = ChunkHead {
            id,
            object,
            created,
            model,
            token_prefix: Vec::new(),
        };
        let mut empty = Vec::new();
        let _ = serde_json::to_writer(&mut empty, &head.chunk(Choices::None([]), None));
        // `…"choices":[]}` without its `]}`.
        empty.truncate(empty.len() - 2);
        head.token_prefix = empty;
        head
    }

    fn chunk<'a>(&'a self, choices: Choices<'a>, usage: Option<&'a UsageBody>) -> Chunk<'a> {
        Chunk {
            id: &self.id,
            object: self.object,
            created: self.created,
            model: &self.model,
            choices,
            usage,
        }
    }
}

/// One streamed chunk, serialised straight from these types (one string
/// per token, no `serde_json::Value` tree on the hot path).
#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Choices<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a UsageBody>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Choices<'a> {
    Chat([ChatChoice<'a>; 1]),
    Text([TextChoice<'a>; 1]),
    None([(); 0]),
}

#[derive(Serialize)]
struct ChatChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'a str>,
    logprobs: Option<()>,
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

#[derive(Serialize)]
struct TextChoice<'a> {
    index: u32,
    text: &'a str,
    finish_reason: Option<&'a str>,
    logprobs: Option<()>,
}

/// Most bytes gathered into one write when several events are waiting.
const MAX_BATCH: usize = 16 * 1024;
/// An idle stream sends an SSE comment this often, so that nothing on the
/// way closes it while the engine is busy with others.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

impl StreamState {
    /// Appends one chunk as an SSE event (`data: {json}\n\n`; JSON strings
    /// escape line breaks, so one `data:` line holds it).
    fn push_chunk(&self, out: &mut Vec<u8>, choices: Choices<'_>, usage: Option<&UsageBody>) {
        push_chunk(out, &self.head, choices, usage);
    }

    fn text_choice<'a>(&self, text: &'a str, finish: Option<&'a str>) -> Choices<'a> {
        match self.shape {
            Shape::Chat => Choices::Chat([ChatChoice {
                index: 0,
                // The last chunk's delta is empty.
                delta: Delta {
                    role: None,
                    content: finish.is_none().then_some(text),
                },
                finish_reason: finish,
                logprobs: None,
            }]),
            Shape::Completion => Choices::Text([TextChoice {
                index: 0,
                text,
                finish_reason: finish,
                logprobs: None,
            }]),
        }
    }

    /// Appends what one engine event (or the engine's end, `None`) says;
    /// a finish, a failure or the end also appends the usage chunk (if
    /// asked for) and `[DONE]`, and closes the stream.
    fn push_event(&mut self, event: Option<GenerationEvent>, out: &mut Vec<u8>) {
        match event {
            Some(GenerationEvent::Text(t)) => {
                self.charge.usage.completion_tokens += 1;
                push_token(out, &self.head, self.shape, &t);
                return;
            }
            Some(GenerationEvent::Finished { reason, usage }) => {
                self.charge.usage = usage;
                self.push_chunk(out, self.text_choice("", Some(finish_str(reason))), None);
                if self.include_usage {
                    self.push_chunk(out, Choices::None([]), Some(&UsageBody::from(&usage)));
                }
            }
            Some(GenerationEvent::Failed(e)) => push_error(out, crate::error::ApiError::from(e)),
            None => push_error(
                out,
                crate::error::ApiError::from(blindfold_engine::EngineError::Stopped),
            ),
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.closed = true;
    }

    /// Appends the events that are ready now, without waiting (at most
    /// [`MAX_BATCH`] bytes, and nothing after the end).
    async fn take_ready(&mut self, out: &mut Vec<u8>) {
        std::future::poll_fn(|cx| {
            while !self.closed && out.len() < MAX_BATCH {
                match self.generation.poll_recv(cx) {
                    Poll::Ready(event) => self.push_event(event, out),
                    Poll::Pending => break,
                }
            }
            Poll::Ready(())
        })
        .await
    }
}

/// Appends one chunk as an SSE event (`data: {json}\n\n`; JSON strings
/// escape line breaks, so one `data:` line holds it).
fn push_chunk(out: &mut Vec<u8>, head: &ChunkHead, choices: Choices<'_>, usage: Option<&UsageBody>) {
    out.extend_from_slice(b"data: ");
    // Serialising these plain types into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &head.chunk(choices, usage));
    out.extend_from_slice(b"\n\n");
}

/// Appends one token's chunk: the same bytes as [`push_chunk`] with the
/// text choice, but only the text is serialised (the rest is the head's
/// prefix and fixed JSON).
fn push_token(out: &mut Vec<u8>, head: &ChunkHead, shape: Shape, text: &str) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&head.token_prefix);
    match shape {
        Shape::Chat => out.extend_from_slice(br#"{"index":0,"delta":{"content":"#),
        Shape::Completion => out.extend_from_slice(br#"{"index":0,"text":"#),
    }
    // A string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
    if shape == Shape::Chat {
        out.push(b'}');
    }
    out.extend_from_slice(br#","finish_reason":null,"logprobs":null}]}"#);
    out.extend_from_slice(b"\n\n");
}

fn push_error(out: &mut Vec<u8>, error: crate::error::ApiError) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&error.body().to_json());
    out.extend_from_slice(b"\n\n");
}

/// The SSE response for a started generation. Events that are already
/// waiting when one is written go out with it, in one write (one TLS
/// record, one HTTP chunk), so a fast engine costs a write per burst
/// rather than per token.
pub(crate) fn sse(
    generation: Generation,
    mut charge: Charge,
    shape: Shape,
    id: RequestId,
    model: String,
    include_usage: bool,
) -> Response {
    charge.usage.prompt_tokens = generation.prompt_tokens.unwrap_or(0);
    let prefix = match shape {
        Shape::Chat => "chatcmpl",
        Shape::Completion => "cmpl",
    };
    let state = StreamState {
        generation,
        charge,
        shape,
        head: ChunkHead::new(format!("{prefix}-{}", id.0), shape, now(), model),
        include_usage,
        started: false,
        closed: false,
    };
    let events = stream::unfold(state, |mut s| async move {
        if s.closed {
            return None;
        }
        let mut out = Vec::with_capacity(256);
        if !s.started {
            s.started = true;
            if s.shape == Shape::Chat {
                let role = Choices::Chat([ChatChoice {
                    index: 0,
                    delta: Delta {
                        role: Some("assistant"),
                        content: Some(""),
                    },
                    finish_reason: None,
                    logprobs: None,
                }]);
                s.push_chunk(&mut out, role, None);
            }
        }
        // What is ready now goes with it (this also starts a driven
        // generation's work before a chat's first chunk is written).
        s.take_ready(&mut out).await;
        if out.is_empty() {
            match tokio::time::timeout(KEEP_ALIVE, s.generation.recv()).await {
                Ok(event) => s.push_event(event, &mut out),
                Err(_) => return Some((Ok(Bytes::from_static(b":\n\n")), s)),
            }
            s.take_ready(&mut out).await;
        }
        Some((Ok::<_, Infallible>(Bytes::from(out)), s))
    });
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token's chunk written fast is byte for byte the typed chunk.
    #[test]
    fn a_token_chunk_is_the_typed_chunk() {
        for shape in [Shape::Chat, Shape::Completion] {
            let head = ChunkHead::new("chatcmpl-7".into(), shape, 1_700_000_000, "m\"odel".into());
            for text in ["hi", "", " a \"quote\",\n\ttab \\ é 🙂", "\u{1}"] {
                let mut fast = Vec::new();
                push_token(&mut fast, &head, shape, text);
                let choices = match shape {
                    Shape::Chat => Choices::Chat([ChatChoice {
                        index: 0,
                        delta: Delta {
                            role: None,
                            content: Some(text),
                        },
                        finish_reason: None,
                        logprobs: None,
                    }]),
                    Shape::Completion => Choices::Text([TextChoice {
                        index: 0,
                        text,
                        finish_reason: None,
                        logprobs: None,
                    }]),
                };
                let mut typed = Vec::new();
                push_chunk(&mut typed, &head, choices, None);
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(typed).unwrap()
                );
            }
        }
    }
}
