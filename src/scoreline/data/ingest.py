"""Ingest: source files -> adapters -> validation -> merged, atomically committed store.

Re-running over the same files adds nothing (matches are keyed by a stable ``match_id``); new
seasons append; a row read again replaces its earlier copy (corrected scores or prices). Played
matches and upcoming fixtures are kept apart. Any file that cannot be parsed aborts the run
before anything is written.

When NBA is ingested from a folder that has ``nba_pbp/``, its in-game timelines are validated and
joined to the NBA results (:mod:`scoreline.data.ingame`) and committed in the same snapshot as
the extra tables ``ingame_games`` / ``ingame_events``; games read again replace their earlier
copies (and events), other stored games are kept.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scoreline.config import COMPETITIONS, Competition, Settings, Sport
from scoreline.data import schema
from scoreline.data.adapters import FileRead, adapter, nba_pbp
from scoreline.data.ingame import COMPETITION as INGAME_COMPETITION
from scoreline.data.ingame import TABLES as INGAME_TABLES
from scoreline.data.ingame import InGameBuild, build_ingame
from scoreline.data.sources import ResolvedSource, resolve
from scoreline.data.store import MatchStore, Snapshot
from scoreline.data.validation import RESULT_GRACE, validate
from scoreline.progress import track

COUNTS = ("rows", "results", "fixtures", "quarantined", "prices_removed")


@dataclass(frozen=True)
class IngestReport:
    source: str
    snapshot: str | None
    changed: bool
    #: one row per source file: rows = results + fixtures + quarantined (rejected rows);
    #: prices_removed counts kept rows that lost a malformed market
    files: pd.DataFrame
    quarantine: pd.DataFrame  # this run's quarantined rows
    store_rows: dict[str, dict[str, int]]  # competition -> table -> rows in the store
    notes: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    #: the NBA in-game timelines read this run (None when the source has no ``nba_pbp/``)
    ingame: InGameBuild | None = None

    def by_competition(self) -> pd.DataFrame:
        counts = self.files.groupby("competition")[list(COUNTS)].sum()
        return counts.astype(int)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "snapshot": self.snapshot,
            "changed": self.changed,
            "seconds": round(self.seconds, 2),
            "competitions": {
                comp: {**{k: int(v) for k, v in row.items()}, "store": self.store_rows.get(comp, {})}
                for comp, row in self.by_competition().iterrows()
            },
            "files": self.files.to_dict(orient="records"),
            "ingame": (
                {**self.ingame.summary(), "files": self.ingame.files.to_dict(orient="records")}
                if self.ingame is not None
                else None
            ),
            "notes": list(self.notes),
        }


def read_files(source: ResolvedSource, competitions: list[Competition]) -> tuple[list[FileRead], list[str]]:
    """Every file of the requested competitions' adapters, read into canonical rows."""
    reads: list[FileRead] = []
    notes: list[str] = []
    for name in dict.fromkeys(c.adapter for c in competitions):
        sports = {c.sport for c in competitions if c.adapter == name}
        if not sports & source.sports:
            continue
        module = adapter(name)
        paths = module.discover(source.root)
        if not paths:
            codes = ", ".join(c.code for c in competitions if c.adapter == name)
            notes.append(f"{codes}: no files for adapter '{name}' under {source.root}")
        for path in paths:
            read = module.read(path, source.root)
            notes.extend(read.notes)
            reads.append(read)
    return reads, notes


def read_ingame_files(source: ResolvedSource, competitions: list[Competition]) -> list[FileRead]:
    """The ``nba_pbp/`` files when NBA is wanted and the source is a folder that has them."""
    wanted = any(c.code == INGAME_COMPETITION for c in competitions)
    if not wanted or Sport.BASKETBALL not in source.sports:
        return []
    paths = nba_pbp.discover(source.root)
    return [nba_pbp.read(path, source.root) for path in track(paths, "nba_pbp files", unit="files")]


def merge_ingame(store: MatchStore, built: InGameBuild) -> dict[str, pd.DataFrame]:
    """The extra tables after this ingest: games read now replace their stored copies (and
    their events), other stored games stay."""
    read_ids = set(built.game_ids_read)
    merged = {}
    for name, new in (("ingame_games", built.tables.games), ("ingame_events", built.tables.events)):
        old = store.extra_table(name)
        keep = old.loc[~old["game_id"].isin(read_ids)] if old is not None else new.iloc[:0]
        key = ["date", "game_id"] if name == "ingame_games" else ["game_id", "seq"]
        frame = pd.concat([keep, new], ignore_index=True) if len(keep) else new
        merged[name] = frame.astype(INGAME_TABLES[name]).sort_values(key).reset_index(drop=True)
    return merged


