//! The embedded engine: one worker thread runs the model over a batch of
//! sequences; requests join and leave the batch between steps
//! (continuous batching).
//!
//! Each step feeds every decoding sequence its last token and gives the
//! sequences still reading their prompt a chunk of it (at most
//! `prefill_chunk` prompt tokens per step in all, so a long prompt delays
//! the others by one chunk, not by the whole prompt). Events go out on
//! unbounded channels, so a client that reads slowly never stalls the
//! batch; a client that is gone (its receiver dropped) is removed at the
//! next step and its slot is free again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::load::LoadedModel;
use crate::model::{SequenceCache, StepInput, Transformer};
use crate::sampling::{Sampler, REPEAT_WINDOW};
use crate::template::ChatTemplate;
use crate::text::{IncrementalDecoder, StopMatcher, StopOutcome};
use crate::tokenizer::TextTokenizer;
use blindfold_engine::{
    Engine, EngineError, EngineLoad, FinishReason, GenerateRequest, Generation, GenerationEvent, ModelInfo,
    Prompt, Usage,
};

/// Tuning of the embedded engine.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The name clients use in `model`.
    pub model_id: String,
    /// Most sequences in the running batch.
    pub max_batch: usize,
    /// Most requests waiting for a slot (then [`EngineError::Overloaded`]).
    pub queue_capacity: usize,
    /// Most prompt tokens read per step, over all sequences.
    pub prefill_chunk: usize,
    /// `max_tokens` when a request gives none.
    pub default_max_tokens: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            model_id: "model".into(),
            max_batch: 16,
            queue_capacity: 64,
            prefill_chunk: 512,
            default_max_tokens: 512,
        }
    }
}

struct Admitted {
    request_id: u64,
    prompt: Vec<u32>,
    max_tokens: usize,
    sampler: Sampler,
    stop: Vec<String>,
    banned: Vec<u32>,
    events: mpsc::UnboundedSender<GenerationEvent>,
    submitted: Instant,
}

struct Counters {
    queued: AtomicUsize,
    running: AtomicUsize,
}

/// The model in this process; see the module docs.
pub struct EmbeddedEngine {
    info: ModelInfo,
    tokenizer: Arc<TextTokenizer>,
    template: ChatTemplate,
    options: EmbeddedOptions,
    queue: SyncSender<Admitted>,
    counters: Arc<Counters>,
}

impl EmbeddedEngine {
    /// Starts the worker thread for `model`.
    pub fn start(model: LoadedModel, options: EmbeddedOptions) -> Result<Self, EngineError> {
        if options.max_batch == 0 || options.prefill_chunk == 0 {
            return Err(EngineError::InvalidParameter {
                param: "max_batch",
                reason: "batch size and prefill chunk must be at least 1".into(),
            });
        }
        let LoadedModel {
            transformer,
            tokenizer,
            chat_template,
            ..
        } = model;
        let template = ChatTemplate::new(&chat_template, tokenizer.bos_text(), tokenizer.eos_text())?;
        let tokenizer = Arc::new(tokenizer);
        let info = ModelInfo {
            id: options.model_id.clone(),
            context_length: transformer.shape().context_length,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let (queue, waiting) = sync_channel(options.queue_capacity);
        let counters = Arc::new(Counters {
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        });
        let worker = Worker {
            transformer,
            tokenizer: tokenizer.clone(),
            options: options.clone(),
            counters: counters.clone(),
            active: Vec::new(),
        };
        std::thread::Builder::new()
            .name("blindfold-engine".into())
            .spawn(move || worker.run(waiting))
            .map_err(|e| EngineError::Internal(format!("starting the engine thread: {e}")))?;
        Ok(EmbeddedEngine {
            info,
            tokenizer,
            template,
            options,
            queue,
            counters,
        })
    }

    /// Token ids of `text` (for tests and the tokenizer parity check).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.tokenizer.encode(text)
    }

    /// The prompt text a chat renders to.
    pub fn render_chat(&self, prompt: &Prompt) -> Result<String, EngineError> {
        match prompt {
            Prompt::Text(t) => Ok(t.clone()),
            Prompt::Chat(messages) => self.template.render(messages),
        }
    }
}

impl Engine for EmbeddedEngine {
    fn model(&self) -> &ModelInfo {
        &self.info
    }

