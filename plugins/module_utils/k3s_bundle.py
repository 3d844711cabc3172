# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""The k3s air-gap bundle on the controller: which files it must hold, and whether they are intact.

A bundle is one controller directory per k3s release, laid out as upstream publishes a release's
assets: the binary (``k3s`` for amd64, ``k3s-arm64``, ``k3s-armhf``), the image archive
``k3s-airgap-images-<arch>.tar`` (or ``.tar.gz`` / ``.tar.zst``) and upstream's checksum list
``sha256sum-<arch>.txt`` (lines ``<sha256>  <file name>``). Every file flotilla copies must be
listed there with a matching digest, and the bundle must carry each architecture the hosts run;
anything else is refused on the controller before a host is touched.

The release is read from the binary's bytes (k3s embeds ``v1.29.5+k3s1`` when it is built): the
binary is never executed on the controller. The action plugin does the reading and hashing; the
decisions are here, pure and table-tested. Python 3.9 syntax.
"""

from __future__ import annotations

import re

# ansible_facts['architecture'] -> the name upstream uses in asset names
ARCH_BY_MACHINE = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armhf": "arm",
}
BINARY_BY_ARCH = {"amd64": "k3s", "arm64": "k3s-arm64", "arm": "k3s-armhf"}
# the order in which an image archive is preferred when several formats are present
IMAGE_SUFFIXES = (".tar.zst", ".tar.gz", ".tar")
_SUMS_RE = re.compile(r"^sha256sum-([a-z0-9]+)\.txt$")
_SUM_LINE_RE = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S+)$")
_VERSION_RE = re.compile(rb"v[0-9]{1,2}\.[0-9]{1,3}\.[0-9]{1,3}\+k3s[0-9]{1,3}")


def bundle_arch(machine: str) -> str:
    """The bundle architecture for a host's ``ansible_facts['architecture']``; ValueError if none."""
    try:
        return ARCH_BY_MACHINE[machine]
    except KeyError:
        raise ValueError(
            f"k3s publishes no air-gap assets for the {machine} architecture "
            f"(known: {', '.join(sorted(ARCH_BY_MACHINE))})"
        ) from None


def parse_sums(text: str, source: str = "sha256sum file") -> dict[str, str]:
    """``<sha256>  <name>`` lines -> {name: lower-case digest}; a malformed line raises ValueError."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _SUM_LINE_RE.match(line.strip())
        if not match:
            raise ValueError(f"{source} line {number} is not '<sha256>  <file name>': {line[:80]!r}")
        digest, name = match.group(1).lower(), match.group(2)
        if sums.get(name, digest) != digest:
            raise ValueError(f"{source} lists {name} twice with different digests")
        sums[name] = digest
    return sums


def sums_arches(names) -> list[str]:
    """The architectures a directory listing has checksum files for."""
    return sorted(m.group(1) for m in (_SUMS_RE.match(n) for n in names) if m)


def images_name(names, arch: str) -> str | None:
    present = set(names)
    for suffix in IMAGE_SUFFIXES:
        name = f"k3s-airgap-images-{arch}{suffix}"
        if name in present:
            return name
    return None


def files_to_copy(names, arches) -> tuple[dict[str, dict[str, str]], list[str]]:
    """For each wanted architecture, the binary and image archive to verify and copy.

    Returns ({arch: {"sums", "binary", "images"}}, errors). Missing files are errors naming what
    to add; a missing image archive is refused too (an air-gapped node cannot pull system images).
    """
    present = set(names)
    found_arches = sums_arches(present)
    chosen: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    for arch in sorted(set(arches)):
        missing = []
        sums = f"sha256sum-{arch}.txt"
        binary = BINARY_BY_ARCH.get(arch)
        images = images_name(present, arch)
        if binary is None:
            errors.append(f"no k3s binary name is known for the {arch} architecture")
            continue
        if sums not in present:
            missing.append(sums)
        if binary not in present:
            missing.append(binary)
        if images is None:
            missing.append(f"k3s-airgap-images-{arch}.tar (or .tar.gz / .tar.zst)")
        if missing:
            have = f" (it has checksum files for: {', '.join(found_arches)})" if found_arches else ""
            errors.append(
                f"the bundle lacks {', '.join(missing)} for {arch} hosts{have}: add the {arch} "
                "assets of the same k3s release"
            )
            continue
        chosen[arch] = {"sums": sums, "binary": binary, "images": images}
    return chosen, errors


def versions_in(chunks) -> list[str]:
    """Every distinct ``vX.Y.Z+k3sN`` string in a byte stream read in chunks (never executed)."""
    found: set[str] = set()
    tail = b""
    for chunk in chunks:
        data = tail + chunk
        found.update(m.decode() for m in _VERSION_RE.findall(data))
        tail = data[-32:]
    return sorted(found)


def check_bundle(
    chosen: dict[str, dict[str, str]],
    sums_texts: dict[str, str],
    digests: dict[str, str],
    binary_versions: dict[str, list[str]],
    expected_version: str,
) -> tuple[dict, list[str]]:
    """Judge the chosen files against upstream's sums and the pinned release.

    ``sums_texts`` maps a sums file name to its text, ``digests`` a file name to the sha256 the
    controller computed, ``binary_versions`` a binary name to the release strings found in it.
    Returns (artifacts per arch with their digests, errors). Any error means nothing is copied.
    """
    errors: list[str] = []
    artifacts: dict[str, dict] = {}
    for arch, files in sorted(chosen.items()):
        try:
            sums = parse_sums(sums_texts.get(files["sums"], ""), files["sums"])
        except ValueError as exc:
            errors.append(str(exc))
            continue
        entry = {"arch": arch}
        for kind in ("binary", "images"):
            name = files[kind]
            listed = sums.get(name)
            actual = digests.get(name)
            if listed is None:
                errors.append(
                    f"{name} is not listed in {files['sums']}: it cannot be verified, so it is not copied"
                )
            elif actual != listed:
                errors.append(
                    f"{name} does not match {files['sums']} "
                    f"(sha256 {actual or 'unreadable'}, listed {listed}): "
                    "the file is corrupt or from another release; fetch it again"
                )
            entry[kind] = name
            entry[f"{kind}_sha256"] = listed or ""
        found = binary_versions.get(files["binary"], [])
        if expected_version and found != [expected_version]:
            if not found:
                errors.append(
                    f"{files['binary']} carries no k3s release string: it is not a k3s binary "
                    f"(k3s_version is {expected_version})"
                )
            elif expected_version not in found:
                errors.append(
                    f"the bundle's {files['binary']} is k3s {', '.join(found)}, but k3s_version is "
                    f"{expected_version}: point k3s_airgap_dir at the {expected_version} bundle "
                    "or change k3s_version"
                )
        entry["version"] = found[0] if len(found) == 1 else ""
        artifacts[arch] = entry
    return artifacts, errors
