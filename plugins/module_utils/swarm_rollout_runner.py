# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""One rollout of one Swarm service, from options to a verdict, for the swarm_rollout module.

The steps, and why each is here rather than in the engine:

1. read the service, look up network/secret/config IDs, resolve the image (swarm_service_spec);
2. build the desired spec on top of the current one and compare views: no difference is a no-op;
3. post the whole spec with its version (create, or update) unless in check mode;
4. poll until convergence.evaluate_update says done, using the module's own timeout because the
   engine has none, then run the optional health probes until they pass or the time is up;
5. on a paused update, a timeout or failed probes, ask the engine for a server-side rollback
   (``rollback=previous``) and wait for it; an engine-driven ``rollback_completed`` is a failure.
   Either way, a rollback the engine calls completed is waited on (within rollback_timeout) until
   the restored spec's tasks run in every slot, so a failed run returns with the service whole.

The engine client, the clock and the sleep are injected, so unit tests drive every branch with a
mocked APIClient and a fake clock. No AnsibleModule here. Kept to Python 3.9 syntax.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ansible_collections.flotilla.cluster.plugins.module_utils import docker_client
from ansible_collections.flotilla.cluster.plugins.module_utils.convergence import (
    CONVERGED,
    ROLLBACK_PAUSED,
    ROLLED_BACK,
    SUCCESS_STATUSES,
    ConvergenceWatch,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.service_probes import run_probe
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_service_spec import (
    RESOLUTION_UNCHANGED,
    References,
    SpecError,
    apply_options,
    changed_keys,
    image_id_of,
    monitor_seconds,
    new_service_spec,
    referenced_names,
    resolve_image,
    spec_view,
    validate_options,
    view_diff,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_service_state import (
    probe_targets,
    service_snapshot,
    slot_states,
    terminal_task_ids,
)

PROBES_FAILED = "probes_failed"
DEFAULT_ROLLBACK_TIMEOUT = 300.0


def _rollback_timeout(options: dict) -> float:
    value = options.get("rollback_timeout")
    return DEFAULT_ROLLBACK_TIMEOUT if value is None else float(value)


class RolloutError(Exception):
    """A failure the module reports with ``fail_json(msg=..., **result)``."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.message = message
        self.result = result or {}


class _Watched:
    """The outcome of one wait: the verdict and the last poll's raw data."""

    def __init__(self, verdict, service, tasks, current, nodes, probes, status=None, message=None):
        self.verdict = verdict
        self.service = service
        self.tasks = tasks
        self.current = current
        self.nodes = nodes
        self.probes = probes
        self.status = status or verdict.status
        self.message = message or verdict.message


class RolloutRunner:
    def __init__(self, api, now=time.monotonic, sleep=time.sleep, probe=run_probe, poll_interval=1.0):
        self.api = api
        self.now = now
        self.sleep = sleep
        self.probe = probe
        self.poll_interval = poll_interval

    # --- entry point -----------------------------------------------------------------------------

    def run(self, options: dict, check_mode: bool = False) -> dict:
        """Bring the service to ``options``; return the result dict or raise RolloutError."""
        name = options["name"]
        try:
            service = docker_client.find_service(self.api, name)
            if options.get("state") == "absent":
                return self._absent(name, service, check_mode)
            return self._present(name, service, options, check_mode)
        except SpecError as exc:
            raise RolloutError(f"{name}: {exc}") from None
        except docker_client.APIError as exc:
            raise RolloutError(
                f"{name}: the engine refused a request: {docker_client.error_text(exc)}. If the service "
                "changed while this task ran (update out of sequence), run again"
            ) from None

    def _absent(self, name, service, check_mode) -> dict:
        result = {
            "changed": service is not None,
            "service_id": service["ID"] if service else "",
            "rolled_back": False,
        }
        if service is None:
            return dict(result, msg=f"service {name} is absent")
        if not check_mode:
            self.api.remove_service(service["ID"])
        result["diff"] = {
            "before": {"name": name, "state": "present"},
            "after": {"name": name, "state": "absent"},
        }
        return dict(result, msg=f"service {name} {'would be' if check_mode else 'was'} removed")

    # --- present ---------------------------------------------------------------------------------

    def _present(self, name, service, options, check_mode) -> dict:
        current_spec = service["Spec"] if service else None
        validate_options(options, current_spec)
        references = self._references(options, check_mode)
        image = None
        if options.get("image"):
            image = self._resolve_image(options, current_spec)
        base = current_spec if current_spec is not None else new_service_spec(name)
        desired = apply_options(base, options, references, image)
        before, after = spec_view(current_spec), spec_view(desired)
        keys = changed_keys(before, after)
        if service is None:
            # On a create everything changes; name what differs from a bare service instead.
            keys = ["image"] + [
                k for k in changed_keys(spec_view(new_service_spec(name)), after) if k != "image"
            ]
        result = {
            "changed": bool(keys),
            "created": service is None,
            "service_id": service["ID"] if service else "",
            "changed_options": keys,
            "image_before": before.get("image", ""),
            "image_after": after["image"],
            "image_resolution": image.kind if image else RESOLUTION_UNCHANGED,
            "image_id": image.image_id if image else image_id_of(current_spec),
            "image_note": image.note if image else "",
            "rolled_back": False,
            "update_state": ((service or {}).get("UpdateStatus") or {}).get("State"),
            "tasks": [],
            "probes": [],
            "elapsed": 0.0,
            "warnings": [],
            "diff": view_diff(before, after, keys),
        }
        if not keys:
            if check_mode or not options.get("wait", True):
                return dict(result, msg=f"service {name} already matches the requested spec")
            return self._verify(name, service, options, result)
        verb = "created" if service is None else "updated"
        if check_mode:
            return dict(result, msg=f"service {name} would be {verb}: {', '.join(keys)}")
        return self._write(name, service, desired, options, result, verb)

    def _references(self, options, check_mode) -> References:
        found = {}
        for kind, names in zip(("network", "secret", "config"), referenced_names(options)):
            ids, missing = docker_client.lookup_ids(self.api, kind, names)
            if missing and (not check_mode or options.get("strict_references")):
                raise SpecError(
                    f"{kind}(s) not found: {', '.join(missing)}. Create them first (docker {kind} create, "
                    "or the collection's tasks that manage them) and run again"
                )
            # In check mode a missing name may be created by an earlier task of the same play.
            ids.update({m: f"(missing {kind} {m})" for m in missing})
            found[kind] = ids
        return References(networks=found["network"], secrets=found["secret"], configs=found["config"])

    def _resolve_image(self, options, current_spec):
        requested = options["image"]
        return resolve_image(
            requested,
            options.get("image_resolution") or "auto",
            lambda: docker_client.registry_digest(self.api, requested),
            lambda: docker_client.local_image_id(self.api, requested),
            current_image=spec_view(current_spec).get("image", "") if current_spec else "",
        )

    def _registry_auth(self, options, desired) -> str | None:
        if not options.get("with_registry_auth"):
            return None
        return docker_client.registry_auth_header(self.api, spec_view(desired)["image"])

    def _write(self, name, service, desired, options, result, verb) -> dict:
        auth = self._registry_auth(options, desired)
        started = self.now()
        if service is None:
            created = docker_client.create_service(self.api, desired, auth)
            service_id = created.get("ID", "")
            warnings = created.get("Warnings") or []
            exclude = set()
        else:
            service_id = service["ID"]
            tasks_before = self.api.tasks(filters={"service": service_id}) or []
            exclude = terminal_task_ids(tasks_before)
            answer = docker_client.update_service(
                self.api, service_id, service["Version"]["Index"], desired, auth
            )
            warnings = answer.get("Warnings") or []
        result.update(service_id=service_id, warnings=list(warnings))
        if not options.get("wait", True):
            return dict(result, msg=f"service {name} {verb}; not waiting (wait: false)")

        timeout = float(options.get("timeout") or 0)
        watched = self._watch(
            service_id,
            timeout,
            monitor_seconds(desired),
            exclude,
            options.get("probes"),
            rollback_timeout=_rollback_timeout(options),
        )
        self._fill(result, watched, started)
        if watched.status in SUCCESS_STATUSES:
            # A create, or a change the engine applies without an update (scaling, service labels),
            # records no UpdateStatus: after a write that is convergence all the same.
            result["verdict"] = CONVERGED
            return dict(result, msg=f"service {name} {verb} and converged: {watched.message}")

        message = f"service {name}: {watched.message}"
        failing = [p.describe() for p in watched.verdict.tasks]
        result["failing_tasks"] = failing
        if watched.status == ROLLED_BACK:
            result["rolled_back"] = True
            raise RolloutError(message, result)
        if watched.status == ROLLBACK_PAUSED:
            raise RolloutError(message + "; the engine's own rollback did not finish", result)
        if watched.verdict.update_state == "rollback_started":
            # The engine was rolling back by itself (failure_action rollback) when the update's
            # timeout expired: that rollback gets rollback_timeout, like one this module asks for.
            message += ". The engine was already rolling back at the timeout" + self._await_rollback(
                service_id, options, result, started, exclude, watched.service
            )
            raise RolloutError(message, result)
        message += self._after_failure(service_id, options, result, started, service is None, exclude)
        raise RolloutError(message, result)

    def _after_failure(self, service_id, options, result, started, created, exclude) -> str:
        """Roll back server-side when allowed; returns the sentence to add to the failure message.

        ``exclude`` is the history from before the update: the rollback wait keeps seeing the tasks
        this run created, even dead ones, so that a global service still counts the node whose
        failed task awaits its old-spec replacement.
        """
        if not options.get("rollback_on_failure", True):
            left = result["update_state"] or "as it is"
            return f". rollback_on_failure is false: the service is left {left}"
        service = self.api.inspect_service(service_id)
        if created or not service.get("PreviousSpec"):
            return (
                ". The service has no previous spec to roll back to (created by this run): it is left as "
                "it is. Fix the cause and run again, or remove it with state: absent"
            )
        try:
            docker_client.update_service(
                self.api, service_id, service["Version"]["Index"], service["Spec"], rollback=True
            )
        except docker_client.APIError as exc:
            return f". The rollback request failed: {docker_client.error_text(exc)}; roll back by hand"
        return self._await_rollback(service_id, options, result, started, exclude, service)

    def _await_rollback(self, service_id, options, result, started, exclude, service) -> str:
        """Wait for a rollback in progress; the sentence that says how it ended.

        Its own timeout: a rollback restarts the old tasks and runs its own monitor, and a short
        update timeout chosen to catch a stuck update is no measure of that. The wait for the
        restored tasks after rollback_completed fits in the same time.
        """
        timeout = _rollback_timeout(options)
        monitor = monitor_seconds((service or {}).get("PreviousSpec") or {}, "RollbackConfig")
        watched = self._watch(service_id, timeout, monitor, exclude, None, phase="rollback")
        self._fill(result, watched, started, rollback=True)
        if watched.status == ROLLED_BACK:
            result["rolled_back"] = True
            if watched.verdict.shortfall:
                return (
                    f". Rolled back server-side; {watched.verdict.shortfall}. Follow it with docker "
                    "service ps; fix the cause and deploy again"
                )
            return ". Rolled back server-side: the service runs its PREVIOUS spec; fix it, deploy again"
        if watched.status == ROLLBACK_PAUSED:
            return f". The server-side rollback paused as well: {watched.message}"
        return (
            f". The server-side rollback did not finish within rollback_timeout: {watched.message}. The "
            "engine carries on with it: follow it with docker service ps, then deploy again"
        )

    def _verify(self, name, service, options, result) -> dict:
        """Nothing to change: confirm the service runs its spec, without rolling anything back."""
        started = self.now()
        exclude = terminal_task_ids(self.api.tasks(filters={"service": service["ID"]}) or [])
        timeout = float(options.get("timeout") or 0)
        watched = self._watch(service["ID"], timeout, 0.0, exclude, options.get("probes"), phase="verify")
        self._fill(result, watched, started)
        if watched.status in SUCCESS_STATUSES:
            return dict(result, msg=f"service {name} already matches the requested spec: {watched.message}")
        result["failing_tasks"] = [p.describe() for p in watched.verdict.tasks]
        raise RolloutError(
            f"service {name} already has the requested spec but does not run it: {watched.message}. "
            "Nothing was changed or rolled back; fix the cause, or set force: true to redeploy",
            result,
        )

    # --- polling ---------------------------------------------------------------------------------

    def _watch(
        self, service_id, timeout, monitor, exclude, probes, phase="update", rollback_timeout=None
    ) -> _Watched:
        """Poll until a final verdict. Phases: update (after a write), rollback, verify (no-op).

        ``rollback_timeout`` bounds the wait for the restored tasks after the engine's own
        rollback; without it (a rollback phase) that wait shares ``timeout``.
        """
        started = self.now()
        watch = ConvergenceWatch(started, rollback_timeout=rollback_timeout)
        probe_rows = []
        while True:
            service = self.api.inspect_service(service_id)
            tasks, current = docker_client.service_tasks(self.api, service_id)
            nodes = self.api.nodes() or []
            snapshot = service_snapshot(service, tasks, current, nodes, exclude, monitor, timeout)
            if phase == "verify" and snapshot.update_state in ("completed", "rollback_completed"):
                # The last update, whoever ran it, is over; the spec it left is the one asked for.
                snapshot = replace(snapshot, update_state=None)
            verdict = watch.observe(snapshot, self.now())
            if verdict.status in SUCCESS_STATUSES and probes:
                passed, probe_rows = self._run_probes(probes, service, tasks, current, nodes)
                if not passed:
                    if self.now() - started >= timeout:
                        failures = "; ".join(r["detail"] for r in probe_rows if not r["ok"])
                        message = (
                            f"tasks converged but health probes still fail after {timeout:g}s: {failures}"
                        )
                        return _Watched(
                            verdict,
                            service,
                            tasks,
                            current,
                            nodes,
                            probe_rows,
                            status=PROBES_FAILED,
                            message=message,
                        )
                    self.sleep(self.poll_interval)
                    continue
            if verdict.done:
                return _Watched(verdict, service, tasks, current, nodes, probe_rows)
            self.sleep(self.poll_interval)

    def _run_probes(self, probes, service, tasks, current, nodes):
        rows = []
        for probe in probes:
            for target in probe_targets(service, tasks, current, nodes, int(probe["port"])):
                ok, detail = self.probe(probe, target["host"], target["port"])
                detail = f"task {target['task_id']}: {detail}"
                rows.append(dict(target, type=probe["type"], ok=ok, detail=detail))
        return all(r["ok"] for r in rows), rows

    def _fill(self, result, watched, started, rollback=False) -> None:
        result["update_state"] = ((watched.service or {}).get("UpdateStatus") or {}).get("State")
        result["tasks"] = slot_states(watched.service, watched.tasks, watched.current, watched.nodes)
        result["elapsed"] = round(self.now() - started, 3)
        if not rollback:
            result["verdict"] = watched.status
            result["probes"] = watched.probes
