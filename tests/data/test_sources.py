"""Source resolution: local folders, football-data.co.uk downloads from a loopback server."""

from __future__ import annotations

import http.server
import re
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from scoreline.config import COMPETITIONS
from scoreline.data.ingest import ingest
from scoreline.data.sources import SourceError, SourceUnavailable, download_football

TODAY = pd.Timestamp("2026-11-23")
MMZ = re.compile(r"^/mmz4281/(?P<code>\d{4})/(?P<div>[A-Z0-9]+)\.csv$")


class FootballDataServer:
    """Serves ``soccer/{DIV}_{YYZZ}.csv`` under football-data.co.uk's ``/mmz4281/{YYZZ}/{DIV}.csv``."""

    def __init__(self, folder: Path, fail: dict[str, list[int]] | None = None):
        self.requests: list[str] = []
        fail = fail or {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                statuses = fail.get(self.path)
                if statuses:
                    self.send_response(statuses.pop(0))
                    self.end_headers()
                    return
                match = MMZ.match(self.path)
                file = folder / "soccer" / f"{match['div']}_{match['code']}.csv" if match else None
                if file is None or not file.is_file():
                    self.send_response(404)
                    self.end_headers()
                    return
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.realdata
def test_download_matches_the_local_folder_and_uses_the_cache(settings, real_data):
    server = FootballDataServer(real_data)
    try:
        online = ingest(settings, server.url, ["E0"], TODAY)
        fetched = len(server.requests)
        again = ingest(settings, server.url, ["E0"], TODAY)
    finally:
        server.close()
    assert fetched == 2026 - 2005 + 1
    # cached finished seasons are not fetched again: only the unpublished and current ones
    assert server.requests[fetched:] == [f"/mmz4281/{c}/E0.csv" for c in ("2324", "2425", "2526", "2627")]
    assert not again.changed
    assert online.by_competition().loc["E0", "results"] == 6840
    assert any("E0 2023/2024: not published" in note for note in online.notes)


def test_transient_errors_are_retried_and_persistent_ones_named(settings, tmp_path):
    from csvs import write_season

    write_season(tmp_path / "src", "E0_2223.csv")
    write_season(tmp_path / "src", "E0_2122.csv")
    comp = COMPETITIONS["E0"].model_copy(update={"first_season": 2021})
    server = FootballDataServer(tmp_path / "src", fail={"/mmz4281/2223/E0.csv": [503, 503]})
    try:
        resolved = download_football(
            server.url, [comp], tmp_path / "cache", settings, pd.Timestamp("2023-06-01")
        )
        assert (resolved.root / "soccer" / "E0_2223.csv").is_file()
        server2 = FootballDataServer(tmp_path / "src", fail={"/mmz4281/2122/E0.csv": [500] * 10})
        with pytest.raises(SourceError, match=r"/mmz4281/2122/E0.csv: HTTP 500"):
            download_football(server2.url, [comp], tmp_path / "cache2", settings, pd.Timestamp("2023-06-01"))
        server2.close()
    finally:
        server.close()


def test_no_network_and_no_folder_stops_at_once_with_one_line(settings, monkeypatch):
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    monkeypatch.setenv("SCORELINE_FOOTBALL_DATA_URL", "http://scoreline-test.invalid")
    from scoreline.cli import main

    started = time.perf_counter()
    result = CliRunner().invoke(main, ["ingest"])
    assert time.perf_counter() - started < 10
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "SCORELINE_DATA_SOURCE=/path/to/data" in lines[0]
    assert "cannot reach http://scoreline-test.invalid" in lines[0]


def test_missing_folder_is_a_clear_error(settings, tmp_path, monkeypatch):
    with pytest.raises(SourceError, match="does not exist"):
        ingest(settings, str(tmp_path / "nowhere"), ["E0"], TODAY)
    assert not isinstance(SourceError("x"), SourceUnavailable)
    monkeypatch.chdir(tmp_path)  # a relative folder is named by the absolute path looked at
    with pytest.raises(SourceError, match=f"folder {re.escape(str(tmp_path / 'gone'))} does not exist"):
        ingest(settings, "sub/../gone", ["E0"], TODAY)


def test_the_main_pipeline_also_stops_at_once_with_one_line(settings, monkeypatch):
    monkeypatch.setenv("SCORELINE_FOOTBALL_DATA_URL", "http://scoreline-test.invalid")
    from pathlib import Path

    from scoreline.cli import main

    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the repository: its pipelines/
    monkeypatch.delenv("SCORELINE_HOME", raising=False)
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["pipeline", "run", "weekly_training"])
    assert time.perf_counter() - started < 10
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "SCORELINE_DATA_SOURCE=/path/to/data" in lines[0]
