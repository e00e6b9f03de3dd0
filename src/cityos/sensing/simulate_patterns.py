"""What simulated city sensors read: six kinds of sensor, each with a day pattern, and the
faults real devices have (spikes, stuck values, silence).

Everything is a numpy function of the datastream ids and the reading times, so the demo's
30-day history and the live simulator draw the same curves. Local time is China Standard
Time (UTC+8): traffic peaks at 8:00 and 18:00 local, street lights burn from dusk to dawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cityos.sensing.models import ObservationType

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86_400
KIND_KEY = "cityos:kind"  # the Thing/Datastream property naming the simulated kind


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of simulated sensor and the SensorThings entities that describe it."""

    code: str
    name_zh: str
    name_en: str
    prefix: str  # of Thing names: W-0001
    share: float  # of a mixed fleet
    property_name: str
    property_definition: str
    unit: dict[str, str]
    sensor_name: str
    sensor_description: str
    decimals: int
    observation_type: str = ObservationType.MEASUREMENT.value


def _unit(name: str, symbol: str, code: str) -> dict[str, str]:
    return {"name": name, "symbol": symbol, "definition": f"http://unitsofmeasure.org/ucum#{code}"}


KINDS: dict[str, Kind] = {
    kind.code: kind
    for kind in (
        Kind(
            "water_level",
            "道路积水水位",
            "Street water level",
            "W",
            0.08,
            "WaterLevel",
            "urn:cityos:property:water-level",
            _unit("centimetre", "cm", "cm"),
            "Ultrasonic water level gauge",
            "Ultrasonic gauge above a street drain; 0 cm is a dry road.",
            1,
        ),
        Kind(
            "pm25",
            "PM2.5 浓度",
            "PM2.5",
            "A",
            0.15,
            "PM2.5",
            "urn:cityos:property:pm25",
            _unit("microgram per cubic metre", "µg/m³", "ug/m3"),
            "Optical particle counter",
            "Laser-scattering PM2.5 sensor on a lamp post.",
            1,
        ),
        Kind(
            "noise",
            "环境噪声",
            "Noise level",
            "N",
            0.15,
            "NoiseLevel",
            "urn:cityos:property:noise-laeq",
            _unit("decibel (A-weighted)", "dB(A)", "dB[A]"),
            "Class 2 sound level meter",
            "Equivalent continuous sound level over the reading interval.",
            1,
        ),
        Kind(
            "traffic_flow",
            "交通流量",
            "Traffic flow",
            "T",
            0.15,
            "TrafficFlow",
            "urn:cityos:property:traffic-flow",
            _unit("vehicles per hour", "veh/h", "/h"),
            "Inductive loop counter",
            "Vehicles crossing the loop, as an hourly rate.",
            0,
        ),
        Kind(
            "smart_meter",
            "智能电表功率",
            "Smart meter power",
            "M",
            0.32,
            "ElectricPower",
            "urn:cityos:property:electric-power",
            _unit("kilowatt", "kW", "kW"),
            "Smart electricity meter",
            "Household meter reporting mean power over the interval.",
            3,
        ),
        Kind(
            "street_light",
            "路灯功率",
            "Street light power",
            "L",
            0.15,
            "LampPower",
            "urn:cityos:property:lamp-power",
            _unit("watt", "W", "W"),
            "Street light controller",
            "LED lamp controller; dims after midnight, off by day.",
            0,
        ),
    )
}


def split(total: int) -> dict[str, int]:
    """How many sensors of each kind a fleet of ``total`` has (every kind at least one)."""
    if total <= 0:
        return {}
    counts = {code: int(kind.share * total) for code, kind in KINDS.items()}
    codes = list(KINDS)
    i = 0
    while sum(counts.values()) < total:
        counts[codes[i % len(codes)]] += 1
        i += 1
    while sum(counts.values()) > total:  # tiny fleets
        biggest = max(counts, key=lambda code: counts[code])
        counts[biggest] -= 1
    return counts


def _hash(ids: Ints, salt: int) -> Floats:
    """A fixed uniform number in [0, 1) per id (the same id always gets the same one)."""
    mixed = (ids.astype(np.uint64) * np.uint64(2654435761) + np.uint64(salt * 40503 + 1)) % (
        np.uint64(2**32)
    )
    mixed = (mixed ^ (mixed >> np.uint64(13))) * np.uint64(1274126177) % np.uint64(2**32)
    return mixed.astype(np.float64) / 2**32


def _bump(hours: Floats, centre: float, width: float) -> Floats:
    distance = (hours - centre + 12.0) % 24.0 - 12.0
    return np.exp(-((distance / width) ** 2))


def local_hours(times: Floats) -> Floats:
    """The local hour of day (0–24, fractional) of epoch seconds."""
    return ((times + LOCAL_OFFSET_S) % DAY_S) / 3600.0


