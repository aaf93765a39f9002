"""WSGI entry for uWSGI: `module = socketapp.wsgi:app`.

uWSGI imports this in each worker after the fork (`lazy-apps`), after `gevent-early-monkey-patch` has patched the
standard library, which the Redis client needs.
"""

import gc

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


def tune_garbage_collection() -> None:
    # A full collection walks every tracked object, about 60 per connected client: at 900 clients each one took
    # 55-90 ms and came every ~6 s under echo load, which was the whole p99 tail (bench/README.md). Freeze what the
    # import built (never garbage), and collect the young generation less often: full collections become rare.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


tune_garbage_collection()
