"""The conformance suite can fail: broken plugins are caught, for the right reason.

The broken backend wraps the numpy plan executor. ``drop_path`` leaves out one path of a cgtp
(the first antisymmetric one, e.g. the cross product ``1o x 1o -> 1e``; computed with
``spec.with_paths``, so the output layout is the original one) and ``flip_sign`` negates the
odd-parity part of the output: both stay equivariant, so only the forward check can see them.
``swap_m`` exchanges two m-components of every ``l >= 1`` output block, which breaks equivariance.
The brokenconv backend has right products and a convolution that sums into the wrong nodes.
"""

import numpy as np
import pytest

from tpcore.execute import ArrayOps, PlanFunction
from tpcore.harness import NumpyHarness
from tpcore.hookspecs import hookimpl
from tpcore.registry import Backend, Capabilities, Implementation, get_registry, register_plugin
from tpcore.testing import CATALOGUE, CHECKS, ConformanceError, conformance_params, load_known_failures, run_case
from tpcore.testing.catalogue import CASES_BY_ID

CASE = CASES_BY_ID["cgtp_uvw_small"]  # has an antisymmetric path and odd-parity outputs


def _drop_path(spec, *, device, dtype):
    dropped = next((i for i, p in enumerate(spec.paths) if p.is_antisymmetric), len(spec.paths) - 1)
    kept = spec.with_paths([i != dropped for i in range(len(spec.paths))])
    inner = PlanFunction(kept, ArrayOps(np), dtype)
    kept_weights = np.concatenate(
        [np.arange(spec.weight_numel)[p.weight_slice] for i, p in enumerate(spec.paths) if i != dropped and p.has_weight]
        or [np.zeros(0, int)]
    )

    def tp(x1, x2, weights=None):
        return inner(x1, x2, None if weights is None or kept.weight_numel == 0 else weights[..., kept_weights])

    return tp


def _map_output(change):
    def factory(spec, *, device, dtype):
        inner = PlanFunction(spec, ArrayOps(np), dtype)
        return lambda x1, x2, weights=None: change(spec, inner(x1, x2, weights))

    return factory


def _flip_sign(spec, out):
    odd = np.concatenate([np.full(mul * ir.dim, ir.p) for mul, ir in spec.irreps_out])
    return out * odd


def _swap_m(spec, out):
    out = out.copy()
    for (mul, ir), s in zip(spec.irreps_out, spec.irreps_out.slices()):
        for u in range(mul if ir.l >= 1 else 0):
            a = s.start + u * ir.dim
            out[..., [a, a + 1]] = out[..., [a + 1, a]]
    return out


class BrokenPlugin:
    """A third-party-style plugin whose implementations compute the wrong thing."""

    FACTORIES = {"drop_path": _drop_path, "flip_sign": _map_output(_flip_sign), "swap_m": _map_output(_swap_m)}

    @hookimpl
    def tpcore_register_backends(self, register):
        register(Backend(name="broken", probe=lambda: None, default_dtype="float64", harness=NumpyHarness))

    @hookimpl
    def tpcore_register_implementations(self, register):
        for name, factory in self.FACTORIES.items():
            register(Implementation("broken", "cgtp", name, factory, Capabilities(per_sample_weights=True)))


@pytest.fixture
def broken(tpcore_env):
    register_plugin(BrokenPlugin(), name="broken-plugin")
    return get_registry()


def _impl(registry, key):
    backend, variant, name = key.split("/")
    return next(i for i in registry.implementations(backend, variant) if i.name == name)


@pytest.mark.parametrize("name", ["drop_path", "flip_sign", "swap_m"])
def test_forward_check_catches_a_broken_implementation(broken, name):
    impl = _impl(broken, f"broken/cgtp/{name}")
    with pytest.raises(ConformanceError) as info:
        CHECKS["forward"](impl, CASE, "float64", broken.harness("broken"))
    message = str(info.value)
    assert f"broken/cgtp/{name} fails forward on case cgtp_uvw_small in float64" in message
    assert "max relative error" in message and str(CASE.spec) in message


