# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_unlock import decide, keys_match

KEY = "SWMKEY-1-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OTHER = "SWMKEY-1-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"


@pytest.mark.parametrize(
    ("state", "manager", "key", "autolock", "current", "action", "words"),
    [
        ("locked", False, KEY, None, None, "unlock", "unlocking"),
        ("locked", False, "", None, None, "refuse", "no unlock key was given"),
        ("active", True, KEY, True, KEY, "none", "matches"),
        ("active", True, KEY + "\n", True, KEY, "none", "matches"),  # the file's newline
        ("active", True, OTHER, True, KEY, "refuse", "not this swarm's current unlock key"),
        ("active", True, "", True, KEY, "refuse", "no unlock key was given"),
        ("active", True, "", False, None, "none", "nothing to unlock"),
        ("active", True, KEY, False, None, "none", "nothing to unlock"),
        ("active", False, "", None, None, "none", "a worker"),
        ("inactive", False, KEY, None, None, "refuse", "not active or locked"),
    ],
)
def test_decide(state, manager, key, autolock, current, action, words):
    decision = decide(state, manager, key, "/ctl/unlock.key", autolock, current)
    assert decision.action == action
    assert words in decision.message
    # the key is never part of what the operator reads
    assert KEY not in decision.message and OTHER not in decision.message
    if action == "refuse" and state != "inactive":
        assert "/ctl/unlock.key" in decision.message and "docker swarm unlock-key -q" in decision.message


@pytest.mark.parametrize(
    ("given", "current", "same"),
    [(KEY, KEY, True), (f" {KEY}\n", KEY, True), (OTHER, KEY, False), ("", KEY, False), ("", "", True)],
)
def test_keys_match(given, current, same):
    assert keys_match(given, current) is same
