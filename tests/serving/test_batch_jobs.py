"""The batch pieces that need no running service: counting a body's fixtures without parsing it,
the 400 that names a bad row and field, and the job store (a job's life, a dead owner, ids that
are no job's, retention). The service's own batch processes and job routes are tested over HTTP
in test_service.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from scoreline.serving.answers import Rejected
from scoreline.serving.batch_jobs import JobStore, fixtures_in, parse_batch


def body(fixtures: list[dict]) -> bytes:
    return json.dumps({"fixtures": fixtures}).encode()


def row(home: str = "Arsenal", away: str = "Chelsea", **extra) -> dict:
    return {"competition": "E0", "home_team": home, "away_team": away, **extra}


def test_fixtures_are_counted_from_above_without_parsing():
    assert fixtures_in(body([row() for _ in range(1234)])) == 1234
    assert fixtures_in(b'{"fixtures": []}') == 0
    # a team named with the key's quoted text counts twice: the batch only goes to the pool
    assert fixtures_in(body([row(home='"competition"')])) >= 1


@pytest.mark.parametrize(
    "fixtures, where",
    [
        ([row(), row(prices={"home": 0.5}), row()], "fixtures[1].prices.home:"),
        ([row(), row(), row(date="2026-13-01")], "fixtures[2].date:"),
        ([row(), {"competition": "E0", "home_team": "Arsenal"}], "fixtures[1].away_team:"),
        ([row(colour="red")], "fixtures[0].colour:"),
        ([], "fixtures:"),
    ],
)
def test_a_bad_row_is_refused_with_400_naming_row_and_field(fixtures, where):
    with pytest.raises(Rejected) as refused:
        parse_batch(body(fixtures))
    assert refused.value.status == 400
    assert refused.value.message.startswith(where), refused.value.message
    assert refused.value.detail and "loc" in refused.value.detail[0]


def test_a_body_that_is_not_a_batch_is_refused_as_a_whole():
    for text in (b"{", b"[1, 2]", b""):
        with pytest.raises(Rejected) as refused:
            parse_batch(text)
        assert refused.value.status == 400 and refused.value.message.startswith("body:")


def test_parsed_fixtures_are_the_apis_dicts():
    (fixture,) = parse_batch(body([row(date="2026-12-05", prices={"home": 2.5})]))
    assert fixture["date"].isoformat() == "2026-12-05" and fixture["prices"] == {"home": 2.5}


def test_a_job_lives_queued_running_done(tmp_path):
    jobs = JobStore(tmp_path)
    job = jobs.new(fixtures=5)
    assert job.status == "queued" and len(job.job_id) == 32
    assert jobs.get(job.job_id) == job
    jobs.update(job.job_id, status="running")
    jobs.update(job.job_id, status="done", result=f"/batch_jobs/{job.job_id}/result")
    again = JobStore(tmp_path).get(job.job_id)  # another worker reads the same folder
    assert again is not None and again.status == "done" and again.fixtures == 5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial file left


def test_a_job_whose_worker_is_gone_reads_as_failed(tmp_path):
    jobs = JobStore(tmp_path)
    job = jobs.new(fixtures=5)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    stored = json.loads(jobs.status_path(job.job_id).read_text())
    jobs.status_path(job.job_id).write_text(json.dumps({**stored, "owner": int(gone.stdout)}))
    got = jobs.get(job.job_id)
    assert got is not None and got.status == "failed" and "stopped" in (got.error or "")
    assert stored["owner"] == os.getpid() and jobs.get(job.job_id.upper()) is None


@pytest.mark.parametrize(
    "job_id", ["", "abc", "../secret", "../" + "0" * 29, "0" * 33, "g" * 32, "0" * 31 + "/"]
)
def test_what_is_no_job_id_finds_no_file(tmp_path, job_id):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "secret.json").write_text("{}")
    assert JobStore(tmp_path / "jobs").get(job_id) is None


def test_jobs_unchanged_for_their_hours_are_pruned(tmp_path):
    jobs = JobStore(tmp_path, hours=1.0)
    old, new = jobs.new(fixtures=1), jobs.new(fixtures=1)
    jobs.answer_path(old.job_id).write_text("{}")
    past = time.time() - 2 * 3600
    for path in (jobs.status_path(old.job_id), jobs.answer_path(old.job_id)):
        os.utime(path, (past, past))
    jobs.prune()
    assert jobs.get(old.job_id) is None and not jobs.answer_path(old.job_id).exists()
    assert jobs.get(new.job_id) is not None
