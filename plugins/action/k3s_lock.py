# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Controller side of k3s_lock: the holder is the controller's ansible-playbook run (as for swarm_lock)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.flotilla.cluster.plugins.action.swarm_lock import _start_ticks, controller_owner


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        owner = controller_owner()
        args.setdefault("owner", owner)
        if not args.get("run_id"):
            args["run_id"] = f"{owner['user']}@{owner['host']}:{owner['pid']}:{_start_ticks(owner['pid'])}"
        result.update(
            self._execute_module(
                module_name="flotilla.cluster.k3s_lock", module_args=args, task_vars=task_vars
            )
        )
        return result
