"""Lists as the official SDK pages and waits on them.

Run by tests/api/sdk.rs against a live attachd:
    python lists.py URL CLIENT_ID CLIENT_SECRET
Any failed check raises, so a non-zero exit fails the Rust test.
"""

import sys
import time

from archivist.archivist import Archivist


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main(url, client_id, client_secret):
    arch = Archivist(url, (client_id, client_secret), max_time=30)

    # After the first page the SDK sends only page_token: the token must carry the filter.
    for i in range(23):
        kind = "match" if i % 8 == 3 else "other"
        arch.assets.create(attrs={"arc_display_type": "Door", "kind": kind, "n": str(i)})
    found = list(arch.assets.list(page_size=1, attrs={"kind": "match"}))
    check(len(found) == 3, f"listed {len(found)} assets, expected the 3 matching")
    check(all(a["attributes"]["kind"] == "match" for a in found), "a non-matching asset was listed")
    check(arch.assets.count(attrs={"kind": "match"}) == 3, "count of matching assets")

    # wait_for_confirmed counts PENDING, STORED and FAILED, and waits for zero.
    for i in range(30):
        sensor = arch.assets.create(attrs={"arc_display_type": "Sensor", "batch": "b30", "n": str(i)}, confirm=True)
    arch.events.create(
        sensor["identity"],
        props={"operation": "Record", "behaviour": "RecordEvidence"},
        attrs={"arc_description": "reading"},
        confirm=True,
    )
    started = time.monotonic()
    check(arch.assets.wait_for_confirmed(attrs={"batch": "b30"}) is True, "assets.wait_for_confirmed")
    took = time.monotonic() - started
    check(took < 10, f"wait_for_confirmed took {took:.1f} s")
    check(arch.events.wait_for_confirmed() is True, "events.wait_for_confirmed")

    # public=True lists only public assets.
    arch.assets.create(attrs={"arc_display_type": "Billboard"}, props={"public": True}, confirm=True)
    public = list(arch.assets.list(props={"public": True}))
    check(len(public) == 1 and public[0]["public"] is True, f"public list {public}")
    check(arch.assets.count(props={"public": False}) == 53, "count of private assets")
    # The tenancy's public information, as the SDK's asset functests read it.
    tenancy = arch.tenancies.publicinfo(found[0]["tenant_identity"])
    check(tenancy["identity"] == found[0]["tenant_identity"], f"publicinfo {tenancy}")
    check(tenancy.get("verified_domain", None) == "", f"publicinfo {tenancy}")
    print("sdk lists ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
