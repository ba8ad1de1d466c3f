"""The YAML run config: sections after commands, keys after options, flags win, typos named."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import ConfigError
from curate.pipeline import load_run_config
from tests.conftest import SAMPLE_DATA


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "curate.yaml"
    path.write_text(text)
    return path


def test_sample_config_loads() -> None:
    config = load_run_config(SAMPLE_DATA / "curate.yaml")
    assert config.split.stratify == ("category",)
    assert config.audit.label == "category"
    assert "semantic" in config.dedup.methods
    assert config.filter.max_tokens == 4096


def test_precedence_default_file_flag(tmp_path: Path) -> None:
    path = write(tmp_path, "run:\n  seed: 5\nsplit:\n  test-size: 0.3\n  val_size: 0.1\n")
    config = load_run_config(path, {"split": {"test_size": 0.2}})
    assert config.split.test_size == 0.2  # flag beats file
    assert config.split.val_size == 0.1  # file beats default
    assert config.split.clusters == 8  # default
    assert config.split.seed == config.audit.seed == 5  # run-wide seed
    assert config.dedup.seed == 0  # dedup's MinHash seed is its own


def test_no_semantic_reaches_every_stage(tmp_path: Path) -> None:
    config = load_run_config(None, {"run": {"semantic": False}})
    assert "semantic" not in config.dedup.methods
    assert config.split.semantic is False and config.audit.embeddings is False


def test_run_wide_flags_beat_the_file_sections() -> None:
    # The shipped config asks for semantic dedup and seeds nothing per section.
    flags = {"run": {"semantic": False, "seed": 3}}
    config = load_run_config(SAMPLE_DATA / "curate.yaml", flags)
    assert "semantic" not in config.dedup.methods
    assert config.split.semantic is False and config.split.seed == 3
    with pytest.raises(ConfigError, match="dedup.methods has semantic"):
        load_run_config(None, {"run": {"semantic": False}, "dedup": {"methods": ["semantic"]}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("splitt:\n  test_size: 0.1\n", "unknown section: 'splitt' (did you mean 'split'?)"),
        ("split:\n  test_sise: 0.1\n", "unknown key in 'split': 'test_sise'"),
        ("dedup:\n  near_treshold: 0.8\n", "(did you mean 'near_threshold'?)"),
        ("split:\n  test_size: lots\n", "split.test_size: expected float, got str 'lots'"),
        ("run:\n  semantic: 1\n", "run.semantic: expected bool, got int 1"),
        ("split: [1, 2]\n", "section 'split' must be a mapping"),
        ("split:\n  test_size: [0.1\n", "invalid YAML"),
        ("- a\n", "expected a mapping of sections"),
        ("split:\n  test_size: 2\n", "test_size must be between 0 and 1"),
    ],
)
def test_config_errors_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_run_config(tmp_path / "nope.yaml")


def test_convert_from_alias(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, "convert:\n  from: alpaca\n"))
    assert config.convert.fmt == "alpaca"


def test_audit_shares_dedup_model_and_side(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, "dedup:\n  model: fast\n  key: prompt\n"))
    assert (config.audit.model, config.audit.embed_side) == ("fast", "prompt")
    config = load_run_config(write(tmp_path, "dedup:\n  model: fast\naudit:\n  model: x\n"))
    assert config.audit.model == "x"


def test_drop_findings_takes_audit_codes_only(tmp_path: Path) -> None:
    config = load_run_config(write(tmp_path, "filter:\n  drop_findings: [refusal]\n"))
    assert config.filter.drop_findings == ("refusal",)
    with pytest.raises(ConfigError, match="unknown finding code 'refusals'"):
        load_run_config(write(tmp_path, "filter:\n  drop_findings: [refusals]\n"))


def test_unwritable_output_folder_is_named(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from curate.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    data = write(tmp_path, "")  # the config helper writes any text; an empty input is enough
    result = CliRunner().invoke(main, ["run", str(data), "-o", str(blocker / "out")])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"Error: {blocker / 'out'}: cannot create")
