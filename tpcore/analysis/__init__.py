"""Analysis of specs: FLOPs and coefficient memory per implementation strategy (pure numpy)."""

from tpcore.analysis.flops import coefficient_bytes, flops

__all__ = ["flops", "coefficient_bytes"]
