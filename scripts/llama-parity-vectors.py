#!/usr/bin/env python3
"""Regenerates crates/engine-candle/tests/vectors/llama_cpp.json from a running
llama-server (the reference engine) on the packaged model.

    llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf --port 8088 -t 2 &
    scripts/llama-parity-vectors.py http://127.0.0.1:8088 > crates/engine-candle/tests/vectors/llama_cpp.json

The engine's tests compare our tokenizer and greedy decoding with these
vectors on every run, and with a live llama-server when one is built.
Each greedy step records the reference's two most probable tokens and their
probabilities (softmax of its logits, before sampling): a step where those
two are nearly tied may fall either way with other kernels, and the tests
accept a differing choice only there.
"""
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

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "The three primary colors are",
]

GREEDY_TOKENS = 16


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def main():
    base = sys.argv[1].rstrip("/")
    out = {"model_sha256": None, "tokenize": [], "greedy": []}
    for text in TEXTS:
        ids = post(base, "/tokenize", {"content": text, "parse_special": True})["tokens"]
        out["tokenize"].append({"text": text, "ids": ids})
    for prompt in PROMPTS:
        r = post(base, "/completion", {"prompt": prompt, "temperature": 0, "n_predict": GREEDY_TOKENS,
                                       "return_tokens": True, "cache_prompt": False, "samplers": ["top_k"],
                                       "top_k": 1, "n_probs": 2})
        top2 = [[{"id": t["id"], "p": round(math.exp(t["logprob"]), 6)} for t in step["top_logprobs"][:2]]
                for step in r["completion_probabilities"]]
        out["greedy"].append({"prompt": prompt, "tokens": r["tokens"], "top2": top2})
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
