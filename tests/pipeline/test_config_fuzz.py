"""Wrong types and ranges in every config key, and in the flags: exit 2 naming the key.

Regression tests for issue 16 #8 (tracebacks from ``--seed -1``, ``split.stratify: [{a: 1}]``,
``audit.fail_on: [1]``, ``dedup.num_perm: 0``, ``run.seed: 2**66``, a self-referencing anchor).
"""

from __future__ import annotations

import dataclasses
import json
import random
import typing
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from curate.cli import main
from curate.config import _hints
from curate.pipeline.config import SECTIONS

CHAT = {"messages": [{"role": "user", "content": "hi?"}, {"role": "assistant", "content": "yo"}]}
NAN, INF = float("nan"), float("inf")

# Values of the wrong type for each kind of annotation (a random few are tried per key).
WRONG: dict[str, list[typing.Any]] = {
    "bool": ["yes", 1, 0.5, [True], {"a": 1}],
    "int": ["7", 1.5, -1, 2**66, -(2**70), True, [1], {"a": 1}, NAN],
    "float": ["x", True, [0.5], {"a": 1}, NAN, INF, -INF],
    "str": [1, 1.5, True, [{"a": 1}], {"a": 1}],
    "seq": [1, [1], [{"a": 1}], [True], {"a": 1}, [[["x"]]]],
    "literal": ["bogus", 1, ["first"], {"a": 1}],
}
# Values of the right type but out of range, for keys that have a range.
OUT_OF_RANGE: dict[str, list[typing.Any]] = {
    "seed": [-1, 2**32, 2**66],
    "num_perm": [0, -3],
    "bands": [0],
    "shingle_size": [0],
    "neighbours": [0],
    "near_threshold": [0.0, 1.5, -0.1],
    "semantic_threshold": [0.0, 2.0],
    "test_size": [1.0, 2.0, -0.5],
    "val_size": [1.0, -0.1],
    "clusters": [0],
    "length_buckets": [0],
    "max_embed": [0],
    "max_tokens": [0],
}


def kind(hint: typing.Any) -> str | None:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "literal"
    if origin in (tuple, list) or any(typing.get_origin(a) in (tuple, list) for a in args):
        return "seq"
    plain = [a for a in (args or (hint,)) if a is not type(None)]
    if any(typing.get_origin(a) is typing.Literal for a in plain):
        return "literal"
    names = {getattr(a, "__name__", "") for a in plain}
    if names == {"bool"}:
        return "bool"
    if names == {"int"}:
        return "int"
    if names == {"float"}:
        return "float"
    if names == {"str"}:
        return "str"
    return None  # Path | bool | str, nested dataclasses: covered by their own cases


def cases(seed: int = 16) -> list[tuple[str, str, typing.Any]]:
    rng = random.Random(seed)
    out = []
    for section in SECTIONS:
        cls = SECTIONS[section]
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            k = kind(hints.get(f.name))
            if k is None:
                continue
            pool = WRONG[k]
            for value in rng.sample(pool, min(3, len(pool))):
                out.append((section, f.name, value))
            for value in OUT_OF_RANGE.get(f.name, [])[:2]:
                out.append((section, f.name, value))
    return out


CASES = cases()


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "d.jsonl"
    p.write_text(json.dumps(CHAT) + "\n")
    return p


def test_every_key_is_covered() -> None:
    covered = {(s, k) for s, k, _ in CASES}
    assert len(covered) >= 50  # every typed key of every section (other helpers add more)


@pytest.mark.parametrize(("section", "key", "value"), CASES, ids=[f"{s}.{k}" for s, k, _ in CASES])
def test_wrong_config_values_exit_2_naming_the_key(
    data_file: Path, tmp_path: Path, section: str, key: str, value: typing.Any
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({section: {key: value}}))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", str(data_file), "-o", str(out), "--config", str(cfg)])
    assert res.exit_code == 2, (res.output, res.exception)
    assert key in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize(
    ("commands", "args", "name"),
    [
        (("run", "split"), ["--seed", "-1"], "--seed"),
        (("run", "split"), ["--seed", "99999999999999999999"], "--seed"),
        (("split",), ["--clusters", "0"], "split.clusters"),
        (("split",), ["--length-buckets", "-2"], "split.length_buckets"),
        (("run", "split"), ["--test-size", "nan"], "test_size"),
        (("run", "split"), ["--test-size", "7"], "test_size"),
    ],
)
def test_wrong_flags_exit_2_naming_the_flag(
    data_file: Path, tmp_path: Path, commands: tuple[str, ...], args: list[str], name: str
) -> None:
    for command in commands:
        out = tmp_path / command
        res = CliRunner().invoke(main, [command, str(data_file), "-o", str(out), *args])
        assert res.exit_code == 2, (command, res.output, res.exception)
        assert name in res.stderr and "No such option" not in res.stderr, res.stderr
        assert not out.exists()


def test_seed_flag_range_on_every_command(data_file: Path, tmp_path: Path) -> None:
    for argv in (
        ["dedup", str(data_file), "-o", str(tmp_path / "o.jsonl")],
        ["audit", str(data_file), "--no-embeddings"],
    ):
        for seed in ("-1", "99999999999999999999"):
            res = CliRunner().invoke(main, [*argv, "--seed", seed])
            assert res.exit_code == 2 and "--seed" in res.stderr, res.output


@pytest.mark.parametrize(
    "text",
    [
        "run: &a {seed: *a}\n",
        "split:\n  stratify: &s [a, *s]\n",
        "a: &a [*a, *a]\n",
        # an alias bomb: 10 levels of 10x fan-out would be 10**10 values
        "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10)).replace(
            "l1: &l1 [*l0", "l1: &l1 [x"
        ),
    ],
)
def test_self_referencing_yaml_is_exit_2(data_file: Path, tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    res = CliRunner().invoke(
        main, ["run", str(data_file), "-o", str(tmp_path / "o"), "--config", str(cfg)]
    )
    assert res.exit_code == 2, (res.output, res.exception)
    assert str(cfg) in res.stderr


def test_train_config_rejects_bad_seed_nan_and_cycles(tmp_path: Path) -> None:
    from curate.errors import ConfigError
    from train.config import load_config

    for text, key in [
        ("training:\n  seed: -1\n", "training.seed"),
        (f"training:\n  seed: {2**66}\n", "training.seed"),
        ("training:\n  learning_rate: .nan\n", "training.learning_rate"),
        ("model: &m {name_or_path: *m}\n", "refers to itself"),
    ]:
        cfg = tmp_path / "t.yaml"
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(cfg, cuda_available=False)
