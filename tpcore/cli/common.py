"""What the subcommands of ``tpcore`` share: argument types and checks, the spec options, tables.

Every subcommand module imports from here and nothing from :mod:`tpcore.cli` itself, which only
collects the subcommands. A subcommand checks every argument, output path and backend before it
spends any time measuring, and reports a bad one by raising :class:`UsageError`: the user sees one
line, ``tpcore <command>: error: <message naming the argument>``, and exit code 2, like argparse's
own errors; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

#: exit code of a usage error, as argparse uses
USAGE_ERROR = 2
#: exit code after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2)
INTERRUPTED = 130
#: the largest --batch a subcommand takes: ten million rows of the smallest workload already fill
#: gigabytes, and a larger number is a typo, not a measurement
MAX_BATCH = 10_000_000
#: the largest --lmax of ``report`` and ``compare``, which time every degree up to it: twice the
#: degree their documented tables reach
MAX_LMAX = 12


class UsageError(Exception):
    """A bad argument; the message names it, says what was expected and what arrived."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def batch_size(text: str) -> int:
    """argparse type: an integer from 1 to :data:`MAX_BATCH`."""
    return _bounded_int(text, MAX_BATCH)


def degree(text: str) -> int:
    """argparse type: an integer from 1 to :data:`MAX_LMAX`."""
    return _bounded_int(text, MAX_LMAX)


def _bounded_int(text: str, bound: int) -> int:
    value = positive_int(text)
    if value > bound:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {bound:,}, got {value:,}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def names(text: str) -> list[str]:
    """argparse type: a comma-separated list of at least one name."""
    found = [t.strip() for t in text.split(",") if t.strip()]
    if not found:
        raise argparse.ArgumentTypeError(f"expected one or more comma-separated names, got {text!r}")
    return found


def check_names(option: str, given: Sequence[str], known: Sequence[str], what: str) -> None:
    """Raise :class:`UsageError` if a name in ``given`` is not in ``known`` (``what``: "the variants")."""
    unknown = [g for g in given if g not in known]
    if unknown:
        raise UsageError(f"{option}: {', '.join(unknown)} not among {what}: {', '.join(known)}")


