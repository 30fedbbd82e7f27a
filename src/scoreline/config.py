"""Typed settings for Scoreline: competitions, data source, store paths, tracking URI.

This is the one place configuration lives. Every value has a default that works with no
configuration at all; environment variables prefixed ``SCORELINE_`` override them
(``SCORELINE_DATA_SOURCE=/path/to/csvs``), and ``MLFLOW_TRACKING_URI`` overrides the tracking
store as MLflow users expect.

Team mode is configuration only (docs/team-mode.md): ``SCORELINE_TEAM_DATABASE_URL`` (PostgreSQL)
becomes the Optuna storage and the prediction store wherever those are not set themselves, and
requires a tracking server (``MLFLOW_TRACKING_URI`` / ``SCORELINE_TRACKING_URI``, http(s)) in
front of the same PostgreSQL, so no machine keeps a registry of its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Sport(StrEnum):
    FOOTBALL = "football"
    AMERICAN_FOOTBALL = "american_football"
    BASKETBALL = "basketball"


class Competition(BaseModel):
    """One competition: which adapter reads it and how its outcomes are shaped.

    ``code`` is football-data.co.uk's division code for football leagues (also the code used
    on the command line); ``adapter`` names a module in :mod:`scoreline.data.adapters`.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    sport: Sport
    adapter: str
    #: 3 for home/draw/away football, 2 for home-win/away-win sports (ties are rare and dropped
    #: from win-probability scoring)
    outcomes: int = Field(ge=2, le=3)
    #: first season (start year) the adapter reads; a URL source requests seasons from here on
    first_season: int
    #: sane range of the bookmaker overround on the 1X2 / moneyline market
    overround_range: tuple[float, float] = (0.98, 1.30)
    #: a single team's score above this is treated as a data error
    max_score: int = 20


def _football(code: str, name: str) -> Competition:
    return Competition(
        code=code,
        name=name,
        sport=Sport.FOOTBALL,
        adapter="football_data",
        outcomes=3,
        first_season=2005,
        max_score=15,
    )


def _two_way(
    code: str, name: str, sport: Sport, adapter: str, first_season: int, max_score: int
) -> Competition:
    """A sport without draws: win probabilities, moneylines with a tighter overround."""
    return Competition(
        code=code,
        name=name,
        sport=sport,
        adapter=adapter,
        outcomes=2,
        first_season=first_season,
        max_score=max_score,
        overround_range=(0.98, 1.15),
    )


COMPETITIONS: Mapping[str, Competition] = MappingProxyType(
    {
        c.code: c
        for c in (
            _football("E0", "English Premier League"),
            _football("D1", "German Bundesliga"),
            _football("SP1", "Spanish La Liga"),
            _football("I1", "Italian Serie A"),
            _football("F1", "French Ligue 1"),
            _two_way("NFL", "National Football League", Sport.AMERICAN_FOOTBALL, "spreadspoke", 1966, 80),
            _two_way("NBA", "National Basketball Association", Sport.BASKETBALL, "nba", 2007, 200),
            _two_way("CFB", "NCAA College Football (FBS)", Sport.AMERICAN_FOOTBALL, "cfbd", 2020, 100),
        )
    }
)


def competition(code: str) -> Competition:
    """The configured competition for ``code``; a clear error lists the known codes."""
    try:
        return COMPETITIONS[code]
    except KeyError:
        raise KeyError(f"unknown competition {code!r}; known: {', '.join(COMPETITIONS)}") from None


def find_workspace(start: Path | None = None) -> Path:
    """The workspace root: the nearest folder at or above ``start`` holding an ``MLproject``.

    Notebooks executed by papermill run inside ``notebooks/``; walking up keeps their paths
    identical to the CLI's. Outside a checkout the current directory is the workspace.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "MLproject").is_file() and (folder / "src" / "scoreline").is_dir():
            return folder
    return here


def absolute_path(path: str | Path) -> Path:
    """``path`` made absolute against the current directory (``~`` expanded, ``..`` folded),
    without resolving symbolic links."""
    return Path(os.path.abspath(Path(path).expanduser()))


def absolute_sqlite_url(url: str) -> str:
    """``sqlite:///relative.db`` made absolute against the current directory; others unchanged."""
    prefix = "sqlite:///"
    path = url.removeprefix(prefix)
    if not url.startswith(prefix) or path.startswith("/") or path in ("", ":memory:"):
        return url
    return prefix + str(absolute_path(path))


