"""The in-game champion of a competition from the MLflow Model Registry
(``models:/scoreline-{code}-ingame@champion``): a pyfunc whose Python model honours the in-game
contract (:class:`scoreline.live.model.InGameModel`)."""

from __future__ import annotations

from scoreline.config import Settings
from scoreline.live.model import InGameModel
from scoreline.promotion.registry import registry_client
from scoreline.tracking.experiments import tracking_uri

__all__ = ["ingame_champion", "ingame_model_name"]

CHAMPION = "champion"


def ingame_model_name(code: str) -> str:
    """``scoreline-{code}-ingame``: the registered in-game model of a competition."""
    return f"scoreline-{code}-ingame"


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
    mlflow.set_tracking_uri(tracking_uri(settings))
    model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}").unwrap_python_model()
    model = getattr(model, "model", model)
    missing = [m for m in ("predict_states", "predict_halftime") if not callable(getattr(model, m, None))]
    if missing:
        raise ValueError(f"{name} v{version.version} has no {', '.join(missing)}: not an in-game model")
    model.version = str(version.version)
    if not getattr(model, "model_name", None):
        model.model_name = version.tags.get("model_name", name)
    return model
