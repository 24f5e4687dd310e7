#!/usr/bin/env python3
"""Writes the seed of the `gguf` fuzz target: a complete, tiny GGUF v3
llama model (one block, hidden size 8, a ten-token byte-level BPE
tokenizer, F32 tensors of fixed pseudo-random values), small enough for
the kept corpus (under 8 KiB). The engine loads it; the fuzzer mutates it.

    python3 fuzz/seeds/tiny_gguf.py fuzz/seeds/gguf/tiny-llama.gguf
"""
import random
import struct
import sys

ALIGN = 32
U32, F32, BOOL, STRING, ARRAY, I32 = 4, 6, 7, 8, 9, 5


def string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def value(kind, v):
    if kind == U32:
        return struct.pack("<I", v)
    if kind == I32:
        return struct.pack("<i", v)
    if kind == F32:
        return struct.pack("<f", v)
    if kind == BOOL:
        return struct.pack("<?", v)
    if kind == STRING:
        return string(v)
    item_kind, items = v
    return struct.pack("<IQ", item_kind, len(items)) + b"".join(value(item_kind, i) for i in items)


HIDDEN, HEADS, KV_HEADS, FFN = 8, 2, 1, 8
HEAD_DIM = HIDDEN // HEADS
tokens = ["<s>", "</s>", "a", "b", "c", "\u0120", "ab", "abc", "\u0120a", "c\u0120"]
types = [3, 3] + [1] * (len(tokens) - 2)
metadata = [
    ("general.architecture", STRING, "llama"),
    ("llama.block_count", U32, 1),
    ("llama.context_length", U32, 16),
    ("llama.embedding_length", U32, HIDDEN),
    ("llama.feed_forward_length", U32, FFN),
    ("llama.attention.head_count", U32, HEADS),
    ("llama.attention.head_count_kv", U32, KV_HEADS),
    ("llama.rope.freq_base", F32, 10000.0),
    ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
    ("tokenizer.ggml.model", STRING, "gpt2"),
    ("tokenizer.ggml.pre", STRING, "default"),
    ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
    ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
    ("tokenizer.ggml.merges", ARRAY, (STRING, ["a b", "ab c", "\u0120 a"])),
    ("tokenizer.ggml.bos_token_id", U32, 0),
    ("tokenizer.ggml.eos_token_id", U32, 1),
    ("tokenizer.ggml.add_bos_token", BOOL, False),
]
# (name, dims as GGUF writes them: fastest-varying first)
tensors = [
    ("token_embd.weight", [HIDDEN, len(tokens)]),
    ("output_norm.weight", [HIDDEN]),
    ("blk.0.attn_norm.weight", [HIDDEN]),
    ("blk.0.ffn_norm.weight", [HIDDEN]),
    ("blk.0.attn_q.weight", [HIDDEN, HEADS * HEAD_DIM]),
    ("blk.0.attn_k.weight", [HIDDEN, KV_HEADS * HEAD_DIM]),
    ("blk.0.attn_v.weight", [HIDDEN, KV_HEADS * HEAD_DIM]),
    ("blk.0.attn_output.weight", [HIDDEN, HIDDEN]),
    ("blk.0.ffn_gate.weight", [HIDDEN, FFN]),
    ("blk.0.ffn_up.weight", [HIDDEN, FFN]),
    ("blk.0.ffn_down.weight", [FFN, HIDDEN]),
]
rng = random.Random(7)
out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
for key, kind, v in metadata:
    out += string(key) + struct.pack("<I", kind) + value(kind, v)
data = bytearray()
for name, dims in tensors:
    count = 1
    for d in dims:
        count *= d
    out += string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
    out += struct.pack("<IQ", 0, len(data))  # F32, offset in the data section
    data += b"".join(struct.pack("<f", rng.uniform(-0.5, 0.5)) for _ in range(count))
    data += b"\0" * (-len(data) % ALIGN)
out += b"\0" * (-len(out) % ALIGN)
out += data
with open(sys.argv[1], "wb") as f:
    f.write(out)
