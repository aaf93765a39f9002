"""The rule table: one bad input per row, the variable its message must name and what it must say is allowed.

Each row breaks exactly one rule and leaves every other input valid. Rows for types and choices are generated from
each role's meta/argument_specs.yml (every entry point), rows for ranges and shapes from the rules' data (rules.yml's
ranges table, the list and dict options), so a new option is covered as soon as it is documented. `{files}` in a
value is replaced by a directory of fixture files (certificates, a requirements file, ...), see conftest.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from validationlib import MAIN, ROOT, entry_points, options_of, ranges_of, run_name, validation_paths

REDIS = "websocket_redis"
NGINX = "websocket_nginx"
APP = "websocket_app"
FIREWALL = "websocket_firewall"
ROLE_NAMES = (REDIS, NGINX, APP, FIREWALL)

# What every host of a role gets besides its row: the inputs a role requires and has no usable default for.
BASE: dict[str, dict[str, Any]] = {
    REDIS: {"websocket_redis_password": "a-valid-password-0123456789"},
    NGINX: {},
    APP: {"websocket_app_source_dir": str(ROOT / "app")},
    FIREWALL: {},
}

# Values for the options an entry point requires that the playbooks set before calling it (the facts entry point
# sets the worker list).
REQUIRED: dict[str, Any] = {"websocket_app_worker_sockets": ["unix:/run/websocket-sockets/worker-1.sock"]}


def entry_base(role: str, entry: str) -> dict[str, Any]:
    """What every host of a run gets: the role's BASE and the values its entry point requires."""
    options = options_of(role, entry).items()
    required = {name: REQUIRED[name] for name, spec in options if spec.get("required") and name not in BASE[role]}
    return {**BASE[role], **required}


# Booleans and numbers given as strings (-e key=value on the command line): the roles convert them where they are
# used, so these hosts pass validation (roles whose rules are data, rules.yml).
STRINGS: dict[str, dict[str, Any]] = {
    REDIS: {
        "websocket_redis_persistence": "false",
        "websocket_redis_tls_enabled": "no",
        "websocket_redis_port": "6379",
        "websocket_redis_maxclients": "10000",
    },
    NGINX: {
        "websocket_nginx_tls_enabled": "false",
        "websocket_nginx_tls_http2": "no",
        "websocket_nginx_hsts_include_subdomains": "yes",
        "websocket_nginx_listen_port": "80",
        "websocket_nginx_fail_timeout": "5",
    },
    APP: {
        "websocket_app_cors_allow_any": "false",
        "websocket_app_socketio_logger": "no",
        "websocket_app_gc_tuning": "yes",
        "websocket_app_enabled": "true",
        "websocket_app_keep_releases": "3",
        "websocket_app_worker_headroom": "1.5",
    },
    FIREWALL: {"websocket_firewall_enabled": "false"},
}


def strings_host(role: str) -> str:
    return f"{role.removeprefix('websocket_')}-strings"


@dataclass(frozen=True)
class Case:
    role: str
    id: str
    given: dict[str, Any]  # the row's inventory variables (on top of BASE)
    var: str  # the variable the message must name
    allowed: tuple[str, ...]  # what the message must say is allowed
    shown: str | None = None  # how the message must show the value given (None: the value is secret or implied)
    related: tuple[str, ...] = ()  # other variables the message may name (cross-field rules)
    secret: str = ""  # must appear nowhere in the output (a password given)
    known: str = ""  # why this row is not refused cleanly yet (a defect outside the validation files)
    by_argspec: bool = False  # refused by argument_specs (the role's first, generated task)
    entry: str = MAIN  # the argument_specs entry point the row goes through (tasks_from)

    @property
    def host(self) -> str:
        entry = "" if self.entry == MAIN else f"{self.entry}-"
        return f"{self.role.removeprefix('websocket_')}-{entry}{self.id}"

    @property
    def run(self) -> str:
        return run_name(self.role, self.entry)


def _case(role: str, id_: str, given: dict[str, Any], var: str, *allowed: str, **extra: Any) -> Case:
    return Case(role, id_, given, var, tuple(allowed), **extra)


# Wrong types that break a derived default before argument_specs can name them (none left: fix them in the
# role's defaults/main.yml, not here).
KNOWN_DEFECTS: dict[str, str] = {}

# Bad values argument_specs refuses for each type (str and path accept anything: they convert it).
_WRONG_TYPE: dict[str, Any] = {
    "int": "lots",
    "bool": "maybe",
    "list": {"not": "a list"},
    "dict": "not-a-dict",
}


def _short(role: str, name: str) -> str:
    return name.removeprefix(role + "_").replace("_", "-")


def argspec_cases(role: str, entry: str = MAIN) -> list[Case]:
    """A wrong type and an unknown choice for every option argument_specs can check."""
    cases = []
    for name, spec in options_of(role, entry).items():
        kind = spec.get("type", "str")
        short = _short(role, name)
        argspec = {"by_argspec": True, "entry": entry}
        if kind in _WRONG_TYPE:
            given = {name: _WRONG_TYPE[kind]}
            known = KNOWN_DEFECTS.get(name, "")
            cases.append(Case(role, f"{short}-type", given, name, (f"to {kind}",), known=known, **argspec))
        if kind == "list" and spec.get("elements") in _WRONG_TYPE and spec.get("elements") != "list":
            element = spec["elements"]
            bad = _WRONG_TYPE[element] if element != "dict" else "not-a-dict"
            cases.append(Case(role, f"{short}-elements", {name: [bad]}, name, (f"to {element}",), **argspec))
        if "choices" in spec:
            choices = ", ".join(str(choice) for choice in spec["choices"])
            bad = ["not-a-choice"] if kind == "list" else "not-a-choice"
            given = {name: bad}
            cases.append(Case(role, f"{short}-choice", given, name, (choices,), shown="not-a-choice", **argspec))
    return cases


# What a range row gives besides its number, so that it breaks only the range (derived defaults follow some
# numbers: see the role's defaults/main.yml).
RANGE_CONTEXT: dict[str, dict[str, Any]] = {
    "websocket_app_worker_headroom": {"websocket_app_gevent": 11064},
    "websocket_nginx_worker_connections": {"websocket_nginx_planned_connections": 10},
}


def range_cases(role: str) -> list[Case]:
    """A number just outside each bound of the role's ranges table."""
    cases = []
    for name, bounds in ranges_of(role).items():
        low, high = bounds["min"], bounds.get("max")
        allowed = f"at least {low}" if high is None else f"{low}-{high}"
        outside = [("below", low - (0.5 if bounds.get("float") else 1))]
        outside += [] if high is None else [("above", high + 1)]
        for side, value in outside:
            given = {name: value, **RANGE_CONTEXT.get(name, {})}
            cases.append(Case(role, f"{_short(role, name)}-{side}", given, name, (allowed,), shown=json.dumps(value)))
    return cases