def rain(times: Floats) -> Floats:
    """City-wide runoff (0–1+) from storms: about one day in five has one; each rises in
    an hour and drains over a few hours."""
    days = np.floor((times + LOCAL_OFFSET_S) / DAY_S).astype(np.int64)
    out = np.zeros_like(times, dtype=np.float64)
    for back in (0, 1):  # a storm late yesterday still drains today
        day = days - back
        stormy = _hash(day, 11) < 0.22
        start = (day * DAY_S - LOCAL_OFFSET_S) + _hash(day, 12) * DAY_S
        strength = 0.3 + 1.2 * _hash(day, 13)
        since = (times - start) / 3600.0
        rising = np.clip(since, 0.0, 1.0)
        draining = np.exp(-np.clip(since - 1.0, 0.0, None) / 2.5)
        out += np.where(stormy & (since >= 0), strength * rising * draining, 0.0)
    return out


def values(kind: str, ids: Ints, times: Floats, rng: np.random.Generator) -> Floats:
    """Readings of sensors ``ids`` (all of ``kind``) at ``times`` (epoch s): ``(ids, times)``."""
    ids = np.asarray(ids, dtype=np.int64)
    t = np.asarray(times, dtype=np.float64)[None, :]
    h = local_hours(t)
    u = _hash(ids, 1)[:, None]
    v = _hash(ids, 2)[:, None]
    shape = (len(ids), t.shape[1])
    noise = rng.standard_normal(shape)
    weekday = (np.floor((t + LOCAL_OFFSET_S) / DAY_S) + 3) % 7  # 0 = Monday
    weekend = weekday >= 5
    if kind == "water_level":
        sensitivity = 4.0 + 18.0 * u  # cm of water per unit of runoff
        base = 0.5 + 2.0 * v
        result = base + sensitivity * rain(t[0])[None, :] + 0.3 * noise
    elif kind == "pm25":
        base = 18.0 + 25.0 * u
        spell = 1.0 + 0.5 * np.sin(2 * np.pi * t / (5.3 * DAY_S) + 6.0 * v)  # weather spells
        rush = 1.0 + 0.35 * _bump(h, 8.5, 2.0) + 0.45 * _bump(h, 20.0, 2.5)
        result = base * spell * rush * np.exp(0.12 * noise)
    elif kind == "noise":
        day = 1.0 / (1.0 + np.exp(-(h - 6.5) * 2.0)) - 1.0 / (1.0 + np.exp(-(h - 22.5) * 2.0))
        result = 42.0 + 8.0 * u + 20.0 * day + 4.0 * _bump(h, 8.0, 1.5) + 2.0 * noise
    elif kind == "traffic_flow":
        peak = 400.0 + 1400.0 * u
        shape_of_day = (
            0.06 + 0.9 * _bump(h, 8.0, 1.3) + 0.8 * _bump(h, 18.0, 1.6) + 0.35 * _bump(h, 13, 5)
        )
        result = peak * shape_of_day * np.where(weekend, 0.7, 1.0) * (1.0 + 0.08 * noise)
    elif kind == "smart_meter":
        household = 0.8 + 1.7 * u
        use = 0.25 + 0.5 * _bump(h, 7.5, 1.2) + 1.0 * _bump(h, 20.0, 2.0) + 0.2 * weekend
        result = household * use * (1.0 + 0.15 * noise)
    elif kind == "street_light":
        rated = np.choose((v * 3).astype(np.int64) % 3, [60.0, 100.0, 150.0])
        on = (h >= 18.5) | (h < 6.0)
        dimmed = (h >= 0.0) & (h < 5.0)
        result = np.where(on, rated * np.where(dimmed, 0.6, 1.0), 0.0) * (1.0 + 0.02 * noise)
    else:
        raise ValueError(f"unknown sensor kind {kind!r}; known: {', '.join(KINDS)}")
    out: Floats = np.clip(result, 0.0, None)
    return np.round(out, KINDS[kind].decimals)


@dataclass(frozen=True, slots=True)
class Faults:
    """How often devices misbehave in a history: a spike is one wild reading; a stuck
    device repeats a value for hours; a silent one sends nothing for hours."""

    spike_chance: float = 0.0003  # per reading
    stuck_share: float = 0.02  # of devices, once in the history
    silent_share: float = 0.02


def with_faults(
    matrix: Floats, rng: np.random.Generator, step_s: float, faults: Faults = Faults()
) -> tuple[Floats, Bools]:
    """``matrix`` with spikes and stuck spells put in, and the mask of readings sent
    (False during silences)."""
    out = matrix.copy()
    rows, columns = out.shape
    keep = np.ones(out.shape, dtype=np.bool_)
    if rows == 0 or columns == 0:
        return out, keep
    spikes = rng.random(out.shape) < faults.spike_chance
    out[spikes] = np.round(out[spikes] * rng.uniform(3.0, 6.0, int(spikes.sum())) + 5.0, 3)
    per_hour = max(int(3600 / step_s), 1)
    for share, stuck in ((faults.stuck_share, True), (faults.silent_share, False)):
        for row in np.flatnonzero(rng.random(rows) < share):
            length = min(int(rng.integers(2, 30)) * per_hour, columns)
            start = int(rng.integers(0, columns - length + 1))
            if stuck:
                out[row, start : start + length] = out[row, start]
            else:
                keep[row, start : start + length] = False
    return out, keep
