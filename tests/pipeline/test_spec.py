"""Pipeline specs: typed YAML, typos and missing notebooks fail before anything runs."""

from __future__ import annotations

import pydantic
import pytest

from scoreline.pipeline.spec import PipelineSpec, SpecError, apply_overrides, available_specs, load_spec


def test_load_spec_reads_typed_steps_and_effective_parameters(workspace):
    spec = load_spec("demo", workspace)
    assert spec.name == "demo" and spec.step_names == ["prepare", "train"]
    train = spec.step("train")
    assert train.inputs == ["data/prepared.json"]
    assert spec.effective_parameters(train) == {"season": 2000, "threshold": 0.5}
    assert load_spec(workspace / "pipelines" / "demo.yaml", workspace) == spec
    assert [p.stem for p in available_specs(workspace)] == ["demo", "failing"]


def test_spec_is_frozen(workspace):
    spec = load_spec("demo", workspace)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.name = "other"


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        (
            "steps:\n  - name: prepare\n    notebook: notebooks/01_prepare.ipynb\n    paramters: {a: 1}\n",
            "steps[0] (prepare).paramters: unknown field",
        ),
        ("setps: []\n", "setps: unknown field"),
        (
            "steps:\n  - name: prepare\n    notebook: notebooks/nope.ipynb\n",
            "steps[0] (prepare).notebook: notebook 'notebooks/nope.ipynb' does not exist",
        ),
        ("steps: []\n", "steps: List should have at least 1 item"),
        (
            "steps:\n  - {name: a, notebook: notebooks/01_prepare.ipynb}\n"
            "  - {name: a, notebook: notebooks/02_train.ipynb}\n",
            "step name 'a' is used twice",
        ),
        (
            "parameters: {from-season: 2012}\nsteps:\n  - {name: a, notebook: notebooks/01_prepare.ipynb}\n",
            "'from-season' is not a Python identifier",
        ),
        (
            "steps:\n  - {name: a, notebook: notebooks/01_prepare.ipynb, parameters: {run_dir: x}}\n",
            "'run_dir' is set by the runner",
        ),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_invalid_specs_name_the_field(workspace, yaml_text, expected):
    (workspace / "pipelines" / "bad.yaml").write_text(yaml_text)
    with pytest.raises(SpecError) as err:
        load_spec("bad", workspace)
    assert expected in str(err.value) and "pipelines/bad.yaml" in str(err.value)


def test_unknown_spec_lists_the_available_ones(workspace):
    with pytest.raises(SpecError, match="available: demo, failing"):
        load_spec("dmeo", workspace)


def test_overrides_parse_yaml_values_and_target_steps(workspace):
    spec = load_spec("demo", workspace)
    new = apply_overrides(
        spec, ["season=2012", "train.threshold=0.9", "prepare.label=x y", "flag=true", "codes=[E0, D1]"]
    )
    assert new.parameters == {"season": 2012, "flag": True, "codes": ["E0", "D1"]}
    assert new.effective_parameters(new.step("train")) == {
        "season": 2012,
        "flag": True,
        "codes": ["E0", "D1"],
        "threshold": 0.9,
    }
    assert new.step("prepare").parameters == {"label": "x y"}
    assert spec.parameters == {"season": 2000}  # the original is untouched
    assert isinstance(new, PipelineSpec)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("trian.threshold=1", "no step 'trian'; steps: prepare, train"),
        ("season", "expected key=value"),
        ("=3", "expected key=value"),
        ("run_dir=/x", "set by the runner"),
        ("train.bad-name=1", "not a Python identifier"),
    ],
)
def test_bad_overrides_fail(workspace, override, expected):
    with pytest.raises(SpecError, match=expected.replace("[", r"\[")):
        apply_overrides(load_spec("demo", workspace), [override])
