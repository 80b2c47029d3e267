"""Kustomize layers of a release: an environment's overlay with the release's images."""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

# Image names used in deploy/k8s/base; a release layer replaces them with its references.
IMAGE_NAMES = ("hypercode-core", "hypercode-agent")
# deploy/k8s/overlays/<environment>, in the order a release goes through them.
ENVIRONMENTS = ("staging", "production")


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way kustomize's `images:` entries want it."""

    name: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, ref: str) -> "ImageRef":
        name, _, digest = ref.partition("@")
        repository, colon, tag = name.rpartition(":")
        # A colon before the last slash belongs to a registry port, not a tag.
        if not colon or "/" in tag:
            repository, tag = name, ""
        if not repository:
            raise ValueError(f"not an image reference: {ref!r}")
        return cls(name=repository, tag=tag or None, digest=digest or None)

    def kustomize_entry(self, original: str) -> dict[str, str]:
        entry = {"name": original, "newName": self.name}
        if self.tag:
            entry["newTag"] = self.tag
        if self.digest:
            entry["digest"] = self.digest
        return entry


def release_refs(tag: str, registry: str = "") -> dict[str, str]:
    """Where each image of a release lives: `<registry>/<name>:<tag>`, or a local name."""
    prefix = f"{registry.rstrip('/')}/" if registry else ""
    return {name: f"{prefix}{name}:{tag}" for name in IMAGE_NAMES}


def environment_overlay(k8s_root: str, environment: str) -> str:
    """The path of an environment's overlay under deploy/k8s (as given in k8s_root)."""
    if environment not in ENVIRONMENTS:
        raise ValueError(
            f"no environment {environment!r} in deploy/k8s/overlays: {', '.join(ENVIRONMENTS)}"
        )
    return f"{k8s_root.rstrip('/')}/overlays/{environment}"


def image_overlay(base: str, refs: Mapping[str, str]) -> str:
    """A kustomization.yaml (JSON is YAML) that uses `base` with the given images."""
    unknown = sorted(set(refs) - set(IMAGE_NAMES))
    if unknown:
        raise ValueError(f"no such image in deploy/k8s: {', '.join(unknown)}")
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [base],
        "images": [ImageRef.parse(ref).kustomize_entry(name) for name, ref in refs.items()],
    }
    return json.dumps(overlay, indent=2) + "\n"


def rendered_images(manifests: str) -> list[str]:
    """Every image the rendered manifests run, sorted, each once."""
    return sorted(set(re.findall(r"^\s*-?\s*image:\s*[\"']?([^\s\"']+)", manifests, re.M)))
