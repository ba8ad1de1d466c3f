"""``curate run --engine ray`` splits as local does when rows share a prompt: rows with the
same prompt grouped (on the workers), none of test's prompts in train (qa10 #6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dedup import key_text
from curate.split import read_chat_records
from tests.engine.helpers import compare_outputs
from tests.split.test_prompt_leakage import fastchat_like

pytestmark = pytest.mark.filterwarnings(
    # Ray's own modules warn about their deprecated APIs at import/connect time.
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)


def test_shared_prompts_split_as_local(ray_cluster, tmp_path: Path) -> None:
    data = tmp_path / "in" / "fastchat_like.json"
    data.parent.mkdir()
    data.write_text(json.dumps(fastchat_like()))
    out = {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        args = [str(data), "-o", str(out[engine]), "--test-size", "0.2", "--no-semantic"]
        result = CliRunner().invoke(main, ["run", *args, "--engine", engine])
        assert result.exit_code == 0, result.stderr
    assert compare_outputs(out["local"], out["ray"]) == []
    sides = {s: read_chat_records(str(out["ray"] / f"{s}.jsonl")) for s in ("train", "test")}
    prompts = {s: {key_text(r, "prompt") for r in recs} for s, recs in sides.items()}
    assert sides["test"] and prompts["test"].isdisjoint(prompts["train"])
    report = json.loads((out["ray"] / "report.json").read_text())
    assert report["split"]["leakage"]["key"] == "conversation"
    assert report["split"]["records_in_prompt_clusters"] > 0
    assert "split on the workers" in result.stderr
