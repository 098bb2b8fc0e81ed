#!/usr/bin/env python3
"""Memory of `efthf serve` while it receives large uploads (Specs/service.md, "Uploads").

Starts the built binary ($EFTHF_BINARY, default .build/debug/efthf) with a token file on a free
loopback port, uploads the events workspace, then streams event-database bodies generated on the
fly (never held in this script's memory either): one of --size bytes, then --parallel bodies of
--parallel-size bytes at once (each to a workspace of its own). The server's VmRSS is sampled
from /proc/PID/status every 20 ms. The body is not HDF5, so the workspace ends `invalid` (422) —
after the whole file was on disk: the check is that the server counted every byte (`bytes` of the
workspace status) and that the temporary directory is empty afterwards.

    python3 Benchmarks/service/upload_rss.py [--size 1073741824] [--parallel 2] [--parallel-size 157286400]
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("EFTHF_BINARY", ROOT / ".build/debug/efthf"))
TOKEN = "upload-benchmark-token-" + os.urandom(8).hex()
CHUNK = bytes(range(256)) * 4096  # 1 MiB


def rss_kib(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def request(port, method, path, body=None, length=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if length is not None:
        headers["Content-Length"] = str(length)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if data else None


def generated(size):
    sent = 0
    while sent < size:
        piece = CHUNK[: min(len(CHUNK), size - sent)]
        sent += len(piece)
        yield piece


def upload_database(port, size, results, index):
    workspace_text = (ROOT / "Data/vh/workspace_events.json").read_bytes()
    status, created = request(port, "POST", "/v1/workspaces", workspace_text)
    assert status == 201, (status, created)
    start = time.perf_counter()
    status, answer = request(port, "PUT", f"/v1/workspaces/{created['id']}/files/vh_smeft_events.h5", generated(size), size)
    seconds = time.perf_counter() - start
    assert status == 422, (status, answer)
    status, final = request(port, "GET", f"/v1/workspaces/{created['id']}")
    assert final["bytes"] == len(workspace_text) + size, final
    results[index] = seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1 << 30)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--parallel-size", type=int, default=150 << 20)
    args = parser.parse_args()
    assert BINARY.exists(), f"build the binary first: swift build --product efthf ({BINARY})"
    directory = Path(tempfile.mkdtemp(prefix="efthf-upload-rss-"))
    (directory / "tokens").write_text(f"{TOKEN} benchmark\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(directory / "serve.log", "w")
    server = subprocess.Popen([str(BINARY), "serve", "--port", str(port), "--data-dir", str(directory / "data"),
                               "--token-file", str(directory / "tokens"), "--max-upload-bytes", str(max(args.size, args.parallel_size))],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(400):
            try:
                if request(port, "GET", "/v1/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        baseline = rss_kib(server.pid)
        sampler = Sampler(server.pid)
        sampler.start()
        results = [None]
        upload_database(port, args.size, results, 0)
        single_peak = sampler.peak
        sampler.peak = 0
        parallel = [None] * args.parallel
        threads = [threading.Thread(target=upload_database, args=(port, args.parallel_size, parallel, i)) for i in range(args.parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sampler.running = False
        sampler.join()
        assert all(r is not None for r in parallel), "a parallel upload failed"
        assert not any((directory / "data/tmp").iterdir()), "temporary files left behind"
        print(f"binary: {BINARY}")
        print(f"server RSS before the uploads: {baseline / 1024:.1f} MiB")
        print(f"one upload of {args.size / 2**20:.0f} MiB: {results[0]:.2f} s ({args.size / 2**20 / results[0]:.0f} MiB/s), "
              f"peak RSS {single_peak / 1024:.1f} MiB (+{(single_peak - baseline) / 1024:.1f} MiB)")
        print(f"{args.parallel} parallel uploads of {args.parallel_size / 2**20:.0f} MiB: {max(parallel):.2f} s, "
              f"peak RSS {sampler.peak / 1024:.1f} MiB (+{(sampler.peak - baseline) / 1024:.1f} MiB)")
        print(f"VmHWM: {rss_kib(server.pid, 'VmHWM') / 1024:.1f} MiB")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
