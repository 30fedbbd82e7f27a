"""Small football-data.co.uk style CSV files written by the tests."""

from __future__ import annotations

from pathlib import Path

HEADER = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,HS,AS,B365H,B365D,B365A,PSCH,PSCD,PSCA"
ROWS = [
    "E0,12/08/22,Arsenal,Chelsea,2,1,H,12,8,2.10,3.40,3.60,2.05,3.50,3.80",
    "E0,13/08/22,Everton,Fulham,0,0,D,9,10,2.40,3.20,3.10,2.45,3.25,3.05",
    "E0,14/08/22,Leeds,Wolves,1,3,A,11,14,2.60,3.30,2.80,2.62,3.35,2.85",
]


def write_season(
    folder: Path,
    name: str = "E0_2223.csv",
    rows: list[str] | None = None,
    header: str = HEADER,
    bom: bool = False,
    trailer: str = "",
) -> Path:
    path = folder / "soccer" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join([header, *(ROWS if rows is None else rows)]) + "\n" + trailer
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path
