"""`tpcore check`: exit 0 on working implementations, 1 naming a broken plugin's failures."""

from test_conformance_broken import BrokenPlugin

from tpcore.cli import main
from tpcore.registry import register_plugin


def test_check_passes_on_the_numpy_backend(tpcore_env, capsys):
    assert main(["check", "--backend", "numpy"]) == 0
    out, err = capsys.readouterr()
    assert "numpy/cgtp/dense" in out and "FAIL" not in out
    assert "Agreement between implementations" in out and "numpy/cgtp/dense:" in err  # progress goes to stderr


def test_check_fails_and_names_the_broken_plugin(tpcore_env, capsys):
    register_plugin(BrokenPlugin(), name="broken-plugin")
    assert main(["check", "--backend", "broken", "--dtype", "float64"]) == 1
    out, _ = capsys.readouterr()
    assert "broken/cgtp/drop_path" in out and "FAIL" in out
    assert "broken/cgtp/drop_path-forward-cgtp_uvw_small-float64" in out  # the failure list names the item
    assert "fails forward on case cgtp_uvw_small" in out


def test_check_reports_a_declared_failure_as_xfail(tpcore_env, capsys, tmp_path):
    register_plugin(BrokenPlugin(), name="broken-plugin")
    known = tmp_path / "known.toml"
    failing = ("forward", "batch_shapes", "per_sample_weights", "bad_input")  # equivariance and dtypes are right
    known.write_text("".join(
        f'[[xfail]]\nkey = "broken/cgtp/drop_path"\ncheck = "{check}"\nreason = "deliberately broken"\n' for check in failing
    ))
    assert main(["check", "--backend", "broken", "--impl", "drop_path", "--known-failures", str(known)]) == 0
    out, _ = capsys.readouterr()
    assert out.count("xfail") == len(failing) and "FAIL" not in out
    # strict: a declared failure that passes is a failure
    known.write_text('[[xfail]]\nkey = "broken/cgtp/drop_path"\nreason = "deliberately broken"\n')
    assert main(["check", "--backend", "broken", "--impl", "drop_path", "--known-failures", str(known)]) == 1
    assert "XPASS" in capsys.readouterr().out


def test_check_full_compares_a_kernel_only_on_what_it_accepts(tpcore_env, capsys):
    """``--full`` runs the whole catalogue, empty outputs included, and the agreement matrix
    compares a kernel only on the cases its ``accepts`` takes."""
    import pytest

    pytest.importorskip("tpcore_example")
    assert main(["check", "--backend", "example", "--full"]) == 0
    out, _ = capsys.readouterr()
    assert "example/cgtp/convolution" in out and "FAIL" not in out and "Agreement between implementations" in out
