"""Citizen services: the catalog, routing, the case workflow with SLAs, intake and Open311."""

# Registers the hook that gives the catalog a new revision token on every change, wherever
# in the process the change is made (see catalog_cache).
from cityos.cases import catalog_cache as _catalog_cache  # noqa: F401
