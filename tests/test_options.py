"""One config system: flags made from the option dataclasses, ``--config`` on every command,
default < file < flag, and one loader for the curation and the training files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.cli.options import field_help
from curate.dedup.config import DedupConfig
from curate.pipeline import load_run_config

CHAT = {
    "messages": [
        {"role": "user", "content": "What is the capital of France, please?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
    ]
}


def _chat_file(tmp_path: Path, rows: int = 12) -> Path:
    path = tmp_path / "chat.jsonl"
    lines = []
    for i in range(rows):
        row = json.loads(json.dumps(CHAT))
        row["messages"][0]["content"] += f" Question number {i} about topic {i * 7}."
        row["category"] = "ab"[i % 2]
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "curate.yaml"
    path.write_text(text)
    return path


def _json(result) -> dict:  # noqa: ANN001 - click Result
    assert result.exit_code in (0, 1), (result.output, result.exception)
    return json.loads(result.stdout)


def test_a_changed_dataclass_default_reaches_run_and_dedup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dedup's command copies no default of DedupConfig: change one, both commands see it."""
    names = [f.name for f in dataclasses.fields(DedupConfig)]
    defaults = list(DedupConfig.__init__.__defaults__)
    assert defaults[names.index("near_threshold")] == 0.75
    defaults[names.index("near_threshold")] = 0.61
    defaults[names.index("num_perm")] = 32
    monkeypatch.setattr(DedupConfig.__init__, "__defaults__", tuple(defaults))

    assert load_run_config(None).dedup.near_threshold == 0.61
    data = _chat_file(tmp_path)
    result = CliRunner().invoke(
        main, ["dedup", str(data), "-o", str(tmp_path / "o.jsonl"), "--json"]
    )
    config = _json(result)["config"]
    assert (config["near_threshold"], config["num_perm"]) == (0.61, 32)


def test_dedup_reads_its_section_and_a_typed_flag_wins(tmp_path: Path) -> None:
    data = _chat_file(tmp_path)
    cfg = _config(tmp_path, "dedup:\n  near_threshold: 0.5\n  keep: longest\n")
    argv = ["dedup", str(data), "-o", str(tmp_path / "o.jsonl"), "--json", "--config", str(cfg)]
    config = _json(CliRunner().invoke(main, argv))["config"]
    assert (config["near_threshold"], config["keep"]) == (0.5, "longest")  # file < ...
    config = _json(CliRunner().invoke(main, [*argv, "--near-threshold", "0.9"]))["config"]
    assert (config["near_threshold"], config["keep"]) == (0.9, "longest")  # ... < flag
    cfg.write_text("dedup:\n  normalizer: {case: false}\n")
    config = _json(CliRunner().invoke(main, [*argv, "--no-punct-fold"]))["config"]
    assert config["normalize"] == {
        "nfkc": True,
        "case": False,
        "whitespace": True,
        "punctuation": False,
    }


