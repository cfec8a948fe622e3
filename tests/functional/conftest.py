"""Functional fixtures: the CI emulator on a loopback port and a client signed for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
from jobwatch.ci import CIClient
from jobwatch.config import Credentials

CREDENTIALS = Credentials(TEST_SECRET_ID, TEST_SECRET_KEY)


@pytest.fixture
def emulator() -> Iterator[CIEmulator]:
    """A fresh emulator per test, on an ephemeral 127.0.0.1 port."""
    with CIEmulator() as emu:
        yield emu


class Sleeps(list[float]):
    """Records requested sleeps and sleeps a tiny fraction, so retry tests stay fast and observable."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(emulator: CIEmulator, sleeps: Sleeps) -> Iterator[CIClient]:
    """A client for the emulator; backoff sleeps are recorded, not slept."""
    c = CIClient(emulator.url, CREDENTIALS, sleep=sleeps, read_timeout=5.0)
    yield c
