"""Plans compiled once (tpcore.program): straight-line generated code, resolved statements, shapes, pickling."""

import ast
import copy
import pickle

import numpy as np
import pytest
from test_autodiff import CASES, assert_close, inputs

import tpcore.execute
import tpcore.program
from tpcore.execute import ArrayOps, PlanFunction
from tpcore.plan import lower
from tpcore.program import contraction_order, resolve
from tpcore.reference import reference


def _program_function(source: str) -> ast.FunctionDef:
    make = ast.parse(source).body[0]
    return next(node for node in make.body if isinstance(node, ast.FunctionDef))


@pytest.mark.parametrize("spec, strategy", CASES)
def test_generated_code_is_straight_line(spec, strategy):
    plan = lower(spec, strategy)
    for per_sample in (False, True) if spec.weight_numel else (False,):
        program = resolve(plan, per_sample)
        function = _program_function(program.source())
        *assignments, last = function.body
        assert all(isinstance(node, ast.Assign) for node in assignments)
        assert isinstance(last, ast.Return)
        control = (ast.If, ast.For, ast.While, ast.IfExp, ast.ListComp, ast.GeneratorExp, ast.Dict, ast.Lambda)
        assert not [node for node in ast.walk(function) if isinstance(node, control)]
        # one assignment per statement (and Z); every call is a bound helper or an array method
        assert len(assignments) == len(program.statements) + 1
        for node in ast.walk(function):
            if isinstance(node, ast.Call):
                assert isinstance(node.func, ast.Name) or node.func.attr in ("reshape", "transpose", "sum"), ast.unparse(node)
        assert all(len(s.args) <= 2 for s in program.statements if s.kind == "einsum")


@pytest.mark.parametrize("spec, strategy", CASES)
def test_inferred_shapes_and_kinds_match_the_values(spec, strategy):
    plan = lower(spec, strategy)
    for per_sample in (False, True) if spec.weight_numel else (False,):
        program = resolve(plan, per_sample)
        ops = ArrayOps(np)
        consts = {ident: ops.asarray(value, np.float64) for ident, value in program.const_values().items()}
        x1, x2, w = inputs(spec, np.random.default_rng(0), batch=(3,), per_sample=per_sample)
        values = tpcore.program.compile_function(program, ops, consts, tape=True)(x1, x2, w)
        for statement, value in zip(program.statements, values, strict=True):
            assert tuple(3 if n is None else n for n in statement.shape) == value.shape, statement
            assert statement.complex == (value.dtype.kind == "c"), statement


def test_a_call_resolves_and_compiles_nothing(monkeypatch):
    spec, strategy = CASES[0].values
    tp = PlanFunction(spec, ArrayOps(np), "float64", strategy)
    x1, x2, w = inputs(spec, np.random.default_rng(1))
    expected = reference(spec, x1, x2, w)

    def refuse(*args, **kwargs):
        raise AssertionError("a call compiled something")

    for module in (tpcore.program, tpcore.execute):
        monkeypatch.setattr(module, "resolve", refuse)
        monkeypatch.setattr(module, "compile_function", refuse)
    monkeypatch.setattr(tpcore.program.Program, "source", refuse)
    assert_close(tp(x1, x2, w), expected)


@pytest.mark.parametrize("clone", [lambda f: pickle.loads(pickle.dumps(f)), copy.deepcopy], ids=["pickle", "deepcopy"])
def test_pickle_and_deepcopy_regenerate_the_functions(clone):
    spec, strategy = next(c.values for c in CASES if c.values[0].weight_numel)
    tp = PlanFunction(spec, ArrayOps(np), "float64", strategy)
    assert not any(callable(v) for v in tp.__getstate__().values() if not isinstance(v, ArrayOps))
    other = clone(tp)
    assert set(other.functions) == {False, True}
    assert all(other.functions[k] is not tp.functions[k] for k in tp.functions)
    x1, x2, w = inputs(spec, np.random.default_rng(2))
    np.testing.assert_array_equal(other(x1, x2, w), tp(x1, x2, w))


