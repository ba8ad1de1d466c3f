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
