"""The official `openai` Python SDK against the gateway (fake backends).

Run by the Rust test `openai_sdk::the_official_python_sdk_works_against_the_gateway`,
which sets OPENAI_BASE_URL (the gateway's /v1) and OPENAI_API_KEY (a learner JWT).
"""

import openai
import pytest
from openai import OpenAI

MESSAGES = [{"role": "system", "content": "You are a tutor."}, {"role": "user", "content": "Hi!"}]


@pytest.fixture
def client():
    return OpenAI(max_retries=0)


def test_chat_completion(client):
    r = client.chat.completions.create(model="sota", messages=MESSAGES, max_tokens=64, temperature=0.3)
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "echo: Hi!"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (10, 5, 15)
    assert r._request_id  # from X-Request-ID


def test_streaming_with_usage(client):
    stream = client.chat.completions.create(
        model="cost_effective",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, roles = "", None, None, []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices:
            delta = chunk.choices[0].delta
            roles.append(delta.role)
            text += delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert roles[0] == "assistant"
    assert text == "Hello, world"
    assert finish == "stop"
    assert usage is not None and usage.total_tokens == 13


def test_a_stream_cut_mid_answer_raises(client):
    stream = client.chat.completions.create(model="cut-stream", messages=MESSAGES, stream=True)
    received = ""
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices:
                received += chunk.choices[0].delta.content or ""
    assert received == "Hello"
    # A clear error of our own, not the provider's or the HTTP client's text.
    assert caught.value.code == "provider_stream_interrupted"
    assert "azure" not in str(caught.value)


def test_embeddings(client):
    # The SDK asks for base64 by default and decodes it.
    r = client.embeddings.create(model="text-embedding-3-small", input=["ab", "abcd"], dimensions=2)
    assert [d.index for d in r.data] == [0, 1]
    assert r.data[0].embedding == [2.0, 2.5]
    assert r.data[1].embedding == [4.0, 4.5]
    assert r.usage.prompt_tokens == 6
    r = client.embeddings.create(model="text-embedding-3-small", input="abc", encoding_format="float")
    assert r.data[0].embedding == [3.0, 3.5, 4.0]


def test_models_list(client):
    assert [m.id for m in client.models.list()] == ["sota", "cost_effective", "text-embedding-3-small"]


def test_budget_exhaustion_raises_rate_limit_error():
    # Default retries: the gateway's `x-should-retry: false` stops them
    # (the Rust side checks that the router saw exactly one call).
    client = OpenAI()
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="budget-exhausted", messages=MESSAGES)
    e = caught.value
    assert e.status_code == 429
    assert e.code == "budget_exceeded"
    assert e.type == "insufficient_quota"
    assert "budget" in e.message
    assert e.request_id


def test_providers_down_raises_internal_server_error(client):
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="all-down", messages=MESSAGES)
    assert caught.value.status_code == 503
    # A learner's token: no provider or model names, what to do instead.
    assert "anthropic" not in caught.value.message
    assert "try again" in caught.value.message


def test_bad_key_raises_authentication_error():
    client = OpenAI(api_key="not-a-jwt", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_bad_request_raises_bad_request_error(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="sota", messages=[{"role": "function", "content": "x", "name": "f"}])
    assert "role" in caught.value.message


def test_models_retrieve(client):
    m = client.models.retrieve("sota")
    assert (m.id, m.object, m.owned_by) == ("sota", "model", "fluentedge")
    assert m.created > 0
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_a_parameter_the_gateway_cannot_honour_is_refused_by_name(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="sota",
            messages=MESSAGES,
            logit_bias={"50256": -100},
        )
    assert "logit_bias" in str(caught.value)


WEATHER = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


def test_tool_call_round_trip(client):
    first = client.chat.completions.create(model="sota", messages=MESSAGES, tools=WEATHER, tool_choice="auto")
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "get_weather", '{"city":"Paris"}')
    messages = MESSAGES + [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    final = client.chat.completions.create(model="sota", messages=messages, tools=WEATHER)
    assert final.choices[0].message.content == "echo: sunny"


def test_streamed_tool_calls_assemble(client):
    stream = client.chat.completions.create(model="sota", messages=MESSAGES, tools=WEATHER, stream=True)
    calls, finish = {}, None
    for chunk in stream:
        for d in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
            call["id"] = d.id or call["id"]
            call["name"] = (d.function.name if d.function else None) or call["name"]
            call["arguments"] += (d.function.arguments if d.function else "") or ""
        finish = chunk.choices[0].finish_reason or finish
    assert calls == {0: {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}}
    assert finish == "tool_calls"
