"""NequIP's train-time compile (compile_mode="compile": make_fx, then torch.compile with dynamic
shapes and inductor) of a model with enable_tpcore: a training step's outputs and parameter
gradients are eager e3nn's."""

import pytest

pytest.importorskip("nequip")

from nequip_helpers import QUANTITIES, assert_close, batch, loss_and_grads, model, swapped  # noqa: E402


def test_compiled_training_step_equals_eager_e3nn():
    # 2 frames: CompileGraphModel runs eager below two. One layer (convolution and gate; the
    # self-connection comes from the second): a cold compile of two took 3 minutes, e3nn's as
    # tpcore's. Other sizes on a compiled graph: test_deploy's AOTInductor package.
    reference = model(l_max=1, num_features=4, num_layers=1)
    compiled = swapped(model(l_max=1, num_features=4, num_layers=1, compile_mode="compile"))
    data = batch(2)
    expected, expected_grads = loss_and_grads(reference, data)
    actual, actual_grads = loss_and_grads(compiled, data)
    assert compiled._compiled_cache[0], "the model ran eager, not compiled"
    for key in QUANTITIES:
        assert_close(actual[key], expected[key])
    for a, e in zip(actual_grads, expected_grads, strict=True):
        assert_close(a, e)
