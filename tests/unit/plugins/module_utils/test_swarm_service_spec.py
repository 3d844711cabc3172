# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
from __future__ import annotations

import pytest
from ansible_collections.flotilla.cluster.plugins.module_utils.swarm_service_spec import (
    ENGINE_UPDATE_DEFAULTS,
    IMAGE_ID_LABEL,
    NANO,
    RESOLUTION_KEPT,
    RESOLUTION_LOCAL,
    RESOLUTION_PINNED,
    RESOLUTION_REGISTRY,
    RESOLUTION_UNRESOLVED,
    ImageResolution,
    References,
    SpecError,
    apply_options,
    changed_keys,
    format_duration,
    image_id_of,
    image_with_digest,
    monitor_seconds,
    new_service_spec,
    parse_cpus,
    parse_duration,
    parse_size,
    referenced_names,
    resolve_image,
    service_mode,
    spec_view,
    split_image,
    validate_options,
    view_diff,
)

DIGEST = "sha256:" + "a" * 64
NO_REFS = References(networks={}, secrets={}, configs={})


def existing_spec(**extra):
    spec = {
        "Name": "web",
        "Labels": {"team": "a"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": f"app:1@{DIGEST}", "Env": ["B=2", "A=1"], "Isolation": "default"},
            "ForceUpdate": 3,
            "Runtime": "container",
            "Placement": {"Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
        },
        "Mode": {"Replicated": {"Replicas": 3}},
        "EndpointSpec": {"Mode": "vip"},
    }
    spec.update(extra)
    return spec


# --- units ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5 * NANO),
        (0.5, NANO // 2),
        ("10", 10 * NANO),
        ("10s", 10 * NANO),
        ("1m30s", 90 * NANO),
        ("500ms", NANO // 2),
        ("1h", 3600 * NANO),
        ("250us", 250_000),
        ("7ns", 7),
        ("1.5s", 1_500_000_000),
    ],
)
def test_parse_duration(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["", "ten", "10x", "s10", "-5", -1, True, "10s junk"])
def test_parse_duration_rejects(value):
    with pytest.raises(SpecError, match="monitor"):
        parse_duration(value, "monitor")


@pytest.mark.parametrize(
    ("ns", "text"), [(0, "0s"), (5 * NANO, "5s"), (90 * NANO, "1m30s"), (NANO // 2, "500ms")]
)
def test_format_duration(ns, text):
    assert format_duration(ns) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1024, 1024), ("512m", 512 << 20), ("1g", 1 << 30), ("1GiB", 1 << 30), ("100k", 100 << 10), ("64", 64)],
)
def test_parse_size(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["lots", "-1", -5, True, "1x"])
def test_parse_size_rejects(value):
    with pytest.raises(SpecError):
        parse_size(value)


def test_parse_cpus():
    assert parse_cpus(0.5) == NANO // 2
    assert parse_cpus("2") == 2 * NANO
    with pytest.raises(SpecError):
        parse_cpus("two")
    with pytest.raises(SpecError):
        parse_cpus(-1)


# --- images --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("app", ("app", "", "")),
        ("app:1.2", ("app", "1.2", "")),
        ("registry:5000/team/app", ("registry:5000/team/app", "", "")),
        ("registry:5000/team/app:1.2", ("registry:5000/team/app", "1.2", "")),
        (f"app:1@{DIGEST}", ("app", "1", DIGEST)),
        (f"app@{DIGEST}", ("app", "", DIGEST)),
    ],
)
def test_split_image(reference, parts):
    assert split_image(reference) == parts


def test_image_with_digest_keeps_or_adds_the_tag():
    assert image_with_digest("app:1", DIGEST) == f"app:1@{DIGEST}"
    assert image_with_digest("registry:5000/app", DIGEST) == f"registry:5000/app:latest@{DIGEST}"


def lookups(digest=None, reason="", local=None):
    calls = []

    def registry():
        calls.append("registry")
        return digest, reason

    def local_lookup():
        calls.append("local")
        return local

    return registry, local_lookup, calls


def test_resolve_registry_digest_first():
    registry, local, calls = lookups(digest=DIGEST, local="sha256:l")
    resolution = resolve_image("app:1", "auto", registry, local)
    assert resolution.kind == RESOLUTION_REGISTRY
    assert resolution.image == f"app:1@{DIGEST}"
    assert calls == ["registry"]


def test_resolve_falls_back_to_local_image_id():
    registry, local, calls = lookups(reason="no registry reachable", local="sha256:l")
    resolution = resolve_image("busybox", "auto", registry, local)
    assert resolution == ImageResolution("busybox", "busybox", RESOLUTION_LOCAL, "sha256:l", resolution.note)
    assert "no registry reachable" in resolution.note
    assert calls == ["registry", "local"]


