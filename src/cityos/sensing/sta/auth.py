"""Who may write through SensorThings: an API key as ``Authorization: Bearer``, or HTTP Basic
with the user's email and password, or any user name and an API key as the password (the
official Python client can send only Basic). Admins, operators and staff may write.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import Role, User
from cityos.deps import SessionDep, client_ip
from cityos.errors import Forbidden, Unauthorized

WRITER_ROLES = (Role.ADMIN, Role.OPERATOR, Role.STAFF)
API_KEY_START = f"{auth_service.API_KEY_PREFIX}_"


def basic_credentials(value: str) -> tuple[str, str]:
    """(user name, password) from the credentials part of a Basic header."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized(
            "Malformed HTTP Basic credentials: send base64 of 'email:password' "
            "(or 'key:<API key>')."
        ) from None
    username, separator, password = decoded.partition(":")
    if not separator:
        raise Unauthorized("HTTP Basic credentials need a ':' between user name and password.")
    return username, password


def writer(request: Request, db_session: SessionDep) -> Actor:
    """The actor of a write; 401 without valid credentials, 403 without a writing role."""
    authorization = request.headers.get("authorization", "").strip()
    scheme, _, credentials = authorization.partition(" ")
    user: User
    if scheme.lower() == "bearer" and credentials.strip():
        user = auth_service.user_for_api_key(db_session, raw_key=credentials)
    elif scheme.lower() == "basic":
        username, password = basic_credentials(credentials)
        if password.startswith(API_KEY_START):
            user = auth_service.user_for_api_key(db_session, raw_key=password)
        else:
            user = auth_service.authenticate(
                db_session,
                email=username,
                password=password,
                ip=client_ip(request),
                policy=auth_service.LoginPolicy(),
            )
    else:
        raise Unauthorized(
            "Writing to SensorThings needs credentials: 'Authorization: Bearer <API key>', "
            "or HTTP Basic with your email and password (or an API key as the password)."
        )
    if not user.has_role(*WRITER_ROLES):
        raise Forbidden(
            f"{user.email} may not write sensor data: it needs the admin, operator or staff role."
        )
    request.state.user = user
    return auth_service.actor_for(user, client_ip(request))


Writer = Annotated[Actor, Depends(writer, scope="function")]
