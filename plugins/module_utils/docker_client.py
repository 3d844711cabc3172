# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The few engine calls flotilla's Swarm modules make, on docker-py's low-level APIClient.

Raw dicts in, raw dicts out: the spec logic lives in swarm_service_spec.py and works on the
engine's own JSON, so services are created and updated by posting a whole spec here rather than
through docker-py's ``create_service``/``update_service``. Those build specs from docker-py types
(whose UpdateConfig defaults are not the engine's), drop fields they were not given on an update,
and cannot request a server-side rollback (docs/engine-facts.md).

The docker import is guarded. A module does not test ``HAS_DOCKER`` itself: it calls
:func:`module_client` (or :func:`require_docker_sdk` when it connects later, in a retry loop), and
wraps its engine calls in :func:`engine_errors`, so that every module fails the same way, naming
the engine it tried and what to do::

    from ansible_collections.flotilla.cluster.plugins.module_utils.docker_client import (
        engine_errors,
        module_client,
    )

    def main():
        module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
        api = module_client(module)  # SDK missing or engine unreachable: fail_json, with advice
        with engine_errors(module, "list the swarm's nodes", "Run this on a reachable Swarm manager"):
            nodes = api.nodes() or []
        module.exit_json(changed=False, nodes=nodes)
"""

from __future__ import annotations

import contextlib
import traceback

from ansible.module_utils.basic import missing_required_lib

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
# Where a module should run when the engine it was given cannot answer.
ENGINE_ADVICE = "Run this on a Swarm manager whose engine is up, or set docker_host"


def connect(docker_host: str = DEFAULT_DOCKER_HOST, timeout: int = 60):
    """A low-level client for ``docker_host`` negotiating the API version with the engine.

    The negotiation is a request: an engine that does not answer raises DockerException here.
    """
    return docker.APIClient(base_url=docker_host, version="auto", timeout=timeout)


def error_text(exc: Exception) -> str:
    """The engine's own message for an APIError (its ``explanation``), else str(exc)."""
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return explanation.decode() if isinstance(explanation, bytes) else str(explanation)
    return str(exc)


def require_docker_sdk(module) -> None:
    """Fail ``module`` (an AnsibleModule) the Ansible way when the docker SDK cannot be imported."""
    if not HAS_DOCKER:
        module.fail_json(
            msg=missing_required_lib(
                "docker",
                reason="to talk to the Docker engine (Debian and Ubuntu package python3-docker, "
                "or pip install docker)",
            ),
            exception=DOCKER_IMPORT_ERROR,
        )


def module_client(module, timeout: int = 60):
    """A connected APIClient for the module's ``docker_host`` option, or ``fail_json``.

    Fails when the SDK is missing, or when the engine does not answer, naming the address tried.
    """
    require_docker_sdk(module)
    docker_host = module.params.get("docker_host") or DEFAULT_DOCKER_HOST
    try:
        return connect(docker_host, timeout)
    except DockerException as exc:
        module.fail_json(
            msg=f"cannot reach the Docker engine at {docker_host}: {error_text(exc)}. {ENGINE_ADVICE}"
        )
    return None  # not reached: fail_json exits


@contextlib.contextmanager
def engine_errors(module, doing: str, advice: str = ENGINE_ADVICE, **result):
    """Turn a DockerException inside the block into ``fail_json``.

    The message reads "cannot <doing> through <docker_host>: <the engine's words>. <advice>";
    ``result`` is returned with it (what was done before the error, for instance).
    """
    try:
        yield
    except DockerException as exc:
        docker_host = module.params.get("docker_host") or DEFAULT_DOCKER_HOST
        module.fail_json(msg=f"cannot {doing} through {docker_host}: {error_text(exc)}. {advice}", **result)


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


def _spec_name(item: dict) -> str:
    return (item.get("Spec") or {}).get("Name", "")


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
        # The name filter matches name prefixes only, the id filter ID prefixes: keep the exact
        # name, else the exact ID.
        exact = [item["ID"] for item in lister(filters={"name": name}) or [] if _spec_name(item) == name]
        if not exact:
            exact = [item["ID"] for item in lister(filters={"id": name}) or [] if item.get("ID") == name]
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