    fn submit(&self, request: GenerateRequest) -> Result<Generation, EngineError> {
        request.sampling.validate()?;
        if request.max_tokens == Some(0) {
            return Err(EngineError::InvalidParameter {
                param: "max_tokens",
                reason: "must be at least 1".into(),
            });
        }
        let text = self.render_chat(&request.prompt)?;
        let prompt = self.tokenizer.encode(&text)?;
        let limit = self.info.context_length;
        if prompt.is_empty() {
            return Err(EngineError::InvalidParameter {
                param: "prompt",
                reason: "is empty".into(),
            });
        }
        if prompt.len() >= limit {
            return Err(EngineError::ContextTooLong {
                tokens: prompt.len() + 1,
                limit,
            });
        }
        let room = limit - prompt.len();
        let max_tokens = request
            .max_tokens
            .unwrap_or(self.options.default_max_tokens)
            .min(room);
        let mut banned = Vec::new();
        for word in &request.bad_words {
            if let Some(first) = self.tokenizer.encode(word)?.first() {
                banned.push(*first);
            }
        }
        let prompt_tokens = prompt.len();
        let (events, receiver) = mpsc::unbounded_channel();
        let admitted = Admitted {
            request_id: request.request_id,
            prompt,
            max_tokens,
            sampler: Sampler::new(request.sampling),
            stop: request.stop,
            banned,
            events,
            submitted: Instant::now(),
        };
        self.counters.queued.fetch_add(1, Ordering::SeqCst);
        match self.queue.try_send(admitted) {
            Ok(()) => Ok(Generation::new(Some(prompt_tokens), receiver)),
            Err(e) => {
                self.counters.queued.fetch_sub(1, Ordering::SeqCst);
                match e {
                    TrySendError::Full(_) => Err(EngineError::Overloaded {
                        queued: self.options.queue_capacity,
                    }),
                    TrySendError::Disconnected(_) => Err(EngineError::Stopped),
                }
            }
        }
    }

    fn load(&self) -> EngineLoad {
        EngineLoad {
            queued: self.counters.queued.load(Ordering::SeqCst),
            running: self.counters.running.load(Ordering::SeqCst),
        }
    }
}

struct Sequence {
    request: Admitted,
    cache: SequenceCache,
    prefilled: usize,
    generated: Vec<u32>,
    decoder: IncrementalDecoder,
    stops: StopMatcher,
    first_token: Option<Instant>,
}

struct Worker {
    transformer: Transformer,
    tokenizer: Arc<TextTokenizer>,
    options: EmbeddedOptions,
    counters: Arc<Counters>,
    active: Vec<Sequence>,
}

impl Worker {
    fn run(mut self, waiting: Receiver<Admitted>) {
        loop {
            if !self.admit(&waiting) {
                return;
            }
            self.active.retain(|s| {
                let gone = s.request.events.is_closed();
                if gone {
                    tracing::info!(
                        request_id = s.request.request_id,
                        generated = s.generated.len(),
                        "client gone; generation cancelled"
                    );
                }
                !gone
            });
            self.counters.running.store(self.active.len(), Ordering::SeqCst);
            if self.active.is_empty() {
                continue;
            }
            // The step runs on one of rayon's worker threads, so the
            // matrix products inside it split their work there: the idle
            // worker is still spinning from the previous one and takes its
            // half at once. Started from this thread instead, each of the
            // ~200 products per token would wake a sleeping pool and then
            // wake this thread back (a 576-wide projection took 30 µs,
            // twice its arithmetic).
            let stepped = rayon::scope(|_| self.step());
            if let Err(e) = stepped {
                tracing::error!(error = %e, sequences = self.active.len(), "engine step failed");
                for s in self.active.drain(..) {
                    let _ = s.request.events.send(GenerationEvent::Failed(e.clone()));
                }
            }
            self.counters.running.store(self.active.len(), Ordering::SeqCst);
        }
    }

