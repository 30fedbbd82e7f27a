"""What the prediction service answers for a fixture: outcome probabilities, fair odds, edges
against given prices, and the champion's detail (likeliest score lines and expected goals for
football; expected margin and total with conformal 80 %/95 % intervals for two-way sports).

A :class:`Forecaster` wraps one logged :class:`~scoreline.tracking.MatchModelPyfunc` and reads
exactly the rows and cached features its ``predict`` reads, so its probabilities are the
pyfunc's (identical fixtures are computed once per call). Pure and vectorised over a fixture
table; no BentoML here.
"""

from __future__ import annotations

import datetime as dt
import difflib
import threading
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from scoreline.config import competition as competition_of
from scoreline.models.base import GoalModel
from scoreline.models.conformal import interval_columns
from scoreline.tracking import PRE_CLOSING_PRICES, FixtureFrame, MatchModelPyfunc, PointsDetail, RowCache

__all__ = ["FORECAST_CACHE_ROWS", "LEVELS", "TOP_SCORES", "Forecaster", "Forecasts", "UnknownTeam"]

#: how many of the likeliest score lines a football forecast lists
TOP_SCORES = 5
#: coverage levels of the margin and total intervals
LEVELS = (0.8, 0.95)
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

    def __init__(self, team: str, suggestions: list[str], field: str | None = None,
                 row: int | None = None) -> None:
        self.team, self.suggestions, self.field, self.row = team, suggestions, field, row
        where = f"row {row}: " if row is not None else ""
        hint = f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
        super().__init__(f"{where}unknown {field or 'team'} {team!r}{hint}")


