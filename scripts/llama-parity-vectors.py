#!/usr/bin/env python3
"""Regenerates crates/engine-candle/tests/vectors/llama_cpp.json from a running
llama-server (the reference engine) on the packaged model.

    llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf --port 8088 \
        -t 2 -np 1 -c 2048 -b 2048 -ub 512 -ctk f16 -ctv f16 -fa off &
    scripts/llama-parity-vectors.py http://127.0.0.1:8088 > crates/engine-candle/tests/vectors/llama_cpp.json

Those settings are fixed (the tests start llama-server with the same ones,
`blindfold_testdata::llama_server_command`): one slot, two threads, the
KV cache in f16 (as our engine rounds it), the default batch sizes, so a
prompt is evaluated in one batch, and flash attention off (`auto` turns it
on for the CPU; the engine rounds attention as llama.cpp's plain path
does).

The engine's tests compare our tokenizer and greedy decoding with these
vectors on every run, and with a live llama-server when one is built.
Each greedy step records the reference's two most probable tokens and their
probabilities (softmax of its logits, before sampling): a step where those
two are nearly tied may fall either way with other kernels, and the tests
accept a differing choice only there.
"""
import hashlib
import math
import json
import sys
import urllib.request

# Also read by crates/engine-candle/tests/parity.rs for the live comparison.
TEXTS = [
    "Hello world",
    "  leading spaces and trailing   ",
    "Numbers: 12345 67.89 -0.5e10 and 2026-11-24",
    "Unicode: naïve café, Ünïcödé, Ελληνικά, русский",
    "Emoji: 🙂👍🏽🚀 and a family 👨‍👩‍👧",
    "CJK: 日本語のテキスト、中文文本，한국어 텍스트",
    "Code: fn main() { println!(\"{}\", x[0] + 1); }\n\tif a != b { return; }",
    "Specials: <|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
    "Mixed\r\nline\nendings\n\n\nand tabs\t\t.",
    "URL https://example.org/a?b=c&d=e#f and e-mail x@y.z",
]

# SmolLM2's chat template, as the engine applies it to a chat request.
SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


def chat(user):
    return f"{SYSTEM}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "The three primary colors are",
    chat("What is the capital of France? Answer in one sentence."),
    chat("Write a haiku about the sea."),
    chat("List three uses of copper, one per line."),
    chat("Translate 'good morning' into Spanish and German."),
]

# Every stream runs this long: end-of-text is not a stop here
# (`ignore_eos`), so each prompt gives the same number of steps.
GREEDY_TOKENS = 32


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def main():
    base = sys.argv[1].rstrip("/")
    # The model the server has loaded, named by its own /props.
    with urllib.request.urlopen(base + "/props", timeout=120) as r:
        model_path = json.load(r)["model_path"]
    with open(model_path, "rb") as f:
        model_sha256 = hashlib.sha256(f.read()).hexdigest()
    # With `ignore_eos` llama.cpp never picks end-of-text, but the
    # probabilities it reports still include it: the tests skip it too.
    with urllib.request.urlopen(base + "/props", timeout=120) as r:
        eos_text = json.load(r)["eos_token"]
    eos = post(base, "/tokenize", {"content": eos_text, "parse_special": True})["tokens"][0]
    out = {"model_sha256": model_sha256, "ignored_eos": eos, "tokenize": [], "greedy": []}
    for text in TEXTS:
        ids = post(base, "/tokenize", {"content": text, "parse_special": True})["tokens"]
        out["tokenize"].append({"text": text, "ids": ids})
    for prompt in PROMPTS:
        r = post(base, "/completion", {"prompt": prompt, "temperature": 0, "n_predict": GREEDY_TOKENS,
                                       "return_tokens": True, "cache_prompt": False, "samplers": ["top_k"],
                                       "top_k": 1, "n_probs": 3, "ignore_eos": True})
        top2 = [[{"id": t["id"], "p": round(math.exp(t["logprob"]), 6)} for t in step["top_logprobs"]
                 if t["id"] != eos][:2]
                for step in r["completion_probabilities"]]
        out["greedy"].append({"prompt": prompt, "tokens": r["tokens"], "top2": top2})
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
