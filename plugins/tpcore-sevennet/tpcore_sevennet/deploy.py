"""SevenNet's serial LAMMPS deploy (``sevenn.scripts.deploy.deploy``) with the products on tpcore.

SevenNet's deploy builds the model from a checkpoint inside the function, with no way to hand it a
built model, so these are its steps with :func:`tpcore_sevennet.patch` between building and
scripting: drop the force module (the pair style differentiates the energy itself), map no atom
types, mark the data unbatched, script with e3nn's ``script`` (which follows the layers' compile
modes), ``torch.jit.freeze``, and save with the metadata the pair style ``e3gnn`` reads.
"""

from __future__ import annotations

import pathlib
from datetime import datetime

import torch

from tpcore_sevennet.patch import patch


def deployable(model: torch.nn.Module, modal: str | None = None) -> torch.jit.ScriptModule:
    """The frozen TorchScript module that SevenNet's deploy makes of a built (patched or not) ``model``.

    ``model`` is modified on the way (its force module removed, set to eval); pass a copy to keep it.
    """
    import e3nn.util.jit

    if "force_output" in model._modules:
        model.delete_module_by_key("force_output")
    if hasattr(model, "eval_type_map"):
        model.eval_type_map = False
    if modal:
        model.prepare_modal_deploy(modal)
    elif model.modal_map is not None and len(model.modal_map) >= 1:
        raise ValueError(f"modal is not given; the model has: {list(model.modal_map.keys())}")
    model.set_is_batch_data(False)
    model.eval()
    return torch.jit.freeze(e3nn.util.jit.script(model))


def deploy(checkpoint: str | pathlib.Path, fname: str = "deployed_serial.pt", modal: str | None = None, *,
           backend: str = "torch", impl: str | None = None) -> str:
    """Write SevenNet's LAMMPS serial model of ``checkpoint`` (a path or a pretrained name such as
    ``"7net-0"``) with its products on tpcore; returns the file name (``.pt`` appended if missing)."""
    import sevenn
    import sevenn._keys as KEY
    from ase.data import chemical_symbols
    from sevenn.util import load_checkpoint

    cp = load_checkpoint(checkpoint)
    config = cp.config
    model = deployable(patch(cp.build_model(), backend=backend, impl=impl), modal)
    md_configs = {
        "chemical_symbols_to_index": "".join(chemical_symbols[z] + " " for z in config[KEY.TYPE_MAP]),
        "cutoff": str(config[KEY.CUTOFF]),
        "num_species": str(config[KEY.NUM_SPECIES]),
        "flashTP": "no",
        "oeq": "no",
        "model_type": config.pop(KEY.MODEL_TYPE, "E3_equivariant_model"),
        "version": sevenn.__version__,
        "dtype": config.pop(KEY.DTYPE, "single"),
        "time": datetime.now().strftime("%Y-%m-%d"),
    }
    fname = str(fname)
    if not fname.endswith(".pt"):
        fname += ".pt"
    torch.jit.save(model, fname, _extra_files=md_configs)
    return fname
