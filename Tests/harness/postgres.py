"""A real PostgreSQL for the Python suites (Debian's `postgresql`): `initdb` into a temporary
directory, `postgres` on a free loopback port with its Unix socket in that directory, trust
authentication for the `postgres` role, no fsync. Ready once its postmaster.pid names the process
started here and says "ready", and pg_isready answers on its port. initdb and postgres refuse to
run as root: as root they run as the `postgres` user (created by Debian's package) through
setpriv, in a directory of theirs under /tmp (pytest's tmp_path is root's alone).

- `start_postgres(tmp_path) -> PostgresServer`: `.url`, `.port`, `.stop()` (for good: the
  directory goes too), `.kill()` (SIGKILL of the postmaster and its backends, for fault tests),
  `.start()` (again, after kill), `.restart()` (fast shutdown if running, then start).
- `psql(url, sql) -> rows`: the rows of the last statement as tuples of str (None for NULL).
"""

from __future__ import annotations

import csv
import glob
import io
import os
import shutil
import signal
import subprocess
import tempfile

from harness.ports import free_port
from harness.processes import Process


def bin_dir() -> str:
    """The newest /usr/lib/postgresql/N/bin holding the server (Debian's layout: `pg_config
    --bindir` names the client's directory, which may lack it)."""
    dirs = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(os.path.join(d, "postgres"), os.X_OK)]
    dirs.sort(key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    if dirs:
        return dirs[-1]
    found = shutil.which("postgres")
    if found:
        return os.path.dirname(found)
    raise RuntimeError("PostgreSQL's server (postgres, initdb) not found under /usr/lib/postgresql or on PATH (run scripts/setup)")


def as_postgres(args: list[str]) -> list[str]:
    """`args`, run as the postgres user when this process is root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return list(args)
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *args]


class PostgresServer(Process):
    def __init__(self, log_dir: str, port: int | None = None):
        self.bin = bin_dir()
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="ci-postgres-", dir="/tmp" if os.geteuid() == 0 else None)
        self.data = os.path.join(self.dir, "data")
        if os.geteuid() == 0:
            import pwd
            user = pwd.getpwnam("postgres")
            os.chmod(self.dir, 0o755)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        initdb = subprocess.run(as_postgres([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                                             "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]),
                                capture_output=True, text=True, timeout=120)
        if initdb.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}{initdb.stderr}")
        # fsync off: tests lose processes, never the machine, and the kernel keeps what was written.
        # Commits stay synchronous: a SIGKILL (kill()) must lose nothing that was committed.
        super().__init__("postgres", as_postgres([
            os.path.join(self.bin, "postgres"), "-D", self.data, "-p", str(self.port), "-k", self.dir,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200"]),
            os.path.join(log_dir, f"postgres-{self.port}.log"))
        self._wait_ready()

    def _spawn(self):
        # Its own process group: kill() reaches the backends too (setpriv execs, so the pid we
        # hold is the postmaster's and the group's).
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir)
        self.pid = self.proc.pid

    @property
    def title(self) -> str:
        return f"postgres (port {self.port}, pid {self.pid})"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ready(self) -> bool:
        # postmaster.pid: line 1 the pid, line 8 the status ("ready" once it accepts connections).
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            lines = f.read().splitlines()
        if len(lines) < 8 or lines[0].strip() != str(self.pid) or lines[7].strip() != "ready":
            return False
        return subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-U", "postgres", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"],
                              timeout=10).returncode == 0

    def _wait_ready(self):
        self.wait_ready(self._ready, 60, "accepting connections")

    def start(self):
        """Starts it again on the same port and data (after kill() or a stop of the process)."""
        if self.alive:
            return
        if self._log.closed:
            self._log = open(self.log_path, "ab")
        self._spawn()
        self._wait_ready()

    def kill(self):
        """SIGKILL of the postmaster and every backend: a crash, nothing shut down cleanly."""
        if self.alive:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self._wait_group_gone()

    kill9 = kill

    def shutdown(self):
        """A fast shutdown (SIGINT: sessions ended, transactions rolled back); the data stays."""
        if self.alive:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._wait_group_gone()

    def restart(self):
        self.shutdown()
        self.start()

    def stop(self):
        """For good: the server stopped (its whole group), its directory removed."""
        self.shutdown()
        if self.alive:
            self.kill()
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _wait_group_gone(self, timeout: float = 10):
        # Backends orphaned by a kill hold the shared memory a new postmaster checks: wait them out.
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                pass
            time.sleep(0.05)

    def psql(self, sql: str) -> list[tuple]:
        return psql(self.url, sql)


def start_postgres(tmp_path) -> PostgresServer:
    """A PostgreSQL of the test's own (its log in `tmp_path`)."""
    return PostgresServer(str(tmp_path))


NULL = "\\N"


def psql(url: str, sql: str, timeout: float = 30) -> list[tuple]:
    """Runs `sql` through psql (stops at the first error: raises); the rows of its last statement,
    as tuples of str, None for NULL."""
    out = subprocess.run(["psql", "-X", "-w", "-q", "--csv", "-t", "-P", f"null={NULL}", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed ({out.returncode}): {out.stderr.strip()}")
    return [tuple(None if value == NULL else value for value in row) for row in csv.reader(io.StringIO(out.stdout)) if row]
