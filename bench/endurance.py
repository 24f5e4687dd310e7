#!/usr/bin/env python3
"""Streaming chats against an OpenAI-compatible endpoint for a while.

    endurance.py BASE_URL MODEL STREAMS SECONDS MAX_TOKENS [RECEIPTS_DIR]

STREAMS clients each send streaming chat completions, one after another,
until SECONDS have passed. Each answer is one of:
- ok: it ended with `data: [DONE]`;
- cut: it started (status 200 from the enclave) and ended early (an
  enclave killed mid-stream);
- error: anything else (a non-200 status, a refused or reset connection
  before any answer).
It also reads each answer's signed receipt (the `: blindfold-receipt`
comment before `[DONE]`) and counts answers by the receipt evidence they
cite, which names the enclave boot that produced them.

With RECEIPTS_DIR, the first receipt citing each evidence is written
there as EVIDENCE_SHA256.json (the bare receipt: digests, no salt).

Prints one JSON line: requests, ok, cut, errors (with the first few
reasons), completion tokens, TTFT p50 and p99 (ms), answers per receipt
evidence, and answers without a receipt. Standard library only.
"""
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

RECEIPT = ": blindfold-receipt "


def one(base, model, prompt, max_tokens):
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    body = json.dumps({"model": model, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": prompt}]})
    start = time.perf_counter()
    first, tokens, receipt, done, started = None, 0, None, False, False
    try:
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            return "error", f"status {resp.status}: {resp.read()[:160]!r}", None, 0, None
        started = True
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith(RECEIPT):
                receipt = json.loads(line[len(RECEIPT):])
                continue
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            for c in event.get("choices", []):
                if c.get("delta", {}).get("content") and first is None:
                    first = time.perf_counter() - start
    except (OSError, http.client.HTTPException, ValueError) as e:
        if not started:
            return "error", f"{type(e).__name__}: {e}", None, 0, None
        return "cut", None, first, tokens, None
    finally:
        conn.close()
    if done:
        return "ok", None, first, tokens, receipt
    return "cut", None, first, tokens, None


def main():
    base, model = sys.argv[1], sys.argv[2]
    streams, seconds, max_tokens = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    keep = sys.argv[6] if len(sys.argv) > 6 else None
    lock = threading.Lock()
    counts = {"ok": 0, "cut": 0, "error": 0}
    reasons, ttfts, tokens, by_evidence, no_receipt = [], [], [0], {}, [0]
    deadline = time.monotonic() + seconds

    def client(i):
        n = 0
        while time.monotonic() < deadline:
            kind, why, first, got, receipt = one(base, model, f"Count to ten, client {i} round {n}.", max_tokens)
            n += 1
            with lock:
                counts[kind] += 1
                tokens[0] += got
                if first is not None and kind == "ok":
                    ttfts.append(first)
                if why and len(reasons) < 5:
                    reasons.append(why)
                if kind == "ok":
                    if receipt:
                        cited = receipt["receipt"]["evidence_sha256"]
                        by_evidence[cited] = by_evidence.get(cited, 0) + 1
                        # One receipt per enclave boot, for checking later.
                        if keep and not os.path.exists(f"{keep}/{cited}.json"):
                            with open(f"{keep}/{cited}.json", "w") as f:
                                json.dump(receipt["receipt"], f)
                    else:
                        no_receipt[0] += 1
            if kind == "error":
                time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q = statistics.quantiles(ttfts, n=100) if len(ttfts) > 1 else (ttfts or [float("nan")]) * 99
    print(json.dumps({
        "streams": streams, "seconds": seconds, "requests": sum(counts.values()), **counts,
        "error_reasons": reasons, "completion_tokens": tokens[0],
        "ttft_p50_ms": round(statistics.median(ttfts) * 1e3, 1) if ttfts else None,
        "ttft_p99_ms": round(q[98] * 1e3, 1) if ttfts else None,
        "answers_by_receipt_evidence": by_evidence, "answers_without_receipt": no_receipt[0]}))


if __name__ == "__main__":
    main()
