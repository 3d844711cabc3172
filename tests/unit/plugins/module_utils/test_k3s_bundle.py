from __future__ import annotations

import hashlib

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.k3s_bundle import (
    bundle_arch,
    check_bundle,
    files_to_copy,
    parse_sums,
    versions_in,
)

BIN = b"\x7fELF not a program: test bytes with v1.29.5+k3s1 inside"
IMG = b"images"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sums_text(**files: bytes) -> str:
    return "".join(f"{sha(data)}  {name}\n" for name, data in files.items())


def test_parse_sums_reads_upstream_lines_and_binary_marker():
    text = f"{'a' * 64}  k3s\n{'B' * 64} *k3s-airgap-images-amd64.tar.zst\n\n"
    assert parse_sums(text) == {"k3s": "a" * 64, "k3s-airgap-images-amd64.tar.zst": "b" * 64}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("xyz  k3s\n", "line 1 is not"),
        (f"{'a' * 64}  k3s\n{'b' * 64}  k3s\n", "twice with different digests"),
    ],
)
def test_parse_sums_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_sums(text)


@pytest.mark.parametrize(("machine", "arch"), [("x86_64", "amd64"), ("aarch64", "arm64"), ("armv7l", "arm")])
def test_bundle_arch(machine, arch):
    assert bundle_arch(machine) == arch


def test_bundle_arch_unknown():
    with pytest.raises(ValueError, match="s390x"):
        bundle_arch("s390x")


@pytest.mark.parametrize(
    ("names", "arches", "chosen", "error"),
    [
        (
            ["k3s", "k3s-airgap-images-amd64.tar", "k3s-airgap-images-amd64.tar.zst", "sha256sum-amd64.txt"],
            ["amd64"],
            {
                "amd64": {
                    "sums": "sha256sum-amd64.txt",
                    "binary": "k3s",
                    "images": "k3s-airgap-images-amd64.tar.zst",
                }
            },
            None,
        ),
        (
            ["k3s-arm64", "k3s-airgap-images-arm64.tar.gz", "sha256sum-arm64.txt"],
            ["arm64"],
            {
                "arm64": {
                    "sums": "sha256sum-arm64.txt",
                    "binary": "k3s-arm64",
                    "images": "k3s-airgap-images-arm64.tar.gz",
                }
            },
            None,
        ),
        (
            ["k3s", "k3s-airgap-images-amd64.tar", "sha256sum-amd64.txt"],
            ["arm64"],
            {},
            "lacks sha256sum-arm64.txt, k3s-arm64, k3s-airgap-images-arm64.tar (or .tar.gz / .tar.zst) "
            "for arm64 "
            "hosts (it has checksum files for: amd64)",
        ),
        (["k3s", "sha256sum-amd64.txt"], ["amd64"], {}, "lacks k3s-airgap-images-amd64.tar"),
        (["k3s-airgap-images-amd64.tar", "sha256sum-amd64.txt"], ["amd64"], {}, "lacks k3s for amd64"),
    ],
)
def test_files_to_copy(names, arches, chosen, error):
    found, errors = files_to_copy(names, arches)
    assert found == chosen
    if error:
        assert len(errors) == 1 and error in errors[0]
    else:
        assert errors == []


def _chosen():
    return {
        "amd64": {"sums": "sha256sum-amd64.txt", "binary": "k3s", "images": "k3s-airgap-images-amd64.tar"}
    }


def test_check_bundle_accepts_matching_files():
    sums = {"sha256sum-amd64.txt": sums_text(**{"k3s": BIN, "k3s-airgap-images-amd64.tar": IMG})}
    digests = {"k3s": sha(BIN), "k3s-airgap-images-amd64.tar": sha(IMG)}
    artifacts, errors = check_bundle(_chosen(), sums, digests, {"k3s": ["v1.29.5+k3s1"]}, "v1.29.5+k3s1")
    assert errors == []
    assert artifacts["amd64"]["binary_sha256"] == sha(BIN)
    assert artifacts["amd64"]["version"] == "v1.29.5+k3s1"


@pytest.mark.parametrize(
    ("digests", "sums", "versions", "expected", "message"),
    [
        (
            {"k3s": sha(b"other")},
            None,
            ["v1.29.5+k3s1"],
            "v1.29.5+k3s1",
            "k3s does not match sha256sum-amd64.txt",
        ),
        (None, {"k3s-airgap-images-amd64.tar": IMG}, ["v1.29.5+k3s1"], "v1.29.5+k3s1", "k3s is not listed"),
        (
            None,
            None,
            ["v1.30.1+k3s1"],
            "v1.29.5+k3s1",
            "is k3s v1.30.1+k3s1, but k3s_version is v1.29.5+k3s1",
        ),
        (None, None, [], "v1.29.5+k3s1", "carries no k3s release string"),
    ],
)
def test_check_bundle_refuses(digests, sums, versions, expected, message):
    files = sums or {"k3s": BIN, "k3s-airgap-images-amd64.tar": IMG}
    sums_texts = {"sha256sum-amd64.txt": sums_text(**files)}
    computed = {"k3s": sha(BIN), "k3s-airgap-images-amd64.tar": sha(IMG), **(digests or {})}
    _artifacts, errors = check_bundle(_chosen(), sums_texts, computed, {"k3s": versions}, expected)
    assert any(message in e for e in errors), errors


def test_versions_in_finds_a_string_split_across_chunks():
    data = b"x" * 100 + b"v1.29.5+k3s1" + b"y" * 10 + b"v1.29.5-k3s1 (kubernetes fork, dash)"
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert versions_in(chunks) == ["v1.29.5+k3s1"]
