"""The NBA in-game tables: validated score timelines joined to the pre-game lines.

Built at ingest from the ``nba_pbp/`` files (:mod:`scoreline.data.adapters.nba_pbp`) and the
NBA results of the match store (the ``nba/`` files: spread, total, moneylines), and kept as two
extra tables of the match store's snapshot (:mod:`scoreline.data.store`), committed atomically
with the rest:

``ingame_games`` (:data:`GAME_COLUMNS`), one row per kept game
    ``game_id`` (the feed's 10-digit id), ``match_id`` (the game's id in the match store's NBA
    results, null when ``nba/`` has no such game), ``season`` (start year), ``date`` (local),
    ``playoff``, ``home_team`` / ``away_team`` (the ``nba/`` codes), the final and half-time
    score from the timeline, ``periods``, ``n_events`` and the pre-game lines from ``nba/``
    (``spread_home`` < 0 = home favoured, ``total_line``, American ``moneyline_*``; null
    without a joined game).
``ingame_events`` (:data:`EVENT_COLUMNS`), every kept scoring event in feed order
    ``game_id``, ``seq`` (the feed's row order), ``period``, ``clock`` (MM:SS left in the
    period), ``elapsed_s`` (game seconds: 720 s quarters, 300 s overtimes) and the score after
    the event. Within a game both scores never decrease, in feed order and in clock order.

Checks, each finding written to the quarantine table with file, line and reason: a row that
does not parse is rejected; an event the feed logged out of place (``consistent = False``: off
the longest non-decreasing score chain) is rejected; a game whose score still goes backwards
after that, whose timeline final differs from the feed's or from ``nba/``'s, that ends tied, or
that the source flags ``quality_ok = False`` is excluded whole (one row naming the reason; its
events are not listed one by one); a per-minute row that disagrees with the score the kept
events give at the end of that minute is rejected. The per-minute files are only checked: the
minute scores are derived from the events (:func:`minute_scores`), so the two cannot disagree in
the store.

Reading (for models and the live loop): :func:`load_ingame` returns :class:`InGameTables`;
:meth:`InGameTables.on` gives one night's games and events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoreline.data import schema
from scoreline.data.adapters import FileRead
from scoreline.data.adapters.nba_pbp import FileKind
from scoreline.data.store import MatchStore

__all__ = [
    "EVENT_COLUMNS",
    "GAME_COLUMNS",
    "TABLES",
    "InGameBuild",
    "InGameTables",
    "build_ingame",
    "load_ingame",
    "minute_scores",
]

GAME_COLUMNS: dict[str, str] = {
    "game_id": "string",
    "match_id": "string",
    "season": "Int64",
    "date": "datetime64[ns]",
    "playoff": "boolean",
    "home_team": "string",
    "away_team": "string",
    "home_score": "Int64",
    "away_score": "Int64",
    "home_ht_score": "Int64",
    "away_ht_score": "Int64",
    "periods": "Int64",
    "n_events": "Int64",
    "spread_home": "float64",
    "total_line": "float64",
    "moneyline_home": "float64",
    "moneyline_away": "float64",
    "source_file": "string",
    "source_line": "Int64",
}
EVENT_COLUMNS: dict[str, str] = {
    "game_id": "string",
    "seq": "Int64",
    "period": "Int64",
    "clock": "string",
    "elapsed_s": "float64",
    "home_score": "Int64",
    "away_score": "Int64",
}
#: the match store's extra tables holding them (name -> columns)
TABLES = {"ingame_games": GAME_COLUMNS, "ingame_events": EVENT_COLUMNS}
COMPETITION = "NBA"
HALF_TIME_S = 1440.0
LINES = ("spread_home", "total_line", "moneyline_home", "moneyline_away")


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame({name: frame[name] if name in frame else pd.NA for name in columns}, index=frame.index)
    for name, dtype in columns.items():
        out[name] = out[name].astype(dtype) if dtype != "float64" else pd.to_numeric(out[name]).astype(float)
    return out


def empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


@dataclass(frozen=True)
class InGameTables:
    """Kept games (:data:`GAME_COLUMNS`) and their scoring events (:data:`EVENT_COLUMNS`)."""

    games: pd.DataFrame
    events: pd.DataFrame

    def on(self, date: str | pd.Timestamp) -> InGameTables:
        """The games of one calendar ``date`` and their events in clock order (feed order
        within a second): what a live feed of that night would have delivered."""
        day = pd.Timestamp(date).normalize()
        games = self.games.loc[self.games["date"] == day].reset_index(drop=True)
        events = self.events.loc[self.events["game_id"].isin(games["game_id"])]
        return InGameTables(games, events.sort_values(["elapsed_s", "game_id", "seq"]).reset_index(drop=True))

    def with_lines(self) -> pd.DataFrame:
        """Games that have both a pre-game spread and total (what the in-game models need)."""
        ok = self.games["spread_home"].notna() & self.games["total_line"].notna()
        return self.games.loc[ok].reset_index(drop=True)


def load_ingame(store: MatchStore) -> InGameTables:
    """The in-game tables of the snapshot in force (empty when no ``nba_pbp/`` was ingested)."""
    games = store.extra_table("ingame_games")
    events = store.extra_table("ingame_events")
    return InGameTables(
        _typed(games, GAME_COLUMNS) if games is not None else empty(GAME_COLUMNS),
        _typed(events, EVENT_COLUMNS) if events is not None else empty(EVENT_COLUMNS),
    )


def minute_scores(events: pd.DataFrame, minutes: int | pd.Series = 48) -> pd.DataFrame:
    """The score at the end of each game minute, from scoring events (a game's latest event at
    or before ``60 * minute`` seconds, feed order breaking ties; 0-0 before the first score).

    ``minutes``: how many minutes per game, one number or a Series indexed by ``game_id``.
    Returns ``game_id, minute, home_score, away_score`` (minute 1..n, sorted).
    """
    ids = pd.Index(events["game_id"].unique(), name="game_id")
    counts = (
        minutes.reindex(ids).fillna(48).astype(int)
        if isinstance(minutes, pd.Series)
        else pd.Series(int(minutes), index=ids)
    )
    grid = pd.DataFrame(
        {
            "game_id": np.repeat(ids.to_numpy(), counts.to_numpy()),
            "minute": np.concatenate([np.arange(1, n + 1) for n in counts.to_numpy()]) if len(ids) else [],
        }
    )
    grid["t"] = grid["minute"].astype(float) * 60.0
    ordered = events.sort_values(["elapsed_s", "game_id", "seq"], kind="stable")
    right = pd.DataFrame(
        {
            "game_id": ordered["game_id"].astype(object).to_numpy(),
            "t": ordered["elapsed_s"].to_numpy(dtype=float),
            "home_score": ordered["home_score"].to_numpy(dtype=float),
            "away_score": ordered["away_score"].to_numpy(dtype=float),
        }
    )
    grid["game_id"] = grid["game_id"].astype(object)
    merged = pd.merge_asof(
        grid.sort_values("t", kind="stable"), right, on="t", by="game_id", direction="backward"
    )
    merged[["home_score", "away_score"]] = merged[["home_score", "away_score"]].fillna(0).astype("int64")
    out = merged.drop(columns="t").sort_values(["game_id", "minute"]).reset_index(drop=True)
    out["game_id"] = out["game_id"].astype("string")
    return out


@dataclass(frozen=True)
class InGameBuild:
    """What :func:`build_ingame` made of the files: the tables, the quarantine rows
    (:data:`scoreline.data.schema.QUARANTINE_COLUMNS`) and per-file counts."""

    tables: InGameTables
    quarantine: pd.DataFrame
    #: one row per file: kind, rows, kept, quarantined (rejected rows, and the games.csv rows
    #: of excluded games), with_game (rows dropped because their game was excluded)
    files: pd.DataFrame
    #: every game id of the games files read, kept or not (they replace stored copies)
    game_ids_read: frozenset[str] = frozenset()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> dict:
        actions = self.quarantine["action"].value_counts()
        return {
            "games": len(self.tables.games),
            "games_with_lines": len(self.tables.with_lines()),
            "events": len(self.tables.events),
            "rows_rejected": int(actions.get("row rejected", 0)),
            "games_excluded": int(actions.get("game excluded", 0)),
            "seasons": sorted(int(s) for s in self.tables.games["season"].dropna().unique()),
        }


def _quarantine(
    frame: pd.DataFrame, action: str, reason: pd.Series | str, games: pd.DataFrame
) -> pd.DataFrame:
    """Quarantine rows for ``frame``'s rows (with ``source_file``/``source_line``/``game_id``)."""
    info = games.drop_duplicates("game_id").set_index("game_id")
    ids = frame["game_id"].astype("string")

    def look(column: str) -> pd.Series:
        if column not in info:
            return pd.Series(pd.NA, index=frame.index, dtype="string")
        return ids.map(info[column]).astype("string")

    dates = ids.map(info["date"]) if "date" in info else pd.Series(pd.NaT, index=frame.index)
    return pd.DataFrame(
        {
            "competition": COMPETITION,
            "source_file": frame["source_file"].astype("string"),
            "source_line": frame["source_line"].astype("Int64"),
            "action": action,
            "reason": reason,
            "date": pd.to_datetime(dates).dt.strftime("%Y-%m-%d"),
            "home_team": look("home_team"),
            "away_team": look("away_team"),
            "home_score": frame["home_score"].astype("string") if "home_score" in frame else pd.NA,
            "away_score": frame["away_score"].astype("string") if "away_score" in frame else pd.NA,
        },
        index=frame.index,
    ).astype(schema.QUARANTINE_COLUMNS)


