"""web/markdown.js in the browser: the prompt subset renders, and nothing in a prompt becomes
markup, a script, a handler or a link other than http(s).

The interview flow (test_questions.py) renders a hostile prompt set through the real routes; here
the renderer alone gets the long list of tricks, each into a fresh container, and the test reads
back the elements it made."""

from __future__ import annotations

import pytest

RENDER = """
const [cases, done] = [arguments[0], arguments[arguments.length - 1]];
import('/static/markdown.js').then(({ renderMarkdown }) => {
  window.__pwned = 0;
  const out = [];
  for (const source of cases) {
    const box = document.createElement('div');
    box.append(renderMarkdown(source));
    document.body.append(box);
    const all = [...box.querySelectorAll('*')];
    out.push({
      html: box.innerHTML,
      text: box.textContent,
      tags: all.map((e) => e.tagName.toLowerCase()),
      attributes: all.flatMap((e) => [...e.attributes].map((a) => `${e.tagName.toLowerCase()}.${a.name}=${a.value}`)),
      links: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
    });
  }
  // Give an <img onerror> or a <script> every chance to run before looking.
  setTimeout(() => done({ out, pwned: window.__pwned }), 300);
}).catch((e) => done({ error: String(e && e.stack || e) }));
"""

ALLOWED_TAGS = {"h3", "h4", "h5", "h6", "p", "em", "strong", "code", "pre", "ul", "ol", "li", "a", "span"}
ALLOWED_ATTRIBUTES = {"a.href", "a.target", "a.rel", "code.data-language", "span.class", "ol.start"}


@pytest.fixture(scope="module")
def page(stack, browsers):
    d = browsers.new("markdown")
    d.set_script_timeout(30)
    d.get(stack.a.url + "/")
    return d


def render(page, *sources):
    result = page.execute_async_script(RENDER, list(sources))
    assert "error" not in result, result.get("error")
    assert result["pwned"] == 0, "a prompt ran script"
    for r in result["out"]:
        assert set(r["tags"]) <= ALLOWED_TAGS, r
        for attribute in r["attributes"]:
            assert attribute.split("=", 1)[0] in ALLOWED_ATTRIBUTES, (attribute, r["html"])
    return result["out"]


def test_the_subset_renders(page):
    [r] = render(page, "# Two sum\n\nGiven *numbers* and a **target**, print `i j`.\n\n"
                 "- first\n- second\n  continued\n\n3. three\n4. four\n\n"
                 "```python\nprint(1 < 2 and 'a' & 'b')\n```\n\n"
                 "See [the docs](https://docs.python.org/3/library/functions.html#sum) or "
                 "[Wikipedia](https://en.wikipedia.org/wiki/Subset_(mathematics)).\n\nsnake_case_name stays_plain")
    html = r["html"]
    assert "<h3>Two sum</h3>" in html
    assert "<em>numbers</em>" in html and "<strong>target</strong>" in html and "<code>i j</code>" in html
    assert "<ul><li>first</li><li>second\ncontinued</li></ul>" in html
    assert '<ol start="3"><li>three</li><li>four</li></ol>' in html
    assert '<pre><code data-language="python">print(1 &lt; 2 and \'a\' &amp; \'b\')</code></pre>' in html
    assert r["links"] == ["https://docs.python.org/3/library/functions.html#sum",
                          "https://en.wikipedia.org/wiki/Subset_(mathematics)"]
    assert "snake_case_name stays_plain" in r["text"]
    assert html.count('rel="noopener noreferrer nofollow"') == 2 and html.count('target="_blank"') == 2


HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '<svg onload="window.__pwned = 3"></svg>',
    '<a href="javascript:window.__pwned=4">click</a>',
    "[click](javascript:window.__pwned=5)",
    "[click](JavaScript:window.__pwned=6)",
    "[click]( javascript:window.__pwned=7 )",
    "[click](java\tscript:window.__pwned=8)",
    "[click](data:text/html,<script>window.__pwned=9</script>)",
    "[click](vbscript:msgbox)",
    "[click](//evil.example/x)",
    "[click](/relative)",
    '[click](https://ok.example/" onmouseover="window.__pwned=10)',
    '[x](https://ok.example/"><img src=x onerror=window.__pwned=11>)',
    "**<b onclick=alert(1)>bold</b>**",
    "`<script>window.__pwned=12</script>`",
    "```\n</code></pre><img src=x onerror=window.__pwned=13>\n```",
    "# <iframe src=javascript:window.__pwned=14>",
    "- <style>body{display:none}</style>",
    "&lt;script&gt; &amp; &#106;avascript:",
    "[a](https://ok.example/a)[b](javascript:1)",
    "[[nested](javascript:1)](https://ok.example/)",
    "<!-- comment --> <template><img src=x onerror=window.__pwned=15></template>",
]


def test_hostile_prompts_render_inert(page):
    results = render(page, *HOSTILE)
    for source, r in zip(HOSTILE, results):
        # Every link is an absolute http(s) URL without quotes or angle brackets in it.
        for href in r["links"]:
            assert href.startswith(("https://", "http://")) and not any(c in href for c in "\"<> "), (source, href)
        # The markup of the prompt is shown as the text it is.
        if source.startswith("<script>"):
            assert r["text"] == source
        if "&lt;" in source:
            assert r["text"] == source, "entities are shown as typed, not decoded"
    # The javascript:/data:/relative links keep their text, without a link.
    for i in range(4, 12):
        assert results[i]["links"] == [], (HOSTILE[i], results[i]["html"])
        assert "click" in results[i]["text"]
    assert results[20]["links"] == ["https://ok.example/a"]


def test_large_and_odd_prompts(page):
    """Long prompts, unclosed constructs and control characters come back as text, quickly."""
    big = ("*a " * 20000) + ("`" * 3000) + ("[" * 5000) + ("_b" * 5000)
    results = render(page, big, "```\nnever closed", "**unclosed", "[label](https://ok.example", "\u0000\u202e\ufeff text", "")
    assert results[0]["text"].startswith("*a *a")
    assert results[1]["html"] == "<pre><code>never closed</code></pre>"
    assert results[2]["text"] == "**unclosed"
    assert results[3]["links"] == []
    assert results[5]["html"] == ""
