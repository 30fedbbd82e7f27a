"""``scoreline live replay``: a real night (or season) of one competition's scoring events played
through the whole live loop (feed -> bus -> in-game champion -> prediction store), accelerated."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from scoreline.config import Settings
from scoreline.live.bus import EventBus, open_bus
from scoreline.live.feed import ReplayFeed, night_events, season_events
from scoreline.live.loop import Predictor, run_replay
from scoreline.live.model import InGameModel
from scoreline.predictions.store import PredictionStore
from scoreline.progress import Progress

__all__ = ["LIVE_COMPETITIONS", "LiveReplay", "check_competition", "replay_events"]

#: competitions with in-game score timelines
LIVE_COMPETITIONS = ("NBA",)


def check_competition(competition: str) -> None:
    """ValueError unless ``competition`` has in-game timelines to replay."""
    if competition not in LIVE_COMPETITIONS:
        raise ValueError(
            f"live replay needs in-game score timelines; only {', '.join(LIVE_COMPETITIONS)} has them, "
            f"not {competition}"
        )


def replay_events(
    settings: Settings, competition: str, date: dt.date | None, season: int | None
) -> pd.DataFrame:
    """The scoring events of a night (``date``) or a whole ``season`` from the match store's
    in-game tables, with their pre-game lines."""
    from scoreline.data.ingame import load_ingame
    from scoreline.data.store import MatchStore

    check_competition(competition)
    tables = load_ingame(MatchStore(settings.store_dir))
    if tables.games.empty:
        raise ValueError(
            f"no in-game tables in the match store at {settings.store_dir}: run `scoreline ingest` "
            "on a source with nba_pbp/ first"
        )
    if season is not None:
        return season_events(tables, season)
    if date is None:
        raise ValueError("give a --date or a --season to replay")
    return night_events(tables, date)


@dataclass
class LiveReplay:
    """A replay's events through a predictor writing to ``store`` over ``bus``."""

    events: pd.DataFrame
    model: InGameModel
    store: PredictionStore
    bus: EventBus
    competition: str = "NBA"

    @classmethod
    def open(
        cls, settings: Settings, events: pd.DataFrame, model: InGameModel, competition: str
    ) -> LiveReplay:
        """The configured store and bus (Redis Streams when ``SCORELINE_REDIS_URL`` is set)."""
        return cls(
            events,
            model,
            PredictionStore(settings.prediction_store),
            open_bus(settings.redis_url),
            competition,
        )

    def run(self, speed: float) -> dict:
        """Play the events at ``speed`` (0 = as fast as possible); the replay's figures."""
        predictor = Predictor(self.model, self.store, self.bus, self.competition)
        feed = ReplayFeed(self.events, speed=speed, competition=self.competition)
        label = f"{self.competition} live replay"
        with Progress(len(feed), label, unit="events") as progress:
            figures = run_replay(feed, self.bus, predictor, len(feed), on_forecasts=progress.advance)
        return {
            "competition": self.competition,
            "games": int(self.events["game_id"].nunique()),
            "speed": speed,
            "model_name": self.model.model_name,
            "model_version": self.model.version,
            "bus": type(self.bus).__name__,
            **figures.summary(),
        }

    def close(self) -> None:
        self.bus.close()
        self.store.close()