def _first_backward(events: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per game, the first event (in ``order``) where either score is below the one before."""
    ordered = events.sort_values(order, kind="stable")
    same = ordered["game_id"].eq(ordered["game_id"].shift())
    back = same & (
        (ordered["home_score"] < ordered["home_score"].shift())
        | (ordered["away_score"] < ordered["away_score"].shift())
    )
    return ordered.loc[back.fillna(False).astype(bool)].drop_duplicates("game_id")


def _score_text(home: pd.Series, away: pd.Series) -> pd.Series:
    return home.astype("string") + "-" + away.astype("string")


def build_ingame(reads: list[FileRead], nba_results: pd.DataFrame) -> InGameBuild:
    """Validate the ``nba_pbp/`` file reads and join the kept games to ``nba_results``
    (canonical NBA results with ``match_id``); see the module docstring for every check."""
    by_kind: dict[FileKind, list[pd.DataFrame]] = {k: [] for k in FileKind}
    for read in reads:
        by_kind[_kind_of(read)].append(read.frame)
    if not by_kind[FileKind.GAMES]:
        raise ValueError("nba_pbp/: games.csv is missing, so no timeline can be checked")
    games, events, minutes = (
        pd.concat(by_kind[k], ignore_index=True) if by_kind[k] else pd.DataFrame() for k in FileKind
    )
    read_ids = frozenset(games["game_id"].dropna())
    for frame in (events, minutes):  # 1.7 M ids: sort, group and match them as categories
        if "game_id" in frame:
            frame["game_id"] = frame["game_id"].astype("category")
    quarantine: list[pd.DataFrame] = []
    notes: list[str] = []

    # games.csv: parse problems, duplicates
    bad = games["problems"] != ""
    quarantine.append(_quarantine(games.loc[bad], "row rejected", games.loc[bad, "problems"], games))
    games = games.loc[~bad]
    dupes = games["game_id"].duplicated()
    first_line = games.drop_duplicates("game_id").set_index("game_id")["source_line"].astype("string")
    quarantine.append(
        _quarantine(
            games.loc[dupes],
            "row rejected",
            "duplicate of games.csv line " + games.loc[dupes, "game_id"].map(first_line),
            games,
        )
    )
    games = games.loc[~dupes].set_index("game_id", drop=False)

    # events: parse problems, unknown games, duplicates, the feed's out-of-place rows
    if events.empty:
        events = empty(
            {**EVENT_COLUMNS, "source_file": "string", "source_line": "Int64", "problems": "string"}
        )
    reasons = events["problems"].astype("string").fillna("")
    of_rejected_game = events["game_id"].isin(read_ids) & ~events["game_id"].isin(games.index)
    unknown = ~events["game_id"].isin(read_ids)
    reasons = reasons.mask((reasons == "") & unknown, "game_id not in nba_pbp/games.csv")
    dup = (reasons == "") & events.duplicated(["game_id", "seq"])
    reasons = reasons.mask(dup, "duplicate event (game_id, row_order)")
    out_of_place = (reasons == "") & ~events["consistent"].astype("boolean").fillna(True).astype(bool)
    reasons = reasons.mask(
        out_of_place, "logged out of place: the score steps back (off the longest non-decreasing chain)"
    )
    rejected = (reasons != "") & ~of_rejected_game
    quarantine.append(_quarantine(events.loc[rejected], "row rejected", reasons[rejected], games))
    events = events.loc[~rejected]

    # whole games: quality flag, score backwards after cleaning, finals, ties
    excluded = pd.Series("", index=games.index, dtype="string")

    def exclude(mask: pd.Series, reason: pd.Series | str) -> None:
        """Exclude the games of ``mask`` not excluded yet, with ``reason`` (the first one wins)."""
        mask = mask.reindex(games.index, fill_value=False).fillna(False).astype(bool) & (excluded == "")
        text = reason if isinstance(reason, str) else reason.reindex(games.index).astype("string")
        excluded[mask] = text if isinstance(text, str) else text[mask]

    exclude(~games["quality_ok"].astype(bool), "quality_ok = False in games.csv")
    for order, label in ((["game_id", "seq"], "feed"), (["game_id", "elapsed_s", "seq"], "clock")):
        back = _first_backward(events, order).set_index("game_id")
        at = back["source_file"].astype("string") + ":" + back["source_line"].astype("string")
        exclude(
            games.index.to_series().isin(back.index),
            f"score goes backwards after cleaning ({label} order) at " + at,
        )
    last = events.sort_values(["game_id", "elapsed_s", "seq"], kind="stable").drop_duplicates(
        "game_id", keep="last"
    )
    last = last.set_index("game_id")
    final_home = last["home_score"].reindex(games.index)
    final_away = last["away_score"].reindex(games.index)
    # a game without events in a season-part that has events is an anomaly; a season-part
    # without any (its timeline file not in the source) is one note, not a row per game
    part = games["season"].astype("string") + games["playoff"].astype("string")
    uncovered = final_home.isna() & ~part.isin(part[final_home.notna()])
    if uncovered.any():
        notes.append(
            f"nba_pbp: {int(uncovered.sum())} game(s) of games.csv have no timeline file in the source"
        )
        games, excluded = games.loc[~uncovered], excluded[~uncovered]
        final_home, final_away = final_home[~uncovered], final_away[~uncovered]
    exclude(final_home.isna(), "no scoring events kept")
    feed_text = _score_text(games["feed_home_score"], games["feed_away_score"])
    timeline_text = _score_text(final_home, final_away)
    exclude(
        (final_home != games["feed_home_score"]) | (final_away != games["feed_away_score"]),
        "timeline final " + timeline_text + " disagrees with the feed's final " + feed_text,
    )
    exclude(final_home == final_away, "timeline final is a tie " + timeline_text)

    # the join to nba/ on date + home + away, and its final
    games["match_id"] = schema.match_ids(
        pd.Series(COMPETITION, index=games.index), games["date"], games["home_team"], games["away_team"]
    )
    nba = nba_results.drop_duplicates("match_id").set_index("match_id")
    joined = games["match_id"].isin(nba.index)
    nba_home = games["match_id"].map(nba["home_score"]).astype("Float64")
    nba_away = games["match_id"].map(nba["away_score"]).astype("Float64")
    nba_where = games["match_id"].map(
        nba["source_file"].astype("string") + ":" + nba["source_line"].astype("string")
    )
    exclude(
        joined & ((nba_home != final_home) | (nba_away != final_away)).fillna(False).astype(bool),
        "timeline final "
        + timeline_text
        + " disagrees with nba/ "
        + _score_text(nba_home.astype("Int64"), nba_away.astype("Int64"))
        + " ("
        + nba_where.astype("string")
        + ")",
    )
    gone = excluded != ""
    report = games.loc[gone].copy()
    report["home_score"], report["away_score"] = final_home[gone], final_away[gone]
    quarantine.append(
        _quarantine(report.reset_index(drop=True), "game excluded", excluded[gone].to_numpy(), games)
    )
    games = games.loc[~gone]
    dropped_events = ~events["game_id"].isin(games.index)
    events = events.loc[~dropped_events]

    # the per-minute files: checked against the events
    dropped_minutes = pd.Series(False, index=minutes.index)
    if not minutes.empty:
        reasons = minutes["problems"].astype("string").fillna("")
        reasons = reasons.mask(
            (reasons == "") & ~minutes["game_id"].isin(read_ids), "game_id not in nba_pbp/games.csv"
        )
        dropped_minutes = (reasons == "") & ~minutes["game_id"].isin(games.index)
        checkable = (reasons == "") & ~dropped_minutes
        counts = minutes.loc[checkable].groupby("game_id", observed=True)["minute"].max()
        derived = minute_scores(events, counts).set_index(["game_id", "minute"])
        key = pd.MultiIndex.from_arrays([minutes["game_id"], minutes["minute"]])
        d_home = pd.Series(derived["home_score"].reindex(key).to_numpy(), index=minutes.index)
        d_away = pd.Series(derived["away_score"].reindex(key).to_numpy(), index=minutes.index)
        differs = checkable & ((d_home != minutes["home_score"]) | (d_away != minutes["away_score"])).fillna(
            True
        )
        reasons = reasons.mask(
            differs,
            "score "
            + _score_text(minutes["home_score"], minutes["away_score"])
            + " at minute "
            + minutes["minute"].astype("string")
            + " disagrees with the timeline's "
            + _score_text(pd.Series(d_home).astype("Int64"), pd.Series(d_away).astype("Int64")),
        )
        bad = reasons != ""
        quarantine.append(_quarantine(minutes.loc[bad], "row rejected", reasons[bad], games))

    # the kept tables
    ht = events.loc[events["elapsed_s"] <= HALF_TIME_S].sort_values(
        ["game_id", "elapsed_s", "seq"], kind="stable"
    )
    ht = ht.drop_duplicates("game_id", keep="last").set_index("game_id")
    kept = games.assign(
        home_score=final_home.reindex(games.index),
        away_score=final_away.reindex(games.index),
        home_ht_score=ht["home_score"].reindex(games.index).fillna(0),
        away_ht_score=ht["away_score"].reindex(games.index).fillna(0),
        periods=events.groupby("game_id", observed=True)["period"].max().reindex(games.index),
        n_events=events.groupby("game_id", observed=True).size().reindex(games.index),
        **{line: games["match_id"].map(nba[line]) if line in nba else np.nan for line in LINES},
    )
    kept["match_id"] = kept["match_id"].where(joined.reindex(kept.index, fill_value=False))
    kept = (
        _typed(kept.reset_index(drop=True), GAME_COLUMNS)
        .sort_values(["date", "game_id"])
        .reset_index(drop=True)
    )
    kept_events = _typed(events, EVENT_COLUMNS).sort_values(["game_id", "seq"]).reset_index(drop=True)
    all_quarantine = (
        pd.concat([q for q in quarantine if len(q)], ignore_index=True)
        if any(len(q) for q in quarantine)
        else schema.empty_quarantine()
    )

    files = _file_counts(reads, all_quarantine, events, dropped_events, minutes, dropped_minutes)
    unjoined = int(kept["match_id"].isna().sum())
    if unjoined:
        notes.append(f"nba_pbp: {unjoined} kept game(s) have no nba/ game on their date (no pre-game lines)")
    return InGameBuild(
        InGameTables(kept, kept_events),
        all_quarantine.astype(schema.QUARANTINE_COLUMNS),
        files,
        read_ids,
        tuple(notes),
    )


def _kind_of(read: FileRead) -> FileKind:
    columns = set(read.frame.columns)
    if "quality_ok" in columns:
        return FileKind.GAMES
    return FileKind.EVENTS if "seq" in columns else FileKind.MINUTES


def _file_counts(
    reads: list[FileRead],
    quarantine: pd.DataFrame,
    events: pd.DataFrame,
    dropped_events: pd.Series,
    minutes: pd.DataFrame,
    dropped_minutes: pd.Series,
) -> pd.DataFrame:
    rows = []
    quarantined = quarantine.groupby("source_file").size()
    with_game = pd.concat(
        [events.loc[dropped_events, "source_file"], minutes.loc[dropped_minutes, "source_file"]]
        if len(minutes)
        else [events.loc[dropped_events, "source_file"]]
    ).value_counts()
    for read in reads:
        n_quarantined = int(quarantined.get(read.file, 0))
        n_with_game = int(with_game.get(read.file, 0))
        rows.append(
            {
                "file": read.file,
                "kind": _kind_of(read).value,
                "rows": read.rows,
                "kept": read.rows - n_quarantined - n_with_game,
                "quarantined": n_quarantined,
                "with_game": n_with_game,
            }
        )
    return pd.DataFrame(rows)
