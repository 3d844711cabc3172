# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The controller's working directory, for outputs a run writes "where the command was run"."""

from __future__ import annotations

import os

from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
---
name: cwd
short_description: The directory ansible-playbook was started in, on the controller
version_added: 0.1.0
description:
  - Returns the working directory of the ansible-playbook process on the controller.
  - The pipe lookup runs its command in the playbook's folder, and the PWD variable is kept only by
    shells (it is stale or missing under subprocess, sudo, cron and CI runners); this reads the
    process's own working directory.
author:
  - flotilla developers
"""

EXAMPLES = r"""
- name: Write a report next to where the command was run
  ansible.builtin.copy:
    dest: "{{ lookup('flotilla.cluster.cwd') }}/report.json"
    content: "{}"
    mode: "0600"
  delegate_to: localhost
"""

RETURN = r"""
_raw:
  description: One element, the absolute path of the working directory.
  type: list
  elements: str
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise ValueError("the cwd lookup takes no terms")
        return [os.getcwd()]
