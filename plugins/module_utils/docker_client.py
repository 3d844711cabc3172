# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The few engine calls flotilla's Swarm modules make, on docker-py's low-level APIClient.

Raw dicts in, raw dicts out: the spec logic lives in swarm_service_spec.py and works on the
engine's own JSON, so services are created and updated by posting a whole spec here rather than
through docker-py's ``create_service``/``update_service``. Those build specs from docker-py types
(whose UpdateConfig defaults are not the engine's), drop fields they were not given on an update,
and cannot request a server-side rollback (ROLLOUT.md).

The docker import is guarded: modules check ``HAS_DOCKER`` and report ``missing_required_lib``.
"""

from __future__ import annotations

import traceback

try:
    import docker
    from docker import auth as docker_auth
    from docker.errors import APIError, DockerException, NotFound

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised only where the SDK is missing
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):
        """Stand-in so callers can name the SDK's exceptions without the SDK."""

    class APIError(DockerException):
        pass

    class NotFound(APIError):
        pass


DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def connect(docker_host: str = DEFAULT_DOCKER_HOST, timeout: int = 60):
    """A low-level client for ``docker_host`` negotiating the API version with the engine."""
    return docker.APIClient(base_url=docker_host, version="auto", timeout=timeout)


def error_text(exc: Exception) -> str:
    """The engine's own message for an APIError (its ``explanation``), else str(exc)."""
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return explanation.decode() if isinstance(explanation, bytes) else str(explanation)
    return str(exc)


def registry_auth_header(api, image: str) -> str | None:
    """The X-Registry-Auth header for ``image`` from the client's docker config, or None."""
    registry, _ = docker_auth.resolve_repository_name(image)
    return docker_auth.get_config_header(api, registry)


def find_service(api, name: str) -> dict | None:
    """The service named exactly ``name``, or None.

    The engine also matches ID prefixes, so the name of the result is checked.
    """
    try:
        service = api.inspect_service(name)
    except NotFound:
        return None
    if (service.get("Spec") or {}).get("Name") != name and service.get("ID") != name:
        return None
    return service


def create_service(api, spec: dict, registry_auth: str | None = None) -> dict:
    """POST /services/create with a complete spec; returns {"ID", "Warnings"}."""
    headers = {"X-Registry-Auth": registry_auth} if registry_auth else {}
    response = api._post_json(api._url("/services/create"), data=spec, headers=headers)
    return api._result(response, json=True) or {}


def update_service(
    api,
    service_id: str,
    version: int,
    spec: dict,
    registry_auth: str | None = None,
    rollback: bool = False,
) -> dict:
    """POST /services/{id}/update?version=N[&rollback=previous]; returns {"Warnings": [...]}.

    With ``rollback`` the engine ignores the posted spec and restores PreviousSpec server-side,
    as ``docker service rollback`` does; the credentials then come from the previous spec too.
    """
    params = {"version": int(version)}
    headers = {}
    if rollback:
        params["rollback"] = "previous"
        params["registryAuthFrom"] = "previous-spec"
    elif registry_auth:
        headers["X-Registry-Auth"] = registry_auth
    else:
        params["registryAuthFrom"] = "spec"
    response = api._post_json(
        api._url("/services/{0}/update", service_id), data=spec, params=params, headers=headers
    )
    return api._result(response, json=True) or {}


def registry_digest(api, image: str) -> tuple[str | None, str]:
    """(the registry's manifest digest for ``image``, "") or (None, why not)."""
    try:
        descriptor = (api.inspect_distribution(image) or {}).get("Descriptor") or {}
    except DockerException as exc:
        return None, error_text(exc)
    digest = descriptor.get("digest") or ""
    return (digest, "") if digest else (None, "the registry returned no digest")


def local_image_id(api, image: str) -> str | None:
    """The ID of ``image`` in this engine's image store, or None."""
    try:
        return (api.inspect_image(image) or {}).get("Id") or None
    except NotFound:
        return None


def lookup_ids(api, kind: str, names) -> tuple[dict, list]:
    """Map network/secret/config names (or IDs) to IDs: ({name: id}, [names not found])."""
    found, missing = {}, []
    for name in names:
        if kind == "network":
            try:
                found[name] = api.inspect_network(name)["Id"]
            except NotFound:
                missing.append(name)
            continue
        lister = api.secrets if kind == "secret" else api.configs
        listing = lister(filters={"name": name})
        # The name filter matches prefixes: keep the exact name, or an exact ID.
        exact = [
            item["ID"]
            for item in listing or []
            if (item.get("Spec") or {}).get("Name") == name or item.get("ID") == name
        ]
        if exact:
            found[name] = exact[0]
        else:
            missing.append(name)
    return found, missing


def service_tasks(api, service_id: str) -> tuple[list, set]:
    """(all tasks of the service, IDs of those on its current spec).

    The second list uses the engine's ``_up-to-date`` filter, the one ``docker service update``
    uses to follow progress: it compares each task with the service's current spec.
    """
    tasks = api.tasks(filters={"service": service_id}) or []
    current = api.tasks(filters={"service": service_id, "_up-to-date": "true"}) or []
    return tasks, {t.get("ID", "") for t in current}
