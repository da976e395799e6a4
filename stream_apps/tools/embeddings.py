"""Embed a dataset's texts once, with progress, and keep them on disk by content.

Shared by ``streamrec evaluate`` and ``streamrec bench`` (the encoder is deterministic,
so a second run over the same texts reads the cache).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from engine.types import Matrix, TextEncoder


def _cache_file(cache_dir: Path, encoder: TextEncoder, texts: Sequence[str]) -> Path:
    config = getattr(encoder, "config", None)
    digest = hashlib.sha256(repr((type(encoder).__name__, getattr(config, "model", None),
                                  getattr(config, "max_length", None), encoder.dim)).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return cache_dir / f"{digest.hexdigest()[:32]}.npy"


def encode_texts(encoder: TextEncoder, texts: Sequence[str], desc: str, quiet: bool,
                 chunk: int = 512, cache_dir: Path | None = None) -> Matrix:
    """Embed ``texts`` in chunks so the progress bar moves; the encoder batches inside.

    With ``cache_dir``, the matrix is kept there under a hash of the encoder's model,
    its max length and the texts, so a second replay of the same dataset (another
    ranking, say) does not encode again: the encoder is deterministic.
    """
    cached = _cache_file(cache_dir, encoder, texts) if cache_dir is not None and texts else None
    if cached is not None and cached.is_file():
        matrix: Matrix = np.load(cached)
        if matrix.shape == (len(texts), encoder.dim):
            return matrix
    parts: list[Matrix] = []
    with tqdm(total=len(texts), desc=desc, unit="item", disable=quiet or len(texts) < 1000,
              file=sys.stderr, mininterval=0.5) as bar:
        for start in range(0, len(texts), chunk):
            parts.append(encoder.encode(list(texts[start:start + chunk])))
            bar.update(min(chunk, len(texts) - start))
    out = np.vstack(parts) if parts else np.zeros((0, encoder.dim), np.float32)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(cached)  # never a half-written cache file
    return out
