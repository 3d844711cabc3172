"""docs/roles.md is generated from the roles' argument specs and must be regenerated with them."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_role_docs", ROOT / "tools" / "gen_role_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roles_doc_is_up_to_date():
    expected = _generator().render()
    current = (ROOT / "docs" / "roles.md").read_text()
    assert current == expected, "docs/roles.md is stale: run python tools/gen_role_docs.py"


def test_every_role_variable_appears_in_the_doc():
    import yaml

    text = (ROOT / "docs" / "roles.md").read_text()
    for spec_file in (ROOT / "roles").glob("*/meta/argument_specs.yml"):
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options") or {}
        missing = [name for name in options if f"| `{name}` |" not in text]
        assert missing == [], f"{spec_file.parent.parent.name}: not documented: {missing}"
