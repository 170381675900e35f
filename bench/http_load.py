"""Load for bench/merklelog.sh over keep-alive connections (one per thread).

  http_load.py events PORT TOKEN_FILE ASSET COUNT THREADS  -> events per second
  http_load.py get PORT TOKEN_FILE PATH COUNT              -> mean milliseconds per download
  http_load.py uploads PORT TOKEN_FILE BYTES COUNT THREADS -> blob uploads per second
"""
import http.client
import json
import sys
import threading
import time


def authorization(path):
    """The header value in a `Authorization: Bearer …` line (bench/lib.sh writes it)."""
    return open(path).read().split(": ", 1)[1].strip()


def posts(port, path, body, headers, count, threads, what):
    """POSTs `body` to `path` `count` times over `threads` connections; prints the rate."""
    failures = []

    def write(n):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(n):
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(response.status)

    start = time.perf_counter()
    workers = [threading.Thread(target=write, args=(count // threads,)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if failures:
        sys.exit(f"{len(failures)} {what} failed: {failures[:5]}")
    print(f"{(count // threads) * threads / elapsed:.1f}")


def events(port, auth, asset, count, threads):
    body = json.dumps({"operation": "Record", "behaviour": "RecordEvidence",
                       "event_attributes": {"kind": "bench", "note": "x" * 64}})
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    posts(port, f"/archivist/v2/assets/{asset}/events", body, headers, count, threads, "events")


def uploads(port, auth, size, count, threads):
    boundary = "benchboundary"
    content = bytes(range(256)) * (size // 256 + 1)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"small.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content[:size] + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Authorization": auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    posts(port, "/archivist/v1/blobs", body, headers, count, threads, "uploads")


def get(port, auth, path, count):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": auth}
    start = time.perf_counter()
    for _ in range(count):
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"download failed: {response.status}")
    print(f"{(time.perf_counter() - start) / count * 1000:.2f}")


if __name__ == "__main__":
    kind, port, auth = sys.argv[1], int(sys.argv[2]), authorization(sys.argv[3])
    if kind == "events":
        events(port, auth, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif kind == "uploads":
        uploads(port, auth, int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        get(port, auth, sys.argv[4], int(sys.argv[5]))
