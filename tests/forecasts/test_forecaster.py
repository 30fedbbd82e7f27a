"""Forecasts from logged champions on real data: probabilities identical to the pyfunc's, the
detail (score lines, margin and total intervals), validation, and the fixture feature cache."""

from __future__ import annotations

import json
import os
import pickle

import mlflow
import numpy as np
import pandas as pd
import pytest

from scoreline.config import competition
from scoreline.features.builder import competition_features
from scoreline.forecasts.answer import top_scores
from scoreline.forecasts.forecaster import Forecaster, UnknownTeam
from scoreline.models.base import GoalModel
from scoreline.tracking import MatchModelPyfunc, PointsDetail, train_and_log

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def champions(real_ingest, tmp_path_factory):
    """elo and dixon_coles on E0, elo on NFL: trained, logged in a temporary registry, loaded
    back with mlflow.pyfunc.load_model. {(code, model): (PyFuncModel, Forecaster)}."""
    _, settings = real_ingest
    settings = settings.model_copy(update={"registry_dir": tmp_path_factory.mktemp("registry")})
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    loaded = {}
    try:
        for code, name in (("E0", "elo"), ("E0", "dixon_coles"), ("NFL", "elo")):
            uri = train_and_log(settings, code, name)["model_uri"]
            pyfunc = mlflow.pyfunc.load_model(uri)
            loaded[code, name] = (
                pyfunc,
                Forecaster.from_pyfunc(pyfunc, model_name=name, version="1", competition=code),
            )
    finally:
        mlflow.set_tracking_uri(None)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return loaded


def fixtures_for(forecaster: Forecaster, n_dates: int = 3, per_date: int = 8) -> pd.DataFrame:
    """Pairs of the latest season's teams over a few dates after the history, some repeated,
    some neutral, one team playing on several dates."""
    teams = forecaster.teams[: per_date + 1]
    last = forecaster.pyfunc.history["date"].max()
    rows = []
    for d in range(n_dates):
        for i in range(per_date):
            rows.append(
                {
                    "home_team": teams[i],
                    "away_team": teams[(i + d + 1) % len(teams)],
                    "date": (last + pd.Timedelta(days=20 + 7 * d)).strftime("%Y-%m-%d"),
                    "neutral": i == 3,
                }
            )
    rows.append(dict(rows[0]))  # an exact repeat
    return pd.DataFrame(rows)


def probability_columns(forecaster: Forecaster) -> list[str]:
    return [f"prob_{o}" for o in forecaster.outcomes]


@pytest.mark.parametrize("key", [("E0", "elo"), ("E0", "dixon_coles"), ("NFL", "elo")])
def test_forecast_equals_pyfunc_predict_one_by_one_and_in_a_batch(champions, key):
    pyfunc, forecaster = champions[key]
    fixtures = fixtures_for(forecaster)
    expected = pyfunc.predict(fixtures[["home_team", "away_team", "date", "neutral"]]).to_numpy()
    batch = forecaster.forecast(fixtures)[probability_columns(forecaster)].to_numpy()
    fresh = Forecaster.from_pyfunc(
        pickle.loads(pickle.dumps(pyfunc.unwrap_python_model())),
        model_name=key[1],
        version="1",
        competition=key[0],
    )
    singles = np.vstack(
        [
            fresh.forecast(fixtures.iloc[[i]])[probability_columns(forecaster)].to_numpy()
            for i in range(len(fixtures))
        ]
    )
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(singles, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-12)
    assert not np.allclose(batch[0], batch[1])  # different fixtures, different forecasts


