"""In-game features of NBA games, point-in-time by construction: what is known at a moment of a
game is the scoring events at or before that game second, and the pre-game lines.

Two shapes, both from the events of :mod:`scoreline.data.ingame` (``game_id, seq, elapsed_s,
home_score, away_score``) and a games table (``game_id, spread_home, total_line``):

* :func:`patterns`: the 18-value request shape, the home-minus-away differential at the end of
  game minutes 1..``minutes`` (``diff_1`` ... ``diff_18``), one row per game.
* :func:`states`: the game state at given game seconds (:data:`STATE_FEATURES`), one row per
  (game, second): the latest event at or before that second gives the score; the clock features
  come from the second itself.

:class:`GameTracker` computes the same state one event at a time for a live feed (O(1) per
event); ``tests/features/test_ingame.py`` checks that both agree and that no feature changes when
later events are removed (the leakage test).

Units: seconds of game time (quarters 720 s, overtimes 300 s), points, home perspective.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "REGULATION_S",
    "STATE_FEATURES",
    "GameTracker",
    "game_end_seconds",
    "pattern_columns",
    "pattern_table",
    "patterns",
    "remaining_seconds",
    "state_matrix",
    "state_table",
    "states",
]

REGULATION_S = 2880.0
OVERTIME_S = 300.0
#: how far back the "recent margin change" looks (s)
RECENT_S = 300.0
#: the model inputs of a game state, in this order
STATE_FEATURES = (
    "elapsed_s",
    "remaining_s",
    "overtime",
    "margin",
    "points",
    "spread_home",
    "total_line",
    "expected_remaining",
    "drift_z",
    "pace",
    "lead_changes",
    "run",
    "max_home_lead",
    "max_away_lead",
    "recent_change",
    "since_score",
)


def pattern_columns(minutes: int = 18) -> list[str]:
    """``["diff_1", ..., "diff_<minutes>"]``: the pattern's columns."""
    return [f"diff_{m}" for m in range(1, minutes + 1)]


def remaining_seconds(elapsed: np.ndarray) -> np.ndarray:
    """Game seconds left as scheduled at ``elapsed``: to the end of regulation, or in overtime
    to the end of the current 300 s period."""
    elapsed = np.asarray(elapsed, dtype=float)
    overtime = elapsed - REGULATION_S
    in_ot = np.where(overtime > 0, OVERTIME_S - np.mod(overtime, OVERTIME_S), 0.0)
    in_ot = np.where((overtime > 0) & (in_ot == OVERTIME_S), 0.0, in_ot)  # at a period's end
    return np.where(overtime > 0, in_ot, REGULATION_S - elapsed)


def _event_table(events: pd.DataFrame, running: bool = True) -> pd.DataFrame:
    """Events in clock order with the running quantities each one leaves behind: margin,
    points and (``running``) leader and lead changes, the current run (signed: + home), the
    largest leads."""
    ordered = events.sort_values(["game_id", "elapsed_s", "seq"], kind="stable")
    code = pd.factorize(ordered["game_id"].astype(str))[0]
    home = ordered["home_score"].to_numpy(dtype=float)
    away = ordered["away_score"].to_numpy(dtype=float)
    margin = home - away
    first = np.r_[True, code[1:] != code[:-1]]
    d_home = np.where(first, home, home - np.r_[0.0, home[:-1]])
    d_away = np.where(first, away, away - np.r_[0.0, away[:-1]])
    scorer = np.sign(d_home - d_away)  # +1 home, -1 away (0 when both or neither moved)
    frame = pd.DataFrame(
        {
            "code": code,
            "game_id": ordered["game_id"].astype(str).to_numpy(),
            "t": ordered["elapsed_s"].to_numpy(dtype=float),
            "margin": margin,
            "points": home + away,
            "scorer": scorer,
            "gained": np.where(scorer > 0, d_home, np.where(scorer < 0, d_away, 0.0)),
        }
    )
    if not running:
        return frame.drop(columns=["scorer", "gained"])
    group = frame.groupby("code", sort=False)
    leader = pd.Series(np.sign(margin)).replace(0.0, np.nan)
    leader = leader.groupby(code).ffill()
    previous = leader.groupby(code).shift()
    frame["lead_changes"] = ((leader != previous) & leader.notna() & previous.notna()).groupby(code).cumsum()
    # an event that changes no score (the feed repeats the score) continues the current run
    side = pd.Series(scorer).replace(0.0, np.nan).groupby(code).ffill().fillna(0.0).to_numpy()
    run_id = np.cumsum(first | (side != np.r_[0.0, side[:-1]]))
    frame["run"] = side * frame.groupby(run_id)["gained"].cumsum().to_numpy()
    frame["max_home_lead"] = np.maximum(group["margin"].cummax(), 0.0)
    frame["max_away_lead"] = np.maximum(-group["margin"].cummin(), 0.0)
    return frame.drop(columns=["scorer", "gained"])