class Forecaster:
    """Forecasts of one champion model for one competition.

    ``teams``: the latest season's teams (sorted), then every other team in the model's history;
    ``known_teams``: all of them as a set.
    """

    def __init__(self, pyfunc: MatchModelPyfunc, *, model_name: str, version: str,
                 competition: str) -> None:
        if pyfunc.competition != competition:
            raise ValueError(f"model {model_name!r} v{version} forecasts {pyfunc.competition}, "
                             f"not {competition}")
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
        self._grid_is_model = (self._goals is model
                               and type(model).predict_proba is GoalModel.predict_proba)
        self._radii = ({(target, level): getattr(self._points, target).radius(level)
                        for target in ("margin", "total") for level in LEVELS}
                       if self._points is not None else {})
        self._cache = RowCache(FORECAST_CACHE_ROWS)
        self._computing = threading.Lock()

    @classmethod
    def from_pyfunc(cls, pyfunc_model: Any, *, model_name: str, version: str,
                    competition: str) -> Forecaster:
        """From a loaded ``mlflow.pyfunc.PyFuncModel`` (or the :class:`MatchModelPyfunc` itself)."""
        wrapper = (pyfunc_model.unwrap_python_model()
                   if hasattr(pyfunc_model, "unwrap_python_model") else pyfunc_model)
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
        out["date"] = _dates(given)
        out["neutral"] = _flags(given, "neutral")
        for outcome in ("home", "draw", "away"):
            field = f"price_{outcome}"
            if field not in given:
                out[field] = np.nan
                continue
            if outcome not in self.outcomes and given[field].notna().any():
                row = int(np.flatnonzero(given[field].notna())[0])
                raise ValueError(f"row {row}: {field}: {self.competition} has no draw outcome")
            out[field] = _prices(given[field], field)
        for column in PASSED_ON:
            if column in given:
                out[column] = given[column]
        return out

    # -- forecasts -----------------------------------------------------------------------------
    def frame(self, fixtures: pd.DataFrame, allow_unknown: bool = False
              ) -> tuple[pd.DataFrame, FixtureFrame]:
        """The validated request and the model's fixture frame for it."""
        request = self._request(fixtures, allow_unknown)
        model_input = request.drop(columns=[f"price_{o}" for o in ("home", "draw", "away")])
        return request, self.pyfunc.frame(model_input)

    def features(self, fixtures: pd.DataFrame, allow_unknown: bool = False) -> pd.DataFrame:
        """The point-in-time features the model read, one row per fixture (for drift checks)."""
        return self.frame(fixtures, allow_unknown)[1].features()

    def forecast(self, fixtures: pd.DataFrame, *, allow_unknown: bool = False,
                 features: bool = False) -> pd.DataFrame:
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
        out: dict[str, Any] = {"competition": self.competition, "model_name": self.model_name,
                               "model_version": self.version}
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
            distinct = [{name: (v if v == v else None) for name, v in zip(names, row)}
                        for row in outputs.features.tolist()]
            out["features"] = [distinct[i] for i in inverse]
        return pd.DataFrame(out, index=request.index)  # one construction: cheap for one row too

    def forecast_records(self, fixtures: pd.DataFrame, *, allow_unknown: bool = False,
                         features: bool = False) -> list[dict]:
        """:meth:`forecast` as JSON-ready dicts: dates as ``YYYY-MM-DD``, NaN and infinities as
        None, numpy scalars as Python numbers."""
        table = self.forecast(fixtures, allow_unknown=allow_unknown, features=features)
        columns = {name: _json_column(table[name]) for name in table.columns}
        names = list(columns)
        return [dict(zip(names, values)) for values in zip(*columns.values())]

    # -- the service's path ----------------------------------------------------------------------
    def forecast_rows(self, home: list[str], away: list[str], dates: list[dt.date],
                      neutral: list[bool], prices: np.ndarray) -> Forecasts:
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
        return _gathered(self, home, away, dates, [bool(v) for v in neutral],
                         np.asarray(prices, dtype=np.float64).reshape(len(keys), -1), found)

    def _compute(self, missing: list[tuple]) -> dict[tuple, tuple[_Outputs, int]]:
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
        pairs = [(day, h, a, False) for day in dict.fromkeys(k[0] for k in todo)
                 for h in teams for a in teams if h != a]
        asked = set(todo)
        todo += [key for key, entry in zip(pairs, self._cache.get(pairs))
                 if entry is None and key not in asked]
        model_input = pd.DataFrame({
            "home_team": [k[1] for k in todo], "away_team": [k[2] for k in todo],
            "date": pd.to_datetime([k[0] for k in todo]), "neutral": [k[3] for k in todo]})
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
        return tuple(f"{target}{suffix}" for target in ("margin", "total")
                     for suffix in ("", *(f"_{b}" for level in LEVELS for b in interval_columns(level))))

    def _outputs(self, frame: FixtureFrame) -> _Outputs:
        """Probabilities, detail and features of each distinct row of ``frame``."""
        rows = frame.rows
        grid = None
        if not len(rows):
            probs = np.empty((0, len(self.outcomes)))
        elif self._grid_is_model:
            grid = self._goals.predict_scores(rows)
            probs = grid.home_draw_away()
        else:
            probs = np.asarray(self.pyfunc.model.predict_proba(rows), dtype=np.float64)
            if self._goals is not None:
                grid = self._goals.predict_scores(rows)
        if self.football:
            numbers = grid.expected_goals() if grid is not None else np.full((len(rows), 2), np.nan)
            scores = _likeliest_scores(grid.probabilities) if grid is not None else None
        else:
            numbers, scores = self._points_numbers(rows), None
        features = rows[frame.feature_columns].to_numpy(np.float64)
        return _Outputs(probs, self.detail_names, numbers, scores, features,
                        tuple(frame.feature_columns))

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


class _Outputs:
    """What a model says about distinct fixtures, a row each: probabilities ``(m, outcomes)``,
    the detail's numbers ``(m, d)`` (NaN: none) named by the first ``d`` of ``detail_names``,
    for football the likeliest scores (home goals, away goals, probabilities, each ``(m, k)``;
    None without a goal model) and the features ``(m, len(feature_names))``. Kept as arrays: a
    cached fixture costs about a kilobyte, most of it its features."""

    __slots__ = ("probs", "detail_names", "numbers", "scores", "features", "feature_names")

    def __init__(self, probs: np.ndarray, detail_names: tuple[str, ...], numbers: np.ndarray,
                 scores: tuple[np.ndarray, np.ndarray, np.ndarray] | None, features: np.ndarray,
                 feature_names: tuple[str, ...]) -> None:
        self.probs, self.detail_names, self.numbers, self.scores = probs, detail_names, numbers, scores
        self.features, self.feature_names = features, feature_names

    def detail(self, rows: list[int]) -> list[dict]:
        """The detail of ``rows`` as JSON-ready dicts, in answer order."""
        names = self.detail_names
        out = [dict(zip(names, values)) for values in _finite_or_none(self.numbers[rows])]
        if "top_scores" in names:
            if self.scores is None:
                for detail in out:
                    detail["top_scores"] = None
            else:
                home, away, chance = (part[rows].tolist() for part in self.scores)
                for detail, hs, as_, ps in zip(out, home, away, chance):
                    detail["top_scores"] = [{"home": h, "away": a, "probability": p}
                                            for h, a, p in zip(hs, as_, ps)]
        return out