    /// Moves waiting requests into free slots; blocks only when idle.
    /// Returns false when the engine was dropped and nothing is running.
    fn admit(&mut self, waiting: &Receiver<Admitted>) -> bool {
        while self.active.len() < self.options.max_batch {
            let next = if self.active.is_empty() {
                match waiting.recv() {
                    Ok(r) => r,
                    Err(_) => return false,
                }
            } else {
                match waiting.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            self.counters.queued.fetch_sub(1, Ordering::SeqCst);
            let expected = next.prompt.len() + next.max_tokens;
            self.active.push(Sequence {
                cache: self.transformer.new_cache(expected),
                stops: StopMatcher::new(next.stop.clone()),
                request: next,
                prefilled: 0,
                generated: Vec::new(),
                decoder: IncrementalDecoder::default(),
                first_token: None,
            });
        }
        true
    }

    fn step(&mut self) -> Result<(), EngineError> {
        let mut budget = self.options.prefill_chunk;
        // Which sequences take part, and whether this step ends their prompt.
        let mut plan: Vec<(usize, usize)> = Vec::new(); // (index, tokens)
        for (i, s) in self.active.iter().enumerate() {
            let left = s.request.prompt.len() - s.prefilled;
            if left == 0 {
                plan.push((i, 1));
            } else if budget > 0 {
                let n = left.min(budget);
                budget -= n;
                plan.push((i, n));
            }
        }
        let logits = {
            let mut inputs: Vec<StepInput<'_>> = Vec::with_capacity(plan.len());
            let mut planned = plan.iter().peekable();
            for (i, s) in self.active.iter_mut().enumerate() {
                let Some(&&(idx, n)) = planned.peek() else { break };
                if idx != i {
                    continue;
                }
                planned.next();
                let Sequence {
                    request,
                    cache,
                    prefilled,
                    generated,
                    ..
                } = s;
                let tokens = if *prefilled < request.prompt.len() {
                    &request.prompt[*prefilled..*prefilled + n]
                } else {
                    // Invariant: a sequence past its prompt has sampled a token.
                    std::slice::from_ref(
                        generated
                            .last()
                            .ok_or_else(|| EngineError::Internal("decoding sequence has no token".into()))?,
                    )
                };
                inputs.push(StepInput { tokens, cache });
            }
            self.transformer.forward(&mut inputs)?
        };
        let mut finished = Vec::new();
        for ((i, n), mut row) in plan.into_iter().zip(logits) {
            let s = &mut self.active[i];
            if s.prefilled < s.request.prompt.len() {
                s.prefilled += n;
                if s.prefilled < s.request.prompt.len() {
                    continue;
                }
            }
            if let Some(done) = self.sample_next(i, &mut row)? {
                finished.push((i, done));
            }
        }
        for (i, reason) in finished.into_iter().rev() {
            let mut s = self.active.remove(i);
            let tail = s.stops.flush();
            if !tail.is_empty() {
                let _ = s.request.events.send(GenerationEvent::Text(tail));
            }
            let usage = Usage {
                prompt_tokens: s.request.prompt.len(),
                completion_tokens: s.generated.len(),
            };
            let _ = s.request.events.send(GenerationEvent::Finished { reason, usage });
            let ttft = s
                .first_token
                .map(|t| t.duration_since(s.request.submitted).as_secs_f64() * 1e3);
            tracing::info!(
                request_id = s.request.request_id,
                prompt_tokens = usage.prompt_tokens,
                completion_tokens = usage.completion_tokens,
                time_to_first_token_ms = ttft,
                total_ms = s.request.submitted.elapsed().as_secs_f64() * 1e3,
                finish = ?reason,
                "generation finished"
            );
        }
        Ok(())
    }

    /// Samples one token for sequence `i`; returns why it finished, if it did.
    fn sample_next(&mut self, i: usize, logits: &mut [f32]) -> Result<Option<FinishReason>, EngineError> {
        let s = &mut self.active[i];
        for id in &s.request.banned {
            if let Some(l) = logits.get_mut(*id as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        let history: Vec<u32> = {
            let p = &s.request.prompt;
            let g = &s.generated;
            let from_prompt = REPEAT_WINDOW.saturating_sub(g.len()).min(p.len());
            p[p.len() - from_prompt..]
                .iter()
                .chain(g[g.len().saturating_sub(REPEAT_WINDOW)..].iter())
                .copied()
                .collect()
        };
        let token = s.request.sampler.sample(logits, &history);
        if s.first_token.is_none() {
            s.first_token = Some(Instant::now());
        }
        if self.tokenizer.is_end(token) {
            return Ok(Some(FinishReason::Stop));
        }
        s.generated.push(token);
        let piece = s.decoder.next(&self.tokenizer, &s.generated)?;
        match s.stops.push(&piece) {
            StopOutcome::Stopped(text) => {
                if !text.is_empty() {
                    let _ = s.request.events.send(GenerationEvent::Text(text));
                }
                return Ok(Some(FinishReason::Stop));
            }
            StopOutcome::Continue(text) => {
                if !text.is_empty() {
                    let _ = s.request.events.send(GenerationEvent::Text(text));
                }
            }
        }
        if s.generated.len() >= s.request.max_tokens {
            return Ok(Some(FinishReason::Length));
        }
        Ok(None)
    }
}
