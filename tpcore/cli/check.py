"""``tpcore check``: run the conformance suite and print the cross-implementation agreement matrix.

Per implementation it prints each check's outcome (ok, FAIL, xfail for a declared known failure,
XPASS for a declared failure that now passes, n.a. for a check it cannot have) and the largest
error relative to the reference; then, per variant, the largest difference between every pair of
implementations on the same inputs. The exit code is 1 if any check failed (XPASS included).
A backend that is not usable, or registers no harness to drive it, is listed as not checked (n/a)
and the others go on; when nothing selected can be checked, that is an error (exit 2) with the reasons.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

from tpcore.cli.common import UsageError, backend_problem, device_problem, table

HELP = "run the conformance suite on every usable implementation and print the agreement matrix"


def configure(parser: argparse.ArgumentParser) -> None:
    from tpcore.registry import DTYPES
    from tpcore.spec import VARIANTS

    parser.add_argument("--backend", help="only this backend")
    parser.add_argument("--variant", choices=VARIANTS, help="only this variant")
    parser.add_argument("--impl", help="only implementations of this name")
    parser.add_argument("--full", action="store_true", help="the whole catalogue (default: its quick subset)")
    parser.add_argument("--dtype", choices=DTYPES, help="only this dtype")
    parser.add_argument("--device", help="run every check on this device, e.g. cuda or cuda:1 (jax's gpu); "
                                         "backends without it are listed as not checked")
    parser.add_argument("--known-failures", metavar="TOML", help="extra declared failures (tpcore's own always apply)")


def run(args: argparse.Namespace) -> int:
    # JAX reads this when first imported; the suite checks every dtype an implementation claims,
    # and float64 in JAX needs 64-bit types. An explicit setting by the user wins.
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    from tpcore.registry import get_registry
    from tpcore.report.timing import backend_device
    from tpcore.testing.params import conformance_cases

    registry = get_registry()
    if args.backend is not None and args.backend not in registry.backends:
        raise UsageError(f"--backend {args.backend}: unknown backend; registered: {', '.join(registry.backends)}")
    if args.known_failures is not None:
        _check_known_failures(args.known_failures)
    implementations = [
        i for i in registry.implementations(args.backend, args.variant) if args.impl is None or i.name == args.impl
    ]
    if not implementations:
        chosen = " ".join(f"--{k} {v}" for k, v in (("backend", args.backend), ("variant", args.variant), ("impl", args.impl)) if v)
        raise UsageError(f"no implementation matches {chosen}; see `tpcore backends`")
    backends = list(dict.fromkeys(i.backend for i in implementations))
    unchecked = {b: why for b in backends if (why := backend_problem(b))}
    if args.backend in unchecked:
        raise UsageError(f"--backend {args.backend}: {unchecked[args.backend]}")
    if args.device is not None:
        unchecked |= {b: why for b in backends if b not in unchecked and (why := device_problem(b, args.device))}
        if args.backend in unchecked or len(unchecked) == len(backends):
            raise UsageError(f"--device {args.device}: " + "; ".join(f"{b}: {why}" for b, why in unchecked.items()))
    if len(unchecked) == len(backends):
        raise UsageError("nothing to check: " + "; ".join(f"{b}: {why}" for b, why in unchecked.items()))
    items = [item for b in backends if b not in unchecked
             for item in conformance_cases(b, args.variant, args.impl, quick=not args.full, dtype=args.dtype,
                                           device=backend_device(b, args.device), known_failures=args.known_failures,
                                           registry=registry)]
    by_impl = defaultdict(list)
    for item in items:
        by_impl[item.key].append(item)
    outcomes, errors, failures = {}, {}, []
    for impl in implementations:
        if impl.backend not in unchecked:
            outcomes[impl.key], errors[impl.key] = _run_implementation(impl.key, by_impl[impl.key], registry, failures)
    print(_matrix(implementations, outcomes, errors, unchecked))
    print()
    print(_agreement(registry, [i for i in implementations if i.key in outcomes], quick=not args.full, dtype=args.dtype,
                     device=args.device))
    if failures:
        print(f"\n{len(failures)} failure(s):")
        for item, message in failures:
            print(f"- {item.id}\n    " + message.replace("\n", "\n    "))
    return 1 if failures else 0


def _check_known_failures(path: str) -> None:
    from tpcore.testing.known_failures import load_known_failures

    try:
        load_known_failures(path)
    except OSError as exc:
        raise UsageError(f"--known-failures {path}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError too
        message = str(exc) if str(exc).startswith(f"{path}:") else f"{path}: not valid TOML: {exc}"
        raise UsageError(f"--known-failures {message}") from None


def _run_implementation(key, items, registry, failures) -> tuple[dict, dict]:
    """Run one implementation's items; returns ``({check: outcome}, {dtype: max error})``."""
    from tpcore.testing.params import run_case

    start = time.perf_counter()
    outcome: dict[str, str] = {}
    worst: dict[str, float] = {}
    failed = 0
    for item in items:
        try:
            worst[item.dtype] = max(worst.get(item.dtype, 0.0), run_case(item, registry))
            state = "XPASS" if item.known_failure else "ok"
            if item.known_failure:
                failures.append((item, f"declared as a known failure ({item.known_failure.reason}), but it passes"))
        except Exception as exc:  # a crash is a failure too, reported with its type
            if getattr(exc, "error", None) is not None:
                worst[item.dtype] = max(worst.get(item.dtype, 0.0), exc.error)
            state = "xfail" if item.known_failure else "FAIL"
            if not item.known_failure:
                failures.append((item, str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"))
        failed += state in ("FAIL", "XPASS")
        outcome[item.check] = _worse(outcome.get(item.check), state)
    errors = ", ".join(f"{d} {e:.1e}" for d, e in sorted(worst.items(), reverse=True))
    print(f"{key}: {len(items)} checks, {failed} failed, max error {errors or '-'} ({time.perf_counter() - start:.1f} s)",
          file=sys.stderr)
    return outcome, worst


_SEVERITY = ("ok", "xfail", "XPASS", "FAIL")


def _worse(a: str | None, b: str) -> str:
    return b if a is None else max(a, b, key=_SEVERITY.index)


def _matrix(implementations, outcomes, errors, unchecked: dict[str, str]) -> str:
    from tpcore.testing.checks import CHECKS

    rows = []
    for impl in implementations:
        if impl.key in outcomes:
            worst = [f"{errors[impl.key][d]:.1e}" if d in errors[impl.key] else "-" for d in ("float64", "float32")]
            rows.append([impl.key, *worst] + [outcomes[impl.key].get(name, "n.a.") for name in CHECKS])
    headers = ["implementation", "err f64", "err f32", *CHECKS]
    lines = ["Conformance (max error relative to max|reference|, over all checks)", table(headers, rows)]
    for backend, why in unchecked.items():
        keys = ", ".join(i.key for i in implementations if i.backend == backend)
        lines.append(f"  {backend}: n/a, {why} ({keys})")
    return "\n".join(lines)


def _agreement(registry, implementations, quick: bool, dtype: str | None, device: str | None = None) -> str:
    """Per variant, the max relative difference between each pair of implementations' outputs."""
    from tpcore.report.timing import backend_device
    from tpcore.spec import VARIANTS
    from tpcore.testing.catalogue import cases

    lines = ["Agreement between implementations (max |a - b| / max|reference| over the same inputs)"]
    variants = sorted({i.variant for i in implementations}, key=VARIANTS.index)
    for variant in variants:
        impls = [i for i in implementations if i.variant == variant]
        outputs = {i.key: _outputs(registry, i, cases(variant, quick), dtype, backend_device(i.backend, device)) for i in impls}
        headers = ["", *(f"[{n}]" for n in range(1, len(impls) + 1))]
        rows = []
        for n, a in enumerate(impls, start=1):
            rows.append([f"[{n}] {a.key}", *("-" if a is b else _difference(outputs[a.key], outputs[b.key]) for b in impls)])
        lines += ["", f"{variant}:", table(headers, rows) if len(impls) > 1 else f"  {impls[0].key} (no other implementation)"]
    return "\n".join(lines)


def _outputs(registry, impl, case_list, dtype, device=None):
    """``{case id: (output, scale)}`` in float64 where the implementation has it; None where it fails."""
    from tpcore.reference import reference
    from tpcore.testing.checks import built, random_inputs

    claimed = set(impl.capabilities.dtypes) & set(registry.backends[impl.backend].dtypes)
    use = dtype or ("float64" if "float64" in claimed else "float32")
    harness = registry.harness(impl.backend)
    out = {}
    for case in case_list:
        modes = impl.capabilities.modes
        if use not in claimed or (modes is not None and not case.modes <= modes) or not registry.accepts(impl, case.spec):
            continue
        # float32-representable inputs, so implementations run in either dtype see the same numbers
        x1, x2, w = random_inputs(case.spec, 0, "float32")
        expected = reference(case.spec, x1, x2, w)
        scale = (float(abs(expected).max()) if expected.size else 0.0) or 1.0
        try:
            _, forward = built(impl, case.spec, use, device, harness)
            arrays = [None if a is None else harness.asarray(a, use, device) for a in (x1, x2, w)]
            out[case.id] = (harness.to_numpy(forward(*arrays)), scale)
        except Exception:  # the conformance matrix above reports why
            out[case.id] = None
    return out


def _difference(a: dict, b: dict) -> str:
    common = set(a) & set(b)
    if not common:
        return "-"
    if any(a[c] is None or b[c] is None for c in common):
        return "error"
    return f"{max(float(abs(a[c][0] - b[c][0]).max(initial=0.0)) / a[c][1] for c in common):.0e}"


__all__ = ["configure", "run", "HELP"]
