"""The real `openai` package against our API (run by openai_client.rs).

Usage: python openai_client.py BASE_URL MODEL [receipts]
With `receipts` (an enclave behind the proxy), also checks that answers
carry Blindfold's signed receipt where the package lets a caller see it,
while the package parses them as usual. Exits non-zero with a message when anything differs from what the
OpenAI API promises.
"""
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
receipts = sys.argv[3:] == ["receipts"]
client = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)

# models
models = client.models.list()
assert [m.id for m in models.data] == [model], models

# chat, not streaming
chat = client.chat.completions.create(
    model=model, temperature=0, max_tokens=16,
    messages=[{"role": "user", "content": "What is the capital of France?"}])
choice = chat.choices[0]
assert choice.message.role == "assistant", chat
assert choice.message.content, chat
assert choice.finish_reason in ("stop", "length"), chat
assert chat.usage.prompt_tokens > 10 and 0 < chat.usage.completion_tokens <= 16, chat.usage
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens

# chat, streaming, with usage; must agree with the non-streaming answer
stream = client.chat.completions.create(
    model=model, temperature=0, max_tokens=16, stream=True, stream_options={"include_usage": True},
    messages=[{"role": "user", "content": "What is the capital of France?"}])
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        if c.delta.content:
            pieces.append(c.delta.content)
        if c.finish_reason:
            finish = c.finish_reason
assert "".join(pieces) == choice.message.content, ("".join(pieces), choice.message.content)
assert finish == choice.finish_reason, finish
assert usage and usage.completion_tokens == chat.usage.completion_tokens, usage

# completions, with a stop sequence
comp = client.completions.create(model=model, prompt="apple, apple, apple, apple, apple,", temperature=0,
                                 max_tokens=12, stop=["apple, apple"])
assert comp.choices[0].text == " ", repr(comp.choices[0].text)
assert comp.choices[0].finish_reason == "stop", comp
comp = client.completions.create(model=model, prompt="river, river, river, river,", temperature=0, max_tokens=4)
assert "river" in comp.choices[0].text and comp.choices[0].finish_reason == "length", comp

# streaming completions
text = "".join(c.choices[0].text for c in client.completions.create(
    model=model, prompt="river, river, river, river,", temperature=0, max_tokens=4, stream=True) if c.choices)
assert text == comp.choices[0].text, (text, comp.choices[0].text)

# errors come back as the package's exceptions, with OpenAI's fields
try:
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e
try:
    client.chat.completions.create(model=model, max_tokens=-1, messages=[{"role": "user", "content": "x"}])
    raise AssertionError("negative max_tokens accepted")
except openai.BadRequestError as e:
    assert e.param == "max_tokens", e
if receipts:
    # A complete answer: the receipt in a header, the body parsed as usual.
    raw = client.chat.completions.with_raw_response.create(
        model=model, temperature=0, max_tokens=4, messages=[{"role": "user", "content": "Hi"}])
    assert raw.headers.get("blindfold-receipt"), dict(raw.headers)
    assert raw.parse().choices[0].message.content, raw.parse()
    # A streamed answer: the receipt is an SSE comment before [DONE]; the
    # package's parser skips it (the streams above went through it too).
    with client.chat.completions.with_streaming_response.create(
            model=model, temperature=0, max_tokens=4, stream=True,
            messages=[{"role": "user", "content": "Hi"}]) as response:
        lines = list(response.iter_lines())
    assert any(l.startswith(": blindfold-receipt {") for l in lines), lines
    assert lines[-1] == "data: [DONE]" or lines[-2:] == ["data: [DONE]", ""], lines[-3:]
    chunks = list(client.chat.completions.create(
        model=model, temperature=0, max_tokens=4, stream=True, messages=[{"role": "user", "content": "Hi"}]))
    assert chunks and all(c.object == "chat.completion.chunk" for c in chunks), chunks
    print("openai client: receipts seen and skipped")

print("openai client: all checks passed")
