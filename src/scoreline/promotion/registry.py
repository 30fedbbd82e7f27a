"""The MLflow Model Registry side of promotion: one registered model per competition, aliases.

``scoreline-{code}`` holds every evaluated candidate as a version (a model for another task of
the competition, such as the NBA in-game models, is ``scoreline-{code}-{task}``: every function
here takes ``task``, "" for the pre-game model); the alias ``champion`` names
the version the service answers with and ``previous`` the champion it replaced. Every alias move
reads the current aliases, decides and writes them (and the ``champion_history`` tag of the
registered model) under one lock per competition (a file lock, and in team mode also a
PostgreSQL advisory lock), so two promotions or rollbacks running at once serialise instead of
interleaving into an inconsistent pair of aliases.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import mlflow
from filelock import FileLock, Timeout
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from scoreline.config import COMPETITIONS, Settings, competition
from scoreline.tracking.authorship import USER_TAG, authored_description, current_user
from scoreline.tracking.experiments import tracking_uri

CHAMPION = "champion"
PREVIOUS = "previous"
#: registered-model tag holding the alias moves, oldest first (JSON list)
HISTORY_TAG = "champion_history"
#: moves kept in the history tag (a registry tag value holds at most 100,000 characters)
HISTORY_LIMIT = 200
#: seconds a promotion waits for another one of the same competition before giving up
LOCK_TIMEOUT_S = 120.0


def registered_model_name(code: str, task: str = "") -> str:
    """``scoreline-{code}``: the registered model of competition ``code``; with ``task`` (e.g.
    ``ingame``) ``scoreline-{code}-{task}``."""
    suffix = f"-{task}" if task else ""
    return f"scoreline-{competition(code).code}{suffix}"


def champion_uri(code: str, task: str = "") -> str:
    """The model URI the service loads: ``models:/scoreline-{code}@champion``."""
    return f"models:/{registered_model_name(code, task)}@{CHAMPION}"


def registry_client(settings: Settings) -> mlflow.MlflowClient:
    """A client of the configured store, as tracking and registry (no global MLflow state)."""
    uri = tracking_uri(settings)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def promotion_lock(
    settings: Settings, code: str, timeout_s: float = LOCK_TIMEOUT_S, task: str = ""
) -> Iterator[None]:
    """Exclusive lock of ``code``'s aliases across threads and processes on this machine, and
    in team mode across machines (a PostgreSQL advisory lock in the team database, taken by
    the outermost holder on this machine)."""
    folder = settings.registry_path / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    # a singleton per path is re-entrant within a thread (promote holds the lock while it
    # registers and moves aliases) and still exclusive between threads and processes
    lock_name = f"promote-{registered_model_name(code, task).removeprefix('scoreline-')}"
    path = folder / f"{lock_name}.lock"
    lock = FileLock(str(path), timeout=timeout_s, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(
            f"another promotion of {code} has held {path} for more than {timeout_s:g} s; nothing was changed"
        ) from None
    try:
        if settings.team_mode and lock.lock_counter == 1:
            with _database_lock(settings.team_database, lock_name, timeout_s):
                yield
        else:
            yield
    finally:
        lock.release()


@contextmanager
def _database_lock(url: str, name: str, timeout_s: float) -> Iterator[None]:
    """A session-level PostgreSQL advisory lock named ``name``, held while the block runs; it is
    released by the server if this process dies."""
    import sqlalchemy as sa

    key = int.from_bytes(hashlib.sha256(f"scoreline:{name}".encode()).digest()[:8], "big", signed=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + timeout_s
            while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar():
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"another machine's promotion has held the team database's "
                        f"{name} lock for more than {timeout_s:g} s; nothing was changed"
                    )
                time.sleep(0.2)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()
    finally:
        engine.dispose()


def _alias_version(client: mlflow.MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no such alias, or no such registered model
        return None


def _ensure_registered_model(client: mlflow.MlflowClient, name: str, code: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(
                name,
                tags={"competition": code},
                description=f"Scoreline forecasts for {competition(code).name} ({code}); "
                f"the `{CHAMPION}` alias is the version in service.",
            )
        except MlflowException:  # created meanwhile by a concurrent registration
            client.get_registered_model(name)


def _source(client: mlflow.MlflowClient, model_uri: str) -> tuple[str, str | None, str | None]:
    """(storage source, run id, logged model id) of ``model_uri``.

    A ``models:/<model_id>`` URI (what :func:`scoreline.tracking.train_and_log` returns) is
    resolved here, through this client: MLflow's SQL store would resolve it through the global
    tracking URI, which may point at another store.
    """
    if model_uri.startswith("models:/"):
        ref = model_uri.removeprefix("models:/")
        if "/" in ref or "@" in ref:
            raise ValueError(
                f"model_uri {model_uri!r}: give the logged model's URI "
                "(models:/<model_id>), not a registered model version"
            )
        try:
            logged = client.get_logged_model(ref)
        except MlflowException as err:
            raise ValueError(f"model_uri {model_uri!r}: no logged model {ref!r} in this store") from err
        return logged.artifact_location, logged.source_run_id, logged.model_id
    return model_uri, None, None


def register_model(
    settings: Settings, code: str, model_uri: str, tags: dict[str, str], description: str = "", task: str = ""
) -> ModelVersion:
    """A new version of ``scoreline-{code}`` for the logged model ``model_uri``, with ``tags``.

    Aliases are untouched: registering records a candidate, :func:`set_champion` serves it.
    The version's tag ``mlflow.user`` and its description's first words name who registered it.
    """
    client = registry_client(settings)
    name = registered_model_name(code, task)
    source, run_id, model_id = _source(client, model_uri)
    user = current_user()  # MLflow leaves the version's "Created by" empty: see tracking.authorship
    with promotion_lock(settings, code, task=task):  # SQLite takes one writer at a time
        _ensure_registered_model(client, name, code)
        return client.create_model_version(
            name,
            source,
            run_id=run_id,
            tags={USER_TAG: user, **{k: str(v) for k, v in tags.items()}},
            description=authored_description(description, user),
            model_id=model_id,
        )


def champion_history(settings: Settings, code: str, task: str = "") -> list[dict]:
    """The recorded alias moves of ``code``, oldest first: ``{"action", "version", "replaced",
    "reason", "at"}`` (``replaced``: the champion before the move, None for the first)."""
    client = registry_client(settings)
    try:
        tags = client.get_registered_model(registered_model_name(code, task)).tags
    except MlflowException:
        return []
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def _move(client: mlflow.MlflowClient, name: str, champion: str, previous: str | None, entry: dict) -> None:
    """Write the aliases and append ``entry`` to the history (caller holds the lock).

    ``previous`` is written first: a crash between the writes leaves the old champion serving.
    """
    if previous is None:
        client.delete_registered_model_alias(name, PREVIOUS)
    else:
        client.set_registered_model_alias(name, PREVIOUS, previous)
    client.set_registered_model_alias(name, CHAMPION, champion)
    history = json.loads(client.get_registered_model(name).tags.get(HISTORY_TAG, "[]"))
    history = [*history, entry][-HISTORY_LIMIT:]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def set_champion(settings: Settings, code: str, version: str | int, reason: str, task: str = "") -> None:
    """Point ``champion`` at ``version``; the champion it replaces becomes ``previous``.

    Setting the version that already is the champion changes nothing. Read, decision and
    writes happen under :func:`promotion_lock`.
    """
    client = registry_client(settings)
    name = registered_model_name(code, task)
    version = str(version)
    with promotion_lock(settings, code, task=task):
        try:
            client.get_model_version(name, version)
        except MlflowException:
            raise ValueError(f"{name} has no version {version!r}") from None
        current = _alias_version(client, name, CHAMPION)
        if current is not None and str(current.version) == version:
            return
        replaced = str(current.version) if current is not None else None
        previous = replaced
        if previous is None:  # no champion: an existing `previous` stays, unless it is `version`
            kept = _alias_version(client, name, PREVIOUS)
            previous = str(kept.version) if kept is not None and str(kept.version) != version else None
        _move(
            client,
            name,
            version,
            previous,
            {"action": "promote", "version": version, "replaced": replaced, "reason": reason, "at": _now()},
        )


def rollback(settings: Settings, code: str, task: str = "") -> ModelVersion:
    """Move ``champion`` back to the ``previous`` version and return it.

    ``previous`` then steps one further back: to the champion that version had replaced when it
    was promoted (if any), so repeated rollbacks walk back through the history. Fails when
    there is no champion or no previous version.
    """
    client = registry_client(settings)
    name = registered_model_name(code, task)
    with promotion_lock(settings, code, task=task):
        current = _alias_version(client, name, CHAMPION)
        if current is None:
            raise ValueError(f"{name} has no {CHAMPION}: nothing to roll back")
        target = _alias_version(client, name, PREVIOUS)
        back, now = (str(target.version) if target else None), str(current.version)
        if back is None or back == now:
            raise ValueError(
                f"{name} has no {PREVIOUS} version to roll back to ({CHAMPION} is version {now})"
            )
        history = json.loads(client.get_registered_model(name).tags.get(HISTORY_TAG, "[]"))
        earlier = next(
            (
                h.get("replaced")
                for h in reversed(history)
                if h.get("action") == "promote" and h.get("version") == back
            ),
            None,
        )
        if earlier in (back, now):
            earlier = None
        _move(
            client,
            name,
            back,
            earlier,
            {
                "action": "rollback",
                "version": back,
                "replaced": now,
                "reason": f"rollback from version {now}",
                "at": _now(),
            },
        )
        return client.get_model_version(name, back)


def champion_version(
    settings: Settings, code: str, alias: str = CHAMPION, task: str = ""
) -> ModelVersion | None:
    """The version ``alias`` (``champion`` or ``previous``) of ``code`` names, None if unset."""
    return _alias_version(registry_client(settings), registered_model_name(code, task), alias)


def champions(settings: Settings) -> dict[str, ModelVersion]:
    """Every competition code that has a champion, with its champion version."""
    client = registry_client(settings)
    found = {}
    for code in COMPETITIONS:
        version = _alias_version(client, registered_model_name(code), CHAMPION)
        if version is not None:
            found[code] = version
    return found
