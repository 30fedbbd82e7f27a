"""MLflow tracking: experiments and runs (:mod:`.experiments`), what runs log (:mod:`.logs`),
the pyfunc model that forecasts raw fixtures (:mod:`.pyfunc`, :mod:`.detail`,
:mod:`.packaging`) and training a catalogue model into a run (:mod:`.training`).

Models logged before this package was split were pickled as ``scoreline.tracking.MatchModelPyfunc``
and ``scoreline.tracking.PointsDetail``: both names stay importable here so they still load.
"""

from scoreline.tracking.detail import fit_detail, fit_points_detail
from scoreline.tracking.experiments import (
    DEFAULT_EXPERIMENT,
    experiment_id,
    git_commit,
    step_run,
    tracking_uri,
)
from scoreline.tracking.logs import log_backtest, log_data_snapshot
from scoreline.tracking.packaging import example_fixtures, log_model, model_requirements
from scoreline.tracking.pyfunc import (
    FIXTURE_COLUMNS,
    HISTORY_COLUMNS,
    PRE_CLOSING_PRICES,
    FixtureFrame,
    MatchModelPyfunc,
    PointsDetail,
    RowCache,
    reads_prices,
)
from scoreline.tracking.training import train_and_log

__all__ = [
    "DEFAULT_EXPERIMENT",
    "FIXTURE_COLUMNS",
    "HISTORY_COLUMNS",
    "PRE_CLOSING_PRICES",
    "FixtureFrame",
    "MatchModelPyfunc",
    "PointsDetail",
    "RowCache",
    "example_fixtures",
    "experiment_id",
    "fit_detail",
    "fit_points_detail",
    "git_commit",
    "log_backtest",
    "log_data_snapshot",
    "log_model",
    "model_requirements",
    "reads_prices",
    "step_run",
    "tracking_uri",
    "train_and_log",
]
