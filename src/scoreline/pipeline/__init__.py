"""Pipelines: typed YAML specs (``spec``) wired to parameterised notebooks run by papermill
(``runner``), with content-hash skipping and one MLflow parent run per pipeline run.

A spec lives in ``pipelines/<name>.yaml``; ``scoreline pipeline run <name>`` executes it.
"""

from scoreline.pipeline.runner import PipelineRun, StepFailed, StepResult, run_pipeline
from scoreline.pipeline.spec import (
    PipelineSpec,
    SpecError,
    StepSpec,
    apply_overrides,
    available_specs,
    load_spec,
)

__all__ = [
    "PipelineRun",
    "PipelineSpec",
    "SpecError",
    "StepFailed",
    "StepResult",
    "StepSpec",
    "apply_overrides",
    "available_specs",
    "load_spec",
    "run_pipeline",
]
