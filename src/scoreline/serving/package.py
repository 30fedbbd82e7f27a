"""Champions from the MLflow Model Registry into the BentoML model store, where the service reads
them.

Each competition's ``champion`` becomes a BentoML model ``scoreline-<code>`` (MLflow flavour,
the pyfunc's files copied in) labelled with its competition, registered model, registry version
and catalogue model name. The service, a built bento and a container read only this store, never
the tracking store. Exporting is idempotent: a champion already exported is not copied again,
and a new champion becomes the store's latest version of that name.
"""

from __future__ import annotations

import os
import subprocess  # runs `bentoml build` with fixed arguments  # nosec B404
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scoreline.config import COMPETITIONS, Settings, competition

if TYPE_CHECKING:
    import bentoml

    from scoreline.forecasts.forecaster import Forecaster

__all__ = [
    "BENTOFILE",
    "ExportedChampion",
    "bento_model_name",
    "bentoml_store",
    "build_bento",
    "export_champions",
    "export_ingame_champions",
    "export_ingame_model",
    "ingame_bento_name",
    "load_forecaster",
    "served_ingame_models",
    "served_models",
]

#: the bentofile, relative to the workspace root (the build context)
BENTOFILE = Path("bentos") / "bentofile.yaml"
#: label marking a BentoML model as a Scoreline champion
ROLE_LABEL = ("role", "scoreline-champion")
#: the pickled in-game model inside its BentoML model folder
INGAME_FILE = "ingame.pkl"
#: label marking a BentoML model as a Scoreline in-game champion
INGAME_ROLE_LABEL = ("role", "scoreline-ingame-champion")


def bento_model_name(code: str) -> str:
    """``scoreline-<code>`` in lower case (BentoML model names are lower case)."""
    return f"scoreline-{competition(code).code.lower()}"


