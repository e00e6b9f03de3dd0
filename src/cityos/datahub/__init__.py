"""Data hub: field standards, datasets, validation, sharing, open-data APIs."""
