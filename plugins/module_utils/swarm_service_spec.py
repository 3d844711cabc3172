# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Swarm service specs: from module options to the engine's JSON, and back to a comparable view.

One writer and one reader, so that "did anything change" never depends on how the engine echoes
a spec back:

* :func:`apply_options` writes the options the user set into a copy of a spec (the service's
  current spec on an update, :func:`new_service_spec` on a create). Options left unset are not
  touched, so they keep the service's current values; a new spec starts from the ENGINE's
  defaults for ``UpdateConfig``/``RollbackConfig`` (docs/engine-facts.md), never docker-py's.
* :func:`spec_view` reads any spec (ours or the engine's) into plain, order-free values, and
  :func:`changed_keys` compares two views. Comparing whole views is safe because an unset option
  is copied unchanged from the current spec, so it can only differ if the user changed it.

Image references are resolved by :func:`resolve_image`: a registry digest when the registry has
one (``name:tag@sha256:...``, so a moved tag changes the spec), otherwise the manager's local image
ID recorded as the ``org.flotilla.image-id`` label on the container spec, which makes a moved local
tag roll the tasks too.

No I/O and no AnsibleModule here; kept to Python 3.9 syntax because module_utils run on managed
nodes.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

NANO = 1_000_000_000

# docs/engine-facts.md: the engine's defaults for both update_config and rollback_config. Sent explicitly on
# create; docker-py's UpdateConfig() would send parallelism 0 and failure_action continue.
ENGINE_UPDATE_DEFAULTS = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5 * NANO,
    "MaxFailureRatio": 0.0,
    "Order": "stop-first",
}

IMAGE_ID_LABEL = "org.flotilla.image-id"

RESOLUTION_PINNED = "pinned_digest"
RESOLUTION_REGISTRY = "registry_digest"
RESOLUTION_LOCAL = "local_image_id"
RESOLUTION_UNRESOLVED = "unresolved"
RESOLUTION_KEPT = "kept_digest"
RESOLUTION_UNCHANGED = "unchanged"

IMAGE_RESOLUTION_MODES = ("auto", "registry", "local", "none")

# Option name -> engine key, for update_config and rollback_config.
_UPDATE_KEYS = {
    "parallelism": "Parallelism",
    "delay": "Delay",
    "failure_action": "FailureAction",
    "monitor": "Monitor",
    "max_failure_ratio": "MaxFailureRatio",
    "order": "Order",
}
_DURATION_UPDATE_KEYS = ("Delay", "Monitor")


class SpecError(ValueError):
    """An option value the engine would reject or that cannot be applied; the message says why."""


# --- units ---------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": NANO,
    "m": 60 * NANO,
    "h": 3600 * NANO,
}
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)i?b?$", re.IGNORECASE)
_SIZE_FACTOR = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_duration(value, name: str = "duration") -> int:
    """Seconds (int/float or a numeric string) or a Go duration (``1m30s``, ``500ms``) -> nanoseconds."""
    if isinstance(value, bool):
        raise SpecError(f"{name}: {value!r} is not a duration; use seconds (10) or a string such as 1m30s")
    if isinstance(value, (int, float)):
        if value < 0:
            raise SpecError(f"{name}: {value!r} is negative; durations are >= 0")
        return int(round(value * NANO))
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return parse_duration(seconds, name)
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_NS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise SpecError(f"{name}: {value!r} is not a duration; use seconds (10) or a string such as 1m30s")
    return int(round(total))


def format_duration(nanoseconds: int) -> str:
    """Nanoseconds -> a short Go-style duration for messages and diffs (``90s`` -> ``1m30s``)."""
    if not nanoseconds:
        return "0s"
    if nanoseconds % NANO:
        return f"{nanoseconds / 1_000_000:g}ms"
    seconds = nanoseconds // NANO
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")


def parse_size(value, name: str = "size") -> int:
    """Bytes as an int, or a size string with binary units as the docker CLI reads them (``512m``)."""
    if isinstance(value, bool):
        raise SpecError(f"{name}: {value!r} is not a size; use bytes or a string such as 512m or 1g")
    if isinstance(value, int):
        if value < 0:
            raise SpecError(f"{name}: {value!r} is negative")
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise SpecError(f"{name}: {value!r} is not a size; use bytes or a string such as 512m or 1g")
    return int(float(match.group(1)) * _SIZE_FACTOR[match.group(2).lower()])


