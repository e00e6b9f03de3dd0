"""The city map: the area hierarchy, its spatial index, GeoJSON import and grid generation."""