@pytest.mark.parametrize(
    ("command", "section", "key", "args"),
    [
        ("validate", "validate", "max_tokens", []),
        ("convert", "convert", "fields", ["-o", "{tmp}/c.jsonl"]),
        ("dedup", "dedup", "seed", ["-o", "{tmp}/d.jsonl"]),
        ("audit", "audit", "seed", ["--no-embeddings"]),
        ("split", "split", "seed", ["-o", "{tmp}/s"]),
        ("run", "split", "seed", ["-o", "{tmp}/r"]),
        ("eval", "eval", "seed", ["-o", "{tmp}/e", "--base", "x", "--tuned-url", "http://x"]),
        ("merge", "merge", "dtype", ["-o", "{tmp}/m"]),
        ("demo-model", "demo_model", "seed", []),
    ],
)
def test_every_command_checks_its_config_section(
    tmp_path: Path, command: str, section: str, key: str, args: list[str]
) -> None:
    """A typo in the section a command reads is exit 2 naming the key, before any work."""
    data = _chat_file(tmp_path)
    cfg = _config(tmp_path, f"{section}:\n  {key[:-1]}: 1\n")
    target = {"demo-model": str(tmp_path / "d"), "merge": str(tmp_path)}.get(command, str(data))
    argv = [command, target, *(a.format(tmp=tmp_path) for a in args), "--config", str(cfg)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, (result.output, result.exception)
    typo = f"unknown key in '{section}': '{key[:-1]}' (did you mean '{key}'?)"
    assert typo in result.stderr
    assert not any(
        p.name in ("c.jsonl", "d.jsonl", "s", "r", "e", "m", "d") for p in tmp_path.iterdir()
    )


def test_validate_convert_audit_split_read_their_sections(tmp_path: Path) -> None:
    data = _chat_file(tmp_path)
    runner = CliRunner()

    cfg = _config(tmp_path, "validate:\n  max_tokens: 3\n")
    report = _json(runner.invoke(main, ["validate", str(data), "--json", "--config", str(cfg)]))
    assert report["stats"]["tokens"]["max_tokens"] == 3

    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"q": "Why is the sky blue?", "a": "Rayleigh scattering."}) + "\n")
    cfg = _config(tmp_path, "convert:\n  fields: {prompt: q, response: a}\n")
    argv = ["convert", str(odd), "-o", str(tmp_path / "c.jsonl"), "--json", "--config", str(cfg)]
    assert _json(runner.invoke(main, argv))["converted"] == 1

    cfg = _config(tmp_path, "audit:\n  language_sample: 7\n  label: category\n")
    argv = ["audit", str(data), "--no-embeddings", "--json", "--config", str(cfg)]
    config = _json(runner.invoke(main, argv))["config"]
    assert (config["language_sample"], config["label"], config["embeddings"]) == (
        7,
        "category",
        False,
    )

    cfg = _config(tmp_path, "split:\n  test_size: 0.25\n  stratify: category\n")
    argv = ["split", str(data), "-o", str(tmp_path / "s"), "--json", "--no-semantic"]
    config = _json(runner.invoke(main, [*argv, "--config", str(cfg)]))["config"]
    assert (config["test_size"], config["stratify"]) == (0.25, ["category"])
    # --overwrite: split refuses a non-empty output folder (qa10 #4).
    again = [*argv, "--config", str(cfg), "--test-size", "0.5", "--overwrite"]
    config = _json(runner.invoke(main, again))
    assert config["config"]["test_size"] == 0.5


def test_help_text_comes_from_the_dataclass_docstring() -> None:
    helps = field_help(DedupConfig)
    assert helps["shingle_size"] == "Words per shingle."
    assert helps["near_threshold"].startswith("Jaccard similarity of word-shingle sets")
    result = CliRunner().invoke(main, ["dedup", "--help"])
    assert "Words per shingle.  [default: 5; x>=1]" in result.stdout


def test_one_loader_reads_both_files_with_the_same_checks(tmp_path: Path) -> None:
    from curate.errors import ConfigError
    from train.config import load_config as load_train_config

    bad = tmp_path / "t.yaml"
    bad.write_text("training:\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"training\.epochs: expected float, got str 'many'"):
        load_train_config(bad, cuda_available=False)
    bad.write_text("split:\n  test_size: many\n")
    with pytest.raises(ConfigError, match=r"split\.test_size: expected float, got str 'many'"):
        load_run_config(bad)
    # YAML 1.1 reads 2e-4 as a string: both files take it as the number
    good = tmp_path / "g.yaml"
    good.write_text("training:\n  learning_rate: 2e-4\n")
    assert load_train_config(good, cuda_available=False).training.learning_rate == 2e-4
    good.write_text("dedup:\n  near_threshold: 5e-1\n")
    assert load_run_config(good).dedup.near_threshold == 0.5


def test_eval_reads_its_section(tmp_path: Path) -> None:
    """``eval:`` values reach the eval checks (exit 2, one line) before any model loads."""
    data = _chat_file(tmp_path)
    cfg = _config(
        tmp_path, "eval:\n  max_examples: 0\n  base: x\n  tuned_url: http://127.0.0.1:9\n"
    )
    argv = ["eval", str(data), "-o", str(tmp_path / "e"), "--config", str(cfg)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr.strip() == "Error: --max-examples must be >= 1"
    result = CliRunner().invoke(main, [*argv, "--adapter", str(tmp_path), "--tuned", str(tmp_path)])
    assert result.stderr.strip() == "Error: give either --adapter or --tuned, not both"
