import subprocess
import sys


def test_import_tpcore_loads_no_framework():
    code = (
        "import sys, tpcore\n"
        "spec = tpcore.TensorProductSpec.cgtp('2x0e + 1x1o', '1x1o', '1x1e + 1x0e')\n"
        "tpcore.reference(spec, [[1.0] * 5], [[1.0] * 3], [1.0] * spec.weight_numel)\n"
        "print(','.join(m for m in ('torch', 'jax', 'jaxlib', 'cupy', 'e3nn', 'e3nn_jax', 'scipy') if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_reference_is_the_function():
    import tpcore
    import tpcore.reference  # noqa: F401 - importing the module must not shadow the function

    assert callable(tpcore.reference) and tpcore.reference.__name__ == "reference"
