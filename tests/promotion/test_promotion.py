"""Promotion on a real local registry: the gate passes, fails and rolls back; policy errors name
their key; concurrent promotions leave consistent aliases; the CLI and the notebook work.

Three quick models (base_rates, elo, dixon_coles) are trained and logged on the real Premier
League store once per module, with a one-season monthly walk-forward backtest logged as the
pipeline's backtest step would. On that backtest elo is the best (RPS ~0.204), dixon_coles next
(~0.213), base_rates fails every threshold (log loss ~1.057 > 1.05).
"""

from __future__ import annotations

import ast
import getpass
import json
import os
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import mlflow
import nbformat
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from scoreline.cli import main
from scoreline.config import competition
from scoreline.promotion import (
    CandidateError,
    PolicyError,
    champion_history,
    champion_uri,
    champion_version,
    champions,
    load_policy,
    parse_policy,
    promote,
    register_model,
    registry_client,
    rollback,
    set_champion,
)

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "registry" / "policy.yaml"
NOTEBOOK = ROOT / "notebooks" / "promote.ipynb"

pytestmark = pytest.mark.realdata


def _forget_tracking_uri() -> None:
    mlflow.set_tracking_uri(None)  # also unsets MLFLOW_TRACKING_URI, which step_run exported


@pytest.fixture(scope="module")
def logged(real_ingest, tmp_path_factory):
    """(settings, backtest run id): a registry folder holding three train runs and a backtest."""
    from scoreline.data.store import MatchStore
    from scoreline.evaluation.competition import backtest_competition, default_config
    from scoreline.tracking import log_backtest, log_data_snapshot, step_run, train_and_log

    _, ingested = real_ingest
    folder = tmp_path_factory.mktemp("promotion")
    settings = ingested.model_copy(update={"registry_dir": folder / "registry"})
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        try:
            for model in ("base_rates", "elo", "dixon_coles"):
                train_and_log(settings, "E0", model)
            config = replace(default_config(competition("E0"), 2022), window="month")
            with step_run("", "backtest", "E0", settings) as run:
                log_data_snapshot(MatchStore(settings.store_dir), "E0")
                report = backtest_competition(
                    settings, "E0", ["base_rates", "elo", "dixon_coles"], config, folder / "report"
                )
                log_backtest(report)
        finally:
            _forget_tracking_uri()
    return settings, run.info.run_id


@pytest.fixture
def ws(logged, tmp_path, monkeypatch):
    """Settings over a private copy of the module's store (its own registry state and locks),
    with the repository's policy; the CLI sees the same through the environment."""
    base, _ = logged
    registry = tmp_path / "registry"
    registry.mkdir()
    shutil.copy(base.registry_path / "mlflow.db", registry / "mlflow.db")
    shutil.copy(POLICY, registry / "policy.yaml")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SCORELINE_HOME", str(base.home))
    monkeypatch.setenv("SCORELINE_REGISTRY_DIR", str(registry))
    yield base.model_copy(update={"registry_dir": registry})
    _forget_tracking_uri()


def _aliases(settings) -> tuple[str | None, str | None]:
    champion, previous = (champion_version(settings, "E0", a) for a in ("champion", "previous"))
    return (str(champion.version) if champion else None, str(previous.version) if previous else None)


def _install_champion(settings, model: str) -> str:
    """Register ``model``'s train run and make it champion without a gate: an older champion
    (dixon_coles itself misses the Brier threshold on this one-season backtest: ~0.602)."""
    client = registry_client(settings)
    run = client.search_runs(
        [client.get_experiment_by_name("E0").experiment_id],
        f"tags.step = 'train' and params.model_name = '{model}'",
    )[0]
    version = register_model(
        settings,
        "E0",
        f"models:/{run.outputs.model_outputs[0].model_id}",
        {"model_name": model, "train_run_id": run.info.run_id},
    )
    set_champion(settings, "E0", version.version, "installed by the test")
    return str(version.version)


def _row(result, rule, metric=""):
    (row,) = [r for r in result.gate.rows if r.rule == rule and r.metric == metric]
    return row


