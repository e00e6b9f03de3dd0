from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cityos.auth.models import ApiKey, Department, User


class DepartmentCreate(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    parent: str | None = None


class DepartmentRead(BaseModel):
    code: str
    name_zh: str
    name_en: str
    parent: str | None

    @classmethod
    def of(cls, department: Department) -> DepartmentRead:
        parent = department.parent.code if department.parent else None
        return cls(
            code=department.code,
            name_zh=department.name_zh,
            name_en=department.name_en,
            parent=parent,
        )


class UserCreate(BaseModel):
    email: str
    password: str = Field(min_length=8)
    display_name: str = ""
    department: str | None = None
    roles: list[str] = []


class UserRead(BaseModel):
    id: int
    email: str
    display_name: str
    department: str | None
    roles: list[str]
    language: str | None
    is_active: bool

    @classmethod
    def of(cls, user: User) -> UserRead:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            department=user.department.code if user.department else None,
            roles=sorted(user.roles),
            language=user.language,
            is_active=user.is_active,
        )


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None
    user_email: str | None = None


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyRead:
        return cls.model_validate(key)


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself. It is shown only this once.")