@dataclass(frozen=True)
class ExportedChampion:
    """One champion in the BentoML store."""

    competition: str
    registered_model: str
    registry_version: str
    model_name: str
    bento_model: str
    #: False when this champion was already in the store
    created: bool

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def bentoml_store(settings: Settings) -> Iterator[None]:
    """BentoML's model store pointed at ``settings.bentoml_home`` for the duration (BentoML keeps
    one process-wide store; the previous one is restored)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    folder = settings.bentoml_home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    previous = BentoMLContainer.model_store.get()
    BentoMLContainer.model_store.set(ModelStore(str(folder)))
    try:
        yield
    finally:
        BentoMLContainer.model_store.set(previous)


def _latest(name: str) -> bentoml.Model | None:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.get(f"{name}:latest")
    except NotFound:
        return None


def _catalogue_name(client, version) -> str:
    """The catalogue model name (``dixon_coles``) of a registry version: its tag, else its run's
    ``model_name`` parameter."""
    if version.tags.get("model_name"):
        return version.tags["model_name"]
    if version.run_id:
        return client.get_run(version.run_id).data.params.get("model_name", "unknown")
    return "unknown"


def export_champions(settings: Settings, codes: Iterable[str] | None = None) -> list[ExportedChampion]:
    """Copy the ``champion`` of every competition that has one (or of ``codes``, each of which
    must have one) into the BentoML store at ``settings.bentoml_home``."""
    import bentoml
    import mlflow

    from scoreline.promotion import champions, registered_model_name, registry_client

    found = champions(settings)
    wanted = list(codes) if codes else list(found)
    missing = [c for c in wanted if c not in found]
    if missing or not wanted:
        raise ValueError(
            f"no champion for {', '.join(missing) or 'any competition'} in the registry at "
            f"{settings.mlflow_tracking_uri}: register and promote a model first"
        )
    client = registry_client(settings)
    exported = []
    with bentoml_store(settings):
        for code in wanted:
            version, registered = found[code], registered_model_name(code)
            name = bento_model_name(code)
            current = _latest(name)
            if (
                current is not None
                and current.info.labels.get("registry_version") == str(version.version)
                and current.info.labels.get("registered_model") == registered
            ):
                exported.append(
                    ExportedChampion(
                        code,
                        registered,
                        str(version.version),
                        current.info.labels.get("model_name", "unknown"),
                        str(current.tag),
                        created=False,
                    )
                )
                continue
            model_name = _catalogue_name(client, version)
            source = client.get_model_version_download_uri(registered, str(version.version))
            with tempfile.TemporaryDirectory(dir=settings.bentoml_home) as scratch:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=source, dst_path=scratch, tracking_uri=settings.mlflow_tracking_uri
                )
                labels = {
                    "competition": code,
                    "registered_model": registered,
                    "registry_version": str(version.version),
                    "model_name": model_name,
                    ROLE_LABEL[0]: ROLE_LABEL[1],
                }
                stored = bentoml.mlflow.import_model(
                    name,
                    model_uri=local,
                    labels=labels,
                    metadata={
                        **labels,
                        "run_id": version.run_id or "",
                        "source": source,
                        "teams": _known_teams(local),
                    },
                )
            exported.append(
                ExportedChampion(
                    code, registered, str(version.version), model_name, str(stored.tag), created=True
                )
            )
    return exported


def _known_teams(local: str) -> list[str]:
    """Every team in the champion's history: the names its forecasts accept, which the service's
    schema lists (an exported model's metadata is read without loading the model)."""
    import mlflow

    history = mlflow.pyfunc.load_model(local, suppress_warnings=True).unwrap_python_model().history
    return sorted(set(history["home_team"].astype(str)) | set(history["away_team"].astype(str)))


def served_teams(models: dict[str, bentoml.Model]) -> dict[str, list[str]]:
    """Per exported champion, the teams recorded at export (empty for an older export)."""
    found = {code: model.info.metadata.get("teams") for code, model in models.items()}
    return {code: [str(t) for t in teams] if isinstance(teams, list) else [] for code, teams in found.items()}


def served_models(codes: Iterable[str] = ()) -> dict[str, bentoml.Model]:
    """The latest champion model per competition in BentoML's current store (the workspace's, or
    a bento's own): of ``codes`` (each must be present), else of every competition found."""
    wanted = list(codes)
    found = {}
    for code in wanted or COMPETITIONS:
        model = _latest(bento_model_name(code))
        if model is not None and model.info.labels.get(ROLE_LABEL[0]) == ROLE_LABEL[1]:
            found[code] = model
    missing = [c for c in wanted if c not in found]
    if missing:
        raise LookupError(
            f"no exported champion for {', '.join(missing)} in the BentoML store: "
            "run `scoreline package` first"
        )
    return found


def load_forecaster(model: bentoml.Model) -> Forecaster:
    """The :class:`~scoreline.forecasts.forecaster.Forecaster` of an exported champion (model name
    and version from its labels). MLflow loads it without comparing the model's pinned
    requirements with the installed packages: that check reads the file list of every installed
    distribution, 0.6 s of each worker's start, and the service's environment is the one its
    requirements were locked for."""
    import bentoml
    import mlflow

    from scoreline.forecasts.forecaster import Forecaster

    labels = model.info.labels
    pyfunc = mlflow.pyfunc.load_model(
        model.path_of(bentoml.mlflow.MLFLOW_MODEL_FOLDER), suppress_warnings=True
    )
    return Forecaster.from_pyfunc(
        pyfunc,
        model_name=labels.get("model_name", "unknown"),
        version=labels.get("registry_version", str(model.tag.version)),
        competition=labels["competition"],
    )


def ingame_bento_name(code: str) -> str:
    """``scoreline-<code>-ingame``: an in-game champion in the BentoML store."""
    return f"{bento_model_name(code)}-ingame"


def export_ingame_model(settings: Settings, code: str, model) -> str:
    """Save an in-game model (the in-game contract, :class:`scoreline.live.model.InGameModel`)
    into the BentoML store as ``scoreline-<code>-ingame`` (cloudpickled); returns its tag. An
    identical model (same name and version) already there is kept."""
    import bentoml
    import cloudpickle

    labels = {
        "competition": code,
        "model_name": str(model.model_name),
        "registry_version": str(model.version),
        INGAME_ROLE_LABEL[0]: INGAME_ROLE_LABEL[1],
    }
    with bentoml_store(settings):
        current = _latest(ingame_bento_name(code))
        if current is not None and all(current.info.labels.get(k) == v for k, v in labels.items()):
            return str(current.tag)
        with bentoml.models.create(ingame_bento_name(code), labels=labels) as stored:
            with open(stored.path_of(INGAME_FILE), "wb") as handle:
                cloudpickle.dump(model, handle)
    return str(stored.tag)


def export_ingame_champions(settings: Settings, codes: Iterable[str]) -> dict[str, str]:
    """Copy the in-game champion of each of ``codes`` that has one in the registry into the
    BentoML store; returns the stored tags by competition."""
    from scoreline.live.champion import ingame_champion, ingame_model_name
    from scoreline.promotion import registry_client

    client = registry_client(settings)
    exported = {}
    for code in codes:
        if not client.search_model_versions(f"name = '{ingame_model_name(code)}'", max_results=1):
            continue
        exported[code] = export_ingame_model(settings, code, ingame_champion(settings, code))
    return exported


def served_ingame_models(codes: Iterable[str] = ()) -> dict[str, bentoml.Model]:
    """The latest in-game champion per competition in BentoML's current store (none is fine:
    ``POST /live/predict`` then answers 404 for that competition)."""
    found = {}
    for code in codes or COMPETITIONS:
        model = _latest(ingame_bento_name(code))
        if model is not None and model.info.labels.get(INGAME_ROLE_LABEL[0]) == INGAME_ROLE_LABEL[1]:
            found[code] = model
    return found


def load_ingame(model: bentoml.Model):
    """The in-game model saved by :func:`export_ingame_model`, its version from the labels.
    Unpickling runs the stored code: only models this workspace exported are loaded."""
    import pickle  # nosec B403

    with open(model.path_of(INGAME_FILE), "rb") as handle:
        loaded = pickle.load(handle)  # a model this workspace exported  # nosec B301
    loaded.version = model.info.labels.get("registry_version", str(model.tag.version))
    return loaded


def build_bento(settings: Settings) -> str:
    """``bentoml build`` of the service with the store's champions; returns the bento tag.

    The build context is the checkout this package runs from (its ``src/scoreline``,
    ``bentos/bentofile.yaml`` and ``requirements.lock`` go into the bento); packages are not
    re-locked (that needs the network).
    """
    checkout = Path(__file__).resolve().parents[3]
    if not (checkout / BENTOFILE).is_file():
        raise RuntimeError(f"building a bento needs a Scoreline checkout; {checkout} has no {BENTOFILE}")
    env = {**os.environ, "BENTOML_HOME": str(settings.bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(  # nosec B603
        [
            sys.executable,
            "-m",
            "bentoml",
            "build",
            "-f",
            str(checkout / BENTOFILE),
            "-o",
            "tag",
            str(checkout),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bentoml build failed:\n{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
