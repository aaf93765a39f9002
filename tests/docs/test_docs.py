"""The documentation's links, anchors, repository paths and section references resolve; the top README stays short."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The collection's README sits at the collection's root, which holds roles/ and docs/ as the repository does.
COLLECTION_README = ROOT / "templates" / "collection" / "README.md"
MARKDOWN = sorted(
    [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        COLLECTION_README,
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "roles").glob("*/README.md"),
    ]
)
README_MAX_BYTES = 15 * 1024
LINE_MAX = 400
PATH_ROOTS = ("app", "bench", "docs", "inventory", "molecule", "playbooks", "roles", "templates", "tests", "tools")
PATH_FILES = ("site.yml", "Makefile")
# Written by the playbooks or make, not committed.
GENERATED_PATHS = ("inventory/.secrets",)
LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# `README, "Section"`, `docs/x.md, "Section"` or `roles/r/README.md "Section"` in code, comments and docs.
SECTION_REF = re.compile(r"\b(README(?:\.md)?|docs/[\w-]+\.md|roles/\w+/README\.md),? \"([^\"]+)\"")


def prose(text: str) -> str:
    """The text without fenced code blocks (links and paths in examples are not the docs' own)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def heading_texts(path: Path) -> list[str]:
    """Headings as GitHub renders them: no code ticks, link text only."""
    texts = []
    for line in prose(path.read_text()).splitlines():
        if match := HEADING.match(line):
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
            texts.append(text.replace("`", ""))
    return texts


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for text in heading_texts(path):
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def base_dir(path: Path) -> Path:
    return ROOT if path == COLLECTION_README else path.parent


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", MARKDOWN, ids=name)
def test_links_resolve(path):
    problems = []
    for _, target in LINK.findall(prose(path.read_text())):
        if target.startswith(("http://", "https://")):
            if not re.fullmatch(r"https?://[\w.-]+\.[a-z]{2,}(:\d+)?(/\S*)?", target):
                problems.append(f"malformed URL {target}")
            continue
        file_part, _, anchor = target.partition("#")
        linked = (base_dir(path) / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{target}: {file_part} does not exist")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{target}: no heading #{anchor} in {name(linked)}")
    assert not problems, f"{name(path)}: " + "; ".join(problems)


# What `make collection` ships (see the Makefile): links in these files must stay inside it.
COLLECTION_DIRS = ("app", "docs", "playbooks", "roles")
COLLECTION_IGNORED = ("docs/testing.md",)  # build_ignore in templates/collection/galaxy.yml
SHIPPED = [
    path
    for path in MARKDOWN
    if path == COLLECTION_README
    or (name(path).split("/")[0] in COLLECTION_DIRS and name(path) not in COLLECTION_IGNORED)
]


def test_the_collection_skips_what_its_docs_cannot_link():
    ignored = yaml.safe_load((ROOT / "templates" / "collection" / "galaxy.yml").read_text())["build_ignore"]
    assert set(COLLECTION_IGNORED) <= set(ignored)


@pytest.mark.parametrize("path", SHIPPED, ids=name)
def test_shipped_docs_link_only_inside_the_collection(path):
    outside = []
    for _, target in LINK.findall(prose(path.read_text())):
        file_part = target.partition("#")[0]
        if not file_part or target.startswith(("http://", "https://")):
            continue
        linked = name((base_dir(path) / file_part).resolve())
        if linked.split("/")[0] not in COLLECTION_DIRS or linked in COLLECTION_IGNORED:
            outside.append(target)
    assert not outside, f"{name(path)} links outside the collection: {outside}"


@pytest.mark.parametrize("path", MARKDOWN, ids=name)
def test_backticked_paths_exist(path):
    missing = []
    for span in CODE_SPAN.findall(prose(path.read_text())):
        candidate = span.rstrip("/")
        if re.search(r"[\s<>*…]", candidate) or not (
            candidate in PATH_FILES or (candidate.split("/")[0] in PATH_ROOTS and "/" in span)
        ):
            continue
        if candidate.startswith(GENERATED_PATHS) or (ROOT / candidate).exists():
            continue
        missing.append(span)
    assert not missing, f"{name(path)} names paths that do not exist: {missing}"


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = []
    for relative in filter(None, listed.split("\0")):
        path = ROOT / relative
        if path.is_file() and path.suffix in {".md", ".py", ".yml", ".yaml", ".j2", ".cfg", ".sh", ".txt", ""}:
            files.append(path)
    return files


def section_references() -> list[tuple[Path, str, str]]:
    found = []
    for path in tracked_text_files():
        if path == Path(__file__).resolve():
            continue
        text = " ".join(re.sub(r"^\s*#+ ?", "", line) for line in path.read_text(errors="replace").splitlines())
        found.extend((path, target, section) for target, section in SECTION_REF.findall(" ".join(text.split())))
    return found


def test_section_references_name_existing_headings():
    references = section_references()
    assert len(references) >= 5, f"the reference pattern found only {references}"
    problems = []
    for path, target, section in references:
        document = ROOT / ("README.md" if target == "README" else target)
        if not document.is_file():
            problems.append(f"{name(path)}: {target} does not exist")
        elif not any(text == section or text.startswith(section + " ") for text in heading_texts(document)):
            problems.append(f'{name(path)}: {target} has no section "{section}"')
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", MARKDOWN, ids=name)
def test_code_fences_are_closed(path):
    fences = [line for line in path.read_text().splitlines() if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0, f"{name(path)} leaves a code block open: the rest of the page renders as code"


def test_readme_is_short():
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) <= README_MAX_BYTES, f"README.md is {len(readme)} bytes; move detail to docs/"
    long_lines = [number for number, line in enumerate(readme.decode().splitlines(), 1) if len(line) > LINE_MAX]
    assert not long_lines, f"README.md lines over {LINE_MAX} characters: {long_lines}"


def test_readme_links_every_guide_and_role_readme():
    linked = {
        (ROOT / target.partition("#")[0]).resolve() for _, target in LINK.findall((ROOT / "README.md").read_text())
    }
    wanted = [
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "roles").glob("*/README.md")),
        ROOT / "bench/README.md",
    ]
    assert [name(path) for path in wanted if path.resolve() not in linked] == []
    assert len(wanted) >= 6


def test_slug_follows_github():
    assert slug("Redis over TLS (rediss://)") == "redis-over-tls-rediss"
    assert slug("systemctl restart websocket") == "systemctl-restart-websocket"
    assert slug("Socket.IO options and settings: the environment contract") == (
        "socketio-options-and-settings-the-environment-contract"
    )


def groups(inventory: dict) -> dict[str, list[str]]:
    """Each group of a YAML inventory and its hosts, in order."""
    return {name: list(group["hosts"]) for name, group in inventory["all"]["children"].items()}


@pytest.mark.parametrize(
    ("path", "heading"), [("README.md", "## Scaling"), ("docs/scaling-and-capacity.md", "## Redis Sentinel")]
)
def test_the_sentinel_inventory_shown_is_the_example(path, heading):
    # The README and the guide show the example inventory's groups (the collection ships the guide, not the example).
    text = (ROOT / path).read_text()
    block = re.search(r"^```yaml\n(.*?)^```", text[text.index(f"\n{heading}\n") :], re.MULTILINE | re.DOTALL)
    assert block, f"{path}, {heading!r}: no YAML inventory"
    example = yaml.safe_load((ROOT / "inventory/examples/sentinel/hosts.yml").read_text())
    assert groups(yaml.safe_load(block.group(1))) == groups(example)
