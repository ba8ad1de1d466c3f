"""Planted-duplicate shards and output comparison for the engine tests."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu river stone "
    "cloud forest market engine bridge garden window silver copper planet"
).split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _chat(q: str, a: str, **extra: object) -> dict:
    return {
        "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        **extra,
    }


def planted_shards(root: Path, seed: int = 7) -> dict[str, int]:
    """Three shards (JSONL, JSONL.gz, Parquet) with exact, near and cross-shard duplicates.

    Returns the planted counts: exact copies, near copies, unreadable lines, short records.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    originals = [
        _chat(_text(rng, 12), _text(rng, 40), category=rng.choice(["a", "b", "c"]))
        for _ in range(150)
    ]
    rows = list(originals)
    planted = {"exact": 0, "near": 0, "bad": 2, "short": 3}
    for _ in range(25):  # exact copies, often in another shard
        rows.append(json.loads(json.dumps(rng.choice(originals))))
        planted["exact"] += 1
    for _ in range(25):  # one word changed, one appended: Jaccard well above 0.75
        src = rng.choice(originals)
        words = src["messages"][1]["content"].split()
        words[rng.randrange(len(words))] = "zeppelin"
        copy = _chat(
            src["messages"][0]["content"], " ".join(words) + " indeed", category=src["category"]
        )
        rows.append(copy)
        planted["near"] += 1
    for _ in range(planted["short"]):
        rows.append(_chat("hi", "ok", category="a"))
    rng.shuffle(rows)
    thirds = [rows[:80], rows[80:160], rows[160:]]
    root.mkdir(parents=True, exist_ok=True)
    lines = [orjson.dumps(r).decode() for r in thirds[0]]
    lines.insert(5, '{"messages": [broken')
    lines.insert(20, "")
    lines.insert(30, "not json at all")
    (root / "part-000.jsonl").write_text("\n".join(lines) + "\n")
    with gzip.open(root / "part-001.jsonl.gz", "wt") as fh:
        fh.write("".join(orjson.dumps(r).decode() + "\n" for r in thirds[1]))
    table = pa.Table.from_pylist(thirds[2])
    pq.write_table(table, root / "part-002.parquet")
    return planted


def compare_outputs(a: Path, b: Path) -> list[str]:
    """Names of output files that differ (the manifest compared without its engine fields)."""
    diff = []
    names = sorted(p.name for p in a.iterdir() if p.is_file())
    assert names == sorted(p.name for p in b.iterdir() if p.is_file())
    for name in names:
        # report.html is a view: under ray its duplicates section has per-method counts but no
        # cluster browser (the workers hold the removed records); its data is report.json.
        if name in ("manifest.json", "report.json", "report.html"):
            continue
        if (a / name).read_bytes() != (b / name).read_bytes():
            diff.append(name)
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    for m in (ma, mb):
        m["config"]["run"].pop("engine")
        m["config"]["run"].pop("ray_address")
        m["sha256"].pop("report.json")
        m["sha256"].pop("report.html")
    if ma != mb:
        diff.append("manifest.json")
    # report.json: the validate / convert counters merged from the shards' workers, the
    # dedup stats and the audit must match too; only the engine's name may differ.
    ra, rb = (json.loads((p / "report.json").read_text()) for p in (a, b))
    rb["dedup"].pop("engine")
    for r in (ra, rb):
        r["dedup"].pop("embedder", None)  # local names its embedder and cache figures
        r["dedup"].pop("embedding_cache", None)
        r["dedup"].pop("embedding_seconds", None)
    if ra != rb:
        diff.append("report.json")
    return diff


def audit_set(path: Path, seed: int = 3, n: int = 400) -> None:
    """A chat JSONL with every kind of audit finding: conflicting answers, placeholders,
    repetition, short answers, refusals, missing user turns, other languages, style
    outliers, system prompts, labels, duplicates, a non-chat record and unreadable lines."""
    rng = random.Random(seed)
    systems = ["You are a helpful assistant.", "Answer briefly.", "You are a pirate."]
    rows: list[str] = []
    for i in range(n):
        q = _text(rng, rng.randint(4, 14))
        a = _text(rng, rng.choice([3, 20, 40, 60, 120, 400]))
        kind = i % 23
        if kind == 1:
            a = f"Dear [Your Name], {a} {{{{customer_name}}}}"
        elif kind == 2:
            a = "I'm sorry, but I can't help with that request."
        elif kind == 3:
            a = ("same words again " * 30).strip()
        elif kind == 4:
            a = "ok"
        elif kind == 5:
            q = "Explain why the sky is blue"
            a = "because" if i % 2 else "Rayleigh scattering of sunlight by air molecules " * 3
        elif kind == 6:
            q, a = "Wie spät ist es heute Abend in Berlin?", "It is late evening in Berlin now."
        elif i % 47 == 7:
            a = "# Heading\n\n| a | b |\n|---|---|\n| 1 | 2 |\n" + a
        elif i % 97 == 8:
            a = _text(rng, 6000)
        elif kind == 8:
            a = "```python\nprint(1)\n```\n" + a
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        if kind == 9:
            msgs = [{"role": "assistant", "content": a}]
        if i % 3 == 0:
            msgs.insert(0, {"role": "system", "content": systems[i % len(systems)]})
        if kind == 10:
            msgs += [
                {"role": "user", "content": _text(rng, 5)},
                {"role": "assistant", "content": a},
            ]
        row: dict = {"messages": msgs, "meta": {"category": rng.choice(["x", "y", "z"])}}
        rows.append(orjson.dumps(row).decode())
        if kind == 11:  # an exact copy
            rows.append(rows[-1])
    rows.insert(7, '{"messages": [broken')
    rows.insert(50, '{"text": "no messages here"}')
    rows.insert(90, "not json")
    path.write_text("\n".join(rows) + "\n")


def listed_records(folder: Path) -> list[str]:
    """The record cards ``report.html`` lists (findings, topics), with their split and
    stratum filter attributes: the page's evidence, which the Ray engine looks up on the
    workers (only the listed rows) where local indexes every kept record."""
    import re

    html = (folder / "report.html").read_text()
    return re.findall(r'<details class="rec"[^>]*><summary><code class="where">[^<]*</code>', html)


def run_allowing_rejects(args: list[str]) -> tuple[int, str]:
    """``curate run ARGS --allow-rejects`` in process (planted problems are rejected by
    design, exit 1 otherwise): its exit code and stderr; an exception other than the exit
    is raised."""
    from click.testing import CliRunner

    from curate.cli import main

    result = CliRunner().invoke(main, ["run", *args, "--allow-rejects"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def ray_run_error(tmp_path: Path) -> str:
    """``curate run --engine ray`` over planted shards, expected to fail cleanly: exit 2, one
    ``Error`` line, no traceback, no output folder. Returns that line."""
    from click.testing import CliRunner

    from curate.cli import main

    planted_shards(tmp_path / "shards")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", str(tmp_path / "shards"), "-o", str(out), "--no-semantic", "--engine", "ray"],
    )
    assert result.exit_code == 2, result.stderr
    errors = [x for x in result.stderr.splitlines() if x.startswith("Error")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert not out.exists()
    return errors[0]


def dict_components(edges: Iterable[Sequence[int]]) -> list[list[int]]:
    """ea0a5d0's ``ray_udfs._components``: a dict-based union-find to a list of groups
    (size >= 2, members sorted, groups by first member), the reference for the arrays."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    groups: dict[int, list[int]] = {}
    for x in sorted(parent):
        groups.setdefault(find(x), []).append(x)
    return [sorted(g) for _, g in sorted(groups.items()) if len(g) > 1]
