#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Roll a Swarm service to a desired spec and wait until it has really converged, or roll it back."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm_rollout
short_description: Create or update a Swarm service, wait until it converges, roll back on failure
version_added: 0.1.0
description:
  - Brings a Docker Swarm service to the requested spec on a manager and waits, with its own
    O(timeout), until the tasks of the new spec run and stay running for the update C(monitor)
    period. The engine itself has no update timeout.
  - Options left unset keep the service's current values on an update. When the service is
    created, unset O(update_config) and O(rollback_config) fields get the engine's defaults
    (parallelism 1, failure_action pause, monitor 5s, order stop-first, max_failure_ratio 0), sent
    explicitly.
  - "Image tags are resolved: with a registry digest the service is pinned to C(name:tag@digest);
    for images that exist only in each node's local engine, the manager's image ID is recorded in
    the C(org.flotilla.image-id) service and container labels. Either way an unchanged tag is a
    no-op and a moved tag is an update. RV(image_resolution) says which case applied."
  - When the engine pauses the update, when O(timeout) expires, or when O(probes) keep failing, the
    module asks the engine for a server-side rollback (C(rollback=previous)), waits for it, and
    fails naming the failing task and its error. An update the engine rolled back by itself
    (C(failure_action=rollback)) is reported as a failure with RV(rolled_back) true.
  - After any rollback the engine calls completed, the module also waits, within
    O(rollback_timeout), until the previous spec runs in every slot (the replica count, or one
    task per eligible node of a global service), so that it returns with the service whole again;
    the engine reports C(rollback_completed) before the restart policy brings back the task of the
    slot whose new task failed.
  - Runs on a Swarm manager and talks to its engine through the docker SDK.
author:
  - flotilla developers
requirements:
  - docker (the Python SDK) >= 5.0
attributes:
  check_mode:
    support: full
    details: Reads the service and resolves the image, writes nothing, reports what would change.
  diff_mode:
    support: full
    details: The options whose values change, before and after.
  idempotent:
    support: partial
    details: O(force=true) redeploys on every run.