def test_first_promotion_passes_with_no_champion_and_records_everything(ws, logged):
    _, backtest_run = logged
    result = promote(ws, "E0", model="elo")

    assert result.promoted and result.gate.passed, result.gate.to_text()
    assert (result.version, result.champion, result.previous) == ("1", "1", None)
    assert _row(result, "improvement", "rps").note == "no champion"
    assert {r.metric for r in result.gate.rows if r.rule == "threshold"} == {"log_loss", "accuracy", "brier"}
    client = registry_client(ws)
    version = client.get_model_version("scoreline-E0", "1")
    train = client.get_run(version.tags["train_run_id"])
    backtest = client.get_run(backtest_run)
    assert version.tags["model_name"] == "elo" == train.data.params["model_name"]
    assert version.tags["gate"] == "passed" and version.tags["backtest_run_id"] == backtest_run
    assert version.tags["data_content_hash"] == backtest.data.tags["data_content_hash"]
    assert float(version.tags["backtest.rps"]) == pytest.approx(backtest.data.metrics["rps/elo"], abs=5e-7)
    assert float(version.tags["market.rps"]) == pytest.approx(
        backtest.data.metrics["rps/market_pinnacle_close"], abs=5e-7
    )
    assert all(len(v.split(".")[-1]) <= 6 for k, v in version.tags.items() if k.startswith("backtest."))
    assert version.tags["backtest_first_season"] == "2022"
    # MLflow 3.17.2 never fills a version's user_id (the UI's "Created by"): if this fails, it
    # does now, and tracking.authorship's tag and description can go
    assert version.user_id is None
    user = getpass.getuser()
    assert version.tags["mlflow.user"] == user and version.description.startswith(f"Registered by {user}. ")
    assert version.tags["created_by"] == f"{user} with scoreline promote (run {result.run_id})"
    assert json.loads(version.tags["gate_table"])["passed"] is True
    assert f"runs:/{result.run_id}/model_card.md" in version.description
    card = client.download_artifacts(result.run_id, "model_card.md", str(ws.registry_path))
    text = Path(card).read_text()
    assert "scoreline-E0 version 1: elo" in text and "market: market_pinnacle_close" in text
    assert "model.feature" in text and "## Limitations" in text
    assert "## Staking gate" in text and "No verdict yet" in text  # no matchday has judged a season
    promote_run = client.get_run(result.run_id)
    assert promote_run.data.tags["step"] == "promote" and promote_run.data.metrics["gate_passed"] == 1.0
    assert set(champions(ws)) == {"E0"}
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    forecast = mlflow.pyfunc.load_model(champion_uri("E0")).predict(
        pd.DataFrame({"home_team": ["Arsenal"], "away_team": ["Chelsea"], "date": ["2023-08-12"]})
    )
    assert forecast.shape == (1, 3) and forecast.sum(axis=1).iloc[0] == pytest.approx(1.0)


def test_a_worse_challenger_fails_with_exit_1_naming_rules_and_margins(ws):
    promote(ws, "E0", model="elo")
    out = CliRunner().invoke(main, ["promote", "--competition", "E0", "--model", "base_rates", "--json"])

    assert out.exit_code == 1, out.output
    payload = json.loads(out.stdout)
    assert payload["promoted"] is False and payload["version"] == "2" and payload["champion"] == "1"
    failed = {(r["rule"], r["metric"]): r for r in payload["gate"]["rows"] if not r["passed"]}
    assert set(failed) == {
        ("threshold", "log_loss"),
        ("threshold", "accuracy"),
        ("threshold", "brier"),
        ("improvement", "rps"),
    }
    log_loss = failed[("threshold", "log_loss")]
    assert log_loss["value"] > 1.05 and log_loss["margin"] == pytest.approx(1.05 - log_loss["value"])
    assert failed[("improvement", "rps")]["margin"] < -0.02  # base rates ~0.027 worse than elo
    assert "threshold log_loss by 0.0068" in out.stderr and "champion unchanged" in out.stderr
    assert _aliases(ws) == ("1", None)
    assert registry_client(ws).get_model_version("scoreline-E0", "2").tags["gate"] == "failed"

    text = CliRunner().invoke(main, ["promote", "--competition", "E0", "--model", "base_rates"])
    assert text.exit_code == 1 and "FAIL" in text.stdout and "log_loss" in text.stdout