# A string argument_specs lets through for a list or dict option (it splits "a,b", reads "k=v", and a choice must be
# one of them), so that only the shape rule refuses it; dict elements need their keys.
SHAPE_GIVEN: dict[str, str] = {
    "websocket_app_config_files": "src=app.conf.j2 dest=app.conf",
    "websocket_firewall_rules": "name=workers ports=15001 sources=10.0.0.5",
    "websocket_nginx_static_locations": "prefix=/static/ dir=/srv/chat/static",
}


def shape_cases(role: str) -> list[Case]:
    """A string for each list and dict option (as `-e name=value` gives it)."""
    cases = []
    for name, spec in options_of(role).items():
        kind = spec.get("type")
        if kind not in ("list", "dict"):
            continue
        plain = str(spec["choices"][0]) if "choices" in spec else "a,b" if kind == "list" else "a=b"
        value = SHAPE_GIVEN.get(name, plain)
        allowed = "must be a list" if kind == "list" else "must be a mapping"
        # A mapping's value is not shown (websocket_app_environment holds secrets).
        shown = json.dumps(value) if kind == "list" else None
        cases.append(Case(role, f"{_short(role, name)}-shape", {name: value}, name, (allowed,), shown=shown))
    return cases


def _shown(value: Any) -> str:
    return json.dumps(value)


REDIS_TLS_PAIR = {
    "websocket_redis_tls_enabled": True,
    "websocket_redis_tls_certificate_src": "{files}/tls/site.crt",
    "websocket_redis_tls_certificate_key_src": "{files}/tls/site.key",
}
# The host-file rule explains itself with the TLS switch and the _src pair.
REDIS_TLS_ON_HOST = (
    "websocket_redis_tls_enabled",
    "websocket_redis_tls_certificate_src",
    "websocket_redis_tls_certificate_key_src",
)

# Sentinel on, valid: three hosts, this one the first and bound, a replication password.
REDIS_SENTINEL = {
    "websocket_redis_sentinel_enabled": True,
    "websocket_redis_sentinel_hosts": ["10.0.0.11", "10.0.0.12", "10.0.0.13"],
    "websocket_redis_sentinel_address": "10.0.0.11",
    "websocket_redis_bind": ["127.0.0.1", "10.0.0.11"],
    "websocket_redis_replication_password": "replication-password-0123",
}

