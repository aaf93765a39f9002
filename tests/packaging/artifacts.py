"""Collection artifacts (the tarballs `ansible-galaxy collection install` takes) of collections installed in a
Python environment, for installing without Galaxy.

The `ansible` package ships each collection's MANIFEST.json and FILES.json as Galaxy built them, but not every file
FILES.json lists (it drops tests and CI files): ansible-galaxy checks every listed file when it installs, so the
artifact lists only the files present. Their checksums are the published ones (each file is checked against them
before it is written); only FILES.json's own checksum in MANIFEST.json changes with the shorter list.
"""

from __future__ import annotations

import hashlib
import io
import json
import sysconfig
import tarfile
from pathlib import Path


def installed(fqcn: str) -> Path:
    """The directory of a collection installed in this Python environment (the pinned `ansible` package)."""
    namespace, name = fqcn.split(".")
    return Path(sysconfig.get_paths()["purelib"]) / "ansible_collections" / namespace / name


def version(collection: Path) -> str:
    return json.loads((collection / "MANIFEST.json").read_text())["collection_info"]["version"]


def _member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def artifact(collection: Path, directory: Path) -> Path:
    """`directory/<namespace>-<name>-<version>.tar.gz` for an installed collection; an existing one is reused (the
    version names the content)."""
    manifest = json.loads((collection / "MANIFEST.json").read_text())
    info = manifest["collection_info"]
    path = directory / f"{info['namespace']}-{info['name']}-{info['version']}.tar.gz"
    if path.exists():
        return path
    listed = json.loads((collection / "FILES.json").read_text())
    present = [entry for entry in listed["files"] if entry["name"] == "." or (collection / entry["name"]).exists()]
    files = json.dumps({**listed, "files": present}, indent=4).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w:gz") as archive:
        _member(archive, "MANIFEST.json", json.dumps(manifest, indent=4).encode())
        _member(archive, "FILES.json", files)
        for entry in present:
            if entry["name"] != ".":
                archive.add(collection / entry["name"], arcname=entry["name"], recursive=False)
    partial.rename(path)
    return path
