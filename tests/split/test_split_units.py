"""Split building blocks: allocation rule, groups, stratum keys, config checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curate.errors import ConfigError
from curate.records import Record
from curate.split import SplitConfig, split_records
from curate.split.allocate import allocate, min_records
from curate.split.groups import UnionFind, union_field
from curate.split.strata import field_value, kmeans, stratum_labels


def rec(i: int, **data) -> Record:
    msgs = [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "ok"}]
    return Record("mem.jsonl", i + 1, {"messages": msgs, **data})


def test_allocate_hits_exact_share_per_stratum() -> None:
    labels = ["a"] * 57 + ["b"] * 31 + ["c"] * 12
    groups = {i: [i] for i in range(len(labels))}
    sides, reports = allocate(labels, groups, 0.2, 0.0, seed=3)
    for r in reports:
        assert r.status == "split"
        assert abs(r.counts.get("test", 0) - r.records * 0.2) <= 1
    assert sides.count("test") == 11 + 6 + 2


def test_allocate_whole_groups_and_exact_count() -> None:
    labels = ["a"] * 40
    groups = {0: [0, 1, 2, 3], 4: [4, 5, 6], **{i: [i] for i in range(7, 40)}}
    sides, reports = allocate(labels, groups, 0.25, 0.0, seed=0)
    assert reports[0].counts["test"] == 10
    for members in groups.values():
        assert len({sides[i] for i in members}) == 1


def test_too_small_stratum_goes_wholly_to_train() -> None:
    labels = ["big"] * 30 + ["tiny"] * 9
    groups = {i: [i] for i in range(39)}
    sides, reports = allocate(labels, groups, 0.1, 0.0, seed=0)
    tiny = next(r for r in reports if r.stratum == "tiny")
    assert min_records(0.1) == 10
    assert tiny.status == "too_small"
    assert tiny.counts == {"train": 9}
    assert all(s == "train" for s in sides[30:])


def test_val_split_takes_its_own_share() -> None:
    labels = ["a"] * 100
    sides, reports = allocate(labels, {i: [i] for i in range(100)}, 0.1, 0.2, seed=1)
    assert (sides.count("test"), sides.count("val"), sides.count("train")) == (10, 20, 70)


def test_union_find_and_group_field() -> None:
    records = [rec(0, conv="x"), rec(1, conv="y"), rec(2, conv="x"), rec(3), rec(4, conv="y")]
    uf = UnionFind(len(records))
    assert union_field(uf, records, "conv") == 2
    assert uf.groups() == {0: [0, 2], 1: [1, 4], 3: [3]}


def test_field_value_dotted_missing_and_json() -> None:
    data = {"meta": {"lang": "en", "tags": ["b", "a"], "n": 3}, "messages": []}
    assert field_value(data, "meta.lang") == "en"
    assert field_value(data, "meta.n") == "3"
    assert field_value(data, "meta.tags") == '["b","a"]'
    assert field_value(data, "meta.nope") == "<missing>"
    assert field_value(data, "meta.tags.1") == "a"


def test_stratum_labels_combine_keys_and_field_prefix() -> None:
    records = [rec(0, category="qa", length="long"), rec(1, category="code")]
    labels = stratum_labels(records, ["category", "field:length"])
    assert labels == ["qa|long", "code|<missing>"]


def test_length_buckets_are_quantiles() -> None:
    records = [
        Record("m", i + 1, {"messages": [{"role": "user", "content": "word " * (i * 10 + 1)}]})
        for i in range(40)
    ]
    labels = stratum_labels(records, ["length"], length_buckets=4)
    assert len(set(labels)) == 4
    assert labels[0].startswith("tokens ")
    assert labels[0] != labels[-1]


def test_kmeans_is_seeded_and_separates_blobs() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal([1, 0, 0], 0.05, (20, 3))
    b = rng.normal([0, 1, 0], 0.05, (20, 3))
    x = np.vstack([a, b])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    first = kmeans(x, 2, seed=5)
    assert np.array_equal(first, kmeans(x, 2, seed=5))
    assert len(set(first[:20])) == 1 and len(set(first[20:])) == 1 and first[0] != first[20]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_size": 0}, "test_size must be between 0 and 1"),
        ({"test_size": 0.5, "val_size": 0.5}, r"test_size \+ val_size must be below 1"),
        ({"stratify": ("cluster",), "semantic": False}, "--stratify cluster needs embeddings"),
    ],
)
def test_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SplitConfig(**kwargs)


def test_split_without_dedup_is_deterministic_and_ordered() -> None:
    records = [rec(i, category="ab"[i % 2]) for i in range(60)]
    config = SplitConfig(
        test_size=0.2,
        stratify=("category",),
        seed=7,
        semantic=False,
        keep_duplicates_together=False,
        check_leakage=False,
    )
    one, two = split_records(records, config), split_records(records, config)
    assert [r.line for r in one.splits["test"]] == [r.line for r in two.splits["test"]]
    assert len(one.splits["test"]) == 12
    assert [r.line for r in one.splits["train"]] == sorted(r.line for r in one.splits["train"])
    assert one.report()["counts"] == {"train": 48, "test": 12}
    assert math.isclose(one.report()["strata"][0]["target"]["test"], 6.0)


def test_a_field_no_record_has_is_an_error_not_a_stratum() -> None:
    from curate.errors import ConfigError
    from curate.records import Record
    from curate.split import SplitConfig, split_records

    records = [Record("f.jsonl", i, {"messages": [], "category": "a"}) for i in range(1, 11)]
    with pytest.raises(ConfigError, match="no record has the field 'categroy'.*'category'"):
        split_records(records, SplitConfig(stratify=("categroy",), semantic=False))
    with pytest.raises(ConfigError, match="group: no record has the field 'user'"):
        split_records(records, SplitConfig(group="user", semantic=False))


def test_groups_too_large_for_the_share_are_reported_off_target() -> None:
    from curate.split.allocate import allocate

    # 20 records in one stratum, in two groups of 10: test wants 2, gets 0 or 10.
    labels = ["a"] * 20
    groups = {0: list(range(10)), 10: list(range(10, 20))}
    sides, reports = allocate(labels, groups, test_size=0.1, val_size=0.0, seed=0)
    assert reports[0].status == "off_target"
    assert reports[0].to_dict()["test"] in (0, 10) and reports[0].target["test"] == 2.0
