"""What the Ray engine leaves on the workers: the near pass's candidate pairs (uniqued,
routed and verified there) and ``curate dedup``'s kept records (written there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.errors import ClusterError
from tests.engine.helpers import planted_shards

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)


def _rows(n: int, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    words = [f"w{k}" for k in range(60)]
    out = []
    for i in range(n):
        q = " ".join(rng.choice(words, 8))
        a = " ".join(rng.choice(words, 30))
        if i % 3 == 1:  # a near copy of the row before: one word changed
            prev = out[-1]["messages"]
            q, a = prev[0]["content"], prev[1]["content"].replace("w1 ", "w2 ", 1) + " w7"
        out.append(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        )
    return out


def _pairs(got: dict) -> dict[tuple[int, int], float]:
    pairs = zip(got["i"].tolist(), got["j"].tolist(), strict=True)
    return dict(zip(pairs, got["jac"].tolist(), strict=True))


def _dataset(ray_cluster, rows: list[dict], ids: list[int], blocks: int):  # noqa: ANN202
    import ray.data

    items = [
        {
            "idx": i,
            "source": "t.jsonl",
            "line": i + 1,
            "text_line": i + 1,
            "data": orjson.dumps(rows[i]),
        }
        for i in ids
    ]
    return ray.data.from_items(items, override_num_blocks=blocks).materialize()


def test_near_pairs_verified_on_the_workers_as_local(ray_cluster, tmp_path: Path) -> None:
    """``_verify_refs`` over several blocks of candidate pairs (the same pair in more than
    one block, pairs of rows in different row blocks and groups of blocks): each pair's
    Jaccard is local's, once; with a threshold only the pairs at or above it come back."""
    import pyarrow as pa
    import ray

    from curate.dedup.config import DedupConfig
    from curate.dedup.near import jaccard_of, shingle_hashes
    from curate.engine.ray_dedup import RayDedup
    from curate.engine.ray_udfs import _words
    from curate.pipeline.config import RunConfig, RunOptions
    from curate.records import Record

    rows = _rows(60)
    # More row blocks than partitions: groups of several blocks answer each partition.
    ds = _dataset(ray_cluster, rows, list(range(60)), blocks=11)
    cfg = DedupConfig(methods=["near"])
    eng = RayDedup(ray, RunConfig(run=RunOptions(semantic=False), dedup=cfg), tmp_path)
    rng = np.random.default_rng(1)
    pairs = np.unique(np.sort(rng.integers(0, 60, (150, 2)), axis=1), axis=0)
    pairs = pairs[pairs[:, 0] < pairs[:, 1]]
    pairs = np.concatenate((pairs, [[k - 1, k] for k in range(1, 60, 3)]))
    blocks = [pairs[0::2], pairs[1::2], pairs[::3]]  # overlapping: pairs repeat across blocks
    refs = [ray.put(pa.table({"i": b[:, 0], "j": b[:, 1]})) for b in blocks]

    recs = [Record("t.jsonl", i + 1, r, i + 1) for i, r in enumerate(rows)]
    hashes, offsets = shingle_hashes(_words(recs, cfg), cfg.shingle_size)
    sets = [np.unique(hashes[offsets[k] : offsets[k + 1]]) for k in range(len(rows))]
    want = {(a, b): jaccard_of(sets[a], sets[b]) for a, b in pairs.tolist()}

    given = list(refs)
    got = eng._verify_refs(ds, given, None)
    assert given == []  # the driver's refs to the pairs go once they are cut by partition
    assert got["n"] == len(want)
    assert _pairs(got) == want
    high = eng._verify_refs(ds, list(refs), 0.5)
    assert high["n"] == len(want)
    above = {p: v for p, v in want.items() if v >= 0.5}
    assert 0 < len(above) < len(want)
    assert _pairs(high) == above
    # The driver-side entry point for few pairs: in the order asked.
    some = pairs[::-7]
    assert eng._verify(ds, some).tolist() == [want[p] for p in map(tuple, some.tolist())]
    # Pairs named the other way round (the split's mapped ids): each as given.
    flip = some[:, ::-1]
    assert eng._verify(ds, flip).tolist() == [want[(b, a)] for a, b in flip.tolist()]


def test_kept_parts_merged_in_row_order_when_blocks_interleave(ray_cluster, tmp_path) -> None:
    """Blocks holding interleaved row ids (as after a shuffle) are merged by row id; disjoint
    blocks are concatenated: both give the rows in input order."""
    import io

    from curate.engine.ray_stages import _write_kept

    rows = _rows(40)

    class Eng:
        work = tmp_path

    for name, ids in (
        ("disjoint", list(range(40))),
        ("interleaved", [*range(0, 40, 2), *range(1, 40, 2)]),
    ):
        eng = Eng()
        eng.work = tmp_path / name
        out = io.BytesIO()
        ds = _dataset(ray_cluster, rows, ids, blocks=4)
        n = _write_kept(eng, ds, out, 40)
        assert n == 40
        assert out.getvalue() == b"".join(orjson.dumps(r) + b"\n" for r in rows), name
    # A part lost (fewer rows written than kept): an error, nothing written.
    eng.work = tmp_path / "short"
    out = io.BytesIO()
    with pytest.raises(ClusterError, match="kept rows written: 40, expected 41"):
        _write_kept(eng, ds, out, 41)
    assert out.getvalue() == b""


