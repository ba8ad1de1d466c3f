"""Row ids sized by the removed rows reach the workers as files, not through the object store.

Ray Data puts a map's ``fn_kwargs`` into the object store from the driver: an array of the
removed rows' ids cost the driver that many object-store pages, resident in it for the rest
of the run, once per map (``curate.engine.ray_rows.row_ids``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.ray_audit import _work_folder
from curate.engine.ray_rows import _only, _without, block_count, ids_of, row_ids
from tests.engine.helpers import audit_set, compare_outputs, planted_shards
from tests.engine.test_ray_engine import PLANTED_CONFIG

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::FutureWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
)

# The maps that take the removed rows' ids (or, for ``_only`` in near's keep policy, the
# duplicate members'), by the keyword they take them under.
ROW_ID_ARGS = {"_without": "removed", "_label_rows": "gone", "_dense": "gone"}
ROW_ID_ARGS |= {"_dense_bands": "gone"}


def test_row_ids_are_a_file_in_the_work_folder_read_back_as_given(tmp_path: Path) -> None:
    ids = np.array([3, 7, 11, 40], dtype=np.int64)
    arg = row_ids(ids, tmp_path)
    assert isinstance(arg, str) and Path(arg).parent == tmp_path / "ids"
    assert np.array_equal(ids_of(arg), ids) and ids_of(arg).dtype == np.int64
    assert row_ids(ids, tmp_path) != arg  # each hand-over its own file (workers cache by path)
    assert row_ids(ids, None) is ids and ids_of(ids) is ids  # no shared folder: as before
    batch = {"idx": np.arange(12, dtype=np.int64), "x": np.arange(12) * 10}
    for fn in (_without, _only):
        by_file, by_array = fn(batch, arg), fn(batch, ids)
        assert all(np.array_equal(by_file[k], by_array[k]) for k in batch)
    assert _without(batch, arg)["idx"].tolist() == [0, 1, 2, 4, 5, 6, 8, 9, 10]


def _spy_maps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every ``map_batches`` the driver asks for: (function name, its ``fn_kwargs``)."""
    import ray.data

    seen: list[tuple[str, dict[str, Any]]] = []
    real = ray.data.Dataset.map_batches

    def spy(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((getattr(fn, "__name__", ""), dict(kwargs.get("fn_kwargs") or {})))
        return real(self, fn, *args, **kwargs)

    monkeypatch.setattr(ray.data.Dataset, "map_batches", spy)
    return seen


def test_run_hands_the_removed_rows_to_the_workers_as_files(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Exact + near removals, the split on the workers and the run's audit: every map that
    # takes the removed rows' ids gets a file's path, never the array (the old code passed
    # the arrays: this fails there), and near's keep policy looks the members' lengths up
    # through a file too.
    planted_shards(tmp_path / "shards")
    config = tmp_path / "c.yaml"
    config.write_text(PLANTED_CONFIG)
    seen = _spy_maps(monkeypatch)
    out = tmp_path / "out"
    args = [str(tmp_path / "shards"), "-o", str(out), "--config", str(config)]
    result = CliRunner().invoke(
        main, ["run", *args, "--no-semantic", "--engine", "ray", "--allow-rejects"]
    )
    assert result.exit_code == 0, result.stderr
    assert "split on the workers: train" in result.stderr
    taking = [(name, kw[ROW_ID_ARGS[name]]) for name, kw in seen if name in ROW_ID_ARGS]
    assert {name for name, _ in taking} >= {"_without", "_label_rows", "_dense"}
    assert all(isinstance(arg, str) for _, arg in taking), taking
    # (the other ``_only`` lookups, by sampled or listed rows, are bounded: arrays still)
    assert any(isinstance(kw.get("ids"), str) for name, kw in seen if name == "_only")
    assert not list(out.glob(".ray-work*")) and not list(tmp_path.glob("**/ids/*.npy"))
    assert json.loads((out / "manifest.json").read_text())["balanced"]


def test_audit_on_one_machine_has_its_workers_write_and_read_files(
    ray_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``curate audit --engine ray`` with every node on this machine: a temporary folder
    # they share, so the conflicts' findings are written by the workers (the log says so)
    # and the duplicate share's removed rows go as files; the report is local's and the
    # folder is gone after.
    path = tmp_path / "set.jsonl"
    audit_set(path)  # conflicts, rows that are not chat, exact and near duplicates
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    got = {}
    for engine in ("local", "ray"):
        seen = _spy_maps(monkeypatch) if engine == "ray" else []
        result = CliRunner().invoke(
            main, ["audit", str(path), "--json", "--no-embeddings", "--engine", engine]
        )
        assert result.exit_code in (0, 1), result.stderr
        got[engine] = (result.exit_code, json.loads(result.stdout))
    assert "conflicts (their findings written by the workers)" in result.stderr
    assert got["ray"] == got["local"]
    removed = [kw["removed"] for name, kw in seen if name == "_without"]
    assert removed and all(isinstance(arg, str) for arg in removed)
    assert not list((tmp_path / "tmp").iterdir())


def test_audit_on_a_cluster_of_several_machines_has_no_work_folder() -> None:
    # A node on another machine cannot see this machine's temporary folder: the audit then
    # fetches the findings and passes the ids as before (``RayAudit.work`` None).
    def ray_on(*addresses: str) -> Any:
        nodes = [{"Alive": True, "NodeManagerAddress": a} for a in addresses]
        nodes.append({"Alive": False, "NodeManagerAddress": "10.0.0.9"})  # a dead node
        util = SimpleNamespace(get_node_ip_address=lambda: "10.0.0.1")
        return SimpleNamespace(util=util, nodes=lambda: nodes)

    with _work_folder(ray_on("10.0.0.1", "10.0.0.1")) as here:
        assert here is not None and here.is_dir()
    assert not here.exists()
    with _work_folder(ray_on("10.0.0.1", "10.0.0.2")) as there:
        assert there is None


def test_small_shards_are_put_together_in_blocks_never_split() -> None:
    # The driver's memory follows the blocks (state per block and task), so many small
    # shards go on fewer, bigger blocks; big shards are never split below their count,
    # and there are never fewer blocks than partitions (every CPU has work).
    mib = 1 << 20
    assert block_count(32, 120 * mib, 4) == 4  # 32 shards of ~4 MiB: one block a partition
    assert block_count(32, 1000 * mib, 4) == 16  # ~64 MiB a block
    assert block_count(8, 1200 * mib, 4) == 8  # 150 MiB shards: kept as they are
    assert block_count(3, 10 * mib, 4) == 4  # fewer shards than partitions: split
    assert block_count(4, 0, 4) == 4


def test_many_small_shards_run_in_fewer_blocks_as_local(ray_cluster, tmp_path: Path) -> None:
    # Twelve small shards (one block each out of the front) are put together into one block
    # a partition, in order: every output is local's.
    planted_shards(tmp_path / "planted")
    rows = []
    for part in sorted((tmp_path / "planted").glob("*.jsonl")):
        rows += part.read_text().splitlines()
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(12):
        (shards / f"part-{k:03d}.jsonl").write_text("".join(r + "\n" for r in rows[k::12]))
    config = tmp_path / "c.yaml"
    config.write_text(PLANTED_CONFIG)
    out = {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        args = [str(shards), "-o", str(out[engine]), "--config", str(config), "--no-semantic"]
        result = CliRunner().invoke(main, ["run", *args, "--engine", engine, "--allow-rejects"])
        assert result.exit_code == 0, result.stderr
    assert "12 shard(s) on 2 CPU(s)" in result.stderr
    assert "after front, in 4 block(s)" in result.stderr, result.stderr
    assert compare_outputs(out["local"], out["ray"]) == []
