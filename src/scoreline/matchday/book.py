"""The bet book: the matchday loop's own tables in the prediction store's database.

``bets``: one row per fixture and strategy at most (unique competition, date, teams and
``strategy``), the forecast it came from (``prediction_id``, a ``predictions`` row), what was
backed at which price and stake, whether it is a ``paper`` bet (a strategy the staking gate
keeps off money: recorded and settled, never counted in the bankroll), and once played its
scores, status (open / won / lost / push), P/L and closing-line value. A book written before
strategies existed is upgraded when opened: its bets become ``model_edge`` bets with money on
them. ``matchday_predictions``: which stored prediction the matchday made for a fixture with
a model version, so re-running a day reuses it instead of storing the forecast again.

Same URL and engine as :class:`~scoreline.predictions.store.PredictionStore` (its writer lock and
IMMEDIATE transactions on SQLite); the tables are created when the book opens. No foreign key
to ``predictions``: that table belongs to another metadata, and a bet outlives nothing there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    false,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.engine import Connection

from scoreline.predictions.store import PredictionStore
from scoreline.predictions.tables import MATCH_KEY, match_key_columns, predictions_table

__all__ = ["BetBook", "bets_table", "matchday_table"]

metadata = MetaData()

bets_table = Table(
    "bets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *match_key_columns(),
    #: the matchday (day) that proposed the bet, and when (UTC)
    Column("placed_on", Date, nullable=False),
    Column("placed_at", DateTime, nullable=False),
    Column("prediction_id", Integer, nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    #: the betting strategy that chose it (``betting.strategies``); paper: kept off money by
    #: the staking gate
    Column("strategy", String(32), nullable=False, server_default="model_edge"),
    Column("paper", Boolean, nullable=False, server_default="0"),
    #: home / draw / away
    Column("outcome", String(8), nullable=False),
    Column("probability", Float, nullable=False),
    #: decimal price taken, from ``price_source`` (pre-closing)
    Column("price", Float, nullable=False),
    Column("price_source", String(32), nullable=False),
    Column("expected_value", Float, nullable=False),
    #: full Kelly fraction; the stake and the bankroll it was sized on, in units
    Column("kelly", Float, nullable=False),
    Column("stake", Float, nullable=False),
    Column("bankroll", Float, nullable=False),
    #: open, won, lost or push
    Column("status", String(8), nullable=False),
    Column("home_score", Integer),
    Column("away_score", Integer),
    Column("pnl", Float),
    Column("close_probability", Float),
    Column("clv", Float),
    Column("settled_at", DateTime),
    UniqueConstraint(*MATCH_KEY, "strategy", name="uq_bets_fixture_strategy"),
)

matchday_table = Table(
    "matchday_predictions",
    metadata,
    *match_key_columns(),
    Column("model_version", String(64), nullable=False),
    Column("prediction_id", Integer, nullable=False),
    Column("placed_on", Date, nullable=False),
    PrimaryKeyConstraint(*MATCH_KEY, "model_version"),
)

#: bets columns in table order
BET_COLUMNS = tuple(c.name for c in bets_table.columns)


class BetBook:
    """Bets and matchday links of one prediction store (shares its engine and writer lock)."""

    def __init__(self, store: PredictionStore) -> None:
        self.store = store
        with store.write_transaction() as conn:  # the store's one write path: lock + IMMEDIATE on SQLite
            upgrade_bets(conn)
            metadata.create_all(conn, checkfirst=True)

    # -- reads ---------------------------------------------------------------------------------
    def linked(self, code: str, model_version: str, keys: Iterable[tuple]) -> dict[tuple, int]:
        """Prediction ids the matchday stored for fixtures ``keys`` ((date, home, away)) with
        ``model_version``."""
        t = matchday_table
        wanted = list(keys)
        found: dict[tuple, int] = {}
        with self.store.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.execute(
                    select(t.c.date, t.c.home_team, t.c.away_team, t.c.prediction_id).where(
                        t.c.competition == code,
                        t.c.model_version == model_version,
                        tuple_(t.c.date, t.c.home_team, t.c.away_team).in_(chunk),
                    )
                )
                found.update({(r[0], r[1], r[2]): int(r[3]) for r in rows})
        return found

    def bets(
        self, code: str | None = None, status: str | None = None, placed_on: dt.date | None = None
    ) -> pd.DataFrame:
        """Stored bets (by id), dates as Timestamps."""
        t = bets_table
        query = select(t).order_by(t.c.id)
        if code is not None:
            query = query.where(t.c.competition == code)
        if status is not None:
            query = query.where(t.c.status == status)
        if placed_on is not None:
            query = query.where(t.c.placed_on == placed_on)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        frame = pd.DataFrame(rows, columns=list(BET_COLUMNS))
        for name in ("date", "placed_on"):
            frame[name] = pd.to_datetime(frame[name])
        return frame

    def bet_fixtures(self, code: str, keys: list[tuple], strategy: str = "model_edge") -> set[tuple]:
        """The fixtures among ``keys`` ((date, home, away)) that ``code`` already has a
        ``strategy`` bet on (paper or not)."""
        t = bets_table
        found: set[tuple] = set()
        with self.store.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                found |= {
                    tuple(r)
                    for r in conn.execute(
                        select(t.c.date, t.c.home_team, t.c.away_team).where(
                            t.c.competition == code,
                            t.c.strategy == strategy,
                            tuple_(t.c.date, t.c.home_team, t.c.away_team).in_(keys[start : start + 500]),
                        )
                    )
                }
        return found

    def fixtures_of(self, code: str) -> set[tuple[dt.date, str, str]]:
        """(date, home, away) of every fixture ``code`` has a stored prediction or bet for."""
        keys: set[tuple] = set()
        with self.store.engine.connect() as conn:
            for table in (predictions_table, bets_table):
                keys |= {
                    tuple(r)
                    for r in conn.execute(
                        select(table.c.date, table.c.home_team, table.c.away_team)
                        .where(table.c.competition == code)
                        .distinct()
                    )
                }
        return keys

    def exposure(self, code: str, day: dt.date) -> tuple[float, float, float]:
        """(settled P/L, stakes placed on ``day``, stakes of open bets) of ``code``'s bets with
        money on them (paper bets never count), in units."""
        t = bets_table
        staked = (t.c.competition == code) & t.c.paper.is_(False)
        with self.store.engine.connect() as conn:
            pnl = conn.execute(
                select(func.coalesce(func.sum(t.c.pnl), 0.0)).where(staked, t.c.status != "open")
            ).scalar_one()
            today = conn.execute(
                select(func.coalesce(func.sum(t.c.stake), 0.0)).where(staked, t.c.placed_on == day)
            ).scalar_one()
            open_ = conn.execute(
                select(func.coalesce(func.sum(t.c.stake), 0.0)).where(staked, t.c.status == "open")
            ).scalar_one()
        return float(pnl), float(today), float(open_)

    # -- writes --------------------------------------------------------------------------------
    def record(self, links: Sequence[Mapping], bets: Sequence[Mapping]) -> None:
        """Matchday links and new bets in one transaction (a fixture already bet is an error:
        the unique key refuses it and nothing is written)."""
        if not links and not bets:
            return
        with self.store.write_transaction() as conn:
            if links:
                conn.execute(insert(matchday_table), list(links))
            if bets:
                conn.execute(insert(bets_table), list(bets))

    def update_settlements(self, rows: list[Mapping]) -> None:
        """Write each bet's scores, status, P/L, CLV and ``settled_at`` (by ``id``), one
        transaction."""
        if not rows:
            return
        t = bets_table
        fields = ("home_score", "away_score", "status", "pnl", "close_probability", "clv", "settled_at")
        with self.store.write_transaction() as conn:
            for row in rows:
                conn.execute(t.update().where(t.c.id == row["id"]).values({f: row[f] for f in fields}))


def upgrade_bets(conn: Connection) -> None:
    """Give a ``bets`` table from before strategies its ``strategy`` and ``paper`` columns
    (every old bet: ``model_edge``, staked) and the per-strategy unique key, keeping every row.
    SQLite cannot change a constraint in place, so the table is copied into the new layout."""
    if not inspect(conn).has_table("bets"):
        return
    columns = [c["name"] for c in inspect(conn).get_columns("bets")]
    if "strategy" in columns:
        return
    conn.execute(text("ALTER TABLE bets RENAME TO bets_before_strategies"))
    if conn.dialect.name == "postgresql":  # constraint and sequence names are global there
        conn.execute(text("ALTER TABLE bets_before_strategies DROP CONSTRAINT IF EXISTS uq_bets_fixture"))
    bets_table.create(conn)
    old = Table("bets_before_strategies", MetaData(), autoload_with=conn)
    kept = [old.c[name] for name in columns]
    conn.execute(
        insert(bets_table).from_select(
            [*columns, "strategy", "paper"], select(*kept, literal("model_edge"), false())
        )
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('bets', 'id'), COALESCE(MAX(id), 1)) FROM bets")
        )
    conn.execute(text("DROP TABLE bets_before_strategies"))
