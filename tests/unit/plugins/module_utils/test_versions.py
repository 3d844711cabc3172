# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.versions import (
    STAGE_BETA,
    STAGE_RC,
    STAGE_RELEASE,
    compare_package_versions,
    compare_versions,
    format_version,
    parse_engine_version,
    select_package_version,
    upstream_of,
    validate_upstream,
    version_reached,
)


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("26.1.5", (26, 1, 5, STAGE_RELEASE, 0)),
        ("20.10.24+dfsg1", (20, 10, 24, STAGE_RELEASE, 0)),
        ("24.0.7-ce", (24, 0, 7, STAGE_RELEASE, 0)),
        ("17.03.0-ce", (17, 3, 0, STAGE_RELEASE, 0)),
        ("17.03.0-ce-rc1", (17, 3, 0, STAGE_RC, 1)),
        ("24.0.0-rc.1", (24, 0, 0, STAGE_RC, 1)),
        ("24.0.0-rc2", (24, 0, 0, STAGE_RC, 2)),
        ("20.10.0-beta1", (20, 10, 0, STAGE_BETA, 1)),
        ("v26.1.5", (26, 1, 5, STAGE_RELEASE, 0)),
        (" 27.5.1 ", (27, 5, 1, STAGE_RELEASE, 0)),
    ],
)
def test_parse_engine_version(reported, expected):
    assert parse_engine_version(reported) == expected


@pytest.mark.parametrize("bad", ["", "26.1", "latest", "26.1.5-1.el9", "26.1.5-dev", "26.1.5x", None, 26])
def test_parse_engine_version_rejects_unknown_forms(bad):
    with pytest.raises(ValueError, match="engine version"):
        parse_engine_version(bad)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("26.1.5", "9.0.0", 1),  # numeric, not lexical
        ("20.10.24+dfsg1", "20.10.24", 0),  # build metadata does not change the release
        ("24.0.7-ce", "24.0.7", 0),
        ("24.0.0-rc.1", "24.0.0", -1),  # a pre-release precedes its release
        ("24.0.0-beta1", "24.0.0-rc1", -1),
        ("25.0.0", "24.0.99", 1),
        ("26.1.4", "26.1.5", -1),
    ],
)
def test_compare_versions(left, right, expected):
    assert compare_versions(left, right) == expected
    assert compare_versions(right, left) == -expected


@pytest.mark.parametrize("text", ["26.1.5", "24.0.0-rc.1", "20.10.0-beta.1"])
def test_format_version_round_trips(text):
    assert format_version(parse_engine_version(text)) == text


@pytest.mark.parametrize(
    ("running", "target", "reached"),
    [
        ("26.1.5", "26.1.5", True),
        ("20.10.24+dfsg1", "20.10.24", True),
        ("24.0.7-ce", "24.0.7", True),
        ("26.1.4", "26.1.5", False),
        ("27.0.1", "26.1.5", False),  # newer is drift, not done
        ("26.1.5-rc.1", "26.1.5", False),
        (None, "26.1.5", False),  # engine not answering yet
        ("", "26.1.5", False),
    ],
)
def test_version_reached(running, target, reached):
    assert version_reached(running, target) is reached


def test_version_reached_validates_the_target():
    with pytest.raises(ValueError, match="upstream release"):
        version_reached("26.1.5", "26.1")


@pytest.mark.parametrize("good", ["26.1.5", "20.10.24", "17.03.0", " 26.1.5 "])
def test_validate_upstream_accepts_releases(good):
    assert validate_upstream(good) == good.strip()


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (26.1, "quote the upstream release in YAML"),
        ("26.1", "X.Y.Z"),
        ("latest", "X.Y.Z"),
        ("", "X.Y.Z"),
        (None, "X.Y.Z"),
        ("5:26.1.5-1~debian.12~bookworm", "whose release is 26.1.5"),
        ("26.1.5+dfsg1-9+b1", "whose release is 26.1.5"),
        ("24.0.0-rc.1", "pre-releases (24.0.0-rc.1) cannot be pinned"),
        ("v26.1.5", "X.Y.Z"),
    ],
)
def test_validate_upstream_explains_rejections(bad, fragment):
    with pytest.raises(ValueError, match="upstream release") as caught:
        validate_upstream(bad)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("package", "upstream"),
    [
        # Debian / Ubuntu docker.io
        ("20.10.24+dfsg1-1+deb12u1", "20.10.24"),
        ("26.1.5+dfsg1-9+b1", "26.1.5"),
        ("24.0.7-0ubuntu2~22.04.1", "24.0.7"),
        # docker-ce, current and 20.10-era spellings, and the 17.x/18.06 ones with the edition
        ("5:26.1.5-1~debian.12~bookworm", "26.1.5"),
        ("5:24.0.7-1~ubuntu.22.04~jammy", "24.0.7"),
        ("5:20.10.24~3-0~debian-bookworm", "20.10.24"),
        ("18.06.1~ce~3-0~debian", "18.06.1"),
        ("17.03.0~ce-0~debian-stretch", "17.03.0"),
        # EL / Fedora
        ("26.1.5-1.el9", "26.1.5"),
        ("3:26.1.5-1.el9", "26.1.5"),
        ("24.0.5-1.fc39", "24.0.5"),
        # plain, and pre-releases keep their marker
        ("26.1.5", "26.1.5"),
        ("5:24.0.0~rc.1-1~ubuntu.22.04~jammy", "24.0.0-rc.1"),
        ("5:20.10.0~beta1-0~debian-buster", "20.10.0-beta.1"),
    ],
)
def test_upstream_of(package, upstream):
    assert upstream_of(package) == upstream


