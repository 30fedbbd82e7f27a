"""Pipeline specs: which notebooks run in which order with which parameters.

A spec is YAML in ``pipelines/<name>.yaml``, validated into frozen pydantic models before
anything runs, so a typo'd field, a bad parameter name or a missing notebook fails at once
with the field and step named::

    name: main
    description: ingest, features, backtest
    parameters:            # pipeline-level defaults, passed to every step
      competition: E0
    steps:
      - name: ingest
        notebook: notebooks/01_ingest.ipynb
      - name: backtest
        notebook: notebooks/03_backtest.ipynb
        parameters: {from_season: 2012}   # overrides the pipeline-level value for this step
        inputs: [data/store/CURRENT]      # content that invalidates the step when it changes
"""

from __future__ import annotations

import keyword
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

#: parameters the runner injects into every step; a spec may not set them
RESERVED_PARAMETERS = frozenset({"run_dir", "parent_run_id"})

#: parameters holding a file or folder (a URL is left alone): a relative value means what it means
#: where it was written (the spec's workspace, or the current directory for ``-p``), never
#: ``notebooks/`` where papermill runs the kernel
PATH_PARAMETERS = frozenset({"source", "fixtures"})

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


class SpecError(ValueError):
    """A pipeline spec (or an override of it) is invalid; raised before anything runs."""


def _check_parameter_names(parameters: dict[str, Any]) -> dict[str, Any]:
    # papermill injects each parameter as a Python assignment: the key must be an identifier
    for key in parameters:
        if not key.isidentifier() or keyword.iskeyword(key):
            raise ValueError(f"parameter name {key!r} is not a Python identifier")
        if key in RESERVED_PARAMETERS:
            raise ValueError(f"parameter {key!r} is set by the runner and cannot be given in a spec")
    return parameters


class StepSpec(BaseModel):
    """One pipeline step: a notebook executed with parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: used in output file names, MLflow metric names and ``step.key=value`` overrides
    name: str = Field(pattern=_NAME_PATTERN)
    #: path of the notebook relative to the workspace root (e.g. ``notebooks/02_features.ipynb``)
    notebook: str
    #: step-level parameters; they override the pipeline-level ones of the same name
    parameters: dict[str, Any] = {}
    #: workspace-relative files or folders whose content invalidates the step (e.g. ``data/store/CURRENT``);
    #: ``{name}`` is the step's parameter ``name`` (``registry/tuned/{competition}/{model}.json``)
    inputs: list[str] = []
    #: run every time, never skip: for a step whose real input lives outside the workspace (the
    #: ingest step reads a data folder or URL); such a step must be idempotent
    always: bool = False
    #: "day": reuse the step's output on the same UTC day only, even with unchanged inputs (the
    #: ingest: which fixtures count as played depends on the date)
    valid_for: Literal["day"] | None = None

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_parameter_names(value)

    @field_validator("notebook")
    @classmethod
    def _notebook_exists(cls, value: str, info: ValidationInfo) -> str:
        if not value.endswith(".ipynb"):
            raise ValueError(f"{value!r} is not a notebook (.ipynb)")
        workspace = (info.context or {}).get("workspace")
        if workspace is not None and not (Path(workspace) / value).is_file():
            raise ValueError(f"notebook {value!r} does not exist under {workspace}")
        return value


class PipelineSpec(BaseModel):
    """A named, ordered list of steps with pipeline-level parameter defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME_PATTERN)
    description: str = ""
    #: defaults passed to every step unless the step overrides them
    parameters: dict[str, Any] = {}
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_parameter_names(value)

    @model_validator(mode="after")
    def _unique_step_names(self) -> PipelineSpec:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step name {step.name!r} is used twice")
            seen.add(step.name)
        return self

    def step(self, name: str) -> StepSpec:
        for step in self.steps:
            if step.name == name:
                return step
        raise SpecError(f"pipeline {self.name!r} has no step {name!r}; steps: {', '.join(self.step_names)}")

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def effective_inputs(self, step: StepSpec, context: Mapping[str, Any] | None = None) -> list[str]:
        """``step.inputs`` with ``{name}`` replaced by the step's effective parameter ``name`` (or a
        ``context`` value such as ``data_source``), so a step reads only its own share of a folder
        (one model's tuned parameters) or names a folder outside the workspace."""
        values = {**(context or {}), **self.effective_parameters(step)}
        resolved = []
        for item in step.inputs:
            try:
                resolved.append(item.format_map(values))
            except (KeyError, ValueError, IndexError) as err:
                raise SpecError(
                    f"step {step.name!r}: input {item!r} names {err} that is not a parameter of the step"
                ) from None
        return resolved

    def effective_parameters(self, step: StepSpec) -> dict[str, Any]:
        """The parameters a step runs with: pipeline-level defaults overridden by the step's."""
        return {**self.parameters, **step.parameters}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _describe(error: ValidationError, data: Any) -> str:
    """One line per problem, with ``steps[1]`` rendered as the step's name when it has one."""
    lines = []
    for problem in error.errors():
        parts: list[str] = []
        loc = list(problem["loc"])
        for i, part in enumerate(loc):
            if isinstance(part, int) and i > 0 and loc[i - 1] == "steps":
                step = data.get("steps", [])[part] if isinstance(data, dict) else None
                label = step.get("name") if isinstance(step, dict) else None
                parts[-1] = f"steps[{part}]" + (f" ({label})" if label else "")
            else:
                parts.append(str(part))
        where = ".".join(parts) or "spec"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field (typo?)"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def parse_spec(data: Any, workspace: Path | None = None, source: str = "spec") -> PipelineSpec:
    """Validate a spec mapping; with ``workspace`` every notebook must exist under it."""
    context = {"workspace": Path(workspace)} if workspace is not None else None
    try:
        return PipelineSpec.model_validate(data, context=context)
    except ValidationError as err:
        raise SpecError(f"{source}: {_describe(err, data)}") from None


