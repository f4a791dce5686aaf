"""The map of the towns on /towns: Natural Earth's land and borders and the towns, drawn as SVG here.

The region's outlines ship in map/baltic-50m.json (made by scripts/prepare_map.py; see
map/README.md). A Lambert conformal conic projection with standard parallels at 55° and 65° N keeps
the shapes of the Baltic Sea region true; one map unit is one kilometre. Zoom is a narrower viewBox
chosen by the page's address, so it works without JavaScript. Markers that would overlap at the
current zoom are spread around their shared centre, each joined to its true place by a thin line,
so each one can be pointed at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

OUTLINES = Path(__file__).parent / "map" / "baltic-50m.json"
EARTH_KM = 6371.0
PARALLELS = (55.0, 65.0)
ORIGIN = (19.0, 60.0)  # longitude and latitude of the projection's centre
FRAME = (7.5, 49.0, 32.5, 71.5)  # the Baltic Sea region shown unzoomed: west, south, east, north
ZOOMS = (1, 2, 4)
MARKER_KM = 16.0  # a marker's radius on the unzoomed map; it keeps its size on screen when zoomed
PEARL = 1.3  # a Cultural Pearl's marker is this much larger


Point = tuple[float, float]


class Town(Protocol):
    country: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Conic:
    """Lambert conformal conic on a sphere (Snyder, Map Projections: A Working Manual, 1987, p. 104)."""

    n: float
    f: float
    rho0: float
    lon0: float

    @classmethod
    def baltic(cls) -> Conic:
        p1, p2 = (math.radians(p) for p in PARALLELS)
        t = lambda phi: math.tan(math.pi / 4 + phi / 2)  # noqa: E731
        n = math.log(math.cos(p1) / math.cos(p2)) / math.log(t(p2) / t(p1))
        f = math.cos(p1) * t(p1) ** n / n
        return cls(n, f, f / t(math.radians(ORIGIN[1])) ** n, ORIGIN[0])

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        """Map units (km east, km south of the centre): SVG's y grows downwards."""
        rho = self.f / math.tan(math.pi / 4 + math.radians(lat) / 2) ** self.n
        theta = self.n * math.radians(lon - self.lon0)
        return EARTH_KM * rho * math.sin(theta), -EARTH_KM * (self.rho0 - rho * math.cos(theta))


PROJECT = Conic.baltic()


def _path(lines: Iterable[Sequence[Sequence[float]]], closed: bool) -> str:
    parts = []
    for line in lines:
        xy = [PROJECT(lon, lat) for lon, lat in line]
        parts.append("M" + "L".join(f"{x:.0f} {y:.0f}" for x, y in xy) + ("Z" if closed else ""))
    return "".join(parts)


@cache
def outlines(source: Path = OUTLINES) -> dict[str, Any]:
    """The land of each country, the coastlines and the borders as SVG path data (read once)."""
    region = json.loads(source.read_text(encoding="utf-8"))
    return {
        "land": [
            {"name": country["name"], "d": _path(country["rings"], closed=True)}
            for country in region["land"]
        ],
        "coast": _path(region["coast"], closed=False),
        "border": _path(region["border"], closed=False),
        "source": region["source"],
    }


@cache
def frame() -> tuple[float, float, float, float]:
    """The unzoomed view: the projected box around the region's edges (x, y, width, height)."""
    west, south, east, north = FRAME
    steps = [i / 20 for i in range(21)]
    edge = [(west + (east - west) * s, lat) for s in steps for lat in (south, north)]
    edge += [(lon, south + (north - south) * s) for s in steps for lon in (west, east)]
    xs, ys = zip(*(PROJECT(lon, lat) for lon, lat in edge), strict=True)
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


