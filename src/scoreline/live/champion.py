"""The in-game champion of a competition from the MLflow Model Registry
(``models:/scoreline-{code}-ingame@champion``, registered by :mod:`scoreline.promotion.ingame`):
the :class:`~scoreline.models.ingame.forecaster.InGameForecaster` inside its pyfunc, which
honours the in-game contract (:class:`scoreline.live.model.InGameModel`)."""

from __future__ import annotations

from scoreline.config import Settings
from scoreline.live.model import InGameModel
from scoreline.promotion.ingame import TASK
from scoreline.promotion.registry import CHAMPION, champion_uri, registered_model_name, registry_client
from scoreline.tracking.experiments import tracking_on, tracking_uri

__all__ = ["ingame_champion", "ingame_model_name"]


def ingame_model_name(code: str) -> str:
    """``scoreline-{code}-ingame``: the registered in-game model of a competition."""
    return registered_model_name(code, TASK)


def ingame_champion(settings: Settings, code: str) -> InGameModel:
    """The in-game champion, its ``version`` set to the registry version; ValueError when there
    is none or it does not honour the in-game contract."""
    import mlflow.exceptions

    name = ingame_model_name(code)
    client = registry_client(settings)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        raise ValueError(
            f"{code} has no in-game champion ({name}@{CHAMPION} in {tracking_uri(settings)}): "
            "train and register the in-game models first"
        ) from None
    with tracking_on(tracking_uri(settings)):
        model = mlflow.pyfunc.load_model(champion_uri(code, TASK)).unwrap_python_model()
    model = getattr(model, "forecaster", model)
    missing = [m for m in ("start_game", "halftime") if not callable(getattr(model, m, None))]
    if missing:
        raise ValueError(f"{name} v{version.version} has no {', '.join(missing)}: not an in-game model")
    model.version = str(version.version)
    if not getattr(model, "model_name", None):
        model.model_name = version.tags.get("model_name", "ingame")
    return model
