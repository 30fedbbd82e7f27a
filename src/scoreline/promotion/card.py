"""The model card: a markdown page per registered version, logged with its promote run."""

from __future__ import annotations

import pandas as pd

from scoreline.config import competition
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


def staking_section(code: str, stored: tuple[int, dict[str, dict]] | None) -> str:
    """The staking gate's verdicts (``stored``: season and strategy -> verdict dict, as the
    matchday keeps them) as markdown: which strategies stake money and the CLV evidence."""
    if competition(code).outcomes != 3:
        return (
            f"No strategy stakes money on {code}: the staking gate needs closing-line value against a "
            "sharp close, which the files do not have; the matchday's bets are paper bets."
        )
    if stored is None:
        return (
            "No verdict yet: the matchday loop judges each season once, when it first bets it "
            f"(`reports/gate/{code}/<season>.json`); until then no strategy stakes money."
        )
    season, verdicts = stored
    rows = []
    for name, v in verdicts.items():
        clv = v.get("clv", {})
        seasons = v.get("seasons") or []
        rows.append(
            {
                "strategy": name,
                "verdict": "STAKE" if v["staked"] else "paper",
                "evidence seasons": f"{seasons[0]}-{seasons[-1]}" if seasons else "",
                "bets": v.get("n_bets", 0),
                **{f"CLV {m} [95 % CI]": _interval(clv.get(m)) for m in ("multiplicative", "shin")},
                "reason": v.get("reason", ""),
            }
        )
    return (
        f"Season {season}/{(season + 1) % 100:02d}: a strategy stakes money only when the 95 % "
        "interval of its mean CLV (against Pinnacle's close, walk-forward over the seasons before) "
        "lies above zero; the others bet on paper.\n\n" + _markdown(pd.DataFrame(rows), index=False)
    )


def _interval(clv: dict | None) -> str:
    if not clv or clv.get("mean") is None or pd.isna(clv["mean"]):
        return ""
    return f"{clv['mean']:+.2%} [{clv['low']:+.2%}, {clv['high']:+.2%}]"


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
    ``staking``: the staking gate's newest stored verdicts (season, strategy -> verdict), if any.
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

## Staking gate (which betting strategies may stake money)

{staking_section(code, staking)}

## Hyper-parameters

{_markdown(params, index=False) if len(params) else "none"}

{_limitations(code)}"""
