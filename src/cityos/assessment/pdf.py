"""Print the HTML report to PDF with headless Chromium.

The report is self-contained, so the browser reads one local file and needs no network.
Each call gets its own temporary folder (the page, the PDF and a throw-away browser profile,
so concurrent calls never share a profile lock) and is stopped — with every process it
started — when it exceeds ``timeout``. The browser is ``CITYOS_CHROMIUM_PATH`` or the first of
``chromium``, ``chromium-browser``, ``google-chrome`` on the PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from cityos.config import get_settings
from cityos.errors import CityOSError

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--no-pdf-header-footer",
)
INSTALL_HINT = (
    "install Chromium (e.g. apt-get install chromium) or set CITYOS_CHROMIUM_PATH to the "
    "browser's executable"
)


class BrowserUnavailable(CityOSError):
    """No browser to print with, or it failed: the PDF cannot be made right now."""

    status_code = 503
    code = "browser_unavailable"


def find_chromium(configured: str | None = None, *, search_path: str | None = None) -> str:
    """The browser executable: ``configured`` (a path or a command name) or the first known
    name on the PATH (``search_path`` replaces the PATH, for tests)."""
    if configured:
        found = shutil.which(configured, path=search_path)
        if found is None:
            raise BrowserUnavailable(
                f"The configured browser {configured!r} (CITYOS_CHROMIUM_PATH) is not an "
                f"executable: {INSTALL_HINT}"
            )
        return found
    for name in BROWSER_NAMES:
        found = shutil.which(name, path=search_path)
        if found is not None:
            return found
    raise BrowserUnavailable(
        f"No browser to print the PDF with ({', '.join(BROWSER_NAMES)} are not on the PATH): "
        f"{INSTALL_HINT}"
    )


def render_pdf(html: str, *, chromium: str | None = None, timeout: float = 120) -> bytes:
    """``html`` printed to A4 PDF bytes by headless Chromium.

    ``chromium`` names the browser; None uses the ``chromium_path`` setting, then the PATH.
    Raises BrowserUnavailable (503) when there is no browser, it fails or it times out."""
    browser = find_chromium(chromium if chromium is not None else get_settings().chromium_path)
    with tempfile.TemporaryDirectory(prefix="cityos-pdf-") as folder:
        source = Path(folder) / "report.html"
        target = Path(folder) / "report.pdf"
        source.write_text(html, encoding="utf-8")
        command = [
            browser,
            *FLAGS,
            f"--user-data-dir={Path(folder) / 'profile'}",
            f"--print-to-pdf={target}",
            source.as_uri(),
        ]
        code, stderr = _run(command, cwd=folder, timeout=timeout)
        data = target.read_bytes() if target.exists() else b""
        if not data.startswith(b"%PDF"):
            tail = stderr.decode("utf-8", "replace").strip()[-600:]
            raise BrowserUnavailable(
                f"{browser} exited with status {code} without writing a PDF"
                + (f": {tail}" if tail else "")
            )
        return data


def _run(command: list[str], *, cwd: str, timeout: float) -> tuple[int, bytes]:
    """Run ``command`` in its own process group; stop the whole group when it is done or
    late. Its output goes to a file, not a pipe: helpers a browser leaves running would keep
    a pipe open."""
    log = Path(cwd) / "browser.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise BrowserUnavailable(
                f"{command[0]} did not finish the PDF within {timeout:g} s and was stopped"
            ) from None
        _kill_group(process)
    return code, log.read_bytes()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
