"""Sign-in pages and the admin pages for departments, users and API keys."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cityos.auth import service
from cityos.auth.models import Role
from cityos.auth.security import sign
from cityos.deps import (
    SESSION_COOKIE,
    SESSION_SALT,
    ActorDep,
    AdminUser,
    CurrentUser,
    SessionDep,
    SettingsDep,
    client_ip,
    session_token,
)
from cityos.errors import CityOSError, Forbidden, InvalidInput, RateLimited
from cityos.web.render import PageDep
from cityos.web.views import safe_next

router = APIRouter(include_in_schema=False)


def policy_from(settings: SettingsDep) -> service.LoginPolicy:
    return service.LoginPolicy(
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_window_minutes),
        session_length=timedelta(hours=settings.session_hours),
    )


# --- sign in / out ---------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(page: PageDep, next: str = "/") -> HTMLResponse:
    return page.render("login.html", {"next": safe_next(next), "email": ""})


@router.post("/login")
def login(
    request: Request,
    page: PageDep,
    db: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    policy = policy_from(settings)
    try:
        user = service.authenticate(
            db, email=email, password=password, ip=client_ip(request), policy=policy
        )
    except CityOSError as error:
        context = {"next": safe_next(next), "email": email, "error": page.t(f"login.{error.code}")}
        refused = page.render("login.html", context, status_code=error.status_code)
        if isinstance(error, RateLimited):
            refused.headers["Retry-After"] = str(error.retry_after)
        return refused
    token = service.start_session(db, user=user, policy=policy, ip=client_ip(request))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign(request.app.state.secret_key, token, salt=SESSION_SALT),
        max_age=int(policy.session_length.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, db: SessionDep, user: CurrentUser) -> Response:
    token = session_token(request)
    if token:
        service.end_session(db, token=token, user=user, ip=client_ip(request))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- departments -----------------------------------------------------------------------


@router.get("/admin/departments", response_class=HTMLResponse)
def departments_page(page: PageDep, db: SessionDep, _admin: AdminUser) -> HTMLResponse:
    return page.render("admin/departments.html", {"departments": service.list_departments(db)})


@router.post("/admin/departments")
def create_department(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    code: Annotated[str, Form()],
    name_zh: Annotated[str, Form()],
    name_en: Annotated[str, Form()],
    parent: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.create_department(
            db, code=code, name_zh=name_zh, name_en=name_en, parent_code=parent or None, actor=actor
        )
    except CityOSError as error:
        db.rollback()
        context = {"departments": service.list_departments(db), "error": error.message}
        return page.render("admin/departments.html", context, status_code=error.status_code)
    return RedirectResponse(f"/admin/departments/{code.strip()}", status_code=303)


@router.get("/admin/departments/{code}", response_class=HTMLResponse)
def department_page(page: PageDep, db: SessionDep, user: CurrentUser, code: str) -> HTMLResponse:
    department = service.get_department(db, code=code)
    is_admin = user.has_role(Role.ADMIN)
    if not is_admin and (user.department is None or user.department.id != department.id):
        raise Forbidden("You can only see the page of your own department.")
    return page.render(
        "admin/department.html",
        {
            "department": department,
            "members": service.list_users(db, department_code=code),
            "departments": service.list_departments(db),
            "can_edit": is_admin,
        },
    )


@router.post("/admin/departments/{code}")
def update_department(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    code: str,
    name_zh: Annotated[str, Form()],
    name_en: Annotated[str, Form()],
    parent: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.update_department(
            db, code=code, name_zh=name_zh, name_en=name_en, parent_code=parent or None, actor=actor
        )
    except CityOSError as error:
        db.rollback()
        department = service.get_department(db, code=code)
        context = {
            "department": department,
            "members": service.list_users(db, department_code=code),
            "departments": service.list_departments(db),
            "can_edit": True,
            "error": error.message,
        }
        return page.render("admin/department.html", context, status_code=error.status_code)
    return RedirectResponse(f"/admin/departments/{code}", status_code=303)


# --- users -----------------------------------------------------------------------------


def _users_context(db: SessionDep) -> dict[str, object]:
    return {
        "users": service.list_users(db),
        "departments": service.list_departments(db),
        "roles": list(Role),
    }


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(page: PageDep, db: SessionDep, _admin: AdminUser) -> HTMLResponse:
    return page.render("admin/users.html", _users_context(db))


@router.post("/admin/users")
def create_user(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    display_name: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        service.create_user(
            db,
            email=email,
            password=password,
            display_name=display_name,
            roles=roles or [],
            department_code=department or None,
            actor=actor,
        )
    except CityOSError as error:
        db.rollback()
        context = {**_users_context(db), "error": error.message}
        return page.render("admin/users.html", context, status_code=error.status_code)
    return RedirectResponse("/admin/users?created=1", status_code=303)


@router.post("/admin/users/{user_id}")
def update_user(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    _admin: AdminUser,
    user_id: int,
    display_name: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    is_active: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.update_user(
            db,
            user_id=user_id,
            display_name=display_name,
            roles=roles or [],
            department_code=department or None,
            is_active=is_active == "on",
            actor=actor,
        )
    except CityOSError as error:
        db.rollback()
        context = {**_users_context(db), "error": error.message}
        return page.render("admin/users.html", context, status_code=error.status_code)
    return RedirectResponse("/admin/users", status_code=303)


# --- API keys --------------------------------------------------------------------------


def _keys_context(db: SessionDep, user: CurrentUser) -> dict[str, object]:
    is_admin = user.has_role(Role.ADMIN)
    return {
        "keys": service.list_api_keys(db, user=None if is_admin else user),
        "users": service.list_users(db) if is_admin else [user],
        "is_admin": is_admin,
    }


@router.get("/admin/api-keys", response_class=HTMLResponse)
def api_keys_page(page: PageDep, db: SessionDep, user: CurrentUser) -> HTMLResponse:
    return page.render("admin/api_keys.html", _keys_context(db, user))


def parse_expiry(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date; use YYYY-MM-DD.") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


@router.post("/admin/api-keys")
def create_api_key(
    page: PageDep,
    db: SessionDep,
    actor: ActorDep,
    user: CurrentUser,
    name: Annotated[str, Form()] = "",
    owner: Annotated[str, Form()] = "",
    expires: Annotated[str, Form()] = "",
) -> Response:
    try:
        target = user
        if owner and owner != user.email:
            if not user.has_role(Role.ADMIN):
                raise Forbidden("Only admins can create keys for other users.")
            target = service.get_user_by_email(db, email=owner)
        _key, raw = service.create_api_key(
            db, user=target, name=name, expires_at=parse_expiry(expires), actor=actor
        )
    except CityOSError as error:
        db.rollback()
        context = {**_keys_context(db, user), "error": error.message}
        return page.render("admin/api_keys.html", context, status_code=error.status_code)
    return page.render("admin/api_keys.html", {**_keys_context(db, user), "new_key": raw})


@router.post("/admin/api-keys/{key_id}/revoke")
def revoke_api_key(db: SessionDep, actor: ActorDep, user: CurrentUser, key_id: int) -> Response:
    mine = {key.id for key in service.list_api_keys(db, user=user)}
    if key_id not in mine and not user.has_role(Role.ADMIN):
        raise Forbidden("You can only revoke your own API keys.")
    service.revoke_api_key(db, key_id=key_id, actor=actor)
    return RedirectResponse("/admin/api-keys", status_code=303)
