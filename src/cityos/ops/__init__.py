"""The operations center: the city on one live screen (map, KPIs, alerts, trends).

It owns only operator notes; every figure is read through the other domains' services.
"""