def test_football_forecast_has_odds_edges_expected_goals_and_top_scores(champions):
    _, forecaster = champions["E0", "elo"]
    fixtures = fixtures_for(forecaster).assign(price_home=2.5, price_draw=np.nan, price_away=3.0)
    out = forecaster.forecast(fixtures)
    assert len(out) == len(fixtures)
    assert out["home_team"].tolist() == fixtures["home_team"].tolist()  # input order
    assert (out["competition"] == "E0").all() and (out["model_name"] == "elo").all()
    probs = out[["prob_home", "prob_draw", "prob_away"]].to_numpy()
    np.testing.assert_allclose(
        out[["fair_odds_home", "fair_odds_draw", "fair_odds_away"]].to_numpy(), 1 / probs, rtol=1e-12
    )
    np.testing.assert_allclose(out["edge_home"], probs[:, 0] * 2.5 - 1, rtol=1e-12)
    np.testing.assert_allclose(out["edge_away"], probs[:, 2] * 3.0 - 1, rtol=1e-12)
    assert out["edge_draw"].isna().all()
    assert (out[["expected_goals_home", "expected_goals_away"]] > 0).all().all()
    for scores in out["top_scores"]:
        assert len(scores) == 5
        p = [s["probability"] for s in scores]
        assert p == sorted(p, reverse=True) and 0 < p[-1] and sum(p) < 1
        assert len({(s["home"], s["away"]) for s in scores}) == 5
    # the elo champion's detail is a Dixon-Coles fitted at log time: its grid, its goals
    detail = forecaster.pyfunc.detail
    assert isinstance(detail, GoalModel) and detail is not forecaster.pyfunc.model
    grid = detail.predict_scores(forecaster.pyfunc.frame(fixtures.iloc[:1]).rows)
    assert out["top_scores"][0][0]["probability"] == pytest.approx(grid.probabilities[0].max(), abs=1e-15)
    np.testing.assert_allclose(
        out.loc[0, ["expected_goals_home", "expected_goals_away"]].to_numpy(float),
        grid.expected_goals()[0],
        rtol=1e-12,
    )

    records = forecaster.forecast_records(fixtures.head(2))
    text = json.dumps(records, allow_nan=False)  # JSON-ready: no NaN, no numpy types
    assert records[0]["edge_draw"] is None and records[0]["date"] == fixtures["date"][0]
    assert json.loads(text)[0]["top_scores"] == records[0]["top_scores"]


def test_a_goal_model_champion_gives_probabilities_and_score_lines_from_one_grid(champions):
    _, forecaster = champions["E0", "dixon_coles"]
    assert forecaster.pyfunc.detail is forecaster.pyfunc.model
    out = forecaster.forecast(fixtures_for(forecaster))
    grid = forecaster.pyfunc.model.predict_scores(forecaster.pyfunc.frame(fixtures_for(forecaster)).rows)
    probs = grid.probabilities
    margin = np.subtract.outer(np.arange(probs.shape[1]), np.arange(probs.shape[2]))
    first = probs[0]
    assert out.loc[0, "prob_home"] == pytest.approx(first[margin > 0].sum(), abs=1e-12)
    assert out.loc[0, "prob_draw"] == pytest.approx(np.trace(first), abs=1e-12)
    best = [(s["home"], s["away"]) for s in out.loc[0, "top_scores"]]
    order = np.argsort(-first, axis=None, kind="stable")[:5]
    assert best == [tuple(int(v) for v in np.unravel_index(j, first.shape)) for j in order]


def test_two_way_forecast_has_ordered_finite_margin_and_total_intervals(champions):
    _, forecaster = champions["NFL", "elo"]
    detail = forecaster.pyfunc.detail
    assert isinstance(detail, PointsDetail)
    assert detail.margin.n_residuals == detail.total.n_residuals == 1000
    fixtures = fixtures_for(forecaster).assign(price_home=1.9, price_away=2.0)
    out = forecaster.forecast(fixtures)
    assert "prob_draw" not in out and "top_scores" not in out
    np.testing.assert_allclose(out[["prob_home", "prob_away"]].sum(axis=1), 1.0, atol=1e-12)
    for target in ("margin", "total"):
        bounds = out[
            [f"{target}_lower_95", f"{target}_lower_80", target, f"{target}_upper_80", f"{target}_upper_95"]
        ].to_numpy()
        assert np.isfinite(bounds).all()
        assert (np.diff(bounds, axis=1) > 0).all()
    assert (out["total"] > 20).all() and (out["total"] < 70).all()
    assert (out["total_upper_95"] - out["total_lower_95"]).between(20, 80).all()
    # the expected margin leans the same way as the win probability on average
    assert np.corrcoef(out["margin"], out["prob_home"])[0, 1] > 0.5
    np.testing.assert_allclose(out["edge_away"], out["prob_away"] * 2.0 - 1, rtol=1e-12)
    with pytest.raises(ValueError, match=r"row 0: price_draw: NFL has no draw"):
        forecaster.forecast(fixtures.head(1).assign(price_draw=3.0))


