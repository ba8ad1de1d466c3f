"""``--engine ray`` on a real two-node Ray cluster gives the local engine's answers."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from tests.conftest import SAMPLE_DATA
from tests.engine.helpers import (
    compare_outputs,
    listed_records,
    planted_shards,
    ray_run_error,
    run_allowing_rejects,
)

pytestmark = pytest.mark.filterwarnings(
    # Ray's own modules warn about their deprecated APIs at import/connect time.
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)

PLANTED_CONFIG = """\
filter:
  min_tokens: 12
dedup:
  methods: [exact, near]
  keep: longest
split:
  test_size: 0.2
  val_size: 0.1
  stratify: [category]
  # The planted rows repeat prompts: the default key groups them (tested in
  # tests/engine/test_ray_split_groups.py); these tests cover dedup's key.
  leakage_key: conversation
"""


_run = run_allowing_rejects


def test_sample_set_same_answers(ray_cluster, tmp_path: Path) -> None:
    # Embeddings computed by each engine itself (no shared cache), with the packaged static
    # model: MiniLM gives the same answers but takes minutes on a busy 2-core runner.
    config = tmp_path / "curate.yaml"
    config.write_text(
        (SAMPLE_DATA / "curate.yaml")
        .read_text()
        .replace("dedup:\n", "dedup:\n  cache_dir: false\n  model: fast\n")
    )
    sample = str(SAMPLE_DATA / "sample.jsonl")
    out, codes = {}, {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        codes[engine], err = _run(
            [sample, "-o", str(out[engine]), "--config", str(config), "--engine", engine]
        )
        assert codes[engine] in (0, 1), err
    # The audit ran on the workers (curate.engine.ray_audit); report.json still equal.
    assert "auditing the kept records on the workers" in err
    assert codes["local"] == codes["ray"]
    assert compare_outputs(out["local"], out["ray"]) == []
    rejects = [json.loads(x) for x in (out["ray"] / "rejects.jsonl").read_text().splitlines()]
    reasons = {r["reason"] for r in rejects}
    assert {"exact_duplicate", "near_duplicate", "semantic_duplicate", "json_decode"} <= reasons
    manifest = json.loads((out["ray"] / "manifest.json").read_text())
    assert manifest["balanced"] and manifest["config"]["run"]["engine"] == "ray"


def test_format_vote_is_each_files_as_local(ray_cluster, tmp_path: Path) -> None:
    # Each file of a folder votes on its own format over its own first records, on both
    # engines (qa10 #7: a folder of a chat file and an Alpaca file rejected the whole Alpaca
    # file when the vote was the whole input's); a stray row is rejected with its file's
    # vote counts, and report.json sums the files' votes.
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(2):
        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"question {k} {i} about rivers and stones"},
                    {"role": "assistant", "content": f"answer {k} {i} " + "word " * (i % 7 + 5)},
                ]
            }
            for i in range(40)
        ]
        if k == 1:
            rows.insert(3, {"conversations": [{"from": "human", "value": "hello there"}]})
        (shards / f"part-{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    alpaca = [
        {"instruction": f"Name river {i} near the stones", "output": f"River {i} " + "flows " * 9}
        for i in range(20)
    ]
    (shards / "part-2.json").write_text(json.dumps(alpaca))
    out = {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        code, err = _run([str(shards), "-o", str(out[engine]), "--no-semantic", "--engine", engine])
        assert code == 0, err
    assert compare_outputs(out["local"], out["ray"]) == []
    rejects = [json.loads(x) for x in (out["ray"] / "rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects] == ["conversion_error"]
    assert "first 41 records: chat 40, sharegpt 1" in rejects[0]["detail"]
    convert = json.loads((out["ray"] / "report.json").read_text())["convert"]
    assert convert["formats"] == {"alpaca": 20, "chat": 80}
    assert convert["format_votes"] == {"alpaca": 20, "chat": 80, "sharegpt": 1}
    assert set(convert["format_by_file"].values()) == {"alpaca", "chat"}


def test_planted_shards_same_answers(ray_cluster, tmp_path: Path) -> None:
    planted = planted_shards(tmp_path / "shards")
    config = tmp_path / "c.yaml"
    config.write_text(PLANTED_CONFIG)
    out = {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        code, err = _run(
            [
                str(tmp_path / "shards"),
                "-o",
                str(out[engine]),
                "--config",
                str(config),
                "--no-semantic",
                "--engine",
                engine,
            ]
        )
        assert code == 0, err
    # The split was drawn and written on the workers (curate.engine.ray_split).
    assert "split on the workers: train" in err, err
    assert compare_outputs(out["local"], out["ray"]) == []
    m = json.loads((out["ray"] / "manifest.json").read_text())
    by = m["rejected_by_reason"]
    assert by["exact_duplicate"] >= planted["exact"] - 2  # a copy of a copy's original counts once
    assert by["near_duplicate"] >= planted["near"] - 3
    assert by["json_decode"] == planted["bad"]
    assert by["too_few_tokens"] == planted["short"]
    assert m["input"]["records"] == 203 + planted["bad"] and m["balanced"]
    rejects = [json.loads(x) for x in (out["ray"] / "rejects.jsonl").read_text().splitlines()]
    # Exact attribution: each reject names its own shard and line (row) in that shard.
    shards = {Path(r["source"]).name for r in rejects}
    assert shards <= {"part-000.jsonl", "part-001.jsonl.gz", "part-002.parquet"}
    bad = [r for r in rejects if r["reason"] == "json_decode"]
    assert [(Path(r["source"]).name, r["line"]) for r in bad] == [
        ("part-000.jsonl", 6),
        ("part-000.jsonl", 31),
    ]


def test_split_on_workers_strata_as_local(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Strata of every kind the allocation has: big ones, small ones pooled into <other>,
    # one too small for val, rows without the field; val and test cuts found from the
    # workers' key histograms must give local's split and files byte for byte. Near copies
    # under dedup's threshold stay: the leakage check meets candidate pairs across sides,
    # and the audit's duplicate share (reusing the run's band keys) finds them.
    import random
    import re

    from curate.engine import ray_split

    # What the split brings to the driver: per-block states, histograms, the rows at the
    # cuts; never the leakage check's candidate pairs (they grow faster than the rows and
    # are verified on the workers: regression for a driver that grew with them).
    collected: list[tuple[str, ...]] = []
    real_collect = ray_split._collect

    def spy(ds, columns):  # noqa: ANN001, ANN202
        collected.append(tuple(columns))
        return real_collect(ds, columns)

    monkeypatch.setattr(ray_split, "_collect", spy)

    rng = random.Random(5)
    sizes = {"big": 260, "mid": 90, "few": 25, "p1": 5, "p2": 6, "p3": 4}
    rows = []
    for cat, k in sizes.items():
        for i in range(k):
            q = f"{cat} question {i} " + " ".join(rng.choice("abcdefghij") for _ in range(12))
            a = "answer " + " ".join(rng.choice("klmnopqrst") for _ in range(30))
            msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            row: dict = {"messages": msgs}
            if i % 17:  # some rows lack the field: stratum <missing>
                row["category"] = cat
            rows.append(row)
    for src in rng.sample(rows, 15):  # one word changed: Jaccard ~0.77, under dedup's 0.95
        words = src["messages"][1]["content"].split()
        words[15] = "zeppelin"
        copy = json.loads(json.dumps(src))
        # In the prompt: rows asking the same prompt are one group (split on the driver).
        copy["messages"][0]["content"] = copy["messages"][0]["content"][:-2] + " zeppelin"
        rows.append(copy)
    rng.shuffle(rows)
    data = tmp_path / "in"
    data.mkdir()
    for k in range(3):
        part = rows[k * len(rows) // 3 : (k + 1) * len(rows) // 3]
        (data / f"part-{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    config = tmp_path / "c.yaml"
    config.write_text(
        "dedup:\n  methods: [exact, near]\n  near_threshold: 0.95\n"
        "split:\n  test_size: 0.15\n  val_size: 0.05\n  seed: 3\n  stratify: [category]\n"
    )
    out, errs = {}, {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        code, errs[engine] = _run(
            [str(data), "-o", str(out[engine]), "--config", str(config), "--no-semantic"]
            + ["--engine", engine, "--shards", "2"]
        )
        assert code in (0, 1), errs[engine]
    assert "split on the workers: train" in errs["ray"]
    assert compare_outputs(out["local"], out["ray"]) == []
    assert collected and ("i", "j") not in collected, collected
    verified = re.findall(
        r"leak check (\w+~\w+): (\d+) candidate pairs verified, 0 at", errs["ray"]
    )
    assert {p for p, _ in verified} == {"test~train", "val~train", "test~val"}, errs["ray"]
    assert sum(int(k) for _, k in verified) >= 5  # the near copies across sides, verified there
    assert sorted(p.name for p in (out["ray"] / "shards").iterdir()) == sorted(
        p.name for p in (out["local"] / "shards").iterdir()
    )
    strata = json.loads((out["ray"] / "report.json").read_text())["split"]["strata"]
    assert {s["stratum"] for s in strata} >= {"big", "mid", "few", "<other>"}
    assert any(s["status"] == "val_too_small" for s in strata)
    report = json.loads((out["ray"] / "report.json").read_text())
    assert report["audit"]["diversity"]["near_duplicates"]["by_method"]["near"] >= 10
    # The page's listed records, placed from the workers (only those rows), as local.
    listed = listed_records(out["local"])
    assert any('data-split="test"' in x and 'data-stratum="big"' in x for x in listed)
    assert listed_records(out["ray"]) == listed


def test_split_on_workers_in_its_own_session(ray_cluster, tmp_path: Path) -> None:
    # Regression: with --ray-address and no Ray connected before (the CLI on a cluster), the
    # session ended when read + dedup returned, and the page then could not read the kept
    # rows the split had left on the workers.
    import ray

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i} about rivers and stones"},
                {"role": "assistant", "content": f"answer {i} " + "word " * (i % 9 + 5)},
            ],
            "category": "ab"[i % 2],
        }
        for i in range(60)
    ]
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = [str(data), "--no-semantic", "--stratify", "category"]
    ray.shutdown()
    try:
        code, err = _run(
            [*args, "-o", str(tmp_path / "ray"), "--engine", "ray"]
            + ["--ray-address", ray_cluster.address]
        )
    finally:
        ray.init(address=ray_cluster.address, log_to_driver=False, logging_level="WARNING")
    assert code == 0, err
    assert "split on the workers: train" in err
    code, err = _run([*args, "-o", str(tmp_path / "local")])
    assert code == 0, err
    assert compare_outputs(tmp_path / "local", tmp_path / "ray") == []


def test_worker_killed_mid_run(ray_cluster, tmp_path: Path) -> None:
    planted_shards(tmp_path / "shards")
    config = tmp_path / "c.yaml"
    config.write_text(PLANTED_CONFIG)
    out = tmp_path / "out"
    worker = next(n for n in ray_cluster.worker_nodes)
    killed = threading.Event()
    removed: list[str] = []

    def kill_when_started() -> None:
        # As soon as the first shard task has written its counters, take the node away.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed.is_set():
            if any(tmp_path.glob(".out.curate-tmp-*/.ray-work/stats/*.pkl")):
                ray_cluster.remove_node(worker, allow_graceful=False)
                removed.append("worker")
                killed.set()
                return
            time.sleep(0.05)

    t = threading.Thread(target=kill_when_started)
    t.start()
    try:
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(tmp_path / "shards"),
                "-o",
                str(out),
                "--config",
                str(config),
                "--no-semantic",
                "--engine",
                "ray",
                "--allow-rejects",
            ],
        )
    finally:
        killed.set()
        t.join()
        ray_cluster.add_node(num_cpus=1)  # later tests get their second node back
    assert removed == ["worker"]  # the node really went away while the run was going
    leftovers = list(tmp_path.glob(".out.curate-tmp-*"))
    assert leftovers == []
    if result.exit_code == 0:  # recovered through Ray's task retries: the local answer
        local = tmp_path / "local"
        code, err = _run(
            [str(tmp_path / "shards"), "-o", str(local), "--config", str(config), "--no-semantic"]
        )
        assert code == 0, err
        assert compare_outputs(local, out) == []
    else:  # or failed cleanly: one line, no output folder at all
        assert not out.exists()
        assert result.stderr.strip().count("\n") == 0, result.stderr


def test_engine_ray_without_ray_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(
        main,
        ["run", str(SAMPLE_DATA / "sample.jsonl"), "-o", str(tmp_path / "o"), "--engine", "ray"],
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "curate-finetune-data[ray]" in lines[0] and "--engine ray" in lines[0]
    assert not (tmp_path / "o").exists()


def test_dedup_command_same_answers(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative paths, from a folder that is not the workers' working directory: they must
    # mean the driver's files (and name them the same way in rejects and clusters).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample.jsonl").write_bytes((SAMPLE_DATA / "sample.jsonl").read_bytes())
    sample = "sample.jsonl"
    files = {}
    for engine in ("local", "ray"):
        d = Path(engine)
        d.mkdir()
        result = CliRunner().invoke(
            main,
            [
                "dedup",
                "--allow-rejects",
                sample,
                "-o",
                str(d / "kept.jsonl"),
                "--rejects",
                str(d / "rej.jsonl"),
                "--clusters",
                str(d / "cl.jsonl"),
                "--method",
                "exact,near",
                "--keep",
                "longest",
                "--engine",
                engine,
                "--json",
            ],
        )
        assert result.exit_code == 0, result.stderr
        files[engine] = d
        report = json.loads(result.stdout)
        assert report["removed"]["exact"] == 3 and report["removed"]["near"] == 3
    for name in ("kept.jsonl", "rej.jsonl", "cl.jsonl"):
        assert (files["local"] / name).read_bytes() == (files["ray"] / name).read_bytes(), name
    assert b'"source":"sample.jsonl"' in (files["ray"] / "rej.jsonl").read_bytes()


def test_unreadable_shard_is_one_line_error(ray_cluster, tmp_path: Path) -> None:
    import gzip

    d = tmp_path / "in"
    d.mkdir()
    (d / "a.jsonl").write_bytes((SAMPLE_DATA / "sample.jsonl").read_bytes())
    (d / "b.jsonl.gz").write_bytes(gzip.compress(b'{"messages": []}\n' * 50)[:30])  # truncated
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(d), "-o", str(out), "--no-semantic", "--engine", "ray"]
    )
    assert result.exit_code == 2
    errors = [x for x in result.stderr.splitlines() if x.startswith("Error")]
    assert errors == [
        f"Error: {d / 'b.jsonl.gz'}: cannot read: " + errors[0].split("cannot read: ")[1]
    ]
    assert "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.curate-tmp-*"))


def test_dedup_command_compares_other_formats_as_chat(ray_cluster, tmp_path: Path) -> None:
    """``curate dedup`` on a mixed file: Alpaca and ShareGPT rows are compared as chat (the
    reader converts locally, ``chat_view`` on Ray) and written as read, the same on both."""
    turns = [("Who wrote Hamlet?", "William Shakespeare."), ("Capital of Peru?", "Lima.")]
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in turns
    ]
    rows.append({"instruction": turns[0][0], "output": turns[0][1]})
    rows.append(
        {
            "conversations": [
                {"from": "human", "value": turns[1][0]},
                {"from": "gpt", "value": turns[1][1]},
            ]
        }
    )
    rows.append({"instruction": "Name a primary colour.", "output": "Red."})
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = {}
    for engine in ("local", "ray"):
        kept, rej = tmp_path / f"{engine}.jsonl", tmp_path / f"{engine}_rej.jsonl"
        args = ["dedup", str(data), "-o", str(kept), "--rejects", str(rej), "--engine", engine]
        result = CliRunner().invoke(main, [*args, "--method", "exact", "--allow-rejects"])
        assert result.exit_code == 0, result.stderr
        out[engine] = (kept.read_bytes(), rej.read_bytes())
    assert out["local"] == out["ray"]
    kept_rows = [json.loads(x) for x in out["local"][0].splitlines()]
    assert kept_rows == [rows[0], rows[1], rows[4]]  # the Alpaca row as read, not as chat
    rejected = [json.loads(x) for x in out["local"][1].splitlines()]
    assert [(r["line"], r["reason"], r["record"]) for r in rejected] == [
        (3, "exact_duplicate", rows[2]),
        (4, "exact_duplicate", rows[3]),
    ]


def test_near_leak_found_on_the_workers_is_repaired_as_local(ray_cluster, tmp_path: Path) -> None:
    # A near pair dedup cannot see: y first, x last, and between them 400 rows sharing x's
    # band keys (x plus 22 other words: Jaccard ~0.72, under the 0.75 threshold) but not
    # y's pair with x (Jaccard ~0.84): in every bucket they share, x is more than the
    # 64-neighbour window away from y. With split seed 3, x lands in test and y in train;
    # the leakage check lists test's rows then train's, x and y meet, and the split must be
    # repaired in rounds as local repairs it. The worker-side check (on the near pass's
    # carried band keys) has to find that leak, join the pair and draw again there.
    import random

    rng = random.Random(1)
    vocab = [f"w{k}" for k in range(20000)]
    x = rng.sample(vocab, 60)
    y = [*x[:50], "zeppelin", *x[51:]]

    def row(words: list[str]) -> str:
        msgs = [
            {"role": "user", "content": "Repeat the words."},
            {"role": "assistant", "content": " ".join(words)},
        ]
        return json.dumps({"messages": msgs}) + "\n"

    fillers = [row(x + rng.sample(vocab, 22)) for _ in range(400)]
    data = tmp_path / "in.jsonl"
    data.write_text(row(y) + "".join(fillers) + row(x))
    config = tmp_path / "c.yaml"
    # The check on the conversation only (no grouping of rows asking the same prompt, as all
    # of these do): the split these rows test, drawn on the workers.
    config.write_text("split:\n  test_size: 0.2\n  seed: 3\n  leakage_key: conversation\n")
    out, errs = {}, {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        code, errs[engine] = _run(
            [str(data), "-o", str(out[engine]), "--config", str(config), "--no-semantic"]
            + ["--engine", engine]
        )
        assert code in (0, 1) and out[engine].is_dir(), errs[engine]
    leakage = json.loads((out["local"] / "report.json").read_text())["split"]["leakage"]
    assert leakage["repair_rounds"] >= 1 and leakage["total"] == 0  # local did repair
    assert "drawn again (round 1)" in errs["ray"] and "split on the workers" in errs["ray"]
    assert compare_outputs(out["local"], out["ray"]) == []


def test_lost_part_is_one_line_error_and_no_output(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count the workers hand back short (a reject part file lost: one row fewer counted
    than the driver planned) ends as one line, exit 2, and no output folder, not a
    ``RuntimeError`` traceback."""
    import curate.engine.ray_stages as stages

    real = stages._collect

    def one_row_lost(ds, cols):  # noqa: ANN001, ANN202
        got = real(ds, cols)
        if "rows" in got:
            got["rows"] = np.append(got["rows"], -1)
        return got

    monkeypatch.setattr(stages, "_collect", one_row_lost)
    error = ray_run_error(tmp_path)
    assert error.startswith("Error: ray dedup: rejects written: ")
    assert "expected" in error and "run again" in error
    assert not list(tmp_path.glob(".out.curate-tmp-*"))


