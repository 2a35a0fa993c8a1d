"""The tetris example runs in each framework and learns (one tiny run per framework, cgtp)."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def tetris(request):
    sys.path.insert(0, str(EXAMPLES))
    request.addfinalizer(lambda: sys.path.remove(str(EXAMPLES)))
    return importlib.import_module("tetris_data")


def test_dataset_has_a_mirror_image_pair_and_fixed_edge_counts(tetris):
    left, right = (np.array(tetris.PIECES[name], float) for name in ("chiral_left", "chiral_right"))
    mirrored = left * np.array([1, -1, 1])
    assert {tuple(p) for p in mirrored} == {tuple(p) for p in right}
    a, b = tetris.make_dataset(2, seed=0)
    assert len(a.src) == len(b.src) and a.num_graphs == len(tetris.CLASSES)
    # rotations keep the shape: pairwise distances within a piece are the template's up to noise
    d = np.linalg.norm(a.pos[:4, None] - a.pos[None, :4], axis=-1)
    template = np.array(tetris.PIECES["chiral_left"], float)
    assert np.abs(d - np.linalg.norm(template[:, None] - template[None], axis=-1)).max() < 0.5


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_one_short_training_run_lowers_the_loss(tetris, framework):
    pytest.importorskip(framework)
    pytest.importorskip("e3nn" if framework == "torch" else "e3nn_jax")
    trainer = importlib.import_module(f"tetris_{framework}")
    train_set, test_set = tetris.make_dataset(4, seed=0), tetris.make_dataset(1, seed=1)
    result = trainer.train("cgtp", train_set, test_set, epochs=3, per_batch=2)
    assert len(result["losses"]) == 3 and all(np.isfinite(result["losses"]))
    assert result["losses"][-1] < result["losses"][0]
    assert 0.0 <= result["accuracy"] <= 1.0
