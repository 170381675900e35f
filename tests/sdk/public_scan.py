"""A public asset whose attachments are scanned, read without a token, as DataTrails'
`execpublicassets` functest reads it, driven by the official DataTrails SDK.

Run by tests/api/sdk.rs against a live attachd that scans with clamd:
    python public_scan.py URL CLIENT_ID CLIENT_SECRET SIGNATURE
Any failed check raises, so a non-zero exit fails the Rust test.
"""

import sys
import tempfile
import time
from pathlib import Path

from archivist.archivist import Archivist

# The EICAR anti-virus test string: harmless, and what every scanner is built to find.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def scanned(public, public_url, blob):
    """The attachment's public info once a scan has judged it (clamd looks every second)."""
    deadline = time.monotonic() + 30
    while True:
        info = public.assetattachments.info(public_url, blob)
        if info["scanned_timestamp"] or time.monotonic() > deadline:
            return info
        time.sleep(0.2)


def main(url, client_id, client_secret, signature):
    arch = Archivist(url, (client_id, client_secret), max_time=30)
    with tempfile.TemporaryDirectory() as tmp:
        clean, infected = Path(tmp, "telephone.jpg"), Path(tmp, "eicar.com")
        clean.write_bytes(b"\xff\xd8\xff\xe0 a telephone " * 100)
        infected.write_bytes(b"prefix " + EICAR)
        asset, existed = arch.assets.create_if_not_exists(
            {
                "selector": [{"attributes": ["arc_display_name", "arc_namespace"]}],
                "behaviours": ["RecordEvidence"],
                "attributes": {
                    "arc_display_name": "Telephone with 2 attachments - one bad",
                    "arc_namespace": str(time.time_ns()),
                    "arc_display_type": "Telephone",
                },
                "attachments": [
                    {"filename": str(clean), "content_type": "image/jpg", "attachment": "telephone"},
                    {"filename": str(infected), "content_type": "application/octet-stream", "attachment": "zipfile"},
                ],
                "public": True,
            },
            confirm=True,
        )
        check(not existed, "a new asset")

    public_url = arch.assets.publicurl(asset["identity"])
    public = arch.Public
    for name, status in (("telephone", "SCANNED_OK"), ("zipfile", "SCANNED_BAD")):
        blob = asset["attributes"][name]["arc_blob_identity"]
        info = scanned(public, public_url, blob)
        check(info["scanned_timestamp"], f"{name} was never scanned: {info}")
        check(info["scanned_status"] == status, f"{name}: {info}")
        # The field DataTrails' functest reads, beside scanned_bad_reason.
        check(info["scanned_reason"] == info["scanned_bad_reason"], f"{name}: {info}")
        if status == "SCANNED_BAD":
            check(signature in info["scanned_reason"], f"{name} names no signature: {info}")
    print("sdk public scan ok")


if __name__ == "__main__":
    main(*sys.argv[1:5])
