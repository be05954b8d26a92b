"""Shared test configuration: report whether Discord's API spec is there to validate against."""

from __future__ import annotations

import pytest

from tests.emulator.spec import SPEC_PATH, spec_missing_reason


def pytest_report_header(config: pytest.Config) -> str:
    reason = spec_missing_reason()
    if reason is None:
        return f"discord-api-spec: validating emulator requests against {SPEC_PATH}"
    return f"discord-api-spec: SKIPPED - {reason}"
