"""--model from a GGUF file or an installed model package: converted once into a cached
transformers folder. A tiny Llama GGUF is written by the test itself with the `gguf` package,
and a model package is a real dist-info folder on sys.path (what pip would install)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from curate.cli import main
from curate.models.resolve import cached_models, packaged_models, resolve_model
from tests.train.gguf_helpers import tiny_llama, write_tiny_gguf

pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    model, tok = tiny_llama()
    path = tmp_path_factory.mktemp("gguf") / "Tiny-Test-Llama.F32.gguf"
    return write_tiny_gguf(path, model, tok), model, tok


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CURATE_MODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_gguf_converts_once_to_a_folder_with_the_same_model(
    tiny_gguf: tuple[Path, Any, Any], cache: Path
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, original, tok = tiny_gguf
    logs: list[str] = []
    folder = Path(resolve_model(str(path), logs.append))
    assert folder.parent == cache and folder.name.startswith("tiny-test-llama-")
    assert any("converting Tiny-Test-Llama.F32.gguf" in line for line in logs)
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    # same tokens, same chat rendering, same logits as the model the GGUF was written from
    converted_tok = AutoTokenizer.from_pretrained(folder)
    msgs = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog."}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert converted_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == (
        text
    )
    ids = tok(text, add_special_tokens=False).input_ids
    assert converted_tok(text, add_special_tokens=False).input_ids == ids
    converted = AutoModelForCausalLM.from_pretrained(folder)
    x = torch.tensor([ids])
    with torch.no_grad():
        assert torch.allclose(original(x).logits, converted(x).logits, atol=1e-5)
    assert converted_tok.eos_token == "<|im_end|>"
    # second load: the cached folder, no conversion (nothing logged)
    again: list[str] = []
    assert resolve_model(str(path), again.append) == str(folder) and again == []
    [entry] = cached_models()
    assert entry["path"] == str(folder) and entry["source"] == str(path.resolve())
    assert len(entry["sha256"]) == 64


def test_a_model_package_is_found_by_name(
    tiny_gguf: tuple[Path, Any, Any], cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "tiny_models").mkdir(parents=True)
    gguf_rel = "tiny_models/Tiny-Test-Llama.Q8_0.gguf"
    (site / gguf_rel).write_bytes(tiny_gguf[0].read_bytes())
    info = site / "tiny_models-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-models\nVersion: 0.3\n")
    (info / "RECORD").write_text(f"{gguf_rel},,\ntiny_models-0.3.dist-info/METADATA,,\n")
    monkeypatch.syspath_prepend(str(site))
    found = [m for m in packaged_models() if m.package == "tiny-models"]
    assert [(m.name, m.version) for m in found] == [("tiny-test-llama", "0.3")]
    folder = resolve_model("tiny-test-llama")
    assert Path(folder).parent == cache and (Path(folder) / "config.json").is_file()
    assert resolve_model("tiny-models") == folder  # the package name works too
    assert resolve_model("no-such-model-xyz") == "no-such-model-xyz"  # left to transformers
    res = CliRunner().invoke(main, ["models", "--json"])
    assert res.exit_code == 0, res.stderr
    report = json.loads(res.stdout)
    [pkg] = [p for p in report["packages"] if p["package"] == "tiny-models"]
    assert pkg["converted"] and pkg["name"] == "tiny-test-llama"
    assert [c["path"] for c in report["cache"]] == [folder]
    assert "curate demo-model" in report["demo_toy"]["how"]
    text = CliRunner().invoke(main, ["models"])
    assert "tiny-test-llama" in text.stderr and "demo toy" in text.stderr


def test_train_merge_and_eval_take_a_gguf_model(
    tiny_gguf: tuple[Path, Any, Any], cache: Path, tmp_path: Path, memo_split: Path
) -> None:
    path = tiny_gguf[0]
    out = tmp_path / "adapter"
    args = ["train", str(memo_split), "-o", str(out), "--model", str(path), "--no-quantize"]
    args += ["--max-steps", "2", "--quiet", "--chat-template", "chatml"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.stderr
    base = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base).parent == cache  # merge/eval find the converted folder, not the GGUF
    merged = CliRunner().invoke(main, ["merge", str(out), "-o", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.stderr
    ev = CliRunner().invoke(
        main,
        ["eval", str(memo_split / "val.jsonl"), "-o", str(tmp_path / "ev"), "--base", str(path)]
        + ["--adapter", str(out), "--max-new-tokens", "4"],
    )
    assert ev.exit_code == 0, ev.stderr
    settings = json.loads((tmp_path / "ev" / "eval.json").read_text())["settings"]
    assert settings["base"] == base
