//! Tiny random-weight models, made here: the same weights written as a
//! GGUF file (llama.cpp's layout: Q and K rows permuted for interleaved
//! RoPE) and as Hugging Face safetensors (half-split RoPE) give the same
//! logits, so both loaders, both RoPE styles and grouped-query attention
//! agree. The tokenizer is the packaged model's (only its shape matters).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::io::Cursor;

use blindfold_engine::EngineError;
use blindfold_engine_candle::model::StepInput;
use blindfold_engine_candle::ModelSource;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

const LAYERS: usize = 2;
const HIDDEN: usize = 64;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
const FFN: usize = 128;
const CONTEXT: usize = 64;

fn random(shape: &[usize], seed: u64) -> Tensor {
    // A small deterministic generator: the test needs varied numbers, not quality.
    let n: usize = shape.iter().product();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data: Vec<f32> = (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// llama.cpp's conversion permutation of Q/K rows (`convert_hf_to_gguf.py`).
fn permute(w: &Tensor, heads: usize) -> Tensor {
    let (out, inp) = w.dims2().unwrap();
    w.reshape((heads, 2, out / heads / 2, inp))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((out, inp))
        .unwrap()
}

struct TinyModel {
    gguf: Vec<u8>,
    safetensors: Vec<u8>,
    config: Vec<u8>,
    tokenizer: Vec<u8>,
}

fn tiny_model() -> TinyModel {
    let packaged = std::fs::read(common::packaged_model()).unwrap();
    let content = gguf_file::Content::read(&mut Cursor::new(&packaged)).unwrap();
    let vocab = 49152;
    let mut hf: HashMap<String, Tensor> = HashMap::new();
    let mut seed = 1;
    let mut next = |shape: &[usize]| {
        seed += 1;
        random(shape, seed)
    };
    hf.insert("model.embed_tokens.weight".into(), next(&[vocab, HIDDEN]));
    hf.insert("model.norm.weight".into(), (next(&[HIDDEN]) + 1.0).unwrap());
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        hf.insert(
            format!("{p}.input_layernorm.weight"),
            (next(&[HIDDEN]) + 1.0).unwrap(),
        );
        hf.insert(
            format!("{p}.post_attention_layernorm.weight"),
            (next(&[HIDDEN]) + 1.0).unwrap(),
        );
        hf.insert(format!("{p}.self_attn.q_proj.weight"), next(&[HIDDEN, HIDDEN]));
        hf.insert(
            format!("{p}.self_attn.k_proj.weight"),
            next(&[KV_HEADS * HEAD_DIM, HIDDEN]),
        );
        hf.insert(
            format!("{p}.self_attn.v_proj.weight"),
            next(&[KV_HEADS * HEAD_DIM, HIDDEN]),
        );
        hf.insert(format!("{p}.self_attn.o_proj.weight"), next(&[HIDDEN, HIDDEN]));
        hf.insert(format!("{p}.mlp.gate_proj.weight"), next(&[FFN, HIDDEN]));
        hf.insert(format!("{p}.mlp.up_proj.weight"), next(&[FFN, HIDDEN]));
        hf.insert(format!("{p}.mlp.down_proj.weight"), next(&[HIDDEN, FFN]));
    }
    // GGUF: the same tensors under llama.cpp's names, Q/K permuted.
    let mut gg: Vec<(String, QTensor)> = Vec::new();
    let q = |t: &Tensor| QTensor::quantize(t, GgmlDType::F32).unwrap();
    gg.push(("token_embd.weight".into(), q(&hf["model.embed_tokens.weight"])));
    gg.push(("output_norm.weight".into(), q(&hf["model.norm.weight"])));
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        let b = format!("blk.{i}");
        let t = |n: &str| hf[&format!("{p}.{n}")].clone();
        gg.push((format!("{b}.attn_norm.weight"), q(&t("input_layernorm.weight"))));
        gg.push((
            format!("{b}.ffn_norm.weight"),
            q(&t("post_attention_layernorm.weight")),
        ));
        gg.push((
            format!("{b}.attn_q.weight"),
            q(&permute(&t("self_attn.q_proj.weight"), HEADS)),
        ));
        gg.push((
            format!("{b}.attn_k.weight"),
            q(&permute(&t("self_attn.k_proj.weight"), KV_HEADS)),
        ));
        gg.push((format!("{b}.attn_v.weight"), q(&t("self_attn.v_proj.weight"))));
        gg.push((
            format!("{b}.attn_output.weight"),
            q(&t("self_attn.o_proj.weight")),
        ));
        gg.push((format!("{b}.ffn_gate.weight"), q(&t("mlp.gate_proj.weight"))));
        gg.push((format!("{b}.ffn_up.weight"), q(&t("mlp.up_proj.weight"))));
        gg.push((format!("{b}.ffn_down.weight"), q(&t("mlp.down_proj.weight"))));
    }
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("llama.block_count".into(), Value::U32(LAYERS as u32)),
        ("llama.context_length".into(), Value::U32(CONTEXT as u32)),
        ("llama.embedding_length".into(), Value::U32(HIDDEN as u32)),
        ("llama.feed_forward_length".into(), Value::U32(FFN as u32)),
        ("llama.attention.head_count".into(), Value::U32(HEADS as u32)),
        (
            "llama.attention.head_count_kv".into(),
            Value::U32(KV_HEADS as u32),
        ),
        ("llama.rope.freq_base".into(), Value::F32(10_000.0)),
        ("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(1e-5)),
    ];
    for (k, v) in &content.metadata {
        if k.starts_with("tokenizer.") {
            meta.push((k.clone(), v.clone()));
        }
    }
    let mut gguf = Cursor::new(Vec::new());
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = gg.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut gguf, &meta_refs, &tensor_refs).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("model.safetensors");
    candle_core::safetensors::save(&hf, &st).unwrap();
    let config = serde_json::json!({
        "model_type": "llama", "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "vocab_size": vocab,
        "max_position_embeddings": CONTEXT, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2,
    });
    let packaged_model = ModelSource::Gguf(&packaged).load(&Device::Cpu).unwrap();
    TinyModel {
        gguf: gguf.into_inner(),
        safetensors: std::fs::read(&st).unwrap(),
        config: config.to_string().into_bytes(),
        tokenizer: packaged_model.tokenizer.to_json().unwrap().into_bytes(),
    }
}