REDIS_CASES = [
    _case(
        REDIS,
        "user-default",
        {"websocket_redis_user": "default"},
        "websocket_redis_user",
        "not default",
        shown='"default"',
    ),
    _case(
        REDIS,
        "channels-empty",
        {"websocket_redis_channels": []},
        "websocket_redis_channels",
        "non-empty list of channel names",
        shown="[]",
    ),
    _case(
        REDIS,
        "password-empty",
        {"websocket_redis_password": ""},
        "websocket_redis_password",
        "at least 16 characters",
    ),
    _case(
        REDIS,
        "password-short",
        {"websocket_redis_password": "short-password"},
        "websocket_redis_password",
        "at least 16 characters",
        secret="short-password",
    ),
    _case(
        REDIS,
        "password-characters",
        {"websocket_redis_password": "long-enough-but-has@and/"},
        "websocket_redis_password",
        "only letters, digits and ._~-",
        secret="long-enough-but-has@and/",
    ),
    _case(
        REDIS,
        "bind-empty",
        {"websocket_redis_bind": []},
        "websocket_redis_bind",
        "non-empty list",
        shown="[]",
    ),
    _case(
        REDIS,
        "bind-public",
        {"websocket_redis_bind": ["127.0.0.1", "203.0.113.7"]},
        "websocket_redis_bind",
        "loopback or private addresses",
        shown=_shown(["203.0.113.7"]),
    ),
    _case(
        REDIS,
        "maxmemory-words",
        {"websocket_redis_maxmemory": "64 megabytes"},
        "websocket_redis_maxmemory",
        "b, kb, mb or gb",
        shown=_shown("64 megabytes"),
    ),
    _case(
        REDIS,
        "disabled-commands-names",
        {"websocket_redis_disabled_commands": ["FLUSHALL", "CONFIG SET"]},
        "websocket_redis_disabled_commands",
        "Redis command names",
        shown=_shown(["FLUSHALL", "CONFIG SET"]),
    ),
    _case(
        REDIS,
        "tls-certificate-relative",
        {"websocket_redis_tls_certificate": "tls/redis.crt"},
        "websocket_redis_tls_certificate",
        "absolute path",
        shown='"tls/redis.crt"',
    ),
    _case(
        REDIS,
        "tls-certificate-key-spaces",
        {"websocket_redis_tls_certificate_key": "/etc/redis/my key.pem"},
        "websocket_redis_tls_certificate_key",
        "absolute path",
        shown='"/etc/redis/my key.pem"',
    ),
    _case(
        REDIS,
        "tls-certificate-src-without-key-src",
        {"websocket_redis_tls_certificate_src": "{files}/tls/site.crt"},
        "websocket_redis_tls_certificate_key_src",
        "both set",
        shown='("")',
        related=("websocket_redis_tls_certificate_src",),
    ),
    # TLS on without the certificate files: on the controller (copied from there) or on the host.
    _case(
        REDIS,
        "tls-on-without-certificate-src-file",
        {**REDIS_TLS_PAIR, "websocket_redis_tls_certificate_src": "{files}/tls/missing.crt"},
        "websocket_redis_tls_certificate_src",
        "not a file on the controller",
        shown="tls/missing.crt",
        related=("websocket_redis_tls_enabled",),
    ),
    _case(
        REDIS,
        "tls-on-without-key-src-file",
        {**REDIS_TLS_PAIR, "websocket_redis_tls_certificate_key_src": "{files}/tls/missing.key"},
        "websocket_redis_tls_certificate_key_src",
        "not a file on the controller",
        shown="tls/missing.key",
        related=("websocket_redis_tls_enabled",),
    ),
    _case(
        REDIS,
        "tls-certificate-src-not-a-certificate",
        {**REDIS_TLS_PAIR, "websocket_redis_tls_certificate_src": "{files}/tls/not-a-certificate.pem"},
        "websocket_redis_tls_certificate_src",
        "must be a PEM certificate",
        shown="not-a-certificate.pem",
    ),
    _case(
        REDIS,
        "tls-certificate-key-src-not-a-key",
        {**REDIS_TLS_PAIR, "websocket_redis_tls_certificate_key_src": "{files}/tls/not-a-certificate.pem"},
        "websocket_redis_tls_certificate_key_src",
        "must be a PEM private key without a passphrase",
        shown="not-a-certificate.pem",
    ),
    _case(
        REDIS,
        "tls-certificate-key-src-of-another-certificate",
        {**REDIS_TLS_PAIR, "websocket_redis_tls_certificate_key_src": "{files}/tls/other.key"},
        "websocket_redis_tls_certificate_key_src",
        "belongs to another certificate",
        shown="tls/other.key",
        related=("websocket_redis_tls_certificate_src",),
    ),
    _case(
        REDIS,
        "tls-on-without-certificate-on-host",
        {
            "websocket_redis_tls_enabled": True,
            "websocket_redis_tls_certificate": "/nonexistent/redis.crt",
            "websocket_redis_tls_certificate_key": "{files}/tls/site.key",
        },
        "websocket_redis_tls_certificate",
        "not a file there",
        shown="/nonexistent/redis.crt",
        related=REDIS_TLS_ON_HOST,
    ),
    _case(
        REDIS,
        "tls-on-without-key-on-host",
        {
            "websocket_redis_tls_enabled": True,
            "websocket_redis_tls_certificate": "{files}/tls/site.crt",
            "websocket_redis_tls_certificate_key": "/nonexistent/redis.key",
        },
        "websocket_redis_tls_certificate_key",
        "not a file there",
        shown="/nonexistent/redis.key",
        related=REDIS_TLS_ON_HOST,
    ),
    _case(
        REDIS,
        "metrics-address-public",
        {
            "websocket_redis_metrics_enabled": True,
            "websocket_redis_metrics_password": "metrics-password-0123456789",
            "websocket_redis_metrics_address": "203.0.113.7",
        },
        "websocket_redis_metrics_address",
        "loopback or private address",
        shown='"203.0.113.7"',
        related=("websocket_redis_metrics_enabled",),
    ),
    _case(
        REDIS,
        "metrics-port-is-redis-port",
        {"websocket_redis_metrics_port": 6379},
        "websocket_redis_metrics_port",
        "1-65535 and differ from websocket_redis_port (6379)",
        shown="6379",
        related=("websocket_redis_port",),
    ),
    _case(
        REDIS,
        "metrics-user-is-app-user",
        {"websocket_redis_metrics_user": "websocket"},
        "websocket_redis_metrics_user",
        "other than default and websocket_redis_user (websocket)",
        shown='"websocket"',
        related=("websocket_redis_user",),
    ),
    _case(
        REDIS,
        "metrics-password-short",
        {"websocket_redis_metrics_enabled": True, "websocket_redis_metrics_password": "short-secret"},
        "websocket_redis_metrics_password",
        "at least 16 characters",
        related=("websocket_redis_metrics_enabled",),
        secret="short-secret",
    ),
    # Sentinel: three hosts, this one among them and bound, its own port, user and password; with TLS the CA.
    _case(
        REDIS,
        "sentinel-hosts-two",
        {**REDIS_SENTINEL, "websocket_redis_sentinel_hosts": ["10.0.0.11", "10.0.0.12"]},
        "websocket_redis_sentinel_hosts",
        "at least 3 Redis hosts, each once",
        shown=_shown(["10.0.0.11", "10.0.0.12"]),
        related=("websocket_redis_sentinel_enabled",),
    ),
    _case(
        REDIS,
        "sentinel-address-elsewhere",
        {**REDIS_SENTINEL, "websocket_redis_sentinel_address": "10.0.0.99"},
        "websocket_redis_sentinel_address",
        "this host's address among websocket_redis_sentinel_hosts",
        shown='"10.0.0.99"',
        related=("websocket_redis_sentinel_hosts", "websocket_redis_sentinel_enabled"),
    ),
    _case(
        REDIS,
        "sentinel-address-not-bound",
        {**REDIS_SENTINEL, "websocket_redis_bind": ["127.0.0.1"]},
        "websocket_redis_sentinel_address",
        "must be one of websocket_redis_bind",
        shown='"10.0.0.11"',
        related=("websocket_redis_bind", "websocket_redis_sentinel_enabled"),
    ),
    _case(
        REDIS,
        "sentinel-port-is-redis-port",
        {"websocket_redis_sentinel_port": 6379},
        "websocket_redis_sentinel_port",
        "differ from websocket_redis_port (6379)",
        shown="6379",
        related=("websocket_redis_port", "websocket_redis_metrics_port"),
    ),
    _case(
        REDIS,
        "sentinel-master-name-spaces",
        {"websocket_redis_sentinel_master_name": "my queue"},
        "websocket_redis_sentinel_master_name",
        "letters, digits and _.-",
        shown='"my queue"',
    ),
    _case(
        REDIS,
        "replication-user-is-app-user",
        {"websocket_redis_replication_user": "websocket"},
        "websocket_redis_replication_user",
        "other than default, websocket_redis_user (websocket)",
        shown='"websocket"',
        related=("websocket_redis_user", "websocket_redis_metrics_user"),
    ),
    _case(
        REDIS,
        "replication-password-short",
        {**REDIS_SENTINEL, "websocket_redis_replication_password": "short-secret"},
        "websocket_redis_replication_password",
        "at least 16 characters",
        related=("websocket_redis_sentinel_enabled",),
        secret="short-secret",
    ),
    _case(
        REDIS,
        "tls-ca-certificate-relative",
        {"websocket_redis_tls_ca_certificate": "tls/ca.crt"},
        "websocket_redis_tls_ca_certificate",
        "absolute path",
        shown='"tls/ca.crt"',
    ),
    _case(
        REDIS,
        "tls-ca-certificate-src-missing",
        {**REDIS_SENTINEL, **REDIS_TLS_PAIR, "websocket_redis_tls_ca_certificate_src": "{files}/tls/missing-ca.crt"},
        "websocket_redis_tls_ca_certificate_src",
        "not a file on the controller",
        shown="tls/missing-ca.crt",
        related=(
            "websocket_redis_tls_enabled",
            "websocket_redis_sentinel_enabled",
            "websocket_redis_tls_ca_certificate",
        ),
    ),
    _case(
        REDIS,
        "tls-ca-certificate-src-not-a-certificate",
        {
            **REDIS_SENTINEL,
            **REDIS_TLS_PAIR,
            "websocket_redis_tls_ca_certificate_src": "{files}/tls/not-a-certificate.pem",
        },
        "websocket_redis_tls_ca_certificate_src",
        "must be a PEM certificate",
        shown="not-a-certificate.pem",
    ),
    _case(
        REDIS,
        "tls-ca-certificate-not-on-host",
        {**REDIS_SENTINEL, **REDIS_TLS_PAIR, "websocket_redis_tls_ca_certificate": "/nonexistent/ca.crt"},
        "websocket_redis_tls_ca_certificate",
        "not a file there",
        shown="/nonexistent/ca.crt",
        related=(
            "websocket_redis_tls_enabled",
            "websocket_redis_sentinel_enabled",
            "websocket_redis_tls_ca_certificate_src",
        ),
    ),
]

