"""A faithful local emulator of CI's /inventorytriggerjob API (see server.py)."""

from .jobs import EmuClock, EmulatedJob, JobBook
from .server import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator, EmulatorOptions, Faults

__all__ = [
    "TEST_SECRET_ID",
    "TEST_SECRET_KEY",
    "CIEmulator",
    "EmuClock",
    "EmulatedJob",
    "EmulatorOptions",
    "Faults",
    "JobBook",
]
