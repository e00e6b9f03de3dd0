"""Citizen services: the catalog, routing, the case workflow with SLAs, intake and Open311."""