def test_unknown_teams_get_suggestions_and_bad_rows_are_named(champions):
    _, forecaster = champions["E0", "elo"]
    assert "Arsenal" in forecaster.known_teams
    assert set(forecaster.teams) == forecaster.known_teams
    latest = set(forecaster.pyfunc.latest_teams)
    assert set(forecaster.teams[: len(latest)]) == latest
    with pytest.raises(UnknownTeam) as caught:
        forecaster.check_teams("Arsenl", "Chelsea")
    assert caught.value.team == "Arsenl" and caught.value.suggestions[0] == "Arsenal"
    assert forecaster.suggestions("man united") == ["Man United"]
    with pytest.raises(ValueError, match="both 'Chelsea'"):
        forecaster.check_teams("Chelsea", "Chelsea")
    forecaster.check_teams("Arsenal", "Chelsea")

    good = {"home_team": "Arsenal", "away_team": "Chelsea", "date": "2024-08-20"}
    with pytest.raises(UnknownTeam, match=r"row 1: unknown away_team 'Chelsae'.*'Chelsea'"):
        forecaster.forecast(pd.DataFrame([good, dict(good, away_team="Chelsae")]))
    promoted = forecaster.forecast(pd.DataFrame([dict(good, away_team="Newcomers FC")]), allow_unknown=True)
    assert promoted["prob_home"].between(0, 1).all()
    for bad, message in (
        (dict(good, date="next week"), r"row 1: date 'next week'"),
        (dict(good, price_home=0.9), r"row 1: price_home must be a decimal price"),
        (dict(good, neutral="yes"), r"row 1: neutral must be true or false"),
        (dict(good, home_team=""), r"row 1: home_team must be a team name"),
    ):
        with pytest.raises(ValueError, match=message):
            forecaster.forecast(pd.DataFrame([good, bad]))
    with pytest.raises(ValueError, match="need column"):
        forecaster.forecast(pd.DataFrame([{"home_team": "Arsenal"}]))
    today = forecaster.forecast(pd.DataFrame([{"home_team": "Arsenal", "away_team": "Chelsea"}]))
    assert today.loc[0, "date"] == pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()


@pytest.mark.parametrize("code", ["E0", "NFL"])
def test_cached_features_equal_a_full_recomputation_for_each_fixture_alone(champions, code):
    """A warm date, then fixtures on it the cache has not seen (neutral, an explicit season,
    a team from an older season) and a team's fixtures on two dates in one call: each fixture's
    features and probabilities equal those computed from the history plus it alone. (NFL: a
    date in the next season regresses ratings, unless the fixture says it is still the old one.)"""
    pyfunc, _ = champions[code, "elo"]
    wrapper = MatchModelPyfunc.__new__(MatchModelPyfunc)
    wrapper.__setstate__(pyfunc.unwrap_python_model().__getstate__())  # a cold cache
    history = wrapper.history
    comp = competition(code)
    day = history["date"].max() + pd.Timedelta(days=80)
    teams = list(wrapper.latest_teams)
    # a team outside the cached pairings: relegated earlier (E0) or brand new (NFL has none)
    older = (sorted(set(history["home_team"]) - set(teams)) or ["Expansion Team"])[0]
    wrapper.predict(None, pd.DataFrame({"home_team": [teams[0]], "away_team": [teams[1]], "date": [day]}))
    warm = len(wrapper._cache)
    assert warm == len(teams) * (len(teams) - 1)  # every pairing of the date cached at once

    fixtures = pd.DataFrame(
        [
            {"home_team": teams[2], "away_team": teams[3], "date": day, "neutral": True},
            {
                "home_team": teams[4],
                "away_team": teams[5],
                "date": day,
                "season": int(history["season"].max()),
            },
            {"home_team": older, "away_team": teams[6], "date": day},
            {"home_team": teams[0], "away_team": teams[7], "date": day + pd.Timedelta(days=3)},
            {"home_team": teams[1], "away_team": teams[0], "date": day},
        ]
    )
    frame = wrapper.frame(fixtures)
    got = frame.features()
    probs = wrapper.predict(None, fixtures).to_numpy()
    for i in range(len(fixtures)):
        alone = wrapper.fixtures(fixtures.iloc[[i]])
        combined = pd.concat([history, alone], ignore_index=True)
        direct = competition_features(combined, comp).iloc[[-1]]
        np.testing.assert_array_equal(got.iloc[[i]][direct.columns].to_numpy(), direct.to_numpy())
        expected = wrapper.model.predict_proba(combined.join(competition_features(combined, comp)).iloc[[-1]])
        np.testing.assert_allclose(probs[i], expected[0], rtol=0, atol=1e-12)
    # the rest days of teams[0] on the later date ignore its fixture three days earlier
    assert (
        got.loc[3, "rest_home"]
        == (
            day
            + pd.Timedelta(days=3)
            - history.loc[
                (history["home_team"] == teams[0]) | (history["away_team"] == teams[0]), "date"
            ].max()
        ).days
    )
    assert len(wrapper._cache) > warm
    if code == "NFL":  # the explicit old season changes the features: it is in the key
        again = wrapper.frame(fixtures.iloc[[1]].drop(columns="season")).features()
        assert again.loc[0, "elo_home"] != got.loc[1, "elo_home"]

    # the cache never travels with the model; an old pickle without a detail still loads
    state = wrapper.__getstate__()
    assert "_cache" not in state
    cold = pickle.loads(pickle.dumps(wrapper))
    assert len(cold._cache) == 0 and len(pickle.dumps(cold)) == len(pickle.dumps(wrapper))
    del state["detail"]
    old = MatchModelPyfunc.__new__(MatchModelPyfunc)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.detail is None and len(old._cache) == 0
    np.testing.assert_allclose(old.predict(None, fixtures).to_numpy(), probs, rtol=0, atol=1e-12)
    bare = Forecaster(old, model_name="elo", version="0", competition=code).forecast(fixtures.head(2))
    detail = ["top_scores", "expected_goals_home"] if code == "E0" else ["margin", "total_upper_95"]
    assert bare[detail].isna().all().all()