TLS_PAIR = {
    "websocket_nginx_tls_enabled": True,
    "websocket_nginx_tls_certificate_src": "{files}/tls/site.crt",
    "websocket_nginx_tls_certificate_key_src": "{files}/tls/site.key",
}
# More connections than any host allows one process (Linux caps RLIMIT_NOFILE at fs.nr_open, at most 2^30).
BEYOND_ANY_HOST = 2_000_000_000
# The host-file rule explains itself with the TLS switch and the _src pair.
TLS_ON_HOST = (
    "websocket_nginx_tls_enabled",
    "websocket_nginx_tls_certificate_src",
    "websocket_nginx_tls_certificate_key_src",
)

NGINX_CASES = [
    _case(
        NGINX,
        "upstream-servers-empty",
        {"websocket_nginx_upstream_servers": []},
        "websocket_nginx_upstream_servers",
        "at least one worker socket",
        shown="[]",
    ),
    _case(
        NGINX,
        "upstream-servers-format",
        {"websocket_nginx_upstream_servers": ["app1"]},
        "websocket_nginx_upstream_servers",
        "unix:/path or address:port",
        shown=_shown(["app1"]),
    ),
    _case(
        NGINX,
        "server-name-directive",
        {"websocket_nginx_server_name": "chat.example; return 444"},
        "websocket_nginx_server_name",
        "host names separated by spaces",
        shown=_shown("chat.example; return 444"),
    ),
    _case(
        NGINX,
        "webroot-relative",
        {"websocket_nginx_webroot": "www"},
        "websocket_nginx_webroot",
        "absolute path",
        shown='"www"',
    ),
    _case(
        NGINX,
        "static-dir-missing",
        {"websocket_nginx_static_dir": "{files}/missing"},
        "websocket_nginx_static_dir",
        "a directory on the controller",
        shown="/missing",
    ),
    _case(
        NGINX,
        "user-groups-names",
        {"websocket_nginx_user_groups": ["web socket"]},
        "websocket_nginx_user_groups",
        "list of group names",
        shown=_shown(["web socket"]),
    ),
    _case(
        NGINX,
        "proxy-read-timeout-short",
        {"websocket_nginx_proxy_read_timeout": 45},
        "websocket_nginx_proxy_read_timeout",
        "above the Engine.IO ping interval + ping timeout (45, websocket_nginx_ping_window)",
        shown="45",
        related=("websocket_nginx_ping_window",),
    ),
    _case(
        NGINX,
        "proxy-read-timeout-below-ping-window",
        {"websocket_nginx_ping_window": 90, "websocket_nginx_proxy_read_timeout": 75},
        "websocket_nginx_proxy_read_timeout",
        "above the Engine.IO ping interval + ping timeout (90, websocket_nginx_ping_window)",
        shown="75",
        related=("websocket_nginx_ping_window",),
    ),
    _case(
        NGINX,
        "worker-rlimit-nofile-below-connections",
        {
            "websocket_nginx_planned_connections": 10,
            "websocket_nginx_worker_connections": 2000,
            "websocket_nginx_worker_rlimit_nofile": 1000,
        },
        "websocket_nginx_worker_rlimit_nofile",
        "at least websocket_nginx_worker_connections (2000)",
        shown="1000",
        related=("websocket_nginx_worker_connections",),
    ),
    _case(
        NGINX,
        "limit-conn-exempt-name",
        {"websocket_nginx_limit_conn_exempt": ["office.example"]},
        "websocket_nginx_limit_conn_exempt",
        "CIDR",
        shown="office.example",
    ),
    _case(
        NGINX,
        "health-allow-name",
        {"websocket_nginx_health_allow": ["monitor.example"]},
        "websocket_nginx_health_allow",
        "CIDR",
        shown="monitor.example",
    ),
    _case(
        NGINX,
        "sid-prefix-missing",
        {
            "websocket_nginx_upstream_servers": ["10.0.0.2:15001", "10.0.0.2:15002"],
            "websocket_nginx_upstream_sid_prefixes": {"10.0.0.2:15001": "a1b2c3d4"},
        },
        "websocket_nginx_upstream_sid_prefixes",
        "every entry",
        shown="10.0.0.2:15002",
        related=("websocket_nginx_upstream_servers", "websocket_nginx_balance"),
    ),
    _case(
        NGINX,
        "sid-prefix-shared",
        {
            "websocket_nginx_upstream_servers": ["10.0.0.2:15001", "10.0.0.2:15002"],
            "websocket_nginx_upstream_sid_prefixes": {"10.0.0.2:15001": "a1b2c3d4", "10.0.0.2:15002": "a1b2c3d4"},
        },
        "websocket_nginx_upstream_sid_prefixes",
        "its own prefix",
        shown="a1b2c3d4",
    ),
    _case(
        NGINX,
        "app-client-max-body-size-zero",
        {"websocket_nginx_app_client_max_body_size": 0},
        "websocket_nginx_app_client_max_body_size",
        "at least 1",
        shown="0",
    ),
    _case(
        NGINX,
        "app-read-timeout-zero",
        {"websocket_nginx_app_read_timeout": 0},
        "websocket_nginx_app_read_timeout",
        "at least 1",
        shown="0",
    ),
    _case(
        NGINX,
        "static-locations-prefix-no-slash",
        {"websocket_nginx_static_locations": [{"prefix": "/static", "dir": "/srv/chat/static"}]},
        "websocket_nginx_static_locations",
        "starting and ending with /",
        shown=_shown(["/static"]),
    ),
    _case(
        NGINX,
        "static-locations-prefix-socketio",
        {"websocket_nginx_static_locations": [{"prefix": "/socket.io/files/", "dir": "/srv/chat/static"}]},
        "websocket_nginx_static_locations",
        "not under /socket.io/",
        shown=_shown(["/socket.io/files/"]),
    ),
    _case(
        NGINX,
        "static-locations-prefix-twice",
        {
            "websocket_nginx_static_locations": [
                {"prefix": "/static/", "dir": "/srv/chat/static"},
                {"prefix": "/static/", "dir": "/srv/chat/media"},
            ]
        },
        "websocket_nginx_static_locations",
        "each prefix once",
        shown=_shown(["/static/", "/static/"]),
    ),
    _case(
        NGINX,
        "static-locations-dir-space",
        {"websocket_nginx_static_locations": [{"prefix": "/static/", "dir": "/srv/chat static"}]},
        "websocket_nginx_static_locations",
        "absolute paths on the nginx host or paths inside the app's code",
        shown=_shown(["/srv/chat static"]),
    ),
    _case(
        NGINX,
        "static-locations-dir-up",
        {
            "websocket_nginx_app_routes": True,
            "websocket_nginx_static_locations": [{"prefix": "/static/", "dir": "chat/../instance"}],
        },
        "websocket_nginx_static_locations",
        "without . or .. segments",
        shown=_shown(["chat/../instance"]),
    ),
    _case(
        NGINX,
        "static-locations-relative-without-app",
        {"websocket_nginx_static_locations": [{"prefix": "/static/", "dir": "chat/static"}]},
        "websocket_nginx_static_locations",
        "need websocket_nginx_app_code_dir (the app's code on this host) or websocket_nginx_app_routes",
        shown=_shown(["chat/static"]),
        related=("websocket_nginx_app_code_dir", "websocket_nginx_app_routes"),
    ),
    _case(
        NGINX,
        "app-code-dir-relative",
        {"websocket_nginx_app_code_dir": "opt/websocket/current/app"},
        "websocket_nginx_app_code_dir",
        "absolute path",
        shown=_shown("opt/websocket/current/app"),
    ),
    _case(
        NGINX,
        "content-security-policy-quote",
        {"websocket_nginx_content_security_policy": 'default-src "self"'},
        "websocket_nginx_content_security_policy",
        "double quotes",
        shown=_shown('default-src "self"'),
    ),
    _case(
        NGINX,
        "content-security-policy-backslash",
        {"websocket_nginx_content_security_policy": "default-src 'self' \\"},
        "websocket_nginx_content_security_policy",
        "backslashes",
    ),
    _case(
        NGINX,
        "worker-rlimit-nofile-beyond-host",
        {"websocket_nginx_worker_rlimit_nofile": BEYOND_ANY_HOST},
        "websocket_nginx_worker_rlimit_nofile",
        "hard limit of PID 1",
        shown=str(BEYOND_ANY_HOST),
    ),
    _case(
        NGINX,
        "planned-connections-beyond-workers",
        {
            "websocket_nginx_worker_connections": 1000,
            "websocket_nginx_worker_processes": 1,
        },
        "websocket_nginx_planned_connections",
        "20000 connections",
        shown="10000",
        related=(
            "websocket_nginx_worker_connections",
            "websocket_nginx_worker_processes",
        ),
    ),
    _case(
        NGINX,
        "tls-port-same-as-listen-port",
        {"websocket_nginx_tls_port": 80},
        "websocket_nginx_tls_port",
        "differ from websocket_nginx_listen_port (80), got 80",
        related=("websocket_nginx_listen_port",),
    ),
    _case(
        NGINX,
        "tls-protocols-empty",
        {"websocket_nginx_tls_protocols": []},
        "websocket_nginx_tls_protocols",
        "non-empty list of TLSv1.2, TLSv1.3",
        shown="[]",
    ),
    _case(
        NGINX,
        "tls-ciphers-empty",
        {"websocket_nginx_tls_ciphers": []},
        "websocket_nginx_tls_ciphers",
        "non-empty list of OpenSSL names",
        shown="[]",
    ),
    _case(
        NGINX,
        "tls-ciphers-names",
        {"websocket_nginx_tls_ciphers": ["ECDHE RSA"]},
        "websocket_nginx_tls_ciphers",
        "OpenSSL names",
        shown=_shown(["ECDHE RSA"]),
    ),
    _case(
        NGINX,
        "tls-certificate-relative",
        {"websocket_nginx_tls_certificate": "tls/site.crt"},
        "websocket_nginx_tls_certificate",
        "absolute path",
        shown='"tls/site.crt"',
    ),
    _case(
        NGINX,
        "tls-certificate-key-relative",
        {"websocket_nginx_tls_certificate_key": "tls/site.key"},
        "websocket_nginx_tls_certificate_key",
        "absolute path",
        shown='"tls/site.key"',
    ),
    _case(
        NGINX,
        "tls-certificate-src-without-key-src",
        {"websocket_nginx_tls_certificate_src": "{files}/tls/site.crt"},
        "websocket_nginx_tls_certificate_key_src",
        "both set",
        shown='("")',
        related=("websocket_nginx_tls_certificate_src",),
    ),
    _case(
        NGINX,
        "tls-plain-http-networks-names",
        {"websocket_nginx_tls_plain_http_networks": ["office"]},
        "websocket_nginx_tls_plain_http_networks",
        "addresses or CIDR ranges",
        shown=_shown(["office"]),
    ),
    # TLS on without the certificate files: on the controller (copied from there) or on the host.
    _case(
        NGINX,
        "tls-on-without-certificate-src-file",
        {**TLS_PAIR, "websocket_nginx_tls_certificate_src": "{files}/tls/missing.crt"},
        "websocket_nginx_tls_certificate_src",
        "not a file on the controller",
        shown="tls/missing.crt",
        related=("websocket_nginx_tls_enabled",),
    ),
    _case(
        NGINX,
        "tls-on-without-key-src-file",
        {
            **TLS_PAIR,
            "websocket_nginx_tls_certificate_key_src": "{files}/tls/missing.key",
        },
        "websocket_nginx_tls_certificate_key_src",
        "not a file on the controller",
        shown="tls/missing.key",
        related=("websocket_nginx_tls_enabled",),
    ),
    _case(
        NGINX,
        "tls-certificate-src-not-a-certificate",
        {
            **TLS_PAIR,
            "websocket_nginx_tls_certificate_src": "{files}/tls/not-a-certificate.pem",
        },
        "websocket_nginx_tls_certificate_src",
        "must be a PEM certificate",
        shown="not-a-certificate.pem",
    ),
    _case(
        NGINX,
        "tls-certificate-key-src-not-a-key",
        {
            **TLS_PAIR,
            "websocket_nginx_tls_certificate_key_src": "{files}/tls/not-a-certificate.pem",
        },
        "websocket_nginx_tls_certificate_key_src",
        "must be a PEM private key without a passphrase",
        shown="not-a-certificate.pem",
    ),
    _case(
        NGINX,
        "tls-certificate-key-src-of-another-certificate",
        {
            **TLS_PAIR,
            "websocket_nginx_tls_certificate_key_src": "{files}/tls/other.key",
        },
        "websocket_nginx_tls_certificate_key_src",
        "belongs to another certificate",
        shown="tls/other.key",
        related=("websocket_nginx_tls_certificate_src",),
    ),
    _case(
        NGINX,
        "tls-on-without-certificate-on-host",
        {
            "websocket_nginx_tls_enabled": True,
            "websocket_nginx_tls_certificate": "/nonexistent/site.crt",
            "websocket_nginx_tls_certificate_key": "{files}/tls/site.key",
        },
        "websocket_nginx_tls_certificate",
        "not a file there",
        shown="/nonexistent/site.crt",
        related=TLS_ON_HOST,
    ),
    _case(
        NGINX,
        "tls-on-without-key-on-host",
        {
            "websocket_nginx_tls_enabled": True,
            "websocket_nginx_tls_certificate": "{files}/tls/site.crt",
            "websocket_nginx_tls_certificate_key": "/nonexistent/site.key",
        },
        "websocket_nginx_tls_certificate_key",
        "not a file there",
        shown="/nonexistent/site.key",
        related=TLS_ON_HOST,
    ),
    _case(
        NGINX,
        "metrics-address-public",
        {"websocket_nginx_metrics_enabled": True, "websocket_nginx_metrics_address": "203.0.113.7"},
        "websocket_nginx_metrics_address",
        "loopback or private address",
        shown='"203.0.113.7"',
        related=("websocket_nginx_metrics_enabled",),
    ),
    _case(
        NGINX,
        "status-port-is-listen-port",
        {"websocket_nginx_status_port": 80},
        "websocket_nginx_status_port",
        "must differ from each other and from the site's ports (80, 443)",
        related=("websocket_nginx_metrics_port", "websocket_nginx_listen_port", "websocket_nginx_tls_port"),
    ),
]

