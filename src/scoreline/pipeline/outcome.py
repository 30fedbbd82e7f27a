"""What a pipeline run decided, for the person who ran it: the champion before and after (or why
it was kept), the headline scores next to the market on the same matches, and where to look.

Read from the files the steps leave in their folders (``promotion_<code>.json`` from the promote
step, ``scores.json`` from the backtest step); a skipped step's folder is the run it reused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scoreline.config import Settings
from scoreline.pipeline.runner import PipelineRun

__all__ = ["describe_parent_run", "outcome_lines", "pipeline_outcome"]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _folders(run: PipelineRun) -> list[Path]:
    folders = {s.notebook.parent for s in run.steps if s.notebook is not None}
    return sorted(folders | {run.run_dir})


def _decision(promotion: dict[str, Any]) -> dict[str, Any]:
    before, after = promotion.get("champion_before"), promotion.get("champion")
    candidate = f"version {promotion['version']} ({promotion['model_name']})"
    if promotion.get("promoted"):
        was = f"version {before} ({promotion.get('champion_before_model')})" if before else "none"
        return {"changed": True, "text": f"champion {was} -> {candidate}: gate passed"}
    failed = [row for row in promotion.get("gate", {}).get("rows", []) if not row.get("passed")]
    reasons = "; ".join(
        " ".join(str(part) for part in (row["rule"], row.get("metric") or "")).strip()
        + (f" {row['comparison']}" if row.get("comparison") else "")
        + (f" (margin {row['margin']:+.4f})" if isinstance(row.get("margin"), (int, float)) else "")
        + (f": {row['note']}" if row.get("note") else "")
        for row in failed
    )
    kept = f"version {after}" if after else "none"
    return {"changed": False, "text": f"champion kept ({kept}), because {candidate} failed {reasons}"}


def _scores(scores: dict[str, Any], candidate: str | None) -> dict[str, Any]:
    """Candidate, best model and the market reference on the backtest's common matches."""
    rows = {row["model"]: row for row in scores.get("overall", [])}
    reference = scores.get("reference")
    metric = "rps" if any("rps" in row for row in rows.values()) else "brier"
    models = [m for m in rows if m != "base_rates" and not m.startswith("market_")]
    best = min(models, key=lambda m: rows[m][metric]) if models else None
    picked = [("candidate", candidate), ("best model", best), ("market", reference)]
    table = [
        {"role": role, "model": name, **{k: rows[name].get(k) for k in (metric, "log_loss", "accuracy")}}
        for role, name in picked
        if name in rows
    ]
    return {"metric": metric, "matches": scores.get("matches"), "rows": table}


def pipeline_outcome(run: PipelineRun) -> dict[str, Any]:
    """Per competition of the run: the promotion decision, the backtest scores, the model card."""
    found: dict[str, dict[str, Any]] = {}
    folders = _folders(run)
    for folder in folders:
        for path in sorted(folder.glob("promotion_*.json")):
            promotion = _read(path)
            if promotion is None:
                continue
            code = promotion.get("competition", path.stem.removeprefix("promotion_"))
            card = folder / f"model_card_{code}.md"
            found[code] = {
                "decision": _decision(promotion),
                "promotion": {k: promotion.get(k) for k in ("version", "model_name", "champion", "previous")},
                "model_card": str(card) if card.is_file() else None,
            }
    for folder in folders:
        scores = _read(folder / "scores.json")
        if scores and scores.get("competition"):
            entry = found.setdefault(scores["competition"], {})
            entry["scores"] = _scores(scores, entry.get("promotion", {}).get("model_name"))
    return found


def outcome_lines(outcome: dict[str, Any]) -> list[str]:
    """The outcome as a few terminal lines (under 100 columns)."""
    lines: list[str] = []
    for code, entry in outcome.items():
        if "decision" in entry:
            lines.append(f"{code}: {entry['decision']['text']}")
        scores = entry.get("scores")
        if scores and scores["rows"]:
            metric = scores["metric"]
            lines.append(f"  backtest on {scores['matches']} matches ({metric.upper()}: lower is better)")
            for row in scores["rows"]:
                figures = f"{metric} {row[metric]:.4f}  log loss {row['log_loss']:.4f}"
                if row.get("accuracy") is not None:
                    figures += f"  accuracy {row['accuracy']:.3f}"
                lines.append(f"    {row['role']:<10} {row['model']:<22} {figures}")
        if entry.get("model_card"):
            lines.append(f"  model card: {entry['model_card']}")
    return lines


def describe_parent_run(settings: Settings, run: PipelineRun, lines: list[str]) -> None:
    """The outcome as the parent run's description, so MLflow's run page opens on the decision."""
    if not lines or not run.mlflow_run_id:
        return
    from mlflow import MlflowClient

    text = "\n".join(["```", *lines, "```"])
    MlflowClient(tracking_uri=settings.mlflow_tracking_uri).set_tag(
        run.mlflow_run_id, "mlflow.note.content", text
    )