fn logits(model: &blindfold_engine_candle::LoadedModel, tokens: &[u32]) -> Vec<f32> {
    let mut cache = model.transformer.new_cache(tokens.len());
    // The prompt in two chunks, to use the cache and the causal mask.
    let (a, b) = tokens.split_at(tokens.len() / 2);
    model
        .transformer
        .forward(&mut [StepInput {
            tokens: a,
            cache: &mut cache,
        }])
        .unwrap();
    model
        .transformer
        .forward(&mut [StepInput {
            tokens: b,
            cache: &mut cache,
        }])
        .unwrap()
        .remove(0)
}

#[test]
fn gguf_and_safetensors_of_the_same_weights_agree() {
    let tiny = tiny_model();
    let gguf = ModelSource::Gguf(&tiny.gguf).load(&Device::Cpu).unwrap();
    let st = ModelSource::Safetensors {
        weights: &tiny.safetensors,
        config: &tiny.config,
        tokenizer: &tiny.tokenizer,
        tokenizer_config: None,
    }
    .load(&Device::Cpu)
    .unwrap();
    let text = "Tiny models check shapes: 12345, héllo, 日本";
    let tokens = gguf.tokenizer.encode(text).unwrap();
    assert_eq!(tokens, st.tokenizer.encode(text).unwrap());
    let (a, b) = (logits(&gguf, &tokens), logits(&st, &tokens));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let scale = a.iter().map(|x| x.abs()).fold(0f32, f32::max);
    assert!(scale > 0.01, "degenerate logits");
    assert!(
        worst < 1e-3 * scale.max(1.0),
        "logits differ by {worst} (scale {scale})"
    );
    assert_eq!(gguf.transformer.shape().kv_heads, KV_HEADS);
    // The identity the enclave measures: SHA-256 of the weights file.
    use sha2::Digest as _;
    let digest = |b: &[u8]| -> [u8; 32] { sha2::Sha256::digest(b).into() };
    assert_eq!(gguf.weights_sha256, digest(&tiny.gguf));
    assert_eq!(st.weights_sha256, digest(&tiny.safetensors));
}

#[test]
fn a_sequence_past_the_context_is_refused() {
    let tiny = tiny_model();
    let gguf = ModelSource::Gguf(&tiny.gguf).load(&Device::Cpu).unwrap();
    let tokens = vec![42u32; CONTEXT + 1];
    let mut cache = gguf.transformer.new_cache(CONTEXT);
    let err = gguf
        .transformer
        .forward(&mut [StepInput {
            tokens: &tokens,
            cache: &mut cache,
        }])
        .err()
        .unwrap();
    assert!(
        matches!(err, EngineError::ContextTooLong { limit: CONTEXT, .. }),
        "{err:?}"
    );
}

#[test]
fn unsupported_models_are_named() {
    let err = ModelSource::Gguf(b"not a gguf file at all")
        .load(&Device::Cpu)
        .err()
        .unwrap();
    assert!(matches!(err, EngineError::Model(_)), "{err:?}");
    let tiny = tiny_model();
    let config = String::from_utf8(tiny.config)
        .unwrap()
        .replace("\"llama\"", "\"mamba\"");
    let err = ModelSource::Safetensors {
        weights: &tiny.safetensors,
        config: config.as_bytes(),
        tokenizer: &tiny.tokenizer,
        tokenizer_config: None,
    }
    .load(&Device::Cpu)
    .err()
    .unwrap();
    assert!(err.to_string().contains("mamba"), "{err}");
}
