"""Where raw match files come from: a local folder, or football-data.co.uk over HTTP.

A configured local folder wins (``SCORELINE_DATA_SOURCE`` or ``--source PATH``). Otherwise the
football season files are downloaded from football-data.co.uk (or any server with its layout,
``{base}/mmz4281/{YYZZ}/{DIV}.csv``) into a cache laid out like a local folder, so the adapters
only ever read local files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from scoreline.config import Competition, Settings, Sport, absolute_path
from scoreline.data.adapters.football_data import season_code


class SourceError(RuntimeError):
    """The data source cannot deliver what was asked; the message says what and where."""


class SourceUnavailable(SourceError):
    """No folder configured and the default URL is unreachable (no network)."""


HINT = (
    "point Scoreline at a folder of CSVs: SCORELINE_DATA_SOURCE=/path/to/data "
    "(or scoreline ingest --source /path/to/data)"
)


@dataclass(frozen=True)
class ResolvedSource:
    """A local folder the adapters read, and what resolving it did."""

    root: Path
    description: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: adapters that can run on this root (a URL source provides football files only)
    sports: frozenset[Sport] = frozenset(Sport)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def current_season(today: pd.Timestamp) -> int:
    return today.year if today.month >= 7 else today.year - 1


def http_session(retries: int) -> requests.Session:
    """A session that retries reads, 5xx and 429 with backoff (a failed DNS lookup or refused
    connection is retried once, so "no network" is reported at once)."""
    retry = Retry(
        total=None,
        connect=1,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET", "HEAD"),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers["User-Agent"] = "scoreline (+https://github.com/scoreline)"
    return session


def _fetch(session: requests.Session, url: str, dest: Path, timeout: float) -> int:
    """GET ``url`` into ``dest`` atomically; returns the HTTP status (200 on success)."""
    response = session.get(url, timeout=(min(timeout, 10.0), timeout))
    if response.status_code != 200:
        return response.status_code
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    tmp.write_bytes(response.content)
    os.replace(tmp, dest)
    return 200


def download_football(
    base_url: str,
    competitions: list[Competition],
    cache: Path,
    settings: Settings,
    today: pd.Timestamp,
) -> ResolvedSource:
    """Download every season file of ``competitions`` into ``cache/soccer``.

    Finished seasons already in the cache are not fetched again; the current season is
    refreshed. A 404 for the newest seasons means "not published yet" (a note); any other
    failure is an error listing every failed URL.
    """
    session = http_session(settings.http_retries)
    base = base_url.rstrip("/")
    latest = current_season(today)
    errors: list[str] = []
    notes: list[str] = []
    for comp in competitions:
        statuses: dict[int, int | str] = {}
        for season in range(comp.first_season, latest + 1):
            url = f"{base}/mmz4281/{season_code(season)}/{comp.code}.csv"
            dest = cache / "soccer" / f"{comp.code}_{season_code(season)}.csv"
            if dest.is_file() and season < latest:
                statuses[season] = 200
                continue
            try:
                statuses[season] = _fetch(session, url, dest, settings.http_timeout_s)
            except requests.exceptions.ConnectionError as err:
                if not any(s == 200 for s in statuses.values()) and not errors:
                    raise SourceUnavailable(f"cannot reach {base} ({_root_cause(err)}); {HINT}") from None
                statuses[season] = f"connection failed ({_root_cause(err)})"
            except requests.exceptions.Timeout:
                statuses[season] = f"timed out after {settings.http_timeout_s:g} s"
        found = [s for s, status in statuses.items() if status == 200]
        last_found = max(found, default=comp.first_season - 1)
        for season, status in statuses.items():
            url = f"{base}/mmz4281/{season_code(season)}/{comp.code}.csv"
            if status == 200:
                continue
            if status == 404 and season > last_found:
                notes.append(f"{comp.code} {season}/{season + 1}: not published ({url} 404)")
            else:
                errors.append(f"{url}: {status if isinstance(status, str) else f'HTTP {status}'}")
    if errors:
        raise SourceError("download failed for " + str(len(errors)) + " file(s):\n  " + "\n  ".join(errors))
    return ResolvedSource(cache, f"{base} (cached in {cache})", tuple(notes), frozenset({Sport.FOOTBALL}))


def _root_cause(err: BaseException) -> str:
    while (earlier := err.__cause__ or err.__context__) is not None:
        err = earlier
    return str(err).split(": ", 1)[-1][:120]


def check_reachable(source: str, timeout_s: float = 5.0) -> None:
    """Fail at once with :data:`HINT` when ``source`` is a URL that cannot be reached at all
    (no network, unknown host): a long job should not start only to stop at its first step."""
    if not is_url(source):
        return
    try:
        requests.head(source, timeout=timeout_s, allow_redirects=True)
    except requests.exceptions.ConnectionError as err:
        raise SourceUnavailable(f"cannot reach {source.rstrip('/')} ({_root_cause(err)}); {HINT}") from None
    except requests.exceptions.Timeout:
        raise SourceUnavailable(f"cannot reach {source.rstrip('/')} (timed out); {HINT}") from None


def resolve(
    source: str, competitions: list[Competition], settings: Settings, today: pd.Timestamp
) -> ResolvedSource:
    """The local folder to read for ``source`` (a path, or a URL to download from)."""
    if is_url(source):
        football = [c for c in competitions if c.sport is Sport.FOOTBALL]
        resolved = download_football(source, football, settings.cache_dir / "football-data", settings, today)
        skipped = [c.code for c in competitions if c.sport is not Sport.FOOTBALL]
        notes = resolved.notes + (
            (f"{', '.join(skipped)}: a URL source serves football only; {HINT}",) if skipped else ()
        )
        return ResolvedSource(resolved.root, resolved.description, notes, resolved.sports)
    # named absolute in the error: a relative path is read from the current directory, which
    # for a pipeline step is notebooks/, so the user sees which folder was actually looked at
    root = absolute_path(source)
    if not root.is_dir():
        raise SourceError(f"data source folder {root} does not exist; {HINT}")
    return ResolvedSource(root.resolve(), str(root.resolve()))
