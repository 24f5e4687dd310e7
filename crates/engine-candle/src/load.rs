//! Loading weights from bytes in memory: GGUF (quantized or not) and
//! safetensors with a `config.json` and `tokenizer.json`.
//!
//! Weights arrive as bytes, never only as a path, because a sealed model
//! is decrypted into memory and must not touch the disk. The bytes are
//! copied into tensors, so the caller can wipe its buffer afterwards.

use std::io::Cursor;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::linear::Linear;
use crate::model::{norm_weights, Block, Embedding, ModelShape, RopeStyle, Transformer};
use crate::tokenizer::TextTokenizer;
use blindfold_engine::EngineError;

/// ChatML, used when a model carries no template of its own.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The files of a model, as bytes.
pub enum ModelSource<'a> {
    /// One GGUF file (tokenizer and chat template in its metadata).
    Gguf(&'a [u8]),
    /// Hugging Face layout: safetensors weights, `config.json`,
    /// `tokenizer.json` and optionally `tokenizer_config.json` (for the
    /// chat template).
    Safetensors {
        /// `model.safetensors`.
        weights: &'a [u8],
        /// `config.json`.
        config: &'a [u8],
        /// `tokenizer.json`.
        tokenizer: &'a [u8],
        /// `tokenizer_config.json`, if any.
        tokenizer_config: Option<&'a [u8]>,
    },
}

/// A model ready to run: network, tokenizer, template and identity.
pub struct LoadedModel {
    /// The network.
    pub transformer: Transformer,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    /// Its chat template (Jinja).
    pub chat_template: String,
    /// SHA-256 of the weights file (what the enclave measures).
    pub weights_sha256: [u8; 32],
}

impl ModelSource<'_> {
    /// Loads the model onto `device`.
    pub fn load(&self, device: &Device) -> Result<LoadedModel, EngineError> {
        let weights = match self {
            ModelSource::Gguf(bytes) => *bytes,
            ModelSource::Safetensors { weights, .. } => *weights,
        };
        // The weights are hashed on a second thread while they are parsed
        // (the same bytes): on a slow CPU, such as a measured VM under
        // TCG, the hash alone is over a second of the load.
        std::thread::scope(|scope| {
            let hashing = scope.spawn(|| sha256(weights));
            let parts = match self {
                ModelSource::Gguf(bytes) => load_gguf(bytes, device),
                ModelSource::Safetensors {
                    weights,
                    config,
                    tokenizer,
                    tokenizer_config,
                } => load_safetensors(weights, config, tokenizer, *tokenizer_config, device),
            };
            let weights_sha256 = hashing
                .join()
                .map_err(|_| EngineError::Internal("hashing the weights failed".into()))?;
            let parts = parts?;
            Ok(LoadedModel {
                transformer: parts.transformer,
                tokenizer: parts.tokenizer,
                chat_template: parts.chat_template,
                weights_sha256,
            })
        })
    }
}

/// A parsed model, before its identity is added.
struct Parts {
    transformer: Transformer,
    tokenizer: TextTokenizer,
    chat_template: String,
}