def test_resolve_local_mode_never_asks_the_registry():
    registry, local, calls = lookups(digest=DIGEST, local="sha256:l")
    assert resolve_image("app:1", "local", registry, local).kind == RESOLUTION_LOCAL
    assert calls == ["local"]


def test_resolve_pinned_and_none_touch_nothing():
    registry, local, calls = lookups(digest=DIGEST)
    assert resolve_image(f"app@{DIGEST}", "auto", registry, local).kind == RESOLUTION_PINNED
    assert resolve_image("app:1", "none", registry, local).kind == RESOLUTION_UNRESOLVED
    assert calls == []


def test_resolve_keeps_the_current_pin_when_the_registry_is_silent():
    registry, local, calls = lookups(reason="timeout", local="sha256:l")
    resolution = resolve_image("app:1", "auto", registry, local, current_image=f"app:1@{DIGEST}")
    assert resolution.kind == RESOLUTION_KEPT
    assert resolution.image == f"app:1@{DIGEST}"
    assert calls == ["registry"]
    # another tag is not kept
    registry, local, _ = lookups(reason="timeout", local="sha256:l")
    assert (
        resolve_image("app:2", "auto", registry, local, current_image=f"app:1@{DIGEST}").kind
        == RESOLUTION_LOCAL
    )


def test_resolve_registry_mode_requires_a_digest():
    registry, local, _ = lookups(reason="unauthorized")
    with pytest.raises(SpecError, match="unauthorized.*with_registry_auth"):
        resolve_image("app:1", "registry", registry, local)


def test_resolve_nowhere_says_what_to_do():
    registry, local, _ = lookups(reason="no route")
    with pytest.raises(SpecError, match="push it to a registry, or load it"):
        resolve_image("ghost:1", "auto", registry, local)


def test_resolve_rejects_bad_mode_and_empty_image():
    registry, local, _ = lookups()
    with pytest.raises(SpecError, match="image_resolution"):
        resolve_image("app", "sometimes", registry, local)
    with pytest.raises(SpecError, match="empty"):
        resolve_image(" ", "auto", registry, local)


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "current", "message"),
    [
        ({"name": "web"}, None, "image is required"),
        ({"image": "a", "mode": "global", "replicas": 2}, None, "replicas applies to replicated"),
        ({"image": "a", "replicas": -1}, None, "replicas must be >= 0"),
        ({"mode": "global"}, existing_spec(), "cannot change a service's mode"),
        ({"replicas": 2}, existing_spec(Mode={"Global": {}}), "cannot change a service's mode"),
        ({}, existing_spec(Mode={"ReplicatedJob": {}}), "does not manage"),
        (
            {
                "image": "a",
                "endpoint_mode": "dnsrr",
                "published_ports": [{"target_port": 80, "mode": "ingress"}],
            },
            None,
            "dnsrr cannot publish",
        ),
        (
            {"endpoint_mode": "dnsrr"},
            existing_spec(
                EndpointSpec={"Mode": "vip", "Ports": [{"TargetPort": 80, "PublishMode": "ingress"}]}
            ),
            "dnsrr cannot publish",
        ),
        ({"image": "a", "update_config": {"max_failure_ratio": 1.5}}, None, "between 0 and 1"),
    ],
)
def test_validate_options_refuses(options, current, message):
    with pytest.raises(SpecError, match=message):
        validate_options(options, current)


def test_validate_options_accepts_host_ports_with_dnsrr():
    validate_options(
        {"image": "a", "endpoint_mode": "dnsrr", "published_ports": [{"target_port": 80, "mode": "host"}]},
        None,
    )


# --- apply_options -------------------------------------------------------------------------------


def test_new_service_spec_carries_engine_defaults():
    spec = new_service_spec("web")
    assert spec["UpdateConfig"] == ENGINE_UPDATE_DEFAULTS
    assert spec["RollbackConfig"] == ENGINE_UPDATE_DEFAULTS
    assert spec["UpdateConfig"] is not spec["RollbackConfig"]
    assert service_mode(spec) == "replicated"


def test_apply_nothing_changes_nothing():
    spec = existing_spec()
    assert apply_options(spec, {}, NO_REFS, None) == dict(spec, Labels={"team": "a"})
    assert changed_keys(spec_view(spec), spec_view(apply_options(spec, {}, NO_REFS, None))) == []


def test_apply_does_not_mutate_its_input():
    spec = existing_spec()
    before = repr(spec)
    apply_options(spec, {"env": {"X": "1"}, "replicas": 1, "force": True}, NO_REFS, None)
    assert repr(spec) == before


