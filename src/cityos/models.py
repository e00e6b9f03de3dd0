"""Imports every domain's tables so that ``Base.metadata`` knows them all (for Alembic)."""

from cityos import instance
from cityos.assessment import models as assessment_models
from cityos.audit import models as audit_models
from cityos.auth import models as auth_models
from cityos.cases import models as cases_models
from cityos.datahub import models as datahub_models
from cityos.geo import models as geo_models
from cityos.notify import models as notify_models
from cityos.ops import models as ops_models
from cityos.sensing import models as sensing_models

__all__ = [
    "assessment_models",
    "audit_models",
    "auth_models",
    "cases_models",
    "datahub_models",
    "geo_models",
    "instance",
    "notify_models",
    "ops_models",
    "sensing_models",
]