QUEUE = {"websocket_app_message_queue": "redis://:a-valid-password-0123456789@127.0.0.1:6379/0"}
TLS_QUEUE = "rediss://websocket:tls-queue-password-0123@10.0.0.5:6379/0"
CONFIG_FILE = {"src": "{files}/app.conf.j2", "dest": "app.conf"}
GIT = {"websocket_app_source": "git", "websocket_app_git_repo": "https://git.example/app.git"}

APP_CASES = [
    # Identity, paths and the source of the code
    _case(
        APP,
        "service-name-slash",
        {"websocket_app_service_name": "web/socket"},
        "websocket_app_service_name",
        "systemd unit name",
        shown='"web/socket"',
    ),
    _case(
        APP, "user-name", {"websocket_app_user": "Web User"}, "websocket_app_user", "a user name", shown='"Web User"'
    ),
    _case(
        APP,
        "group-name",
        {"websocket_app_group": "Web Group"},
        "websocket_app_group",
        "a group name",
        shown='"Web Group"',
    ),
    _case(
        APP,
        "socket-dir-is-the-runtime-dir",
        {"websocket_app_socket_dir": "/run/websocket"},
        "websocket_app_socket_dir",
        "other than websocket_app_runtime_dir",
        shown='"/run/websocket"',
        related=("websocket_app_runtime_dir",),
    ),
    _case(
        APP,
        "socket-group-is-the-app-group",
        {"websocket_app_socket_group": "websocket"},
        "websocket_app_socket_group",
        "other than websocket_app_group",
        shown='"websocket"',
        related=("websocket_app_group",),
    ),
    _case(
        APP,
        "root-trailing-slash",
        {"websocket_app_root": "/opt/websocket/"},
        "websocket_app_root",
        "absolute path without spaces or a trailing /",
        shown='"/opt/websocket/"',
    ),
    _case(
        APP,
        "config-dir-relative",
        {"websocket_app_config_dir": "etc/websocket"},
        "websocket_app_config_dir",
        "absolute path",
        shown='"etc/websocket"',
    ),
    _case(
        APP,
        "runtime-dir-outside-run",
        {"websocket_app_runtime_dir": "/var/run/websocket/sockets"},
        "websocket_app_runtime_dir",
        "directly under /run",
        shown='"/var/run/websocket/sockets"',
    ),
    _case(
        APP,
        "stats-socket-outside-runtime-dir",
        {"websocket_app_stats_socket": "/tmp/stats.sock"},
        "websocket_app_stats_socket",
        "directly in websocket_app_runtime_dir (/run/websocket)",
        shown='"/tmp/stats.sock"',
        related=("websocket_app_runtime_dir",),
    ),
    _case(
        APP,
        "source-dir-missing",
        {"websocket_app_source_dir": "{files}/missing"},
        "websocket_app_source_dir",
        "a directory on the controller",
        shown="/missing",
        related=("websocket_app_source",),
    ),
    _case(
        APP,
        "git-without-repo",
        {"websocket_app_source": "git"},
        "websocket_app_git_repo",
        "repository URL (https://, ssh://, git://, file:// or user@host:path)",
        shown='""',
        related=("websocket_app_source",),
    ),
    _case(
        APP,
        "git-version-empty",
        {**GIT, "websocket_app_git_version": ""},
        "websocket_app_git_version",
        "branch, tag or commit",
        shown='""',
    ),
    _case(
        APP,
        "git-subdir-outside",
        {**GIT, "websocket_app_git_subdir": "app/../../etc"},
        "websocket_app_git_subdir",
        "relative path inside the repository",
        shown='"app/../../etc"',
    ),
    _case(
        APP,
        "package-not-a-wheel",
        {"websocket_app_source": "package", "websocket_app_package": "{files}/notes.txt"},
        "websocket_app_package",
        ".whl, .tar.gz or .zip file on the controller",
        shown="notes.txt",
        related=("websocket_app_source",),
    ),
    _case(
        APP,
        "module-without-callable",
        {"websocket_app_module": "socketapp.wsgi"},
        "websocket_app_module",
        "package.module:callable",
        shown='"socketapp.wsgi"',
    ),
    _case(
        APP,
        "requirements-file-missing",
        {"websocket_app_requirements_file": "{files}/missing-requirements.txt"},
        "websocket_app_requirements_file",
        "a file on the controller",
        shown="missing-requirements.txt",
        related=("websocket_app_extra_requirements",),
    ),
    _case(
        APP,
        "python-with-options",
        {"websocket_app_python": "python3 -I"},
        "websocket_app_python",
        "interpreter name or path",
        shown='"python3 -I"',
    ),
    _case(
        APP,
        "pip-ca-bundle-missing",
        {"websocket_app_pip_ca_bundle": "{files}/missing-ca.pem"},
        "websocket_app_pip_ca_bundle",
        "CA bundle file on the controller",
        shown="missing-ca.pem",
    ),
    _case(
        APP,
        "rollback-to-path",
        {"websocket_app_rollback_to": "../../etc"},
        "websocket_app_rollback_to",
        "release id",
        shown='"../../etc"',
        related=("websocket_app_root",),
    ),
    _case(
        APP,
        "health-path-relative",
        {"websocket_app_health_path": "healthz"},
        "websocket_app_health_path",
        "starting with /",
        shown='"healthz"',
    ),
    # Requirements, environment and config files
    _case(
        APP,
        "requirements-file-unpinned",
        {"websocket_app_requirements_file": "{files}/requirements-unpinned.txt"},
        "websocket_app_requirements_file",
        "name==version",
        shown="not pinned: ['flask']",
    ),
    _case(
        APP,
        "extra-requirements-unpinned",
        {"websocket_app_extra_requirements": ["flask-cors"]},
        "websocket_app_extra_requirements",
        "each name==version",
        shown="not pinned: ['flask-cors']",
    ),
    _case(
        APP,
        "server-requirements-unpinned",
        {"websocket_app_server_requirements": ["uWSGI==2.0.31", "gevent"]},
        "websocket_app_server_requirements",
        "each name==version",
        shown="not pinned: ['gevent']",
    ),
    _case(
        APP,
        "server-requirements-without-uwsgi",
        {"websocket_app_server_requirements": ["gevent==26.9.0"]},
        "websocket_app_server_requirements",
        "must pin uWSGI once",
        shown='["gevent==26.9.0"]',
    ),
    _case(
        APP,
        "environment-name",
        {"websocket_app_environment": {"1_BAD": "x"}},
        "websocket_app_environment",
        "letters, digits and _",
        shown="offending names: ['1_BAD']",
    ),
    _case(
        APP,
        "environment-multiline-value",
        {"websocket_app_environment": {"GREETING": "hello\nsecret-second-line"}},
        "websocket_app_environment",
        "one line each",
        shown='["GREETING"]',
        secret="secret-second-line",
    ),
    _case(
        APP,
        "config-files-without-src",
        {"websocket_app_config_files": [{"dest": "app.conf"}]},
        "websocket_app_config_files",
        "missing required arguments: src",
        by_argspec=True,
    ),
    _case(
        APP,
        "config-files-without-dest",
        {"websocket_app_config_files": [{"src": "{files}/app.conf.j2"}]},
        "websocket_app_config_files",
        "missing required arguments: dest",
        by_argspec=True,
    ),
    _case(
        APP,
        "config-files-dest-path",
        {"websocket_app_config_files": [{**CONFIG_FILE, "dest": "../app.conf"}]},
        "websocket_app_config_files",
        "a file name",
        shown='["../app.conf"]',
    ),
    _case(
        APP,
        "config-files-src-missing",
        {"websocket_app_config_files": [{**CONFIG_FILE, "src": "{files}/missing.j2"}]},
        "websocket_app_config_files",
        "a template file on the controller",
        shown="missing.j2",
    ),
    _case(
        APP,
        "config-files-dest-reserved",
        {"websocket_app_config_files": [{**CONFIG_FILE, "dest": "uwsgi.ini"}]},
        "websocket_app_config_files",
        "may not be uwsgi.ini, websocket.env, websocket.service, message-queue-ca.pem, staged or previous",
        shown='["uwsgi.ini"]',
    ),
    _case(
        APP,
        "source-dir-nothing-to-deploy",
        {"websocket_app_source_dir": "{files}/empty", "websocket_app_requirements_file": ""},
        "websocket_app_source_dir",
        "at least one file to deploy",
        shown="/empty",
        related=("websocket_app_source_exclude",),
    ),
    # Capacity, sockets and the message queue
    _case(
        APP,
        "planned-connections-zero",
        {"websocket_app_planned_connections": 0},
        "websocket_app_planned_connections",
        "at least 1",
        shown="0",
    ),
    _case(
        APP,
        "limit-nofile-below-gevent",
        {"websocket_app_limit_nofile": 100},
        "websocket_app_limit_nofile",
        "at least websocket_app_gevent + 64 (11128",
        shown="100",
        related=("websocket_app_gevent",),
    ),
    _case(
        APP,
        "limit-nofile-beyond-host",
        {"websocket_app_limit_nofile": BEYOND_ANY_HOST},
        "websocket_app_limit_nofile",
        "hard limit of PID 1",
        shown=str(BEYOND_ANY_HOST),
        related=("websocket_app_planned_connections", "websocket_app_gevent"),
    ),
    _case(
        APP,
        "gevent-below-planned-connections",
        {"websocket_app_gevent": 100},
        "websocket_app_gevent",
        "must hold websocket_app_planned_connections (10000)",
        shown="(100)",
        related=("websocket_app_processes", "websocket_app_planned_connections"),
    ),
    _case(
        APP,
        "listen-beyond-somaxconn",
        {"websocket_app_listen": 1_000_000},
        "websocket_app_listen",
        "(net.core.somaxconn)",
        shown="1000000",
    ),
    # More than one worker without a message queue: broadcasts would miss the other workers' clients.
    _case(
        APP,
        "processes-without-message-queue",
        {"websocket_app_processes": 2},
        "websocket_app_message_queue",
        "must be set when websocket_app_processes is above 1 (is 2)",
        related=("websocket_app_processes",),
    ),
    # A YAML null (`websocket_app_message_queue:`) means no queue, like '', and is refused the same way.
    _case(
        APP,
        "processes-with-null-message-queue",
        {"websocket_app_processes": 2, "websocket_app_message_queue": None},
        "websocket_app_message_queue",
        "must be set when websocket_app_processes is above 1 (is 2)",
        related=("websocket_app_processes",),
    ),
    _case(
        APP,
        "message-queue-not-a-url",
        {"websocket_app_message_queue": "redis://:hunter2-password-0123@127.0.0.1:6379/0 db0"},
        "websocket_app_message_queue",
        "a URL such as redis://:password@host:6379/0",
        shown='"redis://***@127.0.0.1:6379/0 db0"',
        secret="hunter2-password-0123",
    ),
    # Redis over TLS: the certificate check stays on, the CA bundle comes one way and only with rediss://.
    *(
        _case(
            APP,
            f"message-queue-tls-unverified-{n}",
            {"websocket_app_message_queue": f"{TLS_QUEUE}?{query}"},
            "websocket_app_message_queue",
            "turns the check of Redis's certificate off",
            related=("websocket_app_message_queue_ca_bundle",),
            secret="tls-queue-password-0123",
        )
        for n, query in enumerate(["ssl_cert_reqs=none", "db=0&ssl_check_hostname=False"])
    ),
    _case(
        APP,
        "message-queue-ca-bundle-missing",
        {"websocket_app_message_queue": TLS_QUEUE, "websocket_app_message_queue_ca_bundle": "{files}/tls/missing.crt"},
        "websocket_app_message_queue_ca_bundle",
        "a CA bundle file (PEM) on the controller",
        shown="tls/missing.crt",
    ),
    _case(
        APP,
        "message-queue-ca-bundle-without-tls",
        {**QUEUE, "websocket_app_message_queue_ca_bundle": "{files}/tls/site.crt"},
        "websocket_app_message_queue_ca_bundle",
        "is not a rediss:// or rediss+sentinel:// (TLS) URL",
        shown="tls/site.crt",
        related=("websocket_app_message_queue", "websocket_redis_tls_enabled"),
    ),
    _case(
        APP,
        "message-queue-ca-bundle-twice",
        {
            "websocket_app_message_queue": f"{TLS_QUEUE}?ssl_ca_certs=/etc/ssl/certs/ca.pem",
            "websocket_app_message_queue_ca_bundle": "{files}/tls/site.crt",
        },
        "websocket_app_message_queue_ca_bundle",
        "give the CA one way, not both",
        shown="tls/site.crt",
        related=("websocket_app_message_queue",),
        secret="tls-queue-password-0123",
    ),
    _case(
        APP,
        "tcp-address-public",
        {"websocket_app_socket_type": "tcp", "websocket_app_tcp_address": "203.0.113.7"},
        "websocket_app_tcp_address",
        "loopback or private address",
        shown='"203.0.113.7"',
        related=("websocket_app_socket_type", "websocket_app_tcp_allow_public"),
    ),
    _case(
        APP,
        "tcp-address-empty",
        {"websocket_app_socket_type": "tcp", "websocket_app_tcp_address": ""},
        "websocket_app_tcp_address",
        "address or host name",
        shown='""',
        related=("websocket_app_socket_type",),
    ),
    _case(
        APP,
        "tcp-base-port-zero",
        {"websocket_app_tcp_base_port": 0},
        "websocket_app_tcp_base_port",
        "1-65535",
        shown="0",
        related=("websocket_app_processes",),
    ),
    _case(
        APP,
        "tcp-ports-beyond-65535",
        {**QUEUE, "websocket_app_processes": 2, "websocket_app_tcp_base_port": 65535},
        "websocket_app_tcp_base_port",
        "up to 65534",
        shown="65535",
        related=("websocket_app_processes",),
    ),
    # Socket.IO settings
    _case(APP, "channel-empty", {"websocket_app_channel": ""}, "websocket_app_channel", "a channel name", shown='""'),
    _case(
        APP,
        "cors-allowed-origins-path",
        {"websocket_app_cors_allowed_origins": ["https://chat.example/"]},
        "websocket_app_cors_allowed_origins",
        "scheme://host[:port] without a path",
        shown='["https://chat.example/"]',
    ),
    _case(
        APP,
        "cors-any-and-list",
        {"websocket_app_cors_allow_any": True, "websocket_app_cors_allowed_origins": ["https://chat.example"]},
        "websocket_app_cors_allow_any",
        "choose one",
        related=("websocket_app_cors_allowed_origins",),
    ),
    _case(
        APP,
        "metrics-address-public",
        {"websocket_app_metrics_enabled": True, "websocket_app_metrics_address": "203.0.113.7"},
        "websocket_app_metrics_address",
        "loopback or private address",
        shown='"203.0.113.7"',
        related=("websocket_app_metrics_enabled",),
    ),
    _case(
        APP,
        "metrics-port-is-a-worker-port",
        {"websocket_app_socket_type": "tcp", "websocket_app_metrics_port": 15001},
        "websocket_app_metrics_port",
        "1-65535, other than the worker ports (15001 on",
        shown="15001",
        related=("websocket_app_tcp_base_port",),
    ),
]

