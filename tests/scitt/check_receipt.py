"""An independent check of an attachd receipt, with DataTrails' SCITT client's own leaf hash
and inclusion arithmetic and pycose's signature check against a pinned key.

    python check_receipt.py RECEIPT EVENT_JSON LOG_KEY_PEM OTHER_KEY_PEM

Prints a JSON list: whether the receipt verifies as received, then with an event attribute
altered, with a node of its path altered, and against another pinned key.
"""

import copy
import json
import sys

import cbor2
from cryptography.hazmat.primitives import serialization
from pycose.keys.curves import P384
from pycose.keys.ec2 import EC2Key
from pycose.keys.keyops import VerifyOp
from pycose.keys.keyparam import KpKeyOps

from datatrails_scitt_samples.cose_receipt_verification import verify_receipt_mmriver
from datatrails_scitt_samples.cose_sign1message import decode_sign1_detached
from datatrails_scitt_samples.datatrails.v3eventhash import v3leaf_hash
from datatrails_scitt_samples.mmriver.algorithms import included_root
from datatrails_scitt_samples.mmriver.decodeinclusionproof import decode_inclusion_proofs


def pinned(pem_path):
    numbers = serialization.load_pem_public_key(open(pem_path, "rb").read()).public_numbers()
    return EC2Key(
        crv=P384,
        x=numbers.x.to_bytes(48, "big"),
        y=numbers.y.to_bytes(48, "big"),
        optional_params={KpKeyOps: [VerifyOp]},
    )


def verifies(receipt, event, key):
    leaf = v3leaf_hash(event)
    message = decode_sign1_detached(receipt)
    proof = decode_inclusion_proofs(message.phdr, message.uhdr)[0]
    message.payload = included_root(proof.index, leaf, proof.path or [])
    message.key = key
    # The client's own check (the key the receipt names) and pycose's against the pin.
    return verify_receipt_mmriver(receipt, leaf) and message.verify_signature()


def main(receipt_path, event_path, key_path, other_key_path):
    receipt = open(receipt_path, "rb").read()
    event = json.load(open(event_path))
    key = pinned(key_path)

    altered_event = copy.deepcopy(event)
    altered_event["event_attributes"]["scitt_subject"] += "x"

    decoded = cbor2.loads(receipt)
    sign1 = list(decoded.value)
    proofs = copy.deepcopy(sign1[1])
    path = proofs[396][-1][0][2]
    if not path:
        raise AssertionError("the receipt's path is empty: the test needs a leaf below its peak")
    path[0] = bytes([path[0][0] ^ 1]) + path[0][1:]
    sign1[1] = proofs
    altered_path = cbor2.dumps(cbor2.CBORTag(decoded.tag, sign1))

    print(json.dumps([
        verifies(receipt, event, key),
        verifies(receipt, altered_event, key),
        verifies(altered_path, event, key),
        verifies(receipt, event, pinned(other_key_path)),
    ]))


if __name__ == "__main__":
    main(*sys.argv[1:5])