def test_dedup_command_without_rejects_writes_kept_on_the_workers(
    ray_cluster, tmp_path: Path
) -> None:
    """``curate dedup --engine ray`` without ``--rejects``: the same kept file and counts as
    local, written by the workers (``ray: the workers write the kept records``)."""
    import gzip

    planted_shards(tmp_path / "in")
    data = tmp_path / "in.jsonl"  # the JSONL shards as one file (unreadable lines too)
    data.write_bytes(
        (tmp_path / "in" / "part-000.jsonl").read_bytes()
        + gzip.decompress((tmp_path / "in" / "part-001.jsonl.gz").read_bytes())
    )
    out = {}
    for engine in ("local", "ray"):
        kept = tmp_path / f"{engine}.jsonl"
        args = ["dedup", str(data), "-o", str(kept), "--method", "exact,near"]
        result = CliRunner().invoke(
            main, [*args, "--engine", engine, "--json", "--allow-rejects", "--keep", "longest"]
        )
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        out[engine] = (kept.read_bytes(), report["kept"], report["removed"], report["rejected"])
        if engine == "ray":
            assert "the workers write the kept records" in result.stderr
            assert not list(tmp_path.glob(".curate-ray-*"))
    assert out["local"] == out["ray"]
    assert out["ray"][2]["exact"] > 0 and out["ray"][2]["near"] > 0


def _one_file(tmp_path: Path) -> Path:
    planted_shards(tmp_path / "in")
    return tmp_path / "in" / "part-000.jsonl"


def test_dedup_outputs_appear_together_or_not_at_all(ray_cluster, tmp_path: Path) -> None:
    """``-o``, ``--rejects`` and ``--clusters`` are committed together: a clusters path that
    cannot be written leaves neither the output nor the rejects behind (before, both were
    renamed into place and only the clusters were missing)."""
    data = _one_file(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    args = ["dedup", str(data), "-o", str(out), "--rejects", str(rej), "--engine", "ray"]
    result = CliRunner().invoke(main, [*args, "--clusters", str(blocker / "cl.jsonl")])
    assert result.exit_code == 2, result.output
    assert not out.exists() and not rej.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "not-a-folder"]


def test_dedup_write_failure_leaves_nothing(ray_cluster, tmp_path: Path, monkeypatch) -> None:
    """The disk fills while the kept records are written: one line, exit 2 (an I/O error),
    no ``-o`` file, no temp file, no ``.curate-ray-*`` scratch folder."""
    import errno

    from curate.engine import ray_stages

    real = ray_stages._write_kept

    def full(*args):  # noqa: ANN002, ANN202
        real(*args)  # the parts written and copied into -o's temp file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", str(args[2].name))

    monkeypatch.setattr(ray_stages, "_write_kept", full)
    data = _one_file(tmp_path)
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    args = ["dedup", str(data), "-o", str(out), "--rejects", str(rej), "--engine", "ray"]
    result = CliRunner().invoke(main, [*args, "--clusters", str(tmp_path / "cl.jsonl")])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip().splitlines()
    assert err[-1].startswith("Error: ") and "No space left on device" in err[-1]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_dedup_rejects_not_asked_builds_nothing_per_row() -> None:
    """Without ``--rejects`` only the counts come back: no per-row plan (keeper names, via,
    similarities) is built on the driver, so no row reference is even looked up."""
    from curate.engine.ray_dedup import _Removed
    from curate.engine.ray_stages import _write_dedup_rejects

    removed = [
        _Removed.of("exact", [4, 3], [1, 1], [1.0, 1.0]),
        _Removed.of("near", [7], [5], [0.9]),
    ]
    got = _write_dedup_rejects(None, None, removed, False)
    assert got == {"exact_duplicate": 2, "near_duplicate": 1}


def test_shingle_sets_computed_per_block_only_for_rows_asked() -> None:
    """(C1) a block computes the sets of the rows some partition asked for, its other
    columns (band keys, vectors) left where they are; (C2) cuts them per partition."""
    import pyarrow as pa

    from curate.dedup.config import DedupConfig
    from curate.dedup.near import shingle_hashes
    from curate.engine.ray_udfs import _block_hashes, _block_sets, _words
    from curate.records import Record

    rows, cfg = _rows(10), DedupConfig(methods=["near"])
    block = pa.table(
        {
            "idx": np.arange(10, 20, dtype=np.int64),
            "source": ["t.jsonl"] * 10,
            "line": list(range(1, 11)),
            "text_line": list(range(1, 11)),
            "data": [orjson.dumps(r) for r in rows],
            "vec": [np.ones(4, np.float32).tobytes()] * 10,
        }
    )
    recs = [Record("t.jsonl", k + 1, r, k + 1) for k, r in enumerate(rows)]
    hashes, offsets = shingle_hashes(_words(recs, cfg), cfg.shingle_size)
    want = {10 + k: np.unique(hashes[offsets[k] : offsets[k + 1]]) for k in range(10)}

    ids, offs, flat = _block_hashes(cfg, block, np.array([12, 15]), np.array([15, 19, 30]))
    assert ids.tolist() == [12, 15, 19]
    for t, i in enumerate(ids.tolist()):
        assert flat[offs[t] : offs[t + 1]].tolist() == want[i].tolist()
    a, b = _block_sets(1, (ids, offs, flat), np.array([12, 15]), np.array([19, 30]))
    assert a[0].tolist() == [12, 15] and b[0].tolist() == [19]
    assert b[2].tolist() == want[19].tolist()
