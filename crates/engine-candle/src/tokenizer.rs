//! The model's tokenizer, built with the `tokenizers` crate from a GGUF
//! file's `tokenizer.ggml.*` metadata or from a `tokenizer.json`.
//!
//! GGUF stores a byte-level BPE tokenizer as its token strings, merges,
//! token types and the name of its pre-tokenizer (`tokenizer.ggml.pre`,
//! llama.cpp's names). Each supported name maps to the split rules that
//! llama.cpp applies; an unknown name is an error, not a guess, because a
//! wrong split gives different token ids and so different answers.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use blindfold_engine::EngineError;

/// GGUF token type of control tokens (`<|im_start|>`, `</s>`).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of user-defined tokens (parsed like control tokens).
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Llama 3's split rule (llama.cpp `LLAMA_VOCAB_PRE_TYPE_LLAMA3`).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split rule (llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`).
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer's own error messages can quote the text: ours do not.
const REJECTED: &str = "the tokenizer rejected the input";

/// Token names that end a turn in the chat formats we know.
const END_OF_TURN_NAMES: &[&str] = &["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>", "<|end|>"];

/// A tokenizer plus what generation needs to know about special tokens.
pub struct TextTokenizer {
    inner: Tokenizer,
    bos: Option<u32>,
    add_bos: bool,
    end_tokens: Vec<u32>,
    eos_name: String,
    bos_name: String,
}

fn meta<'a>(content: &'a Content, key: &str) -> Result<&'a Value, EngineError> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| EngineError::Tokenizer(format!("GGUF metadata has no `{key}`")))
}

fn meta_u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl TextTokenizer {
    /// Builds the tokenizer from GGUF metadata.
    pub fn from_gguf(content: &Content) -> Result<Self, EngineError> {
        let bad = |e: candle_core::Error| EngineError::Tokenizer(e.to_string());
        let model = meta(content, "tokenizer.ggml.model")?.to_string().map_err(bad)?;
        if model != "gpt2" {
            return Err(EngineError::Tokenizer(format!(
                "GGUF tokenizer model `{model}` is not byte-level BPE; put the model's tokenizer.json beside the weights"
            )));
        }
        let pre = match content.metadata.get("tokenizer.ggml.pre") {
            Some(v) => v.to_string().map_err(bad)?.clone(),
            None => "default".to_string(),
        };
        let tokens: Vec<String> = meta(content, "tokenizer.ggml.tokens")?
            .to_vec()
            .map_err(bad)?
            .iter()
            .map(|v| v.to_string().cloned().map_err(bad))
            .collect::<Result<_, _>>()?;
        let merges: Vec<(String, String)> = meta(content, "tokenizer.ggml.merges")?
            .to_vec()
            .map_err(bad)?
            .iter()
            .map(|v| {
                let m = v.to_string().map_err(bad)?;
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| EngineError::Tokenizer("a merge is not two tokens".into()))
            })
            .collect::<Result<_, _>>()?;
        let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(bad)?
                .iter()
                .map(|t| t.to_i32().map_err(bad))
                .collect::<Result<_, _>>()?,
            None => vec![1; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| EngineError::Tokenizer(format!("building BPE: {e}")))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer(&pre)?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(types.iter())
            .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL || **t == TOKEN_TYPE_USER_DEFINED)
            .map(|(tok, _)| AddedToken::from(tok.clone(), true))
            .collect();
        inner
            .add_special_tokens(special)
            .map_err(|e| EngineError::Tokenizer(format!("adding special tokens: {e}")))?;
        let bos = meta_u32(content, "tokenizer.ggml.bos_token_id");
        let eos = meta_u32(content, "tokenizer.ggml.eos_token_id");
        let add_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let name = |id: Option<u32>| {
            id.and_then(|i| tokens.get(i as usize).cloned())
                .unwrap_or_default()
        };
        let end_tokens = end_tokens(&inner, eos);
        Ok(TextTokenizer {
            bos_name: name(bos),
            eos_name: name(eos),
            inner,
            bos,
            add_bos,
            end_tokens,
        })
    }

    /// Loads a `tokenizer.json` (Hugging Face format).
    pub fn from_json(bytes: &[u8], bos: Option<u32>, eos: Option<u32>) -> Result<Self, EngineError> {
        let inner = Tokenizer::from_bytes(bytes)
            .map_err(|e| EngineError::Tokenizer(format!("tokenizer.json: {e}")))?;
        let name = |id: Option<u32>| id.and_then(|i| inner.id_to_token(i)).unwrap_or_default();
        let end_tokens = end_tokens(&inner, eos);
        Ok(TextTokenizer {
            bos_name: name(bos),
            eos_name: name(eos),
            inner,
            bos,
            // tokenizer.json carries its own post-processor for BOS.
            add_bos: false,
            end_tokens,
        })
    }

    /// Token ids of `text`; special-token strings in it (`<|im_start|>`)
    /// become their special ids, as in llama.cpp with `parse_special`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        let enc = self
            .inner
            .encode_fast(text, true)
            .map_err(|_| EngineError::Tokenizer(REJECTED.into()))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            if let Some(bos) = self.bos {
                ids.push(bos);
            }
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, EngineError> {
        self.inner
            .decode(ids, true)
            .map_err(|_| EngineError::Tokenizer(REJECTED.into()))
    }

    /// Whether `id` ends generation (end of sequence or end of turn).
    pub fn is_end(&self, id: u32) -> bool {
        self.end_tokens.contains(&id)
    }

    /// The beginning-of-sequence token's text (for chat templates).
    pub fn bos_text(&self) -> &str {
        &self.bos_name
    }

    /// The end-of-sequence token's text (for chat templates).
    pub fn eos_text(&self) -> &str {
        &self.eos_name
    }

    /// The tokenizer in Hugging Face `tokenizer.json` form (to ship a GGUF
    /// model's tokenizer beside safetensors weights).
    pub fn to_json(&self) -> Result<String, EngineError> {
        self.inner
            .to_string(false)
            .map_err(|e| EngineError::Tokenizer(format!("serialising: {e}")))
    }
}

