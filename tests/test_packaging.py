"""The schemas ship inside the built wheel, not only in an editable install."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_contains_the_schemas(tmp_path: Path) -> None:
    # Build from a copy so the build never writes build/ or egg-info into the working tree.
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("curate", "train"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    (src / "schemas").symlink_to("curate/schemas")
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        schemas = sorted(
            n for n in names if n.startswith("curate/schemas/") and n.endswith(".json")
        )
        assert "curate/schemas/openai_chat.schema.json" in schemas
        expected = sorted(
            f"curate/schemas/{p.name}" for p in (REPO / "curate/schemas").glob("*.json")
        )
        assert schemas == expected
        shipped = json.loads(zf.read("curate/schemas/openai_chat.schema.json"))
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "curate/validate/checks.py" in names and "curate/formats.py" in names


def test_schema_loads_through_package_resources() -> None:
    from curate.validate.schema import bundled_schema_text, bundled_validator

    assert json.loads(bundled_schema_text())["title"] == "OpenAI chat fine-tuning record"
    assert bundled_validator().is_valid(
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    )
