"""Guards for the shortcuts of issue 15 (the run process's serial path, the normaliser):
each must give what the plain code gives."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from curate.dedup.cluster import UnionFind
from curate.errors import ConfigError
from curate.pipeline.checks import check_fields
from curate.pipeline.config import RunConfig
from curate.pipeline.manifest import HashAhead, output_hashes, sha256_file
from curate.records import Record, dumps_line, write_jsonl
from curate.split import SplitConfig
from curate.split.strata import MISSING, field_value


def _groups_by_find(uf: UnionFind) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i in range(len(uf.parent)):
        out.setdefault(uf.find(i), []).append(i)
    return out


@pytest.mark.parametrize("unions", [0, 1, 50, 400])
def test_union_find_groups_match_find_per_member(unions: int) -> None:
    rng = random.Random(unions)
    uf, ref = UnionFind(1000), UnionFind(1000)
    for _ in range(unions):
        a, b = rng.randrange(1000), rng.randrange(1000)
        uf.union(a, b)
        ref.union(a, b)
    got, want = uf.groups(), _groups_by_find(ref)
    assert got == want
    assert list(got) == list(want)  # same order of roots too (allocate draws in it)


def test_field_value_top_level_shortcut_matches_the_dotted_walk() -> None:
    data = {"category": "code", "n": 3, "none": None, "obj": {"b": 1, "a": [1]}, "t": True}
    assert field_value(data, "category") == "code"
    assert field_value(data, "n") == "3"
    assert field_value(data, "t") == "true"
    assert field_value(data, "none") == MISSING
    assert field_value(data, "absent") == MISSING
    assert field_value(data, "obj") == '{"a":[1],"b":1}'
    assert field_value(data, "obj.b") == "1"
    assert field_value("not a dict", "category") == MISSING


def test_check_fields_finds_a_field_only_late_records_have() -> None:
    config = RunConfig(split=SplitConfig(stratify=("topic",)))
    records = [Record("f", i, {"messages": []}, i) for i in range(1, 500)]
    records.append(Record("f", 500, {"messages": [], "topic": "x"}, 500))
    check_fields(records, config)  # one record has it: no error
    with pytest.raises(ConfigError, match="split.stratify: no record has the field 'topic'"):
        check_fields(records[:-1], config)


def test_write_jsonl_in_batches_is_one_dumps_line_per_object(tmp_path: Path) -> None:
    objs = [{"i": i, "text": "é" * (i % 7), "nested": {"k": [i, None]}} for i in range(2_600)]
    for n in (0, 1, 1024, 1025, 2_600):
        path = tmp_path / f"out-{n}.jsonl"
        assert write_jsonl(path, iter(objs[:n])) == n
        assert path.read_bytes() == b"".join(dumps_line(o) for o in objs[:n])


def test_hash_ahead_gives_the_hashes_of_a_later_full_pass(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_bytes(b'{"a":1}\n' * 100_000)
    (tmp_path / "rejects.jsonl").write_bytes(b"")
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "train-00000-of-00001.jsonl").write_bytes(b'{"a":1}\n')
    ahead = HashAhead(tmp_path)
    # Written while it hashes: not in its list, hashed by the final pass.
    (tmp_path / "report.json").write_bytes(orjson.dumps({"x": 1}))
    (tmp_path / "manifest.json").write_bytes(b"{}")
    known = ahead.result()
    assert set(known) == {"train.jsonl", "rejects.jsonl", "shards/train-00000-of-00001.jsonl"}
    assert known["train.jsonl"] == sha256_file(tmp_path / "train.jsonl")
    assert output_hashes(tmp_path, known) == output_hashes(tmp_path)
    assert "report.json" in output_hashes(tmp_path, known)


def test_hash_ahead_skips_a_file_changed_after_it_started(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_bytes(b'{"a":1}\n')
    (tmp_path / "test.jsonl").write_bytes(b'{"b":2}\n')
    (tmp_path / "gone.jsonl").write_bytes(b"x\n")
    with HashAhead(tmp_path) as ahead:
        for f in ahead.futures:  # all hashed before the changes below
            f.result()
        (tmp_path / "test.jsonl").write_bytes(b'{"b":2}\n{"c":3}\n')
        (tmp_path / "gone.jsonl").unlink()
        known = ahead.result()
    assert set(known) == {"train.jsonl"}
    assert output_hashes(tmp_path, known)["test.jsonl"] == sha256_file(tmp_path / "test.jsonl")


def test_hash_ahead_stops_its_thread_on_leaving(tmp_path: Path) -> None:
    import threading

    for i in range(40):
        (tmp_path / f"part-{i}.jsonl").write_bytes(b"x" * 200_000)
    with pytest.raises(RuntimeError), HashAhead(tmp_path):
        raise RuntimeError("the run failed")
    assert not [t for t in threading.enumerate() if t.name.startswith("curate-sha256")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "!!!",
        "Hello, World!",
        "  lead and trail  ",
        "<user> a\tb\nc\r\nd\x0be\x0cf",
        "a  ,  b ... c__d -- E9",
        "\n<system> x\n<user>  y?!\n<assistant> z.\n",
    ],
)
def test_normalizer_ascii_collapse_is_split_join(text: str) -> None:
    from curate.dedup.normalize import _PUNCT_TABLE, Normalizer

    want = b" ".join(text.encode().lower().translate(_PUNCT_TABLE).split())
    assert Normalizer().to_bytes(text) == want
