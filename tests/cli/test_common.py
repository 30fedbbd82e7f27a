"""What every command shares: ``--json`` prints one JSON object, without float noise."""

from __future__ import annotations

import json

from scoreline.cli.common import emit_json


def test_json_floats_carry_no_binary_noise_and_nan_is_null(capsys):
    emit_json({"pnl": 9.329999999999998, "sum": 0.1 + 0.2, "rps": 0.20021791706981248, "gap": float("nan")})
    text = capsys.readouterr().out
    assert json.loads(text) == {"pnl": 9.33, "sum": 0.3, "rps": 0.20021791707, "gap": None}
    assert "9.3299" not in text and "0.30000000000000004" not in text