@dataclass(frozen=True, eq=False)
class Forecasts:
    """Forecasts of request rows, column-wise, in request order (see
    :meth:`Forecaster.forecast_rows`).

    ``probs`` and ``prices``: ``(n, len(outcomes))``; ``fixture``: row ``i``'s distinct fixture,
    whose ``detail`` (dict) and ``features`` (row of ``(u, len(feature_names))``) it shares with
    the other rows of that fixture.
    """

    competition: str
    model_name: str
    model_version: str
    outcomes: tuple[str, ...]
    home: list[str]
    away: list[str]
    dates: list[dt.date]
    neutral: list[bool]
    probs: np.ndarray
    prices: np.ndarray
    fixture: np.ndarray
    detail: list[dict]
    features: np.ndarray
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.home)

    def records(self) -> list[dict]:
        """JSON-ready answers, as :meth:`Forecaster.forecast_records` gives them (dates as
        ``YYYY-MM-DD``; NaN and infinities as None); the detail's values are shared objects."""
        n = len(self)
        with np.errstate(divide="ignore", invalid="ignore"):
            fair = 1.0 / self.probs
            edge = self.probs * self.prices - 1.0
        days = {day: day.isoformat() for day in set(self.dates)}
        names = ["competition", "model_name", "model_version", "home_team", "away_team", "date",
                 "neutral"]
        columns = [repeat(self.competition, n), repeat(self.model_name, n),
                   repeat(self.model_version, n), self.home, self.away,
                   [days[day] for day in self.dates], self.neutral]
        k = len(self.outcomes)
        names += [f"prob_{o}" for o in self.outcomes] + [f"fair_odds_{o}" for o in self.outcomes]
        names += [f"{kind}_{o}" for o in self.outcomes for kind in ("price", "edge")]
        priced = np.empty((n, 2 * k))
        priced[:, 0::2], priced[:, 1::2] = self.prices, edge
        columns += self.probs.T.tolist() + _finite_or_none(np.hstack([fair, priced]).T)
        records = [dict(zip(names, values)) for values in zip(*columns)]
        detail = self.detail
        for record, fixture in zip(records, self.fixture.tolist()):
            record.update(detail[fixture])
        return records


def _gathered(forecaster: Forecaster, home: list[str], away: list[str], dates: list[dt.date],
              neutral: list[bool], prices: np.ndarray,
              found: list[tuple[_Outputs, int]]) -> Forecasts:
    """The :class:`Forecasts` of request rows whose cache entries are ``found``."""
    distinct: dict[tuple[int, int], int] = {}
    fixture = np.fromiter((distinct.setdefault((id(block), row), len(distinct))
                           for block, row in found), dtype=np.int64, count=len(found))
    first = {}
    for (block, row), u in zip(found, fixture.tolist()):
        first.setdefault(u, (block, row))
    entries = [first[u] for u in range(len(distinct))]
    names = entries[0][0].feature_names if entries else ()
    if all(block.feature_names == names for block, _ in entries):
        by_block: dict[int, tuple[_Outputs, list[int], list[int]]] = {}
        for u, (block, row) in enumerate(entries):
            group = by_block.setdefault(id(block), (block, [], []))
            group[1].append(u)
            group[2].append(row)
        probs = np.empty((len(entries), len(forecaster.outcomes)))
        features = np.empty((len(entries), len(names)))
        detail: list[dict | None] = [None] * len(entries)
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
    return Forecasts(forecaster.competition, forecaster.model_name, forecaster.version,
                     forecaster.outcomes, home, away, dates, neutral, probs[fixture], prices,
                     fixture, detail, features, names)