def test_the_same_checks_pass_on_the_unbroken_implementation(broken):
    impl = _impl(broken, "numpy/cgtp/dense")
    for check in ("forward", "equivariance"):
        assert CHECKS[check](impl, CASE, "float64", broken.harness("numpy")) < 1e-12


def test_equivariance_check_catches_swapped_components_and_not_equivariant_bugs(broken):
    harness = broken.harness("broken")
    with pytest.raises(ConformanceError, match=r"broken/cgtp/swap_m fails equivariance .*inputs transformed by a random rotation"):
        CHECKS["equivariance"](_impl(broken, "broken/cgtp/swap_m"), CASE, "float64", harness)
    # dropping a path or flipping the sign of odd irreps keeps the map equivariant: that check must not blame them
    for name in ("drop_path", "flip_sign"):
        CHECKS["equivariance"](_impl(broken, f"broken/cgtp/{name}"), CASE, "float64", harness)


def test_enumeration_includes_the_plugin_and_run_case_fails(broken):
    params = conformance_params(backend="broken", quick=True)
    ids = {p.id for p in params}
    assert "broken/cgtp/drop_path-forward-cgtp_uvw_small-float64" in ids
    assert not any(".grad" in i or "-grad" in i for i in ids)  # numpy harness: no gradients claimed, none enumerated
    (param,) = [p for p in params if p.id == "broken/cgtp/drop_path-forward-cgtp_uvw_small-float64"]
    with pytest.raises(ConformanceError, match="fails forward"):
        run_case(param.values[0])


def test_unusable_backends_yield_no_cases(tpcore_env):
    class Unusable(BrokenPlugin):
        @hookimpl
        def tpcore_register_backends(self, register):
            register(Backend(name="broken", probe=lambda: "broken: no such device", harness=NumpyHarness))

    register_plugin(Unusable(), name="unusable-plugin")
    assert conformance_params(backend="broken") == []


# -- declared known failures --------------------------------------------------------------------


