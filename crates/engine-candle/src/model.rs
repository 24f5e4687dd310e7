//! The transformer forward pass (llama family: llama, SmolLM, TinyLlama,
//! Qwen2), batched over sequences at different positions.
//!
//! One call to [`Transformer::forward`] takes a chunk of new tokens for
//! each of several sequences (a whole prompt chunk for a sequence that is
//! being prefilled, one token for a sequence that is decoding), runs every
//! weight matrix once over all of their rows together (that is where
//! batching pays: the weights are read once per step, not once per
//! sequence), and runs attention per sequence against its own KV cache.

use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, Tensor};

use crate::attention::{attend, AttentionShape, LayerCache};
use crate::ggml_math;
use crate::linear::Linear;
use blindfold_engine::EngineError;

/// How rotary embeddings pair up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (llama weights as GGUF stores them: llama.cpp
    /// permutes Q and K at conversion).
    Interleaved,
    /// First half with second half (Hugging Face llama weights, Qwen2).
    HalfSplit,
}

/// The shape of a model, from its GGUF metadata or `config.json`.
#[derive(Debug, Clone)]
pub struct ModelShape {
    /// Architecture name (`llama`, `qwen2`).
    pub architecture: String,
    /// Transformer blocks.
    pub layers: usize,
    /// Width of the residual stream.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Dimensions per head.
    pub head_dim: usize,
    /// Vocabulary size (rows of the embedding).
    pub vocab: usize,
    /// Longest sequence the model was trained for.
    pub context_length: usize,
    /// RMS-norm epsilon.
    pub rms_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// RoPE pairing.
    pub rope_style: RopeStyle,
}

/// One transformer block's weights.
pub(crate) struct Block {
    /// RMS norm weights, as f32 once at load (every step reads them).
    pub attn_norm: Vec<f32>,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    /// Biases (Qwen2), as f32 once at load.
    pub q_bias: Option<Vec<f32>>,
    pub k_bias: Option<Vec<f32>>,
    pub v_bias: Option<Vec<f32>>,
    pub o: Linear,
    pub ffn_norm: Vec<f32>,
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
}

/// Token embedding: quantized rows (looked up without dequantizing the
/// whole table) or a plain tensor.
pub(crate) enum Embedding {
    Quantized(QMatMul),
    Dense(Tensor),
}

impl Embedding {
    fn lookup(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Embedding::Quantized(q) => q.embedding(ids),
            Embedding::Dense(t) => t.embedding(ids),
        }
    }
}

/// A loaded model, shared read-only by every sequence.
pub struct Transformer {
    pub(crate) shape: ModelShape,
    pub(crate) embedding: Embedding,
    pub(crate) blocks: Vec<Block>,
    pub(crate) final_norm: Vec<f32>,
    pub(crate) lm_head: Linear,
    /// RoPE tables, `context × head_dim/2`.
    cos: Vec<f32>,
    sin: Vec<f32>,
    device: Device,
}

/// The attention state of one sequence: its KV cache per block.
pub struct SequenceCache {
    blocks: Vec<LayerCache>,
    len: usize,
}

impl SequenceCache {
    /// Tokens already in the cache (the next token's position).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been run yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One sequence's share of a batched step.
pub struct StepInput<'a> {
    /// New tokens (a prompt chunk, or the one token sampled last).
    pub tokens: &'a [u32],
    /// The sequence's cache; `tokens` are appended to it.
    pub cache: &'a mut SequenceCache,
}

impl Transformer {
    pub(crate) fn new(
        shape: ModelShape,
        embedding: Embedding,
        blocks: Vec<Block>,
        final_norm: Vec<f32>,
        lm_head: Linear,
        device: Device,
    ) -> Result<Self, EngineError> {
        let (cos, sin) = rope_tables(&shape);
        Ok(Transformer {
            shape,
            embedding,
            blocks,
            final_norm,
            lm_head,
            cos,
            sin,
            device,
        })
    }

    /// The model's shape.
    pub fn shape(&self) -> &ModelShape {
        &self.shape
    }

    /// A fresh cache for a new sequence.
    pub fn new_cache(&self, expected_len: usize) -> SequenceCache {
        let rows = expected_len.clamp(16, self.shape.context_length);
        SequenceCache {
            blocks: (0..self.shape.layers)
                .map(|_| LayerCache::new(self.shape.kv_heads, rows * self.shape.head_dim))
                .collect(),
            len: 0,
        }
    }

    /// Runs one batched step and returns the logits of the last new token
    /// of each sequence, one row per input, in input order.
    pub fn forward(&self, inputs: &mut [StepInput<'_>]) -> Result<Vec<Vec<f32>>, EngineError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        for input in inputs.iter() {
            if input.tokens.is_empty() {
                return Err(EngineError::Internal("a step input has no tokens".into()));
            }
            if input.cache.len + input.tokens.len() > self.shape.context_length {
                return Err(EngineError::ContextTooLong {
                    tokens: input.cache.len + input.tokens.len(),
                    limit: self.shape.context_length,
                });
            }
        }
        self.forward_inner(inputs).map_err(crate::internal)
    }

