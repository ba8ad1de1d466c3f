"""The run page's placement lookup: records of different shards share line numbers."""

from __future__ import annotations

from curate.records import Record
from curate.report.evidence import Placement
from curate.split.allocate import StratumReport


def _rec(source: str, line: int) -> Record:
    return Record(source=source, line=line, data={"messages": []})


def test_same_line_in_two_shards_is_placed_by_its_own_shard() -> None:
    a1, a2 = _rec("shards/a.jsonl", 1), _rec("shards/a.jsonl", 2)
    b1, b2 = _rec("shards/b.jsonl", 1), _rec("shards/b.jsonl", 2)
    split_input = [a1, a2, b1, b2]
    strata = [StratumReport("en", 2, 2, members=[0, 1]), StratumReport("fr", 2, 2, members=[2, 3])]
    placement = Placement({"train": [a1, b2], "test": [b1]}, split_input, strata)

    assert placement.place(b1).split == "test"
    assert placement.place(b1).stratum == "fr"
    assert placement.place(a1).split == "train"
    assert placement.place(a1).stratum == "en"
    assert placement.place(a2).split == "dropped"
    assert placement.sides([b1, a1, a2, b2]) == ["test", "train", "", "train"]
    assert placement.place(_rec("other.jsonl", 1)).split == "dropped"


def test_one_source_and_many_sources_place_alike() -> None:
    # Records of one source are keyed without a call per record (the common run); a split
    # mixing sources takes the per-record way. Both must place every record as a dict does.
    import random

    rng = random.Random(4)
    for sources in (["one.jsonl"], ["a.jsonl", "b.jsonl", "c.jsonl"]):
        records = [_rec(rng.choice(sources), line) for line in range(1, 600)]
        records = list({(r.source, r.line): r for r in records}.values())
        sides = {"train": [], "test": [], "val": []}
        truth = {}
        for r in records:
            side = rng.choice(["train", "test", "val", "dropped"])
            truth[(r.source, r.line)] = side
            if side != "dropped":
                sides[side].append(r)
        if len(sources) > 1:  # one split of one source beside mixed ones
            sides["val"] = [r for r in sides["val"] if r.source == "b.jsonl"]
            for r in records:
                if truth[(r.source, r.line)] == "val" and r.source != "b.jsonl":
                    truth[(r.source, r.line)] = "dropped"
        split_input = [r for r in records if truth[(r.source, r.line)] != "dropped"]
        half = len(split_input) // 2
        strata = [
            StratumReport("x", half, half, members=list(range(half))),
            StratumReport("y", 0, 0, members=list(range(half, len(split_input)))),
        ]
        placement = Placement(sides, split_input, strata)
        for r in records:
            place = placement.place(r)
            assert place.split == truth[(r.source, r.line)]
        for k, r in enumerate(split_input):
            assert placement.place(r).stratum == ("x" if k < half else "y")
        assert placement.place(_rec("nowhere.jsonl", 1)).split == "dropped"