def output_file(option: str, path: str, suffixes: Sequence[str] = ()) -> Path:
    """``path`` once a file can be written there (tried, not guessed: permissions lie to root)."""
    p = Path(_named(option, path, "a file name"))
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {path}: expected a file name ending in {' or '.join(suffixes)}")
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder, expected a file name")
    if not p.parent.is_dir():
        missing = "is not a folder" if p.parent.exists() else "does not exist"
        raise UsageError(f"{option} {path}: cannot write there: {p.parent} {missing}")
    existed = p.exists()
    try:
        with p.open("a"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there: {exc.strerror or exc}") from None
    if not existed:
        p.unlink()
    return p


def output_folder(option: str, path: str) -> Path:
    """``path`` as a folder, created if needed, once a file can be written in it."""
    p = Path(_named(option, path, "a folder"))
    if p.exists() and not p.is_dir():
        raise UsageError(f"{option} {path}: is a file, expected a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there: {exc.strerror or exc}") from None
    return p


def _named(option: str, path: str, what: str) -> str:
    # Path("") is the working directory: an empty value would write there, not refuse
    if not path.strip():
        raise UsageError(f"{option} {path!r}: expected {what}, got an empty name")
    return path


def available_memory() -> int | None:
    """Bytes of memory the system can give this process now (Linux's MemAvailable, else the
    physical memory), or None where the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(argument: str, need_bytes: float, what: str) -> None:
    """:class:`UsageError` naming ``argument`` ("--batch 5000000") when ``need_bytes`` (a lower bound
    of what ``what`` needs) exceed the memory available: refused before anything is allocated (past
    it, Linux's out-of-memory killer ends the process with no message at all)."""
    have = available_memory()
    if have is not None and need_bytes > have:
        raise UsageError(f"{argument}: {what} need at least {_size(need_bytes)}, more than the "
                         f"{_size(have)} of memory available")


def check_batch_memory(batch: int, spec, where: str = "") -> None:
    """:func:`check_memory` of ``--batch``: one call on ``spec`` draws its inputs in float64, runs on
    copies of at least float32 and returns an output of at least float32, ``batch`` rows each: a
    lower bound of what it needs, before any intermediate of the implementation."""
    dims = spec.irreps_in1.dim + spec.irreps_in2.dim
    check_memory(f"--batch {batch}", batch * (12 * dims + 4 * spec.irreps_out.dim),
                 f"the inputs and output of one call{where}")


@contextmanager
def sized_by(arguments: str) -> Iterator[None]:
    """Turn a :class:`MemoryError` inside into a :class:`UsageError` naming ``arguments``, the ones
    that sized the work (numpy's own words kept: which array, how large)."""
    try:
        yield
    except MemoryError as exc:
        words = (str(exc).splitlines() or [""])[0] or "MemoryError"
        raise UsageError(f"{arguments}: out of memory ({words})") from None


def _size(nbytes: float) -> str:
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")
    k = 0
    while nbytes >= 1024 and k < len(units) - 1:
        nbytes, k = nbytes / 1024, k + 1
    return f"{nbytes:.0f} bytes" if k == 0 else f"{nbytes:.1f} {units[k]}"


def backend_problem(name: str) -> str | None:
    """Why generic code cannot run on backend ``name`` (unknown, not usable, no working harness), or None."""
    from tpcore.errors import TpcoreError
    from tpcore.registry import get_registry

    registry = get_registry()
    if name not in registry.backends:
        return f"unknown backend; registered: {', '.join(registry.backends) or 'none'}"
    reason = registry.reason(name)
    if reason is not None:
        return f"not usable: {reason}"
    try:
        registry.harness(name)
    except TpcoreError as exc:
        return str(exc).splitlines()[0]
    return None


def device_problem(name: str, device: str) -> str | None:
    """Why backend ``name`` cannot put arrays on ``device`` ("cuda", "cuda:1", "cpu"), or None.

    The backend must list the device's kind (jax's ``gpu`` stands for ``cuda``) and its harness
    must place a small array there: a CUDA build without a GPU fails here, before any measuring.
    """
    from tpcore.registry import get_registry
    from tpcore.report.timing import backend_device

    import numpy as np

    backend = get_registry().backends[name]
    local = backend_device(name, device)
    if local.partition(":")[0].strip().lower() not in backend.devices:
        return f"no device {device!r} (it has {', '.join(backend.devices)})"
    try:
        get_registry().harness(name).asarray(np.zeros(1), backend.default_dtype, local)
    except Exception as exc:  # the framework's own words: no driver, no such index
        return f"cannot put an array on {device!r}: " + (str(exc).splitlines() or [type(exc).__name__])[0]
    return None


def usable_backend(option: str, name: str) -> str:
    """``name`` once generic code can run on it (:func:`backend_problem`); else :class:`UsageError`."""
    problem = backend_problem(name)
    if problem is not None:
        raise UsageError(f"{option} {name}: {problem}")
    return name


#: the options whose irreps size a spec's coefficients, as a usage error names them together
IRREPS_OPTIONS = "--irreps-in1/--irreps-in2/--irreps-out"


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a spec: ``--variant --irreps-in1 --irreps-in2 --irreps-out [--mode] [--weighted]``."""
    from tpcore.spec import CGTP_MODES, VARIANTS

    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--irreps-in1", required=True, help='e3nn syntax, e.g. "8x0e+8x1o"')
    parser.add_argument("--irreps-in2", required=True)
    parser.add_argument("--irreps-out", required=True)
    parser.add_argument("--mode", default=None, choices=CGTP_MODES, help="cgtp connection mode (default uvw)")
    parser.add_argument("--weighted", action="store_true", help="per-channel, per-degree weights (gtp, s2grid, mtp)")


def spec_from_args(args: argparse.Namespace):
    """The spec named by the options of :func:`add_spec_arguments`; :class:`UsageError` if it is invalid."""
    from tpcore.errors import TpcoreError
    from tpcore.irreps import Irreps
    from tpcore.spec import TensorProductSpec

    for option, text in (("--irreps-in1", args.irreps_in1), ("--irreps-in2", args.irreps_in2),
                         ("--irreps-out", args.irreps_out)):
        try:
            Irreps(text)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{option} {text!r}: {exc}") from None
    if args.variant == "cgtp" and args.weighted:
        raise UsageError("--weighted applies to gtp, s2grid and mtp; cgtp weights follow --mode")
    if args.variant != "cgtp" and args.mode is not None:
        raise UsageError(f"--mode applies to cgtp only; {args.variant} acts channel-wise")
    irreps = (args.irreps_in1, args.irreps_in2, args.irreps_out)
    try:
        with sized_by(IRREPS_OPTIONS):
            if args.variant == "cgtp":
                spec = TensorProductSpec.cgtp(*irreps, mode=args.mode or "uvw")
            else:
                spec = getattr(TensorProductSpec, args.variant)(*irreps, weighted=args.weighted)
    except (ValueError, TypeError, TpcoreError) as exc:
        raise UsageError(f"--variant {args.variant} with these irreps: {exc}") from None
    _check_coupling_memory(spec, dict(zip(IRREPS_OPTIONS.split("/"), irreps)))
    return spec


def _check_coupling_memory(spec, texts: dict[str, str]) -> None:
    # Every path's coupling is first formed densely in complex128, (2 l1 + 1)(2 l2 + 1)(2 l3 + 1)
    # numbers (tpcore.so3.wigner_3j); at l = 10^6 that is terabytes, so the largest is checked here.
    def size(p):
        return (2 * p.ir_in1.l + 1) * (2 * p.ir_in2.l + 1) * (2 * p.ir_out.l + 1)

    if not spec.paths:
        return
    path = max(spec.paths, key=size)
    option, _ = max(zip(texts, (path.ir_in1, path.ir_in2, path.ir_out)), key=lambda pair: pair[1].l)
    check_memory(f"{option} {texts[option]!r}", 16 * size(path),
                 f"the coupling coefficients of path {path.ir_in1} x {path.ir_in2} -> {path.ir_out}")


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Plain aligned columns, numbers right-aligned; empty string when there are no rows."""
    if not rows:
        return ""
    cells = [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values):
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  " + "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


__all__ = [
    "USAGE_ERROR",
    "INTERRUPTED",
    "UsageError",
    "MAX_BATCH",
    "MAX_LMAX",
    "positive_int",
    "batch_size",
    "degree",
    "positive_float",
    "names",
    "check_names",
    "output_file",
    "output_folder",
    "available_memory",
    "check_memory",
    "check_batch_memory",
    "sized_by",
    "IRREPS_OPTIONS",
    "backend_problem",
    "device_problem",
    "usable_backend",
    "add_spec_arguments",
    "spec_from_args",
    "table",
]