fn model_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Model(e.to_string())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn load_gguf(bytes: &[u8], device: &Device) -> Result<Parts, EngineError> {
    crate::gguf_header::check_header(bytes)?;
    let mut reader = Cursor::new(bytes);
    let content = Content::read(&mut reader).map_err(|e| model_err(format!("not a GGUF file: {e}")))?;
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok().cloned())
        .ok_or_else(|| model_err("GGUF metadata has no general.architecture"))?;
    let rope_style = match arch.as_str() {
        "llama" => RopeStyle::Interleaved,
        "qwen2" => RopeStyle::HalfSplit,
        other => {
            return Err(model_err(format!(
                "architecture `{other}` is not supported (llama, qwen2)"
            )))
        }
    };
    let get_u = |key: &str| -> Result<usize, EngineError> {
        content
            .metadata
            .get(&format!("{arch}.{key}"))
            .and_then(|v| {
                v.to_u32()
                    .ok()
                    .map(|x| x as usize)
                    .or_else(|| v.to_u64().ok().map(|x| x as usize))
            })
            .ok_or_else(|| model_err(format!("GGUF metadata has no {arch}.{key}")))
    };
    let get_f = |key: &str, default: f64| -> f64 {
        content
            .metadata
            .get(&format!("{arch}.{key}"))
            .and_then(|v| v.to_f32().ok())
            .map(f64::from)
            .unwrap_or(default)
    };
    let hidden = get_u("embedding_length")?;
    let heads = get_u("attention.head_count")?;
    let kv_heads = get_u("attention.head_count_kv").unwrap_or(heads);
    let tensor = |name: &str, reader: &mut Cursor<&[u8]>| -> Result<QTensor, EngineError> {
        content
            .tensor(reader, name, device)
            .map_err(|e| model_err(format!("tensor {name}: {e}")))
    };
    let token_embd = tensor("token_embd.weight", &mut reader)?;
    let vocab = token_embd.shape().dims2().map_err(model_err)?.0;
    let shape = ModelShape {
        architecture: arch.clone(),
        layers: get_u("block_count")?,
        hidden,
        heads,
        kv_heads,
        head_dim: get_u("rope.dimension_count").unwrap_or(hidden / heads.max(1)),
        vocab,
        context_length: get_u("context_length")?,
        rms_eps: get_f("attention.layer_norm_rms_epsilon", 1e-5),
        rope_theta: get_f("rope.freq_base", 10_000.0),
        rope_style,
    };
    check_shape(&shape)?;
    let dense = |q: QTensor| q.dequantize(device).map_err(model_err);
    let optional = |name: &str, reader: &mut Cursor<&[u8]>| -> Result<Option<Vec<f32>>, EngineError> {
        if content.tensor_infos.contains_key(name) {
            Ok(Some(
                norm_weights(dense(tensor(name, reader)?)?).map_err(model_err)?,
            ))
        } else {
            Ok(None)
        }
    };
    let qmm = |q: QTensor| Linear::new(q, device).map_err(model_err);
    // Every block is tensors of the file: a count beyond them is refused
    // before anything is reserved for it.
    if shape.layers > content.tensor_infos.len() {
        return Err(model_err(format!(
            "block_count {} but only {} tensors",
            shape.layers,
            content.tensor_infos.len()
        )));
    }
    let mut blocks = Vec::with_capacity(shape.layers);
    for i in 0..shape.layers {
        let p = format!("blk.{i}");
        blocks.push(Block {
            attn_norm: norm_weights(dense(tensor(&format!("{p}.attn_norm.weight"), &mut reader)?)?)
                .map_err(model_err)?,
            q: qmm(tensor(&format!("{p}.attn_q.weight"), &mut reader)?)?,
            k: qmm(tensor(&format!("{p}.attn_k.weight"), &mut reader)?)?,
            v: qmm(tensor(&format!("{p}.attn_v.weight"), &mut reader)?)?,
            q_bias: optional(&format!("{p}.attn_q.bias"), &mut reader)?,
            k_bias: optional(&format!("{p}.attn_k.bias"), &mut reader)?,
            v_bias: optional(&format!("{p}.attn_v.bias"), &mut reader)?,
            o: qmm(tensor(&format!("{p}.attn_output.weight"), &mut reader)?)?,
            ffn_norm: norm_weights(dense(tensor(&format!("{p}.ffn_norm.weight"), &mut reader)?)?)
                .map_err(model_err)?,
            gate: qmm(tensor(&format!("{p}.ffn_gate.weight"), &mut reader)?)?,
            up: qmm(tensor(&format!("{p}.ffn_up.weight"), &mut reader)?)?,
            down: qmm(tensor(&format!("{p}.ffn_down.weight"), &mut reader)?)?,
        });
    }
    let final_norm = norm_weights(dense(tensor("output_norm.weight", &mut reader)?)?).map_err(model_err)?;
    let token_embd = std::sync::Arc::new(token_embd);
    // Output tied to the embedding when there is no `output.weight`.
    let lm_head = if content.tensor_infos.contains_key("output.weight") {
        qmm(tensor("output.weight", &mut reader)?)?
    } else {
        // Tied: the embedding's own blocks.
        Linear::shared(token_embd.clone(), device).map_err(model_err)?
    };
    let embedding = Embedding::Quantized(QMatMul::QTensor(token_embd));
    let tokenizer = TextTokenizer::from_gguf(&content)?;
    let chat_template = content
        .metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_else(|| CHATML_TEMPLATE.to_string());
    let transformer = Transformer::new(shape, embedding, blocks, final_norm, lm_head, device.clone())?;
    Ok(Parts {
        transformer,
        tokenizer,
        chat_template,
    })
}

/// The most rotary-table entries (context length × head size) a model may
/// ask for: 2^26, 512 MiB of tables (a 128K-context, 128-wide model needs
/// 2^24).
const MAX_ROPE_ENTRIES: usize = 1 << 26;

fn check_shape(shape: &ModelShape) -> Result<(), EngineError> {
    if !shape
        .context_length
        .checked_mul(shape.head_dim)
        .is_some_and(|n| n <= MAX_ROPE_ENTRIES)
    {
        return Err(model_err(format!(
            "context length {} with head size {} is more than this engine holds",
            shape.context_length, shape.head_dim
        )));
    }
    let ok = shape.layers > 0
        && shape.heads > 0
        && shape.kv_heads > 0
        && shape.heads % shape.kv_heads == 0
        && shape.head_dim % 2 == 0
        && shape.head_dim > 0
        && shape.context_length > 0
        && shape.vocab > 0;
    if ok {
        Ok(())
    } else {
        Err(model_err(format!(
            "inconsistent shape: {} layers, {} heads, {} KV heads, head size {}, context {}",
            shape.layers, shape.heads, shape.kv_heads, shape.head_dim, shape.context_length
        )))
    }
}

