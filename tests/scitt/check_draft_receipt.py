"""An independent check of an attachd SCRAPI receipt (MMRIVER, 395 = 3, the proof as
bstr .cbor [index, path]) with pycose against a pinned key, and DataTrails' SCITT client's
leaf hash and inclusion arithmetic.

    python check_draft_receipt.py RECEIPT EVENT_JSON LOG_KEY_PEM OTHER_KEY_PEM

Prints a JSON list: whether it verifies as received, with a node of its path altered, and
against another pinned key.
"""

import json
import sys

import cbor2
from cryptography.hazmat.primitives import serialization
from pycose.keys.curves import P384
from pycose.keys.ec2 import EC2Key
from pycose.keys.keyops import VerifyOp
from pycose.keys.keyparam import KpKeyOps
from pycose.messages import Sign1Message

from datatrails_scitt_samples.datatrails.v3eventhash import v3leaf_hash
from datatrails_scitt_samples.mmriver.algorithms import included_root


def pinned(pem_path):
    numbers = serialization.load_pem_public_key(open(pem_path, "rb").read()).public_numbers()
    return EC2Key(
        crv=P384,
        x=numbers.x.to_bytes(48, "big"),
        y=numbers.y.to_bytes(48, "big"),
        optional_params={KpKeyOps: [VerifyOp]},
    )


def verifies(receipt, leaf, key, alter_path=False):
    tag = cbor2.loads(receipt)
    protected, unprotected, _, signature = tag.value
    if cbor2.loads(protected).get(395) != 3:
        return False
    index, path = cbor2.loads(unprotected[396][-1][0])
    path = list(path)
    if alter_path:
        path[0] = bytes([path[0][0] ^ 1]) + path[0][1:]
    message = Sign1Message.from_cose_obj([protected, unprotected, b"", signature], True)
    message.payload = included_root(index, leaf, path)
    message.key = key
    return message.verify_signature()


def main(receipt_path, event_path, key_path, other_key_path):
    receipt = open(receipt_path, "rb").read()
    leaf = v3leaf_hash(json.load(open(event_path)))
    key = pinned(key_path)
    print(json.dumps([
        verifies(receipt, leaf, key),
        verifies(receipt, leaf, key, alter_path=True),
        verifies(receipt, leaf, pinned(other_key_path)),
    ]))


if __name__ == "__main__":
    main(*sys.argv[1:5])
