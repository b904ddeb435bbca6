"""PromQL pieces the rules and the dashboard share: matchers, selectors, numbers, durations."""

from __future__ import annotations

from typing import Final

from mlrelease.release.metrics.prometheus import promql_string

__all__ = [
    "FEATURES",
    "LOST",
    "PREDICTIONS",
    "STATUS_4XX",
    "STATUS_5XX",
    "duration",
    "label_matchers",
    "number",
    "percent",
    "selector",
]

STATUS_5XX: Final = 'status=~"5.."'
STATUS_4XX: Final = 'status=~"4.."'
FEATURES: Final = 'feature!="prediction"'  # the monitor reports prediction drift as this feature
PREDICTIONS: Final = 'feature="prediction"'
LOST: Final = 'outcome=~"dropped|failed"'  # prediction-log rows that never reached the store


def label_matchers(**labels: str | None) -> str:
    """``name="value"`` pairs, escaped, leaving out those not given."""
    return ",".join(
        f'{name}="{promql_string(value)}"' for name, value in labels.items() if value is not None
    )


def selector(metric: str, *matchers: str) -> str:
    inside = ",".join(part for part in matchers if part)
    return f"{metric}{{{inside}}}"


def number(value: float) -> str:
    return repr(float(value))


def duration(seconds: float) -> str:
    """A Prometheus duration: ``15s``, ``5m``, ``1h``, ``250ms``."""
    milliseconds = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


def percent(share: float) -> str:
    return f"{share * 100:g}%"
