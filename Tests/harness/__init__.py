"""The Python suites' one harness: real processes on free loopback ports, and the clients that
drive them. Tests/e2e, Tests/browser and Tests/cluster import it as `harness` (pytest.ini at the
repository root puts Tests/ on the path); their conftest.py files hold only fixtures.

- `binaries`: the codeinterview binary under test ($CODEINTERVIEW_BIN) and what its --help offers.
- `ports`: free loopback ports, single or in blocks (below the ephemeral range).
- `waiting`: `wait_for`, polling a condition until a deadline (never a bare sleep).
- `processes`: redis-server, a Redis Cluster, gateways and runners started here: each ready once
  a condition only the new process can satisfy holds, stopped by its pid and reaped; logs in files.
- `stack`: the browser suite's stack (Redis or a Redis Cluster, two gateways, a runner).
- `clusters`: whole clusters run by the operator's cluster/ scripts (HAProxy in front).
- `reports`: what a failing test's report carries (the logs written during it, screenshots).
- `rest`, `ws`: REST (httpx) and WebSocket (`websockets`, raw socket) clients.
- `ot`: ot.js' text operations and client state machine; `peers` (an editing peer on one
  gateway) and `editors` (an editor that reconnects through the balancer) drive it.
- `browsers`, `pages`: headless Chromium through Selenium, and what tests do with the page.
"""

from pathlib import Path

# The repository's root (this file is Tests/harness/__init__.py).
REPO = Path(__file__).resolve().parents[2]
