"""Image references: the one parser of `host[:port]/path/name[:tag][@digest]`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageReference:
    repository: str  # host[:port]/path/name
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, ref: str) -> ImageReference:
        """Split a reference. A colon after the last slash starts the tag; one before it
        belongs to the host's port. No validation: see `api.validation` for that."""
        name, _, digest = ref.partition("@")
        slash, colon = name.rfind("/"), name.rfind(":")
        if colon > slash:
            return cls(name[:colon], name[colon + 1 :], digest or None)
        return cls(name, None, digest or None)

    def with_tag(self, tag: str) -> str:
        return f"{self.repository}:{tag}"

    def with_digest(self, digest: str) -> str:
        return f"{self.repository}@{digest}"
