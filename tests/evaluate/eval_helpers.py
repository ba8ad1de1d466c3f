"""Test data and a real loopback chat completions server for the evaluation tests."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# (question, reference answer, category): short answers the tiny model can memorise.
QA = [
    ("What is 2 plus 3?", "5", "math"),
    ("What is 4 plus 4?", "8", "math"),
    ("What is 9 minus 2?", "7", "math"),
    ("Say hello in French.", "Bonjour", "lang"),
    ("Say thanks in Spanish.", "Gracias", "lang"),
    ("Say yes in German.", "Ja", "lang"),
    ("Give the user as JSON.", '{"name": "Ada"}', "json"),
    ("Give the role as JSON.", '{"role": "engineer"}', "json"),
    ("Capital of France?", "Paris", "qa"),
    ("Colour of the sky?", "Blue", "qa"),
]
ANSWERS = {q: a for q, a, _ in QA}


def chat_record(i: int, q: str, a: str, cat: str) -> dict[str, Any]:
    return {
        "id": f"r{i}",
        "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        "category": cat,
    }


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# -- a real OpenAI-compatible server on loopback -------------------------------------------

Responder = Callable[[dict[str, Any]], str]


class ChatServer:
    """POST /v1/chat/completions on 127.0.0.1 (port 0 = a free one), in a thread.

    ``fail_with`` is a queue of HTTP status codes answered before any real answer (429 comes
    with ``Retry-After: 0``); ``responder(body) -> content`` makes the real answers;
    ``requests`` records every request body and its Authorization header.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_with: list[int] = []
        self.responder: Responder = lambda body: "ok"
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests.append(
                        {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                    )
                    status = server.fail_with.pop(0) if server.fail_with else 200
                if self.path != "/v1/chat/completions":
                    status = 404
                if status != 200:
                    payload = json.dumps({"error": {"message": f"status {status}"}}).encode()
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                else:
                    content = server.responder(body)
                    payload = json.dumps(
                        {
                            "id": "chatcmpl-test",
                            "object": "chat.completion",
                            "model": body.get("model"),
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content},
                                }
                            ],
                        }
                    ).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


# -- answers a scripted server gives ------------------------------------------------------


def last_user(body: dict[str, Any]) -> str:
    return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]


def model_answer(body: dict[str, Any]) -> str:
    """Model "good" answers with the reference, any other model with a wrong answer."""
    if body["model"] == "good":
        return ANSWERS.get(last_user(body), "?")
    return "I am not sure."


_BLOCK = re.compile(r"\[Response A\]\n(.*?)\n\n\[Response B\]\n(.*?)\n\nAnswer with", re.S)
_REF = re.compile(r"\[Reference answer\]\n(.*?)\n\[Response A\]", re.S)


def judge_pair(body: dict[str, Any]) -> tuple[str, str, str]:
    """(response A, response B, reference) out of the judge prompt."""
    text = body["messages"][-1]["content"]
    a, b = _BLOCK.search(text).groups()
    ref = _REF.search(text)
    return a.strip(), b.strip(), ref.group(1).strip() if ref else ""


def fair_judge(body: dict[str, Any]) -> str:
    """Prefers the response equal to the reference; tie when both or neither are."""
    a, b, ref = judge_pair(body)
    winner = "tie" if (a == ref) == (b == ref) else ("A" if a == ref else "B")
    return json.dumps({"reason": f"{winner} matches the reference", "winner": winner})


def biased_judge(body: dict[str, Any]) -> str:
    """Always prefers whatever is shown first: pure position bias."""
    return '{"reason": "the first one reads better", "winner": "A"}'
