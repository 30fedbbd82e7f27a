"""Operations: a health check of the workspace, and consistent backups of the prediction store
and the local registry (SQLite's online backup API, so writers keep running meanwhile).

In team mode (``team_database_url``) health checks the tracking server and the PostgreSQL
database instead of local files, and :func:`backup` refuses with the ``pg_dump`` command that
backs those up: PostgreSQL and the server's artifact store are the team's to back up, not one
workspace's.

A backup folder holds ``mlflow.db``, ``predictions.db`` and ``optuna.db`` (those present),
``artifacts.tar`` (``registry/artifacts``) and ``manifest.json`` (each file's size and sha256).
:func:`restore` checks the manifest before touching anything and replaces each file atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from scoreline.config import COMPETITIONS, Settings
from scoreline.data.store import MatchStore
from scoreline.predictions.store import PredictionStore
from scoreline.promotion.registry import champions, registered_model_name, registry_client

__all__ = [
    "DATABASES",
    "Check",
    "TeamModeBackup",
    "backup",
    "checks_to_dict",
    "health",
    "pg_dump_command",
    "restore",
    "verify_backup",
]

#: the SQLite databases of ``registry/`` a backup copies (when present)
DATABASES = ("mlflow.db", "predictions.db", "optuna.db")
ARTIFACTS = "artifacts.tar"
MANIFEST = "manifest.json"
#: the service's readiness URL unless ``SCORELINE_SERVICE_URL`` says otherwise
SERVICE_URL = "http://127.0.0.1:3000/readyz"


@dataclass(frozen=True)
class Check:
    """One health check: ``ok`` and what was found (or what is wrong)."""

    name: str
    ok: bool
    detail: str


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


# --------------------------------------------------------------------------- health
def health(
    settings: Settings,
    service_url: str | None = SERVICE_URL,
    *,
    max_snapshot_age_days: float = 14.0,
    timeout_s: float = 3.0,
) -> list[Check]:
    """Match store readable and fresh, registry reachable, every competition's champion, the
    prediction store writable, the service ready (``service_url=None`` skips it); in team mode
    also the tracking server and the team database."""
    checks = [_match_store(settings, max_snapshot_age_days)]
    server = None
    if settings.team_mode:
        server = _tracking_server(settings.mlflow_tracking_uri, timeout_s)
        checks += [server, _team_database(settings.team_database)]
    if server is None or server.ok:
        checks += _registry(settings)
    else:  # MLflow's client would retry an unreachable server for minutes
        checks.append(
            Check(
                "registry",
                False,
                f"{settings.mlflow_tracking_uri}: not checked, the tracking server is not reachable",
            )
        )
    checks.append(_prediction_store(settings))
    if service_url:
        checks.append(_service(service_url, timeout_s))
    return checks


def _match_store(settings: Settings, max_age_days: float) -> Check:
    try:
        store = MatchStore(settings.store_dir)
        counts = {code: len(store.results(code)) for code in COMPETITIONS}
    except Exception as err:  # any failure to read is the finding
        return Check("match_store", False, f"{settings.store_dir}: {err}")
    if not any(counts.values()):
        return Check(
            "match_store", False, f"{settings.store_dir}: no stored results (run `scoreline ingest`)"
        )
    files = [p for p in settings.store_dir.rglob("*") if p.is_file()]
    age = (time.time() - max(p.stat().st_mtime for p in files)) / 86400 if files else float("inf")
    stored = ", ".join(f"{c} {n}" for c, n in counts.items() if n)
    ok = age <= max_age_days
    return Check(
        "match_store",
        ok,
        f"{stored}; last written {age:.1f} days ago"
        + ("" if ok else f" (older than {max_age_days:g} days: run `scoreline ingest`)"),
    )


def _registry(settings: Settings) -> list[Check]:
    try:
        client = registry_client(settings)
        names = {m.name for m in client.search_registered_models(max_results=1000)}
    except Exception as err:
        return [Check("registry", False, f"{settings.mlflow_tracking_uri}: {err}")]
    checks = [Check("registry", True, f"{settings.mlflow_tracking_uri}: {len(names)} registered models")]
    found = champions(settings)
    for code in COMPETITIONS:
        name = registered_model_name(code)
        version = found.get(code)
        if version is None:
            if name in names:  # registered but nothing in service
                checks.append(Check(f"champion.{code}", False, f"{name} has no champion alias"))
            continue
        try:
            model = client.get_logged_model(version.model_id) if version.model_id else None
            detail = f"{name} v{version.version} ({version.tags.get('model_name', '?')})" + (
                f", logged model {model.model_id}" if model else ""
            )
            checks.append(Check(f"champion.{code}", True, detail))
        except Exception as err:
            checks.append(Check(f"champion.{code}", False, f"{name} v{version.version}: {err}"))
    if not found:
        checks.append(Check("champions", False, "no competition has a champion (run weekly_training)"))
    return checks


def _prediction_store(settings: Settings) -> Check:
    try:
        # opening checks the schema in a write transaction (BEGIN IMMEDIATE on SQLite): a
        # read-only or locked-out store fails here
        store = PredictionStore(settings.prediction_store)
        try:
            count = len(store.predictions())
        finally:
            store.close()
    except Exception as err:
        return Check("prediction_store", False, f"{settings.prediction_store}: {err}")
    return Check("prediction_store", True, f"{settings.prediction_store}: writable, {count} predictions")


def _tracking_server(uri: str, timeout_s: float) -> Check:
    """The MLflow server answers ``/health`` (and says its version)."""
    import httpx

    base = uri.rstrip("/")
    try:
        response = httpx.get(f"{base}/health", timeout=timeout_s)
        version = httpx.get(f"{base}/version", timeout=timeout_s).text.strip()
    except httpx.HTTPError as err:
        return Check("tracking_server", False, f"{uri}: not reachable ({type(err).__name__}: {err})")
    if response.status_code != 200:
        return Check("tracking_server", False, f"{uri}/health: HTTP {response.status_code}")
    return Check("tracking_server", True, f"{uri}: MLflow {version}")


def _team_database(url: str) -> Check:
    """The team's PostgreSQL database accepts a connection (password never shown)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    except Exception as err:  # any failure to connect is the finding
        return Check("team_database", False, f"{shown}: {type(err).__name__}: {str(err).splitlines()[0]}")
    finally:
        engine.dispose()
    return Check("team_database", True, f"{shown}: PostgreSQL {version}, {size}")