def _asof(table: pd.DataFrame, queries: pd.DataFrame) -> pd.DataFrame:
    """For each query (``game_id``, ``t``), the event row of its game at or before ``t``
    (NaN before the first score); aligned to ``queries.index``."""
    left = queries[["game_id", "t"]].assign(_row=np.arange(len(queries)))
    left["game_id"] = left["game_id"].astype(str)
    merged = pd.merge_asof(
        left.sort_values("t", kind="stable"),
        table.rename(columns={"t": "t_event"}).sort_values("t_event", kind="stable"),
        left_on="t",
        right_on="t_event",
        by="game_id",
        direction="backward",
    )
    return merged.sort_values("_row").set_index(queries.index).drop(columns=["_row", "game_id", "t"])


def patterns(events: pd.DataFrame, minutes: int = 18) -> pd.DataFrame:
    """The home-minus-away differential at the end of minutes 1..``minutes`` (an event at exactly
    ``60 m`` seconds counts in minute ``m``), indexed by ``game_id``, columns ``diff_1`` ..."""
    table = _event_table(events, running=False)
    ids = pd.unique(table["game_id"])
    grid = pd.DataFrame(
        {"game_id": np.repeat(ids, minutes), "t": np.tile(np.arange(1, minutes + 1) * 60.0, len(ids))}
    )
    at = _asof(table, grid)
    values = at["margin"].fillna(0.0).to_numpy().reshape(len(ids), minutes)
    return pd.DataFrame(values, index=pd.Index(ids, name="game_id"), columns=pattern_columns(minutes))


def states(events: pd.DataFrame, games: pd.DataFrame, at: pd.DataFrame) -> pd.DataFrame:
    """Game states at the moments ``at`` (``game_id``, ``t`` game seconds): :data:`STATE_FEATURES`
    aligned to ``at.index``. ``games`` gives each game's ``spread_home`` and ``total_line``."""
    table = _event_table(events)
    now = _asof(table, at)
    before = _asof(table[["game_id", "t", "margin"]], at.assign(t=at["t"] - RECENT_S))
    lines = games.drop_duplicates("game_id")
    lines = lines.set_index(lines["game_id"].astype(str))
    ids = at["game_id"].astype(str)
    return state_features(
        elapsed=at["t"].to_numpy(dtype=float),
        margin=now["margin"].fillna(0.0).to_numpy(),
        points=now["points"].fillna(0.0).to_numpy(),
        spread_home=ids.map(lines["spread_home"]).to_numpy(dtype=float),
        total_line=ids.map(lines["total_line"]).to_numpy(dtype=float),
        lead_changes=now["lead_changes"].fillna(0.0).to_numpy(),
        run=now["run"].fillna(0.0).to_numpy(),
        max_home_lead=now["max_home_lead"].fillna(0.0).to_numpy(),
        max_away_lead=now["max_away_lead"].fillna(0.0).to_numpy(),
        margin_before=before["margin"].fillna(0.0).to_numpy(),
        last_score=now["t_event"].fillna(0.0).to_numpy(),
        index=at.index,
    )


def state_features(*, index: pd.Index | None = None, **quantities: np.ndarray) -> pd.DataFrame:
    """:data:`STATE_FEATURES` from the running quantities (the keyword arguments of
    :func:`state_matrix`), as a frame."""
    return pd.DataFrame(state_matrix(**quantities), columns=list(STATE_FEATURES), index=index)