def test_apply_keeps_engine_fields_without_options():
    new = apply_options(existing_spec(), {"placement": {"constraints": ["node.role==worker"]}}, NO_REFS, None)
    task = new["TaskTemplate"]
    assert task["Runtime"] == "container"
    assert task["ContainerSpec"]["Isolation"] == "default"
    assert task["Placement"] == {
        "Platforms": [{"Architecture": "amd64", "OS": "linux"}],
        "Constraints": ["node.role==worker"],
    }


def test_apply_update_config_merges_into_current_values():
    current = {
        "Parallelism": 3,
        "Delay": 0,
        "FailureAction": "rollback",
        "Monitor": 9 * NANO,
        "MaxFailureRatio": 0.5,
        "Order": "start-first",
    }
    new = apply_options(
        existing_spec(UpdateConfig=current), {"update_config": {"delay": "2s"}}, NO_REFS, None
    )
    assert new["UpdateConfig"] == dict(current, Delay=2 * NANO)


def test_apply_update_config_on_a_service_without_one_starts_from_engine_defaults():
    # Without this, setting only the delay would send parallelism 0 (all at once).
    new = apply_options(existing_spec(), {"rollback_config": {"order": "start-first"}}, NO_REFS, None)
    assert new["RollbackConfig"] == dict(ENGINE_UPDATE_DEFAULTS, Order="start-first")
    assert "UpdateConfig" not in new


def test_apply_update_config_all_fields():
    options = {
        "parallelism": 0,
        "delay": 1,
        "failure_action": "continue",
        "monitor": "1m",
        "max_failure_ratio": 0.1,
        "order": "start-first",
    }
    new = apply_options(new_service_spec("web"), {"update_config": options}, NO_REFS, None)
    assert new["UpdateConfig"] == {
        "Parallelism": 0,
        "Delay": NANO,
        "FailureAction": "continue",
        "Monitor": 60 * NANO,
        "MaxFailureRatio": 0.1,
        "Order": "start-first",
    }


def test_apply_container_options():
    options = {
        "command": ["/bin/app"],
        "args": ["--port", 8080],
        "env": {"B": "2", "A": 1, "EMPTY": None},
        "container_labels": {"tier": "web"},
    }
    container = apply_options(existing_spec(), options, NO_REFS, None)["TaskTemplate"]["ContainerSpec"]
    assert container["Command"] == ["/bin/app"]
    assert container["Args"] == ["--port", "8080"]
    assert container["Env"] == ["A=1", "B=2", "EMPTY="]
    assert container["Labels"] == {"tier": "web"}


def test_apply_empty_lists_remove_the_override():
    spec = existing_spec()
    spec["TaskTemplate"]["ContainerSpec"]["Command"] = ["x"]
    container = apply_options(spec, {"command": [], "env": {}}, NO_REFS, None)["TaskTemplate"][
        "ContainerSpec"
    ]
    assert "Command" not in container and "Env" not in container


def test_apply_mode_and_replicas():
    assert apply_options(existing_spec(), {"replicas": 5}, NO_REFS, None)["Mode"] == {
        "Replicated": {"Replicas": 5}
    }
    assert apply_options(existing_spec(), {}, NO_REFS, None)["Mode"] == {"Replicated": {"Replicas": 3}}
    assert apply_options(new_service_spec("w"), {"mode": "global"}, NO_REFS, None)["Mode"] == {"Global": {}}


