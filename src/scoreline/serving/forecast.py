"""What the prediction service answers for a fixture: outcome probabilities, fair odds, edges
against given prices, and the champion's detail (likeliest score lines and expected goals for
football; expected margin and total with conformal 80 %/95 % intervals for two-way sports).

A :class:`Forecaster` wraps one logged :class:`~scoreline.tracking.MatchModelPyfunc` and reads
exactly the rows and cached features its ``predict`` reads, so its probabilities are the
pyfunc's (identical fixtures are computed once per call). Pure and vectorised over a fixture
table; no BentoML here.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd

from scoreline.config import competition as competition_of
from scoreline.models.base import GoalModel
from scoreline.models.conformal import interval_columns
from scoreline.tracking import PRE_CLOSING_PRICES, FixtureFrame, MatchModelPyfunc, PointsDetail

__all__ = ["LEVELS", "TOP_SCORES", "Forecaster", "UnknownTeam"]

#: how many of the likeliest score lines a football forecast lists
TOP_SCORES = 5
#: coverage levels of the margin and total intervals
LEVELS = (0.8, 0.95)
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
        rows, inverse = frame.rows, frame.inverse
        out: dict[str, Any] = {"competition": self.competition, "model_name": self.model_name,
                               "model_version": self.version}
        out.update({c: request[c] for c in ("home_team", "away_team", "date", "neutral")})
        grid = None
        if self._grid_is_model and len(rows):
            grid = self._goals.predict_scores(rows)
            probs = grid.home_draw_away()[inverse]
        else:
            probs = self.pyfunc.probabilities(frame)
            if self._goals is not None and len(rows):
                grid = self._goals.predict_scores(rows)
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
        if self.football:
            self._goal_columns(out, grid, inverse)
        else:
            self._points_columns(out, rows, inverse)
        if features:
            out["features"] = _feature_dicts(frame)
        return pd.DataFrame(out, index=request.index)  # one construction: cheap for one row too

    def forecast_records(self, fixtures: pd.DataFrame, *, allow_unknown: bool = False,
                         features: bool = False) -> list[dict]:
        """:meth:`forecast` as JSON-ready dicts: dates as ``YYYY-MM-DD``, NaN and infinities as
        None, numpy scalars as Python numbers."""
        table = self.forecast(fixtures, allow_unknown=allow_unknown, features=features)
        columns = {name: _json_column(table[name]) for name in table.columns}
        names = list(columns)
        return [dict(zip(names, values)) for values in zip(*columns.values())]

    def _goal_columns(self, out: dict[str, Any], grid, inverse: np.ndarray) -> None:
        if grid is None:
            out["expected_goals_home"] = np.nan
            out["expected_goals_away"] = np.nan
            out["top_scores"] = None
            return
        goals = grid.expected_goals()[inverse]
        out["expected_goals_home"] = goals[:, 0]
        out["expected_goals_away"] = goals[:, 1]
        tops = top_scores(grid.probabilities)
        out["top_scores"] = [tops[i] for i in inverse]

    def _points_columns(self, out: dict[str, Any], rows: pd.DataFrame, inverse: np.ndarray) -> None:
        if self._points is None or not len(rows):
            for target in ("margin", "total"):
                out[target] = np.nan
                for level in LEVELS:
                    for bound in interval_columns(level):
                        out[f"{target}_{bound}"] = np.nan
            return
        points = self._points.model.predict_points(rows)
        for target, centre in (("margin", points.margin[inverse]), ("total", points.total[inverse])):
            out[target] = centre
            for level in LEVELS:
                radius = self._radii[(target, level)]
                lower, upper = interval_columns(level)
                out[f"{target}_{lower}"] = centre - radius
                out[f"{target}_{upper}"] = centre + radius


def top_scores(probabilities: np.ndarray, k: int = TOP_SCORES) -> list[list[dict]]:
    """Per ``(G, G)`` score matrix of an ``(n, G, G)`` batch, the ``k`` likeliest scores as
    ``{"home", "away", "probability"}``, likeliest first."""
    n, g, _ = probabilities.shape
    flat = probabilities.reshape(n, g * g)
    k = min(k, g * g)
    cells = np.argpartition(-flat, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(flat, cells, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    cells = np.take_along_axis(cells, order, axis=1)
    values = np.take_along_axis(values, order, axis=1).tolist()
    home, away = (part.tolist() for part in np.divmod(cells, g))
    return [[{"home": h, "away": a, "probability": p} for h, a, p in zip(hs, as_, ps)]
            for hs, as_, ps in zip(home, away, values)]


def _feature_dicts(frame: FixtureFrame) -> list[dict]:
    """``{name: value}`` per request row (NaN as None), built once per distinct fixture."""
    names = frame.feature_columns
    values = frame.rows[names].to_numpy(np.float64)
    finite = np.isfinite(values)
    distinct = [{name: (v if ok else None) for name, v, ok in zip(names, row, mask)}
                for row, mask in zip(values.tolist(), finite.tolist())]
    return [distinct[i] for i in frame.inverse]


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
