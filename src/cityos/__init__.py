"""CityOS: one platform for a city's services, sensors, data and assessment."""

__version__ = "0.1.0"