def test_a_better_challenger_passes_the_old_champion_becomes_previous_and_rollback_restores(ws):
    _install_champion(ws, "dixon_coles")
    result = promote(ws, "E0")  # the best eligible model: elo

    assert result.model_name == "elo" and result.promoted
    improvement = _row(result, "improvement", "rps")
    assert improvement.value < -0.0005 and improvement.margin == pytest.approx(-improvement.value - 0.0005)
    assert "champion v1 (dixon_coles)" in improvement.comparison
    assert _aliases(ws) == ("2", "1")

    out = CliRunner().invoke(main, ["rollback", "--competition", "E0", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {
        "competition": "E0",
        "registered_model": "scoreline-E0",
        "champion": "1",
        "model_name": "dixon_coles",
        "previous": None,
    }
    assert _aliases(ws) == ("1", None)
    again = CliRunner().invoke(main, ["rollback", "--competition", "E0"])
    assert again.exit_code == 2 and "no previous version" in again.stderr
    assert [(h["action"], h["version"], h["replaced"]) for h in champion_history(ws, "E0")] == [
        ("promote", "1", None),
        ("promote", "2", "1"),
        ("rollback", "1", "2"),
    ]


def test_rollback_walks_back_through_the_history(ws):
    _install_champion(ws, "dixon_coles")
    for _ in range(2):  # the second elo is a refresh of the first
        assert promote(ws, "E0", model="elo").promoted
    assert _aliases(ws) == ("3", "2")
    assert str(rollback(ws, "E0").version) == "2" and _aliases(ws) == ("2", "1")
    assert str(rollback(ws, "E0").version) == "1" and _aliases(ws) == ("1", None)
    with pytest.raises(ValueError, match="no previous version"):
        rollback(ws, "E0")


def test_the_same_spec_retrained_is_a_refresh(ws):
    promote(ws, "E0", model="elo")
    result = promote(ws, "E0", model="elo")
    assert result.promoted and _row(result, "improvement", "rps").note.startswith("refresh")
    assert _aliases(ws) == ("2", "1")


def test_bootstrap_mode_needs_the_whole_interval_below_zero(ws):
    data = yaml.safe_load(POLICY.read_text())
    data["competitions"]["E0"] = {"improvement": {"mode": "bootstrap", "n_boot": 500}}
    policy = parse_policy(data)
    promote(ws, "E0", model="elo", policy=policy)
    worse = promote(ws, "E0", model="dixon_coles", policy=policy)
    row = _row(worse, "improvement", "rps")
    assert not worse.promoted and "95% upper < 0" in row.comparison and row.margin < 0 and not row.passed
    assert row.value > 0 and "95% CI" in row.note
    assert _aliases(ws) == ("1", None)


def test_a_champion_model_missing_from_the_backtest_fails_the_improvement_rule(ws, logged):
    _, backtest_run = logged
    client = registry_client(ws)
    elo_run = client.search_runs(
        [client.get_experiment_by_name("E0").experiment_id],
        "tags.step = 'train' and params.model_name = 'elo'",
    )[0]
    model_id = elo_run.outputs.model_outputs[0].model_id
    version = register_model(ws, "E0", f"models:/{model_id}", {"model_name": "pi"})
    set_champion(ws, "E0", version.version, "a champion from another backtest")

    result = promote(ws, "E0", model="elo")
    row = _row(result, "improvement", "rps")
    assert not result.promoted and not row.passed
    assert row.note == (
        f"champion model pi not evaluated in backtest run {backtest_run}: "
        "rerun the backtest with --models pi,elo"
    )
    assert _aliases(ws) == ("1", None)


def test_ineligible_forced_model_is_registered_but_rejected(ws, monkeypatch):
    data = yaml.safe_load(POLICY.read_text())
    data["sports"]["football"]["eligible_models"]["exclude"].append("dixon_*")
    result = promote(ws, "E0", model="dixon_coles", policy=parse_policy(data))
    assert not result.promoted and not _row(result, "eligible").passed
    assert promote(ws, "E0", policy=parse_policy(data)).model_name == "elo"


def test_bad_requests_fail_before_anything_is_registered(ws, logged):
    _, backtest_run = logged
    with pytest.raises(CandidateError, match="model 'pi' is not in backtest run"):
        promote(ws, "E0", model="pi")
    train_run = registry_client(ws).search_runs(
        [registry_client(ws).get_experiment_by_name("E0").experiment_id], "tags.step = 'train'"
    )[0]
    with pytest.raises(CandidateError, match="is not a backtest run of E0"):
        promote(ws, "E0", backtest_run_id=train_run.info.run_id)
    out = CliRunner().invoke(main, ["promote", "--competition", "NFL"])
    assert out.exit_code == 2 and "no MLflow experiment 'NFL'" in out.stderr
    with pytest.raises(ValueError, match="not a registered model version"):
        register_model(ws, "E0", "models:/scoreline-E0/1", {})

    (ws.registry_path / "policy.yaml").write_text(POLICY.read_text().replace("below: 1.05", "below: lots"))
    out = CliRunner().invoke(main, ["promote", "--competition", "E0", "--backtest-run", backtest_run])
    assert out.exit_code == 2
    assert "sports.football.thresholds.log_loss.below: Input should be a valid number" in out.stderr
    assert champions(ws) == {} and registry_client(ws).search_model_versions("name = 'scoreline-E0'") == []


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["sports"]["football"]["thresholds"].update(rsp={"below": 0.2}),
            "sports.football.thresholds.rsp: unknown key",
        ),
        (
            lambda d: d["sports"]["football"].update(primary_metrc="rps"),
            "sports.football.primary_metrc: unknown key (typo?)",
        ),
        (lambda d: d["competitions"].update(EPL={}), "competitions: unknown competition(s) EPL"),
        (
            lambda d: d["competitions"]["NFL"]["thresholds"].update(brier={"below": 0.2, "above": 0.1}),
            "competitions.NFL.thresholds.brier: give exactly one of 'below' or 'above'",
        ),
        (
            lambda d: d["competitions"].update(E0={"improvement": {"mode": "bayes"}}),
            "competitions.E0.improvement.mode: Input should be 'delta' or 'bootstrap'",
        ),
        (
            lambda d: d["sports"]["football"]["improvement"].update(min_delta=-0.1),
            "sports.football.improvement.min_delta: Input should be greater than or equal to 0",
        ),
        (
            lambda d: d["sports"]["football"]["improvement"].update(metric="accuracy"),
            "sports.football.improvement.metric: improvement is measured in a per-match loss",
        ),
        (lambda d: d["sports"].pop("basketball"), "sports: no rules for sport(s) basketball"),
        (
            lambda d: d["sports"]["football"]["eligible_models"].update(exclude="*_market"),
            "sports.football.eligible_models.exclude: Input should be a valid list",
        ),
    ],
)
def test_policy_errors_name_the_key(edit, message):
    data = yaml.safe_load(POLICY.read_text())
    edit(data)
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "registry/policy.yaml")
    assert str(err.value).startswith("registry/policy.yaml: ") and message in str(err.value)


