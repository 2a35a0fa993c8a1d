"""NequIP's own command-line path: ``nequip-train`` with ``enable_tpcore`` in the config, the
checkpoint loaded back without it (NequIP skips non-persistent modifiers there, so tpcore's
state_dict loads into e3nn's modules), then ``nequip-compile --mode aotinductor --modifiers
enable_tpcore``: the package computes what the e3nn model of that checkpoint computes."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nequip")

from nequip_helpers import assert_close, batch, outputs  # noqa: E402

BIN = Path(sys.executable).parent
HERE = Path(__file__).parent


def run(command, cwd):
    done = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("nequip-train")
    run(["nequip-train", "-cp", str(HERE), "-cn", "tiny_emt", f"hydra.run.dir={out}"], cwd=out)
    return out / "last.ckpt"


def test_checkpoint_trained_with_the_modifier_loads_into_e3nn(checkpoint):
    import torch
    from nequip.model.saved_models.load_utils import load_saved_model

    import tpcore_nequip

    model_config = torch.load(checkpoint, map_location="cpu", weights_only=False)["hyper_parameters"]["model"]
    assert model_config["modifiers"] == [{"modifier": "enable_tpcore"}]
    assert tpcore_nequip.tensor_products(load_saved_model(checkpoint))  # e3nn's modules, tpcore's weights


def test_nequip_compile_aotinductor_equals_e3nn(checkpoint):
    import torch
    from nequip.model.saved_models.load_utils import load_saved_model
    from nequip.nn.compile import DictInputOutputWrapper
    from nequip.scripts._compile_utils import COMPILE_TARGET_DICT

    package = checkpoint.parent / "model.nequip.pt2"
    run(["nequip-compile", str(checkpoint), str(package), "--mode", "aotinductor", "--device", "cpu", "--target", "ase",
         "--modifiers", "enable_tpcore"], cwd=checkpoint.parent)  # fmt: skip
    target = COMPILE_TARGET_DICT["ase"]
    deployed = DictInputOutputWrapper(torch._inductor.aoti_load_package(str(package)), target["input"], target["output"])
    reference = load_saved_model(checkpoint)
    data = batch(1, seed=7, types=["Cu"])  # another frame and size than the ones it was compiled on
    actual, expected = deployed(dict(data)), outputs(reference, data)
    for key in ("total_energy", "forces", "stress"):
        assert_close(actual[key], expected[key])
