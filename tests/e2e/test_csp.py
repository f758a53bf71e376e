"""Every page carries a Content-Security-Policy (console/csp.py) and breaks nothing under it: no
violation is reported while the pages load, live updates connect, htmx requests work and the bars
(SVG, not inline styles) are drawn."""

import pytest
from playwright.sync_api import expect

from tests.e2e.test_groups_flow import GROUP, TOPIC, _stable_group_with_two_members

pytestmark = pytest.mark.slow

# Reported by the page itself (securitypolicyviolation) and by Chromium's console.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});
"""


@pytest.fixture
def watched(page):
    page.context.add_init_script(WATCH)
    console = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    return page, console


def _visit(page, console, path: str) -> None:
    response = page.goto(path)
    assert "default-src 'self'" in response.headers["content-security-policy"], path
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__csp") == [], (path, page.evaluate("window.__csp"))
    assert console == [], (path, console)


def test_pages_load_under_the_policy_without_violations(watched):
    page, console = watched
    _stable_group_with_two_members()
    paths = ["/", "/topics/", f"/topics/{TOPIC}/", "/new-topic/", f"/topics/{TOPIC}/messages/",
             f"/topics/{TOPIC}/tail/", "/groups/", f"/groups/{GROUP}/", "/lab/", "/brokers/", "/tokens/",
             "/admin/", "/admin/auth/user/", "/rest/docs", "/no-such-page/"]
    for path in paths:
        _visit(page, console, path)

    # Live updates connect under connect-src 'self'.
    page.goto(f"/groups/{GROUP}/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    # The lag bars are drawn: SVG geometry, not a style attribute.
    bar = page.locator("td.lagcol .bar rect").first
    assert float(bar.get_attribute("width")) > 0 and bar.bounding_box()["width"] > 0
    page.goto(f"/topics/{TOPIC}/")
    assert page.locator("td.share-col .bar rect").first.bounding_box()["width"] > 0

    # An htmx request and its swap (the token form) and the static copy script work.
    page.goto("/tokens/")
    page.fill("input[name=name]", "ci")
    page.locator("form.token-form button[type=submit]").click()
    expect(page.locator("[data-copy]")).to_be_visible()
    page.locator("#new-token").focus()  # selected on focus (static/js/tokens.js, not an inline handler)
    assert page.evaluate("document.getSelection().toString() || document.activeElement.selectionEnd") not in ("", 0)
    assert page.evaluate("window.__csp") == [] and console == []


def test_the_login_page_and_its_htmx_indicator_styles(browser, server):
    context = browser.new_context(base_url=server)
    context.add_init_script(WATCH)
    p = context.new_page()
    console = []
    p.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    _visit(p, console, "/login/")
    # htmx injects no <style> of its own; its indicator rule comes from console.css.
    assert p.evaluate("document.querySelectorAll('style').length") == 0
    assert p.evaluate("""(() => { const e = document.createElement('span'); e.className = 'htmx-indicator';
                         document.body.appendChild(e); return getComputedStyle(e).opacity; })()""") == "0"
    context.close()
