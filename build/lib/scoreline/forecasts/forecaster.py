"""How a forecast is made: a :class:`Forecaster` answers fixtures with one logged champion
(outcome probabilities, fair odds, edges against given prices, and the champion's detail:
likeliest score lines and expected goals for football; expected margin and total with
conformal 80 %/95 % intervals for two-way sports).

A :class:`Forecaster` wraps one logged :class:`~scoreline.tracking.pyfunc.MatchModelPyfunc` and
reads exactly the rows and cached features its ``predict`` reads, so its probabilities are the
pyfunc's (identical fixtures are computed once per call). Pure and vectorised over a fixture
table; the service, the matchday loop, the monitor and ``scoreline predict`` all use it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import threading
from typing import Any

import numpy as np
import pandas as pd

from scoreline.config import competition as competition_of
from scoreline.forecasts import fields
from scoreline.forecasts.answer import LEVELS, Forecasts, ModelOutputs, likeliest_scores
from scoreline.models.base import GoalModel
from scoreline.models.conformal import interval_columns
from scoreline.tracking.detail import PointsDetail
from scoreline.tracking.pyfunc import PRE_CLOSING_PRICES, FixtureFrame, MatchModelPyfunc, RowCache

__all__ = ["FORECAST_CACHE_ROWS", "Forecaster", "UnknownTeam"]

#: distinct fixtures whose model outputs a forecaster keeps for the service (about 1 kB each, most
#: of it features): some 25 dates of a league's pairings, ten NFL weeks
FORECAST_CACHE_ROWS = 10_000


#: a new date brings every pairing of the latest season's teams into the cache when there are at
#: most this many (leagues, NFL, NBA; not college football's 130-odd teams)
PRIMED_PAIRINGS = 1_000


#: request columns handed on to the model as they are (see MatchModelPyfunc.predict)
PASSED_ON = ("season", "match_id", *PRE_CLOSING_PRICES, "home_fcs", "away_fcs")


class UnknownTeam(ValueError):
    """A team the model has never seen; ``suggestions`` are the closest known names."""

    def __init__(
        self, team: str, suggestions: list[str], field: str | None = None, row: int | None = None
    ) -> None:
        self.team, self.suggestions, self.field, self.row = team, suggestions, field, row
        where = f"row {row}: " if row is not None else ""
        hint = f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
        super().__init__(f"{where}unknown {field or 'team'} {team!r}{hint}")


class Forecaster:
    """Forecasts of one champion model for one competition.

    ``teams``: the latest season's teams (sorted), then every other team in the model's history;
    ``known_teams``: all of them as a set.
    """

    def __init__(self, pyfunc: MatchModelPyfunc, *, model_name: str, version: str, competition: str) -> None:
        if pyfunc.competition != competition:
            raise ValueError(
                f"model {model_name!r} v{version} forecasts {pyfunc.competition}, not {competition}"
            )
        self.pyfunc = pyfunc
        self.competition = competition
        self.model_name = model_name
        self.version = str(version)
        self.outcomes: tuple[str, ...] = tuple(pyfunc.model.outcomes)
        self.football = competition_of(competition).outcomes == 3
        history = pyfunc.history
        latest = [str(t) for t in pyfunc.latest_teams]
        every = set(history["home_team"].astype(str)) | set(history["away_team"].astype(str))
        self.teams: list[str] = latest + sorted(every - set(latest))
        self.known_teams: set[str] = every
        self._by_lower = {t.lower(): t for t in self.teams}
        detail = getattr(pyfunc, "detail", None)
        self._goals = detail if isinstance(detail, GoalModel) else None
        self._points = detail if isinstance(detail, PointsDetail) else None
        # a goal-model champion: one score grid gives both its probabilities and the detail
        model = pyfunc.model
        self._grid_is_model = self._goals is model and type(model).predict_proba is GoalModel.predict_proba
        self._radii = (
            {
                (target, level): getattr(self._points, target).radius(level)
                for target in ("margin", "total")
                for level in LEVELS
            }
            if self._points is not None
            else {}
        )
        self._cache = RowCache(FORECAST_CACHE_ROWS)
        self._computing = threading.Lock()

    @classmethod
    def from_pyfunc(cls, pyfunc_model: Any, *, model_name: str, version: str, competition: str) -> Forecaster:
        """From a loaded ``mlflow.pyfunc.PyFuncModel`` (or the :class:`MatchModelPyfunc` itself)."""
        wrapper = (
            pyfunc_model.unwrap_python_model()
            if hasattr(pyfunc_model, "unwrap_python_model")
            else pyfunc_model
        )
        if not isinstance(wrapper, MatchModelPyfunc):
            raise TypeError(f"expected a Scoreline match model, got {type(wrapper).__name__}")
        return cls(wrapper, model_name=model_name, version=version, competition=competition)

    # -- validation ----------------------------------------------------------------------------
    def suggestions(self, team: str, n: int = 3) -> list[str]:
        """Known team names closest to ``team`` (a case-insensitive match first)."""
        exact = self._by_lower.get(team.strip().lower())
        if exact is not None:
            return [exact]
        close = difflib.get_close_matches(team.strip().lower(), list(self._by_lower), n=n, cutoff=0.6)
        return [self._by_lower[c] for c in close]

    def check_teams(self, home: str, away: str) -> None:
        """Raise :class:`UnknownTeam` for a team the model does not know, ValueError for a
        fixture of a team against itself."""
        for field, team in (("home_team", home), ("away_team", away)):
            if team not in self.known_teams:
                raise UnknownTeam(team, self.suggestions(str(team)), field)
        if home == away:
            raise ValueError(f"home_team and away_team are both {home!r}")

    def _request(self, fixtures: pd.DataFrame, allow_unknown: bool) -> pd.DataFrame:
        """The validated request: teams, date (UTC today when absent), neutral, prices and any
        passed-on model columns; the first bad value raises, naming its row and field."""
        given = pd.DataFrame(fixtures).reset_index(drop=True)
        missing = [c for c in ("home_team", "away_team") if c not in given]
        if missing:
            raise ValueError(f"fixtures need column(s) {missing}")
        out = pd.DataFrame(index=given.index)
        for field in ("home_team", "away_team"):
            values = given[field]
            if pd.api.types.infer_dtype(values, skipna=False) == "string":
                bad = (values.str.strip() == "").to_numpy(bool)
            else:
                bad = ~values.map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy(bool)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ValueError(f"row {row}: {field} must be a team name, got {values[row]!r}")
            out[field] = values.astype(str).str.strip()
        same = (out["home_team"] == out["away_team"]).to_numpy()
        if same.any():
            row = int(np.flatnonzero(same)[0])
            raise ValueError(f"row {row}: home_team and away_team are both {out['home_team'][row]!r}")
        if not allow_unknown:
            for field in ("home_team", "away_team"):
                unknown = ~out[field].isin(self.known_teams).to_numpy()
                if unknown.any():
                    row = int(np.flatnonzero(unknown)[0])
                    team = out[field][row]
                    raise UnknownTeam(team, self.suggestions(team), field, row)
        out["date"] = fields.fixture_dates(given)
        out["neutral"] = fields.flags(given, "neutral")
        for outcome in ("home", "draw", "away"):
            field = f"price_{outcome}"
            if field not in given:
                out[field] = np.nan
                continue
            if outcome not in self.outcomes and given[field].notna().any():
                row = int(np.flatnonzero(given[field].notna())[0])
                raise ValueError(f"row {row}: {field}: {self.competition} has no draw outcome")
            out[field] = fields.prices(given[field], field)
        for column in PASSED_ON:
            if column in given:
                out[column] = given[column]
        return out

    # -- forecasts -----------------------------------------------------------------------------
    def frame(self, fixtures: pd.DataFrame, allow_unknown: bool = False) -> tuple[pd.DataFrame, FixtureFrame]:
        """The validated request and the model's fixture frame for it."""
        request = self._request(fixtures, allow_unknown)
        model_input = request.drop(columns=[f"price_{o}" for o in ("home", "draw", "away")])
        return request, self.pyfunc.frame(model_input)

    def features(self, fixtures: pd.DataFrame, allow_unknown: bool = False) -> pd.DataFrame:
        """The point-in-time features the model read, one row per fixture (for drift checks)."""
        return self.frame(fixtures, allow_unknown)[1].features()

    def forecast(
        self, fixtures: pd.DataFrame, *, allow_unknown: bool = False, features: bool = False
    ) -> pd.DataFrame:
        """One row per fixture, in input order.

        Input columns: ``home_team``, ``away_team``; optional ``date`` (default: today, UTC),
        ``neutral``, decimal prices ``price_home``, ``price_draw`` (football), ``price_away``,
        and the model's own optional columns (``season``, pre-closing ``odds_*`` prices for a
        market-reading model). A team the model has never seen raises :class:`UnknownTeam`
        unless ``allow_unknown`` (a promoted club is then rated as the model rates newcomers).

        Output: ``competition``, ``model_name``, ``model_version``, the request's teams, date
        and neutral, ``prob_<o>`` (rows sum to 1), ``fair_odds_<o>`` = 1/prob, ``price_<o>`` and
        ``edge_<o>`` = prob * price - 1 (NaN without a price); football adds
        ``expected_goals_home``/``_away`` and ``top_scores`` (the five likeliest scores as
        ``{"home", "away", "probability"}``, likeliest first); two-way sports ``margin``
        (expected home margin, points), ``total`` and their ``_lower_80``/``_upper_80``/
        ``_lower_95``/``_upper_95`` bounds. Detail columns are NaN/None for a model logged
        without a detail. ``features=True`` adds a ``features`` column of ``{name: value}``.
        Identical fixtures share one ``top_scores``/``features`` object: treat them as read-only.
        """
        request, frame = self.frame(fixtures, allow_unknown)
        outputs, inverse = self._outputs(frame), frame.inverse
        out: dict[str, Any] = {
            "competition": self.competition,
            "model_name": self.model_name,
            "model_version": self.version,
        }
        out.update({c: request[c] for c in ("home_team", "away_team", "date", "neutral")})
        probs = outputs.probs[inverse]
        with np.errstate(divide="ignore"):
            fair = 1.0 / probs
        for j, outcome in enumerate(self.outcomes):
            out[f"prob_{outcome}"] = probs[:, j]
        for j, outcome in enumerate(self.outcomes):
            out[f"fair_odds_{outcome}"] = fair[:, j]
        for j, outcome in enumerate(self.outcomes):
            price = request[f"price_{outcome}"].to_numpy(np.float64)
            out[f"price_{outcome}"] = price
            out[f"edge_{outcome}"] = probs[:, j] * price - 1.0
        detail = outputs.detail(list(range(len(outputs.probs))))
        for name in self.detail_names:
            values = [d[name] for d in detail]
            if name == "top_scores":
                out[name] = [values[i] for i in inverse]
            else:
                out[name] = np.array(values, dtype=np.float64).reshape(-1)[inverse]
        if features:
            names = outputs.feature_names
            distinct = [
                {name: (v if v == v else None) for name, v in zip(names, row)}
                for row in outputs.features.tolist()
            ]
            out["features"] = [distinct[i] for i in inverse]
        return pd.DataFrame(out, index=request.index)  # one construction: cheap for one row too

    def forecast_records(
        self, fixtures: pd.DataFrame, *, allow_unknown: bool = False, features: bool = False
    ) -> list[dict]:
        """:meth:`forecast` as JSON-ready dicts: dates as ``YYYY-MM-DD``, NaN and infinities as
        None, numpy scalars as Python numbers."""
        table = self.forecast(fixtures, allow_unknown=allow_unknown, features=features)
        columns = {name: fields.json_column(table[name]) for name in table.columns}
        names = list(columns)
        return [dict(zip(names, values)) for values in zip(*columns.values())]

    # -- the service's path ----------------------------------------------------------------------
    def forecast_rows(
        self, home: list[str], away: list[str], dates: list[dt.date], neutral: list[bool], prices: np.ndarray
    ) -> Forecasts:
        """Forecasts of request rows given as columns: known, distinct teams (else
        :class:`UnknownTeam` / ValueError naming the row), calendar dates, neutral flags and
        ``prices`` ``(n, len(outcomes))`` (NaN = no price). The same answers as
        :meth:`forecast` gives those rows, but each fixture's model outputs (probabilities,
        detail, features) are computed once and then served from a bounded cache: when a date
        is first seen, every pairing of the latest season's teams on it is computed with it
        (up to :data:`PRIMED_PAIRINGS`), in one vectorised call, so any further fixture of that
        date costs a lookup."""
        for row, (h, a) in enumerate(zip(home, away)):
            for field, team in (("home_team", h), ("away_team", a)):
                if team not in self.known_teams:
                    raise UnknownTeam(team, self.suggestions(team), field, row)
            if h == a:
                raise ValueError(f"row {row}: home_team and away_team are both {h!r}")
        keys = list(zip(dates, home, away, map(bool, neutral)))
        found = self._cache.get(keys)
        missing = [key for key, entry in zip(keys, found) if entry is None]
        if missing:
            with self._computing:  # one computation per new date, not one per waiting thread
                computed = self._compute(missing)
            found = [computed.get(key) if entry is None else entry for key, entry in zip(keys, found)]
        return _gathered(
            self,
            home,
            away,
            dates,
            [bool(v) for v in neutral],
            np.asarray(prices, dtype=np.float64).reshape(len(keys), -1),
            found,  # type: ignore[arg-type]  # every entry found or computed
        )

    def _compute(self, missing: list[tuple]) -> dict[tuple, tuple[ModelOutputs, int]]:
        """Outputs of the ``missing`` keys (plus every pairing of the latest season on each of
        their dates not cached yet), cached; returns the entries of the ``missing`` keys."""
        wanted = list(dict.fromkeys(missing))
        again = self._cache.get(wanted)  # computed by another thread meanwhile
        entries = {key: entry for key, entry in zip(wanted, again) if entry is not None}
        todo = [key for key, entry in zip(wanted, again) if entry is None]
        if not todo:
            return entries
        teams = [str(t) for t in self.pyfunc.latest_teams]
        if len(teams) * (len(teams) - 1) > PRIMED_PAIRINGS:
            teams = []
        pairs = [
            (day, h, a, False)
            for day in dict.fromkeys(k[0] for k in todo)
            for h in teams
            for a in teams
            if h != a
        ]
        asked = set(todo)
        todo += [
            key for key, entry in zip(pairs, self._cache.get(pairs)) if entry is None and key not in asked
        ]
        model_input = pd.DataFrame(
            {
                "home_team": [k[1] for k in todo],
                "away_team": [k[2] for k in todo],
                "date": pd.to_datetime([k[0] for k in todo]),
                "neutral": [k[3] for k in todo],
            }
        )
        frame = self.pyfunc.frame(model_input)
        outputs = self._outputs(frame)
        self._cache.put(todo, outputs, frame.inverse)
        entries.update({key: (outputs, int(row)) for key, row in zip(todo, frame.inverse)})
        return entries

    # -- model outputs ---------------------------------------------------------------------------
    @property
    def detail_names(self) -> tuple[str, ...]:
        """The detail fields of an answer, in answer order."""
        if self.football:
            return ("expected_goals_home", "expected_goals_away", "top_scores")
        return tuple(
            f"{target}{suffix}"
            for target in ("margin", "total")
            for suffix in ("", *(f"_{b}" for level in LEVELS for b in interval_columns(level)))
        )

    def _outputs(self, frame: FixtureFrame) -> ModelOutputs:
        """Probabilities, detail and features of each distinct row of ``frame``."""
        rows = frame.rows
        grid = None
        if not len(rows):
            probs = np.empty((0, len(self.outcomes)))
        elif self._grid_is_model and self._goals is not None:
            grid = self._goals.predict_scores(rows)
            probs = grid.home_draw_away()
        else:
            probs = np.asarray(self.pyfunc.model.predict_proba(rows), dtype=np.float64)
            if self._goals is not None:
                grid = self._goals.predict_scores(rows)
        if self.football:
            numbers = grid.expected_goals() if grid is not None else np.full((len(rows), 2), np.nan)
            scores = likeliest_scores(grid.probabilities) if grid is not None else None
        else:
            numbers, scores = self._points_numbers(rows), None
        features = rows[frame.feature_columns].to_numpy(np.float64)
        return ModelOutputs(probs, self.detail_names, numbers, scores, features, tuple(frame.feature_columns))

    def _points_numbers(self, rows: pd.DataFrame) -> np.ndarray:
        """Expected margin and total with their interval bounds, in :attr:`detail_names` order."""
        if self._points is None or not len(rows):
            return np.full((len(rows), len(self.detail_names)), np.nan)
        points = self._points.model.predict_points(rows)
        columns = []
        for target, centre in (("margin", points.margin), ("total", points.total)):
            columns.append(centre)
            for level in LEVELS:
                radius = self._radii[(target, level)]
                columns += [centre - radius, centre + radius]
        return np.column_stack(columns)


