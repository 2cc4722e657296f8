"""skopeo's answers read by whole words: a digest in the message is not a status code."""

from __future__ import annotations

from mosb_controller.cluster.imagecheck import classify
from mosb_controller.planning.observed import RegistryAnswer

DIGEST = "sha256:0670b3ef26eee68e697d5c4f9c1eb7b195d0eb2fa4113f5a4019e0745ae3d404"


def test_a_digest_holding_404_is_not_an_absent_image() -> None:
    said = f"reading manifest {DIGEST} in r.io/ocl/w: received unexpected HTTP status: 500"
    assert classify(1, b"", said).state == RegistryAnswer.UNKNOWN


def test_manifest_unknown_and_a_404_are_absent() -> None:
    assert classify(1, b"", "manifest unknown: manifest unknown").state == RegistryAnswer.ABSENT
    said = "fetching tags list: invalid status code from registry 404 (Not Found)"
    assert classify(1, b"", said).state == RegistryAnswer.ABSENT
