"""What every command shares: the ``--competition`` and ``--json`` options, one JSON object on
stdout for ``--json``, errors on stderr."""

from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn

import click

from scoreline.config import COMPETITIONS

__all__ = ["competition_option", "emit_json", "fail", "json_option", "pd_frame"]

#: ``--competition CODE`` (required), passed to the command as ``code``
competition_option = click.option(
    "--competition", "code", required=True, type=click.Choice(list(COMPETITIONS))
)
#: ``--json``, passed as ``as_json``: print one JSON object instead of tables
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")


#: significant digits a float keeps in ``--json``: binary noise (``9.329999999999998``) goes,
#: every figure a person or a program reads (probabilities, epoch seconds with ms) stays
SIGNIFICANT_DIGITS = 12


def json_safe(value: Any) -> Any:
    """NaN/inf are not JSON: emit them as null so any parser reads the output; other floats
    are rounded to :data:`SIGNIFICANT_DIGITS` (``9.33``, not ``9.329999999999998``)."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def emit_json(payload: dict) -> None:
    """Print ``payload`` as one JSON object (anything else as its text, NaN as null)."""
    click.echo(json.dumps(json_safe(json.loads(json.dumps(payload, default=str))), allow_nan=False))


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: bad input, 1: a verdict)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def pd_frame(rows: list[dict]):
    """A data frame of ``rows`` (pandas imported only by the commands that need it)."""
    import pandas as pd

    return pd.DataFrame(rows)