def _file_counts(
    rows: pd.DataFrame, results: pd.DataFrame, fixtures: pd.DataFrame, quarantine: pd.DataFrame
) -> pd.DataFrame:
    files = rows.groupby("source_file", sort=True).agg(
        competition=("competition", lambda s: s.dropna().mode().iat[0] if s.notna().any() else ""),
        rows=("source_line", "size"),
    )
    rejected = quarantine["action"] == "row rejected"
    for name, table in (
        ("results", results),
        ("fixtures", fixtures),
        ("quarantined", quarantine.loc[rejected]),
        ("prices_removed", quarantine.loc[~rejected]),
    ):
        files[name] = table.groupby("source_file").size().reindex(files.index, fill_value=0)
    return files.reset_index().rename(columns={"source_file": "file"})


def merge(
    old: Snapshot,
    results: pd.DataFrame,
    fixtures: pd.DataFrame,
    quarantine: pd.DataFrame,
    files_read: set[str],
    today: pd.Timestamp,
) -> Snapshot:
    """The store after this ingest: new rows replace same-id old rows, the rest is kept."""
    all_results = pd.concat([old.results, results], ignore_index=True).drop_duplicates(
        "match_id", keep="last"
    )
    all_fixtures = pd.concat([old.fixtures, fixtures], ignore_index=True).drop_duplicates(
        "match_id", keep="last"
    )
    stale = all_fixtures["match_id"].isin(all_results["match_id"]) | (
        all_fixtures["date"] < today - RESULT_GRACE
    )
    kept_quarantine = old.quarantine.loc[~old.quarantine["source_file"].isin(files_read)]
    all_quarantine = pd.concat([kept_quarantine, quarantine], ignore_index=True)
    order = ["competition", "date", "match_id"]
    return Snapshot(
        all_results.sort_values(order).reset_index(drop=True).astype(schema.COLUMNS),
        all_fixtures.loc[~stale].sort_values(order).reset_index(drop=True).astype(schema.COLUMNS),
        all_quarantine.sort_values(["source_file", "source_line"])
        .reset_index(drop=True)
        .astype(schema.QUARANTINE_COLUMNS),
    )


def ingest(
    settings: Settings,
    source: str | None = None,
    codes: list[str] | None = None,
    today: pd.Timestamp | None = None,
) -> IngestReport:
    """Read, validate and store every configured competition (or ``codes``) from ``source``."""
    started = time.perf_counter()
    today = (today or pd.Timestamp.now()).normalize()
    competitions = [COMPETITIONS[c] for c in codes] if codes else list(COMPETITIONS.values())
    resolved = resolve(source or settings.source, competitions, settings, today)
    reads, notes = read_files(resolved, competitions)
    ingame_reads = read_ingame_files(resolved, competitions)
    wanted = {c.code for c in competitions}

    rows = (
        pd.concat([r.frame for r in reads], ignore_index=True)
        if reads
        else schema.empty_matches().assign(problems=pd.Series(dtype="string"))
    )
    if codes:  # a multi-league file (fixtures.csv) may hold other competitions
        rows = rows.loc[rows["competition"].isin(wanted) | rows["competition"].isna()]
    checked = validate(rows, today)
    played = checked.kept["home_score"].notna()
    results, fixtures = checked.kept.loc[played], checked.kept.loc[~played]

    store = MatchStore(settings.store_dir)
    with store.lock():
        old = store.load()
        files_read = set(rows["source_file"].dropna())
        ingame, extra, quarantine = None, {}, checked.quarantine
        if ingame_reads:  # joined to the NBA results as they stand after this ingest
            nba = pd.concat([old.results, results], ignore_index=True).drop_duplicates(
                "match_id", keep="last"
            )
            ingame = build_ingame(ingame_reads, nba.loc[nba["competition"] == INGAME_COMPETITION])
            files_read |= {r.file for r in ingame_reads}
            quarantine = pd.concat([quarantine, ingame.quarantine], ignore_index=True)
            extra = merge_ingame(store, ingame)
            notes.extend(ingame.notes)
        new = merge(old, results, fixtures, quarantine, files_read, today)
        changed = store.hash_with(new, extra) != store.manifest().get("content_hash", old.content_hash())
        file_counts = _file_counts(rows, results, fixtures, checked.quarantine)
        manifest = {
            "source": resolved.description,
            "ingested_at": pd.Timestamp.now(tz="UTC"),
            "files": file_counts.to_dict(orient="records"),
        }
        if ingame is not None:
            manifest["ingame_files"] = ingame.files.to_dict(orient="records")
        name = store.commit(new, manifest, extra) if changed else old.name
    store_rows = {
        comp: {
            "results": int((new.results["competition"] == comp).sum()),
            "fixtures": int((new.fixtures["competition"] == comp).sum()),
        }
        for comp in sorted(set(new.results["competition"]) | set(new.fixtures["competition"]))
    }
    return IngestReport(
        resolved.description,
        name,
        changed,
        file_counts,
        quarantine,
        store_rows,
        tuple(resolved.notes) + tuple(notes),
        time.perf_counter() - started,
        ingame,
    )


def save_report(report: IngestReport, folder: Path) -> Path:
    """Write the validation summary (JSON + per-file CSV) and the quarantine CSV to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    report.files.to_csv(folder / "files.csv", index=False)
    report.quarantine.to_csv(folder / "quarantine.csv", index=False)
    return folder