FIREWALL_RULE = {"name": "workers", "ports": [15001], "sources": ["10.0.0.5"]}
FIREWALL_CASES = [
    # argument_specs checks the keys of each rule (its suboptions).
    _case(
        FIREWALL,
        "rule-keys",
        {"websocket_firewall_rules": [{"name": "workers", "port": 15001}]},
        "websocket_firewall_rules",
        "name, ports, sources",
        shown="port",
        by_argspec=True,
    ),
    _case(
        FIREWALL,
        "rule-name",
        {"websocket_firewall_rules": [FIREWALL_RULE | {"name": "workers; drop"}]},
        "websocket_firewall_rules",
        "letters, digits",
        shown="workers; drop",
    ),
    _case(
        FIREWALL,
        "rule-port",
        {"websocket_firewall_rules": [FIREWALL_RULE | {"ports": [70000]}]},
        "websocket_firewall_rules",
        "1-65535",
        shown="70000",
    ),
    _case(
        FIREWALL,
        "rule-ports-string",
        {"websocket_firewall_rules": [FIREWALL_RULE | {"ports": "15001"}]},
        "websocket_firewall_rules",
        "1-65535, the ports of a rule a list",
        shown='"15001"',
    ),
    _case(
        FIREWALL,
        "rule-sources-string",
        {"websocket_firewall_rules": [FIREWALL_RULE | {"sources": "10.0.0.5"}]},
        "websocket_firewall_rules",
        "the sources of a rule a list",
        shown='"10.0.0.5"',
    ),
    _case(
        FIREWALL,
        "rule-source-name",
        {"websocket_firewall_rules": [FIREWALL_RULE | {"sources": ["lb.example"]}]},
        "websocket_firewall_rules",
        "CIDR",
        shown="lb.example",
    ),
]