options:
  name:
    description: Service name.
    type: str
    required: true
  state:
    description: C(present) creates or updates the service; C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  image:
    description:
      - Image reference, such as C(registry.example.com/app:1.4) or C(app@sha256:...).
      - Required to create a service; when unset on an update the image is left as it is.
    type: str
  image_resolution:
    description:
      - How to turn a tag into something that changes when the tag moves.
      - C(auto) asks the registry for a digest and falls back to the manager's local image ID.
        When the registry does not answer for a tag the service already runs pinned to a digest,
        that digest is kept.
      - C(registry) requires a registry digest; C(local) uses the manager's local image ID without
        contacting a registry (images loaded on every node); C(none) posts the tag as given, so a
        moved tag is not noticed.
    type: str
    choices: [auto, registry, local, none]
    default: auto
  force:
    description: Redeploy every task even if nothing changed, by bumping C(ForceUpdate).
    type: bool
    default: false
  command:
    description: >-
      Override the image's entrypoint (the engine's C(ContainerSpec.Command)). An empty list
      removes the override.
    type: list
    elements: str
  args:
    description: Arguments to the entrypoint (the engine's C(ContainerSpec.Args)). An empty list removes them.
    type: list
    elements: str
  env:
    description: Environment variables; replaces the whole set. Quote values so YAML keeps them strings.
    type: dict
  mode:
    description: C(replicated) or C(global). The engine cannot change the mode of an existing service.
    type: str
    choices: [replicated, global]
  replicas:
    description: Number of tasks of a replicated service. Defaults to 1 when a service is created.
    type: int
  resources:
    description: CPU and memory limits and reservations; unset fields keep their current values.
    type: dict
    suboptions:
      limits:
        description: Limits.
        type: dict
        suboptions:
          cpus:
            description: CPUs, such as C(0.5).
            type: float
          memory:
            description: Bytes or a size such as C(512m), C(1g).
            type: str
          pids:
            description: Maximum number of processes.
            type: int
      reservations:
        description: Reservations the scheduler must find on a node.
        type: dict
        suboptions:
          cpus:
            description: CPUs, such as C(0.25).
            type: float
          memory:
            description: Bytes or a size such as C(256m).
            type: str
  labels:
    description: Service labels; replaces the whole set (flotilla's own image-ID label is kept).
    type: dict
  container_labels:
    description: Container labels; replaces the whole set (flotilla's own image-ID label is kept).
    type: dict
  healthcheck:
    description:
      - Container healthcheck; unset fields keep their current values. With a healthcheck a task
        counts as started only once healthy, which is what makes an update wait for readiness.
      - Durations are seconds or strings such as C(10s), C(1m30s).
    type: dict
    suboptions:
      test:
        description: >-
          A command list (C([CMD, curl, -f, http://localhost/])) or a shell string (run with
          C(CMD-SHELL)).
        type: raw
      interval:
        description: Time between checks.
        type: raw
      timeout:
        description: Time a check may take.
        type: raw
      retries:
        description: Consecutive failures that make the container unhealthy.
        type: int
      start_period:
        description: Initial time during which failures do not count.
        type: raw
      start_interval:
        description: Time between checks during the start period (engine API 1.44 and later).
        type: raw
      disable:
        description: Disable the image's healthcheck.
        type: bool
        default: false
  networks:
    description: Networks to attach, by name or ID; replaces the whole list. They must exist.
    type: list
    elements: str
  published_ports:
    description: Published ports; replaces the whole list.
    type: list
    elements: dict
    suboptions:
      target_port:
        description: Port inside the container.
        type: int
        required: true
      published_port:
        description: Port on the nodes; unset lets the engine choose one (ingress mode).
        type: int
      protocol:
        description: Protocol.
        type: str
        choices: [tcp, udp, sctp]
        default: tcp
      mode:
        description: >-
          C(ingress) publishes on every node through the routing mesh; C(host) only on the nodes
          running a task.
        type: str
        choices: [ingress, host]
        default: ingress
  endpoint_mode:
    description: C(vip) (a virtual IP) or C(dnsrr) (DNS round robin; cannot publish ingress ports).
    type: str
    choices: [vip, dnsrr]
  mounts:
    description: Mounts; replaces the whole list.
    type: list
    elements: dict
    suboptions:
      target:
        description: Path in the container.
        type: str
        required: true
      source:
        description: Volume name or host path; empty for tmpfs or an anonymous volume.
        type: str
      type:
        description: Mount type.
        type: str
        choices: [bind, volume, tmpfs]
        default: volume
      readonly:
        description: Mount read-only.
        type: bool
        default: false
  secrets:
    description: Secrets by name; replaces the whole list. They must exist.
    type: list
    elements: dict
    suboptions:
      name:
        description: Secret name.
        type: str
        required: true
      target:
        description: File name under C(/run/secrets); defaults to the name.
        type: str
      uid:
        description: File owner.
        type: str
      gid:
        description: File group.
        type: str
      mode:
        description: File mode as a number, such as C(0o400) or C(256); defaults to C(0o444).
        type: int
  configs:
    description: Configs by name; replaces the whole list. They must exist.
    type: list
    elements: dict
    suboptions:
      name:
        description: Config name.
        type: str
        required: true
      target:
        description: Path in the container; defaults to the name.
        type: str
      uid:
        description: File owner.
        type: str
      gid:
        description: File group.
        type: str
      mode:
        description: File mode as a number; defaults to C(0o444).
        type: int
  placement:
    description: Placement; unset fields keep their current values.
    type: dict
    suboptions:
      constraints:
        description: Constraints such as C(node.role==worker); replaces the list.
        type: list
        elements: str
      preferences:
        description: Spread descriptors such as C(node.labels.zone); replaces the list.
        type: list
        elements: str
      max_replicas:
        description: Maximum tasks per node (0 is unlimited).
        type: int
  restart_policy:
    description: Restart policy; unset fields keep their current values.
    type: dict
    suboptions:
      condition:
        description: When to restart a task.
        type: str
        choices: [none, on-failure, any]
      delay:
        description: Delay between restarts (seconds or C(5s)).
        type: raw
      max_attempts:
        description: Restarts before giving up (0 is unlimited).
        type: int
      window:
        description: Window used to evaluate the restart policy.
        type: raw
  with_registry_auth:
    description: Send the manager's registry credentials (from its docker config) to the agents.
    type: bool
    default: false
  update_config:
    description:
      - How the engine rolls the update. Unset fields keep the service's values, or the engine's
        defaults when the service is created.
    type: dict
    suboptions:
      parallelism:
        description: Tasks updated at once (0 is all at once).
        type: int
      delay:
        description: Delay between batches (seconds or C(10s)).
        type: raw
      failure_action:
        description: What the engine does when a task fails.
        type: str
        choices: [continue, pause, rollback]
      monitor:
        description: >-
          How long each updated task is watched for failure; also how long this module requires
          convergence to hold.
        type: raw
      max_failure_ratio:
        description: Fraction of updated tasks that may fail before the failure action fires (0 to 1).
        type: float
      order:
        description: C(stop-first) or C(start-first).
        type: str
        choices: [stop-first, start-first]
  rollback_config:
    description: How the engine rolls back; same rules as O(update_config).
    type: dict
    suboptions:
      parallelism:
        description: Tasks rolled back at once (0 is all at once).
        type: int
      delay:
        description: Delay between batches.
        type: raw
      failure_action:
        description: What the engine does when a task fails during the rollback.
        type: str
        choices: [continue, pause]
      monitor:
        description: How long each rolled-back task is watched for failure.
        type: raw
      max_failure_ratio:
        description: Fraction of tasks that may fail during the rollback (0 to 1).
        type: float
      order:
        description: C(stop-first) or C(start-first).
        type: str
        choices: [stop-first, start-first]
  wait:
    description: >-
      Wait for convergence (and roll back on failure). Without it the module returns after
      posting the spec.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for convergence and for the probes to pass.
    type: int
    default: 300
  rollback_timeout:
    description: >-
      Seconds to wait for a rollback this module started, until its tasks run in every slot. A
      rollback restarts the old tasks and runs the rollback C(monitor), which can take longer than a
      short O(timeout). After a rollback the engine made by itself, seconds to wait from its
      C(rollback_completed) until the previous spec's tasks run in every slot. An engine rollback
      still running when O(timeout) expires is waited for as long.
    type: int
    default: 300
  strict_references:
    description:
      - In check mode too, fail when a network, secret or config the service names (by name or ID)
        does not exist on the manager. Without it a check-mode run accepts a missing one, since an
        earlier task of the same play may create it; a real run always fails on it.
      - C(playbooks/rollout.yml) sets it on its dry run, so a release that names something missing
        changes no service at all.
    type: bool
    default: false
  poll_interval:
    description: Seconds between polls of the engine.
    type: float
    default: 1.0
  rollback_on_failure:
    description: Roll back server-side when the update pauses, times out, or fails its probes.
    type: bool
    default: true
  probes:
    description:
      - Health probes that must pass against every running task of the new spec before the rollout
        counts as successful; they are retried until O(timeout).
      - A probe goes to the host port the task published in C(host) mode, else to the task node's
        address and the ingress-published port (which checks the service through the routing
        mesh), else to the task's address on its first non-ingress network, which the manager can
        reach only if it routes to that network.
    type: list
    elements: dict
    suboptions:
      type:
        description: C(http) (GET, compare the status) or C(tcp) (connect).
        type: str
        choices: [http, tcp]
        required: true
      port:
        description: Container port to probe.
        type: int
        required: true
      path:
        description: HTTP path.
        type: str
        default: /
      expect_status:
        description: Expected HTTP status.
        type: int
        default: 200
      timeout:
        description: Seconds one probe attempt may take.
        type: float
        default: 3.0
  docker_host:
    description: The engine to talk to; a manager's.
    type: str
    default: unix:///var/run/docker.sock
notes:
  - A paused update stays paused until a new spec is posted; with O(rollback_on_failure=false) the
    service is left paused for inspection.
  - The module never removes a service it created when the first deployment fails (it has no
    previous spec to roll back to); it reports the failure and leaves it for inspection.
  - When nothing changes, the module still checks (up to O(timeout)) that the tasks of the current
    spec run, without waiting for a monitor period and without rolling anything back.
"""

EXAMPLES = r"""
- name: Roll out the web service, one task at a time, starting the new task first
  flotilla.cluster.swarm_rollout:
    name: web
    image: registry.example.com/web:1.4
    replicas: 3
    published_ports:
      - target_port: 8080
        published_port: 80
    healthcheck:
      test: [CMD, wget, -q, -O-, http://localhost:8080/health]
      interval: 5s
      retries: 3
      start_period: 10s
    update_config:
      order: start-first
      monitor: 15s
    probes:
      - type: http
        port: 8080
        path: /health
    timeout: 600

- name: Lab without a registry - images loaded on every node
  flotilla.cluster.swarm_rollout:
    name: probe
    image: busybox:latest
    image_resolution: local
    command: [sleep, infinity]

- name: Remove a service
  flotilla.cluster.swarm_rollout:
    name: old-api
    state: absent
"""

RETURN = r"""
service_id:
  description: The service ID (empty when absent).
  returned: always
  type: str
created:
  description: The service did not exist before this run.
  returned: when state is present
  type: bool
changed_options:
  description: The options whose values changed (or would change in check mode).
  returned: when state is present
  type: list
  elements: str
image_before:
  description: The image reference the service ran before.
  returned: when state is present
  type: str
image_after:
  description: The image reference posted (with the registry digest when there is one).
  returned: when state is present
  type: str
image_resolution:
  description: >-
    pinned_digest, registry_digest, kept_digest, local_image_id, unresolved, or unchanged (the
    image option was unset).
  returned: when state is present
  type: str
image_id:
  description: The manager's local image ID recorded on the service (local_image_id only).
  returned: when state is present
  type: str
image_note:
  description: Why a fallback resolution was used.
  returned: when state is present
  type: str
update_state:
  description: The engine's UpdateStatus.State at the end (none when no update was recorded).
  returned: when state is present
  type: str
  sample: completed
verdict:
  description: >-
    converged, no_change, paused, rolled_back, rollback_paused, timed_out or probes_failed:
    the module's judgement of the update (before any rollback it issued).
  returned: when the module waited
  type: str
tasks:
  description: The newest task of each slot (node for global services) at the end.
  returned: when state is present
  type: list
  elements: dict
  sample:
    - {slot: 1, node: m1, task_id: x1, state: running, desired_state: running, up_to_date: true,
       image: "web:1.4", error: "", message: started}
failing_tasks:
  description: The failing or stuck tasks, with their errors.
  returned: on failure
  type: list
  elements: str
probes:
  description: The last result of each probe against each task.
  returned: when state is present
  type: list
  elements: dict
rolled_back:
  description: >-
    The service runs its previous spec after this run (by the engine or by this module). The
    module has waited for the previous spec's tasks in every slot; if they did not all run within
    O(rollback_timeout), the message says how many slots were still missing.
  returned: always
  type: bool
elapsed:
  description: Seconds from posting the spec to the end of the wait (and rollback).
  returned: when state is present
  type: float
msg:
  description: What happened, and on failure what to do next.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
    DEFAULT_DOCKER_HOST,
    module_client,
)
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_rollout_runner import (
    RolloutError,
    RolloutRunner,
)


def _update_options(failure_actions):
    return {
        "parallelism": {"type": "int"},
        "delay": {"type": "raw"},
        "failure_action": {"type": "str", "choices": failure_actions},
        "monitor": {"type": "raw"},
        "max_failure_ratio": {"type": "float"},
        "order": {"type": "str", "choices": ["stop-first", "start-first"]},
    }


def _file_options():
    return {
        "name": {"type": "str", "required": True},
        "target": {"type": "str"},
        "uid": {"type": "str"},
        "gid": {"type": "str"},
        "mode": {"type": "int"},
    }


ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "image": {"type": "str"},
    "image_resolution": {"type": "str", "choices": ["auto", "registry", "local", "none"], "default": "auto"},
    "force": {"type": "bool", "default": False},
    "command": {"type": "list", "elements": "str"},
    "args": {"type": "list", "elements": "str"},
    "env": {"type": "dict"},
    "mode": {"type": "str", "choices": ["replicated", "global"]},
    "replicas": {"type": "int"},
    "resources": {
        "type": "dict",
        "options": {
            "limits": {
                "type": "dict",
                "options": {"cpus": {"type": "float"}, "memory": {"type": "str"}, "pids": {"type": "int"}},
            },
            "reservations": {
                "type": "dict",
                "options": {"cpus": {"type": "float"}, "memory": {"type": "str"}},
            },
        },
    },
    "labels": {"type": "dict"},
    "container_labels": {"type": "dict"},
    "healthcheck": {
        "type": "dict",
        "options": {
            "test": {"type": "raw"},
            "interval": {"type": "raw"},
            "timeout": {"type": "raw"},
            "retries": {"type": "int"},
            "start_period": {"type": "raw"},
            "start_interval": {"type": "raw"},
            "disable": {"type": "bool", "default": False},
        },
    },
    "networks": {"type": "list", "elements": "str"},
    "published_ports": {
        "type": "list",
        "elements": "dict",
        "options": {
            "target_port": {"type": "int", "required": True},
            "published_port": {"type": "int"},
            "protocol": {"type": "str", "choices": ["tcp", "udp", "sctp"], "default": "tcp"},
            "mode": {"type": "str", "choices": ["ingress", "host"], "default": "ingress"},
        },
    },
    "endpoint_mode": {"type": "str", "choices": ["vip", "dnsrr"]},
    "mounts": {
        "type": "list",
        "elements": "dict",
        "options": {
            "target": {"type": "str", "required": True},
            "source": {"type": "str"},
            "type": {"type": "str", "choices": ["bind", "volume", "tmpfs"], "default": "volume"},
            "readonly": {"type": "bool", "default": False},
        },
    },
    "secrets": {"type": "list", "elements": "dict", "options": _file_options()},
    "configs": {"type": "list", "elements": "dict", "options": _file_options()},
    "placement": {
        "type": "dict",
        "options": {
            "constraints": {"type": "list", "elements": "str"},
            "preferences": {"type": "list", "elements": "str"},
            "max_replicas": {"type": "int"},
        },
    },
    "restart_policy": {
        "type": "dict",
        "options": {
            "condition": {"type": "str", "choices": ["none", "on-failure", "any"]},
            "delay": {"type": "raw"},
            "max_attempts": {"type": "int"},
            "window": {"type": "raw"},
        },
    },
    "with_registry_auth": {"type": "bool", "default": False},
    "update_config": {"type": "dict", "options": _update_options(["continue", "pause", "rollback"])},
    "rollback_config": {"type": "dict", "options": _update_options(["continue", "pause"])},
    "wait": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 300},
    "rollback_timeout": {"type": "int", "default": 300},
    "strict_references": {"type": "bool", "default": False},
    "poll_interval": {"type": "float", "default": 1.0},
    "rollback_on_failure": {"type": "bool", "default": True},
    "probes": {
        "type": "list",
        "elements": "dict",
        "options": {
            "type": {"type": "str", "choices": ["http", "tcp"], "required": True},
            "port": {"type": "int", "required": True},
            "path": {"type": "str", "default": "/"},
            "expect_status": {"type": "int", "default": 200},
            "timeout": {"type": "float", "default": 3.0},
        },
    },
    "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    runner = RolloutRunner(module_client(module), poll_interval=params["poll_interval"])
    try:
        result = runner.run(params, check_mode=module.check_mode)
    except RolloutError as exc:
        failed = dict(exc.result)
        for warning in failed.pop("warnings", []):
            module.warn(f"engine: {warning}")
        if not module._diff:
            failed.pop("diff", None)
        module.fail_json(msg=exc.message, **failed)
    for warning in result.pop("warnings", []):
        module.warn(f"engine: {warning}")
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