def state_matrix(
    *,
    elapsed: np.ndarray,
    margin: np.ndarray,
    points: np.ndarray,
    spread_home: np.ndarray,
    total_line: np.ndarray,
    lead_changes: np.ndarray,
    run: np.ndarray,
    max_home_lead: np.ndarray,
    max_away_lead: np.ndarray,
    margin_before: np.ndarray,
    last_score: np.ndarray,
) -> np.ndarray:
    """:data:`STATE_FEATURES` (columns, in order) from the running quantities: shared by
    :func:`states` and :class:`GameTracker`, so the batch and the live path cannot drift apart."""
    remaining = remaining_seconds(elapsed)
    share = remaining / REGULATION_S
    expected = -spread_home * share  # the spread's drift over the time left (Stern)
    columns = {
        "elapsed_s": elapsed,
        "remaining_s": remaining,
        "overtime": (elapsed > REGULATION_S).astype(float),
        "margin": margin,
        "points": points,
        "spread_home": spread_home,
        "total_line": total_line,
        "expected_remaining": expected,
        "drift_z": (margin + expected) / np.sqrt(share + 0.01),
        "pace": points - total_line * np.minimum(elapsed, REGULATION_S) / REGULATION_S,
        "lead_changes": lead_changes,
        "run": run,
        "max_home_lead": max_home_lead,
        "max_away_lead": max_away_lead,
        "recent_change": margin - margin_before,
        "since_score": elapsed - last_score,
    }
    return np.column_stack([np.asarray(columns[name], dtype=float) for name in STATE_FEATURES])


@dataclass
class GameTracker:
    """One game's running state, fed its scoring events in clock order (a live feed).

    :meth:`update` takes an event (game second, score after it) and returns nothing;
    :meth:`state` gives :data:`STATE_FEATURES` at a game second at or after the last event;
    :meth:`pattern` the 18-value differential once minute ``minutes`` is over (None before).
    Equal to :func:`states` / :func:`patterns` on the same events (tested).
    """

    spread_home: float
    total_line: float
    home: float = 0.0
    away: float = 0.0
    last_t: float = 0.0
    lead_changes: float = 0.0
    run: float = 0.0
    run_side: float = 0.0
    max_home_lead: float = 0.0
    max_away_lead: float = 0.0
    leader: float = 0.0
    #: the latest game second a state was asked for (time never goes back)
    now: float = 0.0
    #: (game second, margin) of the events of the last RECENT_S seconds and the one before them
    recent: deque = field(default_factory=deque)
    #: margin at the end of each completed minute
    minute_margins: list[float] = field(default_factory=list)

    @property
    def margin(self) -> float:
        return self.home - self.away

    def _close_minutes(self, t: float) -> None:
        """Record the margin of every minute that ends before ``t`` (an event at exactly the
        end of a minute still belongs to it)."""
        while (len(self.minute_margins) + 1) * 60.0 < t:
            self.minute_margins.append(self.margin)

    def update(self, elapsed_s: float, home_score: float, away_score: float) -> None:
        """Apply one scoring event; ``elapsed_s`` must not go back in time."""
        if elapsed_s < max(self.last_t, self.now):
            raise ValueError(f"event at {elapsed_s} s arrives after {max(self.last_t, self.now)} s")
        self._close_minutes(elapsed_s)
        d_home, d_away = home_score - self.home, away_score - self.away
        scorer = float(np.sign(d_home - d_away))
        if scorer != 0.0:  # an event that changes no score continues the current run
            gained = d_home if scorer > 0 else d_away
            self.run = scorer * (abs(self.run) + gained) if scorer == self.run_side else scorer * gained
            self.run_side = scorer
        self.home, self.away, self.last_t = float(home_score), float(away_score), float(elapsed_s)
        leader = float(np.sign(self.margin))
        if leader != 0.0:
            if self.leader != 0.0 and leader != self.leader:
                self.lead_changes += 1
            self.leader = leader
        self.max_home_lead = max(self.max_home_lead, self.margin)
        self.max_away_lead = max(self.max_away_lead, -self.margin)
        self.recent.append((self.last_t, self.margin))

    def _margin_at(self, t: float) -> float:
        """The margin after the last event at or before ``t`` (0 before the first)."""
        while len(self.recent) > 1 and self.recent[1][0] <= t:
            self.recent.popleft()
        return self.recent[0][1] if self.recent and self.recent[0][0] <= t else 0.0

    def state(self, elapsed_s: float | None = None) -> pd.DataFrame:
        """:data:`STATE_FEATURES` at ``elapsed_s`` (default: the last event's second), one row."""
        return pd.DataFrame(self.vector(elapsed_s).reshape(1, -1), columns=list(STATE_FEATURES))

    def vector(self, elapsed_s: float | None = None) -> np.ndarray:
        """:data:`STATE_FEATURES` at ``elapsed_s`` (default: the last event's second), a vector."""
        t = self.last_t if elapsed_s is None else float(elapsed_s)
        if t < max(self.last_t, self.now):
            raise ValueError(f"state at {t} s asked after {max(self.last_t, self.now)} s")
        self.now = t
        one = np.array
        return state_matrix(
            elapsed=one([t]),
            margin=one([self.margin]),
            points=one([self.home + self.away]),
            spread_home=one([self.spread_home], dtype=float),
            total_line=one([self.total_line], dtype=float),
            lead_changes=one([self.lead_changes]),
            run=one([self.run]),
            max_home_lead=one([self.max_home_lead]),
            max_away_lead=one([self.max_away_lead]),
            margin_before=one([self._margin_at(t - RECENT_S)]),
            last_score=one([self.last_t if self.recent else 0.0]),
        )[0]

    def pattern(self, minutes: int = 18, elapsed_s: float | None = None) -> np.ndarray | None:
        """The differential at the end of minutes 1..``minutes``, once the clock (the last event,
        or ``elapsed_s``) is past minute ``minutes``; None before."""
        t = self.last_t if elapsed_s is None else float(elapsed_s)
        if t <= minutes * 60.0:
            return None
        self._close_minutes(t)
        return np.array(self.minute_margins[:minutes], dtype=float)


