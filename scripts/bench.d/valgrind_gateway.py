"""The gateway under valgrind, for the profilers of scripts/bench.d (httpprofile.py, idleprofile.py).

Debian 12's valgrind 3.19 cannot read the DWARF 5 that Swift 6 emits ("possibly corrupted
debuginfo"): the profilers run a copy of the binary without debug info (`objcopy --strip-debug`),
whose symbol table stays, so every function is still named. The harness starts a gateway from a
binary path: the wrapper script is that path, running the copy under the tool.
"""
import os
import subprocess


def wrapped(binary, out, tool_flags, name):
    """Writes OUT/NAME, a script that runs a debug-info-free copy of `binary` under valgrind with
    `tool_flags` (its %p is the gateway's pid); answers its path."""
    copy = os.path.join(out, "codeinterview")
    subprocess.run(["objcopy", "--strip-debug", binary, copy], check=True)
    wrapper = os.path.join(out, name)
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind {tool_flags} {copy} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return wrapper
