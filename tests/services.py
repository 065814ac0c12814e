"""A missing service skips a test on a developer's machine and fails it in CI (CI=true)."""

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI=true and a required service is missing: {reason}")
    pytest.skip(reason)
