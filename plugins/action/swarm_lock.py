# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Controller side of swarm_lock: who holds the lock is the controller, not the managed node.

Fills ``owner`` ({user, host, pid}) and ``run_id`` from the ansible-playbook process when the task
leaves them unset. Tasks run in worker processes forked from that process, so its PID is the
parent's; with the process start time it names this run uniquely on this controller, and the take
and release tasks of one run agree on it without passing a variable around.
"""

from __future__ import annotations

import getpass
import os
import socket

from ansible.plugins.action import ActionBase


def _start_ticks(pid: int) -> str:
    """The process start time in clock ticks since boot (Linux), so a reused PID is a new run."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def controller_owner() -> dict:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname(), "pid": os.getppid()}


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        owner = controller_owner()
        if not args.get("owner"):
            args["owner"] = owner
        if not args.get("run_id"):
            args["run_id"] = f"{owner['user']}@{owner['host']}:{owner['pid']}:{_start_ticks(owner['pid'])}"
        result.update(
            self._execute_module(
                module_name="flotilla.cluster.swarm_lock", module_args=args, task_vars=task_vars
            )
        )
        return result
