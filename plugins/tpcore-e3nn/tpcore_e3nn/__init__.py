"""tpcore-e3nn: e3nn (PyTorch) and e3nn-jax as extra cgtp implementations of tpcore.

Installed, it registers ``torch/cgtp/e3nn`` and ``jax/cgtp/e3nn_jax`` through the ``tpcore``
entry-point group (module :mod:`tpcore_e3nn.plugin`). Build them with
``tpcore.build(spec, backend="torch", impl="e3nn")`` or ``backend="jax", impl="e3nn_jax"``.
"""

__version__ = "0.1.0"