def test_split_count_mismatch_is_a_curate_error(tmp_path: Path) -> None:
    """The split's side files are checked against the drawn counts before they are joined:
    a short count is a ``ClusterError`` (exit 2, one line), and no side file is written."""
    from collections import Counter

    from curate.engine.ray_split import _concat
    from curate.errors import ClusterError, CurateError

    folder = tmp_path / "split"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / f"{0:012d}.jsonl").write_bytes(b"{}\n{}\n")
    got = {"side": np.array([0]), "first": np.array([0]), "rows": np.array([2])}
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(ClusterError, match=r"ray split: train rows written: 2, expected 3"):
        _concat(got, folder, ["train"], Counter({0: 3}), staging)
    assert issubclass(ClusterError, CurateError)
    assert not (staging / "train.jsonl").exists()
    _concat(got, folder, ["train"], Counter({0: 2}), staging)
    assert (staging / "train.jsonl").read_bytes() == b"{}\n{}\n"
    # The strata's side counts go through the same check (counts by side).
    from curate.engine.ray_rows import check_count

    with pytest.raises(ClusterError, match=r"ray split: stratum 'a': \{0: 2\}, expected \{0: 3"):
        check_count("ray split: stratum 'a'", {0: 2}, {0: 3})
    check_count("ray split: stratum 'a'", {0: 2, 1: 1}, {1: 1, 0: 2})


