"""Flask's URL routing done once per Socket.IO session instead of once per event, for any Flask app.

uWSGI imports this module in every worker with the bundle's transport (`pyimport = websocket_routing`). Flask-SocketIO
runs every event inside `app.request_context(environ)` with the environ of the request that opened the session: the
same dict for every event of that session. Flask binds a URL adapter to it and matches its path each time; for
`/socket.io/` the match builds, raises and stores a `NotFound`. Under echo load that was about 12% of a worker's time
(bench/README.md). The result depends only on the app's URL map and a few environ values, so the first context of an
environ keeps it in the environ itself and later contexts of the same environ reuse it while those values are
unchanged. A plain HTTP request has an environ of its own: it routes exactly as before.

Checked against Flask 3.1.3 and Werkzeug 3.1.9 (`Flask.create_url_adapter`, `RequestContext.match_request`). The
app's URL rules are fixed once it serves (Flask refuses new rules after the first request), so they are not part of
the key.
"""

from __future__ import annotations

from typing import Any

KEY = "bundle.url_routing"
# What Werkzeug's bind_to_environ reads from the environ (plus the method, which matching reads).
ENVIRON_KEYS = (
    "PATH_INFO",
    "SCRIPT_NAME",
    "QUERY_STRING",
    "REQUEST_METHOD",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
    "HTTP_UPGRADE",
)


class Routing:
    """One environ's URL adapter and match result, and what they were computed from."""

    __slots__ = ("adapter", "app", "key", "match")

    def __init__(self, app: Any, key: tuple[Any, ...], adapter: Any) -> None:
        self.app = app
        self.key = key
        self.adapter = adapter
        self.match: tuple[Any, Any, Any] | None = None  # (url_rule, view_args, routing_exception)


def fingerprint(environ: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(map(environ.get, ENVIRON_KEYS))


def install() -> bool:
    """Patch Flask in this worker; False when Flask is not installed (an app without it has nothing to memoise)."""
    try:
        import flask
        from flask import ctx
    except ImportError:
        return False
    create_url_adapter = flask.Flask.create_url_adapter
    match_request = ctx.RequestContext.match_request

    def memoised_url_adapter(self: Any, request: Any) -> Any:
        if request is None:
            return create_url_adapter(self, request)
        environ = request.environ
        key = fingerprint(environ)
        routing = environ.get(KEY)
        if routing is not None and routing.app is self and routing.key == key:
            # What create_url_adapter sets on the request besides the adapter; the host is derived when read.
            if (trusted := self.config["TRUSTED_HOSTS"]) is not None:
                request.trusted_hosts = trusted
            return routing.adapter
        adapter = create_url_adapter(self, request)  # an untrusted host raises here and nothing is kept
        environ[KEY] = Routing(self, key, adapter)
        return adapter

    def memoised_match(self: Any) -> None:
        routing = self.request.environ.get(KEY)
        if routing is None or routing.adapter is not self.url_adapter:
            return match_request(self)
        request = self.request
        if routing.match is None:
            match_request(self)
            error = request.routing_exception
            if error is not None:
                # Kept for the session's lifetime: without its traceback, which holds this context's frames (and
                # with them the request), nor Werkzeug's NoMatch it was raised from (with a traceback of its own).
                error.__traceback__ = error.__context__ = error.__cause__ = None
            routing.match = (request.url_rule, request.view_args, error)
            return None
        rule, view_args, error = routing.match
        if error is not None:
            request.routing_exception = error
        else:
            # A copy: url_value_preprocessors may pop from it.
            request.url_rule, request.view_args = rule, dict(view_args) if view_args is not None else None
        return None

    flask.Flask.create_url_adapter = memoised_url_adapter
    ctx.RequestContext.match_request = memoised_match
    return True


INSTALLED = install()
