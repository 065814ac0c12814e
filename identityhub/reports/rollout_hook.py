"""ROLLOUT HOOK: the one place reports read the rollout app (steps 7/8), which is written alongside.

Without the rollout app (not installed, or its tables not migrated yet) every function here answers
None, and the workbook and the evidence pack say "rollout app not installed" instead of a score or
criteria. Everything reports/ knows of the rollout app's models is in this file.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection


def rollout_installed() -> bool:
    configs = [c for c in apps.get_app_configs() if c.name == "identityhub.rollout"]
    if not configs:
        return False
    models = list(configs[0].get_models())
    if not models:
        return False
    tables = set(connection.introspection.table_names())
    return all(m._meta.db_table in tables for m in models if m.__name__ in ("CriterionState", "SignOff", "Checkpoint"))


def readiness_score(tenant) -> int | None:
    """The tenant's readiness score now (0-100), or None without the rollout app or without a scan."""
    if not rollout_installed():
        return None
    from identityhub.rollout import score

    return score.tenant_score(tenant)


def score_of(objects_in_scope: int, by_severity: dict[str, int]) -> int | None:
    """The rollout app's readiness formula for one point of the trend; None without the app."""
    if not rollout_installed():
        return None
    from identityhub.rollout import score

    return score.readiness(objects_in_scope, by_severity)


def rollout_state(tenant) -> dict | None:
    """Where the tenant stands: step, percent, score, and every criterion with its evidence and sign-offs.

    None without the rollout app.
    """
    if not rollout_installed():
        return None
    from identityhub.rollout.criteria import CRITERIA, STEPS
    from identityhub.rollout.models import Checkpoint, CriterionState, SignOff

    checkpoint = Checkpoint.objects.filter(tenant=tenant).first()
    states = {s.code: s for s in CriterionState.objects.filter(tenant=tenant)}
    sign_offs = list(SignOff.objects.filter(tenant=tenant).select_related("user", "revoked_by").order_by("at", "pk"))
    criteria = []
    for criterion in CRITERIA:
        state = states.get(criterion.code)
        active = [s for s in sign_offs if s.code == criterion.code and s.revoked_at is None]
        last = active[-1] if active else None
        criteria.append(
            {
                "code": criterion.code,
                "step": criterion.step,
                "name": criterion.title,
                "proof": criterion.proof,
                "state": state.state if state else "unknown",
                "evidence": state.explanation if state else "",
                "evidence_url": state.evidence_url if state else "",
                "computed_at": state.computed_at if state else None,
                "signed_off_by": last.user.get_username() if last else "",
                "signed_off_at": last.at if last else None,
                "sign_off_comment": last.comment if last else "",
            }
        )
    return {
        "step": checkpoint.current_step if checkpoint else 7,
        "step_title": STEPS.get(checkpoint.current_step if checkpoint else 7, "done"),
        "percent": checkpoint.percent if checkpoint else 0,
        "score": readiness_score(tenant),
        "computed_at": checkpoint.computed_at if checkpoint else None,
        "criteria": criteria,
        "sign_offs": [
            {
                "code": s.code,
                "user": s.user.get_username(),
                "comment": s.comment,
                "at": s.at,
                "revoked_at": s.revoked_at,
                "revoked_by": s.revoked_by.get_username() if s.revoked_by_id else "",
            }
            for s in sign_offs
        ],
    }
