#!/usr/bin/env python3
"""Runs a freshly built llama-server once on the packaged model: one token.

    scripts/llama-smoke.py LLAMA_SERVER MODEL

Exits 0 when the server started, answered a one-token completion and was
still alive; otherwise prints how it ended (exit status or signal, last lines
of its output) and exits 1. The prompt is a fixed test string.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TIMEOUT_S = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe(code):
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exited with status {code}"


def main():
    server, model = sys.argv[1], sys.argv[2]
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [server, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", "1", "-c", "256"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            body = json.dumps({"prompt": "Hello", "n_predict": 1}).encode()
            while True:
                code = proc.poll()
                if code is not None:
                    fail(f"llama-server {describe(code)} before answering", log)
                if time.monotonic() > deadline:
                    fail(f"llama-server did not answer within {TIMEOUT_S}s", log)
                try:
                    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", body,
                                                 {"Content-Type": "application/json"})
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        answer = json.load(resp)
                    break
                except urllib.error.HTTPError as e:
                    if e.code != 503:  # 503: still loading the model
                        fail(f"llama-server answered HTTP {e.code}", log)
                    time.sleep(0.5)
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    time.sleep(0.5)
            if "content" not in answer:
                fail("llama-server's answer has no content", log)
            code = proc.poll()
            if code is not None:
                fail(f"llama-server {describe(code)} after answering", log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print("setup: llama-server answered a one-token completion", file=sys.stderr)


def fail(why, log):
    log.seek(0)
    tail = log.read().decode(errors="replace").splitlines()[-15:]
    print(f"setup: {why}; its last output lines:", file=sys.stderr)
    for line in tail:
        print(f"  {line}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
