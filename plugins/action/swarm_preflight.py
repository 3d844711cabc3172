# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Controller side of swarm_preflight: bracket the host's clock reading with the controller's.

The module reads the host's clock somewhere between ``before`` and ``after`` (the round trip of
the call), so the clock skew is known to lie in [host - after, host - before]; the decision in
module_utils/preflight_checks.py refuses only a skew beyond the limit over that whole window.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        before = time.time()
        result.update(
            self._execute_module(
                module_name="flotilla.cluster.swarm_preflight",
                module_args=self._task.args,
                task_vars=task_vars,
            )
        )
        result["controller_time"] = {"before": before, "after": time.time()}
        return result