def parse_cpus(value, name: str = "cpus") -> int:
    """CPUs (``0.5``) -> NanoCPUs."""
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{name}: {value!r} is not a number of CPUs such as 0.5 or 2") from None
    if cpus < 0 or isinstance(value, bool):
        raise SpecError(f"{name}: {value!r} is not a number of CPUs >= 0")
    return int(round(cpus * NANO))


# --- images --------------------------------------------------------------------------------------


def split_image(reference: str) -> tuple[str, str, str]:
    """``registry:5000/app:1.2@sha256:x`` -> (``registry:5000/app``, ``1.2``, ``sha256:x``).

    The tag is whatever follows the last ``:`` of the last path component, so a registry port is
    never mistaken for a tag. Missing parts are empty strings.
    """
    name, _, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def image_with_digest(reference: str, digest: str) -> str:
    """``app`` + digest -> ``app:latest@digest`` (the tag kept for people reading the spec)."""
    name, tag, _ = split_image(reference)
    return f"{name}:{tag or 'latest'}@{digest}"


@dataclass(frozen=True)
class ImageResolution:
    """What image reference to post, and why.

    ``kind`` is one of pinned_digest (the user gave a digest), registry_digest (the registry's
    digest for the tag), kept_digest (the registry did not answer and the service already runs
    this tag pinned to a digest, which is kept), local_image_id (no registry digest: the tag is
    posted as is and the manager's image ID is recorded in ``image_id`` as a label), unresolved
    (``image_resolution: none``). ``note`` explains a fallback for the result.
    """

    requested: str
    image: str
    kind: str
    image_id: str = ""
    note: str = ""


def resolve_image(
    requested: str, mode: str, registry_lookup, local_lookup, current_image: str = ""
) -> ImageResolution:
    """Decide the image reference for ``requested`` under ``mode`` (auto, registry, local, none).

    ``registry_lookup()`` returns ``(digest or None, reason)``; ``local_lookup()`` returns the
    manager's image ID or None. Each is called only when ``mode`` needs it, so ``local`` never waits
    on an unreachable registry. In ``auto`` mode a registry that does not answer for a tag the
    service already runs pinned (``current_image``) keeps that pin: falling back to the local image
    would change the spec although nothing is known to have moved. Raises SpecError when the mode's
    source has no answer.
    """
    if mode not in IMAGE_RESOLUTION_MODES:
        raise SpecError(f"image_resolution {mode!r} is not one of {', '.join(IMAGE_RESOLUTION_MODES)}")
    if not requested or not requested.strip():
        raise SpecError("image is empty")
    if split_image(requested)[2]:
        return ImageResolution(requested, requested, RESOLUTION_PINNED)
    if mode == "none":
        return ImageResolution(requested, requested, RESOLUTION_UNRESOLVED)
    reason = ""
    if mode in ("auto", "registry"):
        digest, reason = registry_lookup()
        if digest:
            return ImageResolution(requested, image_with_digest(requested, digest), RESOLUTION_REGISTRY)
        if mode == "registry":
            raise SpecError(
                f"the registry gave no digest for {requested} ({reason or 'no answer'}); check the name, "
                "the registry's reachability and credentials (with_registry_auth), or use "
                "image_resolution: local for images loaded on every node"
            )
        current_name, current_tag, current_digest = split_image(current_image or "")
        name, tag, _ = split_image(requested)
        if current_digest and (current_name, current_tag or "latest") == (name, tag or "latest"):
            return ImageResolution(
                requested,
                current_image,
                RESOLUTION_KEPT,
                note=f"the registry gave no digest ({reason or 'no answer'}); kept the pinned digest",
            )
    image_id = local_lookup()
    if image_id:
        note = "no registry digest"
        note += f" ({reason}); " if reason else "; "
        note += "each node runs its own copy of the tag, tracked by the manager's image ID"
        return ImageResolution(requested, requested, RESOLUTION_LOCAL, image_id, note)
    where = f"has no registry digest ({reason}) and " if mode == "auto" else ""
    raise SpecError(
        f"image {requested} {where}is not present on this manager; push it to a registry, or load it "
        "(docker load) on every node including this manager"
    )


# --- specs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class References:
    """Engine IDs for the names the options use, looked up by the caller."""

    networks: dict
    secrets: dict
    configs: dict


