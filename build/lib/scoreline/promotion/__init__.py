"""Promotion: register candidates in the MLflow Model Registry, gate them, move the aliases.

``scoreline-{code}`` is the registered model of a competition; ``champion`` is the version in
service, ``previous`` the one it replaced (:mod:`.registry`). A candidate from a training
pipeline (:mod:`.candidates`) is judged by :mod:`.gate` against ``registry/policy.yaml``
(:mod:`.policy`) and described by a model card (:mod:`.card`); :mod:`.promote` wires them.
"""

from scoreline.promotion.candidates import CandidateError
from scoreline.promotion.gate import GateResult, GateRow
from scoreline.promotion.policy import Policy, PolicyError, load_policy, parse_policy
from scoreline.promotion.promote import PromotionResult, find_policy, promote
from scoreline.promotion.registry import (
    CHAMPION,
    PREVIOUS,
    champion_history,
    champion_uri,
    champion_version,
    champions,
    promotion_lock,
    register_model,
    registered_model_name,
    registry_client,
    rollback,
    set_champion,
)

__all__ = [
    "CHAMPION",
    "PREVIOUS",
    "CandidateError",
    "GateResult",
    "GateRow",
    "Policy",
    "PolicyError",
    "PromotionResult",
    "champion_history",
    "champion_uri",
    "champion_version",
    "champions",
    "find_policy",
    "load_policy",
    "parse_policy",
    "promote",
    "promotion_lock",
    "register_model",
    "registered_model_name",
    "registry_client",
    "rollback",
    "set_champion",
]
