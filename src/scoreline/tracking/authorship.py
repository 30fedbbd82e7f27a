"""Who made a registered model version, where MLflow's UI can show it.

The UI's "Created by" of a model version is ``ModelVersion.user_id``, and MLflow 3.17.2 never
fills it: the ``CreateModelVersion`` request has no user field (name, source, run_id, tags,
run_link, description, model_id), ``UpdateModelVersion`` takes only the description, and the
SQL store builds the row without ``user_id`` (``SqlAlchemyStore.create_model_version``; the
column is only ever reset, to None, when a version is deleted). Writing the column behind
MLflow's back would work for a local SQLite registry but not for the team mode's tracking
server, so the user goes where every store keeps it: the version's ``mlflow.user`` tag (the tag
the fluent API records a run's user in) and the first words of its description, both shown
on the version page.
"""

from __future__ import annotations

import getpass

__all__ = ["USER_TAG", "authored_description", "current_user"]

#: the version tag naming who registered it (the run tag MLflow's fluent API uses for a user)
USER_TAG = "mlflow.user"


def current_user() -> str:
    """The login name of this process's user (``unknown`` where the system has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no LOGNAME/USER (some containers)
        return "unknown"


def authored_description(description: str, user: str) -> str:
    """``description`` led by who registered the version: ``Registered by ana. ...``."""
    return f"Registered by {user}." + (f" {description}" if description else "")
