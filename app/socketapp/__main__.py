"""Development server: `python -m socketapp [port]`. Production runs under uWSGI (socketapp.wsgi) instead."""

from __future__ import annotations

import sys

from socketapp import create_app, socketio


def main(argv: list[str]) -> None:
    port = int(argv[1]) if len(argv) > 1 else 5000
    app = create_app()
    # Werkzeug's server is fine on loopback for development; never exposed by the bundle.
    socketio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True)


if __name__ == "__main__":
    main(sys.argv)