def _finite_or_none(values: np.ndarray) -> list:
    """``values.tolist()`` with NaN and infinities as None."""
    return np.where(np.isfinite(values), values, None).tolist()


def top_scores(probabilities: np.ndarray, k: int = TOP_SCORES) -> list[list[dict]]:
    """Per ``(G, G)`` score matrix of an ``(n, G, G)`` batch, the ``k`` likeliest scores as
    ``{"home", "away", "probability"}``, likeliest first."""
    home, away, values = (part.tolist() for part in _likeliest_scores(probabilities, k))
    return [[{"home": h, "away": a, "probability": p} for h, a, p in zip(hs, as_, ps)]
            for hs, as_, ps in zip(home, away, values)]


def _likeliest_scores(probabilities: np.ndarray, k: int = TOP_SCORES
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Home goals, away goals (int16) and probabilities, each ``(n, k)``, of the ``k``
    likeliest cells of each ``(G, G)`` score matrix, likeliest first."""
    n, g, _ = probabilities.shape
    flat = probabilities.reshape(n, g * g)
    k = min(k, g * g)
    cells = np.argpartition(-flat, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(flat, cells, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    cells = np.take_along_axis(cells, order, axis=1)
    home, away = (part.astype(np.int16) for part in np.divmod(cells, g))
    return home, away, np.take_along_axis(values, order, axis=1)


def _dates(given: pd.DataFrame) -> pd.Series:
    """Fixture dates (midnight, naive; a time zone's local date); absent or null means today's
    UTC date. Each distinct value is parsed once."""
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    if "date" not in given:
        return pd.Series(today, index=given.index, dtype="datetime64[ns]")
    raw = given["date"]
    if pd.api.types.is_datetime64_dtype(raw):
        return raw.dt.normalize().fillna(today).astype("datetime64[ns]")
    codes, distinct = pd.factorize(raw, use_na_sentinel=True)
    parsed = []
    for value in distinct:
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            stamp = pd.NaT
        if stamp is pd.NaT:
            row = int(np.flatnonzero(codes == len(parsed))[0])
            raise ValueError(f"row {row}: date {raw[row]!r} is not a date (YYYY-MM-DD)")
        parsed.append(stamp.tz_localize(None) if stamp.tzinfo else stamp)
    days = pd.DatetimeIndex(parsed + [today], dtype="datetime64[ns]").normalize()
    return pd.Series(days.to_numpy()[codes], index=given.index)  # code -1 (null) -> today


def _flags(given: pd.DataFrame, field: str) -> np.ndarray:
    """A boolean column (absent or null = False); anything but a boolean names its row."""
    if field not in given:
        return np.zeros(len(given), dtype=bool)
    values = given[field]
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(bool)
    ok = values.map(lambda v: v is None or isinstance(v, (bool, np.bool_))
                    or (isinstance(v, float) and np.isnan(v))).to_numpy(bool)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"row {row}: {field} must be true or false, got {values[row]!r}")
    return values.astype("boolean").fillna(False).to_numpy(bool)


def _prices(values: pd.Series, field: str) -> np.ndarray:
    """Decimal prices (> 1, finite) as floats; null = no price."""
    numeric = pd.to_numeric(values, errors="coerce").astype(np.float64)
    bad = (values.notna() & ~(np.isfinite(numeric) & (numeric > 1.0))).to_numpy(bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {row}: {field} must be a decimal price above 1, got {values[row]!r}")
    return numeric.to_numpy(np.float64)


def _json_column(series: pd.Series) -> list:
    """A column as JSON-ready Python values (NaN/inf -> None, dates -> YYYY-MM-DD)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        text = series.dt.strftime("%Y-%m-%d")
        return text.astype(object).where(series.notna(), None).tolist()
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(np.float64)
        return np.where(np.isfinite(values), values, None).tolist()
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return series.tolist()
    return [None if v is None or (isinstance(v, float) and not np.isfinite(v)) else v
            for v in series.tolist()]
