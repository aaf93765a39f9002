"""The edge: TLS on nginx, HTTP to HTTPS, HSTS, security headers, per-address connection limit, body size, and the
role refusing bad TLS input before any change."""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
import urllib.error
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import websocket
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from containers import playbook, sh
from pki import self_signed
from testlib import WAIT, Client, http_request, insecure_tls, ws_connect

HOST, TLS_PORT = "127.0.0.1", 18443
SITE = "/etc/nginx/conf.d/websocket.conf"


def handshake(context: ssl.SSLContext) -> ssl.SSLSocket:
    """A TLS connection to the scenario's nginx with the given client settings (caller closes it)."""
    raw = socket.create_connection((HOST, TLS_PORT), timeout=WAIT)
    try:
        return context.wrap_socket(raw, server_hostname=HOST)
    except BaseException:
        raw.close()
        raise


def client_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers exactly one TLS version, old ones included (security level 0 lets OpenSSL 3 try them)."""
    context = insecure_tls()
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = context.maximum_version = version
    return context


def site_config(container: str) -> str:
    return sh(container, "cat", SITE).stdout


def limit_conn(container: str) -> int:
    return int(re.findall(r"limit_conn websocket_per_address (\d+);", site_config(container))[0])


def client_max_body_size(container: str) -> int:
    return int(re.findall(r"client_max_body_size (\d+);", site_config(container))[0])


@pytest.mark.parametrize("path", ["/", "/socket.io/?EIO=4&transport=polling", "/healthz"])
def test_plain_http_is_redirected_to_https(http_url, path):
    response = http_request(http_url + path)
    assert response.status in {301, 308}
    # $host drops the port: the forwarded 18080 is this test's, a real site listens on 443.
    assert response.headers["Location"] == f"https://{HOST}{path}"
    assert "Strict-Transport-Security" not in response.headers  # only meaningful over HTTPS


def test_loopback_on_the_host_keeps_plain_http(container):
    # websocket_nginx_tls_plain_http_networks: the benchmark and local probes on the nginx host itself.
    probe = (
        "import http.client; c = http.client.HTTPConnection('127.0.0.1', 80, timeout=5); c.request('GET', '/healthz'); "
        "r = c.getresponse(); print(r.status, r.read().decode())"
    )
    status, body = sh(container, "python3", "-c", probe).stdout.split(" ", 1)
    assert status == "200"
    assert json.loads(body)["status"] == "ok"


def test_hsts_is_sent_over_https(url):
    response = http_request(f"{url}/")
    assert response.status == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000"


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.sources.append(dict(attrs).get("src"))


@pytest.mark.parametrize("path", ["/", "/socket.io.min.js", "/socket.io/?EIO=4&transport=polling"])
def test_security_headers_are_on_every_response(url, path):
    headers = http_request(url + path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self'"  # same host only: ws:/wss: to it are covered by 'self'
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


def test_the_policy_still_allows_the_page_own_scripts(url):
    # 'self' without 'unsafe-inline': every script must be a same-origin file, none inline.
    parser = _Scripts()
    parser.feed(http_request(f"{url}/").body)
    assert parser.sources, "the page loads no script"
    for source in parser.sources:
        assert source is not None, "inline <script> would be blocked by the Content-Security-Policy"
        assert "//" not in source, f"{source} is not same-origin"
        assert http_request(f"{url}/{source}").status == 200


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_are_refused(version):
    with pytest.raises(ssl.SSLError) as refused:
        handshake(client_context(version)).close()
    # The server's protocol_version alert, not a client that could not even offer the version.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]
)
def test_tls_1_2_and_1_3_are_accepted(version, name):
    with handshake(client_context(version)) as tls:
        assert tls.version() == name
        cipher = tls.cipher()[0]
        assert "GCM" in cipher or "CHACHA20" in cipher


def test_tls_1_2_without_forward_secrecy_is_refused():
    context = client_context(ssl.TLSVersion.TLSv1_2)
    context.set_ciphers("AES128-GCM-SHA256:AES256-GCM-SHA384:@SECLEVEL=0")  # RSA key exchange
    with pytest.raises(ssl.SSLError) as refused:
        handshake(context).close()
    assert refused.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE", refused.value


def test_the_served_certificate_is_the_deployed_one_and_verifies(tls_dir):
    deployed = x509.load_pem_x509_certificate((tls_dir / "websocket.crt").read_bytes())
    # Trusting only that certificate, hostname check on: the served one is that one and names 127.0.0.1.
    context = ssl.create_default_context(cafile=str(tls_dir / "websocket.crt"))
    with handshake(context) as tls:
        served = tls.getpeercert(binary_form=True)
    assert served == deployed.public_bytes(serialization.Encoding.DER)


def test_http2_is_offered_and_http_1_1_still_works():
    context = insecure_tls()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(context) as tls:
        assert tls.selected_alpn_protocol() == "h2"
    context.set_alpn_protocols(["http/1.1"])  # what WebSocket clients offer
    with handshake(context) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_the_site_uses_this_release_http2_syntax(container):
    # vars/Debian-<major>.yml pins the syntax: the old `listen ... http2` warns on nginx >= 1.25.1 (Debian 13).
    checked = sh(container, "nginx", "-t")
    assert "syntax is ok" in checked.stderr
    assert "[warn]" not in checked.stderr, checked.stderr


def test_websocket_upgrade_over_wss_through_nginx(url):
    own = ws_connect(url, origin=url)
    try:
        assert isinstance(own.sock, ssl.SSLSocket)
        assert own.sock.version() in {"TLSv1.2", "TLSv1.3"}
        assert own.getstatus() == 101
        assert own.recv().startswith("0{")  # Engine.IO open packet, over the upgraded TLS connection
    finally:
        own.close()


def test_socketio_client_upgrades_from_polling_to_websocket_over_tls(url):
    client = Client(url, transports=["polling", "websocket"]).connect()
    try:
        token = str(uuid.uuid4())
        assert client.echo(token) == token
        # python-engineio upgrades in the background after the polling handshake.
        deadline = time.monotonic() + WAIT
        while client.sio.transport() != "websocket" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.sio.transport() == "websocket"
        assert client.echo(token) == token
    finally:
        client.close()


def test_limit_conn_refuses_websockets_beyond_the_per_address_limit(url, container):
    # All of this test's connections reach nginx from one address (the port forward's), so the limit applies.
    limit = limit_conn(container)
    assert limit == 50  # the scenario's low value (the default is half the planned connections)
    opened: list[websocket.WebSocket] = []
    refused: list[int] = []
    try:
        for _ in range(limit + 10):
            try:
                opened.append(ws_connect(url, origin=url))
            except websocket.WebSocketBadStatusException as error:
                refused.append(error.status_code)
        assert len(opened) == limit
        assert refused == [503] * 10
    finally:
        for connection in opened:
            connection.close()
    # Closed connections free their slots.
    again = ws_connect(url, origin=url)
    try:
        assert again.recv().startswith("0{")
    finally:
        again.close()


def test_an_unknown_host_gets_no_answer(url):
    # The scenario names its site (websocket_nginx_server_name "127.0.0.1 localhost"): any other Host is closed
    # without a response, so a rebound DNS name cannot reach the app from a victim's browser.
    assert http_request(f"{url}/", headers={"Host": "localhost"}).status == 200
    with pytest.raises((ConnectionError, urllib.error.URLError)):  # closed without a status line
        http_request(f"{url}/", headers={"Host": "rebind.example"})


@pytest.fixture(scope="module")
def strict_edge() -> Iterator[dict[str, object]]:
    """The scenario's nginx re-rendered with tight edge limits for the next tests, then put back as it was."""
    extra = {
        # The controller's address (the port forward's gateway) is exempt from the per-address limits here: its
        # other clients' reconnects would share a bucket this small. The rate test runs from loopback instead.
        "websocket_nginx_limit_conn_exempt": ["{{ ansible_facts['default_ipv4']['gateway'] }}"],
        "websocket_nginx_health_allow": ["127.0.0.1"],
        "websocket_nginx_new_session_rate": 1,
        "websocket_nginx_new_session_burst": 5,
        "websocket_nginx_worker_shutdown_timeout": 3,
    }
    result = playbook("playbooks/loadbalancer.yml", "-e", json.dumps(extra))
    assert result.rc == 0, result.output[-5000:]
    try:
        yield extra
    finally:
        restored = playbook("playbooks/loadbalancer.yml")
        assert restored.rc == 0, restored.output[-5000:]