def referenced_names(options: dict) -> tuple[list, list, list]:
    """(network names, secret names, config names) the options refer to, for the caller to look up."""
    networks = list(options.get("networks") or [])
    secrets = [s["name"] for s in options.get("secrets") or []]
    configs = [c["name"] for c in options.get("configs") or []]
    return networks, secrets, configs


def new_service_spec(name: str) -> dict:
    """The base of a service to create: engine defaults made explicit, everything else empty."""
    return {
        "Name": name,
        "Labels": {},
        "TaskTemplate": {"ContainerSpec": {"Image": ""}, "ForceUpdate": 0},
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": dict(ENGINE_UPDATE_DEFAULTS),
        "RollbackConfig": dict(ENGINE_UPDATE_DEFAULTS),
        "EndpointSpec": {"Mode": "vip"},
    }


def service_mode(spec: dict) -> str:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return "global"
    if "Replicated" in mode or not mode:
        return "replicated"
    return next(iter(mode)).lower()


def validate_options(options: dict, current_spec: dict | None) -> None:
    """Refuse what the engine would refuse, with what to do instead. ``current_spec`` None: create."""
    if current_spec is None and not options.get("image"):
        raise SpecError("image is required to create a service")
    mode = options.get("mode")
    if mode == "global" and options.get("replicas") is not None:
        raise SpecError("replicas applies to replicated services only; drop it or use mode: replicated")
    replicas = options.get("replicas")
    if replicas is not None and replicas < 0:
        raise SpecError(f"replicas must be >= 0, got {replicas}")
    if current_spec is not None:
        current = service_mode(current_spec)
        if current not in ("replicated", "global"):
            raise SpecError(f"the service runs in {current} mode, which this module does not manage")
        wanted = mode or current
        if wanted != current or (options.get("replicas") is not None and current == "global"):
            raise SpecError(
                f"the service runs in {current} mode and the engine cannot change a service's mode; "
                "remove it (state: absent) and create it again"
            )
    endpoint_mode = options.get("endpoint_mode")
    if current_spec is not None and endpoint_mode is None:
        endpoint_mode = ((current_spec.get("EndpointSpec") or {}).get("Mode")) or "vip"
    if endpoint_mode == "dnsrr":
        ports = options.get("published_ports")
        if ports is None and current_spec is not None:
            ports = [
                {"mode": p.get("PublishMode", "ingress")}
                for p in (current_spec.get("EndpointSpec") or {}).get("Ports") or []
            ]
        if any((p.get("mode") or "ingress") == "ingress" for p in ports or []):
            raise SpecError(
                "endpoint_mode dnsrr cannot publish ports through the ingress routing mesh; "
                "publish them with mode: host or use endpoint_mode: vip"
            )
    for key in ("update_config", "rollback_config"):
        ratio = (options.get(key) or {}).get("max_failure_ratio")
        if ratio is not None and not 0 <= ratio <= 1:
            raise SpecError(f"{key}.max_failure_ratio must be between 0 and 1, got {ratio}")


def _set_or_drop(target: dict, key: str, value) -> None:
    if value in (None, [], {}):
        target.pop(key, None)
    else:
        target[key] = value


def _merge_labels(new: dict, old: dict | None, image: ImageResolution | None) -> dict:
    """The user's labels plus flotilla's image-ID label, which follows the image resolution when
    the image was resolved in this run and is otherwise carried over so it never flips by accident."""
    labels = {str(k): str(v) for k, v in new.items()}
    labels.pop(IMAGE_ID_LABEL, None)
    if image is None:
        if old and IMAGE_ID_LABEL in old:
            labels[IMAGE_ID_LABEL] = old[IMAGE_ID_LABEL]
    elif image.kind == RESOLUTION_LOCAL:
        labels[IMAGE_ID_LABEL] = image.image_id
    return labels


def _update_block(current: dict | None, options: dict, name: str) -> dict:
    # A block the service lacks is read by the engine as its defaults: start from them, so setting
    # one field never sends Go zero values (parallelism 0 = all at once) for the others.
    block = dict(current) if current else dict(ENGINE_UPDATE_DEFAULTS)
    for option, key in _UPDATE_KEYS.items():
        value = options.get(option)
        if value is None:
            continue
        if key in _DURATION_UPDATE_KEYS:
            value = parse_duration(value, f"{name}.{option}")
        elif key == "MaxFailureRatio":
            value = float(value)
        block[key] = value
    return block


