"""Sharing between two tenants, driven by the official DataTrails SDK.

Run by tests/api/sdk.rs against a live attachd:
    python sharing.py URL CLIENT_ID_A CLIENT_SECRET_A CLIENT_ID_B CLIENT_SECRET_B
Any failed check raises, so a non-zero exit fails the Rust test.
"""

import base64
import hashlib
import io
import json
import sys
import uuid

from archivist.archivist import Archivist
from archivist.errors import ArchivistForbiddenError, ArchivistNotFoundError


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def attachment(blob, name):
    return {
        "arc_attribute_type": "arc_attachment",
        "arc_blob_identity": blob["identity"],
        "arc_blob_hash_alg": "SHA256",
        "arc_blob_hash_value": blob["hash"]["value"],
        "arc_file_name": name,
    }


def main(url, id_a, secret_a, id_b, secret_b):
    a = Archivist(url, (id_a, secret_a), max_time=30)
    b = Archivist(url, (id_b, secret_b), max_time=30)

    # Each side records the other's self subject and waits for it to be confirmed.
    b_in_a, a_in_b = a.subjects.share("partner b", "partner a", b)
    check(b_in_a["confirmation_status"] == "CONFIRMED", f"subject {b_in_a}")
    b_self = b.subjects.read("subjects/00000000-0000-0000-0000-000000000000")
    check(b_in_a["wallet_pub_key"] == b_self["wallet_pub_key"], "share copied the keys")

    # A subject string, as DataTrails' console exports one, imported.
    exported = base64.b64encode(json.dumps(b_self).encode()).decode()
    imported = a.subjects.create_from_b64({"display_name": "imported", "subject_string": exported})
    check(imported["tessera_pub_key"] == b_self["tessera_pub_key"], f"imported {imported}")
    check(a.subjects.count(display_name="imported") == 1, "count by name")
    check([s["identity"] for s in a.subjects.list(display_name="imported")] == [imported["identity"]], "list by name")
    a.subjects.delete(imported["identity"])

    namespace = str(uuid.uuid4())
    attributes = {
        "arc_display_name": "Org1 asset",
        "arc_namespace": namespace,
        "arc_firmware_version": "1.0",
        "arc_serial_number": "vtl-x4-07",
        "arc_description": "Traffic flow control light at A603 North East",
        "arc_display_type": "Traffic light with violation camera",
        "ext_vendor_name": "SynsationIndustries",
    }
    asset = a.assets.create(attrs=attributes, confirm=True)
    filters = [
        {"or": [f"attributes.arc_namespace={namespace}"]},
        {"or": ["attributes.arc_display_type=Traffic light with violation camera"]},
        {"or": ["attributes.ext_vendor_name=SynsationIndustries"]},
    ]
    permissions = [
        {
            "subjects": [b_in_a["identity"]],
            "behaviours": ["RecordEvidence"],
            "include_attributes": ["arc_description", "arc_display_name", "arc_display_type", "arc_firmware_version"],
        }
    ]
    policy = a.access_policies.create(
        {"display_name": f"share {namespace}", "description": "to partner b"}, filters, permissions
    )
    check(a.access_policies.count(display_name=f"share {namespace}") == 1, "policy count")
    matched = [x["identity"] for x in a.access_policies.list_matching_assets(policy["identity"])]
    check(matched == [asset["identity"]], f"matching assets {matched}")
    policies = [p["identity"] for p in a.access_policies.list_matching_access_policies(asset["identity"])]
    check(policies == [policy["identity"]], f"matching policies {policies}")

    # B reads the asset with exactly the attributes the policy includes (execaccess_policies'
    # expected dict).
    seen = b.assets.read(asset["identity"])
    expected = {k: attributes[k] for k in permissions[0]["include_attributes"]}
    check(seen["attributes"] == expected, f"B sees {seen['attributes']}")

    # B's asset list holds A's shared asset beside its own, with its owner named.
    own = b.assets.create(attrs={"arc_display_name": "B's own"}, confirm=True)
    listed = {x["identity"]: x for x in b.assets.list()}
    check(set(listed) == {asset["identity"], own["identity"]}, f"B lists {sorted(listed)}")
    check(listed[asset["identity"]]["tenant_identity"] == asset["tenant_identity"], "owner named")
    check(b.assets.count() == 2, "B counts both")
    check(
        [x["identity"] for x in b.assets.list(attrs={"arc_namespace": namespace})] == [],
        "B cannot filter on an attribute it may not see",
    )

    # A attaches a certificate; B reads the event and downloads the attachment, verified.
    content = b"certificate of analysis " * 4096
    blob = a.attachments.upload(io.BytesIO(content), mtype="application/pdf")
    event = a.events.create(
        asset["identity"],
        props={"operation": "Record", "behaviour": "RecordEvidence"},
        attrs={"arc_display_type": "Certificate", "arc_description": "lot 7", "ext_price": "secret"},
        asset_attrs={"arc_description": "certified", "arc_attachments": [attachment(blob, "coa.pdf")]},
        confirm=True,
    )
    events = b.events.list(asset_id=asset["identity"])
    check([x["identity"] for x in events][0] == event["identity"], "B lists the event")
    seen_event = b.events.read(event["identity"])
    check("ext_price" not in seen_event["event_attributes"], f"B sees {seen_event['event_attributes']}")
    check("arc_description" in seen_event["event_attributes"], "granted event attributes shown")
    # The attachment is in the asset's arc_attachments, which the policy must grant: it does not.
    try:
        b.assetattachments.download(asset["identity"], blob["identity"], io.BytesIO())
        raise AssertionError("B downloaded an attachment in an attribute not granted")
    except ArchivistNotFoundError:
        pass
    permissions[0]["include_attributes"].append("arc_attachments")
    a.access_policies.update(policy["identity"], access_permissions=permissions)
    sink = io.BytesIO()
    b.assetattachments.download(asset["identity"], blob["identity"], sink)
    check(hashlib.sha256(sink.getvalue()).hexdigest() == blob["hash"]["value"], "B's download differs")
    check(sink.getvalue() == content, "B's download differs")
    info = b.assetattachments.info(asset["identity"], blob["identity"])
    check(info["hash"]["value"] == blob["hash"]["value"], f"B's info {info}")

    # B writes nothing to A's asset.
    try:
        b.events.create(asset["identity"], props={"operation": "Record", "behaviour": "RecordEvidence"}, attrs={"arc_description": "x"})
        raise AssertionError("B wrote to A's asset")
    except ArchivistForbiddenError:
        pass

    # Once the policy is gone, B is refused as for an unknown asset.
    check(a.access_policies.delete(policy["identity"]) == {}, "delete answers {}")
    try:
        b.assets.read(asset["identity"])
        raise AssertionError("B still reads the asset")
    except ArchivistNotFoundError:
        pass
    check([x["identity"] for x in b.assets.list()] == [own["identity"]], "B lists its own only")
    print("sdk sharing ok")


if __name__ == "__main__":
    main(*sys.argv[1:6])
