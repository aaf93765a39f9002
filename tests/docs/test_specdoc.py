"""tools/specdoc.py: the role READMEs' generated blocks, on small argument_specs written here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import specdoc

SPECS = {
    "argument_specs": {
        "main": {
            "short_description": "Does C(main) things.",
            "description": ["First paragraph,", "second  paragraph."],
            "options": {
                "demo_mode": {
                    "type": "str",
                    "choices": ["a", "b"],
                    "default": "a",
                    "description": "Either C(a) or C(b) | never both.",
                },
                "demo_hosts": {"type": "list", "elements": "str", "default": [], "description": ["Hosts,", "listed."]},
                "demo_size": {"type": "int", "description": "Derived from C(demo_hosts)."},
            },
        },
        "rollback": {"short_description": "Goes back.", "options": {"demo_to": {"description": "A release id."}}},
        "facts": {"short_description": "Sets facts only."},
    }
}


def make_role(
    root: Path, readme: str | None = "# demo\n\nBy hand.\n\n<!-- BEGIN GENERATED -->\n<!-- END GENERATED -->\n"
):
    role = root / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(SPECS, sort_keys=False))
    if readme is not None:
        (role / "README.md").write_text(readme)
    return role


def test_table_rows_show_type_choices_elements_default_and_markup():
    rows = specdoc.table(SPECS["argument_specs"]["main"]["options"]).splitlines()
    assert rows[:2] == ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    assert rows[2] == "| `demo_mode` | str (a, b) | `'a'` | Either `a` or `b` \\| never both. |"
    assert rows[3] == "| `demo_hosts` | list of str | `[]` | Hosts, listed. |"
    assert rows[4] == "| `demo_size` | int | derived | Derived from `demo_hosts`. |"


def test_block_renders_every_entry_point_main_first(tmp_path):
    text = specdoc.block(make_role(tmp_path))
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == ["### Entry point `main`", "### Entry point `rollback`", "### Entry point `facts`"]
    assert "Does `main` things.\n\nFirst paragraph,\n\nsecond paragraph." in text
    assert "| `demo_to` | str | derived | A release id. |" in text
    assert text.endswith("### Entry point `facts`\n\nSets facts only.\n\nNo variables.")


def test_render_replaces_the_block_and_keeps_the_hand_written_text(tmp_path):
    role = make_role(tmp_path)
    once = specdoc.render(role, (role / "README.md").read_text())
    assert once.startswith("# demo\n\nBy hand.\n\n<!-- BEGIN GENERATED -->\nGenerated from")
    assert once.endswith("No variables.\n<!-- END GENERATED -->\n")
    assert specdoc.render(role, once) == once


def test_check_passes_once_rendered_and_reports_drift(tmp_path):
    role = make_role(tmp_path)
    assert specdoc.check(tmp_path)  # the block is still empty
    assert specdoc.main([], root=tmp_path) == 0
    assert specdoc.check(tmp_path) == []
    assert specdoc.main(["--check"], root=tmp_path) == 0
    readme = role / "README.md"
    readme.write_text(readme.read_text().replace("A release id.", "An old description."))
    problems = specdoc.check(tmp_path)
    assert len(problems) == 1
    assert "-| `demo_to` | str | derived | An old description. |" in problems[0]
    assert specdoc.main(["--check"], root=tmp_path) == 1


@pytest.mark.parametrize(
    ("readme", "problem"),
    [
        (None, "roles/demo/README.md is missing"),
        ("# demo\n", "needs one <!-- BEGIN GENERATED -->"),
        ("<!-- END GENERATED -->\n<!-- BEGIN GENERATED -->\n", "needs one <!-- BEGIN GENERATED -->"),
        ("<!-- BEGIN GENERATED -->\n<!-- END GENERATED -->\n" * 2, "needs one <!-- BEGIN GENERATED -->"),
    ],
)
def test_check_fails_without_a_readme_or_its_markers(tmp_path, readme, problem):
    make_role(tmp_path, readme)
    problems = specdoc.check(tmp_path)
    assert len(problems) == 1
    assert problem in problems[0]
    assert specdoc.main(["--check"], root=tmp_path) == 1


def test_roles_without_argument_specs_need_no_readme(tmp_path):
    (tmp_path / "roles" / "plain" / "tasks").mkdir(parents=True)
    assert specdoc.check(tmp_path) == []


def test_the_project_role_readmes_are_current():
    assert specdoc.documented_roles(specdoc.ROOT), "no role with argument_specs found"
    assert specdoc.check(specdoc.ROOT) == []
