"""Content hash of files on the controller: the code part of a release id, so an unchanged tree maps to the same
release. Each file counts by its relative path and bytes, in sorted order.

Usage: websocket_hash.py <directory> <relative path>...
The role runs it on the controller (vars/main.yml, __websocket_app_hash_script); it is not installed on the hosts.
Its output must never change for the same files: a new hash is a new release, and a restart on the next deploy
(tests/unit/websocket_app/test_websocket_hash.py pins it).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable


def tree_hash(directory: str, paths: Iterable[str]) -> str:
    total = hashlib.sha256()
    for rel in sorted(paths):
        with open(os.path.join(directory, rel), "rb") as handle:
            total.update(rel.encode() + b"\0" + hashlib.sha256(handle.read()).hexdigest().encode() + b"\n")
    return total.hexdigest()


def main(argv: list[str]) -> int:
    print(tree_hash(argv[0], argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
