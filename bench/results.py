"""bench/RESULTS.md is written by several benchmarks, each its own part: ``make bench``'s sweep tables first, then
one ``## `` section per other benchmark. Each writer replaces its part and keeps the others."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _parts(text: str) -> tuple[str, list[str]]:
    """The head (before the first ``## `` section) and the sections, each starting with its heading."""
    head, *sections = text.split("\n## ")
    return head, ["## " + s for s in sections]


def write_head(text: str) -> None:
    """Replace the head, keep every section."""
    _, sections = _parts(RESULTS.read_text()) if RESULTS.exists() else ("", [])
    RESULTS.write_text("\n".join([text.rstrip() + "\n", *sections]))


def write_section(title: str, text: str) -> None:
    """Replace (or add) the section ``## <title>``; ``text`` starts with that heading."""
    head, sections = _parts(RESULTS.read_text()) if RESULTS.exists() else ("", [])
    kept = [s for s in sections if not s.startswith(f"## {title}\n")]
    RESULTS.write_text("\n".join([head.rstrip() + "\n", *[s.rstrip() + "\n" for s in kept], text.rstrip() + "\n"]))