def test_declared_known_failures_become_strict_xfails(broken, tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(
        '[[xfail]]\nkey = "broken/cgtp/drop_path"\ncheck = "forward"\ncase = "cgtp_uvw_*"\n'
        'reason = "drops the cross product (issue 42)"\n'
    )
    params = conformance_params(backend="broken", impl="drop_path", known_failures=path)
    marked = {p.id: p.marks for p in params if p.marks}
    assert set(marked) == {p.id for p in params if "-forward-cgtp_uvw_" in p.id} and marked
    for marks in marked.values():
        (mark,) = marks
        assert mark.name == "xfail" and mark.kwargs == {"reason": "drops the cross product (issue 42)", "strict": True}


def test_tpcore_declares_its_known_failures_in_one_wellformed_file():
    for failure in load_known_failures():
        assert failure.reason.strip()
        assert any(failure.matches(failure.key, c, case.id, d) for c in CHECKS for case in CATALOGUE
                   for d in ("float32", "float64")), f"{failure} matches no check of the suite"


@pytest.mark.parametrize("text, error", [
    ('[[xfail]]\nkey = "a/b/c"\n', "needs a non-empty 'reason'"),
    ('[[xfail]]\nkey = "a/b/c"\nreason = "r"\ncases = "x"\n', "unknown field"),
    ('[[skip]]\nkey = "a/b/c"\n', "unknown top-level key"),
])
def test_malformed_known_failure_files_are_refused(tmp_path, text, error):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        load_known_failures(path)


# -- the convolution op -------------------------------------------------------------------------


class BrokenConvPlugin:
    """A backend whose products are right and whose convolution is not: ``into_src`` sums each
    message into its sender, ``overwrite`` assigns with ``out[dst] += m``, which keeps one message
    per receiver (numpy does not accumulate repeated indices). Both are equivariant."""

    @staticmethod
    def convolution(product):
        def conv(x1, x2, weights, src, dst, num_nodes=None):
            messages = product(x1[src], x2, weights)
            out = np.zeros((num_nodes, messages.shape[1]), dtype=messages.dtype)
            if product.bug == "into_src":
                np.add.at(out, src, messages)
            else:
                out[dst] += messages
            return out

        return conv

    @hookimpl
    def tpcore_register_backends(self, register):
        register(Backend(name="brokenconv", probe=lambda: None, default_dtype="float64", harness=NumpyHarness,
                         convolution=lambda: BrokenConvPlugin.convolution))

    @hookimpl
    def tpcore_register_implementations(self, register):
        for bug in ("into_src", "overwrite"):
            register(Implementation("brokenconv", "cgtp", bug, _tagged(bug), Capabilities(per_sample_weights=True)))


def _tagged(bug):
    def factory(spec, *, device, dtype):
        inner = PlanFunction(spec, ArrayOps(np), dtype)

        def tp(x1, x2, weights=None):
            return inner(x1, x2, weights)

        tp.bug = bug
        return tp

    return factory


@pytest.mark.parametrize("bug", ["into_src", "overwrite"])
def test_conv_check_catches_a_broken_convolution(tpcore_env, bug):
    register_plugin(BrokenConvPlugin(), name="brokenconv-plugin")
    registry = get_registry()
    impl, harness = _impl(registry, f"brokenconv/cgtp/{bug}"), registry.harness("brokenconv")
    assert CHECKS["forward"](impl, CASE, "float64", harness) < 1e-12  # the product is right
    with pytest.raises(ConformanceError, match=rf"brokenconv/cgtp/{bug} fails conv on case cgtp_uvw_small in float64: "
                                               r"output \(shared weights\) differs from the expected values"):
        CHECKS["conv"](impl, CASE, "float64", harness)
    CHECKS["conv_equivariance"](impl, CASE, "float64", harness)  # a wrong sum of equivariant messages is equivariant
    ids = {p.id for p in conformance_params(backend="brokenconv", impl=bug, quick=True)}
    assert f"brokenconv/cgtp/{bug}-conv-cgtp_uvw_small-float64" in ids


def test_conv_checks_run_where_the_backend_offers_a_convolution(broken):
    assert CHECKS["conv"](_impl(broken, "numpy/cgtp/dense"), CASE, "float64", broken.harness("numpy")) < 1e-12
    assert not any(p.values[0].check.startswith("conv") for p in conformance_params(backend="broken"))  # it offers none


def test_tpcore_check_shows_the_conv_columns(tpcore_env, capsys):
    from tpcore.cli import main

    register_plugin(BrokenConvPlugin(), name="brokenconv-plugin")
    assert main(["check", "--backend", "brokenconv", "--impl", "into_src", "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    header, _, row = out.splitlines()[1:4]
    cells = dict(zip(header.split()[5:], row.split()[3:]))  # after the key and the two errors
    assert cells["forward"] == "ok" and cells["conv"] == "FAIL" and cells["conv_equivariance"] == "ok"
    assert "brokenconv/cgtp/into_src-conv-cgtp_uvw_small-float64" in out


class OwnConvPlugin:
    """A backend without a convolution whose implementation brings its own op
    (``Implementation.convolution``), which sums into the senders."""

    @hookimpl
    def tpcore_register_backends(self, register):
        register(Backend(name="ownconv", probe=lambda: None, default_dtype="float64", harness=NumpyHarness))

    @hookimpl
    def tpcore_register_implementations(self, register):
        def own_op(spec, *, device, dtype):
            return BrokenConvPlugin.convolution(_tagged("into_src")(spec, device=device, dtype=dtype))

        register(Implementation("ownconv", "cgtp", "own", _tagged("none"), Capabilities(per_sample_weights=True), convolution=own_op))


def test_conv_checks_run_an_implementations_own_op(tpcore_env):
    register_plugin(OwnConvPlugin(), name="ownconv-plugin")
    registry = get_registry()
    impl, harness = _impl(registry, "ownconv/cgtp/own"), registry.harness("ownconv")
    with pytest.raises(ConformanceError, match=r"ownconv/cgtp/own fails conv on case cgtp_uvw_small in float64"):
        CHECKS["conv"](impl, CASE, "float64", harness)
    assert "ownconv/cgtp/own-conv-cgtp_uvw_small-float64" in {p.id for p in conformance_params(backend="ownconv", quick=True)}