def test_features_per_fixture_for_monitoring(champions):
    _, forecaster = champions["NFL", "elo"]
    fixtures = fixtures_for(forecaster)
    table = forecaster.features(fixtures)
    assert len(table) == len(fixtures) and "elo_home_expected" in table
    assert table.iloc[0].equals(table.iloc[-1])  # the repeated fixture
    out = forecaster.forecast(fixtures, features=True)
    assert out.loc[5, "features"]["elo_home"] == table.loc[5, "elo_home"]
    record = forecaster.forecast_records(fixtures.head(1), features=True)[0]
    json.dumps(record, allow_nan=False)
    assert set(record["features"]) == set(table.columns)


def test_top_scores_are_the_likeliest_cells_in_order():
    rng = np.random.default_rng(1)
    grids = rng.random((50, 7, 7))
    grids /= grids.sum(axis=(1, 2), keepdims=True)
    for grid, best in zip(grids, top_scores(grids, k=4)):
        cells = np.argsort(-grid, axis=None)[:4]
        assert [(b["home"], b["away"]) for b in best] == [np.unravel_index(c, grid.shape) for c in cells]
        assert [b["probability"] for b in best] == grid.flatten()[cells].tolist()


def request_columns(fixtures: pd.DataFrame, forecaster: Forecaster, prices: dict | None = None):
    """``fixtures`` as :meth:`Forecaster.forecast_rows` takes them."""
    prices = prices or {}
    return (
        [str(h) for h in fixtures["home_team"]],
        [str(a) for a in fixtures["away_team"]],
        [pd.Timestamp(d).date() for d in fixtures["date"]],
        fixtures["neutral"].tolist(),
        np.array([[prices.get(o, np.nan) for o in forecaster.outcomes]] * len(fixtures)),
    )


