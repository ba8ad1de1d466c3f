"""eval.html rendered by real headless Chromium: the page loads, holds its tables, escapes text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from curate.evaluate import EvalConfig, JudgeSpec, SideSpec, run_eval
from tests.browser import console_lines, run_chromium
from tests.evaluate.eval_helpers import QA, chat_record, fair_judge, model_answer, write_records


def render(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_chromium(profile, *args, page.as_uri())


@pytest.fixture
def eval_html(chat_server, tmp_path) -> Path:
    chat_server.responder = lambda b: fair_judge(b) if b["model"] == "judge" else model_answer(b)
    records = [chat_record(i, *row) for i, row in enumerate(QA)]
    records.append(chat_record(99, "Show <img src=x onerror=alert(1)> as text", "ok", "qa"))
    data = write_records(tmp_path / "test.jsonl", records)
    cfg = EvalConfig(str(data), str(tmp_path / "out"), SideSpec("weak", url=chat_server.url),
                     SideSpec("good", url=chat_server.url), label_field="category",
                     judge=JudgeSpec(chat_server.url, "judge"))  # fmt: skip
    run_eval(cfg)
    return tmp_path / "out" / "eval.html"


def test_eval_html_renders_in_headless_chromium(eval_html, tmp_path):
    shot = tmp_path / "eval.png"
    proc = render(
        eval_html, tmp_path / "profile1", f"--screenshot={shot}", "--window-size=1280,2400"
    )
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert console_lines(proc.stderr) == []
    dom = render(eval_html, tmp_path / "profile2", "--dump-dom").stdout
    assert "<table" in dom and "token_f1" in dom and "rouge_l" in dom
    assert "fine-tune better on 10/10, p=0.00195 (judge; 1 ties)" in dom
    assert "win rate [95% CI]" in dom and "[" in dom and "judge" in dom
    # The record's markup stays text: escaped, never an element.
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert '<img src="x"' not in dom and "<img src=x" not in dom
    report = json.loads((eval_html.parent / "eval.json").read_text())
    # Worst first: the one comparison the fine-tune did not win is the first example shown.
    first = dom.index('class="example"')
    worst = next(e for e in report["examples"] if e["judge"]["outcome"] != "tuned")
    assert dom.index(worst["id"], first) < dom.index("r0", first)
    if os.environ.get("EVAL_SCREENSHOT"):  # to look at it: EVAL_SCREENSHOT=/tmp/eval.png
        shutil.copy(shot, os.environ["EVAL_SCREENSHOT"])
