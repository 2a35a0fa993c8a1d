"""Analysis of specs, pure numpy: cost models, expressivity, path importance and pruning.

- :mod:`~tpcore.analysis.flops`: FLOPs and coefficient memory per strategy, growth with L.
- :mod:`~tpcore.analysis.expressivity`: interactions, antisymmetric paths, independent output
  irreps, the interactability matrix ("The Price of Freedom").
- :mod:`~tpcore.analysis.pruning`: per-path weight views, L1 penalty, scores, sweep, pruning.
- :mod:`~tpcore.analysis.benchmark`: pruned vs unpruned speed in one run.
"""

from tpcore.analysis.expressivity import (
    Interactability,
    Interaction,
    allowed_interactions,
    antisymmetric_interactions,
    compare_variants,
    full_product_output_irreps,
    independent_output_irreps,
    interactability,
    interactions,
    missing_interactions,
)
from tpcore.analysis.flops import (
    MODEL_STRATEGIES,
    coefficient_bytes,
    flops,
    full_product_spec,
    growth_exponent,
    implementation_flops,
    plan_coefficient_bytes,
    scaling,
)
from tpcore.analysis.pruning import (
    PathScore,
    WeightMap,
    group_scores,
    keep_mask,
    l1_penalty,
    path_scores,
    path_weights,
    prune_spec,
    prune_torch_module,
    sparsity_sweep,
)

__all__ = [
    "Interactability",
    "Interaction",
    "allowed_interactions",
    "antisymmetric_interactions",
    "compare_variants",
    "full_product_output_irreps",
    "independent_output_irreps",
    "interactability",
    "interactions",
    "missing_interactions",
    "MODEL_STRATEGIES",
    "coefficient_bytes",
    "flops",
    "full_product_spec",
    "growth_exponent",
    "implementation_flops",
    "plan_coefficient_bytes",
    "scaling",
    "PathScore",
    "WeightMap",
    "group_scores",
    "keep_mask",
    "l1_penalty",
    "path_scores",
    "path_weights",
    "prune_spec",
    "prune_torch_module",
    "sparsity_sweep",
]
