"""Checking rows before they are stored: every prediction and result field is validated first,
column by column (numbers as numpy arrays), and the first problem raises a ValueError naming
the row and the field, so a write is refused before anything reaches the database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pydantic_core

from scoreline.config import COMPETITIONS
from scoreline.predictions.tables import FORECAST_COLUMNS, OUTCOMES, PREDICTION_FIELDS, FeatureVector

__all__ = [
    "RECORD_FIELDS",
    "as_columns",
    "chunks",
    "day",
    "fail",
    "feature_vector",
    "prediction_columns",
    "result_row",
    "scores",
    "timestamp",
    "utc_now",
]

#: how far a prediction's probabilities may sum from 1
SUM_TOLERANCE = 1e-6


#: the numeric fields of a prediction, in the order of :func:`_probabilities_and_prices`' matrix
NUMERIC = (*(f"prob_{o}" for o in OUTCOMES), *(f"price_{o}" for o in OUTCOMES))


#: the fields of a prediction (columns, features and detail); a row's other fields join detail
RECORD_FIELDS = (*FORECAST_COLUMNS, "created_at", "features", "detail", "what_if")


def as_columns(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence]) -> tuple[dict[str, list], int]:
    """The :data:`RECORD_FIELDS` of ``rows`` as lists, and their length; a row's fields beyond
    them are merged into a ``detail`` of its own."""
    if isinstance(rows, Mapping):
        unknown = sorted(set(rows) - set(RECORD_FIELDS))
        if unknown:
            raise ValueError(f"unknown prediction field(s) {unknown}; known: {', '.join(RECORD_FIELDS)}")
        lengths = {field: len(values) for field, values in rows.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"prediction columns of different lengths: {lengths}")
        n = next(iter(lengths.values()), 0)
        return {f: list(rows[f]) if f in rows else [None] * n for f in RECORD_FIELDS}, n
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i}: must be a mapping of fields, got {type(row).__name__}")
    columns = {f: [row.get(f) for row in rows] for f in RECORD_FIELDS}
    if not all(row.keys() <= PREDICTION_FIELDS for row in rows):
        details = columns["detail"]
        for i, row in enumerate(rows):
            extra = {k: v for k, v in row.items() if k not in PREDICTION_FIELDS}
            if extra:
                details[i] = {**(_mapping(i, "detail", details[i]) or {}), **extra}
    return columns, len(rows)


def prediction_columns(columns: dict[str, list], n: int, now: dt.datetime) -> dict[str, list]:
    """The checked ``predictions`` columns of :func:`as_columns`' ``columns``, with ``features``
    (:class:`FeatureVector` or None) and ``detail`` (JSON text or None), one object per distinct
    input object; the first problem of each check raises, naming the row and the field. Checks
    run column by column, over numpy arrays where the values are numbers."""
    out: dict[str, Any] = {}
    codes = _distinct(columns["competition"], _competition)
    out["competition"] = codes
    for field in ("model_name", "model_version", "home_team", "away_team"):
        out[field] = _texts(columns[field], field)
    same = _first([h == a for h, a in zip(out["home_team"], out["away_team"])])
    if same is not None:
        raise fail(same, "away_team", f"is the home team too ({out['home_team'][same]!r})")
    out["date"] = _distinct(columns["date"], lambda i, value: day(i, {"date": value}, "date"))
    for i, value in enumerate(columns["neutral"]):
        if value is not None and value is not False and value is not True and not isinstance(value, np.bool_):
            raise fail(i, "neutral", f"must be true or false, got {value!r}")
    out["neutral"] = [bool(v) for v in columns["neutral"]]
    for i, value in enumerate(columns["what_if"]):
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise fail(i, "what_if", f"must be true or false, got {value!r}")
    out["what_if"] = [bool(v) for v in columns["what_if"]]
    out.update(_probabilities_and_prices(columns, codes))
    out["created_at"] = _distinct(
        columns["created_at"], lambda i, value: now if value is None else timestamp(value, "created_at", i)
    )
    out["detail"] = _once_per_object(columns["detail"], lambda i, value: _encoded(i, "detail", value))
    vectors = _once_per_object(columns["features"], feature_vector)
    for i, vector in enumerate(vectors):
        if vector is not None and vector.values.shape != (len(vector.names),):
            raise fail(i, "features", f"{len(vector.names)} names but values of shape {vector.values.shape}")
    out["features"] = vectors
    return out


def _probabilities_and_prices(columns: dict[str, list], codes: list[str]) -> dict[str, list]:
    """The checked ``prob_*`` and ``price_*`` columns (None where null): one float matrix for
    all six, so the checks cost a few array operations whatever the number of rows."""
    values = [columns[f] for f in NUMERIC]
    n = len(codes)
    try:
        if any(bool in set(map(type, column)) for column in values):  # a C loop per column
            raise TypeError
        numbers = np.array(values, dtype=np.float64).reshape(len(NUMERIC), n).T
    except (TypeError, ValueError):  # name the first value that is not a number
        for i in range(n):
            for field, column in zip(NUMERIC, values):
                value = column[i]
                if value is not None and (
                    isinstance(value, (bool, np.bool_))
                    or not isinstance(value, (int, float, np.integer, np.floating))
                ):
                    raise fail(i, field, f"must be a number, got {value!r}") from None
        raise
    probs, prices = numbers[:, :3], numbers[:, 3:]
    given = ~np.isnan(probs)
    three_way = np.array([COMPETITIONS[c].outcomes == 3 for c in codes], dtype=bool)
    extra = _first(given[:, 1] & ~three_way)
    if extra is not None:
        raise fail(extra, "prob_draw", f"{codes[extra]} has no draw outcome")
    expected = given | True
    expected[:, 1] = three_way
    bad = _first(expected & ~((probs >= 0.0) & (probs <= 1.0)))  # row-major: first row, then field
    if bad is not None:
        row, j = divmod(bad, 3)
        raise fail(row, NUMERIC[j], f"must be a probability in [0, 1], got {values[j][row]!r}")
    total = np.where(given, probs, 0.0).sum(axis=1)
    off = _first(np.abs(total - 1.0) > SUM_TOLERANCE)
    if off is not None:
        raise fail(off, "prob_*", f"probabilities sum to {total[off]:.9f}, not 1")
    bad = _first(~np.isnan(prices) & ~(np.isfinite(prices) & (prices > 1.0)))
    if bad is not None:
        row, j = divmod(bad, 3)
        raise fail(row, NUMERIC[3 + j], f"must be a decimal price above 1, got {values[3 + j][row]!r}")
    return {
        field: [None if v != v else v for v in column] for field, column in zip(NUMERIC, numbers.T.tolist())
    }


def _distinct(values: list, convert) -> list:
    """A column whose few distinct values are each converted once by ``convert(index, value)``."""
    try:
        distinct = dict.fromkeys(values)
    except TypeError:  # an unhashable value: convert one by one (and refuse it)
        return [convert(i, value) for i, value in enumerate(values)]
    first = {}
    for i, value in enumerate(values):
        if value not in first:
            first[value] = i
            if len(first) == len(distinct):
                break
    done = {value: convert(i, value) for value, i in first.items()}
    return [done[value] for value in values]


def _once_per_object(values: list, convert) -> list:
    """``convert(index, value)`` of each value, once per distinct object (rows of one forecast
    share theirs)."""
    done: dict[int, Any] = {}
    for i, value in enumerate(values):
        if id(value) not in done:
            done[id(value)] = convert(i, value)
    return [done[id(value)] for value in values]


def _competition(index: int, code: Any) -> str:
    if not isinstance(code, str) or not code.strip():
        raise fail(index, "competition", f"must be a non-empty string, got {code!r}")
    if code.strip() not in COMPETITIONS:
        raise fail(index, "competition", f"unknown {code.strip()!r}; known: {', '.join(COMPETITIONS)}")
    return code.strip()


def _texts(values: list, field: str) -> list[str]:
    """A non-empty text column, stripped (each distinct value checked once: a batch names a
    few teams and one model many times)."""

    def text(i: int, value: Any) -> str:
        if type(value) is str and value.strip():
            return value.strip()
        if (
            field == "model_version"
            and isinstance(value, (int, np.integer))
            and not isinstance(value, (bool, np.bool_))
        ):
            return str(value)  # registry versions are numbers
        raise fail(i, field, f"must be a non-empty string, got {value!r}")

    if set(map(type, values)) - {str}:  # row by row: 1 and True would be one key of _distinct
        return [text(i, value) for i, value in enumerate(values)]
    return _distinct(values, text)


def _first(bad: Sequence[bool] | np.ndarray) -> int | None:
    """The flat (row-major) index of the first true value, None if none is."""
    bad = np.asarray(bad, dtype=bool).reshape(-1)
    first = int(bad.argmax()) if bad.size else 0
    return first if bad.size and bad[first] else None


def _mapping(index: int, field: str, value: Any) -> Mapping | None:
    """A dict field given as a dict or as its JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise fail(index, field, "is not valid JSON") from None
    if value is not None and not isinstance(value, Mapping):
        raise fail(index, field, f"must be a dict, got {type(value).__name__}")
    return value


