"""The OGC SensorThings API 1.1 wire format (Part 1 Sensing) at ``/sta/v1.1``."""