def test_healthz_answers_only_the_allowed_networks(url, container, strict_edge):
    # The controller reaches nginx through the port forward (the container's gateway, not in the list): 403.
    assert http_request(f"{url}/healthz").status == 403
    probe = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1/healthz', timeout=5).status)"
    assert sh(container, "python3", "-c", probe).stdout.strip() == "200"


def test_new_sessions_beyond_the_rate_get_429_and_open_sessions_go_on(container, strict_edge):
    # From loopback on the host (plain HTTP there): an address of its own, so a bucket nobody else drains.
    script = (
        "import json, time, urllib.request, urllib.error\n"
        "def get(path, data=None):\n"
        "    try:\n"
        "        request = urllib.request.Request('http://127.0.0.1' + path, data=data)\n"
        "        with urllib.request.urlopen(request, timeout=5) as response:\n"
        "            return response.status, response.read().decode()\n"
        "    except urllib.error.HTTPError as error:\n"
        "        return error.code, ''\n"
        "time.sleep(6)\n"
        "status, body = get('/socket.io/?EIO=4&transport=polling')\n"
        "sid = json.loads(body[1:])['sid']\n"
        "statuses = [get('/socket.io/?EIO=4&transport=polling')[0] for _ in range(15)]\n"
        "polled = get('/socket.io/?EIO=4&transport=polling&sid=' + sid, b'40')[0]\n"
        "print(json.dumps([status, statuses, polled]))\n"
    )
    first, statuses, polled = json.loads(sh(container, "python3", "-c", script).stdout)
    assert first == 200
    assert statuses.count(429) >= 15 - 5, statuses  # the burst, then about one a second
    assert statuses[:4] == [200] * 4, statuses
    assert polled == 200  # requests of an open session carry its sid and are not counted