@dataclass(frozen=True)
class View:
    """What part of the frame is shown: a zoom of 1, 2 or 4 and the centre as a share of the frame."""

    zoom: int = 1
    x: float = 0.5
    y: float = 0.5

    @classmethod
    def of(cls, zoom: int, x: float, y: float) -> View:
        """The nearest valid view: a known zoom, and a centre that keeps the view inside the frame."""
        zoom = max(z for z in ZOOMS if z <= max(zoom, 1))
        half = 1 / (2 * zoom)
        x, y = (v if math.isfinite(v) else 0.5 for v in (x, y))
        return cls(
            zoom, round(min(max(x, half), 1 - half), 3), round(min(max(y, half), 1 - half), 3)
        )

    @classmethod
    def fitting(cls, towns: Sequence[Town]) -> View:
        """The closest view that shows all the towns (with a marker's width to spare), centred on them."""
        if not towns:
            return cls()
        x0, y0, width, height = frame()
        xs, ys = zip(*(PROJECT(t.lon, t.lat) for t in towns), strict=True)
        centre = ((min(xs) + max(xs)) / 2 - x0) / width, ((min(ys) + max(ys)) / 2 - y0) / height
        for zoom in sorted(ZOOMS, reverse=True):
            view = cls.of(zoom, *centre)
            left, top, w, h = view.box()
            margin = 2 * MARKER_KM / zoom
            if all(
                left + margin <= x <= left + w - margin and top + margin <= y <= top + h - margin
                for x, y in zip(xs, ys, strict=True)
            ):
                return view
        return cls()

    def box(self) -> tuple[float, float, float, float]:
        x0, y0, width, height = frame()
        w, h = width / self.zoom, height / self.zoom
        return x0 + self.x * width - w / 2, y0 + self.y * height - h / 2, w, h

    def moves(self) -> dict[str, View | None]:
        """The views one step away: zoom in and out (same centre), and half a view each way."""
        step = 1 / (2 * self.zoom)
        return {
            "in": View.of(self.zoom * 2, self.x, self.y) if self.zoom < ZOOMS[-1] else None,
            "out": View.of(self.zoom // 2, self.x, self.y) if self.zoom > 1 else None,
            **{
                name: self._moved(View.of(self.zoom, self.x + dx * step, self.y + dy * step))
                for name, dx, dy in (
                    ("north", 0, -1),
                    ("west", -1, 0),
                    ("east", 1, 0),
                    ("south", 0, 1),
                )
            },
        }

    def _moved(self, other: View) -> View | None:
        return other if other != self else None


@dataclass(frozen=True)
class Marker:
    town: Any
    x: float  # where the marker is drawn
    y: float
    at_x: float  # where the town is
    at_y: float

    @property
    def moved(self) -> bool:
        return (self.x, self.y) != (self.at_x, self.at_y)


def _groups(points: list[tuple[float, float]], reach: float) -> list[list[int]]:
    """Indexes of points joined by chains of neighbours closer than `reach` (single linkage)."""
    parent = list(range(len(points)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (xi, yi) in enumerate(points):
        for j in range(i):
            if math.hypot(xi - points[j][0], yi - points[j][1]) < reach:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(points)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _ring(points: list[tuple[float, float]], group: list[int], gap: float) -> dict[int, Point]:
    """Where the members of a group are drawn: alone, in place; together, evenly on a ring around
    their centre, `gap` apart, in the order of their bearings from it."""
    if len(group) == 1:
        return {group[0]: points[group[0]]}
    cx = sum(points[i][0] for i in group) / len(group)
    cy = sum(points[i][1] for i in group) / len(group)
    radius = gap / 2 / math.sin(math.pi / len(group))
    ordered = sorted(group, key=lambda i: math.atan2(points[i][1] - cy, points[i][0] - cx))
    start = math.atan2(points[ordered[0]][1] - cy, points[ordered[0]][0] - cx)
    return {
        i: (
            cx + radius * math.cos(start + 2 * math.pi * k / len(group)),
            cy + radius * math.sin(start + 2 * math.pi * k / len(group)),
        )
        for k, i in enumerate(ordered)
    }


def spread(towns: Sequence[Town], radius: float) -> list[Marker]:
    """Markers for the towns such that no two overlap: towns closer than two markers' width are
    set on a ring around their centre; when a ring reaches another marker, the two groups become
    one ring, until nothing overlaps."""
    points = [PROJECT(t.lon, t.lat) for t in towns]
    gap = 2 * radius * PEARL
    groups = _groups(points, gap)
    while True:
        placed = [_ring(points, group, gap) for group in groups]
        centres = [(x, y) for p in placed for x, y in p.values()]
        owner = [g for g, p in enumerate(placed) for _ in p]
        clash = _clash(centres, owner, gap)
        if clash is None:
            break
        a, b = clash
        groups = [g for k, g in enumerate(groups) if k not in (a, b)] + [groups[a] + groups[b]]
    at = {i: xy for p in placed for i, xy in p.items()}
    return [
        Marker(town, *(round(v, 1) for v in (*at[i], *points[i]))) for i, town in enumerate(towns)
    ]


def _clash(
    centres: list[tuple[float, float]], owner: list[int], gap: float
) -> tuple[int, int] | None:
    """Two groups with markers closer than `gap` (a hair's tolerance for rounding), if any."""
    for i, (xi, yi) in enumerate(centres):
        for j in range(i):
            if (
                owner[i] != owner[j]
                and math.hypot(xi - centres[j][0], yi - centres[j][1]) < gap * 0.999
            ):
                return owner[j], owner[i]
    return None


def town_map(towns: Sequence[Town], view: View) -> dict[str, Any]:
    """Everything the template draws: the view box, the outlines, the markers at this zoom."""
    radius = MARKER_KM / view.zoom
    markers = spread(towns, radius)
    return {
        "box": " ".join(f"{v:.1f}" for v in view.box()),
        "view": view,
        "moves": view.moves(),
        "outlines": outlines(),
        "radius": round(radius, 2),
        "pearl_radius": round(radius * PEARL, 2),
        "markers": markers,
        "labels": labels(markers),
        "zoom": view.zoom,
    }


def labels(markers: Sequence[Marker]) -> list[dict[str, Any]]:
    """A country's code at the middle of its towns (drawn faintly, for orientation)."""
    places: dict[str, list[Marker]] = {}
    for marker in markers:
        places.setdefault(marker.town.country, []).append(marker)
    return [
        {
            "code": code,
            "x": round(sum(m.at_x for m in mine) / len(mine), 1),
            "y": round(sum(m.at_y for m in mine) / len(mine), 1),
        }
        for code, mine in sorted(places.items())
    ]
