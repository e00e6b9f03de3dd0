"""Bad uploads through the API: files over the size limit, and files the readers refuse.

Each refusal has the right status, a message that says what to fix, and stores nothing.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from cityos.app import create_app
from cityos.auth.models import User
from cityos.config import Settings
from cityos.datahub import physical, service
from cityos.datahub.models import Dataset, Load
from cityos.datahub.upload_limit import FORM_OVERHEAD, MiB, UploadLimit
from tests.datahub.access_support import PLAIN_ROWS, PLAIN_SCHEMA, bearer
from tests.datahub.conftest import MakeDataset

LIMIT_MB = 0.01
GOOD_CSV = b"id,name,beds\n10,Central,300\n11,Harbour,\n"
BOUNDARY = "cityos-test-boundary"


@pytest.fixture
def hospitals(make_dataset: MakeDataset) -> Dataset:
    return make_dataset(name="hospitals", descriptor=PLAIN_SCHEMA, rows=PLAIN_ROWS)


@pytest.fixture
def steward(db: Session, stewards: dict[str, User]) -> dict[str, str]:
    return bearer(db, stewards["cmb"])


@pytest.fixture
def limited_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """An app whose data uploads stop at 0.01 MB (10 KiB)."""
    small = settings.model_copy(update={"datahub_max_upload_mb": LIMIT_MB})
    with TestClient(create_app(small, engine=engine)) as client:
        yield client


def _error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def _upload(
    client: TestClient, headers: dict[str, str], filename: str, content: bytes, **form: str
) -> Any:
    return client.post(
        "/api/data/hospitals/loads",
        files={"file": (filename, content, "application/octet-stream")},
        data=form,
        headers=headers,
    )


def _stored(db: Session, dataset: Dataset) -> tuple[int, int, int]:
    """(row count, rows in the table, loads) of the dataset, fresh from the database."""
    db.expire_all()
    found = service.get_dataset(db, name=dataset.name)
    schema = service.current_schema(db, dataset=found)
    assert schema is not None
    table = physical.table_for(schema, dataset_id=found.id, version=found.schema_version or 1)
    rows = db.scalar(select(func.count()).select_from(table)) or 0
    loads = db.scalar(select(func.count()).select_from(Load).where(Load.dataset_id == found.id))
    return found.row_count, int(rows), int(loads or 0)


# --- the size limit ---------------------------------------------------------------------------


def test_an_upload_declared_over_the_limit_is_refused_before_it_is_read(
    limited_client: TestClient, db: Session, hospitals: Dataset, steward: dict[str, str]
) -> None:
    before = _stored(db, hospitals)
    big = GOOD_CSV + b"12,North,5\n" * 10_000  # about 110 KB
    refused = _upload(limited_client, steward, "beds.csv", big)
    assert refused.status_code == 413
    error = _error(refused)
    assert error["code"] == "payload_too_large"
    assert error["message"] == (
        "The upload is too large: the limit is 0.01 MB; load bigger files with "
        "`cityos data load` instead."
    )
    assert _stored(db, hospitals) == before
    inferred = limited_client.post(
        "/api/data/infer", files={"file": ("beds.csv", big, "text/csv")}, headers=steward
    )
    assert inferred.status_code == 413


def _multipart(filename: str, content: bytes) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    for start in range(0, len(content), 8192):
        yield content[start : start + 8192]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_chunked_upload_over_the_limit_is_cut_off(
    limited_client: TestClient, db: Session, hospitals: Dataset, steward: dict[str, str]
) -> None:
    before = _stored(db, hospitals)
    big = GOOD_CSV + b"12,North,5\n" * 10_000
    refused = limited_client.post(
        "/api/data/hospitals/loads",
        content=_multipart("beds.csv", big),  # a generator: sent without Content-Length
        headers={**steward, "content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert refused.status_code == 413
    assert _error(refused)["code"] == "payload_too_large"
    assert "the limit is 0.01 MB" in _error(refused)["message"]
    assert _stored(db, hospitals) == before


def test_an_upload_under_the_limit_is_loaded(
    limited_client: TestClient, db: Session, hospitals: Dataset, steward: dict[str, str]
) -> None:
    stored = _upload(limited_client, steward, "beds.csv", GOOD_CSV)
    assert stored.status_code == 201, stored.text
    assert stored.json()["rows_loaded"] == 2
    chunked = limited_client.post(
        "/api/data/hospitals/loads",
        content=_multipart("more.csv", b"id,name,beds\n12,North,5\n"),
        headers={**steward, "content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert chunked.status_code == 201, chunked.text
    assert _stored(db, hospitals)[:2] == (5, 5)


def _run(app: Any, scope: Scope, chunks: list[bytes]) -> tuple[list[Message], list[int]]:
    """Send ``chunks`` through ``UploadLimit(app)``; the answer, and what the app read."""
    sent: list[Message] = []
    pending = list(chunks)

    async def receive() -> Message:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(
        UploadLimit(app, settings=Settings(datahub_max_upload_mb=LIMIT_MB))(scope, receive, send)
    )
    return sent, app.read


class Consumer:
    """An app that reads the whole body, then answers 201."""

    def __init__(self) -> None:
        self.read: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            self.read.append(total)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"stored"})


def _scope(path: str, *, method: str = "POST", length: int | None = None) -> Scope:
    headers = [(b"content-length", str(length).encode())] if length is not None else []
    return {"type": "http", "method": method, "path": path, "headers": headers}


def test_the_middleware_stops_a_stream_before_the_app_reads_past_the_limit() -> None:
    limit = int(LIMIT_MB * MiB) + FORM_OVERHEAD
    app = Consumer()
    sent, read = _run(app, _scope("/api/data/x/loads"), [b"x" * 4096] * 40)
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[-1]["body"]
    assert max(read) <= limit  # the chunk that would pass the limit never reached the app
    declared = Consumer()
    sent, read = _run(declared, _scope("/data/new", length=limit + 1), [b"x"])
    assert sent[0]["status"] == 413
    assert read == []  # refused from Content-Length: the app never ran


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/data/x/loads", "GET"), ("/api/data/x/rows", "POST"), ("/data/x/requests", "POST")],
)
def test_the_middleware_leaves_other_requests_alone(path: str, method: str) -> None:
    app = Consumer()
    sent, read = _run(app, _scope(path, method=method), [b"x" * 4096] * 40)
    assert sent[0]["status"] == 201
    assert read[-1] == 40 * 4096


# --- files the readers refuse -----------------------------------------------------------------


def _zip_bomb(path: Path) -> bytes:
    """An XLSX whose sheet unpacks 8 MiB of zeros from a few KiB."""
    block = b"0" * MiB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(8):
                member.write(block)
    return path.read_bytes()


BIG_CELL = b"id,name,beds\n1,small,2\n3," + b"x" * (2 * MiB) + b",4\n"
GBK = "id,name,beds\n1,中心医院,300\n".encode("gbk")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)

BAD_FILES: list[tuple[str, str, bytes | None, dict[str, str], int, tuple[str, ...]]] = [
    # id, file name, content (None: the zip bomb), form, status, what the message says
    (
        "zip-bomb",
        "beds.xlsx",
        None,
        {},
        413,
        ("looks like a zip bomb", "Upload the data as CSV or Parquet instead"),
    ),
    ("big-cell", "beds.csv", BIG_CELL, {}, 413, ("row 3, column 2 ('name') holds 2.0 MiB",)),
    (
        "unbalanced-quote",
        "beds.csv",
        b'id,name,beds\n1,a,2\n3,"oops,4\n5,b,6\n',
        {},
        400,
        ("a quoted cell starts at row 3 and never ends",),
    ),
    (
        "duplicate-header",
        "beds.csv",
        b"id,name,name\n1,a,b\n",
        {},
        400,
        ("Columns 2 and 3 are both called 'name'",),
    ),
    (
        "wrong-encoding",
        "beds.csv",
        GBK,
        {"encoding": "utf-8"},
        400,
        ("not valid UTF-8 at line 2", "try the encoding gb18030"),
    ),
    (
        "binary",
        "beds.csv",
        PNG,
        {},
        400,
        (
            "This file is not CSV text: it looks like a PNG image",
            "Upload a CSV, TSV, XLSX, JSON, GeoJSON or Parquet file.",
        ),
    ),
]


@pytest.mark.parametrize(
    ("filename", "content", "form", "status", "says"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_FILES],
)
def test_a_file_the_readers_refuse_is_answered_with_what_to_fix_and_stores_nothing(
    client: TestClient,
    db: Session,
    hospitals: Dataset,
    steward: dict[str, str],
    tmp_path: Path,
    filename: str,
    content: bytes | None,
    form: dict[str, str],
    status: int,
    says: tuple[str, ...],
) -> None:
    before = _stored(db, hospitals)
    data = content if content is not None else _zip_bomb(tmp_path / "bomb.xlsx")
    refused = _upload(client, steward, filename, data, **form)
    assert refused.status_code == status, refused.text
    message = _error(refused)["message"]
    for fragment in says:
        assert fragment in message
    row_count, rows, _loads = _stored(db, hospitals)
    assert (row_count, rows) == before[:2]


def test_an_unreadable_file_is_in_the_load_history_as_rejected(
    client: TestClient, db: Session, hospitals: Dataset, steward: dict[str, str]
) -> None:
    refused = _upload(client, steward, "beds.csv", b"id,name,name\n1,a,b\n")
    assert refused.status_code == 400
    history = client.get("/api/data/hospitals/loads", headers=steward).json()["loads"]
    assert history[0]["status"] == "rejected"
    assert history[0]["filename"] == "beds.csv"
    assert "Columns 2 and 3 are both called 'name'" in history[0]["summary"]
