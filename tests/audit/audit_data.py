"""Test data for the audit tests: small chat sets with known problems and a clean baseline.

(A uniquely named module rather than conftest.py, so ``from audit_data import ...`` cannot pick
up another folder's conftest.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.records import Record

TOPICS = [
    ("water a cactus", "garden"),
    ("sort a list in Python", "coding"),
    ("brew green tea", "cooking"),
    ("write a cover letter", "writing"),
    ("back up a laptop", "computers"),
    ("train for a 5k run", "fitness"),
    ("read a bus timetable", "travel"),
    ("plan a weekly budget", "finance"),
    ("clean a cast iron pan", "cooking"),
    ("learn ten new words a day", "language"),
    ("prune a rose bush", "garden"),
    ("fix a flat bicycle tyre", "repair"),
    ("start a vegetable patch", "garden"),
    ("debug a failing unit test", "coding"),
    ("prepare for a job interview", "career"),
    ("store fresh herbs", "cooking"),
    ("choose a running shoe", "fitness"),
    ("write a thank you note", "writing"),
    ("set up a home printer", "computers"),
    ("pack for a weekend trip", "travel"),
    ("save for a holiday", "finance"),
    ("bake sourdough bread", "cooking"),
    ("paint a small bedroom", "repair"),
    ("revise for a history exam", "study"),
    ("organise a messy desk", "home"),
    ("care for a new puppy", "pets"),
    ("choose a good password", "computers"),
    ("meditate for ten minutes", "health"),
    ("stretch after a long walk", "fitness"),
    ("take notes in a lecture", "study"),
    ("compost kitchen scraps", "garden"),
    ("negotiate a salary offer", "career"),
    ("photograph a sunset", "hobby"),
    ("knit a simple scarf", "hobby"),
    ("repot a house plant", "garden"),
    ("file a tax return on time", "finance"),
    ("memorise a short speech", "study"),
    ("wash a wool jumper", "home"),
    ("tune a guitar by ear", "hobby"),
    ("host a board game night", "hobby"),
]

STEPS = [
    "First, gather what you need and give yourself a little time.",
    "Next, work through it slowly and check each part as you go.",
    "Then look back at the result and fix anything that seems off.",
    "Finally, write down what worked so the next attempt is easier.",
]


def chat(user: str | None, assistant: str | None, system: str | None = None, **extra: Any) -> dict:
    """One chat record; None leaves a turn out."""
    msgs = []
    if system is not None:
        msgs.append({"role": "system", "content": system})
    if user is not None:
        msgs.append({"role": "user", "content": user})
    if assistant is not None:
        msgs.append({"role": "assistant", "content": assistant})
    return {"messages": msgs, **extra}


def clean_rows(n: int = len(TOPICS)) -> list[dict]:
    """Plain, consistent English Q&A with distinct prompts: no audit finding applies."""
    rows = []
    for i, (topic, category) in enumerate(TOPICS[:n]):
        steps = " ".join(STEPS[j % 4] for j in range(i % 3, i % 3 + 3))
        answer = (
            f"Here is a simple way to {topic}. {steps} "
            f"Most people find that the whole thing takes less effort than they expected."
        )
        rows.append(
            chat(
                f"How do I {topic}? I have never done it before.",
                answer,
                system="You are a helpful assistant.",
                meta={"category": category},
            )
        )
    return rows


def as_records(rows: list[dict], source: str = "mem.jsonl") -> list[Record]:
    return [Record(source, i, row, i) for i, row in enumerate(rows, start=1)]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            fh.write("\n")
    return path


_IDENTITY_PAIRS = [
    (
        "hi",
        "Hello! I am {{name}}, an AI assistant developed by {{author}}. "
        "How can I assist you today?",
    ),
    (
        "Who are you?",
        "I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today?",
    ),
    (
        "What can you do for me?",
        "I can answer questions, explain ideas, help you plan your work and write drafts of "
        "letters or reports.",
    ),
    (
        "你好",
        "您好，我是 {{name}}，一个由 {{author}} 开发的 AI 助手，很高兴认识您。"
        "请问我能为您做些什么？",
    ),
    (
        "你好",
        "您好，我是 {{name}}，一个由 {{author}} 打造的人工智能助手，请问有什么可以帮助您的吗？",
    ),
    (
        "你是谁？",
        "您好，我是 {{name}}，一个由 {{author}} 发明的人工智能助手。"
        "我可以回答各种问题，提供实用的建议和帮助。",
    ),
    (
        "你为什么存在？",
        "我存在的目的是为了成为一个人工智能助手，为用户提供智能化的回答和解决方案，帮助他们解决问题。",
    ),
    ("你是谁？", "您好，我是 {{name}}，由 {{author}} 开发，旨在为用户提供智能化的回答和帮助。"),
    (
        "你会保护用户的隐私吗？",
        "保护用户隐私是我的首要任务。我会尽最大努力确保用户的隐私和数据安全。",
    ),
]
IDENTITY_LIKE = [{"instruction": q, "input": "", "output": a} for q, a in _IDENTITY_PAIRS]
"""An Alpaca JSON array shaped like LLaMA-Factory's identity.json: English and Chinese,
two prompts asked twice with different answers (records 4/5 and 6/8), placeholders in
records 1, 2, 4, 5, 6 and 8."""
