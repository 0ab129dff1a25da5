#!/usr/bin/env python3
"""Splits a session-GET callgrind profile (httpprofile.py's) into stages, per request:

    python3 scripts/bench.d/httpstages.py CALLGRIND_FILE REQUESTS

read + HTTP parse: HTTPConnection.received minus afterParse; routing: Router.handle minus
Router.run; the Redis call: the session controller's handler (Sessions.session: keys, arguments,
the command formatted and queued); the Redis reply: hiredis' read callback minus the answer;
JSON + response write: the answer (RequestContext.reply of the session: the JSON, its bytes, the
head, the write); the rest: the loop, epoll, timers, whatever else ran."""
import re, subprocess, sys

path, requests = sys.argv[1], int(sys.argv[2])
out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                     capture_output=True, text=True).stdout
inclusive = {}
for line in out.splitlines():
    m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+\?\?\?:(\S+)", line)
    if m:
        inclusive.setdefault(m.group(2), int(m.group(1).replace(",", "")))


def cost(pattern):
    """The largest inclusive cost among functions whose symbol matches `pattern`."""
    found = [v for k, v in inclusive.items() if re.search(pattern, k)]
    return max(found) if found else 0


total = max(inclusive.values())
received = cost(r"HTTPConnectionC8received")
after_parse = cost(r"HTTPConnectionC10afterParse")
handle = cost(r"RouterC6handle")
run = cost(r"RouterC3run")
reply_callback = cost(r"^\$s5Redis13replyCallback")
answer = cost(r"SessionControllerC03getB0.*cfU_$")
stages = [
    ("read + HTTP parse", received - after_parse),
    ("routing (match, middleware, policy)", handle - run),
    ("the Redis call (handler to the queued command)", run),
    ("the Redis reply (parse, callback, assemble)", reply_callback - answer),
    ("JSON + response write", answer),
]
stages.append(("the rest (loop, epoll, timers)", total - sum(v for _, v in stages) - (after_parse - handle)))
for name, value in stages:
    print(f"{value / requests:>10,.0f}  {name}")
print(f"{total / requests:>10,.0f}  total per request")
