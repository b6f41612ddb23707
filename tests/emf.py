"""Reading CloudWatch Embedded Metric Format lines as CloudWatch Logs does: each JSON line
with an ``_aws`` member is checked against the format's rules and turned into the data
points it publishes, one per dimension set and metric."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}


@dataclass(frozen=True)
class Datum:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    values: tuple[float, ...]
    unit: Optional[str]

    @property
    def key(self) -> tuple[str, str, frozenset[str]]:
        """What an alarm names: namespace, metric and the dimension names."""
        return self.namespace, self.name, frozenset(k for k, _ in self.dimensions)


def data(output: str) -> list[Datum]:
    """Every data point the EMF lines of ``output`` publish (other lines are ignored)."""
    found = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        meta = doc.get("_aws")
        if meta is None:
            continue
        assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 0, doc
        for directive in meta["CloudWatchMetrics"]:
            assert 1 <= len(directive["Namespace"]) <= 255, directive
            assert len(directive["Metrics"]) <= 100, directive
            for dimension_set in directive["Dimensions"]:
                assert len(dimension_set) <= 30, dimension_set
                assert all(isinstance(doc[name], str) and doc[name] for name in dimension_set), doc
                for metric in directive["Metrics"]:
                    assert metric.get("Unit", "None") in UNITS, metric
                    values = doc[metric["Name"]]
                    values = values if isinstance(values, list) else [values]
                    assert 1 <= len(values) <= 100 and all(isinstance(v, (int, float)) for v in values), doc
                    found.append(Datum(directive["Namespace"], metric["Name"],
                                       frozenset((name, doc[name]) for name in dimension_set),
                                       tuple(values), metric.get("Unit")))
    return found


def select(found: list[Datum], name: str, **dimensions: str) -> list[float]:
    """The values of metric ``name`` published with exactly these dimensions."""
    wanted = frozenset(dimensions.items())
    return [v for d in found if d.name == name and d.dimensions == wanted for v in d.values]
