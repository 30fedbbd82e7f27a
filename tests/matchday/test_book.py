"""The bet book: a book written before strategies opens with every bet kept, as a staked
``model_edge`` bet, and then takes one bet per fixture and strategy."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
)
from sqlalchemy.exc import IntegrityError

from scoreline.matchday.book import BetBook
from scoreline.predictions import PredictionStore
from scoreline.predictions.tables import MATCH_KEY, match_key_columns

DAY = dt.date(2023, 4, 1)
FIXTURE = {"competition": "E0", "date": DAY, "home_team": "Arsenal", "away_team": "Leeds"}


def _old_book(engine) -> None:
    """The ``bets`` table as it stood before strategies (one bet per fixture), with one bet."""
    old = MetaData()
    table = Table(
        "bets",
        old,
        Column("id", Integer, primary_key=True, autoincrement=True),
        *match_key_columns(),
        Column("placed_on", Date, nullable=False),
        Column("placed_at", DateTime, nullable=False),
        Column("prediction_id", Integer, nullable=False),
        Column("model_name", String(200), nullable=False),
        Column("model_version", String(64), nullable=False),
        Column("outcome", String(8), nullable=False),
        Column("probability", Float, nullable=False),
        Column("price", Float, nullable=False),
        Column("price_source", String(32), nullable=False),
        Column("expected_value", Float, nullable=False),
        Column("kelly", Float, nullable=False),
        Column("stake", Float, nullable=False),
        Column("bankroll", Float, nullable=False),
        Column("status", String(8), nullable=False),
        Column("home_score", Integer),
        Column("away_score", Integer),
        Column("pnl", Float),
        Column("close_probability", Float),
        Column("clv", Float),
        Column("settled_at", DateTime),
        UniqueConstraint(*MATCH_KEY, name="uq_bets_fixture"),
    )
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(insert(table), [_bet(status="won", pnl=1.5)])


def _bet(**extra) -> dict:
    return {
        **FIXTURE,
        "placed_on": DAY,
        "placed_at": dt.datetime(2023, 4, 1, 6),
        "prediction_id": 1,
        "model_name": "elo",
        "model_version": "1",
        "outcome": "home",
        "probability": 0.6,
        "price": 2.5,
        "price_source": "b365",
        "expected_value": 0.5,
        "kelly": 0.33,
        "stake": 1.0,
        "bankroll": 100.0,
        "status": "open",
        **extra,
    }


def test_an_old_book_is_upgraded_keeping_every_bet(tmp_path):
    store = PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}")
    try:
        _old_book(store.engine)
        book = BetBook(store)
        kept = book.bets("E0")
        assert len(kept) == 1 and kept.loc[0, "strategy"] == "model_edge" and not kept.loc[0, "paper"]
        assert kept.loc[0, "pnl"] == 1.5 and kept.loc[0, "status"] == "won"
        # another strategy may now back the same fixture, on paper; the same strategy may not
        book.record([], [_bet(strategy="sharp_soft", paper=True, stake=2.0)])
        assert book.bet_fixtures("E0", [(DAY, "Arsenal", "Leeds")], "sharp_soft") == {
            (DAY, "Arsenal", "Leeds")
        }
        assert book.exposure("E0", DAY) == (1.5, 1.0, 0.0)  # the paper stake holds no money
        with pytest.raises(IntegrityError):
            book.record([], [_bet(strategy="sharp_soft", paper=True)])
        BetBook(store)  # opening again changes nothing
        assert len(BetBook(store).bets("E0")) == 2
    finally:
        store.close()
