"""The matchday step: forecast a competition's fixtures of the next days with the champion, store
the forecasts as the service does, and propose bets under the live betting policy.

A fixture is forecast once per champion version (the forecast of a model depends only on its
own training history, so asking again gives the same numbers): re-running a day stores nothing
new. A fixture is bet at most once, by the first matchday whose forecast shows an edge at the
prices of the day.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from scoreline.config import Settings, competition
from scoreline.data.prices import PriceFileCache
from scoreline.data.store import MatchStore
from scoreline.evaluation.strategies import ModelEdge, ModelMarket, strategy_inputs
from scoreline.forecasts.champion import champion_forecaster
from scoreline.forecasts.forecaster import Forecaster, UnknownTeam
from scoreline.matchday.bets import fixture_prices, price_source, propose_bets
from scoreline.matchday.book import BET_COLUMNS, BetBook
from scoreline.matchday.gate import fixture_price_frame, season_verdicts
from scoreline.predictions.store import PredictionStore
from scoreline.promotion.policy import Betting, PolicyError, load_policy
from scoreline.promotion.promote import find_policy

__all__ = [
    "MatchdayResult",
    "betting_rules",
    "calendar_day",
    "fixture_frame",
    "matchday_lock",
    "run_matchday",
]

#: columns an explicit fixtures frame must have
FIXTURE_COLUMNS = ("date", "home_team", "away_team")
#: what a bet holds when placed (the rest is filled in when it settles)
PLACED_COLUMNS = BET_COLUMNS[1 : BET_COLUMNS.index("status") + 1]


@dataclass(frozen=True)
class MatchdayResult:
    competition: str
    day: dt.date
    model_name: str
    model_version: str
    fixtures: int  # fixtures in the window
    predicted: int  # forecasts stored by this run
    reused: int  # fixtures already forecast by this champion version
    bankroll: float  # starting bankroll + settled P/L, what the stakes were sized on
    forecasts: pd.DataFrame  # one row per fixture: the service's answer fields + prediction_id
    bets: pd.DataFrame  # bets proposed by this run, paper ones included (``paper``)
    gate: dict[str, dict]  # strategy -> the staking gate's verdict (GateVerdict.to_dict)
    folder: Path | None

    def to_dict(self) -> dict:
        return {
            "competition": self.competition,
            "day": self.day.isoformat(),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "fixtures": self.fixtures,
            "predicted": self.predicted,
            "reused": self.reused,
            "bets": int((~self.bets["paper"].astype(bool)).sum()),
            "paper_bets": int(self.bets["paper"].astype(bool).sum()),
            "staked": float(self.bets.loc[~self.bets["paper"].astype(bool), "stake"].sum()),
            "bankroll": self.bankroll,
            "gate": self.gate,
            "report_dir": str(self.folder) if self.folder else None,
            "proposed": json.loads(self.bets.to_json(orient="records", date_format="iso")),
        }


def calendar_day(value: dt.date | str | None) -> dt.date:
    """``value`` as a date (``YYYY-MM-DD`` text accepted); None: today, UTC."""
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise ValueError(f"date {value!r} is not a date (YYYY-MM-DD)") from None


def betting_rules(settings: Settings) -> Betting:
    """The ``betting:`` section of the policy file (defaults without a file)."""
    try:
        path = find_policy(settings)
    except PolicyError:
        return Betting()
    return load_policy(path).betting


def matchday_lock(settings: Settings, code: str) -> FileLock:
    """One matchday or settle of ``code`` at a time (they read, decide and write the book)."""
    folder = settings.registry_path / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"matchday-{competition(code).code}.lock"), timeout=600)


def _season(day: dt.date) -> int:
    """The football season (start year) ``day`` falls in: seasons start in July."""
    return day.year - (day.month < 7)


def _with_champion(rules: Betting, model_name: str) -> Betting:
    """``rules`` with the model strategies reading the champion's forecasts (their evidence:
    the champion model's walk-forward backtest)."""
    named = rules.strategies
    update = {
        name: strategy.model_copy(update={"model": model_name})
        for name, strategy in named.named().items()
        if isinstance(strategy, ModelEdge | ModelMarket)
    }
    return rules.model_copy(update={"strategies": named.model_copy(update=update)})


