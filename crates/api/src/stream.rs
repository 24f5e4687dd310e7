//! Streaming answers as server-sent events, in OpenAI's chunk shapes,
//! ending with `data: [DONE]`. Dropping the stream (the client went away)
//! drops the engine's receiver, which cancels the generation.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use blindfold_engine::{Generation, GenerationEvent};
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};

use crate::routes::{finish_str, now, usage_json, Charge, RequestId, Shape};

enum Phase {
    Start,
    Running,
    Usage(Value),
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

impl StreamState {
    fn chunk(&self, choices: Value, usage: Option<Value>) -> Event {
        let object = match self.shape {
            Shape::Chat => "chat.completion.chunk",
            Shape::Completion => "text_completion",
        };
        let mut body = json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            body["usage"] = u;
        }
        Event::default().data(body.to_string())
    }

    fn text_choice(&self, text: &str, finish: Option<&str>) -> Value {
        match self.shape {
            Shape::Chat => {
                let delta = if finish.is_some() {
                    json!({})
                } else {
                    json!({"content": text})
                };
                json!([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}])
            }
            Shape::Completion => {
                json!([{"index": 0, "text": text, "finish_reason": finish, "logprobs": null}])
            }
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
                        let choices = json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null, "logprobs": null}]);
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
                            Phase::Usage(usage_json(&usage))
                        } else {
                            Phase::Done
                        };
                        let event = s.chunk(s.text_choice("", Some(finish_str(reason))), None);
                        return Some((Ok(event), s));
                    }
                    Some(GenerationEvent::Failed(e)) => {
                        let error = crate::error::ApiError::from(e);
                        s.phase = Phase::Done;
                        return Some((Ok(Event::default().data(error.body().to_string())), s));
                    }
                    None => {
                        let error = crate::error::ApiError::from(blindfold_engine::EngineError::Stopped);
                        s.phase = Phase::Done;
                        return Some((Ok(Event::default().data(error.body().to_string())), s));
                    }
                },
                Phase::Usage(u) => {
                    s.phase = Phase::Done;
                    let event = s.chunk(json!([]), Some(u));
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
