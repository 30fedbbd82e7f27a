"""The model card: a markdown page per registered version, logged with its promote run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scoreline.config import Settings, competition
from scoreline.promotion.candidates import METRICS, Backtest, Candidate
from scoreline.promotion.gate import GateResult, _fmt


def comparison(backtest: Backtest, candidate: str, champion_model: str | None) -> pd.DataFrame:
    """The candidate, the champion's model (if the backtest scored it) and the market reference,
    on the backtest's common matches: one row each, the metrics as columns."""
    rows = {f"candidate: {candidate}": backtest.scores(candidate)}
    if champion_model and champion_model != candidate and champion_model in backtest.models:
        rows[f"champion: {champion_model}"] = backtest.scores(champion_model)
    rows[f"market: {backtest.reference}"] = backtest.scores(backtest.reference)
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(METRICS))


def _markdown(frame: pd.DataFrame, index: bool = True) -> str:
    """A pipe table without the optional ``tabulate`` dependency."""
    frame = frame.reset_index() if index else frame
    cells = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def _cell(value) -> str:
    if isinstance(value, bool):
        return "pass" if value else "**FAIL**"
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4f}"
    return "" if value is None else str(value).replace("|", "\\|")


def gate_report_path(settings: Settings, code: str, season: int) -> Path:
    """Where the matchday loop keeps the staking gate's verdicts of ``code`` for ``season``."""
    return settings.reports_path / "gate" / code / f"{season}.json"


def latest_staking_verdicts(settings: Settings, code: str) -> tuple[int, dict[str, dict]] | None:
    """(season, verdicts) of the newest season the staking gate judged for ``code``; None when
    the matchday loop has judged none yet. Verdicts are :meth:`GateVerdict.to_dict` records."""
    folder = gate_report_path(settings, code, 0).parent
    seasons = (
        sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()) if folder.is_dir() else []
    )
    if not seasons:
        return None
    stored = json.loads(gate_report_path(settings, code, seasons[-1]).read_text())
    return seasons[-1], stored["verdicts"]


def staking_table(verdicts: dict[str, dict]) -> pd.DataFrame:
    """One row per strategy: staked or paper, why, and the CLV evidence (percent, 95 % CI)."""
    rows = []
    for name, v in verdicts.items():
        seasons = v.get("seasons") or []
        row = {
            "strategy": name,
            "money": "staked" if v.get("staked") else "paper",
            "reason": v.get("reason", ""),
            "seasons": f"{seasons[0]}-{seasons[-1]}" if seasons else "",
            "bets": v.get("n_bets", 0),
        }
        for method, clv in (v.get("clv") or {}).items():
            row[f"CLV {method} %"] = (
                f"{100 * clv['mean']:+.2f} [{100 * clv['low']:+.2f}, {100 * clv['high']:+.2f}]"
                if all(pd.notna(clv.get(k)) for k in ("mean", "low", "high"))
                else ""
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _staking(staking: tuple[int, dict[str, dict]] | None) -> str:
    if staking is None:
        return (
            "## Staking gate\n\nNo verdicts yet: the matchday loop has not judged a season, so every"
            " strategy's bets are paper bets.\n"
        )
    season, verdicts = staking
    return f"""## Staking gate, season {season}

Money goes only through strategies whose walk-forward CLV interval lies above zero; the others
bet on paper (recorded and settled, never staked).

{_markdown(staking_table(verdicts), index=False)}
"""


def _limitations(code: str) -> str:
    comp = competition(code)
    shape = (
        "home / draw / away probabilities"
        if comp.outcomes == 3
        else "home-win / away-win probabilities (ties are not forecast)"
    )
    return f"""## Intended use

Pre-match {shape} for {comp.name} ({code}) fixtures, from team names and a date (optionally
season and neutral venue), for research, pricing comparison and monitoring against the market.

## Limitations

- Forecasts use results up to the training snapshot only; a fixture weeks after it reflects
  stale ratings until the next weekly training.
- No team news (injuries, line-ups, rest beyond the schedule) is seen; the closing market
  prices it in and remains the stronger forecaster on the backtest above.
- Teams absent from the training history (promoted clubs, new franchises) start from the
  model's prior.
- Backtest figures are walk-forward over the window shown; they are not a guarantee of
  future calibration. Not financial advice; betting carries risk.
"""


def model_card(
    code: str,
    version: str,
    candidate: Candidate,
    backtest: Backtest,
    gate: GateResult,
    champion: tuple[str, str] | None,
    training: dict[str, str],
    staking: tuple[int, dict[str, dict]] | None = None,
) -> str:
    """Markdown card of version ``version`` of ``scoreline-{code}``.

    ``champion``: (version, model name) of the champion when the gate ran, if any;
    ``training``: ``rows``, ``first_date``, ``last_date`` of the training history;
    ``staking``: (season, verdicts) of the staking gate (:func:`latest_staking_verdicts`).
    """
    tags = candidate.train_run.data.tags
    window = backtest.window()
    decision = "PASSED: promoted to champion" if gate.passed else "FAILED: not promoted"
    against = f"version {champion[0]} ({champion[1]})" if champion else "none"
    params = pd.DataFrame(sorted(candidate.hyper_parameters.items()), columns=["parameter", "value"])
    gate_table = gate.table()
    for column in ("value", "margin"):
        gate_table[column] = [_fmt(v) for v in gate_table[column]]
    snapshot = (
        f"{tags.get('data_snapshot', 'unknown')} (content hash `{tags.get('data_content_hash', 'unknown')}`)"
    )
    history = (
        f"{training.get('rows', '?')} matches, {training.get('first_date', '?')} to "
        f"{training.get('last_date', '?')}"
    )
    walk = (
        f"seasons {window['first_season']}-{window['last_season']}, {window['matches']} matches, walk-forward"
    )
    return f"""# scoreline-{code} version {version}: {candidate.model_name}

| | |
|---|---|
| competition | {competition(code).name} ({code}) |
| model | `{candidate.model_name}` ({candidate.model_uri}) |
| gate | **{decision}** |
| champion when judged | {against} |
| data snapshot | {snapshot} |
| training history | {history} |
| train run | `{candidate.train_run.info.run_id}` |
| git commit | `{tags.get("git_commit", "unknown")}` |
| backtest run | `{backtest.run_id}`: {walk} |

## Backtest (same matches for every row)

{_markdown(comparison(backtest, candidate.model_name, champion[1] if champion else None))}

## Gate (margin > 0: passed by that much; < 0: failed by that much)

{_markdown(gate_table, index=False)}

{_staking(staking)}
## Hyper-parameters

{_markdown(params, index=False) if len(params) else "none"}

{_limitations(code)}"""
