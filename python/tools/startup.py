"""Cold start of the service vs the bare interpreter, measured in the same run (alternating, medians).

    python3 python/tools/startup.py [--runs 15] [--python /path/to/python]

"service" = spawn `python -m aios_service` until its `initialize` reply is read; "bare" = spawn
`python -c pass` until it exits. Prints one JSON line per interpreter; ratio = service / bare (lower is better).
The first start after an install or an edit compiles the package (kept even under PYTHONDONTWRITEBYTECODE, see
aios_service/__init__.py); one warm-up start takes that out of the figures.
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)


def frame(obj):
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def service_once(python, env):
    t0 = time.perf_counter()
    p = subprocess.Popen([python, "-m", "aios_service", "--stdio"], cwd=PYTHON_DIR, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"processId": None, "capabilities": {}, "initializationOptions": {}}}))
    p.stdin.flush()
    header = b""
    while not header.endswith(b"\r\n\r\n"):
        header += p.stdout.read(1)
    length = int(header.split(b":")[1].strip())
    reply = json.loads(p.stdout.read(length))
    elapsed = time.perf_counter() - t0
    assert reply.get("id") == 1 and "result" in reply, reply
    p.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
                  + frame({"jsonrpc": "2.0", "method": "exit"}))
    p.stdin.close()
    p.wait()
    return elapsed


def bare_once(python, env):
    t0 = time.perf_counter()
    subprocess.run([python, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - t0


def measure(python, runs):
    env = dict(os.environ)
    service_once(python, env)  # warm: the package's bytecode is written once
    bare, service = [], []
    for _ in range(runs):
        bare.append(bare_once(python, env))
        service.append(service_once(python, env))
    b, s = statistics.median(bare) * 1000, statistics.median(service) * 1000
    return {"bench": "python.cold-start", "python": python, "runs": runs,
            "bareMs": round(b, 1), "serviceMs": round(s, 1), "ratio": round(s / b, 3)}


def main():
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 15
    pythons = [sys.argv[sys.argv.index("--python") + 1]] if "--python" in sys.argv else [sys.executable]
    for python in pythons:
        print(json.dumps(measure(python, runs)), flush=True)


if __name__ == "__main__":
    main()