@pytest.mark.parametrize("key", [("E0", "elo"), ("E0", "dixon_coles"), ("NFL", "elo")])
def test_the_service_path_answers_as_forecast_records_do(champions, key):
    """forecast_rows (cached per fixture, every pairing of a new date computed at once) gives
    the records, detail and features that forecast_records gives, row by row."""
    pyfunc, _ = champions[key]
    fresh = Forecaster.from_pyfunc(
        pickle.loads(pickle.dumps(pyfunc.unwrap_python_model())),
        model_name=key[1],
        version="1",
        competition=key[0],
    )
    fixtures = fixtures_for(fresh)
    prices = {"home": 2.5, "away": 3.25}
    got = fresh.forecast_rows(*request_columns(fixtures, fresh, prices))
    expected = fresh.forecast_records(
        fixtures.assign(**{f"price_{o}": p for o, p in prices.items()}), features=True
    )
    records = got.records()
    assert len(records) == len(expected) == len(got)
    for i, (record, want) in enumerate(zip(records, expected)):
        features = want.pop("features")
        assert list(record) == list(want)
        for name, value in want.items():
            if isinstance(value, float):
                assert record[name] == pytest.approx(value, rel=0, abs=1e-12), (i, name)
            elif name == "top_scores":
                assert [(s["home"], s["away"]) for s in record[name]] == [
                    (s["home"], s["away"]) for s in value
                ]
            else:
                assert record[name] == value, (i, name)
        row = dict(zip(got.feature_names, got.features[got.fixture[i]].tolist()))
        assert row.keys() == features.keys()
        assert all(features[n] == row[n] or (features[n] is None and np.isnan(row[n])) for n in row)
    assert records[0] is not records[-1] and records[-1]["home_team"] == records[0]["home_team"]
    assert got.fixture[0] == got.fixture[-1]  # the repeat shares its fixture's outputs
    json.dumps(records, allow_nan=False)


def test_a_new_date_caches_every_pairing_and_later_fixtures_are_lookups(champions, monkeypatch):
    pyfunc, _ = champions["E0", "dixon_coles"]
    forecaster = Forecaster.from_pyfunc(
        pickle.loads(pickle.dumps(pyfunc.unwrap_python_model())),
        model_name="dixon_coles",
        version="1",
        competition="E0",
    )
    teams = [str(t) for t in forecaster.pyfunc.latest_teams]
    day = (forecaster.pyfunc.history["date"].max() + pd.Timedelta(days=30)).date()
    no_prices = np.full((1, 3), np.nan)
    forecaster.forecast_rows([teams[0]], [teams[1]], [day], [False], no_prices)
    assert len(forecaster._cache) == len(teams) * (len(teams) - 1)
    computed = []
    frame = forecaster.pyfunc.frame
    monkeypatch.setattr(forecaster.pyfunc, "frame", lambda rows: computed.append(len(rows)) or frame(rows))
    other = forecaster.forecast_rows(
        [teams[5], teams[2]],
        [teams[3], teams[9]],
        [day, day],
        [False, False],
        np.array([[2.0, np.nan, np.nan], [np.nan, 3.1, np.nan]]),
    )
    assert computed == []  # a lookup
    assert other.records()[1]["edge_draw"] == pytest.approx(other.probs[1, 1] * 3.1 - 1, abs=1e-12)
    forecaster.forecast_rows([teams[5]], [teams[3]], [day], [True], no_prices)  # neutral: not cached
    assert computed == [1]
    with pytest.raises(UnknownTeam, match="row 1: unknown away_team 'Nobody'"):
        forecaster.forecast_rows(
            [teams[0]] * 2, [teams[1], "Nobody"], [day] * 2, [False] * 2, np.full((2, 3), np.nan)
        )
    with pytest.raises(ValueError, match=f"row 0: home_team and away_team are both {teams[0]!r}"):
        forecaster.forecast_rows([teams[0]], [teams[0]], [day], [False], no_prices)


def test_the_forecast_cache_is_bounded(champions):
    pyfunc, _ = champions["E0", "elo"]
    forecaster = Forecaster.from_pyfunc(
        pickle.loads(pickle.dumps(pyfunc.unwrap_python_model())),
        model_name="elo",
        version="1",
        competition="E0",
    )
    forecaster._cache.max_rows = 500
    teams = [str(t) for t in forecaster.pyfunc.latest_teams]
    first = forecaster.pyfunc.history["date"].max() + pd.Timedelta(days=30)
    for week in range(3):
        day = (first + pd.Timedelta(days=7 * week)).date()
        got = forecaster.forecast_rows([teams[0]], [teams[1]], [day], [False], np.full((1, 3), np.nan))
        assert 0 < got.probs[0, 0] < 1
    assert len(forecaster._cache) == 500
