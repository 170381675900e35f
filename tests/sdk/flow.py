"""The attachment flows of the seed documents, driven by the official DataTrails SDK.

Run by tests/api/sdk.rs against a live attachd:
    python flow.py URL CLIENT_ID CLIENT_SECRET
Any failed check raises, so a non-zero exit fails the Rust test.
"""

import hashlib
import io
import os
import sys

from archivist.archivist import Archivist
from archivist.archivistpublic import ArchivistPublic


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main(url, client_id, client_secret):
    arch = Archivist(url, (client_id, client_secret), max_time=30)

    # Blobs: upload, info, download.
    content = os.urandom(300_000)
    blob = arch.attachments.upload(io.BytesIO(content), mtype="image/jpeg")
    digest = hashlib.sha256(content).hexdigest()
    check(blob["hash"] == {"alg": "SHA256", "value": digest}, f"upload hash {blob['hash']}")
    check(blob["mime_type"] == "image/jpeg", f"mime {blob['mime_type']}")
    info = arch.attachments.info(blob["identity"])
    check(info["size"] == len(content), f"info size {info}")
    sink = io.BytesIO()
    arch.attachments.download(blob["identity"], sink)
    check(sink.getvalue() == content, "blob download differs")

    def attachment(b, name):
        return {
            "arc_attribute_type": "arc_attachment",
            "arc_blob_identity": b["identity"],
            "arc_blob_hash_alg": b["hash"]["alg"],
            "arc_blob_hash_value": b["hash"]["value"],
            "arc_file_name": name,
            "arc_display_name": name,
        }

    # An asset created with an attachment, confirmed.
    asset = arch.assets.create(
        attrs={
            "arc_display_name": "Scene of the cat",
            "arc_display_type": "Scene",
            "arc_attachments": [attachment(blob, "cat.jpg")],
        },
        confirm=True,
    )
    check(asset["confirmation_status"] == "CONFIRMED", f"asset {asset}")

    # An event with two attachments, confirmed.
    second = arch.attachments.upload(io.BytesIO(b"security report"), mtype="application/pdf")
    event = arch.events.create(
        asset["identity"],
        props={"operation": "Record", "behaviour": "RecordEvidence"},
        attrs={
            "arc_description": "Conformance approved",
            "conformance_report": attachment(blob, "conformance.jpg"),
            "security_report": attachment(second, "security.pdf"),
        },
        confirm=True,
    )
    check(event["confirmation_status"] == "CONFIRMED", f"event {event}")
    # The asset's creation (NewAsset), then this one, as DataTrails counts them.
    check(arch.events.count(asset_id=asset["identity"]) == 2, "event count")

    # Attachments through the asset and through the event.
    for identity, b, data in (
        (asset["identity"], blob, content),
        (event["identity"], blob, content),
        (event["identity"], second, b"security report"),
    ):
        sink = io.BytesIO()
        arch.assetattachments.download(identity, b["identity"], sink)
        check(sink.getvalue() == data, f"attachment download differs via {identity}")
        info = arch.assetattachments.info(identity, b["identity"])
        check(info["hash"]["value"] == b["hash"]["value"], f"attachment info via {identity}")
    check(arch.assets.count(attrs={"arc_display_type": "Scene"}) == 1, "asset count by attribute")

    # The public asset flow: no token at all.
    public_asset = arch.assets.create(
        attrs={"arc_display_name": "Public", "arc_attachments": [attachment(blob, "cat.jpg")]},
        props={"public": True},
        confirm=True,
    )
    public_url = arch.assets.publicurl(public_asset["identity"])
    public = ArchivistPublic()
    read = public.assets.read(public_url)
    check(read["identity"] == public_asset["identity"], f"public read {read}")
    sink = io.BytesIO()
    public.assetattachments.download(public_url, blob["identity"], sink)
    check(sink.getvalue() == content, "public attachment download differs")
    # Tracking: StopTracking hides an asset from default lists; the tracked prop chooses.
    tracked = arch.assets.create(
        attrs={"arc_display_name": "Tracked", "arc_display_type": "Tracking"}, confirm=True
    )
    arch.events.create(
        tracked["identity"],
        props={"operation": "StopTracking", "behaviour": "Builtin"},
        attrs={"arc_description": "taken out of service"},
        confirm=True,
    )
    check(arch.assets.read(tracked["identity"])["tracked"] == "NOT_TRACKED", "stopped tracking")
    tracking = {"arc_display_type": "Tracking"}
    check(arch.assets.count(attrs=tracking) == 0, "untracked hidden by default")
    check(arch.assets.count(props={"tracked": "NOT_TRACKED"}, attrs=tracking) == 1, "NOT_TRACKED")
    listed = list(arch.assets.list(props={"tracked": "ANY"}, attrs=tracking))
    check([a["identity"] for a in listed] == [tracked["identity"]], "ANY lists it")
    print("sdk flow ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