def test_the_committed_policy_gates_every_competition_as_documented():
    policy = load_policy(POLICY)
    e0, nfl, nba, cfb = (policy.rules(c) for c in ("E0", "NFL", "NBA", "CFB"))
    assert {m.value: str(t) for m, t in e0.thresholds.items()} == {
        "log_loss": "< 1.05",
        "accuracy": "> 0.5",
        "brier": "< 0.6",
    }
    assert (e0.primary_metric, e0.improvement.min_delta) == ("rps", 0.0005)
    assert [str(r.thresholds["brier"]) for r in (nfl, nba, cfb)] == ["< 0.235", "< 0.235", "< 0.2"]
    assert all(r.primary_metric == "brier" for r in (nfl, nba, cfb))
    for rules in (e0, nfl, cfb):
        eligible = rules.eligible_models
        assert not eligible.allows("lightgbm_market") and not eligible.allows("stack_market")
        assert eligible.allows("elo") and eligible.allows("stack")


def test_concurrent_promotions_leave_the_aliases_consistent(ws):
    _install_champion(ws, "dixon_coles")
    start, results, errors = threading.Barrier(2), [], []

    def run() -> None:
        start.wait()
        try:
            results.append(promote(ws, "E0", model="elo"))
        except Exception as err:  # reported below with the thread's error
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(r.version for r in results) == ["2", "3"] and all(r.promoted for r in results)
    # the second was judged against the champion the first left: a refresh of elo
    notes = sorted(_row(r, "improvement", "rps").note for r in results)
    assert notes[0].endswith("matches") and notes[1].startswith("refresh")
    history = champion_history(ws, "E0")
    assert [h["replaced"] for h in history] == [None] + [h["version"] for h in history[:-1]]
    champion, previous = _aliases(ws)
    assert champion == history[-1]["version"] and previous == history[-1]["replaced"]
    assert champion != previous and {champion, previous} == {"2", "3"}


