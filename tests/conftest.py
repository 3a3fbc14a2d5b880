"""Shared fixtures. The database is real PostgreSQL (embedded unless DATABASE_URL
is set) and Redis is real Redis (embedded unless REDIS_URL is set)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent


def pytest_unconfigure(config):
    # Stop the embedded servers only if this session started them.
    from annotate import embedded

    embedded.stop_started_here()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def prm800k_records_path() -> Path:
    return FIXTURES / "prm800k_real_records.jsonl"


@pytest.fixture
def demo_file() -> Path:
    return REPO / "labeling" / "demo_data" / "gsm8k_example_model_solutions.jsonl"


@pytest.fixture
def write_jsonl(tmp_path):
    """Write lines (dicts are JSON-encoded, strings written as-is) to a temp file."""
    import json

    def write(lines, name="data.jsonl") -> Path:
        path = tmp_path / name
        with open(path, "w") as fh:
            for line in lines:
                fh.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
        return path

    return write
