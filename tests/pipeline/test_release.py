"""Release helpers: image references, the kustomize overlay and the staging keys."""

import json

import pytest
from swarm_pipeline.decisions import ReportError
from swarm_pipeline.keys import ROLES, ephemeral_api_keys, keys_by_role
from swarm_pipeline.manifests import ImageRef, image_overlay, release_refs


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("hypercode-core", ImageRef("hypercode-core")),
        ("hypercode-core:abc", ImageRef("hypercode-core", "abc")),
        ("reg.local:5000/swarm/core", ImageRef("reg.local:5000/swarm/core")),
        ("reg.local:5000/swarm/core:v1", ImageRef("reg.local:5000/swarm/core", "v1")),
        ("reg/core:v1@sha256:ab", ImageRef("reg/core", "v1", "sha256:ab")),
    ],
)
def test_image_ref_split(ref: str, expected: ImageRef) -> None:
    assert ImageRef.parse(ref) == expected


def test_release_refs_with_and_without_registry() -> None:
    assert release_refs("abc") == {
        "hypercode-core": "hypercode-core:abc",
        "hypercode-agent": "hypercode-agent:abc",
    }
    assert (
        release_refs("abc", "reg:5000/swarm/")["hypercode-core"]
        == "reg:5000/swarm/hypercode-core:abc"
    )


def test_overlay_sets_every_image() -> None:
    overlay = json.loads(image_overlay("../k8s", release_refs("v2", "reg")))
    assert overlay["resources"] == ["../k8s"]
    assert overlay["images"] == [
        {"name": "hypercode-core", "newName": "reg/hypercode-core", "newTag": "v2"},
        {"name": "hypercode-agent", "newName": "reg/hypercode-agent", "newTag": "v2"},
    ]


def test_overlay_refuses_an_image_the_manifests_do_not_use() -> None:
    with pytest.raises(ValueError, match="no such image"):
        image_overlay("../k8s", {"nginx": "nginx:1"})


def test_ephemeral_keys_are_fresh_and_cover_every_role() -> None:
    first, second = ephemeral_api_keys(), ephemeral_api_keys()
    assert set(keys_by_role(first)) == set(ROLES)
    assert keys_by_role(first)["client"] != keys_by_role(second)["client"]
    assert all(len(entry["key"]) >= 16 for entry in json.loads(first))


def test_keys_by_role_takes_a_key_with_several_roles() -> None:
    api_keys = json.dumps([{"name": "ci", "key": "k" * 20, "roles": list(ROLES)}])
    assert keys_by_role(api_keys) == dict.fromkeys(ROLES, "k" * 20)


@pytest.mark.parametrize(
    "api_keys", ["nope", "{}", json.dumps([{"name": "c", "key": "k", "roles": ["client"]}])]
)
def test_keys_by_role_rejects_incomplete_keys(api_keys: str) -> None:
    with pytest.raises(ReportError):
        keys_by_role(api_keys)