def fixture_frame(fixtures: pd.DataFrame, code: str) -> pd.DataFrame:
    """``fixtures`` checked row by row (position ``row i`` as given): the columns of
    :data:`FIXTURE_COLUMNS`, a date, two distinct team names, no fixture twice, no other
    competition. Returns them with ``row`` (that position), midnight dates and stripped names."""
    missing = [c for c in FIXTURE_COLUMNS if c not in fixtures]
    if missing:
        raise ValueError(f"fixtures: missing column(s) {', '.join(missing)}")
    frame = fixtures.reset_index(drop=True).assign(row=lambda f: np.arange(len(f)))
    if "competition" in frame:
        other = (frame["competition"].astype(str) != code).to_numpy()
        if other.any():
            row = int(np.flatnonzero(other)[0])
            raise ValueError(f"row {row}: competition {frame['competition'][row]!r} is not {code}")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna())[0])
        raise ValueError(f"row {row}: date {frame['date'][row]!r} is not a date (YYYY-MM-DD)")
    frame["date"] = dates.dt.tz_localize(None).dt.normalize() if dates.dt.tz else dates.dt.normalize()
    for field in ("home_team", "away_team"):
        good = frame[field].map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy(bool)
        if not good.all():
            row = int(np.flatnonzero(~good)[0])
            raise ValueError(f"row {row}: {field} must be a team name, got {frame[field][row]!r}")
        frame[field] = frame[field].str.strip()
    same = (frame["home_team"] == frame["away_team"]).to_numpy()
    if same.any():
        row = int(np.flatnonzero(same)[0])
        raise ValueError(f"row {row}: home_team and away_team are both {frame['home_team'][row]!r}")
    twice = frame.duplicated(["date", "home_team", "away_team"]).to_numpy()
    if twice.any():
        row = int(np.flatnonzero(twice)[0])
        raise ValueError(
            f"row {row}: {frame['home_team'][row]} v {frame['away_team'][row]} on "
            f"{frame['date'][row].date()} is listed twice"
        )
    return frame


def _check_teams(forecaster: Forecaster, window: pd.DataFrame, matches: MatchStore) -> None:
    """Raise :class:`UnknownTeam` naming the first fixture row with a team that neither the
    champion nor the match store knows (a promoted club is in the store, a typo is not)."""
    teams = set(window["home_team"]) | set(window["away_team"])
    if teams <= forecaster.known_teams:
        return
    snapshot = matches.load()
    known = set(forecaster.known_teams).union(
        *(
            set(table[side].astype(str))
            for table in (snapshot.results, snapshot.fixtures)
            for side in ("home_team", "away_team")
        )
    )
    for field in ("home_team", "away_team"):
        unknown = ~window[field].isin(known).to_numpy()
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            team = window[field].iloc[i]
            raise UnknownTeam(team, forecaster.suggestions(team), field, int(window["row"].iloc[i]))


def _prediction_rows(table: pd.DataFrame, forecaster: Forecaster, now: dt.datetime) -> list[dict]:
    """What the service stores of each forecast: the answer's fields, prices, the detail and
    the features (:meth:`PredictionStore.record_predictions` rows)."""

    def number(value):
        return None if value is None or value != value else float(value)

    rows = []
    for record in table.to_dict(orient="records"):
        row = {k: record[k] for k in ("competition", "model_name", "model_version", "home_team", "away_team")}
        row |= {
            "date": pd.Timestamp(record["date"]).date(),
            "neutral": bool(record["neutral"]),
            "created_at": now,
            "features": record["features"],
            "detail": {
                n: (record[n] if n == "top_scores" else number(record[n])) for n in forecaster.detail_names
            },
        }
        for o in forecaster.outcomes:
            row[f"prob_{o}"] = float(record[f"prob_{o}"])
            row[f"price_{o}"] = number(record[f"price_{o}"])
        rows.append(row)
    return rows