def _service(url: str, timeout_s: float) -> Check:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as err:
        return Check("service", False, f"{url}: not reachable ({type(err).__name__}: {err})")
    ok = response.status_code == 200
    return Check("service", ok, f"{url}: HTTP {response.status_code}")


# --------------------------------------------------------------------------- backup
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (online backup: other connections keep
    reading and writing; the copy is one transaction-consistent state), integrity-checked."""
    with (
        sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30) as src,
        sqlite3.connect(target) as dst,
    ):
        src.backup(dst)
        status = dst.execute("PRAGMA integrity_check").fetchone()[0]
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    src.close()
    dst.close()
    if status != "ok":
        raise RuntimeError(f"backup of {source} fails its integrity check: {status}")


class TeamModeBackup(RuntimeError):
    """Team mode keeps nothing worth a workspace backup: the message says what to run instead."""


def pg_dump_command(url: str, file: Path | str) -> list[str]:
    """The ``pg_dump`` command that writes database ``url`` (a SQLAlchemy URL) to ``file`` in
    pg_dump's custom format (``pg_restore --clean --dbname=... FILE`` restores it). The
    password is left out: pass it as ``PGPASSWORD`` or in ``~/.pgpass``."""
    from sqlalchemy.engine import make_url

    libpq = make_url(url).set(drivername="postgresql", password=None)
    return [
        "pg_dump",
        "--format=custom",
        f"--file={file}",
        f"--dbname={libpq.render_as_string(hide_password=False)}",
    ]


def _postgres_stores(settings: Settings) -> dict[str, str]:
    """The configured stores that live in PostgreSQL, by name."""
    stores = {"optuna": settings.optuna_storage, "predictions": settings.prediction_store}
    found: dict[str, str] = {}
    for name, url in stores.items():
        if url and url.startswith("postgresql") and url not in found.values():
            found[name] = url
    return found


def backup(settings: Settings, to: Path | None = None) -> Path:
    """Back up the registry's databases and artifacts into ``to`` (default
    ``backups/<UTC stamp>/``); returns the folder. Nothing is left behind on failure.

    Team mode raises :class:`TeamModeBackup` naming the ``pg_dump`` command instead; stores
    configured on PostgreSQL outside team mode are listed in the manifest's ``not_included``
    with theirs."""
    if settings.team_mode:
        command = " ".join(pg_dump_command(settings.team_database, "scoreline.dump"))
        raise TeamModeBackup(
            "team mode: the registry, studies and predictions are in PostgreSQL and on the "
            f"tracking server ({settings.mlflow_tracking_uri}), not in this workspace. Back up "
            f"the database with `{command}` (and the tracking server's own database the same "
            "way if it is another one), and the server's artifact root (the folder or bucket of "
            "`mlflow server --artifacts-destination`) with your file or object-store backups. "
            "See docs/team-mode.md"
        )
    external = {
        name: " ".join(pg_dump_command(url, f"{name}.dump"))
        for name, url in _postgres_stores(settings).items()
    }
    registry = settings.registry_path
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(to) if to is not None else settings.home / "backups" / stamp
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty: back up into a new folder")
    databases = {name: registry / name for name in DATABASES}
    store = _sqlite_path(settings.prediction_store)
    if store is not None:
        databases["predictions.db"] = store
    databases = {name: path for name, path in databases.items() if path.is_file()}
    if not databases:
        raise FileNotFoundError(f"nothing to back up: no database under {registry}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, path in databases.items():
            _copy_database(path, partial / name)
        if (registry / "artifacts").is_dir():
            with tarfile.open(partial / ARTIFACTS, "w") as tar:
                tar.add(registry / "artifacts", arcname="artifacts")
        files = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(partial.iterdir())}
        manifest = {
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "registry": str(registry),
            "files": files,
        }
        if external:  # in PostgreSQL: the command that backs each up
            manifest["not_included"] = external
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if folder.exists():
            folder.rmdir()
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder


def verify_backup(folder: Path) -> dict:
    """The manifest of backup ``folder`` once every listed file matches its size and sha256."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no {MANIFEST}: not a Scoreline backup")
    manifest = json.loads(path.read_text())
    for name, expected in manifest["files"].items():
        file = Path(folder) / name
        if not file.is_file():
            raise ValueError(f"{folder}: {name} is listed in the manifest but missing")
        if file.stat().st_size != expected["bytes"] or _sha256(file) != expected["sha256"]:
            raise ValueError(f"{folder}: {name} does not match its manifest checksum (damaged?)")
    return manifest


