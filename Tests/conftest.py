"""Shared by every Python suite (Tests/e2e, Tests/browser, Tests/cluster): a failing test's report
carries what its fixtures attached (harness.reports). Everything else is in Tests/harness."""

import pytest

from harness import reports


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when in ("setup", "call") and report.failed:
        report.sections.extend(reports.sections(item))
