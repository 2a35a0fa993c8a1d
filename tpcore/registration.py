"""What a plugin registers: :class:`Backend`, :class:`Implementation` and its :class:`Capabilities`.

Plugins import these from :mod:`tpcore.registry` (which re-exports them); the hooks that receive
them are in :mod:`tpcore.hookspecs`, and docs/hooks.md documents every field.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable

from tpcore.devices import device_kind
from tpcore.dtypes import DTYPES


@dataclass(frozen=True)
class Backend:
    """An array framework tpcore can run on. ``probe()`` returns None if usable, else why not."""

    name: str
    probe: Callable[[], str | None]
    priority: int = 100
    default_dtype: str = "float32"
    dtypes: tuple[str, ...] = DTYPES
    devices: tuple[str, ...] = ("cpu",)
    description: str = ""
    #: zero-argument callable returning the backend's :class:`tpcore.harness.Harness` (may import
    #: the framework: it is only called once the backend is usable); None if it offers none
    harness: Callable[[], Any] | None = None
    #: zero-argument callable returning ``wrap(product) -> conv``, the message-passing op of a
    #: product built on this backend (:mod:`tpcore.convolution`); None if it offers none
    convolution: Callable[[], Any] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Backend name must be a non-empty string, got {self.name!r}")
        if not callable(self.probe):
            raise TypeError(f"Backend {self.name!r}: probe must be a callable returning None or a reason string")
        object.__setattr__(self, "dtypes", tuple(self.dtypes))
        object.__setattr__(self, "devices", tuple(self.devices))
        if self.default_dtype not in self.dtypes:
            raise ValueError(f"Backend {self.name!r}: default_dtype {self.default_dtype!r} is not in dtypes {self.dtypes}")


@dataclass(frozen=True)
class Capabilities:
    """What an implementation supports; ``modes=None`` means every connection mode."""

    modes: frozenset[str] | None = None
    dtypes: frozenset[str] = frozenset(DTYPES)
    devices: frozenset[str] = frozenset({"cpu"})
    grad_order: int = 0
    jit: bool = False
    per_sample_weights: bool = False

    def __post_init__(self):
        for name in ("modes", "dtypes", "devices"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"Capabilities.{name} must be a collection of strings, got the string {value!r}")
            if value is not None:
                object.__setattr__(self, name, frozenset(value))

    def unmet(self, modes: Iterable[str], dtype: str, device: str | None) -> list[str]:
        """The capabilities a request needs that this lacks, each as a readable phrase."""
        out = []
        missing = sorted(set(modes) - self.modes) if self.modes is not None else []
        if missing:
            out.append(f"mode {', '.join(missing)} (it has {names_or_all(self.modes)})")
        if dtype not in self.dtypes:
            out.append(f"dtype {dtype} (it has {names_or_all(self.dtypes)})")
        if device is not None and device_kind(device) not in self.devices:
            out.append(f"device {device!r} (it has {names_or_all(self.devices)})")
        return out


@dataclass(frozen=True)
class Implementation:
    """One way to compute a variant on a backend; ``factory(spec, *, device, dtype)`` builds it.

    ``accepts``, when given, makes it a *kernel*: a function of the spec's path-level descriptor
    (:class:`tpcore.descriptor.Descriptor`) that says whether this implementation computes it, e.g.
    ``lambda d: d.modes == {"uvu"}``. ``build`` without an ``impl`` takes, in priority order, the first
    implementation that meets the request's capabilities and accepts the descriptor, so a kernel
    registered with a priority below the generic ones' (tpcore's strategies have 0 and up) takes the
    products it accepts and leaves the rest to them; the conformance suite runs a kernel on the
    catalogue cases it accepts.
    """

    backend: str
    variant: str
    name: str
    factory: Callable[..., Callable]
    capabilities: Capabilities = field(default_factory=Capabilities)
    priority: int = 100
    description: str = ""
    accepts: Callable[[Any], bool] | None = None
    #: ``convolution(spec, *, device, dtype) -> conv``: this implementation's own message-passing op
    #: (a fused gather-product-scatter); None: the backend's ``Backend.convolution`` wraps the product
    convolution: Callable[..., Callable] | None = None

    def __post_init__(self):
        from tpcore.spec import VARIANTS

        if self.variant not in VARIANTS:
            raise ValueError(f"Implementation {self.key}: variant must be one of {', '.join(VARIANTS)}")
        if not isinstance(self.capabilities, Capabilities):
            raise TypeError(f"Implementation {self.key}: capabilities must be a tpcore.registry.Capabilities")
        if not callable(self.factory):
            raise TypeError(f"Implementation {self.key}: factory must be callable as factory(spec, *, device, dtype)")
        if self.accepts is not None and not callable(self.accepts):
            raise TypeError(f"Implementation {self.key}: accepts must be None or a callable accepts(descriptor) -> bool")
        if self.convolution is not None and not callable(self.convolution):
            raise TypeError(f"Implementation {self.key}: convolution must be None or callable as convolution(spec, *, device, dtype)")

    @property
    def key(self) -> str:
        return f"{self.backend}/{self.variant}/{self.name}"


def import_probe(module: str) -> str | None:
    """A ``Backend.probe`` for a framework: None if ``module`` imports, else why not, in one line.

    Checks ``find_spec`` first, so a framework that is not installed is never imported; a broken
    install is a state to report ("torch: import failed (OSError: ...)"), not a crash.
    """
    if importlib.util.find_spec(module) is None:
        return f"{module}: not installed"
    try:
        importlib.import_module(module)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        return f"{module}: import failed ({type(exc).__name__}: {(lines[0] if lines else '')[:160]})"
    return None


def plan_implementations(backend: str, build: Callable[..., Any], capabilities: Capabilities, how: str) -> list[Implementation]:
    """One :class:`Implementation` per variant and lowering strategy of :data:`tpcore.plan.STRATEGIES`.

    For a backend that executes tpcore's plans: each is named after its strategy, with priority
    its rank (the variant's first strategy is its default), and built by
    ``build(spec, *, device, dtype, strategy)``. ``how`` ends the description ("as a torch.nn.Module").
    """
    from tpcore.plan import STRATEGIES

    return [
        Implementation(
            backend=backend,
            variant=variant,
            name=strategy,
            factory=partial(build, strategy=strategy),
            capabilities=capabilities,
            priority=rank,
            description=f"{variant} plan, {strategy} strategy, {how}",
        )
        for variant, strategies in STRATEGIES.items()
        for rank, strategy in enumerate(strategies)
    ]


def names_or_all(items: Iterable[str] | None) -> str:
    """``items`` sorted and comma-separated, or "all" for None (no restriction)."""
    return "all" if items is None else ", ".join(sorted(items))

