"""The test suite; ROOT is the project's checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
