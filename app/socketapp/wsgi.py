"""WSGI entry for uWSGI: `module = socketapp.wsgi:app`.

uWSGI's `gevent-early-monkey-patch` patches the standard library before this import, which the Redis client needs.
"""

from socketapp import create_app

app = create_app()
