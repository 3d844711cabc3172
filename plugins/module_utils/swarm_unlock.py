# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""What to do about an autolocked swarm before and after a manager's engine restarts.

With autolock, a manager whose engine starts again is ``locked``: it holds the cluster's Raft data
encrypted and takes part in nothing until someone gives it the unlock key. The rolling upgrade
restarts every manager, so it needs the key the swarm role keeps on the controller
(``swarm_unlock_key_dest``), and it must find out BEFORE the first drain that the key it has is the
swarm's current one (``docker swarm unlock-key --rotate`` changes it): otherwise the first manager
it restarts stays locked and drained.

Pure: the module reads the engine and passes what it saw. Python 3.9 syntax. The key itself never
leaves this decision: messages name where the key comes from, never the key.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

STATE_LOCKED = "locked"
STATE_ACTIVE = "active"


@dataclass(frozen=True)
class UnlockDecision:
    """``action``: unlock (a locked node, key given), none, or refuse (message says what to do)."""

    action: str
    message: str
    autolock: bool | None = None


def how_to_provide(key_source: str) -> str:
    where = key_source or "the file swarm_unlock_key_dest names"
    return (
        f"put the swarm's current unlock key in {where} on the controller (mode 0600): on an unlocked "
        "manager, `docker swarm unlock-key -q` prints it; set swarm_unlock_key_dest to that file"
    )


def keys_match(given: str, current: str) -> bool:
    """Compare in constant time, ignoring surrounding white space (the file ends with a newline)."""
    return hmac.compare_digest((given or "").strip().encode(), (current or "").strip().encode())


def decide(
    local_state: str,
    is_manager: bool,
    key: str,
    key_source: str = "",
    autolock: bool | None = None,
    current_key: str | None = None,
) -> UnlockDecision:
    """Decide from this node's Swarm state (``docker info``) and, on an active manager, the
    swarm's autolock setting and current key.

    * a locked node: unlock it with ``key``; without a key, refuse saying how to provide one;
    * an active manager of an autolocked swarm: the key must be the current one, or the upgrade
      would leave the first restarted manager locked; refuse before anything changes;
    * anything else (a worker, a swarm without autolock): nothing to do.
    """
    key = (key or "").strip()
    if local_state == STATE_LOCKED:
        if not key:
            return UnlockDecision(
                "refuse",
                "this manager is locked (the swarm uses autolock) and no unlock key was given: "
                + how_to_provide(key_source),
                True,
            )
        source = key_source or "the caller"
        return UnlockDecision("unlock", f"unlocking this manager with the key from {source}", True)
    if local_state != STATE_ACTIVE:
        return UnlockDecision(
            "refuse", f"this node's swarm state is {local_state or 'unknown'}, not active or locked", autolock
        )
    if not is_manager or not autolock:
        return UnlockDecision("none", "nothing to unlock" + ("" if is_manager else " (a worker)"), autolock)
    if not key:
        return UnlockDecision(
            "refuse",
            "the swarm uses autolock, so every manager the upgrade restarts comes back locked, and no "
            "unlock key was given: " + how_to_provide(key_source),
            True,
        )
    if current_key is None or not keys_match(key, current_key):
        return UnlockDecision(
            "refuse",
            f"the unlock key in {key_source or 'the given file'} is not this swarm's current unlock key "
            "(was it rotated?), so a restarted manager could not be unlocked: " + how_to_provide(key_source),
            True,
        )
    return UnlockDecision("none", "the swarm uses autolock and the unlock key matches", True)
