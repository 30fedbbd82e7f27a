"""Ingest: source files -> adapters -> validation -> merged, atomically committed store.

Re-running over the same files adds nothing (matches are keyed by a stable ``match_id``); new
seasons append; a row read again replaces its earlier copy (corrected scores or prices). Played
matches and upcoming fixtures are kept apart. Any file that cannot be parsed aborts the run
before anything is written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scoreline.config import COMPETITIONS, Competition, Settings
from scoreline.data import schema
from scoreline.data.adapters import FileRead, adapter
from scoreline.data.sources import ResolvedSource, resolve
from scoreline.data.store import MatchStore, Snapshot
from scoreline.data.validation import RESULT_GRACE, validate

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
        new = merge(old, results, fixtures, checked.quarantine, files_read, today)
        changed = new.content_hash() != old.content_hash()
        file_counts = _file_counts(rows, results, fixtures, checked.quarantine)
        manifest = {
            "source": resolved.description,
            "ingested_at": pd.Timestamp.now(tz="UTC"),
            "files": file_counts.to_dict(orient="records"),
        }
        name = store.commit(new, manifest) if changed else old.name
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
        checked.quarantine,
        store_rows,
        tuple(resolved.notes) + tuple(notes),
        time.perf_counter() - started,
    )


def save_report(report: IngestReport, folder: Path) -> Path:
    """Write the validation summary (JSON + per-file CSV) and the quarantine CSV to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    report.files.to_csv(folder / "files.csv", index=False)
    report.quarantine.to_csv(folder / "quarantine.csv", index=False)
    return folder
