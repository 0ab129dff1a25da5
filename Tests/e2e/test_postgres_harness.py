"""The PostgreSQL harness itself (harness.postgres): started by initdb on a free port, answering
psql, killed with SIGKILL (backends included) and started again with its data."""

import pytest

from harness.postgres import psql


def test_start_query_kill_restart(postgres):
    assert psql(postgres.url, "SELECT 1, NULL::text, 'é|,\"x\"'") == [("1", None, 'é|,"x"')]
    psql(postgres.url, "CREATE TABLE kept (id int PRIMARY KEY, label text)")
    psql(postgres.url, "INSERT INTO kept VALUES (1, 'one'), (2, E'two\\nlines')")
    assert postgres.psql("SELECT id, label FROM kept ORDER BY id") == [("1", "one"), ("2", "two\nlines")]

    postgres.kill()
    assert not postgres.alive
    with pytest.raises(RuntimeError):
        psql(postgres.url, "SELECT 1", timeout=10)

    postgres.start()
    assert postgres.psql("SELECT count(*) FROM kept") == [("2",)]

    postgres.restart()
    assert postgres.psql("SELECT label FROM kept WHERE id = 1") == [("one",)]
