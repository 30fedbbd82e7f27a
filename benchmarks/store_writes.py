"""Write throughput of the prediction store (SQLite, WAL; PostgreSQL with --postgres) in rows
per second.

    python benchmarks/store_writes.py
    python benchmarks/store_writes.py --postgres postgresql+psycopg://user@127.0.0.1:5432/postgres

Rows look like the service's: a football forecast record (probabilities, fair odds, edges,
expected goals, five score lines) with 84 features, each row its own features dict (the
worst case: identical fixtures of one call share theirs and encode it once). Figures: one row
per commit (synchronous NORMAL, the default, and FULL), 10,000-row batches, then 8 writers at
once, as threads of one process and as separate processes (each with its own store object),
with one-row and 1,000-row commits. Every run starts from an empty database file.

``--postgres URL`` (a server's maintenance database, used only to create and drop databases)
adds a PostgreSQL column, each figure measured on a new database; the server's durability
settings apply (the default ``synchronous_commit=on`` flushes the WAL at each commit, like
SQLite's ``synchronous=FULL``; the SQLite column is ``NORMAL`` except where labelled FULL).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
import uuid
from pathlib import Path

from scoreline.predictions import PredictionStore

WRITERS = 8


def rows(n: int, tag: str = "") -> list[dict]:
    base = {
        "competition": "E0",
        "model_name": "elo",
        "model_version": "3",
        "date": "2024-08-17",
        "home_team": "Arsenal",
        "away_team": "Chelsea",
        "neutral": False,
        "prob_home": 0.5,
        "prob_draw": 0.25,
        "prob_away": 0.25,
        "fair_odds_home": 2.0,
        "fair_odds_draw": 4.0,
        "fair_odds_away": 4.0,
        "price_home": 2.2,
        "edge_home": 0.1,
        "price_draw": None,
        "edge_draw": None,
        "price_away": None,
        "edge_away": None,
        "expected_goals_home": 1.61,
        "expected_goals_away": 1.12,
        "top_scores": [
            {"home": h, "away": a, "probability": 0.1} for h, a in ((1, 0), (1, 1), (2, 1), (0, 0), (2, 0))
        ],
    }
    return [
        dict(base, request_id=f"{tag}{i}", features={f"feature_{j}": 1500.0 + i + j for j in range(84)})
        for i in range(n)
    ]


def single_commits(url: str, n: int, ready=None, go=None) -> None:
    store, prepared = PredictionStore(url), rows(n)
    if ready is not None:  # start together, once every writer has imported and opened
        ready.wait()
        go.wait()
    for row in prepared:
        store.record_predictions([row])
    store.close()


def batches(url: str, n: int, size: int, ready=None, go=None) -> None:
    store, batch = PredictionStore(url), rows(size)
    if ready is not None:
        ready.wait()
        go.wait()
    for _ in range(n // size):
        store.record_predictions(batch)
    store.close()


def rate(call, n_rows: int) -> float:
    started = time.perf_counter()
    call()
    return n_rows / (time.perf_counter() - started)


def concurrent(url: str, per_writer: int, size: int, processes: bool) -> float:
    PredictionStore(url).close()  # schema first, so writers only insert
    target = single_commits if size == 1 else batches
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(WRITERS + 1) if processes else threading.Barrier(WRITERS + 1)
    go = context.Event() if processes else threading.Event()
    args = ((url, per_writer) if size == 1 else (url, per_writer, size)) + (ready, go)
    kind = context.Process if processes else threading.Thread
    workers = [kind(target=target, args=args) for _ in range(WRITERS)]
    for worker in workers:
        worker.start()
    ready.wait()  # process start-up and imports are not timed
    started = time.perf_counter()
    go.set()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    written = len(PredictionStore(url).predictions())
    assert written == WRITERS * per_writer, (written, WRITERS * per_writer)
    return written / seconds


def postgres_database(server_url: str, drop: str | None = None) -> str:
    """A new, empty database on ``server_url``'s server (its SQLAlchemy URL); with ``drop``,
    drop that database instead."""
    import psycopg
    from sqlalchemy.engine import make_url

    url, name = make_url(server_url), f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
    ) as connection:
        if drop is not None:
            connection.execute(f'DROP DATABASE IF EXISTS "{make_url(drop).database}" WITH (FORCE)')
            return drop
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres", metavar="URL", help="PostgreSQL server (maintenance database URL): add its column"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        count = iter(range(100))

        def url(query: str = "") -> str:
            return f"sqlite:///{Path(folder) / f'p{next(count)}.db'}{query}"

        def on_postgres(measure) -> str:
            if not args.postgres:
                return ""
            database = postgres_database(args.postgres)
            try:
                return f"{measure(database):>12,.0f}"
            finally:
                postgres_database(args.postgres, drop=database)

        print(f"{'writes':<48} {'SQLite rows/s':>14} {'PostgreSQL' if args.postgres else '':>12}")
        print(
            f"{'1 row per commit (synchronous=NORMAL)':<48} "
            f"{rate(lambda: single_commits(url(), 2000), 2000):>14,.0f}"
        )
        print(
            f"{'1 row per commit (synchronous=FULL)':<48} "
            f"{rate(lambda: single_commits(url('?synchronous=FULL'), 1000), 1000):>14,.0f} "
            f"{on_postgres(lambda u: rate(lambda: single_commits(u, 1000), 1000))}"
        )
        print(
            f"{'10,000 rows per commit':<48} {rate(lambda: batches(url(), 50_000, 10_000), 50_000):>14,.0f} "
            f"{on_postgres(lambda u: rate(lambda: batches(u, 50_000, 10_000), 50_000))}"
        )
        for processes in (False, True):
            kind = "processes" if processes else "threads"
            print(
                f"{f'{WRITERS} {kind}, 1 row per commit':<48} "
                f"{concurrent(url(), 250, 1, processes):>14,.0f} "
                f"{on_postgres(lambda u: concurrent(u, 250, 1, processes))}"
            )
            print(
                f"{f'{WRITERS} {kind}, 1,000 rows per commit':<48} "
                f"{concurrent(url(), 5000, 1000, processes):>14,.0f} "
                f"{on_postgres(lambda u: concurrent(u, 5000, 1000, processes))}"
            )


if __name__ == "__main__":
    main()
