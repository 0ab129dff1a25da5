"""The codeinterview binary under test: $CODEINTERVIEW_BIN (scripts/test sets it), else
.build/debug/codeinterview; and which options its subcommands offer (their --help)."""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

from harness import REPO


def binary_path() -> str:
    path = os.environ.get("CODEINTERVIEW_BIN") or str(REPO / ".build" / "debug" / "codeinterview")
    if not os.access(path, os.X_OK):
        pytest.exit(f"codeinterview binary not found at {path}; build it and set CODEINTERVIEW_BIN", returncode=2)
    return path


@functools.cache
def _help(binary: str, command: str) -> str:
    out = subprocess.run([binary, command, "--help"], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def has_option(option: str, command: str = "gateway", binary: str | None = None) -> bool:
    """Whether `codeinterview COMMAND --help` lists `option` (a feature this build has)."""
    return option in _help(binary or binary_path(), command)


def binary_knows_redis_cluster() -> bool:
    """Whether the gateway of this build runs on a Redis Cluster (--redis-cluster)."""
    return has_option("--redis-cluster")
