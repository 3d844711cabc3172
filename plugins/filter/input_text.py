# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Filters the preflight role uses to refuse control characters in role variables.

Thin wrappers: the logic lives in module_utils/input_text.py, where unit tests drive it.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.flotilla.cluster.plugins.module_utils.input_text import (
    control_character_errors,
    text_options,
)


def preflight_text_options(roles, roles_dir):
    """Every option that can hold text, over the argument specs of ``roles`` under ``roles_dir``."""
    if isinstance(roles, str) or not isinstance(roles, (list, tuple)):
        raise AnsibleFilterError("preflight_text_options expects a list of role names")
    names = set()
    for role in roles:
        spec_file = Path(str(roles_dir)) / str(role) / "meta" / "argument_specs.yml"
        try:
            specs = yaml.safe_load(spec_file.read_text())
        except OSError as exc:
            raise AnsibleFilterError(f"cannot read the argument specs of role {role}: {exc}") from exc
        names.update(text_options(specs))
    return sorted(names)


def preflight_control_character_errors(values):
    if not isinstance(values, dict):
        raise AnsibleFilterError("preflight_control_character_errors expects a mapping of variable to value")
    return control_character_errors(dict(values))


class FilterModule:
    def filters(self):
        return {
            "preflight_text_options": preflight_text_options,
            "preflight_control_character_errors": preflight_control_character_errors,
        }