class Settings(BaseSettings):
    """Runtime settings; construct once at the edge (CLI, notebook) and pass down."""

    model_config = SettingsConfigDict(env_prefix="SCORELINE_", frozen=True, extra="ignore")

    home: Path = Field(default_factory=find_workspace)
    #: a local folder laid out like ``shared/data`` (soccer/, nfl/, nba/, cfb/) or an HTTP(S)
    #: base URL serving football-data.co.uk's layout; unset means football-data.co.uk itself
    data_source: str | None = None
    football_data_url: str = "https://www.football-data.co.uk"
    data_dir: Path | None = None
    reports_dir: Path | None = None
    registry_dir: Path | None = None
    tracking_uri: str | None = None
    #: team mode: one PostgreSQL database (SQLAlchemy URL, ``postgresql+psycopg://...``) that is
    #: the default of ``optuna_storage`` and ``prediction_store_url``; needs a tracking server
    team_database_url: str | None = None
    #: Optuna study storage (any SQLAlchemy URL); unset means the team database, else SQLite
    #: under registry/
    optuna_storage: str | None = None
    #: the prediction store (any SQLAlchemy URL; ``?synchronous=FULL`` on SQLite also survives
    #: power loss); unset means the team database, else SQLite under registry/
    prediction_store_url: str | None = None
    http_timeout_s: float = 30.0
    http_retries: int = 3
    #: API keys of the prediction service, comma-separated; ``KEY:LIMIT`` gives that key its
    #: own requests-per-minute limit. POST /results needs one; no keys = results refused
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    #: requests per minute per API key (per client address without a key); 0 = unlimited
    rate_limit_per_minute: int = Field(default=0, ge=0)
    #: competitions the service loads, comma-separated; empty = every exported champion
    serve_competitions: Annotated[tuple[str, ...], NoDecode] = ()
    #: service worker processes, each with every champion (~300-400 MB); default one per CPU
    #: core this process may use: one worker is CPU-bound at ~800 requests/s on /predict
    serve_workers: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1)
    #: a /predict_batch of more fixtures than this is answered by the worker's batch processes
    #: (where it cannot hold up /predict), a smaller one by the worker itself; 0 = every batch
    serve_batch_offload_rows: int = Field(default=1_000, ge=0)
    #: processes per service worker answering big batches and batch jobs, each with every
    #: champion loaded (~300 MB each)
    serve_batch_processes: int = Field(default=1, ge=1, le=16)
    #: the batch processes' CPU niceness: /predict's workers come first on a busy machine
    serve_batch_niceness: int = Field(default=10, ge=0, le=19)
    #: hours a finished batch job's answer is kept (and a job's status is answered)
    serve_batch_job_hours: float = Field(default=24.0, gt=0)
    #: BentoML store (models, bentos); unset means ``BENTOML_HOME``, else ``<home>/.bentoml``
    bentoml_dir: Path | None = None
    #: Redis (``redis://host:port/db``) carrying the live event bus as Redis Streams, so feed,
    #: predictor and service can be processes of their own; unset = the bus inside one process
    redis_url: str | None = None
    #: seconds between the service's reads of new live forecasts from the prediction store
    live_poll_s: float = Field(default=0.02, gt=0, le=5)
    #: set by the pipeline runner in a step's kernel: the notebook (workspace-relative) a run's
    #: source names in MLflow
    step_notebook: str | None = None
    #: where backtests and tuning run their independent pieces: "local" = a Dask cluster of
    #: processes on this machine, "serial" = this process (see scoreline.engine)
    engine: Literal["serial", "local"] = "local"
    #: processes of the local cluster; unset = one per CPU core this process may use
    engine_workers: int | None = Field(default=None, ge=1)
    #: a running Dask scheduler (``tcp://host:8786``): when set, that cluster runs the work
    dask_scheduler: str | None = None
    #: halftime forecasts the rolling live coverage is measured over (the latest scored games)
    live_coverage_window: int = Field(default=100, ge=10)

    @field_validator("home", "data_dir", "reports_dir", "registry_dir", "bentoml_dir")
    @classmethod
    def _absolute_folder(cls, value: Path | None) -> Path | None:
        """A relative folder means what it means where it was typed (the current directory),
        not where a notebook later runs (papermill starts kernels inside ``notebooks/``)."""
        return None if value is None else absolute_path(value)

    @field_validator("data_source")
    @classmethod
    def _absolute_source(cls, value: str | None) -> str | None:
        """A local data folder becomes absolute here; a URL is kept as given."""
        if value is None or value.startswith(("http://", "https://")):
            return value
        return str(absolute_path(value))

    @field_validator("tracking_uri", "optuna_storage", "prediction_store_url")
    @classmethod
    def _absolute_sqlite(cls, value: str | None) -> str | None:
        return None if value is None else absolute_sqlite_url(value)

    @field_validator("api_keys", "serve_competitions", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        """Environment values are comma-separated lists (``SCORELINE_API_KEYS=k1,k2:600``)."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("serve_competitions")
    @classmethod
    def _known_competitions(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in codes if c not in COMPETITIONS]
        if unknown:
            raise ValueError(f"unknown competition(s) {', '.join(unknown)}; known: {', '.join(COMPETITIONS)}")
        return codes

    @model_validator(mode="after")
    def _team_mode(self) -> Settings:
        """The team database fills the unset stores; the registry must then be a server's."""
        if self.team_database_url is None:
            return self
        if not self.team_database_url.startswith("postgresql"):
            raise ValueError(
                f"team_database_url must be a PostgreSQL URL (postgresql+psycopg://"
                f"user:password@host/db), got {self.team_database_url.split(':', 1)[0]!r}"
            )
        if not self.mlflow_tracking_uri.startswith(("http://", "https://")):
            raise ValueError(
                "team mode (team_database_url) needs an MLflow tracking server: set "
                "MLFLOW_TRACKING_URI (or SCORELINE_TRACKING_URI) to its http(s) URL, "
                f"not {self.mlflow_tracking_uri!r}"
            )
        for name in ("optuna_storage", "prediction_store_url"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, self.team_database_url)  # frozen: set once here
        return self

    @property
    def team_database(self) -> str:
        """The team database's URL; ValueError outside team mode."""
        if self.team_database_url is None:
            raise ValueError("not in team mode: SCORELINE_TEAM_DATABASE_URL is not set")
        return self.team_database_url

    @property
    def team_mode(self) -> bool:
        """True when the stores are shared (a team database and a tracking server)."""
        return self.team_database_url is not None

    def artifact_location(self, experiment: str) -> str | None:
        """Where a new experiment keeps its artifacts: ``registry/artifacts/<experiment>`` for a
        local store; None (the server's own artifact root) behind a tracking server, so
        artifacts are shared rather than left on the machine that logged them."""
        if self.mlflow_tracking_uri.startswith(("http://", "https://", "databricks")):
            return None
        return (self.registry_path / "artifacts" / experiment).resolve().as_uri()

    @property
    def store_dir(self) -> Path:
        return (self.data_dir or self.home / "data") / "store"

    @property
    def cache_dir(self) -> Path:
        return (self.data_dir or self.home / "data") / "cache"

    @property
    def reports_path(self) -> Path:
        return self.reports_dir or self.home / "reports"

    @property
    def registry_path(self) -> Path:
        return self.registry_dir or self.home / "registry"

    @property
    def source(self) -> str:
        """The data source in force: the configured folder/URL, else football-data.co.uk."""
        return self.data_source or self.football_data_url

    @property
    def prediction_store(self) -> str:
        """The prediction store's URL: the configured one, else SQLite under ``registry/``."""
        return self.prediction_store_url or f"sqlite:///{self.registry_path / 'predictions.db'}"

    @property
    def batch_jobs_dir(self) -> Path:
        """Where the service keeps its batch jobs (status and answers) and big batches' answers
        on their way out."""
        return self.registry_path / "batch_jobs"

    @property
    def bentoml_home(self) -> Path:
        """``BENTOML_HOME`` if set, else ``bentoml_dir``, else ``<home>/.bentoml``."""
        env = os.environ.get("BENTOML_HOME")
        return Path(env) if env else (self.bentoml_dir or self.home / ".bentoml")

    @property
    def mlflow_tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` if set, else a SQLite store under ``registry/``."""
        env = os.environ.get("MLFLOW_TRACKING_URI")
        return (
            (absolute_sqlite_url(env) if env else None)
            or self.tracking_uri
            or f"sqlite:///{self.registry_path / 'mlflow.db'}"
        )
