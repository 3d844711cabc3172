# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""swarm_preflight: argument_spec equals DOCUMENTATION; the measurements that need no host."""

from __future__ import annotations

import socket

import yaml
from ansible_collections.flotilla.cluster.plugins.modules import swarm_preflight
from test_module_docs import _from_docs, _from_spec


def test_argument_spec_matches_documentation():
    documented = yaml.safe_load(swarm_preflight.DOCUMENTATION)
    assert _from_spec(swarm_preflight.ARGUMENT_SPEC) == _from_docs(documented["options"])


def test_examples_use_only_documented_options():
    options = yaml.safe_load(swarm_preflight.DOCUMENTATION)["options"]
    for example in yaml.safe_load(swarm_preflight.EXAMPLES):
        assert set(example["flotilla.cluster.swarm_preflight"]) <= set(options)


def test_return_documents_every_result_key():
    returned = set(yaml.safe_load(swarm_preflight.RETURN))
    assert returned == {
        "host_time",
        "controller_time",
        "hostname",
        "addresses",
        "advertise",
        "firewall",
        "reachability",
        "disk",
        "swarm",
        "limits",
    }


def test_disk_is_measured_on_the_nearest_existing_parent(tmp_path):
    measured = swarm_preflight.disk(str(tmp_path / "not" / "yet" / "docker"))
    assert measured["measured_path"] == str(tmp_path)
    assert measured["free_mb"] > 0


def test_connect_tells_open_from_refused():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert swarm_preflight.connect("127.0.0.1", port, 2.0) == ("open", "")
    # the port was just released: nothing listens there now
    assert swarm_preflight.connect("127.0.0.1", port, 2.0)[0] == "refused"