def restore(settings: Settings, source: Path, force: bool = False) -> list[Path]:
    """Restore backup ``source`` into the registry; returns the paths written.

    The manifest is verified first; existing files are replaced only with ``force``. Each
    database is copied to a temporary file beside its target and moved over it with
    ``os.replace`` (stale ``-wal``/``-shm`` files removed), the artifacts folder likewise, so
    a crash leaves every file either old or new. Stop the service and schedulers first.
    """
    manifest = verify_backup(source)
    registry = settings.registry_path
    targets = {name: registry / name for name in manifest["files"] if name in DATABASES}
    store = _sqlite_path(settings.prediction_store)
    if store is not None and "predictions.db" in targets:
        targets["predictions.db"] = store
    restores_artifacts = ARTIFACTS in manifest["files"]
    existing = [p for p in targets.values() if p.exists()]
    if restores_artifacts and (registry / "artifacts").exists():
        existing.append(registry / "artifacts")
    if existing and not force:
        raise FileExistsError(
            f"restore would overwrite {', '.join(map(str, existing))}: pass force to replace them"
        )
    written = []
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(handle)
        try:
            shutil.copyfile(Path(source) / name, temporary)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        written.append(target)
    if restores_artifacts:
        registry.mkdir(parents=True, exist_ok=True)
        unpacked = Path(tempfile.mkdtemp(prefix=".artifacts.", dir=registry))
        try:
            with tarfile.open(Path(source) / ARTIFACTS) as tar:
                tar.extractall(unpacked, filter="data")
            old = registry / "artifacts"
            retired = registry / f".artifacts.old.{os.getpid()}"
            if old.exists():
                os.replace(old, retired)
            os.replace(unpacked / "artifacts", old)
            shutil.rmtree(retired, ignore_errors=True)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
        written.append(registry / "artifacts")
    return written


def checks_to_dict(checks: list[Check]) -> dict:
    return {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}
