"""Quality gates: expressions over metrics that a model must satisfy to be registered or promoted.

Gates are a tiny comparison language (``macro_f1 >= champion.macro_f1 - 0.01``),
parsed by hand and never ``eval``'d (:mod:`._syntax`), then judged against a
candidate's metrics and the champions live now (:mod:`._judge`).
"""

from __future__ import annotations

from mlrelease.gates._judge import Champion, GateResult, evaluate_gates, raise_for_failed_gates
from mlrelease.gates._syntax import Gate, gates_need_champion, metrics_used, parse_gate

__all__ = [
    "Champion",
    "Gate",
    "GateResult",
    "evaluate_gates",
    "gates_need_champion",
    "metrics_used",
    "parse_gate",
    "raise_for_failed_gates",
]
