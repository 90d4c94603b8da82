"""Quality gates: thresholds a labelled dataset must meet before a model is trained on it or it is exported.

A gate is ``pass``, ``fail`` or ``not_measured`` (too little evidence yet, e.g. no gold answered); only ``fail``
blocks. The message of a failed gate names the gate, the measured value and the threshold, so a scheduler's log
says why a night's retrain did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from labelloop.engine.config import GatesConfig

Status = Literal["pass", "fail", "not_measured"]


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: Status
    value: float | None
    threshold: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GateBlocked(RuntimeError):
    """One or more gates failed; ``results`` holds every gate's outcome."""

    def __init__(self, action: str, results: Sequence[GateResult]) -> None:
        self.results = list(results)
        failed = [r for r in results if r.status == "fail"]
        lines = "; ".join(r.detail for r in failed)
        super().__init__(f"{action} blocked by {len(failed)} quality gate(s): {lines}")


@dataclass(frozen=True)
class QualityMeasures:
    """What the gates look at, measured on the labels a training run would use."""

    gold_accuracy: float | None
    gold_answers: int
    agreement_alpha: float | None
    overlap_items: int
    label_error_rate: float | None
    labels_per_class: Mapping[str, int]


def _lower_gate(name: str, value: float | None, threshold: float | None, enough: bool, why_not: str) -> GateResult:
    if threshold is None:
        return GateResult(name, "pass", value, None, f"{name}: off")
    if value is None or not enough:
        return GateResult(name, "not_measured", value, threshold, f"{name}: not measured ({why_not})")
    ok = value >= threshold
    word = ">=" if ok else "<"
    return GateResult(
        name, "pass" if ok else "fail", value, threshold, f"{name}: measured {value:.4f} {word} threshold {threshold}"
    )


def evaluate_gates(m: QualityMeasures, cfg: GatesConfig, classes: Sequence[str]) -> list[GateResult]:
    """Every configured gate's outcome on ``m`` (a gate set to ``None`` in the config is off and passes)."""
    results = [
        _lower_gate(
            "min_gold_accuracy",
            m.gold_accuracy,
            cfg.min_gold_accuracy,
            m.gold_answers >= cfg.min_gold_answers,
            f"{m.gold_answers} gold answers, {cfg.min_gold_answers} needed",
        ),
        _lower_gate(
            "min_agreement",
            m.agreement_alpha,
            cfg.min_agreement,
            m.overlap_items >= cfg.min_overlap_items,
            f"{m.overlap_items} items with several annotators, {cfg.min_overlap_items} needed",
        ),
    ]
    if cfg.max_label_error_rate is None:
        results.append(
            GateResult("max_label_error_rate", "pass", m.label_error_rate, None, "max_label_error_rate: off")
        )
    elif m.label_error_rate is None:
        results.append(
            GateResult(
                "max_label_error_rate",
                "not_measured",
                None,
                cfg.max_label_error_rate,
                "max_label_error_rate: not measured (too few labels per class for cross-validation)",
            )
        )
    else:
        ok = m.label_error_rate <= cfg.max_label_error_rate
        results.append(
            GateResult(
                "max_label_error_rate",
                "pass" if ok else "fail",
                m.label_error_rate,
                cfg.max_label_error_rate,
                f"max_label_error_rate: measured {m.label_error_rate:.4f} {'<=' if ok else '>'} threshold "
                f"{cfg.max_label_error_rate}",
            )
        )
    if cfg.min_labels_per_class is None:
        results.append(GateResult("min_labels_per_class", "pass", None, None, "min_labels_per_class: off"))
    else:
        counts = {c: int(m.labels_per_class.get(c, 0)) for c in classes}
        low = {c: n for c, n in counts.items() if n < cfg.min_labels_per_class}
        worst = min(counts.values()) if counts else 0
        detail = (
            f"min_labels_per_class: classes below {cfg.min_labels_per_class}: {low}"
            if low
            else f"min_labels_per_class: smallest class has {worst} >= threshold {cfg.min_labels_per_class}"
        )
        results.append(
            GateResult(
                "min_labels_per_class", "fail" if low else "pass", float(worst), cfg.min_labels_per_class, detail
            )
        )
    return results


def blocked(results: Sequence[GateResult]) -> list[GateResult]:
    return [r for r in results if r.status == "fail"]