def pattern_table(games: pd.DataFrame, events: pd.DataFrame, minutes: int = 18) -> pd.DataFrame:
    """One row per game of ``games``: its identity, pre-game lines, the pattern of the first
    ``minutes`` minutes (:func:`patterns`) and the targets ``ht_margin`` (home minus away at
    half-time) and ``final_margin``. What the halftime models fit and are scored on."""
    wanted = events.loc[events["game_id"].isin(games["game_id"])]
    pattern = patterns(wanted, minutes)
    info = games.set_index(games["game_id"].astype(str))
    out = info[["game_id", "season", "date", "home_team", "away_team", "spread_home", "total_line"]].join(
        pattern, how="inner"
    )
    out["ht_margin"] = (info["home_ht_score"] - info["away_ht_score"]).astype(float)
    out["final_margin"] = (info["home_score"] - info["away_score"]).astype(float)
    return out.reset_index(drop=True)


def game_end_seconds(periods: pd.Series) -> np.ndarray:
    """The game second of a game's final horn from its number of periods."""
    return REGULATION_S + np.maximum(periods.to_numpy(dtype=float) - 4, 0) * OVERTIME_S


def _offsets(ids: np.ndarray, step_s: float) -> np.ndarray:
    """A fixed pseudo-random offset in [0, step_s) per game id (the same on every run)."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(i.encode(), digest_size=4).digest(), "big") % int(step_s)
            for i in ids
        ],
        dtype=float,
    )


def state_table(
    games: pd.DataFrame,
    events: pd.DataFrame,
    step_s: float = 60.0,
    seconds: list[float] | None = None,
    jitter: bool = True,
) -> pd.DataFrame:
    """Game states of every game of ``games`` every ``step_s`` game seconds to its final horn
    (or only at ``seconds``), with ``game_id``, ``t``, ``season``, ``date`` and the targets
    ``final_margin`` and ``home_win`` (1.0 / 0.0). What the state models fit and are scored on.

    ``jitter``: shift each game's grid back by a fixed offset in [0, step_s) drawn from its id,
    so the states cover every second of a minute across games (not only the minute's end)."""
    ends = game_end_seconds(games["periods"])
    if seconds is None:
        counts = (ends // step_s).astype(int)
        game_ids = games["game_id"].astype(str).to_numpy()
        shift = np.repeat(_offsets(game_ids, step_s) if jitter else np.zeros(len(games)), counts)
        t = np.concatenate([np.arange(1, n + 1) * step_s for n in counts]) - shift
        ids = np.repeat(game_ids, counts)
    else:
        t = np.tile(np.asarray(seconds, dtype=float), len(games))
        ids = np.repeat(games["game_id"].astype(str).to_numpy(), len(seconds))
    at = pd.DataFrame({"game_id": ids, "t": t})
    wanted = events.loc[events["game_id"].isin(games["game_id"])]
    out = states(wanted, games, at)
    info = games.set_index(games["game_id"].astype(str))
    final = (info["home_score"] - info["away_score"]).astype(float)
    out.insert(0, "game_id", ids)
    out.insert(1, "t", t)
    out["season"] = at["game_id"].map(info["season"]).to_numpy()
    out["date"] = at["game_id"].map(info["date"]).to_numpy()
    out["final_margin"] = at["game_id"].map(final).to_numpy()
    out["home_win"] = (out["final_margin"] > 0).astype(float)
    return out
