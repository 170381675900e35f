"""The SDK against a rate-limited attachd: every call must still succeed, because the SDK
sleeps for Archivist-Rate-Limit-Reset seconds on a 429 and retries.

    python ratelimit.py URL CLIENT_ID CLIENT_SECRET
"""

import io
import sys

from archivist.archivist import Archivist


def main(url, client_id, client_secret):
    arch = Archivist(url, (client_id, client_secret), max_time=30)
    blob = arch.attachments.upload(io.BytesIO(b"rate limited evidence"))
    for _ in range(6):
        info = arch.attachments.info(blob["identity"])
        if info["size"] != 21:
            raise AssertionError(f"info {info}")
    print("sdk retried through rate limits")


if __name__ == "__main__":
    main(*sys.argv[1:4])
