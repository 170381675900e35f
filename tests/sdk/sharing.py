"""Sharing between two tenants, driven by the official DataTrails SDK.

Run by tests/api/sdk.rs against a live attachd:
    python sharing.py URL CLIENT_ID_A CLIENT_SECRET_A CLIENT_ID_B CLIENT_SECRET_B
Any failed check raises, so a non-zero exit fails the Rust test.
"""

import base64
import json
import sys
import uuid

from archivist.archivist import Archivist
from archivist.errors import ArchivistNotFoundError


def check(condition, what):
    if not condition:
        raise AssertionError(what)


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

    # Once the policy is gone, B is refused as for an unknown asset.
    check(a.access_policies.delete(policy["identity"]) == {}, "delete answers {}")
    try:
        b.assets.read(asset["identity"])
        raise AssertionError("B still reads the asset")
    except ArchivistNotFoundError:
        pass


if __name__ == "__main__":
    main(*sys.argv[1:6])
