"""The split reports its achieved share, pools tiny strata, and --strict fails a missed one.

Shape of the real case: 252 Self-Instruct rows stratified by ``motivation_app`` (71 strata,
69 too small) gave test 2 of a target of 25, exit 0.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main
from curate.split import SplitConfig, split_records
from curate.split.allocate import POOLED
from tests.dedup.dedup_data import chat, long_text, write_jsonl


def _rows() -> list[dict]:
    """2 strata of 40 records, then 60 strata of 3: 260 records."""
    rows = []
    for k in range(80):
        rows.append(chat(f"Big task {k}?", long_text(k, 20), app=["Gmail", "Slack"][k % 2]))
    for s in range(60):
        for j in range(3):
            k = 100 + s * 3 + j
            rows.append(chat(f"Small task {k}?", long_text(k, 20), app=f"App{s}"))
    return rows


def _run(*args: str):  # noqa: ANN202 - click Result
    return CliRunner().invoke(main, ["split", *args])


def test_tiny_strata_are_pooled_and_test_gets_its_share(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", _rows())
    res = _run(str(src), "-o", str(tmp_path / "s"), "--stratify", "app", "--no-semantic", "--json")
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["counts"] == {"train": 234, "test": 26}
    assert report["shares"]["test"]["achieved"] == 0.1
    assert report["shares"]["off_target"] is False
    pooled = [s for s in report["strata"] if s["stratum"] == POOLED]
    assert pooled[0]["records"] == 180 and len(pooled[0]["pooled"]) == 60
    assert "60 strata under 10 records pooled into '<other>' (180 records)" in res.stderr
    assert "test share 10.0% (26 of 260 records; target 10.0%)" in res.stderr


def test_without_pooling_the_miss_is_reported_and_strict_exits_1(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", _rows())
    args = [str(src), "-o", str(tmp_path / "s"), "--stratify", "app", "--no-semantic"]
    args.append("--overwrite")  # each run replaces the last one's folder
    loose = _run(*args, "--min-stratum", "0", "--json")
    assert loose.exit_code == 0, loose.stderr
    shares = json.loads(loose.stdout)["shares"]
    assert shares["test"]["records"] == 8 and shares["off_target"] is True
    assert "test share 3.1% (8 of 260 records; target 10.0%); OFF TARGET" in loose.stderr
    strict = _run(*args, "--min-stratum", "0", "--strict")
    assert strict.exit_code == 1
    assert _run(*args, "--strict").exit_code == 0  # pooled: on target


def test_one_small_stratum_is_not_renamed() -> None:
    from curate.records import Record

    rows = [chat(f"q{k}?", long_text(k, 20), app="big") for k in range(30)]
    rows += [chat(f"r{k}?", long_text(50 + k, 20), app="tiny") for k in range(3)]
    recs = [Record("m.jsonl", i + 1, r) for i, r in enumerate(rows)]
    cfg = SplitConfig(stratify=("app",), semantic=False, keep_duplicates_together=False)
    res = split_records(recs, cfg)
    assert [s.stratum for s in res.strata] == ["big", "tiny"]
    assert res.strata[1].status == "too_small"
