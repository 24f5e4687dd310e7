#!/usr/bin/env python3
"""Streaming load against an OpenAI-compatible /v1/completions endpoint.

    loadgen.py BASE_URL MODEL CONCURRENCY REQUESTS_PER_CLIENT MAX_TOKENS [--no-prompt-cache]

Each of CONCURRENCY clients sends REQUESTS_PER_CLIENT streaming greedy
completions of its own prompt, one after another. Prints one JSON line:
generated tokens per second over the whole run (tokens from the servers'
own usage counts), time to first token (p50, p90), and totals. Standard
library only, so the same client measures every server.

--no-prompt-cache adds llama-server's `"cache_prompt": false` to each
request: llama-server otherwise starts a request from the KV cache an
earlier request left in its slot when their prompts begin alike (this
client's second prompt differs from its first only at the end), which
Blindfold never does (a cache shared between requests tells a later one,
by its time to first token, how earlier prompts began).
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

WORDS = ["apple", "river", "copper", "violin", "tiger", "purple", "window", "garden", "rocket", "silver",
         "pencil", "coffee", "dragon", "meadow", "castle", "orange"]


def one_request(base, model, prompt, max_tokens, extra):
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}, **extra})
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"status {resp.status}: {resp.read()[:200]!r}")
    first, tokens, chunks = None, None, 0
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        event = json.loads(data)
        if event.get("usage"):
            tokens = event["usage"]["completion_tokens"]
        for c in event.get("choices", []):
            if c.get("text"):
                chunks += 1
                if first is None:
                    first = time.perf_counter() - start
    conn.close()
    return first if first is not None else float("nan"), tokens if tokens is not None else chunks


def main():
    base, model = sys.argv[1], sys.argv[2]
    concurrency, per_client, max_tokens = map(int, sys.argv[3:6])
    extra = {"cache_prompt": False} if "--no-prompt-cache" in sys.argv[6:] else {}
    ttfts, tokens, lock = [], [0], threading.Lock()

    def client(i):
        w = WORDS[i % len(WORDS)]
        for r in range(per_client):
            prompt = f"{w}, {w}, {w}, {w}, {w}, {w}, {w} number {r},"
            ttft, n = one_request(base, model, prompt, max_tokens, extra)
            with lock:
                ttfts.append(ttft)
                tokens[0] += n

    one_request(base, model, "warm up, warm up,", 8, extra)
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    q = statistics.quantiles(ttfts, n=10) if len(ttfts) > 1 else [ttfts[0]] * 9
    print(json.dumps({"concurrency": concurrency, "requests": len(ttfts), "completion_tokens": tokens[0],
                      "wall_s": round(wall, 3), "tokens_per_s": round(tokens[0] / wall, 2),
                      "ttft_p50_ms": round(statistics.median(ttfts) * 1e3, 1), "ttft_p90_ms": round(q[8] * 1e3, 1)}))


if __name__ == "__main__":
    main()
