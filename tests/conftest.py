"""Fixtures shared by all tests. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

# Nothing may be fetched from a model hub in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The pinned digests of semantic outputs (tests/dedup/test_identity.py) were taken with
# OpenBLAS's Haswell kernels; on an AVX-512 CPU it picks SkylakeX ones, whose float32 sums
# differ in the last bits, and a cosine on the threshold moves a pair. Before numpy loads;
# only where the CPU has AVX2 (Haswell's kernels need it).
_cpu = Path("/proc/cpuinfo")
if platform.machine() == "x86_64" and _cpu.exists() and " avx2" in _cpu.read_text():
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO_ROOT / "sample_data"


@pytest.fixture(scope="session", autouse=True)
def isolated_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or fill the user's embedding cache (~/.cache/curate)."""
    cache = tmp_path_factory.mktemp("embedding_cache")
    os.environ["CURATE_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2-architecture causal LM + BPE tokenizer with a ChatML template."""
    from train.demo_model import build_demo_model

    return build_demo_model(tmp_path_factory.mktemp("tiny_model"))
