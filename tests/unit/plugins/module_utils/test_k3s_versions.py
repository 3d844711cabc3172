from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_versions import (
    minor_of,
    parse_k3s_version,
    upgrade_step_error,
    validate_k3s_version,
    version_reached,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.29.5+k3s1", (1, 29, 5, 1)),
        ("1.29.5+k3s2", (1, 29, 5, 2)),
        ("v1.30.0", (1, 30, 0, 0)),
        (" v1.28.10+k3s1 ", (1, 28, 10, 1)),
    ],
)
def test_parse(text, expected):
    assert parse_k3s_version(text) == expected


@pytest.mark.parametrize("text", ["v1.29.5-rc1+k3s1", "1.29", "latest", "v1.29.5+rke2r1", 1.29, None])
def test_parse_refuses(text):
    with pytest.raises(ValueError):
        parse_k3s_version(text)


def test_validate_wants_the_k3s_revision():
    assert validate_k3s_version("1.29.5+k3s1") == "v1.29.5+k3s1"
    with pytest.raises(ValueError, match="lacks the k3s revision"):
        validate_k3s_version("v1.29.5")


@pytest.mark.parametrize(
    ("current", "target", "refused"),
    [
        ("v1.29.5+k3s1", "v1.29.5+k3s1", None),
        ("v1.29.5+k3s1", "v1.29.6+k3s1", None),
        ("v1.29.5+k3s1", "v1.29.5+k3s2", None),
        ("v1.29.5+k3s1", "v1.30.2+k3s1", None),
        ("v1.29.5+k3s1", "v1.31.0+k3s1", "skips minor release(s) 1.30"),
        ("v1.28.1+k3s1", "v1.31.0+k3s1", "skips minor release(s) 1.29, 1.30"),
        ("v1.29.5+k3s1", "v1.29.4+k3s1", "do not downgrade"),
        ("v1.29.5+k3s2", "v1.29.5+k3s1", "do not downgrade"),
        ("v1.30.0+k3s1", "v1.29.9+k3s1", "do not downgrade"),
        ("v1.29.5+k3s1", "v2.0.0+k3s1", "changes the major release"),
    ],
)
def test_upgrade_step(current, target, refused):
    result = upgrade_step_error(current, target)
    if refused is None:
        assert result is None
    else:
        assert refused in result


@pytest.mark.parametrize(
    ("running", "target", "reached"),
    [
        ("v1.29.5+k3s1", "v1.29.5+k3s1", True),
        ("v1.29.6+k3s1", "v1.29.5+k3s1", False),
        ("", "v1.29.5+k3s1", False),
        (None, "v1.29.5+k3s1", False),
        ("garbage", "v1.29.5+k3s1", False),
    ],
)
def test_version_reached(running, target, reached):
    assert version_reached(running, target) is reached


def test_minor_of():
    assert minor_of("v1.29.5+k3s1") == "1.29"
