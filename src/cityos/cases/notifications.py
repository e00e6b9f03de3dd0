"""Telling people about cases: e-mail to followers, webhook events for integrations.

Messages are queued in the caller's transaction (``notify.service``) and sent by the
worker, so a rolled-back change never sends anything. Payloads carry no personal data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityos.auth import service as auth_service
from cityos.auth.models import Role
from cityos.cases.models import Case, CaseFollower, CaseUpdate, Escalation
from cityos.notify import service as notify_service

STATUS_WORDS = {
    "submitted": "received",
    "acknowledged": "acknowledged",
    "in_progress": "being worked on",
    "action_scheduled": "scheduled for action",
    "resolved": "resolved",
    "closed": "closed",
    "reopened": "reopened",
}


def tracking_url(base_url: str, case: Case) -> str:
    return f"{base_url.rstrip('/')}/track/{case.id}"


def public_payload(case: Case, *, service_code: str | None = None) -> dict[str, Any]:
    """What integrations receive about a case: no contact details, no device or address ids."""
    return {
        "id": case.id,
        "service_code": service_code or case.category.service_code,
        "status": case.status,
        "close_reason": case.close_reason,
        "priority": case.priority,
        "lon": case.lon,
        "lat": case.lat,
        "area_id": case.area_id,
        "department_id": case.department_id,
        "source": case.source,
        "requested_at": case.requested_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "expected_at": case.resolve_due_at.isoformat() if case.resolve_due_at else None,
        "duplicate_of": case.duplicate_of_id,
    }


def case_opened(
    db_session: Session,
    case: Case,
    *,
    service_code: str,
    names: tuple[str, str],
    base_url: str,
    reporter_email: str | None,
) -> None:
    """``names``: the category's English and Chinese names (the case's category may not be
    loaded yet; intake passes what it has)."""
    payload = public_payload(case, service_code=service_code)
    notify_service.emit(db_session, event="case.created", payload=payload)
    if reporter_email:
        notify_service.queue_email(
            db_session,
            to=reporter_email,
            subject=f"Case {case.id} received: {names[0]} / {names[1]}",
            body=(
                f"Thank you. Your report has tracking number {case.id}.\n"
                f"感谢您的反映，受理编号 {case.id}。\n\n"
                f"Follow it here / 查看进度: {tracking_url(base_url, case)}\n"
                f"If it is not fixed, reopen it with this link (keep it private) / "
                f"如未解决，可用此链接重新打开（请勿转发）:\n"
                f"{tracking_url(base_url, case)}?key={case.token}\n"
            ),
            topic="case.created",
        )


def case_updated(db_session: Session, case: Case, update: CaseUpdate, *, base_url: str) -> None:
    """A change: webhooks always; followers by e-mail when the update is public."""
    payload = public_payload(case) | {
        "update": {
            "kind": update.kind,
            "status": update.status_to,
            "note": update.note if update.public else "",
            "public": update.public,
            "at": update.at.isoformat(),
        }
    }
    notify_service.emit(db_session, event=f"case.{update.kind}", payload=payload)
    if not update.public:
        return
    followers = db_session.scalars(
        select(CaseFollower).where(CaseFollower.case_id == case.id)
    ).all()
    words = STATUS_WORDS.get(case.status, case.status)
    for follower in followers:
        unsubscribe = f"{base_url.rstrip('/')}/track/unfollow/{follower.unsubscribe_token}"
        notify_service.queue_email(
            db_session,
            to=follower.email,
            subject=f"Case {case.id} is {words}: {case.category.name_en} / {case.category.name_zh}",
            body=(
                f"Case {case.id} ({case.category.name_en} / {case.category.name_zh}) is now "
                f"{words}.\n\n{update.note}\n\n"
                f"Details and reopening / 详情与重新打开: {tracking_url(base_url, case)}\n"
                f"Stop these e-mails / 退订: {unsubscribe}\n"
            ),
            topic=f"case.{update.kind}",
        )


def escalated(db_session: Session, case: Case, escalation: Escalation, *, base_url: str) -> int:
    """Tell the department's supervisors (or, in triage, the operators); returns how many."""
    if escalation.department_id is not None:
        people = auth_service.list_department_users(
            db_session, department_id=escalation.department_id, role=Role.SUPERVISOR
        )
    else:
        people = [u for u in auth_service.list_users(db_session) if Role.OPERATOR in u.roles]
    what = "is about to miss" if escalation.stage == "imminent" else "has missed"
    for person in people:
        notify_service.queue_email(
            db_session,
            to=person.email,
            subject=f"SLA: case {case.id} {what} its {escalation.clock} target",
            body=(
                f"Case {case.id} ({case.category.name_en} / {case.category.name_zh}) {what} "
                f"its {escalation.clock} target, due {escalation.due_at.isoformat()}.\n"
                f"Open it: {base_url.rstrip('/')}/staff/cases/{case.id}\n"
            ),
            topic="case.escalation",
        )
    notify_service.emit(
        db_session,
        event="case.escalation",
        payload=public_payload(case) | {"clock": escalation.clock, "stage": escalation.stage},
    )
    return len(people)
