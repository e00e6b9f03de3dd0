"""A real uvicorn server in a thread, for tests that drive CityOS with a browser or a client.

Also Debian's Chromium for Playwright: its path and the flags every browser test uses.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from cityos.app import create_app
from cityos.config import Settings
from cityos.ops import live
from tests.conftest import need_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# How many pixels the canvas under `selector` has painted (a chart or map drew something)
PAINTED = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas || !canvas.width || !canvas.height) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
  return painted;
}"""


def need_chromium() -> None:
    if not CHROMIUM.exists():
        need_service("Debian's chromium is not installed (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(database_url: str, engine: Engine, **overrides: Any) -> Iterator[str]:
    """CityOS on ``engine`` served by uvicorn in a thread; yields its base URL.
    ``overrides`` are further settings (a broker, say)."""
    port = free_port()
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "live-test-secret",
        "base_url": f"http://127.0.0.1:{port}",
        "map_tile_url": "",  # no network here: maps draw the areas on a plain background
        "default_language": "en",
        "worker_interval_seconds": 0,
    }
    settings = Settings(**(values | overrides))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        live.close_streams()  # open event streams would hold the server's shutdown
        server.should_exit = True
        thread.join(timeout=10)