@pytest.mark.parametrize("bad", ["", "latest", "5:", "26.1-1", "26.1.5x-1", None])
def test_upstream_of_rejects_non_versions(bad):
    with pytest.raises(ValueError, match="version"):
        upstream_of(bad)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("26.1.5+dfsg1-9+b1", "26.1.5+dfsg1-9", 1),  # binNMU rebuild is newer
        ("26.1.5+dfsg1-10", "26.1.5+dfsg1-9+b1", 1),  # numeric revision, not lexical
        ("1:1.0-1", "2.0-1", 1),  # epoch wins
        ("26.1.5-1~rc1", "26.1.5-1", -1),  # tilde sorts before the end
        ("26.1.5-1.el9", "26.1.5-2.el9", -1),
        ("3:26.1.5-1.el9", "26.1.5-1.el9", 1),
        ("5:26.1.5-1~debian.12~bookworm", "5:26.1.5-1~debian.12~bookworm", 0),
        ("1.0a-1", "1.0-1", 1),  # letters sort after the end
        ("1.0+x-1", "1.0a-1", 1),  # other characters sort after letters
        ("1.01-1", "1.1-1", 0),  # leading zeros are numerically equal
        ("1.0", "1.0-0", 0),  # a missing revision equals revision 0
    ],
)
def test_compare_package_versions(left, right, expected):
    assert compare_package_versions(left, right) == expected
    assert compare_package_versions(right, left) == -expected


DEBIAN = ["20.10.24+dfsg1-1+deb12u1", "26.1.5+dfsg1-9", "26.1.5+dfsg1-9+b1", "26.1.5+dfsg1-8"]
DOCKER_CE = [
    "5:24.0.7-1~ubuntu.22.04~jammy",
    "5:26.1.5-1~ubuntu.22.04~jammy",
    "5:26.1.4-1~ubuntu.22.04~jammy",
    "5:27.0.0~rc.1-1~ubuntu.22.04~jammy",
]
EL = ["26.1.5-1.el9", "3:26.1.5-1.el9", "26.1.4-1.el9", "26.1.50-1.el9"]


@pytest.mark.parametrize(
    ("upstream", "candidates", "expected"),
    [
        pytest.param("26.1.5", DEBIAN, "26.1.5+dfsg1-9+b1", id="debian-highest-revision"),
        pytest.param("20.10.24", DEBIAN, "20.10.24+dfsg1-1+deb12u1", id="debian-single"),
        pytest.param("24.0.7", DOCKER_CE, "5:24.0.7-1~ubuntu.22.04~jammy", id="docker-ce"),
        pytest.param("27.0.0", DOCKER_CE, None, id="pre-release-never-matches"),
        pytest.param("26.1.5", EL, "3:26.1.5-1.el9", id="el-epoch-wins"),
        pytest.param("26.1.5", ["garbage", "", "26.1.5-1.el9"], "26.1.5-1.el9", id="skips-garbage"),
        pytest.param("25.0.0", DEBIAN + DOCKER_CE, None, id="not-offered"),
        pytest.param("26.1.5", [], None, id="no-candidates"),
        pytest.param("26.1.5", iter(["26.1.5-1.el9"]), "26.1.5-1.el9", id="any-iterable"),
    ],
)
def test_select_package_version(upstream, candidates, expected):
    assert select_package_version(upstream, candidates) == expected


def test_select_package_version_validates_the_pin():
    with pytest.raises(ValueError, match="upstream release"):
        select_package_version("26.1", DEBIAN)
