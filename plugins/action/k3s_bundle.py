# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Verify a k3s air-gap bundle on the controller, before any host is touched.

Everything runs here, on the controller: the directory is listed, upstream's sums files read,
the files that would be copied hashed, and the binary's bytes searched for its release string
(it is never executed). The decisions are module_utils/k3s_bundle.py's.
"""

from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.flotilla.cluster.plugins.module_utils import k3s_bundle

_CHUNK = 1 << 20


def _chunks(path):
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(_CHUNK), b"")


def _sha256(path):
    digest = hashlib.sha256()
    for chunk in _chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


class ActionModule(ActionBase):
    _supports_check_mode = True
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        directory = str(args.get("dir") or "")
        version = str(args.get("version") or "")
        machines = args.get("architectures") or []
        if not directory or not os.path.isdir(directory):
            raise AnsibleActionFail(
                f"k3s_airgap_dir {directory!r} is not a directory on the controller: point it at the folder "
                "holding the k3s binary, k3s-airgap-images-<arch>.tar* and sha256sum-<arch>.txt"
            )
        errors = []
        arches = []
        for machine in sorted(set(machines)):
            try:
                arches.append(k3s_bundle.bundle_arch(machine))
            except ValueError as exc:
                errors.append(str(exc))
        names = sorted(os.listdir(directory))
        chosen, missing = k3s_bundle.files_to_copy(names, arches)
        errors.extend(missing)
        sums_texts, digests, versions = {}, {}, {}
        for files in chosen.values():
            with open(os.path.join(directory, files["sums"]), encoding="utf-8", errors="replace") as handle:
                sums_texts[files["sums"]] = handle.read()
            for kind in ("binary", "images"):
                digests[files[kind]] = _sha256(os.path.join(directory, files[kind]))
            versions[files["binary"]] = k3s_bundle.versions_in(
                _chunks(os.path.join(directory, files["binary"]))
            )
        artifacts, problems = k3s_bundle.check_bundle(chosen, sums_texts, digests, versions, version)
        errors.extend(problems)
        result.update(changed=False, dir=directory, artifacts=artifacts, errors=errors)
        if errors:
            result.update(
                failed=True,
                msg="the k3s air-gap bundle is refused, nothing was copied: " + "; ".join(errors),
            )
        else:
            result["msg"] = "verified " + ", ".join(
                f"{a['arch']}: {a['binary']} and {a['images']}" for a in artifacts.values()
            )
        return result
