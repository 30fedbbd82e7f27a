"""Parsing raw CSV text columns into typed columns while keeping a reason for every failure.

Adapters read every source column as text, so nothing is silently coerced: a value that is
present but unparseable becomes null *and* leaves a per-row problem that the validator turns
into a quarantine reason naming the column and the bad value.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class FileParseError(ValueError):
    """A source file that cannot be parsed at all (not just some bad rows)."""

    def __init__(self, file: str | Path, problem: str):
        super().__init__(f"{file}: {problem}")
        self.file = str(file)
        self.problem = problem


class RowProblems:
    """Accumulates per-row problem messages for one source frame."""

    def __init__(self, index: pd.Index):
        self._messages: list[pd.Series] = []
        self._index = index

    def add(self, mask: pd.Series | np.ndarray, message: str | pd.Series | Callable[[], pd.Series]) -> None:
        """Record ``message`` on the rows of ``mask``; a callable message is built only when
        some row is flagged (per-row texts over a million clean rows cost seconds)."""
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self._index)
        if not mask.any():
            return
        if callable(message):
            message = message()
        text = message if isinstance(message, pd.Series) else pd.Series(message, index=self._index)
        self._messages.append(text.astype("string").where(mask))

    def joined(self) -> pd.Series:
        """One string per row ("" when the row had no problem), messages joined by "; "."""
        if not self._messages:
            return pd.Series("", index=self._index, dtype="string")
        stacked = pd.concat(self._messages, axis=1)
        out = pd.Series("", index=self._index, dtype="string")
        flagged = stacked.notna().any(axis=1)
        out[flagged] = stacked[flagged].apply(lambda row: "; ".join(row.dropna()), axis=1)
        return out


def read_text_csv(path: Path, *, display: str, required: list[str], **kwargs) -> pd.DataFrame:
    """Read a CSV with every column as text, keeping the physical line of each row.

    Handles a UTF-8 BOM (new football-data.co.uk files), falls back to Latin-1 for old
    cp1252 downloads, drops wholly blank rows, and adds ``_line`` (header = line 1). Raises
    :class:`FileParseError` naming the file for unreadable files and missing required columns.
    """
    frame = None
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            with warnings.catch_warnings():
                # more fields than header names: pandas would silently drop or shift data
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                    index_col=False,
                    skip_blank_lines=False,
                    encoding=encoding,
                    **kwargs,
                )
            break
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise FileParseError(display, "file is empty") from None
        except (pd.errors.ParserError, pd.errors.ParserWarning) as err:
            raise FileParseError(display, f"not a valid CSV ({err})") from None
    if frame is None:  # pragma: no cover - latin-1 decodes any byte string
        raise FileParseError(display, "cannot decode text")
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise FileParseError(display, f"missing required column(s) {', '.join(missing)}")
    frame["_line"] = np.arange(2, len(frame) + 2)
    data = frame.drop(columns="_line")
    blank = data.isna().all(axis=1)
    return frame.loc[~blank].reset_index(drop=True)


def value_message(prefix: str, values: pd.Series) -> Callable[[], pd.Series]:
    """A per-row message ``"<prefix> (<value>)"``, built only when :meth:`RowProblems.add`
    flags a row."""
    return lambda: prefix + " (" + values.astype("string").fillna("") + ")"


@dataclass(frozen=True)
class Parsed:
    values: pd.Series
    bad: pd.Series  # present but unparseable


def parse_numbers(raw: pd.Series, *, integer: bool = False) -> Parsed:
    """Numbers from text; blank is null (not bad), text or (for integers) fractions are bad."""
    text = raw.astype("string").str.strip().replace("", pd.NA)
    values = pd.to_numeric(text, errors="coerce")
    bad = text.notna() & values.isna()
    if integer:
        fractional = values.notna() & (values != np.round(values))
        bad = bad | fractional
        values = values.where(~fractional)
    return Parsed(values.astype("float64"), bad.fillna(False).astype(bool))


def parse_dates(raw: pd.Series, formats: dict[str, str]) -> Parsed:
    """Dates from text; ``formats`` maps a full-match regex to the strptime format it selects.

    Picking the format per value (not per file) handles football-data files that mix
    ``dd/mm/yy`` and ``dd/mm/yyyy``; a value matching no pattern, or an impossible date, is bad.
    """
    text = raw.astype("string").str.strip()
    values = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    for pattern, fmt in formats.items():
        hit = text.str.fullmatch(pattern).fillna(False).astype(bool)
        if hit.any():
            values[hit] = pd.to_datetime(text[hit], format=fmt, errors="coerce")
    bad = text.notna() & values.isna()
    return Parsed(values, bad.fillna(False).astype(bool))


def parse_bool(raw: pd.Series) -> Parsed:
    """TRUE/FALSE/True/False/1/0 text to a nullable boolean."""
    text = raw.astype("string").str.strip().str.lower()
    values = text.map({"true": True, "false": False, "1": True, "0": False}, na_action="ignore")
    bad = text.notna() & values.isna()
    return Parsed(values.astype("boolean"), bad.fillna(False).astype(bool))


def numeric_block(
    raw: pd.DataFrame, mapping: dict[str, list[str]], problems: RowProblems, *, integer: bool
) -> dict[str, pd.Series]:
    """Parse each canonical column from the first source column present among its candidates.

    The source layout changes between seasons (``BbAvH`` before 2019/20, ``AvgH`` after), so
    each canonical column lists its source names in priority order. Bad values are recorded in
    ``problems`` with the source column name.
    """
    out: dict[str, pd.Series] = {}
    for canonical, candidates in mapping.items():
        source = next((c for c in candidates if c in raw.columns), None)
        if source is None:
            continue
        parsed = parse_numbers(raw[source], integer=integer)
        kind = "an integer" if integer else "a number"
        problems.add(parsed.bad, value_message(f"{source}: not {kind}", raw[source]))
        out[canonical] = parsed.values
    return out
