"""Reading the fields of fixture requests (dates, flags, prices) with errors that name the row,
and writing answer columns as JSON-ready values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoreline.forecasts.answer import finite_or_none

__all__ = ["fixture_dates", "flags", "json_column", "prices"]


def fixture_dates(given: pd.DataFrame) -> pd.Series:
    """Fixture dates (midnight, naive; a time zone's local date); absent or null means today's
    UTC date. Each distinct value is parsed once."""
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    if "date" not in given:
        return pd.Series(today, index=given.index, dtype="datetime64[ns]")
    raw = given["date"]
    if pd.api.types.is_datetime64_dtype(raw):
        return raw.dt.normalize().fillna(today).astype("datetime64[ns]")
    codes, distinct = pd.factorize(raw, use_na_sentinel=True)
    parsed: list[pd.Timestamp] = []
    for value in distinct:
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, TypeError):
            stamp = pd.NaT
        if stamp is pd.NaT:
            row = int(np.flatnonzero(codes == len(parsed))[0])
            raise ValueError(f"row {row}: date {raw[row]!r} is not a date (YYYY-MM-DD)")
        parsed.append(stamp.tz_localize(None) if stamp.tzinfo else stamp)
    days = pd.DatetimeIndex([*parsed, today], dtype="datetime64[ns]").normalize()
    return pd.Series(days.to_numpy()[codes], index=given.index)  # code -1 (null) -> today


def flags(given: pd.DataFrame, field: str) -> np.ndarray:
    """A boolean column (absent or null = False); anything but a boolean names its row."""
    if field not in given:
        return np.zeros(len(given), dtype=bool)
    values = given[field]
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(bool)
    ok = values.map(
        lambda v: v is None or isinstance(v, (bool, np.bool_)) or (isinstance(v, float) and np.isnan(v))
    ).to_numpy(bool)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"row {row}: {field} must be true or false, got {values[row]!r}")
    return values.astype("boolean").fillna(False).to_numpy(bool)


def prices(values: pd.Series, field: str) -> np.ndarray:
    """Decimal prices (> 1, finite) as floats; null = no price."""
    numeric = pd.to_numeric(values, errors="coerce").astype(np.float64)
    bad = (values.notna() & ~(np.isfinite(numeric) & (numeric > 1.0))).to_numpy(bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {row}: {field} must be a decimal price above 1, got {values[row]!r}")
    return numeric.to_numpy(np.float64)


def json_column(series: pd.Series) -> list:
    """A column as JSON-ready Python values (NaN/inf -> None, dates -> YYYY-MM-DD)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        text = series.dt.strftime("%Y-%m-%d")
        return text.astype(object).where(series.notna(), None).tolist()
    if pd.api.types.is_float_dtype(series):
        return finite_or_none(series.to_numpy(np.float64))
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return series.tolist()
    return [
        None if v is None or (isinstance(v, float) and not np.isfinite(v)) else v for v in series.tolist()
    ]
