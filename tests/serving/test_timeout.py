"""The request timeout that replaces BentoML's: the same answers, no timer left armed."""

from __future__ import annotations

import asyncio

from scoreline.serving.timeout import RequestTimeout


async def call(app, timeout: float) -> tuple[list[dict], list[asyncio.TimerHandle]]:
    """``app`` behind :class:`RequestTimeout`: the messages sent and the timers armed."""
    loop = asyncio.get_running_loop()
    armed, call_later = [], loop.call_later

    def recording(*args, **kwargs):
        armed.append(call_later(*args, **kwargs))
        return armed[-1]

    loop.call_later = recording
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    try:
        await RequestTimeout(app, timeout=timeout)({"type": "http", "path": "/predict"}, receive, send)
    finally:
        del loop.call_later
    return sent, armed


async def answer(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def too_slow(scope, receive, send):
    await asyncio.sleep(5)
    await answer(scope, receive, send)


def test_an_answered_request_leaves_no_timer_armed():
    sent, armed = asyncio.run(call(answer, timeout=300))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200 and len(armed) == 1 and armed[0].cancelled()


def test_a_request_that_does_not_start_its_answer_in_time_gets_a_504():
    sent, _ = asyncio.run(call(too_slow, timeout=0.05))
    assert sent[0]["status"] == 504 and b"0.05 seconds" in sent[1]["body"]


def test_bentoml_builds_its_timeout_middleware_from_ours_once_installed(monkeypatch):
    from bentoml._internal.server.base_app import BaseAppFactory
    from bentoml._internal.server.http import traffic

    from scoreline.serving.timeout import use_in_bentoml

    class App(BaseAppFactory):  # the smallest concrete app factory: only the timeout set
        name = "probe"
        timeout, max_concurrency = 300, None

        def __init__(self):
            pass

    monkeypatch.setattr(traffic, "TimeoutMiddleware", traffic.TimeoutMiddleware)  # undone after
    use_in_bentoml()
    assert [m.cls for m in App().middlewares] == [RequestTimeout]
