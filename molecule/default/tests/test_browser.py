"""A real browser (Debian's headless Chromium) uses the client page through nginx over the websocket transport."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from browser import Browser
from containers import PROJECT

RELEASE = os.environ.get("MOLECULE_DEBIAN_RELEASE", "bookworm")
SCREENSHOT = PROJECT / ".cache" / "reports" / f"browser-{RELEASE}.png"


@pytest.fixture
def browser():
    chromium = Browser()
    yield chromium
    chromium.close()


def test_page_connects_over_websocket_and_echoes(browser, url):
    browser.open(f"{url}/")
    state = "document.getElementById('state').textContent + '|' + document.getElementById('transport').textContent"
    # socket.io-client starts on polling and upgrades; the page shows the transport after the upgrade.
    browser.wait_for(f"({state}) === 'connected|websocket'")
    token = f"browser-{uuid.uuid4()}"
    browser.evaluate(
        f"document.getElementById('text').value = {json.dumps(token)};document.getElementById('send').requestSubmit();"
    )
    echoes = "[...document.querySelectorAll('#log li.echo')].map(li => li.textContent)"
    echoed = browser.wait_for(f"{echoes}.find(t => t.endsWith({json.dumps(token)}))")
    assert echoed == f"echo: {token}"
    assert browser.evaluate(state) == "connected|websocket"
    browser.screenshot(SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 1000