def _bet_rows(
    proposed: pd.DataFrame, code: str, day: dt.date, now: dt.datetime, strategy: str, paper: bool
) -> list[dict]:
    """``bets`` rows of the bets :func:`propose_bets` chose for ``strategy``, open."""
    return [
        {
            "competition": code,
            "date": pd.Timestamp(r.date).date(),
            "home_team": r.home_team,
            "away_team": r.away_team,
            "placed_on": day,
            "placed_at": now,
            "prediction_id": int(r.prediction_id),
            "model_name": r.model_name,
            "model_version": str(r.model_version),
            "outcome": r.outcome,
            "probability": float(r.probability),
            "price": float(r.price),
            "price_source": r.price_book,
            "strategy": strategy,
            "paper": paper,
            "expected_value": float(r.expected_value),
            "kelly": float(r.kelly),
            "stake": float(r.stake),
            "bankroll": float(r.bankroll),
            "status": "open",
        }
        for r in proposed.itertuples(index=False)
    ]


def run_matchday(
    settings: Settings,
    code: str,
    day: dt.date | str | None = None,
    days: int = 7,
    fixtures: pd.DataFrame | None = None,
    *,
    forecaster: Forecaster | None = None,
    rules: Betting | None = None,
    now: dt.datetime | None = None,
    write_report: bool = True,
    price_cache: PriceFileCache | None = None,
) -> MatchdayResult:
    """Forecast, store and bet ``code``'s fixtures dated ``day`` to ``day + days - 1``.

    ``fixtures``: the match store's fixtures table by default, else any frame with ``date``,
    ``home_team``, ``away_team`` (optional ``neutral`` and the sport's price columns, e.g.
    ``odds_b365_home``/``_draw``/``_away`` or American ``moneyline_home``/``_away``). A bad row
    (missing field, bad date, unknown team) raises ValueError naming it before anything is
    written. ``day``: default today (UTC); ``now`` (naive UTC): the stored predictions'
    ``created_at`` and the bets' ``placed_at`` (default the clock; a replay passes its simulated
    time). ``forecaster``: default the champion from the registry; ``rules``: default the
    policy file's ``betting:`` section. The day's forecasts and bets
    go to ``reports/matchday/<code>/<day>/`` when ``write_report``. ``price_cache``: read the
    bookmakers' price files through it (a replay passes one, so each file is parsed once).
    """
    code = competition(code).code
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    day = calendar_day(day)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    matches = MatchStore(settings.store_dir)
    frame = fixture_frame(matches.fixtures(code) if fixtures is None else fixtures, code)
    start = pd.Timestamp(day)
    window = frame.loc[(frame["date"] >= start) & (frame["date"] < start + pd.Timedelta(days=days))]
    window = window.sort_values(["date", "home_team"], kind="stable")
    rules = rules or betting_rules(settings)
    forecaster = forecaster or champion_forecaster(settings, code)
    _check_teams(forecaster, window, matches)
    outcomes = forecaster.outcomes
    source = price_source(rules, code)
    strategies = _with_champion(rules, forecaster.model_name)
    gate = season_verdicts(settings, strategies, code, _season(day))
    prices = fixture_prices(window, source, outcomes)
    prices = np.where(np.isfinite(prices) & (prices > 1), prices, np.nan)  # else: no price, no bet
    request = pd.DataFrame(
        {
            "home_team": window["home_team"].to_numpy(),
            "away_team": window["away_team"].to_numpy(),
            "date": window["date"].to_numpy(),
            "neutral": (
                window["neutral"].astype("boolean").fillna(False).to_numpy(bool)
                if "neutral" in window
                else False
            ),
            **{f"price_{o}": prices[:, j] for j, o in enumerate(outcomes)},
        }
    )
    # a promoted club the champion has not seen is rated as the model rates newcomers
    table = forecaster.forecast(request, allow_unknown=True, features=True)
    keys = list(zip((d.date() for d in window["date"]), request["home_team"], request["away_team"]))
    model = table[[f"prob_{o}" for o in outcomes]].to_numpy(np.float64)
    if len(outcomes) == 3:
        frame = fixture_price_frame(settings, window, code, price_cache)
        choices = {
            name: strategy_inputs(strategy, frame, model)
            for name, strategy in strategies.strategies.named().items()
        }
    else:  # two-way sports: the model's edge at the moneyline, the one price the data have
        choices = {"model_edge": (model, prices, np.full(prices.shape, source, dtype=object), rules.edge)}

    store = PredictionStore(settings.prediction_store)
    try:
        book = BetBook(store)
        with matchday_lock(settings, code):
            linked = book.linked(code, forecaster.version, keys)
            new = [i for i, key in enumerate(keys) if key not in linked]
            logged = _prediction_rows(table.iloc[new], forecaster, now)
            ids = dict(zip(new, store.record_predictions(logged) if new else []))
            prediction_ids = [ids[i] if i in ids else linked[key] for i, key in enumerate(keys)]
            table = table.assign(prediction_id=prediction_ids)
            pnl, staked_today, open_stakes = book.exposure(code, day)
            bankroll = rules.bankroll + pnl
            bets = []
            for name, (probs, prices_, books, edge) in choices.items():
                already = book.bet_fixtures(code, keys, name)
                staked = bool(gate[name]["staked"])
                candidates = table.assign(
                    **{f"prob_{o}": probs[:, j] for j, o in enumerate(outcomes)},
                    **{f"price_{o}": prices_[:, j] for j, o in enumerate(outcomes)},
                    **{f"book_{o}": books[:, j] for j, o in enumerate(outcomes)},
                ).loc[[key not in already for key in keys]]
                # paper bets are sized as if staked, on the same bankroll, but hold none of it
                proposed = propose_bets(
                    candidates,
                    outcomes,
                    rules.model_copy(update={"edge": edge}),
                    bankroll,
                    staked_today if staked else 0.0,
                    open_stakes if staked else 0.0,
                )
                proposed = proposed.assign(
                    price_book=[getattr(r, f"book_{r.outcome}") for r in proposed.itertuples(index=False)]
                )
                if staked:
                    staked_today += float(proposed["stake"].sum())
                    open_stakes += float(proposed["stake"].sum())
                bets += _bet_rows(proposed, code, day, now, name, paper=not staked)
            links = [
                {
                    "competition": code,
                    "date": keys[i][0],
                    "home_team": keys[i][1],
                    "away_team": keys[i][2],
                    "model_version": forecaster.version,
                    "prediction_id": ids[i],
                    "placed_on": day,
                }
                for i in new
            ]
            book.record(links, bets)
            placed = book.bets(code, placed_on=day) if write_report else None
    finally:
        store.close()
    folder = None
    if write_report:
        folder = settings.reports_path / "matchday" / code / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        table.drop(columns=["top_scores", "features"], errors="ignore").to_csv(
            folder / "forecasts.csv", index=False
        )
        book_rows = placed if placed is not None else pd.DataFrame(columns=list(BET_COLUMNS))
        book_rows.to_csv(folder / "bets.csv", index=False)
    result = MatchdayResult(
        code,
        day,
        forecaster.model_name,
        forecaster.version,
        len(window),
        len(new),
        len(keys) - len(new),
        bankroll,
        table,
        pd.DataFrame(bets, columns=list(PLACED_COLUMNS)),
        gate,
        folder,
    )
    if folder is not None:
        (folder / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result
