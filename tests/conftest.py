"""Shared fixtures for labkit's tests."""
from __future__ import annotations

import pytest

from labkit.paths import REPO_ROOT


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def hourly():
    """The shipped hourly data, loaded once per test session (tests must not mutate it)."""
    from labkit.data import load_hourly

    return load_hourly()
