"""WSGI entry for uWSGI: `module = socketapp.wsgi:app`.

uWSGI imports this in each worker after the fork (`lazy-apps`), after `gevent-early-monkey-patch` has patched the
standard library, which the Redis client needs.
"""

from socketapp import create_app, socketio

app = create_app()


def subscribe_to_the_message_queue() -> None:
    # python-socketio subscribes a worker to the queue on its first client, asynchronously: a broadcast published
    # in that window never reaches that client. Subscribing when the worker starts closes the window.
    server = socketio.server
    if not server.manager_initialized:
        server.manager_initialized = True
        server.manager.initialize()


subscribe_to_the_message_queue()
