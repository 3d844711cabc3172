# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Control characters are refused in every text option of every role (the unit table test).

Every option of every role's meta/argument_specs.yml that can hold text is walked: each must
be among the options the preflight checks and must refuse a newline and a carriage return,
unless EXEMPT names it with the reason it is never written into a unit, config file or command
line. None is exempt today: every text option reaches a file, a unit or a command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.flotilla.cluster.plugins.filter.input_text import (
    preflight_control_character_errors,
    preflight_text_options,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.input_text import (
    bad_character,
    control_character_errors,
)

ROLES_DIR = Path(__file__).resolve().parents[4] / "roles"
ROLES = sorted(p.parent.parent.name for p in ROLES_DIR.glob("*/meta/argument_specs.yml"))

# option -> why it is never written into a unit, config file or command line
EXEMPT: dict = {}


def _options():
    for role in ROLES:
        specs = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
        for entry in specs["argument_specs"].values():
            for name, option in (entry.get("options") or {}).items():
                yield role, name, option


def _with(option: dict, bad: str):
    """A value of the option's type carrying ``bad`` where the role writes it out."""
    kind = option.get("type", "str")
    if kind in ("str", "raw", "path"):
        return f"value{bad}[Service]"
    if kind == "list":
        if option.get("elements") == "dict":
            return [{"name": f"net{bad}x", "subnet": "10.0.0.0/24"}]
        return [f"item{bad}x"]
    if kind == "dict":
        return {"key": f"value{bad}x"}
    return None


TEXT_OPTIONS = [(role, name, option) for role, name, option in _options() if _with(option, "\n") is not None]


def test_every_role_is_walked():
    assert {"docker", "prereq", "swarm", "preflight"} <= set(ROLES)
    assert len(TEXT_OPTIONS) > 30


@pytest.mark.parametrize("bad", ["\n", "\r"], ids=["LF", "CR"])
@pytest.mark.parametrize(
    ("role", "name", "option"), TEXT_OPTIONS, ids=[f"{r}.{n}" for r, n, _ in TEXT_OPTIONS]
)
def test_every_text_option_refuses_line_breaks(role, name, option, bad):
    if name in EXEMPT:
        pytest.fail(f"{name} is exempt ({EXEMPT[name]}) but still listed: keep one or the other")
    assert name in preflight_text_options([role], ROLES_DIR), f"the preflight does not check {name}"
    errors = preflight_control_character_errors({name: _with(option, bad)})
    assert len(errors) == 1 and errors[0].startswith(name), errors


def test_proxy_newline_injection_is_named():
    [error] = control_character_errors(
        {"docker_http_proxy": "http://proxy:3128\n[Service]\nExecStartPre=/bin/sh -c id"}
    )
    assert error.startswith("docker_http_proxy contains a newline (\\n)")


@pytest.mark.parametrize(
    ("values", "paths"),
    [
        ({"a": "plain", "b": "tab\tis fine", "c": 3, "d": None, "e": True}, []),
        ({"a": "x\x00y"}, ["a contains a NUL byte"]),
        ({"a": "x\x1by"}, ["a contains the control character U+001B"]),
        ({"a": "x\x7fy"}, ["a contains the control character U+007F"]),
        ({"labels": {"zone": "a\rb"}}, ["labels.zone contains a carriage return"]),
        ({"labels": {"zo\nne": "a"}}, ["labels has a key containing a newline"]),
        ({"pools": [{"base": "10.0.0.0/8"}, {"base": "x\ny"}]}, ["pools[1].base contains a newline"]),
        ({"mirrors": ["ok", ["deep\n"]]}, ["mirrors[1][0] contains a newline"]),
        ({"b": "\n", "a": "\r"}, ["a contains", "b contains"]),  # sorted by variable
    ],
)
def test_control_character_errors(values, paths):
    errors = control_character_errors(values)
    assert len(errors) == len(paths)
    for error, path in zip(errors, paths, strict=True):
        assert error.startswith(path), error


@pytest.mark.parametrize(("text", "bad"), [("", ""), ("a\tb", ""), ("a\nb", "\n"), ("\x01", "\x01")])
def test_bad_character(text, bad):
    assert bad_character(text) == bad


def test_only_text_options_are_listed():
    names = preflight_text_options(["swarm"], ROLES_DIR)
    assert "swarm_advertise_addr" in names and "swarm_networks" in names and "swarm_labels" in names
    assert "swarm_listen_port" not in names and "swarm_autolock" not in names
