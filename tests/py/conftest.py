"""Shared fixtures for the Python tests (Terraform invariants, runbook against moto)."""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def moto_url() -> str:
    """A moto server started through scripts/moto.sh (free port, idempotent).

    If a server was already running (another session started it) it is reused and left
    running; otherwise the one started here is stopped at the end of the session.
    """
    script = ROOT / "scripts" / "moto.sh"
    already = subprocess.run([str(script), "url"], capture_output=True, text=True).returncode == 0
    out = subprocess.run([str(script), "start"], capture_output=True, text=True, check=True)
    url = out.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    if not already and not os.environ.get("KEEP_MOTO"):
        subprocess.run([str(script), "stop"], check=False)