def _gathered(
    forecaster: Forecaster,
    home: list[str],
    away: list[str],
    dates: list[dt.date],
    neutral: list[bool],
    prices: np.ndarray,
    found: list[tuple[ModelOutputs, int]],
) -> Forecasts:
    """The :class:`Forecasts` of request rows whose cache entries are ``found``."""
    distinct: dict[tuple[int, int], int] = {}
    fixture = np.fromiter(
        (distinct.setdefault((id(block), row), len(distinct)) for block, row in found),
        dtype=np.int64,
        count=len(found),
    )
    first: dict[int, tuple[ModelOutputs, int]] = {}
    for (block, row), u in zip(found, fixture.tolist()):
        first.setdefault(u, (block, row))
    entries = [first[u] for u in range(len(distinct))]
    names = entries[0][0].feature_names if entries else ()
    if all(block.feature_names == names for block, _ in entries):
        by_block: dict[int, tuple[ModelOutputs, list[int], list[int]]] = {}
        for u, (block, row) in enumerate(entries):
            group = by_block.setdefault(id(block), (block, [], []))
            group[1].append(u)
            group[2].append(row)
        probs = np.empty((len(entries), len(forecaster.outcomes)))
        features = np.empty((len(entries), len(names)))
        detail: list[dict] = [{}] * len(entries)  # each filled below
        for block, us, rows in by_block.values():
            probs[us] = block.probs[rows]
            features[us] = block.features[rows]
            for u, value in zip(us, block.detail(rows)):
                detail[u] = value
    else:  # computed with other feature columns (a model whose features vary): align by name
        names = tuple(dict.fromkeys(n for block, _ in entries for n in block.feature_names))
        where = {n: j for j, n in enumerate(names)}
        probs = np.array([block.probs[row] for block, row in entries]).reshape(len(entries), -1)
        features = np.full((len(entries), len(names)), np.nan)
        for u, (block, row) in enumerate(entries):
            features[u, [where[n] for n in block.feature_names]] = block.features[row]
        detail = [block.detail([row])[0] for block, row in entries]
    return Forecasts(
        forecaster.competition,
        forecaster.model_name,
        forecaster.version,
        forecaster.outcomes,
        home,
        away,
        dates,
        neutral,
        probs[fixture],
        prices,
        fixture,
        detail,
        features,
        names,
    )