def spec_path(name_or_path: str | Path, workspace: Path) -> Path:
    """``pipelines/<name>.yaml`` for a bare name, else the path itself (relative to the workspace)."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text)
        return path if path.is_absolute() else (Path.cwd() / path if path.exists() else workspace / path)
    return workspace / "pipelines" / f"{text}.yaml"


def available_specs(workspace: Path) -> list[Path]:
    """The spec files under ``pipelines/``, sorted by name."""
    folder = Path(workspace) / "pipelines"
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def load_spec(name_or_path: str | Path, workspace: Path) -> PipelineSpec:
    """Read and validate a pipeline spec; the ``name`` defaults to the file's stem."""
    workspace = Path(workspace)
    path = spec_path(name_or_path, workspace)
    if not path.is_file():
        known = ", ".join(p.stem for p in available_specs(workspace)) or "none"
        raise SpecError(f"no pipeline spec {path}; available: {known}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping with 'steps', got {type(data).__name__}")
    data.setdefault("name", path.stem)
    try:
        source = str(path.relative_to(workspace))
    except ValueError:
        source = str(path)
    return parse_spec(data, workspace, source)


def absolute_paths(parameters: dict[str, Any], base: Path) -> dict[str, Any]:
    """``parameters`` with each relative :data:`PATH_PARAMETERS` value made absolute against
    ``base`` (URLs, empty strings and non-text values unchanged)."""
    out = dict(parameters)
    for key in PATH_PARAMETERS & out.keys():
        value = out[key]
        if isinstance(value, str) and value and not value.startswith(("http://", "https://")):
            out[key] = os.path.abspath(Path(base, Path(value).expanduser()))
    return out


def apply_overrides(
    spec: PipelineSpec, overrides: list[str] | tuple[str, ...], cwd: Path | None = None
) -> PipelineSpec:
    """A new spec with ``key=value`` (pipeline-level) and ``step.key=value`` (one step) applied.

    Values are parsed as YAML, so ``2012`` is an int, ``true`` a bool and ``[E0, D1]`` a list; a
    relative path (:data:`PATH_PARAMETERS`) is taken from ``cwd`` (default: the current directory),
    where the user typed it.
    """
    cwd = Path.cwd() if cwd is None else cwd
    data = spec.model_dump(mode="python")
    steps = {s["name"]: s for s in data["steps"]}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(f"override {item!r}: expected key=value or step.key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise SpecError(f"override {item!r}: value is not valid YAML: {err}") from None
        if "." in key:
            step_name, _, key = key.partition(".")
            if step_name not in steps:
                raise SpecError(
                    f"override {item!r}: pipeline {spec.name!r} has no step {step_name!r}; "
                    f"steps: {', '.join(steps)}"
                )
            steps[step_name]["parameters"].update(absolute_paths({key: value}, cwd))
        else:
            data["parameters"].update(absolute_paths({key: value}, cwd))
    return parse_spec(data, None, f"{spec.name} with overrides {list(overrides)}")