def test_after_a_reload_old_workers_close_their_websockets_within_the_shutdown_timeout(url, container, strict_edge):
    client = Client(url).connect()
    try:
        gone: list[float] = []
        client.sio.on("disconnect", lambda *_: gone.append(time.monotonic()))
        reloaded = time.monotonic()
        sh(container, "systemctl", "reload", "nginx")
        deadline = reloaded + 30
        while not gone and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gone, "the old nginx worker kept the WebSocket past worker_shutdown_timeout"
        assert gone[0] - reloaded >= 2  # kept open until the timeout (3 s), not cut at the reload
        time.sleep(6)
        assert client.sio.connected  # reconnected, to a new worker
        assert client.echo("after") == "after"
    finally:
        client.close()


def test_a_client_that_never_finishes_its_headers_is_closed(container):
    # client_header_timeout (websocket_nginx_client_timeout, 10 s): a slow client cannot hold a connection.
    script = (
        "import socket, time; s = socket.create_connection(('127.0.0.1', 80)); s.sendall(b'GET / HTTP/1.1\\r\\n');"
        " t = time.monotonic(); s.settimeout(60); data = s.recv(100); print(round(time.monotonic() - t), data[:12])"
    )
    waited, _ = sh(container, "python3", "-c", script).stdout.split(" ", 1)
    assert 8 <= int(waited) <= 30, waited


def _polling_session(url: str) -> str:
    opened = http_request(f"{url}/socket.io/?EIO=4&transport=polling")
    assert opened.status == 200
    return json.loads(opened.body[1:])["sid"]


