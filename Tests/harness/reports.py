"""What a failing test's report carries. A fixture attaches sources to the test (`attach`); when
the test's setup or body fails, Tests/conftest.py adds what each source gives as report sections.
A source is a callable returning (title, text) pairs, e.g. the logs written during the test."""

from __future__ import annotations

LIMIT = 20000  # characters of one section: its end


def attach(node, source):
    """Adds `source` to what the report of test `node` carries should it fail."""
    if not hasattr(node, "_ci_report_sources"):
        node._ci_report_sources = []
    node._ci_report_sources.append(source)


def logs_since_now(processes: list):
    """A source: what each of `processes` (a list that may grow meanwhile: a process added later
    counts from its start) logged from now on."""
    marks = {id(p): p.log_size() for p in processes}

    def source():
        return [(f"{p.title} log", p.read_log(marks.get(id(p), 0))) for p in processes]
    return source


def sections(item) -> list[tuple[str, str]]:
    """The sections of test `item`'s report: every attached source's, in order, each cut to its
    last LIMIT characters; a source that fails says so instead of hiding the failure."""
    out = []
    for source in getattr(item, "_ci_report_sources", []):
        try:
            for title, text in source():
                if text:
                    out.append((title, text if len(text) <= LIMIT else "...\n" + text[-LIMIT:]))
        except Exception as e:
            out.append(("report", f"(a source of this report failed: {e!r})"))
    return out
