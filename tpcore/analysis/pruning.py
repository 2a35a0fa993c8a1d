"""Path pruning of cgtp specs (seed: "Towards Flexible, Efficient, and Effective Tensor Product Networks").

The recipe: train with an L1 penalty on each path's weights (:func:`l1_penalty`), score each path
by the share of its weights that ended up negligible (:func:`path_scores`, ``|w| < 0.004``), drop
the paths whose share reaches a cutoff (:func:`prune_spec`), carry the trained
weights over with the returned :class:`WeightMap`, and fine-tune. A pruned spec keeps every input
and output block, so the pruned tensor product is a drop-in replacement that equals the original
with the dropped paths' weights set to zero.

Weights may be numpy, torch or jax arrays, shared ``(weight_numel,)`` or per sample
``(..., weight_numel)``; no framework is imported here (see :mod:`tpcore.analysis.frameworks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tpcore.analysis.expressivity import Interaction
from tpcore.analysis.frameworks import namespace_of, scatter_last, take_last, to_numpy
from tpcore.spec import TensorProductSpec

#: |w| below which a trained weight counts as negligible (the seed paper's value, after L1 training)
WEIGHT_THRESHOLD = 0.004
#: a path is pruned when at least this share of its weights is negligible
SCORE_THRESHOLD = 0.5


def _check_weights(spec: TensorProductSpec, weights) -> None:
    if spec.variant != "cgtp":
        raise ValueError(
            f"per-path weights exist for cgtp specs only; a {spec.variant} spec's weights are per channel and "
            "degree, shared by every path into that degree"
        )
    if weights is None or tuple(weights.shape)[-1:] != (spec.weight_numel,):
        shape = None if weights is None else tuple(weights.shape)
        raise ValueError(f"weights must have shape (..., {spec.weight_numel}) (the spec's weight_numel), got {shape}")


def path_weights(spec: TensorProductSpec, weights) -> list:
    """Each path's weights as ``(..., *path.weight_shape)``; ``None`` for a path without weights.

    Slices of ``weights`` (views in numpy and torch, so a torch view shares the Parameter's grad).
    """
    _check_weights(spec, weights)
    batch = tuple(weights.shape[:-1])
    views = []
    for p in spec.paths:
        s = p.weight_slice
        views.append(None if s is None else weights[..., s.start : s.stop].reshape(batch + tuple(p.weight_shape)))
    return views


def l1_penalty(spec: TensorProductSpec, weights):
    """``sum over weighted paths of mean |w_path|`` in the weights' framework (differentiable in torch/jax).

    Averaging within a path before summing gives every path the same pull toward zero whatever its
    size, which is what makes the per-path scores comparable.
    """
    xp = namespace_of(weights)
    terms = [xp.mean(xp.abs(view)) for view in path_weights(spec, weights) if view is not None]
    if not terms:
        raise ValueError(f"{spec} has no weighted paths, so there is nothing to penalize")
    return sum(terms[1:], terms[0])


@dataclass(frozen=True)
class PathScore:
    """Importance of path ``index``: the share of its weights with ``|w| < threshold`` and their mean ``|w|``."""

    index: int
    interaction: Interaction
    numel: int
    fraction_below: float
    mean_abs: float


def path_scores(spec: TensorProductSpec, weights, threshold: float = WEIGHT_THRESHOLD) -> tuple[PathScore, ...]:
    """One :class:`PathScore` per weighted path of ``spec`` (paths without weights are never scored)."""
    views = path_weights(spec, weights)
    scores = []
    for k, (p, view) in enumerate(zip(spec.paths, views)):
        if view is None:
            continue
        magnitudes = np.abs(to_numpy(view))
        scores.append(
            PathScore(
                index=k,
                interaction=Interaction(p.ir_in1, p.ir_in2, p.ir_out),
                numel=magnitudes.size,
                fraction_below=float(np.mean(magnitudes < threshold)) if magnitudes.size else 1.0,
                mean_abs=float(np.mean(magnitudes)) if magnitudes.size else 0.0,
            )
        )
    return tuple(scores)


def group_scores(scores: Sequence[PathScore]) -> dict[Interaction, PathScore]:
    """Scores pooled over the paths with the same ``(ir_in1, ir_in2, ir_out)``, as the seed paper reports them.

    The pooled ``index`` is the first path's; shares and means are weighted by the paths' sizes.
    """
    grouped: dict[Interaction, list[PathScore]] = {}
    for s in scores:
        grouped.setdefault(s.interaction, []).append(s)
    pooled = {}
    for key, members in grouped.items():
        numel = sum(s.numel for s in members)
        share = lambda attr: sum(getattr(s, attr) * s.numel for s in members) / max(numel, 1)  # noqa: E731
        pooled[key] = PathScore(members[0].index, key, numel, share("fraction_below"), share("mean_abs"))
    return pooled


def keep_mask(spec: TensorProductSpec, scores_or_mask, threshold: float = SCORE_THRESHOLD) -> np.ndarray:
    """Which paths to keep: a boolean mask as given, or the paths whose score is below ``threshold``.

    ``scores_or_mask`` is a boolean sequence (True = keep) with one entry per path, a sequence of
    :class:`PathScore` (paths without a score are kept), or one float score per path.
    """
    n = len(spec.paths)
    if len(scores_or_mask) and all(isinstance(s, PathScore) for s in scores_or_mask):
        keep = np.ones(n, dtype=bool)
        for s in scores_or_mask:
            keep[s.index] = s.fraction_below < threshold
        return keep
    values = np.asarray(scores_or_mask)
    if values.shape != (n,):
        raise ValueError(f"scores_or_mask must have one entry per path ({n}), got shape {values.shape}")
    if values.dtype == bool:
        return values.copy()
    if values.dtype.kind not in "fi":
        raise ValueError(f"scores_or_mask must be booleans (keep) or numbers (scores), got dtype {values.dtype}")
    return ~(values >= threshold)


@dataclass(frozen=True)
class WeightMap:
    """How weights move from a spec to its pruned spec: ``new = old[..., index]``.

    ``kept_paths`` are the old path indices, in the new spec's order.
    """

    index: np.ndarray
    old_numel: int
    kept_paths: tuple[int, ...]

    @property
    def new_numel(self) -> int:
        return int(self.index.size)

    def apply(self, weights):
        """Old-layout weights (numpy, torch or jax; ``(..., old_numel)``) in the new layout."""
        if tuple(weights.shape)[-1:] != (self.old_numel,):
            raise ValueError(f"weights must have shape (..., {self.old_numel}) (the unpruned layout), got {tuple(weights.shape)}")
        return take_last(weights, self.index)

    def restore(self, weights):
        """New-layout weights back in the old layout, with zeros for the pruned paths."""
        if tuple(weights.shape)[-1:] != (self.new_numel,):
            raise ValueError(f"weights must have shape (..., {self.new_numel}) (the pruned layout), got {tuple(weights.shape)}")
        return scatter_last(weights, self.index, self.old_numel)

    def apply_to_state_dict(self, state_dict, key: str = "weight") -> dict:
        """A copy of ``state_dict`` whose ``key`` entry is in the new layout (e.g. a torch module's)."""
        if key not in state_dict:
            raise KeyError(f"state_dict has no entry {key!r}; it has {', '.join(state_dict) or 'none'}")
        return {**state_dict, key: self.apply(state_dict[key])}


def prune_spec(spec: TensorProductSpec, scores_or_mask, threshold: float = SCORE_THRESHOLD):
    """``(pruned_spec, WeightMap)``: ``spec`` without the paths :func:`keep_mask` drops."""
    keep = keep_mask(spec, scores_or_mask, threshold)
    pruned = spec.with_paths(keep)
    kept = tuple(int(k) for k in np.flatnonzero(keep))
    index = [np.arange(spec.paths[k].weight_slice.start, spec.paths[k].weight_slice.stop) for k in kept if spec.paths[k].has_weight]
    index = np.concatenate(index).astype(np.int64) if index else np.zeros(0, dtype=np.int64)
    return pruned, WeightMap(index=index, old_numel=spec.weight_numel, kept_paths=kept)


def prune_torch_module(module, scores_or_mask, threshold: float = SCORE_THRESHOLD):
    """``(new_module, WeightMap)``: a tpcore torch module rebuilt on the pruned spec with its weights carried over.

    The new module has the old one's strategy, dtype and device; put it where the old one was.
    """
    import tpcore

    pruned, weight_map = prune_spec(module.spec, scores_or_mask, threshold)
    new = tpcore.build(
        pruned, backend="torch", impl=module.strategy, device=str(module.device),
        dtype=str(module.dtype).removeprefix("torch."),
    )  # fmt: skip
    new.load_state_dict(weight_map.apply_to_state_dict(module.state_dict()))
    return new, weight_map


def sparsity_sweep(
    spec: TensorProductSpec, weights, thresholds: Sequence[float], score_threshold: float = SCORE_THRESHOLD
) -> list[tuple[float, float]]:
    """``(weight threshold, share of weighted paths pruned)`` for each weight threshold."""
    rows = []
    for t in thresholds:
        scores = path_scores(spec, weights, threshold=t)
        pruned = sum(s.fraction_below >= score_threshold for s in scores)
        rows.append((float(t), pruned / max(len(scores), 1)))
    return rows