def test_polling_bodies_up_to_the_app_message_size_pass_and_larger_ones_get_413(url, container):
    limit = client_max_body_size(container)
    assert limit == 200000  # the scenario's websocket_app_max_message_size, wired into nginx
    sid = _polling_session(url)
    endpoint = f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert http_request(endpoint, "POST", data=b"40").body.lower() == "ok"  # Socket.IO namespace connect
    head = b'42["message","'
    token = uuid.uuid4().hex.encode()
    exact = head + token + b"x" * (limit - len(head) - len(token) - 2) + b'"]'
    assert len(exact) == limit
    accepted = http_request(endpoint, "POST", data=exact, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert (accepted.status, accepted.body.lower()) == (200, "ok")
    too_large = http_request(endpoint, "POST", data=exact + b"x", headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert too_large.status == 413
    assert "<center>nginx</center>" in too_large.body  # refused by nginx, before the app
    # The accepted message was echoed (it may share the poll with the namespace reply).
    echoed = ""
    for _ in range(5):
        echoed += http_request(endpoint).body
        if token.decode() in echoed:
            break
    assert token.decode() in echoed


def served_certificate() -> bytes:
    with handshake(insecure_tls()) as tls:
        return tls.getpeercert(binary_form=True)


def test_a_new_certificate_on_the_controller_is_copied_and_reloads_nginx(tls_dir, container):
    # The rotation runbook: replace the pair on the controller, run the play; nginx -t, then a reload.
    before = served_certificate()
    new = self_signed(tls_dir / "websocket.crt", tls_dir / "websocket.key")
    assert new != before
    result = playbook("site.yml")
    output = result.output
    assert result.rc == 0, output[-3000:]
    assert re.search(r"RUNNING HANDLER \[websocket_nginx : Reload nginx\][^\n]*\n\s*changed: \[", output), output
    assert served_certificate() == new
    assert sh(container, "stat", "-c", "%a %U", "/etc/nginx/tls/websocket.key").stdout.split() == ["600", "root"]


def _throwaway_inventory(tmp_path: Path, container: str) -> Path:
    # Only the role, with its own defaults: nothing of the scenario's wiring.
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        f"all:\n  children:\n    loadbalancer:\n      hosts:\n        {container}:\n"
        "          ansible_connection: containers.podman.podman\n"
        "          ansible_python_interpreter: /usr/bin/python3\n"
    )
    return inventory


def _fails_before_any_change(tmp_path: Path, container: str, extra: dict[str, object], message: str) -> None:
    before = site_config(container)
    result = playbook(
        "playbooks/loadbalancer.yml", "-e", json.dumps(extra), inventory=_throwaway_inventory(tmp_path, container)
    )
    output = result.folded
    assert result.rc != 0
    assert message in output
    assert re.search(rf"{container}\s*:.*changed=0", output)
    assert site_config(container) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"websocket_nginx_tls_enabled": True},
            "websocket_nginx_tls_enabled is true and websocket_nginx_tls_certificate_src is empty, so the files must "
            "be on the host, but websocket_nginx_tls_certificate (/etc/nginx/tls/missing.crt)",
        ),
        (
            {
                "websocket_nginx_tls_enabled": True,
                "websocket_nginx_tls_certificate_src": "/nonexistent/websocket.crt",
                "websocket_nginx_tls_certificate_key_src": "/nonexistent/websocket.key",
            },
            "websocket_nginx_tls_enabled is true but websocket_nginx_tls_certificate_src (/nonexistent/websocket.crt)",
        ),
        (
            {"websocket_nginx_tls_enabled": True, "websocket_nginx_tls_port": 80},
            "websocket_nginx_tls_port must be 1-65535 and differ from websocket_nginx_listen_port (80), got 80",
        ),
    ],
    ids=["files-missing-on-host", "files-missing-on-controller", "same-port"],
)
def test_bad_tls_input_fails_before_any_change(tmp_path, container, extra, message):
    _fails_before_any_change(
        tmp_path, container, {"websocket_nginx_tls_certificate": "/etc/nginx/tls/missing.crt", **extra}, message
    )


def test_a_key_of_another_certificate_fails_before_any_change(tmp_path, container, tls_dir):
    self_signed(tmp_path / "other.crt", tmp_path / "other.key")
    extra = {
        "websocket_nginx_tls_enabled": True,
        "websocket_nginx_tls_certificate_src": str(tls_dir / "websocket.crt"),
        "websocket_nginx_tls_certificate_key_src": str(tmp_path / "other.key"),
    }
    message = f"websocket_nginx_tls_certificate_key_src ({tmp_path / 'other.key'}) its private key"
    _fails_before_any_change(tmp_path, container, extra, message)


def test_a_config_nginx_rejects_never_goes_live_and_the_next_run_tries_again(tmp_path, container, url):
    # A host name that does not resolve has the form validation accepts (host:port); only nginx -t refuses it. The
    # throwaway inventory also renders a different nginx.conf and a site without TLS: every file is put back.
    live = {path: sh(container, "cat", path).stdout for path in (SITE, "/etc/nginx/nginx.conf")}
    inventory = str(_throwaway_inventory(tmp_path, container))
    extra = json.dumps({"websocket_nginx_upstream_servers": ["no-such-host.invalid:5000"]})
    for _ in range(2):  # the same input again must be tried again and fail again, not pass on untouched files
        result = playbook("playbooks/loadbalancer.yml", "-e", extra, inventory=inventory)
        output = result.folded
        assert result.rc != 0, output[-3000:]
        assert "nginx -t rejected the new configuration, so it was not installed" in output, output[-3000:]
        assert "host not found in upstream" in output
        assert {path: sh(container, "cat", path).stdout for path in live} == live
        assert sh(container, "find", "/etc/nginx", "-name", "*~").stdout == ""  # no backup left behind
    assert sh(container, "nginx", "-t", check=False).returncode == 0
    client = Client(url).connect()
    try:
        assert client.echo("still served") == "still served"
    finally:
        client.close()