def _healthcheck(current: dict | None, options: dict) -> dict:
    block = dict(current or {})
    if options.get("disable"):
        return {"Test": ["NONE"]}
    test = options.get("test")
    if test is not None:
        if isinstance(test, str):
            block["Test"] = ["CMD-SHELL", test]
        elif test and test[0] in ("CMD", "CMD-SHELL", "NONE"):
            block["Test"] = [str(t) for t in test]
        else:
            block["Test"] = ["CMD", *[str(t) for t in test]]
    for option, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
        ("start_interval", "StartInterval"),
    ):
        if options.get(option) is not None:
            block[key] = parse_duration(options[option], f"healthcheck.{option}")
    if options.get("retries") is not None:
        block["Retries"] = int(options["retries"])
    return block


def _resources(current: dict | None, options: dict) -> dict:
    block = copy.deepcopy(current or {})
    for section, key in (("limits", "Limits"), ("reservations", "Reservations")):
        values = options.get(section)
        if values is None:
            continue
        target = dict(block.get(key) or {})
        if values.get("cpus") is not None:
            target["NanoCPUs"] = parse_cpus(values["cpus"], f"resources.{section}.cpus")
        if values.get("memory") is not None:
            target["MemoryBytes"] = parse_size(values["memory"], f"resources.{section}.memory")
        if section == "limits" and values.get("pids") is not None:
            target["Pids"] = int(values["pids"])
        block[key] = target
    return block


def _restart_policy(current: dict | None, options: dict) -> dict:
    block = dict(current or {})
    if options.get("condition") is not None:
        block["Condition"] = options["condition"]
    for option, key in (("delay", "Delay"), ("window", "Window")):
        if options.get(option) is not None:
            block[key] = parse_duration(options[option], f"restart_policy.{option}")
    if options.get("max_attempts") is not None:
        block["MaxAttempts"] = int(options["max_attempts"])
    return block


def _placement(current: dict | None, options: dict) -> dict:
    block = copy.deepcopy(current or {})
    if options.get("constraints") is not None:
        _set_or_drop(block, "Constraints", [str(c) for c in options["constraints"]])
    if options.get("preferences") is not None:
        _set_or_drop(
            block, "Preferences", [{"Spread": {"SpreadDescriptor": str(p)}} for p in options["preferences"]]
        )
    if options.get("max_replicas") is not None:
        block["MaxReplicas"] = int(options["max_replicas"])
    return block


def _lookup(ids: dict, kind: str, name: str) -> str:
    try:
        return ids[name]
    except KeyError:
        raise SpecError(f"{kind} {name!r} was not looked up") from None


def _file_refs(entries, ids: dict, kind: str) -> list:
    id_key, name_key = ("SecretID", "SecretName") if kind == "secret" else ("ConfigID", "ConfigName")
    refs = []
    for entry in entries:
        name = entry["name"]
        mode = entry.get("mode")
        refs.append(
            {
                id_key: _lookup(ids, kind, name),
                name_key: name,
                "File": {
                    "Name": entry.get("target") or name,
                    "UID": str(entry.get("uid") or "0"),
                    "GID": str(entry.get("gid") or "0"),
                    "Mode": 0o444 if mode is None else int(mode),
                },
            }
        )
    return refs