def test_rejects_name_the_keeper_passed_through_as_local(ray_cluster, tmp_path: Path) -> None:
    """A row removed by exact dedup whose keeper near dedup then removes: its reject names
    the final keeper and the one passed through (``via``), worded on the workers from the
    plan files and the keepers' ids looked up there, byte for byte as local words it."""
    import random

    rng = random.Random(3)
    words = [f"w{k}" for k in range(300)]

    def chat(q: str, a: str) -> dict:
        return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}

    rows = [
        chat(" ".join(rng.sample(words, 8)), " ".join(rng.sample(words, 40))) for _ in range(60)
    ]
    for s in (4, 30):  # S, then K (a near copy of S), then X (an exact copy of K), apart
        q, a = rows[s]["messages"][0]["content"], rows[s]["messages"][1]["content"]
        near = chat(q, a.replace(a.split()[5], "zeppelin", 1) + " indeed")
        rows.insert(s + 3, near)
        rows.insert(s + 9, json.loads(json.dumps(near)))
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(2):
        part = rows[k * 40 : (k + 1) * 40]
        (shards / f"part-{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    out = {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        code, err = _run([str(shards), "-o", str(out[engine]), "--no-semantic", "--engine", engine])
        assert code in (0, 1), err
    assert compare_outputs(out["local"], out["ray"]) == []
    rejects = [json.loads(x) for x in (out["ray"] / "rejects.jsonl").read_text().splitlines()]
    passed = [r for r in rejects if "via" in r]
    assert len(passed) == 2, rejects
    assert sorted(r["reason"] for r in rejects).count("near_duplicate") == 2


def test_survivors_follow_keepers_as_the_dict_walk() -> None:
    """The final keeper of each removed row, over arrays (``_survivors``), is what the old
    walk over a ``{removed: keeper}`` dict found, over chains of up to three methods."""
    from curate.engine.ray_stages import _survivors

    rng = np.random.default_rng(4)
    keeper_of: dict[int, int] = {}
    alive = list(range(400))
    for _method in range(3):  # each method removes some alive rows, keeps other alive ones
        rng.shuffle(alive)
        gone, kept = alive[:60], alive[60:120]
        keeper_of.update({m: int(rng.choice(kept)) for m in gone})
        alive = alive[60:]

    def walk(i: int) -> int:  # the old formula
        while i in keeper_of:
            i = keeper_of[i]
        return i

    ids = np.array(sorted(keeper_of), dtype=np.int64)
    keep = np.array([keeper_of[m] for m in ids.tolist()], dtype=np.int64)
    got = _survivors(ids, keep, keep)
    assert got.tolist() == [walk(k) for k in keep.tolist()]
    assert (got != keep).sum() > 10  # chains were walked, not only one step
    assert _survivors(ids[:0], keep[:0], keep).tolist() == keep.tolist()


def test_chains_keep_their_far_ends_as_local(ray_cluster, tmp_path: Path) -> None:
    """No chained removals on the Ray engine either (qa10 defect 5): prompts drifting a word
    at a time (a~b, b~c near duplicates, a and c not) keep both ends, and semantic chains
    as local; every reject is at or above its threshold; rejects and clusters byte for byte
    as local's (one ``keep_walk`` serves both)."""
    from tests.dedup.dedup_data import chat
    from tests.dedup.test_chains import sliding_rows

    words = [f"w{k}" for k in range(300)]
    rng = np.random.default_rng(4)
    rows = sliding_rows(10)
    rows += [chat(" ".join(rng.choice(words, 12)), "Sure.") for _ in range(30)]
    rows += [
        chat(q, "I am {{name}}, made by {{author}}.")
        for q in (
            "hi",
            "hello",
            "Who are you?",
            "Are you trained by OpenAI?",
            "Are you based on GPT-2?",
            "What is your name?",
            "Who made you?",
        )
    ]
    src = tmp_path / "chain.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = {}
    for engine in ("local", "ray"):
        d = tmp_path / engine
        d.mkdir()
        args = [
            "dedup", "--allow-rejects", str(src), "-o", str(d / "kept.jsonl"),
            "--rejects", str(d / "rej.jsonl"), "--clusters", str(d / "cl.jsonl"),
            "--method", "exact,near,semantic", "--model", "fast", "--no-cache",
            "--engine", engine,
        ]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.stderr
        files[engine] = d
    for name in ("kept.jsonl", "rej.jsonl", "cl.jsonl"):
        assert (files["local"] / name).read_bytes() == (files["ray"] / name).read_bytes(), name
    rejects = [json.loads(x) for x in (files["ray"] / "rej.jsonl").read_text().splitlines()]
    near = [r for r in rejects if r["reason"] == "near_duplicate"]
    assert near and all(r["similarity"] >= 0.75 for r in near)
    assert all(r["similarity"] >= 0.9 for r in rejects if r["reason"] == "semantic_duplicate")
    # 8648697 removed the chain's far end at Jaccard 0.64 (a component); now as a
    # semantic duplicate of the first (cosine >= 0.9), when at all.


GLAIVE_TOOLS = Path(__file__).with_name("glaive_tools.jsonl")  # real glaive records, 40


def test_run_embeds_the_tools_as_local(ray_cluster, tmp_path: Path) -> None:
    """qa10 #3: ``curate run --engine ray`` embedded the messages without the record's
    ``tools`` (``record_text``) while the local run embeds dedup's key text (tools first):
    on these real glaive records the two engines rejected different lines."""
    config = tmp_path / "curate.yaml"
    config.write_text("dedup:\n  cache_dir: false\n  model: fast\n")
    out, codes = {}, {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        codes[engine], err = _run(
            [str(GLAIVE_TOOLS), "-o", str(out[engine]), "--config", str(config), "--engine", engine]
        )
        assert codes[engine] in (0, 1), err
    assert compare_outputs(out["local"], out["ray"]) == []
    rejects = [json.loads(x) for x in (out["ray"] / "rejects.jsonl").read_text().splitlines()]
    semantic = sorted(r["line"] for r in rejects if r["reason"] == "semantic_duplicate")
    assert semantic == [23, 38]  # the local engine's answer


def test_dedup_leaves_out_texts_the_model_cannot_see_as_local(ray_cluster, tmp_path: Path) -> None:
    """qa10 #1: Chinese exchanges the fast model sees only as [UNK] (the same vector) are
    neither removed nor the cause of a removal by meaning, on Ray as locally."""
    zh = [("猫吃什么？", "猫吃鱼。"), ("羊吃什么？", "羊吃草。")]
    en = [
        ("What is the capital of France?", "Paris."),
        ("Who wrote Hamlet?", "William Shakespeare."),
        ("How do I sort a list in Python?", "Use sorted(xs) or xs.sort()."),
        ("Name a primary color.", "Red."),
        ("What is 7 times 8?", "56."),
    ]
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in zh + en
    ]
    data = tmp_path / "zh.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = {}
    for engine in ("local", "ray"):
        kept = tmp_path / f"{engine}.jsonl"
        args = ["dedup", str(data), "-o", str(kept), "--engine", engine, "--method", "semantic"]
        result = CliRunner().invoke(main, [*args, "--no-cache", "--json"])
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["removed"]["semantic"] == 0 and report["semantic_unseen"] == 2
        assert "left out 2 records" in result.stderr
        out[engine] = kept.read_bytes()
    assert out["local"] == out["ray"]
