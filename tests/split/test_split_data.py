"""Split on real-shaped data: the sample set by category, a bilingual Alpaca file by language.

The issue's "done when": every stratum big enough appears in test in proportion (within one
record of the exact share), no duplicate cluster straddles train/test, reruns are
byte-identical, and the leakage check reports zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from curate.cli import main
from curate.split import SplitConfig, read_chat_records, split_records
from curate.split.allocate import min_records
from tests.split.conftest import SAMPLE

PLANTED = json.loads((SAMPLE.parent / "planted.json").read_text())
DUPLICATE_KINDS = {"exact_duplicate", "near_duplicate", "paraphrase_duplicate"}


def side_of(result) -> dict[int, str]:
    return {r.line: name for name, recs in result.splits.items() for r in recs}


def assert_proportional(result, test_size: float) -> int:
    """Every stratum big enough gives test its exact share within one record; returns count."""
    checked = 0
    for s in result.strata:
        if s.records < min_records(test_size):
            assert s.status == "too_small" and s.counts.get("test", 0) == 0
            continue
        assert abs(s.counts.get("test", 0) - s.records * test_size) <= 1, s.to_dict()
        checked += 1
    return checked


def test_sample_stratified_by_category(sample_records, sample_embeddings) -> None:
    config = SplitConfig(test_size=0.1, stratify=("category",), seed=0)
    result = split_records(sample_records, config, embeddings=sample_embeddings)
    categories = {r.data["category"] for r in sample_records}
    assert assert_proportional(result, 0.1) == len(categories) >= 5
    sides = side_of(result)
    pairs = [(p["line"], p["of_line"]) for p in PLANTED if p["kind"] in DUPLICATE_KINDS]
    assert len(pairs) == 9
    for line, of in pairs:
        assert sides[line] == sides[of], (line, of)
    assert result.stats["duplicate_clusters"] >= 6
    leak = result.report()["leakage"]
    assert leak["checked"] and leak["total"] == 0
    assert leak["methods"] == ["exact", "near", "semantic", "exact_prompt"]
    # the same call again draws the same split
    again = split_records(sample_records, config, embeddings=sample_embeddings)
    assert side_of(again) == sides


def test_bilingual_alpaca_stratified_by_language(bilingual_path: Path, embedder) -> None:
    records = read_chat_records(str(bilingual_path))
    assert records[0].data["messages"][0] == {
        "role": "user",
        "content": records[0].data["messages"][0]["content"],
    }
    from curate.chat import record_text

    emb = embedder.encode([record_text(r.data) for r in records])
    config = SplitConfig(test_size=0.2, stratify=("language",), seed=1)
    result = split_records(records, config, embeddings=emb)
    labels = {s.stratum for s in result.strata}
    assert {"en", "zh"} <= labels
    assert assert_proportional(result, 0.2) >= 2
    sides = side_of(result)
    # planted: near copy of "sky" (65 -> 19), exact repeat of row 4 (66 -> 4), exact repeat
    # of the Chinese capital question (67 -> 40)
    for line, of in [(65, 19), (66, 4), (67, 40)]:
        assert sides[line] == sides[of], (line, of)
    assert result.report()["leakage"]["total"] == 0


def test_leakage_check_repairs_a_split_drawn_without_groups(sample_records, sample_embeddings):
    from curate.dedup import DedupConfig

    config = SplitConfig(test_size=0.3, seed=4, keep_duplicates_together=False)
    # The check on dedup's key (the conversation, the key of the given vectors).
    dedup_config = DedupConfig(methods=("exact", "near", "semantic"))
    result = split_records(
        sample_records, config, embeddings=sample_embeddings, dedup_config=dedup_config
    )
    leak = result.report()["leakage"]
    assert leak["total"] == 0
    assert leak["repair_rounds"] >= 1  # the first draw leaked; the check caught and fixed it
    sides = side_of(result)
    for p in PLANTED:
        if p["kind"] in {"exact_duplicate", "near_duplicate"}:
            assert sides[p["line"]] == sides[p["of_line"]]


def test_group_field_keeps_conversations_together(sample_records) -> None:
    tagged = [r.with_data({**r.data, "user": f"u{i % 25}"}) for i, r in enumerate(sample_records)]
    config = SplitConfig(test_size=0.2, group="user", seed=2, semantic=False)
    result = split_records(tagged, config)
    users = {name: {r.data["user"] for r in recs} for name, recs in result.splits.items()}
    assert users["train"].isdisjoint(users["test"])
    assert result.stats["group_field_joins"] > 0


def test_cluster_and_length_strata(sample_records, sample_embeddings) -> None:
    config = SplitConfig(stratify=("cluster", "length"), clusters=3, length_buckets=2, seed=0)
    result = split_records(sample_records, config, embeddings=sample_embeddings)
    labels = {s.stratum for s in result.strata}
    assert all(label.startswith("cluster ") and "|tokens " in label for label in labels)
    assert 2 < len(labels) <= 6
    assert_proportional(result, 0.1)


def run_split(args: list[str]) -> object:
    return CliRunner().invoke(main, ["split", *args])


def test_cli_split_byte_identical_reruns(clean_sample_path: Path, tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        res = run_split(
            [
                str(clean_sample_path),
                "-o",
                str(tmp_path / name),
                "--stratify",
                "category",
                "--val-size",
                "0.1",
                "--seed",
                "3",
                "--json",
            ]
        )
        assert res.exit_code == 0, res.output
        report = json.loads(res.stdout)
        assert report["leakage"]["total"] == 0
        outs.append(tmp_path / name)
    files = sorted(p.name for p in outs[0].iterdir())
    assert files == ["split_report.json", "test.jsonl", "train.jsonl", "val.jsonl"]
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    counts = report["counts"]
    assert sum(counts.values()) == len(clean_sample_path.read_text().splitlines())
    assert "leakage across splits: 0" in res.stderr
    line = json.loads((outs[0] / "test.jsonl").read_text().splitlines()[0])
    assert "category" in line and "messages" in line  # extra fields travel along


def test_cli_split_bilingual_parquet_and_hf(bilingual_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = run_split(
        [
            str(bilingual_path),
            "-o",
            str(out),
            "--stratify",
            "language",
            "--test-size",
            "0.2",
            "--parquet",
            "--hf-dataset",
            "--no-semantic",
        ]
    )
    assert res.exit_code == 0, res.output
    import datasets
    import pyarrow.parquet as pq

    n_test = len((out / "test.jsonl").read_text().splitlines())
    assert pq.read_table(out / "test.parquet").num_rows == n_test
    dd = datasets.load_from_disk(str(out / "hf"))
    assert set(dd) == {"train", "test"} and dd["test"].num_rows == n_test


def test_cli_split_bad_line_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}
    )
    bad.write_text(good + "\n{oops\n")
    res = run_split([str(bad), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{bad}:2: json_decode" in res.stderr
    assert not (tmp_path / "o").exists()


def test_cli_config_section_and_flag_override(clean_sample_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("split:\n  test-size: 0.2\n  stratify: [category]\n  semantic: false\n")
    res = run_split(
        [
            str(clean_sample_path),
            "-o",
            str(tmp_path / "o"),
            "--config",
            str(cfg),
            "--test-size",
            "0.1",
            "--json",
        ]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["config"]["test_size"] == 0.1 and report["config"]["stratify"] == ["category"]
    cfg.write_text("split:\n  test_sise: 0.2\n")
    res = run_split([str(clean_sample_path), "-o", str(tmp_path / "p"), "--config", str(cfg)])
    assert res.exit_code == 2
    assert "unknown key in 'split': 'test_sise' (did you mean 'test_size'?)" in res.stderr


def test_embeddings_shape_is_checked(sample_records) -> None:
    import pytest

    with pytest.raises(ValueError, match="embeddings has 2 rows"):
        split_records(sample_records, SplitConfig(), embeddings=np.zeros((2, 3), np.float32))


def test_cli_bilingual_by_language_reruns_byte_identical(bilingual_path: Path, tmp_path: Path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        res = run_split(
            [
                str(bilingual_path),
                "-o",
                str(out),
                "--stratify",
                "language",
                "--test-size",
                "0.2",
                "--seed",
                "5",
                "--json",
            ]
        )
        assert res.exit_code == 0, res.output
        report = json.loads(res.stdout)
        assert report["leakage"]["total"] == 0
        for s in report["strata"]:
            if s["records"] >= min_records(0.2):
                assert abs(s["test"] - 0.2 * s["records"]) <= 1
        outs.append(out)
    for f in ("train.jsonl", "test.jsonl", "split_report.json"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


def test_leakage_rounds_share_one_float32_array(sample_records, sample_embeddings, monkeypatch):
    """Embeddings given in another dtype are made float32 once: every side of every pair
    in every leakage round reads rows of that one array (not a converted copy each)."""
    import curate.split as split_mod

    arrays = []
    real = split_mod.cross_duplicates

    def recording(records, vecs, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        arrays.append(vecs.array)
        arrays.append(args[2].array)  # against_embeddings
        return real(records, vecs, *args, **kwargs)

    monkeypatch.setattr(split_mod, "cross_duplicates", recording)
    config = SplitConfig(test_size=0.1, val_size=0.1, stratify=("category",), seed=0)
    as_float64 = sample_embeddings.astype(np.float64)
    result = split_records(sample_records, config, embeddings=as_float64)
    assert len(arrays) >= 6 and all(a is arrays[0] for a in arrays)
    assert arrays[0].dtype == np.float32
    want = split_records(sample_records, config, embeddings=sample_embeddings)
    assert side_of(result) == side_of(want)
