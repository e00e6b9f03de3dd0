"""JSON API for accounts: who am I, departments, users, API keys."""

from __future__ import annotations

from fastapi import APIRouter

from cityos.auth import service
from cityos.auth.models import Role
from cityos.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    DepartmentCreate,
    DepartmentRead,
    UserCreate,
    UserRead,
)
from cityos.deps import ActorDep, AdminUser, CurrentUser, SessionDep
from cityos.errors import Forbidden

router = APIRouter(prefix="/api/auth", tags=["accounts"])


@router.get("/me", response_model=UserRead, summary="The signed-in user or API key owner")
def me(user: CurrentUser) -> UserRead:
    return UserRead.of(user)


@router.get("/departments", response_model=list[DepartmentRead])
def departments(db: SessionDep, _user: CurrentUser) -> list[DepartmentRead]:
    return [DepartmentRead.of(d) for d in service.list_departments(db)]


@router.post("/departments", response_model=DepartmentRead, status_code=201)
def create_department(
    body: DepartmentCreate, db: SessionDep, actor: ActorDep, _admin: AdminUser
) -> DepartmentRead:
    department = service.create_department(
        db,
        code=body.code,
        name_zh=body.name_zh,
        name_en=body.name_en,
        parent_code=body.parent,
        actor=actor,
    )
    return DepartmentRead.of(department)


@router.get("/users", response_model=list[UserRead])
def users(db: SessionDep, _admin: AdminUser, department: str | None = None) -> list[UserRead]:
    return [UserRead.of(u) for u in service.list_users(db, department_code=department)]


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(body: UserCreate, db: SessionDep, actor: ActorDep, _admin: AdminUser) -> UserRead:
    user = service.create_user(
        db,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        roles=body.roles,
        department_code=body.department,
        actor=actor,
    )
    return UserRead.of(user)


@router.get("/api-keys", response_model=list[ApiKeyRead], summary="Your API keys (admins: all)")
def api_keys(db: SessionDep, user: CurrentUser) -> list[ApiKeyRead]:
    owner = None if user.has_role(Role.ADMIN) else user
    return [ApiKeyRead.of(k) for k in service.list_api_keys(db, user=owner)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_api_key(
    body: ApiKeyCreate, db: SessionDep, actor: ActorDep, user: CurrentUser
) -> ApiKeyCreated:
    target = user
    if body.user_email and body.user_email.lower() != user.email:
        if not user.has_role(Role.ADMIN):
            raise Forbidden("Only admins can create keys for other users.")
        target = service.get_user_by_email(db, email=body.user_email)
    key, raw = service.create_api_key(
        db, user=target, name=body.name, expires_at=body.expires_at, actor=actor
    )
    return ApiKeyCreated(**ApiKeyRead.of(key).model_dump(), key=raw)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead, summary="Revoke an API key")
def revoke_api_key(key_id: int, db: SessionDep, actor: ActorDep, user: CurrentUser) -> ApiKeyRead:
    mine = {k.id for k in service.list_api_keys(db, user=user)}
    if key_id not in mine and not user.has_role(Role.ADMIN):
        raise Forbidden("You can only revoke your own API keys.")
    return ApiKeyRead.of(service.revoke_api_key(db, key_id=key_id, actor=actor))