/// The end-of-sequence token and every end-of-turn token the vocabulary has.
fn end_tokens(inner: &Tokenizer, eos: Option<u32>) -> Vec<u32> {
    let mut end: Vec<u32> = eos.into_iter().collect();
    end.extend(END_OF_TURN_NAMES.iter().filter_map(|n| inner.token_to_id(n)));
    end.sort_unstable();
    end.dedup();
    end
}

fn pre_tokenizer(name: &str) -> Result<PreTokenizerWrapper, EngineError> {
    let split = |pattern: &str| -> Result<PreTokenizerWrapper, EngineError> {
        Split::new(
            SplitPattern::Regex(pattern.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map(Into::into)
        .map_err(|e| EngineError::Tokenizer(format!("split rule: {e}")))
    };
    let parts: Vec<PreTokenizerWrapper> = match name {
        // GPT-2's rule, applied by the byte-level pre-tokenizer itself.
        "default" | "gpt2" => vec![ByteLevel::new(false, true, true).into()],
        // Single digits first, then GPT-2's rule.
        "smollm" => vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()],
        "llama3" | "llama-bpe" | "smaug-bpe" => {
            vec![split(LLAMA3_SPLIT)?, ByteLevel::new(false, true, false).into()]
        }
        "qwen2" => vec![split(QWEN2_SPLIT)?, ByteLevel::new(false, true, false).into()],
        other => {
            return Err(EngineError::Tokenizer(format!(
                "pre-tokenizer `{other}` is not supported (known: default, gpt2, smollm, llama-bpe, qwen2)"
            )))
        }
    };
    Ok(Sequence::new(parts).into())
}
