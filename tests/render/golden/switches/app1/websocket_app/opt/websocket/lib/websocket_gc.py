#
# Ansible managed
#
"""Python's garbage collector tuned in every uWSGI worker, whatever the app (uwsgi.ini: `pyimport = websocket_gc`).

A full collection walks every tracked object: the app's modules and about 60 objects per connected client. Untuned,
under echo load at 900 clients, one came every ~6 s and stalled all of the worker's clients for 55-90 ms.

uWSGI imports this module in each worker before the app (lazy-apps), so the thresholds apply from the start; the
freeze must wait until the app has loaded, which is when the gevent hub runs its first callbacks.
"""

import gc

import gevent


def freeze_what_the_app_built() -> None:
    # Modules, routes and handlers live as long as the worker: never garbage, never worth walking again.
    gc.freeze()


# Young collections 14x less often: objects of one message die before they are ever examined.
gc.set_threshold(10_000, 10, 10)
gevent.get_hub().loop.run_callback(freeze_what_the_app_built)
