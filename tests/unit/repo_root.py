"""The repository root, for the unit tests that read its files (docs, samples, the packages' sources):
found by walking up to pyproject.toml, so it does not depend on how deep a test sits under tests/unit/."""

from __future__ import annotations

from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
