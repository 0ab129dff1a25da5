"""Shared by every Python suite (Tests/e2e, Tests/browser, Tests/cluster): a failing test's report
carries what its fixtures attached (harness.reports). Everything else is in Tests/harness.

- `postgres` (function): a PostgreSQL of the test's own (harness.postgres: `.url`, `.port`,
  `.kill()`, `.start()`, `.restart()`, `.psql(sql)`); stopped and removed when the test ends, its
  log attached to a failing test's report.
"""

import pytest

from harness import reports
from harness.postgres import start_postgres


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when in ("setup", "call") and report.failed:
        report.sections.extend(reports.sections(item))


@pytest.fixture
def postgres(request, tmp_path):
    server = start_postgres(tmp_path)
    reports.attach(request.node, reports.logs_since_now([server]))
    yield server
    server.stop()
