"""The per-environ routing memo with a real Flask app: what a reused environ gets must be what Flask computes."""

from __future__ import annotations

import flask
import pytest
import websocket_routing as routing
from werkzeug.exceptions import NotFound, SecurityError
from werkzeug.test import EnvironBuilder


@pytest.fixture
def app() -> flask.Flask:
    app = flask.Flask("memo")

    @app.route("/items/<int:item>")
    def item(item: int) -> str:
        return f"item {item}"

    return app


def environ(path: str, host: str = "localhost") -> dict:
    return EnvironBuilder(path=path, headers={"Host": host}).get_environ()


def routed(app: flask.Flask, env: dict) -> tuple:
    with app.request_context(env) as ctx:
        request = ctx.request
        return ctx.url_adapter, request.url_rule, request.view_args, request.routing_exception


def test_the_patch_is_installed_in_flask():
    assert routing.INSTALLED
    assert flask.Flask.create_url_adapter.__name__ == "memoised_url_adapter"


def test_a_reused_environ_reuses_the_adapter_and_the_match(app):
    env = environ("/items/7")
    first = routed(app, env)
    second = routed(app, env)
    assert second[0] is first[0]
    assert second[1] is first[1]
    assert second[1].rule == "/items/<int:item>"
    assert second[2] == {"item": 7}
    assert second[3] is None


def test_view_args_are_a_copy_each_time(app):
    env = environ("/items/7")
    routed(app, env)
    with app.request_context(env):
        flask.request.view_args.pop("item")
    assert routed(app, env)[2] == {"item": 7}


def test_a_path_without_a_route_keeps_its_not_found(app):
    env = environ("/socket.io/")
    first = routed(app, env)
    second = routed(app, env)
    assert isinstance(first[3], NotFound)
    assert second[3] is first[3]
    assert second[1] is None


def test_a_kept_not_found_holds_no_frames(app):
    env = environ("/socket.io/")
    routed(app, env)
    kept = env[routing.KEY].match[2]
    assert (kept.__traceback__, kept.__context__, kept.__cause__) == (None, None, None)


def test_a_changed_environ_is_routed_again(app):
    env = environ("/items/7")
    first = routed(app, env)
    env["PATH_INFO"] = "/items/8"
    second = routed(app, env)
    assert second[0] is not first[0]
    assert second[2] == {"item": 8}


def test_another_app_with_the_same_environ_routes_itself(app):
    other = flask.Flask("other")
    other.add_url_rule("/items/<item>", "other", lambda item: item)
    env = environ("/items/7")
    routed(app, env)
    assert routed(other, env)[2] == {"item": "7"}


def test_an_untrusted_host_is_refused_every_time(app):
    app.config["TRUSTED_HOSTS"] = ["good.example"]
    env = environ("/items/7", host="bad.example")
    for _ in range(2):
        adapter, _, _, error = routed(app, env)
        assert adapter is None
        assert isinstance(error, SecurityError)
    assert routing.KEY not in env
    env = environ("/items/7", host="good.example")
    routed(app, env)
    with app.request_context(env):
        assert flask.request.trusted_hosts == ["good.example"]
        assert flask.request.host == "good.example"


def test_plain_http_requests_route_as_before(app):
    client = app.test_client()
    assert client.get("/items/3").text == "item 3"
    assert client.get("/items/x").status_code == 404
    assert client.get("/items/4").text == "item 4"