def _encoded(index: int, field: str, value: Any) -> str | None:
    """``value`` (a dict or JSON text) as compact JSON text; NaN and infinities as null."""
    value = _mapping(index, field, value)
    if value is None:
        return None
    try:
        return pydantic_core.to_json(value, inf_nan_mode="null", fallback=_json_fallback).decode()
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as error:
        raise fail(index, field, f"cannot be stored as JSON ({error})") from None


def _json_fallback(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def feature_vector(index: int, value: Any) -> FeatureVector | None:
    """A row's ``features`` as a :class:`FeatureVector` (from a dict or its JSON text)."""
    if isinstance(value, FeatureVector):
        return value
    value = _mapping(index, "features", value)
    if value is None:
        return None
    for name, number in value.items():
        if not isinstance(name, str) or not (
            number is None
            or (
                isinstance(number, (int, float, np.integer, np.floating))
                and not isinstance(number, (bool, np.bool_))
            )
        ):
            raise fail(index, "features", f"{name!r} must be a number or null, got {number!r}")
    return FeatureVector(tuple(value), np.array(list(value.values()), dtype=np.float64))


def result_row(index: int, row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise ValueError(f"row {index}: must be a mapping of fields, got {type(row).__name__}")
    competition = _text(index, row, "competition")
    comp = COMPETITIONS.get(competition)
    if comp is None:
        raise fail(index, "competition", f"unknown {competition!r}; known: {', '.join(COMPETITIONS)}")
    out: dict[str, Any] = {
        "competition": competition,
        "date": day(index, row, "date"),
        "home_team": _text(index, row, "home_team"),
        "away_team": _text(index, row, "away_team"),
        "recorded_at": now,
    }
    if out["home_team"] == out["away_team"]:
        raise fail(index, "away_team", f"is the home team too ({out['home_team']!r})")
    for field in ("home_score", "away_score"):
        value = row.get(field)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or not 0 <= value <= comp.max_score
        ):
            raise fail(index, field, f"must be a whole number in 0..{comp.max_score}, got {value!r}")
        out[field] = int(value)
    return out


def scores(record: Mapping) -> tuple[int, int]:
    return record["home_score"], record["away_score"]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def fail(index: int, field: str, problem: str) -> ValueError:
    return ValueError(f"row {index}: {field}: {problem}")


def _text(index: int, row: Mapping, field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise fail(index, field, f"must be a non-empty string, got {value!r}")
    return value.strip()


def day(index: int, row: Mapping, field: str) -> dt.date:
    value = row.get(field)
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise fail(index, field, f"must be a date (YYYY-MM-DD), got {value!r}")


def timestamp(value: Any, field: str, index: int | None = None) -> dt.datetime:
    """A naive UTC datetime from a datetime (aware ones converted) or an ISO string."""
    stamp = value
    if isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            stamp = None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        stamp = dt.datetime(value.year, value.month, value.day)
    if not isinstance(stamp, dt.datetime):
        problem = f"must be a date-time (ISO 8601), got {value!r}"
        raise fail(index, field, problem) if index is not None else ValueError(f"{field}: {problem}")
    if isinstance(stamp, pd.Timestamp):
        stamp = stamp.to_pydatetime()
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    return stamp


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
