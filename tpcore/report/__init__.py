"""``tpcore report`` and the benchmark workloads it shares with the asv suite.

Modules: :mod:`~tpcore.report.workloads` (what is measured), :mod:`~tpcore.report.timing` (how one
implementation is built, timed and checked), :mod:`~tpcore.report.measure` (the run),
:mod:`~tpcore.report.tables` and :mod:`~tpcore.report.plots` (the outputs), and
:mod:`~tpcore.report.compare` (tpcore against e3nn in one run). The commands are
:mod:`tpcore.cli.report` and :mod:`tpcore.cli.compare`. Nothing here imports a framework at import time.
"""