def test_apply_resources_merge_per_field():
    spec = existing_spec()
    spec["TaskTemplate"]["Resources"] = {"Limits": {"NanoCPUs": NANO, "MemoryBytes": 1 << 30}}
    options = {
        "resources": {
            "limits": {"cpus": 0.5, "memory": None, "pids": 100},
            "reservations": {"cpus": None, "memory": "256m"},
        }
    }
    resources = apply_options(spec, options, NO_REFS, None)["TaskTemplate"]["Resources"]
    assert resources == {
        "Limits": {"NanoCPUs": NANO // 2, "MemoryBytes": 1 << 30, "Pids": 100},
        "Reservations": {"MemoryBytes": 256 << 20},
    }


def test_apply_healthcheck():
    options = {
        "healthcheck": {
            "test": "curl -f http://localhost/",
            "interval": "5s",
            "retries": 3,
            "start_period": 10,
            "timeout": None,
            "start_interval": None,
            "disable": False,
        }
    }
    health = apply_options(existing_spec(), options, NO_REFS, None)["TaskTemplate"]["ContainerSpec"][
        "Healthcheck"
    ]
    assert health == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/"],
        "Interval": 5 * NANO,
        "Retries": 3,
        "StartPeriod": 10 * NANO,
    }
    listed = apply_options(existing_spec(), {"healthcheck": {"test": ["wget", "-q"]}}, NO_REFS, None)
    assert listed["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"] == ["CMD", "wget", "-q"]
    disabled = apply_options(existing_spec(), {"healthcheck": {"disable": True}}, NO_REFS, None)
    assert disabled["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == {"Test": ["NONE"]}


def test_apply_restart_policy_and_placement():
    options = {
        "restart_policy": {"condition": "on-failure", "delay": "5s", "max_attempts": 3, "window": None},
        "placement": {"constraints": None, "preferences": ["node.labels.zone"], "max_replicas": 2},
    }
    task = apply_options(existing_spec(), options, NO_REFS, None)["TaskTemplate"]
    assert task["RestartPolicy"] == {"Condition": "on-failure", "Delay": 5 * NANO, "MaxAttempts": 3}
    assert task["Placement"]["Preferences"] == [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]
    assert task["Placement"]["MaxReplicas"] == 2
    assert task["Placement"]["Platforms"]  # kept


def test_apply_networks_by_id_keep_aliases_and_drop_the_deprecated_field():
    spec = existing_spec(Networks=[{"Target": "net-old"}])
    spec["TaskTemplate"]["Networks"] = [{"Target": "net-a", "Aliases": ["api"]}]
    refs = References(networks={"front": "net-a", "back": "net-b"}, secrets={}, configs={})
    new = apply_options(spec, {"networks": ["front", "back"]}, refs, None)
    assert new["TaskTemplate"]["Networks"] == [{"Target": "net-a", "Aliases": ["api"]}, {"Target": "net-b"}]
    assert "Networks" not in new


def test_apply_unlooked_up_reference_is_a_bug_report():
    with pytest.raises(SpecError, match="network 'front' was not looked up"):
        apply_options(existing_spec(), {"networks": ["front"]}, NO_REFS, None)


def test_apply_ports_mounts_secrets_configs():
    refs = References(networks={}, secrets={"db": "sec-1"}, configs={"conf": "cfg-1"})
    options = {
        "endpoint_mode": "vip",
        "published_ports": [
            {"target_port": 80, "published_port": 8080, "protocol": "tcp", "mode": "host"},
            {"target_port": 53, "published_port": None, "protocol": "udp", "mode": "ingress"},
        ],
        "mounts": [
            {"target": "/data", "source": "data", "type": "volume", "readonly": True},
            {"target": "/tmp", "source": None, "type": "tmpfs", "readonly": False},
        ],
        "secrets": [{"name": "db", "target": None, "uid": None, "gid": None, "mode": 0o400}],
        "configs": [{"name": "conf", "target": "/etc/app.conf", "uid": "1000", "gid": "1000", "mode": None}],
    }
    new = apply_options(existing_spec(), options, refs, None)
    assert new["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishMode": "host", "PublishedPort": 8080},
        {"Protocol": "udp", "TargetPort": 53, "PublishMode": "ingress"},
    ]
    container = new["TaskTemplate"]["ContainerSpec"]
    assert container["Mounts"] == [
        {"Type": "volume", "Target": "/data", "Source": "data", "ReadOnly": True},
        {"Type": "tmpfs", "Target": "/tmp", "ReadOnly": False},
    ]
    assert container["Secrets"] == [
        {
            "SecretID": "sec-1",
            "SecretName": "db",
            "File": {"Name": "db", "UID": "0", "GID": "0", "Mode": 0o400},
        }
    ]
    assert container["Configs"] == [
        {
            "ConfigID": "cfg-1",
            "ConfigName": "conf",
            "File": {"Name": "/etc/app.conf", "UID": "1000", "GID": "1000", "Mode": 0o444},
        }
    ]


def test_apply_force_bumps_force_update():
    assert apply_options(existing_spec(), {"force": True}, NO_REFS, None)["TaskTemplate"]["ForceUpdate"] == 4


def test_image_id_label_follows_a_local_resolution():
    local = ImageResolution("app:1", "app:1", RESOLUTION_LOCAL, "sha256:l")
    new = apply_options(existing_spec(), {"image": "app:1"}, NO_REFS, local)
    assert new["TaskTemplate"]["ContainerSpec"]["Image"] == "app:1"
    assert new["TaskTemplate"]["ContainerSpec"]["Labels"] == {IMAGE_ID_LABEL: "sha256:l"}
    assert new["Labels"] == {"team": "a", IMAGE_ID_LABEL: "sha256:l"}
    assert image_id_of(new) == "sha256:l"