    fn forward_inner(&self, inputs: &mut [StepInput<'_>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let s = &self.shape;
        let ids: Vec<u32> = inputs.iter().flat_map(|i| i.tokens.iter().copied()).collect();
        let rows = ids.len();
        // A decoding batch (one token per sequence) may use dense weights.
        let dense = inputs.iter().all(|i| i.tokens.len() == 1);
        let dev = &self.device;
        let ids = Tensor::from_vec(ids, rows, dev)?;
        // The residual stream, `rows × hidden`, row-major.
        let mut x: Vec<f32> = self
            .embedding
            .lookup(&ids)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        let eps = s.rms_eps as f32;
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = ggml_math::rms_norm(&x, &block.attn_norm, eps);
            let [mut q, mut k, mut v] = products(Linear::forward_many(
                &[&block.q, &block.k, &block.v],
                &h,
                rows,
                dense,
                dev,
            )?)?;
            add_bias(&mut q, &block.q_bias);
            add_bias(&mut k, &block.k_bias);
            add_bias(&mut v, &block.v_bias);
            let attn = self.attention(layer, inputs, &mut q, &mut k, &mut v, rows);
            add_to(&mut x, &block.o.forward_rows(&attn, rows, dense, dev)?);
            let h = ggml_math::rms_norm(&x, &block.ffn_norm, eps);
            let [gate, up] = products(Linear::forward_many(
                &[&block.gate, &block.up],
                &h,
                rows,
                dense,
                dev,
            )?)?;
            let act = ggml_math::swiglu(&gate, &up);
            add_to(&mut x, &block.down.forward_rows(&act, rows, dense, dev)?);
        }
        let mut last = Vec::with_capacity(inputs.len() * s.hidden);
        let mut offset = 0;
        for input in inputs.iter_mut() {
            offset += input.tokens.len();
            last.extend_from_slice(&x[(offset - 1) * s.hidden..offset * s.hidden]);
            input.cache.len += input.tokens.len();
        }
        let last = ggml_math::rms_norm(&last, &self.final_norm, eps);
        let logits = self.lm_head.forward_rows(&last, inputs.len(), dense, dev)?;
        Ok(logits
            .chunks(logits.len() / inputs.len())
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// Attention of every sequence of the step (rows in input order):
    /// RoPE is applied to `q` and `k` in place, and the keys and values
    /// join each sequence's cache.
    fn attention(
        &self,
        layer: usize,
        inputs: &mut [StepInput<'_>],
        q: &mut [f32],
        k: &mut [f32],
        v: &mut [f32],
        rows: usize,
    ) -> Vec<f32> {
        let s = &self.shape;
        let (qw, kw) = (s.heads * s.head_dim, s.kv_heads * s.head_dim);
        let mut out = vec![0f32; rows * qw];
        let shape = AttentionShape {
            heads: s.heads,
            kv_heads: s.kv_heads,
            head_dim: s.head_dim,
            rope_style: s.rope_style,
        };
        let mut row = 0;
        for input in inputs.iter_mut() {
            let n = input.tokens.len();
            attend(
                &shape,
                &mut q[row * qw..(row + n) * qw],
                &mut k[row * kw..(row + n) * kw],
                &mut v[row * kw..(row + n) * kw],
                input.cache.len,
                &mut input.cache.blocks[layer],
                &self.cos,
                &self.sin,
                &mut out[row * qw..(row + n) * qw],
            );
            row += n;
        }
        out
    }
}

/// The residual connection: `x + update`, element by element, into `x`.
fn add_to(x: &mut [f32], update: &[f32]) {
    for (x, u) in x.iter_mut().zip(update) {
        *x += *u;
    }
}

/// A projection's bias added to each of its rows.
fn add_bias(x: &mut [f32], bias: &Option<Vec<f32>>) {
    if let Some(b) = bias {
        for row in x.chunks_mut(b.len()) {
            for (v, b) in row.iter_mut().zip(b) {
                *v += *b;
            }
        }
    }
}

/// The products of [`Linear::forward_many`], one per matrix asked for.
fn products<const N: usize>(v: Vec<Vec<f32>>) -> candle_core::Result<[Vec<f32>; N]> {
    v.try_into().map_err(|v: Vec<Vec<f32>>| {
        candle_core::Error::Msg(format!("expected {N} products, got {}", v.len()))
    })
}

/// A norm's weights or a bias as the steps read them: f32, flat.
pub(crate) fn norm_weights(t: Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
}

/// RoPE's cosines and sines per position, as llama.cpp computes them
/// (`ggml_rope_cache_init`): the angle of pair `i` at position `p` is
/// `p·s^i` with `s = base^(−2/head_dim)`, multiplied up pair by pair in f32
/// (not `p / base^(2i/d)` directly: the two round differently, and a
/// greedy choice near a tie follows the rounding).
fn rope_tables(shape: &ModelShape) -> (Vec<f32>, Vec<f32>) {
    let half = shape.head_dim / 2;
    let step = (shape.rope_theta as f32).powf(-2.0 / shape.head_dim as f32);
    let mut cos = Vec::with_capacity(shape.context_length * half);
    let mut sin = Vec::with_capacity(shape.context_length * half);
    for p in 0..shape.context_length {
        let mut angle = p as f32;
        for _ in 0..half {
            cos.push(angle.cos());
            sin.push(angle.sin());
            angle *= step;
        }
    }
    (cos, sin)
}

/// The last dimension's index of the largest value (greedy decoding).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}
