#!/usr/bin/python
# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Documentation of the k3s_bundle action plugin, which runs entirely on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k3s_bundle
short_description: Verify a k3s air-gap bundle on the controller before anything is copied
version_added: 0.1.0
description:
  - An action plugin that runs on the controller only. Lists O(dir), picks for each host
    architecture the binary (C(k3s), C(k3s-arm64), C(k3s-armhf)) and the image archive
    (C(k3s-airgap-images-<arch>.tar.zst), C(.tar.gz) or C(.tar)), and checks each against
    upstream's C(sha256sum-<arch>.txt) in the same directory.
  - Reads the k3s release the binary carries from its bytes (the binary is never executed) and
    compares it with O(version).
  - Fails, naming every problem, when a file is missing, not listed, does not match its sum, the
    bundle lacks an architecture the hosts run, or the release differs.
author:
  - flotilla developers
attributes:
  check_mode:
    support: full
    details: Only reads files on the controller.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  dir:
    description: The bundle directory on the controller.
    type: path
    required: true
  version:
    description: The k3s release the binary must carry, such as C(v1.29.5+k3s1).
    type: str
    required: true
  architectures:
    description: The hosts' C(ansible_facts['architecture']) values (x86_64, aarch64, armv7l).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Verify the bundle for every host's architecture
  flotilla.cluster.k3s_bundle:
    dir: /srv/k3s/v1.29.5+k3s1
    version: v1.29.5+k3s1
    architectures: [x86_64]
  run_once: true
"""

RETURN = r"""
artifacts:
  description: Per bundle architecture, the binary and image archive names, their sha256, the release found.
  returned: always
  type: dict
errors:
  description: Every reason the bundle is refused; empty when it is fine.
  returned: always
  type: list
  elements: str
msg:
  description: What was verified, or why the bundle is refused.
  returned: always
  type: str
"""