MAIN_CASES: list[Case] = [
    *REDIS_CASES,
    *FIREWALL_CASES,
    *NGINX_CASES,
    *APP_CASES,
    *(case for role in ROLE_NAMES for case in (*range_cases(role), *shape_cases(role), *argspec_cases(role))),
]


def entry_cases(role: str, entry: str) -> list[Case]:
    """The rows of another entry point (tasks_from): argument_specs' rows for its options and, when it runs the
    rules too (rules.yml, for its options only), every main row about one of its options that gives nothing else."""
    options = options_of(role, entry)
    rows = argspec_cases(role, entry)
    if any(path.name == "rules.yml" for path in validation_paths(role, entry)):
        rows += [
            replace(case, entry=entry)
            for case in MAIN_CASES
            if case.role == role and not case.by_argspec and case.var in options and set(case.given) <= set(options)
        ]
    return rows


RUNS: list[tuple[str, str]] = [(role, entry) for role in ROLE_NAMES for entry in entry_points(role)]

CASES: list[Case] = [
    *MAIN_CASES,
    *(case for role, entry in RUNS if entry != MAIN for case in entry_cases(role, entry)),
]


def cases_of(run: str) -> list[Case]:
    return [case for case in CASES if case.run == run]


def _unique(cases: list[Case]) -> list[Case]:
    hosts = [case.host for case in cases]
    duplicates = {host for host in hosts if hosts.count(host) > 1}
    assert not duplicates, f"duplicate case ids: {sorted(duplicates)}"
    return cases


_unique(CASES)
