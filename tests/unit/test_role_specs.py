"""Each role's meta/argument_specs.yml and defaults/main.yml describe the same variables.

The specs feed the preflight validation and the generated docs/roles.md; the defaults are what
Ansible actually uses. A default changed in one place only would make the docs lie, so both are
loaded and compared for every role.
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))


def _load(path: Path):
    return yaml.safe_load(path.read_text()) or {}


def test_every_role_has_an_argument_spec():
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
    assert roles == ROLES, "roles without meta/argument_specs.yml: " + ", ".join(
        sorted(set(roles) - set(ROLES))
    )


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_role_defaults(role):
    options = _load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"][
        "options"
    ]
    defaults_file = ROOT / "roles" / role / "defaults" / "main.yml"
    defaults = _load(defaults_file) if defaults_file.exists() else {}

    spec_defaults = {name: option["default"] for name, option in options.items() if "default" in option}
    assert sorted(set(defaults) - set(options)) == [], "variables in defaults/main.yml missing from the spec"
    assert sorted(set(spec_defaults) - set(defaults)) == [], "spec defaults missing from defaults/main.yml"
    for name, value in defaults.items():
        assert name in spec_defaults, (
            f"{role}: {name} has a default in defaults/main.yml but none in the spec"
        )
        assert spec_defaults[name] == value, (
            f"{role}: {name} defaults differ: spec {spec_defaults[name]!r}, defaults {value!r}"
        )


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role):
    options = _load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"][
        "options"
    ]
    assert [n for n in options if not n.startswith(f"{role}_")] == []


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_described(role):
    specs = _load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    for entry, spec in specs.items():
        undocumented = [
            name for name, option in (spec.get("options") or {}).items() if not option.get("description")
        ]
        assert undocumented == [], f"{role} entry point {entry}: options without description"
