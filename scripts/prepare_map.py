"""Cut the land, coastlines and country borders of the Baltic Sea region out of Natural Earth's data.

    .venv/bin/python scripts/prepare_map.py [--topojson countries-50m.json] [--out PATH]

Without --topojson the script fetches the `world-atlas` npm package (Natural Earth 1:50m admin-0
countries as TopoJSON) with `npm pack` into a temporary folder. It writes a small JSON file of
longitudes and latitudes that the /towns page projects and draws; nothing is fetched when the
service runs. Each arc of the topology is simplified once (so neighbouring countries keep one
shared border), then the countries are clipped to the region's box. An arc used by two countries
is a border; an arc used by one is a coastline.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "world-atlas@2.0.2"
MEMBER = "package/countries-50m.json"
BOX = (-6.0, 46.0, 48.0, 73.0)  # west, south, east, north: covers the projected frame of the page
TOLERANCE = 0.01  # degrees of latitude (about 1 km) that a simplified line may stray
OUT = Path(__file__).parents[1] / "src/practice_finder/web/map/baltic-50m.json"

Point = tuple[float, float]


def fetch_topology() -> dict[str, Any]:
    """The TopoJSON file of the npm package, packed into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True)
        tarball = next(Path(tmp).glob("world-atlas-*.tgz"))
        with tarfile.open(tarball) as tar:
            member = tar.extractfile(MEMBER)
            assert member is not None, f"{MEMBER} is missing from {PACKAGE}"
            return dict(json.load(member))


def decode_arcs(topology: dict[str, Any]) -> list[list[Point]]:
    """Arcs as absolute longitudes and latitudes (TopoJSON stores quantized deltas)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def simplify(points: list[Point], tolerance: float) -> list[Point]:
    """Douglas-Peucker, with longitudes shrunk by cos(latitude) so the tolerance is the same both ways."""
    if len(points) < 3:
        return points
    k = math.cos(math.radians(points[0][1]))
    (x0, y0), (x1, y1) = points[0], points[-1]
    dx, dy = (x1 - x0) * k, y1 - y0
    length = math.hypot(dx, dy)

    def distance(p: Point) -> float:
        px, py = (p[0] - x0) * k, p[1] - y0
        if length == 0:
            return math.hypot(px, py)
        return abs(px * dy - py * dx) / length

    far = max(range(1, len(points) - 1), key=lambda i: distance(points[i]))
    if distance(points[far]) <= tolerance:
        return [points[0], points[-1]]
    return simplify(points[: far + 1], tolerance)[:-1] + simplify(points[far:], tolerance)


def ring_points(arcs: list[list[Point]], indexes: list[int]) -> list[Point]:
    """A closed ring from its arcs; a negative index (~i) is arc i walked backwards."""
    ring: list[Point] = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        ring.extend(arc if not ring else arc[1:])
    return ring


def unwrap(points: list[Point]) -> list[Point]:
    """Longitudes made continuous where a line crosses the 180th meridian (Chukotka, Wrangel Island),
    so that clipping in plain longitudes does not draw a band across the world."""
    out = points[:1]
    for x, y in points[1:]:
        while x - out[-1][0] > 180:
            x -= 360
        while out[-1][0] - x > 180:
            x += 360
        out.append((x, y))
    return out


def clip_ring(ring: list[Point], box: tuple[float, float, float, float]) -> list[Point]:
    """Sutherland-Hodgman: the part of a polygon ring inside the box (a ring, possibly empty)."""
    west, south, east, north = box
    edges = [
        (lambda p: p[0] >= west, lambda a, b: _at_x(a, b, west)),
        (lambda p: p[0] <= east, lambda a, b: _at_x(a, b, east)),
        (lambda p: p[1] >= south, lambda a, b: _at_y(a, b, south)),
        (lambda p: p[1] <= north, lambda a, b: _at_y(a, b, north)),
    ]
    for inside, cross in edges:
        kept: list[Point] = []
        for a, b in zip(ring[-1:] + ring[:-1], ring, strict=True):
            if inside(b):
                if not inside(a):
                    kept.append(cross(a, b))
                kept.append(b)
            elif inside(a):
                kept.append(cross(a, b))
        ring = kept
        if not ring:
            break
    return ring


def _at_x(a: Point, b: Point, x: float) -> Point:
    t = (x - a[0]) / (b[0] - a[0])
    return (x, a[1] + t * (b[1] - a[1]))


def _at_y(a: Point, b: Point, y: float) -> Point:
    t = (y - a[1]) / (b[1] - a[1])
    return (a[0] + t * (b[0] - a[0]), y)


def clip_line(line: list[Point], box: tuple[float, float, float, float]) -> list[list[Point]]:
    """The runs of a line that touch the box (each run keeps one point outside at either end)."""
    west, south, east, north = box
    inside = [west <= x <= east and south <= y <= north for x, y in line]
    runs, current = [], []
    for i, point in enumerate(line):
        near = inside[i] or (i > 0 and inside[i - 1]) or (i + 1 < len(line) and inside[i + 1])
        if near:
            current.append(point)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [run for run in runs if len(run) > 1]


def densify(ring: list[Point], step: float = 0.5) -> list[Point]:
    """Points every `step` degrees along long edges (those the clipping made along the box), so the
    edges follow their parallel or meridian once projected."""
    dense: list[Point] = []
    for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
        parts = max(1, math.ceil(max(abs(b[0] - a[0]), abs(b[1] - a[1])) / step))
        dense.extend(
            (a[0] + (b[0] - a[0]) * k / parts, a[1] + (b[1] - a[1]) * k / parts)
            for k in range(parts)
        )
    return dense


def polygons_of(geometry: dict[str, Any]) -> list[list[list[int]]]:
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["arcs"])
    return []


def rounded(points: list[Point]) -> list[list[float]]:
    return [[round(x, 3), round(y, 3)] for x, y in points]


def cut(topology: dict[str, Any], box: tuple[float, float, float, float]) -> dict[str, Any]:
    """The region's countries (clipped rings), borders (shared arcs) and coastlines (unshared arcs)."""
    arcs = [simplify(arc, TOLERANCE) for arc in decode_arcs(topology)]
    users: dict[int, int] = {}
    land = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        rings = []
        for polygon in polygons_of(geometry):
            for indexes in polygon:
                for i in indexes:
                    users[i if i >= 0 else ~i] = users.get(i if i >= 0 else ~i, 0) + 1
                ring = densify(clip_ring(unwrap(ring_points(arcs, indexes)), box))
                if len(ring) >= 3:
                    rings.append(rounded(ring))
        if rings:
            land.append({"name": geometry["properties"]["name"], "rings": rings})
    lines: dict[str, list[list[list[float]]]] = {"border": [], "coast": []}
    for i, count in sorted(users.items()):
        kind = "border" if count > 1 else "coast"
        lines[kind].extend(rounded(run) for run in clip_line(unwrap(arcs[i]), box))
    return {
        "source": f"Natural Earth 1:50m admin-0 countries (public domain), via npm {PACKAGE}",
        "box": list(box),
        "land": land,
        **lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topojson", type=Path, help="countries-50m.json of world-atlas")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    topology = json.loads(args.topojson.read_text()) if args.topojson else fetch_topology()
    region = cut(topology, BOX)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(region, separators=(",", ":")) + "\n")
    points = sum(len(r) for c in region["land"] for r in c["rings"])
    print(
        f"{args.out}: {len(region['land'])} countries, {points} land points, "
        f"{len(region['border'])} border and {len(region['coast'])} coast lines, "
        f"{args.out.stat().st_size // 1024} KiB"
    )


if __name__ == "__main__":
    main()
