"""Local-only tools that never ship: the CI emulator, demo runner, local invoke, benchmarks."""
