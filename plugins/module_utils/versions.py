# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Docker engine versions: what the engine reports, what operators pin, what packages are called.

Three spellings of one release meet in a rolling upgrade:

* the operator pins an upstream release, ``26.1.5``;
* the package manager offers distro versions that embed it, each family differently:
  Debian ``26.1.5+dfsg1-9+b1``, docker-ce ``5:26.1.5-1~debian.12~bookworm``, EL ``3:26.1.5-1.el9``;
* the running engine reports ``26.1.5`` (or ``20.10.24+dfsg1``, or an old ``17.03.0-ce``).

Comparing these as strings goes wrong ("26.1.5" < "9.0.0"), and installing "whatever the repo has"
makes nodes drift apart during a rollout. So the pin is validated up front, mapped to exactly one
candidate the package manager offers, and a node counts as upgraded only once its *running* engine
reports the pin. Pure functions, kept to Python 3.9 syntax because module_utils run on managed
nodes.
"""

from __future__ import annotations

import re
from functools import cmp_to_key

# A version tuple is (major, minor, patch, stage, number). Stage orders pre-releases before the
# release they lead to, so plain tuple comparison gives the right answer.
STAGE_ALPHA = 0
STAGE_BETA = 1
STAGE_RC = 2
STAGE_RELEASE = 3
_STAGES = {"alpha": STAGE_ALPHA, "beta": STAGE_BETA, "rc": STAGE_RC}
_STAGE_NAMES = {v: k for k, v in _STAGES.items()}

_UPSTREAM_RE = re.compile(r"^\d+\.\d+\.\d+$")
_TRIPLE_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(.*)$")
_EPOCH_RE = re.compile(r"^\d+:")
# A pre-release marker right after X.Y.Z: "-rc.1", "-rc1", "~beta2", "-alpha".
_PRE_RE = re.compile(r"^[~-](alpha|beta|rc)\.?(\d*)(?=$|[~+.-])")
# Editions older engines and packages append: "17.03.0-ce", "18.06.1~ce~3-0~debian".
_EDITION_RE = re.compile(r"^[~-](ce|ee)(?=$|[~+.-])")


def validate_upstream(version) -> str:
    """Return ``version`` if it is an upstream release ``X.Y.Z``, else raise ValueError.

    Pins are exact on purpose: a rollout must install the same release on every node, and a
    pre-release or a distro package string cannot be matched across distro families.
    """
    if isinstance(version, float):
        raise ValueError(
            f"docker version {version!r} was read as a number; "
            'quote the upstream release in YAML, e.g. "26.1.5"'
        )
    if not isinstance(version, str) or not _UPSTREAM_RE.match(version.strip()):
        hint = ""
        if isinstance(version, str):
            try:
                carried = upstream_of(version)
            except ValueError:
                carried = None
            if carried and "-" in carried:
                hint = f"; pre-releases ({carried}) cannot be pinned"
            elif carried:
                hint = f"; that looks like a package version, whose release is {carried}"
        raise ValueError(
            f"docker version must be an upstream release X.Y.Z such as 26.1.5, got {version!r}{hint}"
        )
    return version.strip()


def _release_tuple(major, minor, patch) -> tuple[int, int, int, int, int]:
    return (int(major), int(minor), int(patch), STAGE_RELEASE, 0)


def parse_engine_version(version: str) -> tuple[int, int, int, int, int]:
    """Parse the version a running engine reports into a comparable tuple.

    Build metadata (``+dfsg1``) and the edition (``-ce``, ``-ee``) are dropped because they do not
    change which release runs; ``-rc.1``/``-beta2``/``-alpha`` sort before the release. Anything
    else after X.Y.Z raises ValueError rather than being guessed at.
    """
    if not isinstance(version, str):
        raise ValueError(f"engine version must be a string like 26.1.5, got {version!r}")
    text = version.strip()
    if text[:1] == "v":
        text = text[1:]
    match = _TRIPLE_RE.match(text)
    if not match:
        raise ValueError(f"cannot parse engine version {version!r}: expected X.Y.Z with optional suffix")
    major, minor, patch, rest = match.groups()
    rest = rest.split("+", 1)[0]
    stage, number = STAGE_RELEASE, 0
    while rest:
        edition = _EDITION_RE.match(rest)
        if edition:
            rest = rest[edition.end() :]
            continue
        pre = _PRE_RE.match(rest)
        if pre and stage == STAGE_RELEASE:
            stage, number = _STAGES[pre.group(1)], int(pre.group(2) or 0)
            rest = rest[pre.end() :]
            continue
        raise ValueError(
            f"cannot parse engine version {version!r}: unexpected suffix {rest!r} "
            "(known: +build, -ce, -ee, -alpha, -beta, -rc)"
        )
    return (int(major), int(minor), int(patch), stage, number)


def format_version(version: tuple[int, int, int, int, int]) -> str:
    """Render a version tuple back as X.Y.Z or X.Y.Z-rc.N, for messages."""
    base = f"{version[0]}.{version[1]}.{version[2]}"
    if version[3] == STAGE_RELEASE:
        return base
    return f"{base}-{_STAGE_NAMES[version[3]]}.{version[4]}"


def compare_versions(left: str, right: str) -> int:
    """Compare two engine versions: -1, 0 or 1. Build metadata and edition are ignored."""
    a, b = parse_engine_version(left), parse_engine_version(right)
    return (a > b) - (a < b)


def version_reached(running: str | None, target: str) -> bool:
    """True when the running engine reports exactly the pinned release.

    Exact, not "at least": a node on a newer release than the pin is drift the operator must see,
    not a finished upgrade. ``None`` or an empty string means the engine did not answer yet.
    """
    wanted = _release_tuple(*validate_upstream(target).split("."))
    if running is None or not str(running).strip():
        return False
    return parse_engine_version(running) == wanted


def _split_package_version(version: str) -> tuple[int, str, str]:
    """Split ``[epoch:]upstream[-revision]`` the way dpkg and rpm both do."""
    text = version.strip()
    epoch = 0
    match = _EPOCH_RE.match(text)
    if match:
        epoch = int(text[: match.end() - 1])
        text = text[match.end() :]
    upstream, sep, revision = text.rpartition("-")
    if not sep:
        return epoch, text, ""
    return epoch, upstream, revision


def upstream_of(package_version: str) -> str:
    """The upstream release a distro package version carries, e.g. ``26.1.5``.

    The epoch (``5:``), Debian's repack marker and revision (``+dfsg1-9+b1``), docker-ce's
    ``-1~debian.12~bookworm`` and ``~3-0~debian-bookworm``, and EL's ``-1.el9`` are packaging,
    not the release. Pre-releases keep their marker (``24.0.0-rc.1``) so they never match a pin.
    """
    if not isinstance(package_version, str):
        raise ValueError(f"package version must be a string, got {package_version!r}")
    text = _EPOCH_RE.sub("", package_version.strip(), count=1)
    match = _TRIPLE_RE.match(text)
    if not match:
        raise ValueError(f"no X.Y.Z release found in package version {package_version!r}")
    major, minor, patch, rest = match.groups()
    if rest and rest[0] not in "+-~":
        raise ValueError(f"no X.Y.Z release found in package version {package_version!r}")
    edition = _EDITION_RE.match(rest)
    if edition:
        rest = rest[edition.end() :]
    pre = _PRE_RE.match(rest)
    release = f"{major}.{minor}.{patch}"
    if pre:
        return f"{release}-{pre.group(1)}.{int(pre.group(2) or 0)}"
    return release


def _char_rank(char: str) -> int:
    # dpkg ordering of the non-digit parts: "~" before the end of the string, letters before
    # other characters. "~" is what lets "1.0~rc1" sort before "1.0".
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_fragment(left: str, right: str) -> int:
    """Compare an upstream or revision part with the dpkg algorithm (rpm agrees on these forms)."""
    i = j = 0
    while i < len(left) or j < len(right):
        # Non-digit run: character by character; the end of a string ranks 0, between "~" and letters.
        while (i < len(left) and not left[i].isdigit()) or (j < len(right) and not right[j].isdigit()):
            a = _char_rank(left[i]) if i < len(left) and not left[i].isdigit() else 0
            b = _char_rank(right[j]) if j < len(right) and not right[j].isdigit() else 0
            if a != b:
                return -1 if a < b else 1
            i += 1
            j += 1
        # Digit run: numerically, a missing run counting as 0.
        start_i, start_j = i, j
        while i < len(left) and left[i].isdigit():
            i += 1
        while j < len(right) and right[j].isdigit():
            j += 1
        a_num = int(left[start_i:i] or 0)
        b_num = int(right[start_j:j] or 0)
        if a_num != b_num:
            return -1 if a_num < b_num else 1
    return 0


def compare_package_versions(left: str, right: str) -> int:
    """Order two package versions of the same family: -1, 0 or 1 (epoch, upstream, revision)."""
    l_epoch, l_up, l_rev = _split_package_version(left)
    r_epoch, r_up, r_rev = _split_package_version(right)
    if l_epoch != r_epoch:
        return -1 if l_epoch < r_epoch else 1
    return _compare_fragment(l_up, r_up) or _compare_fragment(l_rev, r_rev)


def select_package_version(upstream: str, candidates) -> str | None:
    """Pick the candidate package version that carries the pinned release, or None.

    Several candidates can carry one release (a rebuild ``+b1``, a newer revision ``-2``); the
    highest packaging wins because it carries the distro's fixes for the same engine. Candidates
    that are not recognisable versions are skipped: repositories list odd entries, and refusing the
    whole list over one of them would block a valid pin.
    """
    wanted = _release_tuple(*validate_upstream(upstream).split("."))
    matching = []
    for candidate in candidates:
        try:
            carried = upstream_of(candidate)
        except ValueError:
            continue
        if parse_engine_version(carried) == wanted:
            matching.append(candidate.strip())
    if not matching:
        return None
    return max(matching, key=cmp_to_key(compare_package_versions))
