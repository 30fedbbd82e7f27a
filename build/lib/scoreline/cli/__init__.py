"""The ``scoreline`` command line (entry point ``scoreline.cli:main``), one module per command
group: :mod:`.data`, :mod:`.evaluation`, :mod:`.pipelines`, :mod:`.promotion`,
:mod:`.forecasts`, :mod:`.serving`, :mod:`.monitoring`, :mod:`.matchday`, :mod:`.operations`."""

from scoreline.cli.main import main

__all__ = ["main"]
