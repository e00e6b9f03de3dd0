"""Sensing: the city's sensor platform (SensorThings API 1.1, MQTT ingestion, latest values,
rollups and alert rules that open cases)."""
