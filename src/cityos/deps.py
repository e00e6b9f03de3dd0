"""Typed FastAPI dependencies shared by every domain's routers and pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.auth.security import unsign
from cityos.config import Settings
from cityos.errors import Forbidden, Unauthorized

SESSION_COOKIE = "cityos_session"
SESSION_SALT = "cityos-session"


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """One session per request: committed when the handler returns, rolled back on error."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        # Keep the loaded objects (the signed-in user) usable by the error page.
        session.expunge_all()
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db, scope="function")]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def session_token(request: Request) -> str | None:
    """The raw login-session token from the signed cookie, if it is there and intact."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return unsign(request.app.state.secret_key, cookie, salt=SESSION_SALT)


def get_optional_user(request: Request, db: SessionDep) -> User | None:
    """The caller: a Bearer API key, else the login session cookie, else nobody."""
    authorization = request.headers.get("authorization", "")
    user: User | None = None
    if authorization.lower().startswith("bearer "):
        user = auth_service.user_for_api_key(db, raw_key=authorization[7:])
    else:
        token = session_token(request)
        if token:
            user = auth_service.user_for_session(db, token=token)
    request.state.user = user
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user, scope="function")]


def get_current_user(user: OptionalUser) -> User:
    if user is None:
        raise Unauthorized("Sign in first (or send 'Authorization: Bearer <API key>').")
    return user


CurrentUser = Annotated[User, Depends(get_current_user, scope="function")]


def require_role(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets through admins and users holding one of ``roles``."""

    def check(user: CurrentUser) -> User:
        if not user.has_role(*roles):
            wanted = " or ".join(role.value for role in roles) or "admin"
            raise Forbidden(f"This needs the {wanted} role.")
        return user

    return check


AdminUser = Annotated[User, Depends(require_role(Role.ADMIN), scope="function")]


def get_actor(request: Request, user: CurrentUser) -> Actor:
    return auth_service.actor_for(user, client_ip(request))


ActorDep = Annotated[Actor, Depends(get_actor, scope="function")]
