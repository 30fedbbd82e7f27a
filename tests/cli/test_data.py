"""The ``scoreline`` command surface."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "data"))
from csvs import write_season
from scoreline.cli import main


def test_ingest_json_prints_one_object_with_counts(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    write_season(tmp_path / "src", "E0_2223.csv")
    result = CliRunner().invoke(main, ["ingest", "--source", str(tmp_path / "src"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["competitions"]["E0"]["results"] == 3
    assert payload["competitions"]["E0"]["store"] == {"results": 3, "fixtures": 0}
    assert payload["files"][0]["file"] == "soccer/E0_2223.csv"
    assert Path(payload["report_dir"], "summary.json").is_file()


def test_ingest_table_and_unparseable_file_error(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    write_season(tmp_path / "src", "E0_2223.csv")
    ok = CliRunner().invoke(main, ["ingest", "--source", str(tmp_path / "src")])
    assert ok.exit_code == 0 and "E0" in ok.output and "3 results" in ok.output
    (tmp_path / "src" / "soccer" / "E0_2324.csv").write_text("")
    bad = CliRunner().invoke(main, ["ingest", "--source", str(tmp_path / "src")])
    assert bad.exit_code == 2 and "error: soccer/E0_2324.csv: file is empty" in bad.output