def test_the_promote_notebook_is_a_clean_parameterised_step():
    book = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(book)
    assert book.metadata.kernelspec.name == "scoreline"
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assigned = {t.id for node in ast.parse(code[0].source).body for t in node.targets}
    assert assigned == {"competition", "model", "fail_on_reject", "run_dir", "parent_run_id"}
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, "outputs committed"
        assert len(cell.source.splitlines()) <= 12, f"a thick cell:\n{cell.source}"
    assert code[-1].source.lstrip().startswith("assert")


def test_the_promote_notebook_runs_and_a_rejection_does_not_fail_the_step(ws, tmp_path):
    import papermill

    promote(ws, "E0", model="elo")  # the champion: a base_rates challenger is rejected
    run = {"competition": "E0", "model": "base_rates", "run_dir": str(tmp_path / "run")}
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(tmp_path / "out.ipynb"),
        parameters=run,
        kernel_name="scoreline",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    assert "REJECTED" in (tmp_path / "out.ipynb").read_text()
    assert "version 2: base_rates" in (tmp_path / "run" / "model_card_E0.md").read_text()
    assert _aliases(ws) == ("1", None)


def test_predict_forecasts_with_the_champion_and_names_unknown_teams(ws):
    runner = CliRunner()
    none_yet = runner.invoke(main, ["predict", "--competition", "E0", "Arsenal", "Chelsea"])
    assert none_yet.exit_code == 2 and "no champion" in none_yet.stderr
    promote(ws, "E0", model="elo")
    _forget_tracking_uri()  # the promotion's step run exported its store; predict must not

    out = runner.invoke(
        main,
        [
            "predict",
            "--competition",
            "E0",
            "Arsenal",
            "Chelsea",
            "--date",
            "2023-08-12",
            "--prices",
            "2.0,3.6,3.9",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout)
    probs = [record[f"prob_{o}"] for o in ("home", "draw", "away")]
    assert sum(probs) == pytest.approx(1.0) and record["model_name"] == "elo"
    assert record["model_version"] == "1" and record["date"] == "2023-08-12"
    assert record["edge_home"] == pytest.approx(probs[0] * 2.0 - 1.0)
    assert record["expected_goals_home"] > 0 and len(record["top_scores"]) == 5
    # loading the champion leaves the process's MLflow store as it found it (later work in the
    # same process, and the processes it starts, must not land in this registry)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    mlflow.set_tracking_uri(ws.mlflow_tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(champion_uri("E0")).predict(
        pd.DataFrame({"home_team": ["Arsenal"], "away_team": ["Chelsea"], "date": ["2023-08-12"]})
    )
    assert probs == pytest.approx(pyfunc.iloc[0].tolist(), abs=1e-12)

    typo = runner.invoke(main, ["predict", "--competition", "E0", "Arsenl", "Chelsea"])
    assert typo.exit_code == 2 and "unknown home_team 'Arsenl'" in typo.stderr and "Arsenal" in typo.stderr
    prices = runner.invoke(
        main, ["predict", "--competition", "E0", "Arsenal", "Chelsea", "--prices", "2.0,3.6"]
    )
    assert prices.exit_code == 2 and "--prices needs 3" in prices.stderr
