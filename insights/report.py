"""A report: the metrics of one question, the findings they lead to, and their narrative.

`facts()` is the single JSON-able view of a report: what ``--format json`` prints, what the
narrator reads, what the LLM is shown (and checked against), and what the cache key hashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from insights.common import FactsOnce, Finding, Metric, Summary, Window, jsonable


@dataclass(frozen=True)
class Report(FactsOnce):
    """``kind`` is health, dora or sprint; ``tables`` hold detail rows (top issues, phases).

    Text copied from the sources (issue and PR titles) only ever sits in ``tables``, which the
    prompt fences as untrusted data.
    """

    kind: str
    scope: Mapping[str, Any]
    window: Window
    metrics: tuple[Metric, ...]
    findings: tuple[Finding, ...] = ()
    tables: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    summary: Summary | None = None

    def metric(self, metric_id: str) -> Metric:
        for metric in self.metrics:
            if metric.id == metric_id:
                return metric
        raise KeyError(metric_id)

    def _facts(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scope": dict(self.scope),
            "window": self.window.as_dict(),
            **{k: jsonable(v) for k, v in self.extra.items()},
            "metrics": {m.id: m.as_dict() for m in self.metrics},
            "findings": [f.as_dict() for f in self.findings],
            "tables": {k: jsonable(v) for k, v in self.tables.items()},
        }