def _cost(subscripts, output, sizes, steps):
    total, terms = 0, list(subscripts)
    for a, b, result in steps:
        total += int(np.prod([sizes[c] for c in set(terms[a] + terms[b])]))
        terms = [t for k, t in enumerate(terms) if k not in (a, b)] + [result]
    assert terms == [output]
    return total


@pytest.mark.parametrize(
    "equation, sizes",
    [
        ("zui,zvj,ijk,uvw->zwk", dict(z=1024, u=8, v=8, w=8, i=5, j=5, k=5)),
        ("zui,zvj,ijk,uv->zuk", dict(z=1024, u=16, v=1, i=3, j=7, k=5)),
        ("zui,zuj,ijk,uw->zwk", dict(z=1024, u=4, w=32, i=9, j=1, k=9)),
        ("pu,zupk->zuk", dict(z=1024, p=3, u=8, k=5)),
    ],
)
def test_contraction_order_is_no_worse_than_numpys_optimal_path(equation, sizes):
    inputs_, output = equation.split("->")
    subscripts = inputs_.split(",")
    ours = _cost(subscripts, output, sizes, contraction_order(subscripts, output, sizes))
    operands = [np.zeros([sizes[c] for c in s]) for s in subscripts]
    path = np.einsum_path(equation, *operands, optimize=("optimal", 1e18))[0][1:]  # no memory limit
    terms, steps = list(subscripts), []
    for a, b in path:  # numpy's path: pairs of positions, the result appended, as ours
        others = set(output).union(*(t for k, t in enumerate(terms) if k not in (a, b)))
        result = output if len(terms) == 2 else "".join(dict.fromkeys(c for c in terms[a] + terms[b] if c in others))
        steps.append((a, b, result))
        terms = [t for k, t in enumerate(terms) if k not in (a, b)] + [result]
    assert ours <= _cost(subscripts, output, sizes, steps)


def test_pairwise_split_computes_the_einsum():
    rng = np.random.default_rng(3)
    equation, sizes = "zui,zvj,ijk,uvw->zwk", dict(z=4, u=2, v=3, w=2, i=3, j=5, k=3)
    subscripts, output = equation.split("->")[0].split(","), "zwk"
    values = dict(zip(subscripts, (rng.normal(size=[sizes[c] for c in s]) for s in subscripts)))
    terms = list(values.items())
    for a, b, result in contraction_order(subscripts, output, sizes):
        product = np.einsum(f"{terms[a][0]},{terms[b][0]}->{result}", terms[a][1], terms[b][1])
        terms = [t for k, t in enumerate(terms) if k not in (a, b)] + [(result, product)]
    np.testing.assert_allclose(terms[0][1], np.einsum(equation, *values.values()), rtol=1e-12)


def test_a_wide_batched_einsum_runs_as_a_transposed_matmul_and_agrees_with_the_reference():
    """MACE's convolution at 128 channels: its coupling ``(128, 3) @ (3, K)`` per edge is emitted as
    ``(K, 3) @ (3, 128)`` (tpcore.contraction), with per-edge weights, against the float64 oracle."""
    from tpcore.report.workloads import convolution_spec, fully_connected_spec

    spec = convolution_spec(128, 1)
    plan = lower(spec, "block")
    program = resolve(plan, per_sample=True)
    source = program.source()
    # the two couplings of the 1o block (i = 3) are matmuls now; the 0e block's (i = 1) stay einsums
    assert source.count("einsum('zui,zvik->zuvk'") == 2 and source.count("= matmul(") >= 2 and ".transpose(" in source
    assert "matmul = ops.matmul" in source
    # a program with einsums but no transposed product binds no matmul it would not call
    narrow = resolve(lower(fully_connected_spec(8, 2), "dense"), per_sample=False).source()
    assert "einsum(" in narrow and "matmul(" not in narrow.split("def program")[1] and "ops.matmul" not in narrow
    rng = np.random.default_rng(5)
    x1, x2 = rng.normal(size=(3, spec.irreps_in1.dim)), rng.normal(size=(3, spec.irreps_in2.dim))
    w = rng.normal(size=(3, spec.weight_numel))
    function = PlanFunction(spec, ArrayOps(np), "float64", "block")
    assert_close(function(x1, x2, w), reference(spec, x1, x2, w))
