"""Departments, users, login sessions and API keys. Every write is audited."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor, record
from cityos.auth.models import ApiKey, Department, LoginFailure, LoginSession, Role, User, UserRole
from cityos.auth.security import hash_password, new_token, sha256_hex, verify_password
from cityos.config import LANGUAGES
from cityos.db import utcnow
from cityos.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthorized

MIN_PASSWORD_LENGTH = 8
API_KEY_PREFIX = "cos"


def actor_for(user: User, ip: str | None = None) -> Actor:
    return Actor(user_id=user.id, label=user.email, ip=ip)


# --- departments -----------------------------------------------------------------------


def _department_summary(department: Department) -> dict[str, object]:
    return {
        "code": department.code,
        "name_zh": department.name_zh,
        "name_en": department.name_en,
        "parent": department.parent.code if department.parent else None,
    }


def list_departments(db_session: Session) -> Sequence[Department]:
    return db_session.scalars(select(Department).order_by(Department.code)).all()


def get_department(db_session: Session, *, code: str) -> Department:
    department = db_session.scalar(select(Department).where(Department.code == code))
    if department is None:
        raise NotFound(f"No department has the code {code!r}.")
    return department


def get_department_by_id(db_session: Session, *, department_id: int) -> Department:
    department = db_session.get(Department, department_id)
    if department is None:
        raise NotFound(f"No department has the id {department_id}.")
    return department


def list_department_users(
    db_session: Session, *, department_id: int, role: Role | None = None
) -> list[User]:
    """Active users of a department, optionally only those holding ``role``."""
    users = db_session.scalars(
        select(User).where(User.department_id == department_id, User.is_active.is_(True))
    ).all()
    return [user for user in users if role is None or role in user.roles]


def create_department(
    db_session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    parent_code: str | None = None,
    actor: Actor,
) -> Department:
    code, name_zh, name_en = code.strip(), name_zh.strip(), name_en.strip()
    if not code or not name_zh or not name_en:
        raise InvalidInput("A department needs a code, a Chinese name and an English name.")
    if db_session.scalar(select(Department.id).where(Department.code == code)) is not None:
        raise Conflict(f"A department with the code {code!r} already exists.")
    parent = get_department(db_session, code=parent_code) if parent_code else None
    department = Department(code=code, name_zh=name_zh, name_en=name_en, parent=parent)
    db_session.add(department)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="auth.department.create",
        entity_type="department",
        entity_id=code,
        summary=f"created department {code}",
        after=_department_summary(department),
    )
    return department


def update_department(
    db_session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    parent_code: str | None,
    actor: Actor,
) -> Department:
    department = get_department(db_session, code=code)
    before = _department_summary(department)
    parent = get_department(db_session, code=parent_code) if parent_code else None
    walk = parent
    while walk is not None:
        if walk.id == department.id:
            raise InvalidInput(
                f"{parent_code!r} is inside {code!r}; a department cannot be its own ancestor."
            )
        walk = walk.parent
    if not name_zh.strip() or not name_en.strip():
        raise InvalidInput("A department needs a Chinese name and an English name.")
    department.name_zh, department.name_en, department.parent = (
        name_zh.strip(),
        name_en.strip(),
        parent,
    )
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="auth.department.update",
        entity_type="department",
        entity_id=code,
        summary=f"updated department {code}",
        before=before,
        after=_department_summary(department),
    )
    return department


# --- users -----------------------------------------------------------------------------


def _user_summary(user: User) -> dict[str, object]:
    return {
        "email": user.email,
        "display_name": user.display_name,
        "department": user.department.code if user.department else None,
        "roles": sorted(user.roles),
        "is_active": user.is_active,
    }


def normalise_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise InvalidInput(f"{email!r} is not a valid email address: {error}") from None


def parse_roles(roles: Iterable[str]) -> list[Role]:
    parsed = []
    for name in roles:
        try:
            parsed.append(Role(name.strip().lower()))
        except ValueError:
            valid = ", ".join(role.value for role in Role)
            raise InvalidInput(f"Unknown role {name!r}; the roles are: {valid}.") from None
    return sorted(set(parsed))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")


def list_users(db_session: Session, *, department_code: str | None = None) -> Sequence[User]:
    query = select(User).order_by(User.email)
    if department_code:
        query = query.join(Department).where(Department.code == department_code)
    return db_session.scalars(query).unique().all()


def get_user(db_session: Session, *, user_id: int) -> User:
    user = db_session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user has the id {user_id}.")
    return user


def find_user(db_session: Session, *, email: str) -> User | None:
    return db_session.scalar(select(User).where(User.email == email.strip().lower()))


def get_user_by_email(db_session: Session, *, email: str) -> User:
    user = find_user(db_session, email=email)
    if user is None:
        raise NotFound(f"No user has the email {email!r}.")
    return user


def create_user(
    db_session: Session,
    *,
    email: str,
    password: str,
    display_name: str = "",
    roles: Iterable[str] = (),
    department_code: str | None = None,
    actor: Actor,
) -> User:
    email = normalise_email(email)
    _check_password(password)
    parsed_roles = parse_roles(roles)
    if find_user(db_session, email=email) is not None:
        raise Conflict(f"A user with the email {email!r} already exists.")
    department = get_department(db_session, code=department_code) if department_code else None
    if department is None and any(r in (Role.STAFF, Role.STEWARD) for r in parsed_roles):
        raise InvalidInput("Staff and stewards work for a department: give --department.")
    user = User(
        email=email,
        display_name=display_name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        department=department,
        role_rows=[UserRole(role=role.value) for role in parsed_roles],
    )
    db_session.add(user)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="auth.user.create",
        entity_type="user",
        entity_id=email,
        summary=f"created user {email}",
        after=_user_summary(user),
    )
    return user


def update_user(
    db_session: Session,
    *,
    user_id: int,
    display_name: str,
    roles: Iterable[str],
    department_code: str | None,
    is_active: bool,
    actor: Actor,
) -> User:
    user = get_user(db_session, user_id=user_id)
    before = _user_summary(user)
    parsed_roles = parse_roles(roles)
    if user.id == actor.user_id and (Role.ADMIN not in parsed_roles or not is_active):
        raise InvalidInput("You cannot remove your own admin role or deactivate yourself.")
    user.display_name = display_name.strip() or user.display_name
    user.department = get_department(db_session, code=department_code) if department_code else None
    user.role_rows = [UserRole(role=role.value) for role in parsed_roles]
    user.is_active = is_active
    db_session.flush()
    if not is_active:
        db_session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    record(
        db_session,
        actor=actor,
        action="auth.user.update",
        entity_type="user",
        entity_id=user.email,
        summary=f"updated user {user.email}",
        before=before,
        after=_user_summary(user),
    )
    return user


def set_language(db_session: Session, *, user: User, language: str, actor: Actor) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"Unknown language {language!r}; choose one of {', '.join(LANGUAGES)}.")
    if user.language == language:
        return
    before = {"language": user.language}
    user.language = language
    record(
        db_session,
        actor=actor,
        action="auth.user.language",
        entity_type="user",
        entity_id=user.email,
        summary=f"language set to {language}",
        before=before,
        after={"language": language},
    )


# --- login -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    session_length: timedelta = timedelta(hours=12)


def authenticate(
    db_session: Session, *, email: str, password: str, ip: str, policy: LoginPolicy
) -> User:
    """The active user with these credentials; failures are counted and rate-limited.

    The failure rows are committed even though the login fails, so callers must not roll
    back the session after catching :class:`Unauthorized`.
    """
    email = email.strip().lower()
    since = utcnow() - policy.window
    recent = db_session.scalars(
        select(LoginFailure.at)
        .where(LoginFailure.at >= since)
        .where((LoginFailure.email == email) | (LoginFailure.ip == ip))
        .order_by(LoginFailure.at)
    ).all()
    if len(recent) >= policy.max_failures:
        retry = int((recent[-policy.max_failures] + policy.window - utcnow()).total_seconds()) + 1
        raise RateLimited(
            f"Too many failed logins; try again in {max(retry, 1) // 60 + 1} minutes.",
            retry_after=max(retry, 1),
        )
    user = find_user(db_session, email=email)
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        db_session.add(LoginFailure(email=email, ip=ip))
        db_session.execute(delete(LoginFailure).where(LoginFailure.at < since))
        db_session.commit()
        raise Unauthorized("Wrong email or password.")
    return user


def start_session(db_session: Session, *, user: User, policy: LoginPolicy, ip: str | None) -> str:
    """Open a login session and return its raw token (to be signed into the cookie)."""
    token = new_token()
    now = utcnow()
    db_session.add(
        LoginSession(
            token_hash=sha256_hex(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + policy.session_length,
        )
    )
    db_session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    db_session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))
    record(
        db_session,
        actor=actor_for(user, ip),
        action="auth.login",
        entity_type="user",
        entity_id=user.email,
        summary="signed in",
    )
    return token


def end_session(db_session: Session, *, token: str, user: User, ip: str | None) -> None:
    db_session.execute(delete(LoginSession).where(LoginSession.token_hash == sha256_hex(token)))
    record(
        db_session,
        actor=actor_for(user, ip),
        action="auth.logout",
        entity_type="user",
        entity_id=user.email,
        summary="signed out",
    )


def user_for_session(db_session: Session, *, token: str) -> User | None:
    row = db_session.get(LoginSession, sha256_hex(token))
    if row is None or row.expires_at <= utcnow():
        return None
    user = db_session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


# --- API keys --------------------------------------------------------------------------


def _api_key_summary(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "user": key.user.email,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked": key.revoked_at is not None,
    }


def create_api_key(
    db_session: Session,
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    actor: Actor,
) -> tuple[ApiKey, str]:
    """A new key for ``user``. Returns the row and the raw key, which is never stored."""
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("The expiry date of an API key must be in the future.")
    prefix = new_token(6)[:8].replace("-", "x").replace("_", "y")
    secret = new_token(32)
    raw = f"{API_KEY_PREFIX}_{prefix}_{secret}"
    key = ApiKey(
        user=user,
        name=name.strip() or "API key",
        prefix=prefix,
        key_hash=sha256_hex(raw),
        expires_at=expires_at,
    )
    db_session.add(key)
    db_session.flush()
    record(
        db_session,
        actor=actor,
        action="auth.apikey.create",
        entity_type="api_key",
        entity_id=key.id,
        summary=f"created API key {prefix} for {user.email}",
        after=_api_key_summary(key),
    )
    return key, raw


def list_api_keys(db_session: Session, *, user: User | None = None) -> Sequence[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id.desc())
    if user is not None:
        query = query.where(ApiKey.user_id == user.id)
    return db_session.scalars(query).all()


def revoke_api_key(db_session: Session, *, key_id: int, actor: Actor) -> ApiKey:
    key = db_session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key has the id {key_id}.")
    if key.revoked_at is None:
        before = _api_key_summary(key)
        key.revoked_at = utcnow()
        record(
            db_session,
            actor=actor,
            action="auth.apikey.revoke",
            entity_type="api_key",
            entity_id=key.id,
            summary=f"revoked API key {key.prefix}",
            before=before,
            after=_api_key_summary(key),
        )
    return key


def user_for_api_key(db_session: Session, *, raw_key: str) -> User:
    """The user behind a Bearer key; a clear 401 if it is malformed, unknown, expired, revoked."""
    return api_key_for(db_session, raw_key=raw_key).user


def api_key_for(db_session: Session, *, raw_key: str) -> ApiKey:
    """The valid key row for ``raw_key`` (with its user); 401 like :func:`user_for_api_key`."""
    parts = raw_key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        raise Unauthorized("Malformed API key: expected 'Authorization: Bearer cos_…'.")
    key = db_session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not hmac.compare_digest(key.key_hash, sha256_hex(raw_key.strip())):
        raise Unauthorized("Unknown API key.")
    if key.revoked_at is not None:
        raise Unauthorized(f"This API key was revoked on {key.revoked_at:%Y-%m-%d}.")
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized(f"This API key expired on {key.expires_at:%Y-%m-%d}; ask for a new one.")
    if not key.user.is_active:
        raise Unauthorized("The account of this API key is deactivated.")
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=5):
        key.last_used_at = now
    return key


def count_users(db_session: Session) -> int:
    return db_session.scalar(select(func.count()).select_from(User)) or 0
