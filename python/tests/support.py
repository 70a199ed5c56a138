"""Test clients that speak the real framing to the service: in-process (a Server on a thread, byte pipes)
or as a subprocess (`python -m aios_service`). Waits use generous failsafe timeouts, never timing asserts."""

import io
import json
import os
import subprocess
import sys
import tempfile
import threading

from aios_service.framing import FramingError, MessageReader
from aios_service.server import Server

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 30.0


def frame(obj):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class BytePipe(object):
    def __init__(self):
        self._cond = threading.Condition()
        self._buf = bytearray()
        self._closed = False

    def write(self, data):
        with self._cond:
            if self._closed:
                raise OSError("pipe closed")
            self._buf += data
            self._cond.notify_all()

    def read(self, n):
        with self._cond:
            while not self._buf and not self._closed:
                self._cond.wait()
            chunk = bytes(self._buf[:n])
            del self._buf[:n]
            return chunk

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Client(object):
    def __init__(self, write, read):
        self._write = write
        self._cond = threading.Condition()
        self.responses = {}
        self.notifications = []
        self.framing_errors = []
        self._next_id = 0
        self.closed = False
        self._reader = MessageReader(read, 1 << 30)
        self._thread = threading.Thread(target=self._read_loop, daemon=True)
        self._thread.start()

    def _read_loop(self):
        while True:
            item = self._reader.read_message()
            with self._cond:
                if item is None:
                    self.closed = True
                    self._cond.notify_all()
                    return
                if isinstance(item, FramingError):
                    self.framing_errors.append(item)
                else:
                    msg = json.loads(item.decode("utf-8"))
                    if "method" in msg:
                        self.notifications.append(msg)
                    else:
                        self.responses.setdefault(json.dumps(msg.get("id")), []).append(msg)
                self._cond.notify_all()

    def send_raw(self, data):
        self._write(data)

    def send(self, obj):
        self._write(frame(obj))

    def request_async(self, method, params=None, rid=None):
        with self._cond:
            if rid is None:
                self._next_id += 1
                rid = self._next_id
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return rid

    def wait_response(self, rid, timeout=TIMEOUT):
        key = json.dumps(rid)
        with self._cond:
            if not self._cond.wait_for(lambda: self.responses.get(key) or self.closed, timeout):
                raise AssertionError("no response to id %r within %ss" % (rid, timeout))
            if not self.responses.get(key):
                raise AssertionError("connection closed before a response to id %r" % (rid,))
            return self.responses[key].pop(0)

    def request(self, method, params=None):
        return self.wait_response(self.request_async(method, params))

    def result(self, method, params=None):
        msg = self.request(method, params)
        if "error" in msg:
            raise AssertionError("%s failed: %r" % (method, msg["error"]))
        return msg["result"]

    def error(self, method, params=None):
        msg = self.request(method, params)
        if "error" not in msg:
            raise AssertionError("%s unexpectedly succeeded: %r" % (method, msg.get("result")))
        return msg["error"]

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def wait_notification(self, method, predicate=lambda params: True, timeout=TIMEOUT):
        """The first notification `method` whose params satisfy `predicate` (consumed)."""
        def find():
            for i, n in enumerate(self.notifications):
                if n["method"] == method and predicate(n.get("params")):
                    return i
            return None
        with self._cond:
            if not self._cond.wait_for(lambda: find() is not None or self.closed, timeout):
                raise AssertionError("no %s notification within %ss" % (method, timeout))
            i = find()
            if i is None:
                raise AssertionError("connection closed before a %s notification" % method)
            return self.notifications.pop(i)["params"]

    def wait_closed(self, timeout=TIMEOUT):
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed, timeout):
                raise AssertionError("connection still open after %ss" % timeout)

    def initialize(self, **options):
        result = self.result("initialize", {"processId": os.getpid(), "capabilities": {},
                                            "initializationOptions": options})
        self.notify("initialized", {})
        return result


class InProcess(object):
    """A Server on a thread; `client` talks to it through the real framing."""

    def __init__(self):
        self.to_server = BytePipe()
        self.from_server = BytePipe()
        self.log = io.StringIO()
        self.server = Server(self.to_server.read, self.from_server.write, log_stream=self.log)
        self.exit_code = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.client = Client(self.to_server.write, self.from_server.read)

    def _run(self):
        try:
            self.exit_code = self.server.serve()
        finally:
            self.from_server.close()

    def close(self):
        self.to_server.close()
        self.thread.join(TIMEOUT)


class Subprocess(object):
    def __init__(self, extra_env=None, args=(), python_dir=PYTHON_DIR):
        env = dict(os.environ)
        env["PYTHONPATH"] = python_dir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(extra_env or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "aios_service"] + list(args), cwd=python_dir, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr = []
        self._err_thread = threading.Thread(target=self._drain, daemon=True)
        self._err_thread.start()
        out_fd = self.proc.stdout.fileno()
        self.client = Client(self._write, lambda n: os.read(out_fd, n))

    def _write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _drain(self):
        for line in iter(self.proc.stderr.readline, b""):
            self.stderr.append(line.decode("utf-8", "replace"))

    def stderr_text(self):
        self._err_thread.join(TIMEOUT)
        return "".join(self.stderr)

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self):
        return self.proc.wait(TIMEOUT)

    def close(self):
        self.close_stdin()
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class TempDir(object):
    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="aios-test-")
        self.path = self._tmp.name

    def write(self, name, text):
        path = os.path.join(self.path, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def read_json(self, name):
        with open(os.path.join(self.path, name), encoding="utf-8") as f:
            return json.load(f)

    def cleanup(self):
        self._tmp.cleanup()