def test_image_id_label_is_dropped_for_a_registry_digest():
    spec = existing_spec(Labels={IMAGE_ID_LABEL: "sha256:l"})
    spec["TaskTemplate"]["ContainerSpec"]["Labels"] = {IMAGE_ID_LABEL: "sha256:l", "x": "1"}
    digest = ImageResolution("app:2", f"app:2@{DIGEST}", RESOLUTION_REGISTRY)
    new = apply_options(spec, {"image": "app:2"}, NO_REFS, digest)
    assert new["Labels"] == {}
    assert new["TaskTemplate"]["ContainerSpec"]["Labels"] == {"x": "1"}


def test_image_id_label_survives_label_options_when_the_image_is_not_resolved():
    spec = existing_spec(Labels={IMAGE_ID_LABEL: "sha256:l"})
    spec["TaskTemplate"]["ContainerSpec"]["Labels"] = {IMAGE_ID_LABEL: "sha256:l"}
    new = apply_options(spec, {"labels": {"team": "b"}, "container_labels": {}}, NO_REFS, None)
    assert new["Labels"] == {"team": "b", IMAGE_ID_LABEL: "sha256:l"}
    assert new["TaskTemplate"]["ContainerSpec"]["Labels"] == {IMAGE_ID_LABEL: "sha256:l"}


# --- views and diffs -----------------------------------------------------------------------------


def test_view_is_order_free():
    one = existing_spec()
    two = existing_spec()
    two["TaskTemplate"]["ContainerSpec"]["Env"] = ["A=1", "B=2"]
    one["TaskTemplate"]["Placement"]["Constraints"] = ["a==1", "b==2"]
    two["TaskTemplate"]["Placement"]["Constraints"] = ["b==2", "a==1"]
    assert changed_keys(spec_view(one), spec_view(two)) == []


def test_view_reads_engine_omissions_as_defaults():
    view = spec_view(existing_spec())
    assert view["update_config"] == {
        "parallelism": 1,
        "delay": 0,
        "failure_action": "pause",
        "monitor": 5 * NANO,
        "max_failure_ratio": 0.0,
        "order": "stop-first",
    }
    assert view["restart_policy"]["condition"] == "any"
    assert view["endpoint_mode"] == "vip"
    assert view["published_ports"] == []
    assert view["replicas"] == 3
    assert spec_view(None) == {}


def test_view_of_a_present_update_block_reads_missing_fields_as_zero():
    # The API omits zero Delay/Monitor; a present block with them missing means zero, not default.
    view = spec_view(
        existing_spec(UpdateConfig={"Parallelism": 2, "MaxFailureRatio": 0, "Order": "stop-first"})
    )
    assert view["update_config"]["delay"] == 0
    assert view["update_config"]["monitor"] == 0
    assert view["update_config"]["parallelism"] == 2


def test_view_reads_the_deprecated_networks_field():
    assert spec_view(existing_spec(Networks=[{"Target": "n1"}]))["networks"] == ["n1"]


def test_global_view_has_no_replicas():
    view = spec_view(existing_spec(Mode={"Global": {}}))
    assert view["mode"] == "global" and view["replicas"] is None


def test_view_diff_lists_changed_keys_only():
    before = spec_view(existing_spec())
    after = spec_view(apply_options(existing_spec(), {"replicas": 4}, NO_REFS, None))
    assert changed_keys(before, after) == ["replicas"]
    assert view_diff(before, after) == {"before": {"replicas": 3}, "after": {"replicas": 4}}
    assert view_diff({}, after, ["replicas"]) == {"before": {}, "after": {"replicas": 4}}


def test_referenced_names():
    options = {"networks": ["a"], "secrets": [{"name": "s"}], "configs": [{"name": "c"}, {"name": "d"}]}
    assert referenced_names(options) == (["a"], ["s"], ["c", "d"])
    assert referenced_names({}) == ([], [], [])


def test_monitor_seconds():
    assert monitor_seconds(existing_spec()) == 5.0
    assert monitor_seconds(existing_spec(UpdateConfig={"Monitor": 15 * NANO})) == 15.0
    assert monitor_seconds(existing_spec(RollbackConfig={"Monitor": 2 * NANO}), "RollbackConfig") == 2.0
    assert monitor_seconds(existing_spec(UpdateConfig={"Parallelism": 1})) == 0.0


def test_image_id_of_without_labels():
    assert image_id_of(None) == ""
    assert image_id_of(existing_spec()) == ""
    assert image_id_of(existing_spec(Labels={IMAGE_ID_LABEL: "sha256:s"})) == "sha256:s"