/// The fields of a Hugging Face `config.json` the engine reads.
#[derive(Deserialize)]
struct HfConfig {
    model_type: String,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: usize,
    max_position_embeddings: usize,
    rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    #[serde(default)]
    tie_word_embeddings: bool,
    bos_token_id: Option<u32>,
    eos_token_id: Option<u32>,
}

fn default_theta() -> f64 {
    10_000.0
}

#[derive(Deserialize)]
struct HfTokenizerConfig {
    chat_template: Option<String>,
}

fn load_safetensors(
    weights: &[u8],
    config: &[u8],
    tokenizer: &[u8],
    tokenizer_config: Option<&[u8]>,
    device: &Device,
) -> Result<Parts, EngineError> {
    let cfg: HfConfig = serde_json::from_slice(config).map_err(|e| model_err(format!("config.json: {e}")))?;
    if cfg.model_type != "llama" && cfg.model_type != "qwen2" {
        return Err(model_err(format!(
            "model_type `{}` is not supported (llama, qwen2)",
            cfg.model_type
        )));
    }
    let tensors = candle_core::safetensors::load_buffer(weights, device)
        .map_err(|e| model_err(format!("not a safetensors file: {e}")))?;
    let get = |name: &str| -> Result<Tensor, EngineError> {
        tensors
            .get(name)
            .ok_or_else(|| model_err(format!("safetensors has no tensor {name}")))?
            .to_dtype(DType::F32)
            .map_err(model_err)
    };
    let opt = |name: &str| -> Result<Option<Tensor>, EngineError> {
        tensors
            .get(name)
            .map(|t| t.to_dtype(DType::F32).map_err(model_err))
            .transpose()
    };
    let bias = |name: &str| -> Result<Option<Vec<f32>>, EngineError> {
        opt(name)?.map(|t| norm_weights(t).map_err(model_err)).transpose()
    };
    let shape = ModelShape {
        architecture: cfg.model_type.clone(),
        layers: cfg.num_hidden_layers,
        hidden: cfg.hidden_size,
        heads: cfg.num_attention_heads,
        kv_heads: cfg.num_key_value_heads.unwrap_or(cfg.num_attention_heads),
        head_dim: cfg
            .head_dim
            .unwrap_or(cfg.hidden_size / cfg.num_attention_heads.max(1)),
        vocab: cfg.vocab_size,
        context_length: cfg.max_position_embeddings,
        rms_eps: cfg.rms_norm_eps,
        rope_theta: cfg.rope_theta,
        rope_style: RopeStyle::HalfSplit,
    };
    check_shape(&shape)?;
    let lin = Linear::dense;
    // As for GGUF: no more blocks than the file has tensors.
    let mut blocks = Vec::with_capacity(shape.layers.min(tensors.len()));
    for i in 0..shape.layers {
        let p = format!("model.layers.{i}");
        blocks.push(Block {
            attn_norm: norm_weights(get(&format!("{p}.input_layernorm.weight"))?).map_err(model_err)?,
            q: lin(get(&format!("{p}.self_attn.q_proj.weight"))?),
            k: lin(get(&format!("{p}.self_attn.k_proj.weight"))?),
            v: lin(get(&format!("{p}.self_attn.v_proj.weight"))?),
            q_bias: bias(&format!("{p}.self_attn.q_proj.bias"))?,
            k_bias: bias(&format!("{p}.self_attn.k_proj.bias"))?,
            v_bias: bias(&format!("{p}.self_attn.v_proj.bias"))?,
            o: lin(get(&format!("{p}.self_attn.o_proj.weight"))?),
            ffn_norm: norm_weights(get(&format!("{p}.post_attention_layernorm.weight"))?)
                .map_err(model_err)?,
            gate: lin(get(&format!("{p}.mlp.gate_proj.weight"))?),
            up: lin(get(&format!("{p}.mlp.up_proj.weight"))?),
            down: lin(get(&format!("{p}.mlp.down_proj.weight"))?),
        });
    }
    let embed = get("model.embed_tokens.weight")?;
    let lm_head = match opt("lm_head.weight")? {
        Some(t) if !cfg.tie_word_embeddings => Linear::dense(t),
        _ => Linear::dense(embed.clone()),
    };
    let final_norm = norm_weights(get("model.norm.weight")?).map_err(model_err)?;
    let chat_template = match tokenizer_config {
        Some(bytes) => {
            serde_json::from_slice::<HfTokenizerConfig>(bytes)
                .map_err(|e| model_err(format!("tokenizer_config.json: {e}")))?
                .chat_template
        }
        None => None,
    }
    .unwrap_or_else(|| CHATML_TEMPLATE.to_string());
    let tokenizer = TextTokenizer::from_json(tokenizer, cfg.bos_token_id, cfg.eos_token_id)?;
    let transformer = Transformer::new(
        shape,
        Embedding::Dense(embed),
        blocks,
        final_norm,
        lm_head,
        device.clone(),
    )?;
    Ok(Parts {
        transformer,
        tokenizer,
        chat_template,
    })
}
