"""Pytest fixtures that start the Azure ML emulator for one test and hand its environment to the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .ca import CertificateAuthority
from .emulator import AzureEmulator


@pytest.fixture(scope="session")
def azure_emulator_ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    """One throw-away CA per session: minting it once keeps the per-test start-up cost near zero."""
    return CertificateAuthority(tmp_path_factory.mktemp("azure-emulator-ca"))


@pytest.fixture
def azure_emulator(azure_emulator_ca: CertificateAuthority, tmp_path: Path) -> Iterator[AzureEmulator]:
    """A running emulator; apply ``.env`` with monkeypatch (or pass it to a subprocess) to route traffic to it."""
    home = tmp_path / "azure-emulator-home"
    (home / ".azure").mkdir(parents=True)
    emulator = AzureEmulator(azure_emulator_ca, home)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
