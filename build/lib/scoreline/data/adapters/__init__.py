"""Source adapters: one module per data source, each turning its files into canonical rows.

Every adapter module exposes ``discover(root) -> list[Path]`` (the files it reads under a local
source folder) and ``read(path, root) -> FileRead``. A competition names its adapter in
:data:`scoreline.config.COMPETITIONS`; adding a competition is one adapter plus one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import ModuleType

import pandas as pd


@dataclass(frozen=True)
class FileRead:
    """The rows read from one source file.

    ``frame`` holds canonical columns plus ``problems`` (per-row parse problems, "" if none);
    ``rows`` counts the file's non-blank data rows, all of which are in ``frame``.
    """

    file: str
    frame: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rows(self) -> int:
        return len(self.frame)


def adapter(name: str) -> ModuleType:
    """The adapter module called ``name`` (e.g. ``football_data``)."""
    return import_module(f"{__name__}.{name}")


def display_name(path: Path, root: Path) -> str:
    """A file's name relative to the source root, as shown in summaries and quarantine rows."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
