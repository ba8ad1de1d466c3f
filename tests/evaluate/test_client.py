"""The chat completions client against a real loopback server: retries, errors, rate limit."""

from __future__ import annotations

import pytest

from curate.errors import ConfigError
from curate.evaluate.client import ChatClient, EndpointError, RateLimiter

MSG = [{"role": "user", "content": "hi"}]


def test_retries_429_and_500_then_succeeds(chat_server):
    chat_server.fail_with = [429, 500, 503]
    chat_server.responder = lambda body: "hello"
    client = ChatClient(chat_server.url, "m", api_key="sk-test", backoff=0.001)
    assert client.complete(MSG, temperature=0) == "hello"
    assert len(chat_server.requests) == 4
    assert client.stats == {"requests": 4, "retries": 3}
    first = chat_server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-test"
    assert first["body"] == {"model": "m", "messages": MSG, "temperature": 0}


def test_gives_up_after_retries_with_a_one_line_error(chat_server):
    chat_server.fail_with = [500] * 10
    client = ChatClient(chat_server.url, "m", max_retries=2, backoff=0.001)
    with pytest.raises(EndpointError, match=r"failed after 3 attempts: HTTP 500"):
        client.complete(MSG)
    assert len(chat_server.requests) == 3


def test_client_errors_are_not_retried(chat_server):
    chat_server.fail_with = [400]
    client = ChatClient(chat_server.url, "m", backoff=0.001)
    with pytest.raises(EndpointError, match="HTTP 400"):
        client.complete(MSG)
    assert len(chat_server.requests) == 1


def test_no_key_sends_no_header_and_full_url_is_accepted(chat_server):
    client = ChatClient(chat_server.url + "/chat/completions", "m")
    assert client.complete(MSG) == "ok"
    assert chat_server.requests[0]["auth"] is None


def test_unreachable_endpoint_fails_after_retries():
    client = ChatClient("http://127.0.0.1:9/v1", "m", max_retries=1, backoff=0.001, timeout=2)
    with pytest.raises(EndpointError, match="failed after 2 attempts"):
        client.complete(MSG)


def test_bad_url_is_a_config_error():
    with pytest.raises(ConfigError, match="must start with http"):
        ChatClient("localhost:8000", "m")


def test_rate_limiter_spaces_requests():
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    waits = [limiter.wait() for _ in range(3)]
    assert waits == [0.0, 0.25, 0.25]
    now[0] += 1.0  # idle for a second: the next request goes at once
    assert limiter.wait() == 0.0
    assert slept == [0.25, 0.25]
    assert RateLimiter(0).wait() == 0.0


class _Recorder:
    """A loopback server that answers any GET/POST with a chat completion and records it."""

    def __init__(self, redirect_to: str | None = None, status: int = 302) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, str | None]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                rec.requests.append((self.command, self.headers.get("Authorization")))
                if redirect_to:
                    self.send_response(status)
                    self.send_header("Location", redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = b'{"choices": [{"message": {"role": "assistant", "content": "stolen"}}]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_and_the_key_never_leaves(status: int) -> None:
    """Issue 16 #5: a 302 to another host got the Bearer key and a GET answer was used."""
    other = _Recorder()
    endpoint = _Recorder(redirect_to=other.url, status=status)
    try:
        client = ChatClient(endpoint.url + "/v1", "m", api_key="sk-secret", backoff=0.001)
        with pytest.raises(EndpointError, match=f"HTTP {status} redirect to {other.url}"):
            client.complete(MSG)
        assert endpoint.requests == [("POST", "Bearer sk-secret")]  # asked once, not retried
        assert other.requests == []  # the other host saw nothing, key or not
    finally:
        endpoint.close()
        other.close()
