"""Fixtures of the browser suite: real processes and a real headless Chromium (Tests/harness).

- `stack` (session): redis-server (or, with BROWSER_REDIS_CLUSTER=1, a 3-primary Redis Cluster),
  gateways A and B, one runner offering Python and C (`harness.stack.Stack`).
- `browsers` (session): opens Debian's chromium headless through Selenium and Debian's
  chromium-driver; each browser has its own profile (`harness.browsers.Browsers`).

Screenshots go to Tests/browser/artifacts/ (git-ignored). When a test fails, what every process
logged during it is attached to the report, with a screenshot of each open browser.
"""

from __future__ import annotations

import pytest

from harness import reports
from harness.browsers import Browsers
from harness.stack import Stack


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browsers():
    b = Browsers()
    yield b
    b.close_all()


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    """A failing test's report gets what every process logged since it began, and the browsers."""
    if "stack" in request.fixturenames:
        reports.attach(request.node, reports.logs_since_now(request.getfixturevalue("stack").processes))
    if "browsers" in request.fixturenames:
        reports.attach(request.node, request.getfixturevalue("browsers").report(request.node.name))
    yield
