"""Open311 search: ``GET /open311/v2/requests.json`` with typical filters on 1M cases.

The database is seeded as for ``cases_post.py`` (demo city and catalog, 1,000,000 synthetic
cases over the last 365 days; not timed) and served by uvicorn (one worker, pinned to CPU 0);
the client (pinned to CPU 1) sends one request at a time over a keep-alive connection and
times the whole HTTP exchange. Typical client searches, drawn with a fixed seed:

* ``service_code=C&status=open&page_size=50`` (the default window: the last 90 days)
* ``service_code=C1,C2&start_date=…&end_date=…`` (30 days) ``&page_size=50&page=2``
* ``status=closed&start_date=…&end_date=…`` (7 days) ``&page_size=50&page=3``
* ``page_size=50`` (the newest requests)

The baseline answers the same question with the plain SQL a hand-written endpoint would run
(the same filters, order and page in a subquery, then joined to the category and department
for the record's names), executed on a raw connection in the client process, alternating
with ours query by query. Target: p95 < 50 ms for ours. For context: the specification's
default page (no ``page_size``: the first 1,000 requests) and ``extensions=true`` pages.

Run: ``python benchmarks/cases_query.py`` (1M cases) or ``--quick`` (50k cases; under a
minute). ``--database-url`` seeds and serves PostgreSQL instead (its tables must be empty).
Results are appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from sqlalchemy import Connection, text

from cases_support import (
    SEED,
    append_results,
    build_database,
    cityos_server,
    database_label,
    get_bytes,
    machine,
    pin_client,
    versions,
)
from cityos.cases.catalog import list_categories
from cityos.cases.models import OPEN_STATUSES
from cityos.db import make_engine, make_session_factory

PATH = "/open311/v2/requests.json"
TARGET_P95_MS = 50.0
OPEN = [status.value for status in OPEN_STATUSES]
BASELINE_SQL = """
SELECT p.*, k.service_code, k.name_en, d.name_en
FROM (
    SELECT c.id, c.category_id, c.department_id, c.status, c.status_notes, c.description,
           c.requested_at, c.updated_at, c.resolve_due_at, c.address, c.address_id,
           c.zipcode, c.lat, c.lon
    FROM cases_cases c
    WHERE {where}
    ORDER BY c.requested_at DESC, c.id DESC
    LIMIT :limit OFFSET :offset
) p
JOIN cases_categories k ON k.id = p.category_id
LEFT JOIN auth_departments d ON d.id = p.department_id
ORDER BY p.requested_at DESC, p.id DESC
"""


@dataclass(frozen=True)
class Search:
    kind: str
    params: dict[str, str]
    category_ids: list[int]
    status: str | None  # open / closed / None
    start: datetime
    end: datetime | None
    page: int
    page_size: int


def searches(codes: dict[str, int], now: datetime, count: int) -> list[Search]:
    rng = np.random.default_rng(SEED + 2)
    names = sorted(codes)
    made: list[Search] = []
    for i in range(count):
        kind = ("code_open", "codes_window", "closed_week", "newest")[i % 4]
        chosen = [names[int(j)] for j in rng.choice(len(names), size=2, replace=False)]
        day = now - timedelta(days=float(rng.uniform(40, 360)))
        if kind == "code_open":
            params = {"service_code": chosen[0], "status": "open", "page_size": "50"}
            made.append(
                Search(
                    kind, params, [codes[chosen[0]]], "open", now - timedelta(days=90), None, 1, 50
                )
            )
        elif kind == "codes_window":
            start, end = day, day + timedelta(days=30)
            params = {
                "service_code": ",".join(chosen),
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "page_size": "50",
                "page": "2",
            }
            made.append(Search(kind, params, [codes[c] for c in chosen], None, start, end, 2, 50))
        elif kind == "closed_week":
            start, end = day, day + timedelta(days=7)
            params = {
                "status": "closed",
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "page_size": "50",
                "page": "3",
            }
            made.append(Search(kind, params, [], "closed", start, end, 3, 50))
        else:
            made.append(
                Search(kind, {"page_size": "50"}, [], None, now - timedelta(days=90), None, 1, 50)
            )
    return made


def baseline_query(connection: Connection, search: Search, *, sqlite: bool) -> list[Any]:
    """The plain SQL of ``search``: same filters, order and page."""

    def moment(value: datetime) -> Any:
        return value.astimezone(UTC).replace(tzinfo=None) if sqlite else value

    where = ["c.requested_at >= :start"]
    values: dict[str, Any] = {
        "start": moment(search.start),
        "limit": search.page_size,
        "offset": (search.page - 1) * search.page_size,
    }
    if search.end is not None:
        where.append("c.requested_at <= :end")
        values["end"] = moment(search.end)
    if search.category_ids:
        marks = ", ".join(f":k{i}" for i in range(len(search.category_ids)))
        where.append(f"c.category_id IN ({marks})")
        values |= {f"k{i}": value for i, value in enumerate(search.category_ids)}
    if search.status is not None:
        marks = ", ".join(f":s{i}" for i in range(len(OPEN)))
        where.append(f"c.status {'IN' if search.status == 'open' else 'NOT IN'} ({marks})")
        values |= {f"s{i}": value for i, value in enumerate(OPEN)}
    statement = text(BASELINE_SQL.format(where=" AND ".join(where)))
    return list(connection.execute(statement, values))


class Client:
    """One keep-alive HTTP/1.1 connection, blocking (one request at a time)."""

    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(get_bytes(path))
        status = int(self.file.readline()[9:12])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, self.file.read(length)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return (time.perf_counter() - start) * 1000, result


def p(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="50k cases, 400 queries (< 1 min).")
    parser.add_argument("--cases", type=int, help="Cases to seed (default 1,000,000).")
    parser.add_argument("--queries", type=int, help="Searches to time (default 2,000).")
    parser.add_argument("--database-url", help="Use this (empty, migrated or new) database.")
    parser.add_argument("--no-write", action="store_true", help="Do not append to RESULTS.md.")
    args = parser.parse_args()
    cases = args.cases or (50_000 if args.quick else 1_000_000)
    count = args.queries or (400 if args.quick else 2_000)
    context_count = 20 if args.quick else 100
    mode = "quick" if args.quick else "full"

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        url = args.database_url or f"sqlite:///{folder / 'cases.db'}"
        seeded = build_database(url, cases=cases)
        print(f"seeded {cases:,} cases in {seeded.seconds:.0f} s", file=sys.stderr)
        engine = make_engine(url)
        with make_session_factory(engine)() as db_session:
            codes = {c.service_code: c.id for c in list_categories(db_session)}
        plan = searches(codes, datetime.now(UTC), count + 40)
        warm, plan = plan[:40], plan[40:]
        pin_client()
        ours: dict[str, list[float]] = {}
        base: dict[str, list[float]] = {}
        sizes: list[int] = []
        context: dict[str, list[float]] = {"default page (1,000)": [], "extensions=true, 50": []}
        errors = 0
        with cityos_server(url, cwd=folder) as server, engine.connect() as connection:
            client = Client(server.port)
            sqlite = url.startswith("sqlite")
            for search in warm:
                client.get(f"{PATH}?{urlencode(search.params)}")
                baseline_query(connection, search, sqlite=sqlite)
            for search in plan:
                ms, (status, body) = timed(
                    lambda s=search: client.get(f"{PATH}?{urlencode(s.params)}")
                )
                base_ms, rows = timed(lambda s=search: baseline_query(connection, s, sqlite=sqlite))
                if status != 200:
                    errors += 1
                    print(f"  {status}: {body[:200]!r}", file=sys.stderr)
                    continue
                found = json.loads(body)
                if len(found) != len(rows):
                    errors += 1
                    print(
                        f"  {search.kind}: {len(found)} records, SQL {len(rows)}", file=sys.stderr
                    )
                ours.setdefault(search.kind, []).append(ms)
                base.setdefault(search.kind, []).append(base_ms)
                sizes.append(len(found))
            for i in range(context_count):
                context["default page (1,000)"].append(timed(lambda: client.get(PATH))[0])
                search = plan[i]
                query = urlencode({**search.params, "extensions": "true"})
                context["extensions=true, 50"].append(
                    timed(lambda q=query: client.get(f"{PATH}?{q}"))[0]
                )
            client.close()
        database = database_label(url, engine)
        engine.dispose()

    every = [ms for values in ours.values() for ms in values]
    every_base = [ms for values in base.values() for ms in values]
    o50, o95 = p(every, 50), p(every, 95)
    b50, b95 = p(every_base, 50), p(every_base, 95)
    print(
        f"cases_query: GET requests.json p50 {o50:.1f} ms, p95 {o95:.1f} ms over {len(every):,} "
        f"typical searches (target p95 < {TARGET_P95_MS:.0f} ms); baseline plain SQL p50 "
        f"{b50:.1f} ms, p95 {b95:.1f} ms; ratio of medians {b50 / o50:.2f}"
        + (f"; {errors} ERRORS" if errors else "")
    )
    rows: list[tuple[str, ...]] = []
    for kind in ("code_open", "codes_window", "closed_week", "newest"):
        if kind in ours:
            rows.append(
                (
                    kind,
                    f"{p(ours[kind], 50):.1f} / {p(ours[kind], 95):.1f}",
                    f"{p(base[kind], 50):.1f} / {p(base[kind], 95):.1f}",
                    f"{p(base[kind], 50) / p(ours[kind], 50):.2f}",
                    f"p95 < {TARGET_P95_MS:.0f}",
                )
            )
    rows.append(
        (
            "**all typical searches**",
            f"**{o50:.1f} / {o95:.1f}**",
            f"{b50:.1f} / {b95:.1f}",
            f"{b50 / o50:.2f}",
            f"p95 < {TARGET_P95_MS:.0f}",
        )
    )
    for name, values in context.items():
        rows.append(
            (f"context: {name}", f"{p(values, 50):.1f} / {p(values, 95):.1f}", "—", "—", "—")
        )
    extra = (
        f"Machine: {machine()}; {versions()}; database: {database}, {cases:,} cases (demo city "
        f"and catalog, seeded in {seeded.seconds:.0f} s, not timed). uvicorn, one worker pinned "
        f"to CPU 0; one keep-alive client on CPU 1, one request at a time, the whole HTTP "
        f"exchange timed; the baseline SQL runs in the client process, alternating query by "
        f"query. {len(every):,} searches after {len(warm)} warm-up ones; "
        f"{statistics.mean(sizes):.0f} records per answer on average. Errors or mismatched "
        f"counts: {errors}."
    )
    if not args.no_write:
        append_results(
            "cases_query",
            rows,
            mode=mode,
            extra=extra,
            header=("search", "ours p50 / p95 (ms)", "plain SQL p50 / p95 (ms)", "ratio", "target"),
        )
    return 0 if o95 < TARGET_P95_MS and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