def apply_options(spec: dict, options: dict, references: References, image: ImageResolution | None) -> dict:
    """Return a copy of ``spec`` with every option the user set (not None) written in.

    ``options`` uses the module's option names; ``image`` is the resolution for ``options['image']``
    (None when the image option is unset). Unset options, and fields of the engine spec this module
    has no option for, are left exactly as they are.
    """
    new = copy.deepcopy(spec)
    task = new.setdefault("TaskTemplate", {})
    container = task.setdefault("ContainerSpec", {})
    old_labels = new.get("Labels") or {}
    old_container_labels = container.get("Labels") or {}

    if image is not None:
        container["Image"] = image.image
    for option, key in (("command", "Command"), ("args", "Args")):
        if options.get(option) is not None:
            _set_or_drop(container, key, [str(a) for a in options[option]])
    if options.get("env") is not None:
        env = sorted(f"{k}={'' if v is None else v}" for k, v in options["env"].items())
        _set_or_drop(container, "Env", env)

    labels = options.get("labels")
    new["Labels"] = _merge_labels(old_labels if labels is None else labels, old_labels, image)
    container_labels = options.get("container_labels")
    merged = _merge_labels(
        old_container_labels if container_labels is None else container_labels, old_container_labels, image
    )
    _set_or_drop(container, "Labels", merged)

    mode = options.get("mode") or service_mode(new)
    if mode == "global":
        new["Mode"] = {"Global": {}}
    else:
        replicas = options.get("replicas")
        if replicas is None:
            replicas = ((new.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1)
        new["Mode"] = {"Replicated": {"Replicas": int(replicas)}}

    if options.get("resources") is not None:
        task["Resources"] = _resources(task.get("Resources"), options["resources"])
    if options.get("healthcheck") is not None:
        container["Healthcheck"] = _healthcheck(container.get("Healthcheck"), options["healthcheck"])
    if options.get("restart_policy") is not None:
        task["RestartPolicy"] = _restart_policy(task.get("RestartPolicy"), options["restart_policy"])
    if options.get("placement") is not None:
        task["Placement"] = _placement(task.get("Placement"), options["placement"])

    if options.get("networks") is not None:
        aliases = {n.get("Target"): n.get("Aliases") for n in _networks_of(spec)}
        attachments = []
        for name in options["networks"]:
            target = _lookup(references.networks, "network", name)
            attachment = {"Target": target}
            if aliases.get(target):
                attachment["Aliases"] = aliases[target]
            attachments.append(attachment)
        _set_or_drop(task, "Networks", attachments)
        new.pop("Networks", None)  # the deprecated top-level field would shadow TaskTemplate.Networks

    if options.get("mounts") is not None:
        mounts = []
        for mount in options["mounts"]:
            entry = {"Type": mount.get("type") or "volume", "Target": mount["target"]}
            if mount.get("source"):
                entry["Source"] = mount["source"]
            entry["ReadOnly"] = bool(mount.get("readonly"))
            mounts.append(entry)
        _set_or_drop(container, "Mounts", mounts)
    if options.get("secrets") is not None:
        _set_or_drop(container, "Secrets", _file_refs(options["secrets"], references.secrets, "secret"))
    if options.get("configs") is not None:
        _set_or_drop(container, "Configs", _file_refs(options["configs"], references.configs, "config"))

    endpoint = new.setdefault("EndpointSpec", {})
    if options.get("endpoint_mode") is not None:
        endpoint["Mode"] = options["endpoint_mode"]
    if options.get("published_ports") is not None:
        ports = []
        for port in options["published_ports"]:
            entry = {
                "Protocol": port.get("protocol") or "tcp",
                "TargetPort": int(port["target_port"]),
                "PublishMode": port.get("mode") or "ingress",
            }
            if port.get("published_port"):
                entry["PublishedPort"] = int(port["published_port"])
            ports.append(entry)
        _set_or_drop(endpoint, "Ports", ports)

    for option, key in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        if options.get(option) is not None:
            new[key] = _update_block(new.get(key), options[option], option)

    if options.get("force"):
        task["ForceUpdate"] = int(task.get("ForceUpdate") or 0) + 1
    return new


# --- the comparable view -------------------------------------------------------------------------


def _networks_of(spec: dict) -> list:
    return list((spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or [])


def _update_view(block: dict | None) -> dict:
    if not block:
        block = ENGINE_UPDATE_DEFAULTS
    return {
        "parallelism": int(block.get("Parallelism") or 0),
        "delay": int(block.get("Delay") or 0),
        "failure_action": block.get("FailureAction") or "pause",
        "monitor": int(block.get("Monitor") or 0),
        "max_failure_ratio": float(block.get("MaxFailureRatio") or 0.0),
        "order": block.get("Order") or "stop-first",
    }


def _file_view(entries, id_key: str, name_key: str) -> list:
    view = []
    for entry in entries or []:
        file = entry.get("File") or {}
        view.append(
            {
                "name": entry.get(name_key, ""),
                "id": entry.get(id_key, ""),
                "target": file.get("Name", ""),
                "uid": str(file.get("UID", "0")),
                "gid": str(file.get("GID", "0")),
                "mode": int(file.get("Mode", 0o444)),
            }
        )
    return sorted(view, key=lambda e: (e["target"], e["name"]))


def spec_view(spec: dict | None) -> dict:
    """A service spec as plain values a person can read and Python can compare.

    Order-free fields (env, labels, constraints, ports, mounts, secrets) are dicts or sorted lists;
    durations stay in nanoseconds so equality is exact. None gives the view of no service ({}).
    """
    if spec is None:
        return {}
    task = spec.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    health = container.get("Healthcheck") or {}
    resources = task.get("Resources") or {}
    restart = task.get("RestartPolicy") or {}
    placement = task.get("Placement") or {}
    endpoint = spec.get("EndpointSpec") or {}
    mode = service_mode(spec)
    env = {}
    for item in container.get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return {
        "image": container.get("Image", ""),
        "command": list(container.get("Command") or []),
        "args": list(container.get("Args") or []),
        "env": env,
        "mode": mode,
        "replicas": ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if mode == "replicated"
        else None,
        "labels": dict(spec.get("Labels") or {}),
        "container_labels": dict(container.get("Labels") or {}),
        "healthcheck": {
            "test": list(health.get("Test") or []),
            "interval": int(health.get("Interval") or 0),
            "timeout": int(health.get("Timeout") or 0),
            "retries": int(health.get("Retries") or 0),
            "start_period": int(health.get("StartPeriod") or 0),
            "start_interval": int(health.get("StartInterval") or 0),
        },
        "resources": {
            section: {
                "cpus": int((resources.get(key) or {}).get("NanoCPUs") or 0),
                "memory": int((resources.get(key) or {}).get("MemoryBytes") or 0),
                "pids": int((resources.get(key) or {}).get("Pids") or 0),
            }
            for section, key in (("limits", "Limits"), ("reservations", "Reservations"))
        },
        "restart_policy": {
            "condition": restart.get("Condition") or "any",
            "delay": int(restart.get("Delay") or 0),
            "max_attempts": int(restart.get("MaxAttempts") or 0),
            "window": int(restart.get("Window") or 0),
        },
        "placement": {
            "constraints": sorted(placement.get("Constraints") or []),
            "preferences": [
                (p.get("Spread") or {}).get("SpreadDescriptor", "")
                for p in placement.get("Preferences") or []
            ],
            "max_replicas": int(placement.get("MaxReplicas") or 0),
        },
        "networks": sorted(n.get("Target", "") for n in _networks_of(spec)),
        "mounts": sorted(
            (
                {
                    "type": m.get("Type", "volume"),
                    "source": m.get("Source", ""),
                    "target": m.get("Target", ""),
                    "readonly": bool(m.get("ReadOnly", False)),
                }
                for m in container.get("Mounts") or []
            ),
            key=lambda m: (m["target"], m["source"]),
        ),
        "secrets": _file_view(container.get("Secrets"), "SecretID", "SecretName"),
        "configs": _file_view(container.get("Configs"), "ConfigID", "ConfigName"),
        "endpoint_mode": endpoint.get("Mode") or "vip",
        "published_ports": sorted(
            (
                {
                    "target_port": int(p.get("TargetPort") or 0),
                    "published_port": int(p.get("PublishedPort") or 0),
                    "protocol": p.get("Protocol") or "tcp",
                    "mode": p.get("PublishMode") or "ingress",
                }
                for p in endpoint.get("Ports") or []
            ),
            key=lambda p: (p["target_port"], p["protocol"], p["published_port"], p["mode"]),
        ),
        "update_config": _update_view(spec.get("UpdateConfig")),
        "rollback_config": _update_view(spec.get("RollbackConfig")),
        "force_update": int(task.get("ForceUpdate") or 0),
    }


def changed_keys(before: dict, after: dict) -> list:
    """View keys whose values differ, in a stable order."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def view_diff(before: dict, after: dict, keys=None) -> dict:
    """Ansible's diff dict restricted to ``keys`` (default: the changed ones)."""
    keys = changed_keys(before, after) if keys is None else keys
    return {
        "before": {k: before[k] for k in keys if k in before},
        "after": {k: after[k] for k in keys if k in after},
    }


def monitor_seconds(spec: dict, key: str = "UpdateConfig") -> float:
    """The monitor period the engine applies for ``key``, in seconds (its default when unset)."""
    block = spec.get(key)
    if not block:
        return ENGINE_UPDATE_DEFAULTS["Monitor"] / NANO
    return int(block.get("Monitor") or 0) / NANO


def image_id_of(spec: dict | None) -> str:
    """The image ID flotilla recorded on a spec (container label first, service label second)."""
    if not spec:
        return ""
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    return (container.get("Labels") or {}).get(IMAGE_ID_LABEL) or (spec.get("Labels") or {}).get(
        IMAGE_ID_LABEL, ""
    )
