//! Streaming answers as server-sent events, in OpenAI's chunk shapes,
//! ending with `data: [DONE]`. Dropping the stream (the client went away)
//! drops the engine's receiver, which cancels the generation.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use blindfold_engine::{Generation, GenerationEvent};
use futures_util::stream::{self, Stream};
use serde::Serialize;

use crate::responses::UsageBody;
use crate::routes::{finish_str, now, Charge, RequestId, Shape};

enum Phase {
    Start,
    Running,
    Usage(UsageBody),
    Done,
    Closed,
}

struct StreamState {
    generation: Generation,
    charge: Charge,
    shape: Shape,
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    phase: Phase,
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

impl StreamState {
    fn chunk(&self, choices: Choices<'_>, usage: Option<&UsageBody>) -> Event {
        let object = match self.shape {
            Shape::Chat => "chat.completion.chunk",
            Shape::Completion => "text_completion",
        };
        let chunk = Chunk {
            id: &self.id,
            object,
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        // Serialising these plain types cannot fail.
        Event::default().data(serde_json::to_string(&chunk).unwrap_or_default())
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
}

/// The SSE response for a started generation.
pub(crate) fn sse(
    generation: Generation,
    mut charge: Charge,
    shape: Shape,
    id: RequestId,
    model: String,
    include_usage: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    charge.usage.prompt_tokens = generation.prompt_tokens.unwrap_or(0);
    let prefix = match shape {
        Shape::Chat => "chatcmpl",
        Shape::Completion => "cmpl",
    };
    let state = StreamState {
        generation,
        charge,
        shape,
        id: format!("{prefix}-{}", id.0),
        model,
        created: now(),
        include_usage,
        phase: Phase::Start,
    };
    let events = stream::unfold(state, |mut s| async move {
        loop {
            match std::mem::replace(&mut s.phase, Phase::Running) {
                Phase::Start => {
                    if s.shape == Shape::Chat {
                        let choices = Choices::Chat([ChatChoice {
                            index: 0,
                            delta: Delta {
                                role: Some("assistant"),
                                content: Some(""),
                            },
                            finish_reason: None,
                            logprobs: None,
                        }]);
                        let event = s.chunk(choices, None);
                        return Some((Ok(event), s));
                    }
                }
                Phase::Running => match s.generation.events.recv().await {
                    Some(GenerationEvent::Text(t)) => {
                        s.charge.usage.completion_tokens += 1;
                        let event = s.chunk(s.text_choice(&t, None), None);
                        return Some((Ok(event), s));
                    }
                    Some(GenerationEvent::Finished { reason, usage }) => {
                        s.charge.usage = usage;
                        s.phase = if s.include_usage {
                            Phase::Usage(UsageBody::from(&usage))
                        } else {
                            Phase::Done
                        };
                        let event = s.chunk(s.text_choice("", Some(finish_str(reason))), None);
                        return Some((Ok(event), s));
                    }
                    Some(GenerationEvent::Failed(e)) => {
                        let error = crate::error::ApiError::from(e);
                        s.phase = Phase::Done;
                        return Some((
                            Ok(Event::default().data(String::from_utf8_lossy(&error.body().to_json()))),
                            s,
                        ));
                    }
                    None => {
                        let error = crate::error::ApiError::from(blindfold_engine::EngineError::Stopped);
                        s.phase = Phase::Done;
                        return Some((
                            Ok(Event::default().data(String::from_utf8_lossy(&error.body().to_json()))),
                            s,
                        ));
                    }
                },
                Phase::Usage(u) => {
                    s.phase = Phase::Done;
                    let event = s.chunk(Choices::None([]), Some(&u));
                    return Some((Ok(event), s));
                }
                Phase::Done => {
                    s.phase = Phase::Closed;
                    return Some((Ok(Event::default().data("[DONE]")), s));
                }
                Phase::Closed => return None,
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
