"""Ranking after the model: maximal marginal relevance, a category cap, exploration.

All functions take arrays and return new index arrays into the candidate list; they
never change their inputs. Randomness comes in as a ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.config import ConfigError
from engine.errors import DimensionMismatch, InvalidEvent
from engine.types import Matrix


@dataclass(frozen=True)
class DiversifyConfig:
    """``strength`` in [0, 1]: 0 is pure relevance, 1 pure novelty (MMR's lambda).
    ``max_per_category``: at most this many items per category on a page (``None``:
    no cap). ``explore_share`` in [0, 1): the expected share of a page given to
    candidates outside the top, so the model keeps learning about them; the first
    ``protect_top`` slots are never swapped."""

    strength: float = 0.3
    max_per_category: int | None = None
    explore_share: float = 0.1
    protect_top: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            raise ConfigError(f"strength must be in [0, 1], got {self.strength!r}")
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ConfigError(f"max_per_category must be >= 1 or None, got {self.max_per_category!r}")
        if not (math.isfinite(self.explore_share) and 0.0 <= self.explore_share < 1.0):
            raise ConfigError(f"explore_share must be in [0, 1), got {self.explore_share!r}")
        if self.protect_top < 0:
            raise ConfigError(f"protect_top must be >= 0, got {self.protect_top!r}")


def mmr(
    item_vectors: Matrix,
    relevance: NDArray[np.floating],
    k: int,
    strength: float,
    categories: Sequence[Sequence[str]] | None = None,
    max_per_category: int | None = None,
) -> NDArray[np.intp]:
    """Greedy maximal marginal relevance: indices of up to ``k`` candidates, in order.

    Each step picks ``argmax (1 - strength) * relevance[i] - strength * max_{j picked}
    cos(i, j)`` (ties: the lower index). ``item_vectors`` has shape ``(n, dim)`` and unit
    rows; ``relevance`` shape ``(n,)``. With ``max_per_category``, a candidate sharing a
    category that already has that many picks is skipped (so fewer than ``k`` may come back).

    >>> v = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    >>> mmr(v, np.array([0.9, 0.8, 0.5]), k=2, strength=0.0).tolist()
    [0, 1]
    >>> mmr(v, np.array([0.9, 0.8, 0.5]), k=2, strength=0.5).tolist()
    [0, 2]
    """
    vectors = np.asarray(item_vectors, dtype=np.float32)
    rel = np.asarray(relevance, dtype=np.float64)
    n = rel.shape[0] if rel.ndim == 1 else -1
    if rel.ndim != 1 or vectors.ndim != 2 or vectors.shape[0] != n:
        raise DimensionMismatch(f"need item_vectors (n, dim) and relevance (n,), got "
                                f"{vectors.shape} and {rel.shape}")
    if categories is not None and len(categories) != n:
        raise DimensionMismatch(f"categories has {len(categories)} entries for {n} candidates")
    if not 0.0 <= strength <= 1.0:
        raise InvalidEvent(f"strength must be in [0, 1], got {strength!r}")
    if k < 0:
        raise InvalidEvent(f"k must be >= 0, got {k!r}")
    picked: list[int] = []
    taken = np.zeros(n, dtype=bool)
    left = n
    max_sim = np.full(n, 0.0)  # no penalty before the first pick
    relevance_part = (1.0 - strength) * rel  # the same products each step: computed once
    per_category: dict[str, int] = {}
    while len(picked) < k and left:
        gain = relevance_part - strength * max_sim
        gain[taken] = -np.inf
        best = int(gain.argmax())
        taken[best] = True
        left -= 1
        if categories is not None and max_per_category is not None:
            cats = set(categories[best])
            if any(per_category.get(c, 0) >= max_per_category for c in cats):
                continue  # skipped, not picked: the cap is strict
            for c in cats:
                per_category[c] = per_category.get(c, 0) + 1
        picked.append(best)
        sims = (vectors @ vectors[best]).astype(np.float64)
        max_sim = sims if len(picked) == 1 else np.maximum(max_sim, sims)
    return np.asarray(picked, dtype=np.intp)


def explore(
    page: NDArray[np.intp],
    n_candidates: int,
    share: float,
    rng: np.random.Generator,
    protect_top: int = 1,
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Swap some slots of ``page`` for candidates outside it (uniformly drawn).

    The number swapped is ``floor(share * len(page))`` plus one more with probability
    equal to the fractional part, so the expected share is exact; slots are drawn from
    those after the first ``protect_top``. Returns the new page and a mask of explored
    slots (log it: feedback on explored items is the unbiased signal).

    >>> page, mask = explore(np.arange(5), 20, 0.4, np.random.default_rng(0))
    >>> int(mask.sum()), bool(np.all(page[mask] >= 5))
    (2, True)
    """
    page = np.asarray(page, dtype=np.intp)
    if not (math.isfinite(share) and 0.0 <= share < 1.0):
        raise InvalidEvent(f"share must be in [0, 1), got {share!r}")
    if page.ndim != 1 or (page.size and (page.min() < 0 or page.max() >= n_candidates)):
        raise DimensionMismatch(f"page must be 1-D indices into {n_candidates} candidates")
    slots = np.arange(min(protect_top, page.size), page.size)
    unused = np.ones(n_candidates, dtype=bool)  # np.setdiff1d's answer without its sorting
    unused[page] = False
    outside = np.flatnonzero(unused)
    exact = share * page.size
    count = int(math.floor(exact)) + int(rng.random() < exact - math.floor(exact))
    count = min(count, slots.size, outside.size)
    new_page = page.copy()
    mask = np.zeros(page.size, dtype=bool)
    if count:
        chosen_slots = rng.choice(slots, size=count, replace=False)
        new_page[chosen_slots] = rng.choice(outside, size=count, replace=False)
        mask[chosen_slots] = True
    return new_page, mask


def rerank(
    item_vectors: Matrix,
    relevance: NDArray[np.floating],
    k: int,
    config: DiversifyConfig,
    rng: np.random.Generator,
    categories: Sequence[Sequence[str]] | None = None,
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """MMR (with the category cap) to pick a page of ``k``, then exploration over the
    candidates left out. Returns ``(indices, explored_mask)``."""
    page = mmr(item_vectors, relevance, k, config.strength, categories, config.max_per_category)
    return explore(page, np.asarray(relevance).shape[0], config.explore_share, rng,
                   config.protect_top)
