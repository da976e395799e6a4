"""Shared aliases and the ports (Protocols) the engine talks through."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]
"""A 1-D float32 embedding, shape ``(dim,)``."""

Matrix = NDArray[np.float32]
"""A 2-D float32 array of embeddings, shape ``(n, dim)``."""


class TextEncoder(Protocol):
    """Turns texts into L2-normalised float32 embeddings of shape ``(len(texts), dim)``.

    ``name`` says which model made the vectors: vectors of two encoders never mix in
    one index (the item-vector messages carry it, and a worker checks it).
    """

    name: str

    @property
    def dim(self) -> int: ...

    def encode_query(self, query: str) -> Vector: ...

    def encode(self, texts: Sequence[str]) -> Matrix: ...


class AnnIndex(Protocol):
    """Nearest-neighbour search over item vectors keyed by external item ids."""

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def __contains__(self, item_id: object) -> bool: ...

    def upsert(self, item_ids: Sequence[str], vectors: Matrix) -> None: ...

    def delete(self, item_ids: Sequence[str]) -> int: ...

    def vectors(self, item_ids: Sequence[str]) -> Matrix: ...

    def query(self, vector: Vector, k: int) -> tuple[list[str], NDArray[np.float32]]: ...
