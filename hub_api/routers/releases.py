"""The signed release the devices update to (docs/operations.md, "Updating the fleet").

No token: a release is public code, and a device trusts it only for its Ed25519 signature, made off
the hub with a key the hub never holds. The hub serves what ``onestop release publish`` placed in its
data folder, nothing else.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from hub_api.app import HubDep
from hub_api.models import answer
from provisioning.release import FILE_RE, VERSION_RE, latest, releases_dir

router = APIRouter(prefix="/api/releases", tags=["releases"])


class ReleaseOut(BaseModel):
    """The latest published release."""

    version: str
    manifest: str = Field(description="manifest.json as signed (its exact text)")
    signature: str = Field(description="Ed25519 signature of the manifest's UTF-8 bytes, base64")


@router.get("/latest", response_model=ReleaseOut, responses={404: answer("no release is published")})
def latest_release(hub: HubDep) -> ReleaseOut:
    """The published release's manifest and signature; devices check both before fetching files."""
    pub = latest(hub.cfg.data_dir)
    if pub is None:
        raise HTTPException(404, "no release is published (onestop release publish)")
    return ReleaseOut.model_validate(pub.as_json())


@router.get(
    "/{version}/{file}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: answer("no such release file")},
)
def release_file(version: str, file: str, hub: HubDep) -> FileResponse:
    """One wheel of a published release (names as in its manifest)."""
    if not VERSION_RE.fullmatch(version) or not FILE_RE.fullmatch(file):
        raise HTTPException(404, "no such release file")
    path = releases_dir(hub.cfg.data_dir) / version / file
    if not path.is_file():
        raise HTTPException(404, "no such release file")
    return FileResponse(path, media_type="application/octet-stream")
