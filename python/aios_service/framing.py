"""LSP base-protocol framing: `Content-Length: N\\r\\n\\r\\n` + N bytes of UTF-8 JSON.

The reader never raises on bad input: it returns a FramingError describing the problem, then re-synchronises
on the next header block, so one corrupt message costs one error reply, not the connection.
Oversized bodies are skipped as they stream in (never buffered whole).
"""

import threading

from . import errors

# A new header block starts with one of the two LSP headers; resynchronisation looks for either.
_MARKERS = (b"content-length:", b"content-type:")
_MAX_HEADER_BYTES = 8192
_CHUNK = 65536


class FramingError(object):
    """A message that could not be framed; `request_id` is a best-effort guess (None when unknown)."""

    __slots__ = ("code", "message", "request_id")

    def __init__(self, code, message, request_id=None):
        self.code = code
        self.message = message
        self.request_id = request_id

    def __repr__(self):
        return "FramingError(%d, %r, %r)" % (self.code, self.message, self.request_id)


def _find_header_end(buf):
    """(index, separator length) of the blank line ending the header block, or (-1, 0).

    `\\n\\n` is accepted besides the standard `\\r\\n\\r\\n` so a hand-typed message still works.
    """
    crlf = buf.find(b"\r\n\r\n")
    lf = buf.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def _guess_id(prefix):
    """Find `"id": <number or string>` in the first bytes of a body we will not parse (it was too large), so
    the error can still answer the caller's pending request. Clients put `id` before `params`."""
    i = prefix.find(b'"id"')
    if i < 0:
        return None
    j = i + 4
    n = len(prefix)
    while j < n and prefix[j:j + 1] in b" \t\r\n":
        j += 1
    if j >= n or prefix[j:j + 1] != b":":
        return None
    j += 1
    while j < n and prefix[j:j + 1] in b" \t\r\n":
        j += 1
    if j < n and prefix[j:j + 1] == b'"':
        end = prefix.find(b'"', j + 1)
        if end > j and b"\\" not in prefix[j + 1:end]:
            try:
                return prefix[j + 1:end].decode("utf-8")
            except UnicodeDecodeError:
                return None
        return None
    k = j + (1 if prefix[j:j + 1] == b"-" else 0)
    start = j
    while k < n and prefix[k:k + 1].isdigit():
        k += 1
    if k > start and prefix[start:k] != b"-":
        return int(prefix[start:k])
    return None


class MessageReader(object):
    """Reads framed messages from `read(n) -> bytes` (b"" at end of input)."""

    def __init__(self, read, max_body_bytes=8 * 1024 * 1024, before_read=None):
        self._read = read
        self.before_read = before_read  # called before each read that may wait for input
        self._buf = bytearray()
        self._eof = False
        self._resync = False
        self.max_body_bytes = max_body_bytes

    def buffered(self):
        """Whether bytes of a next message are already here."""
        return bool(self._buf)

    def _fill(self, want=_CHUNK):
        if self._eof:
            return False
        if self.before_read is not None:
            self.before_read()
        chunk = self._read(max(want, _CHUNK))
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def _skip_to_marker(self):
        """Drop bytes until the next header (case-insensitive). False at end of input."""
        while True:
            lowered = bytes(self._buf).lower()
            found = [i for i in (lowered.find(m) for m in _MARKERS) if i >= 0]
            i = min(found) if found else -1
            if i >= 0:
                del self._buf[:i]
                self._resync = False
                return True
            # Keep a tail in case the marker straddles two reads.
            keep = len(_MARKERS[0]) - 1
            if len(self._buf) > keep:
                del self._buf[:len(self._buf) - keep]
            if not self._fill():
                del self._buf[:]
                return False

    def read_message(self):
        """The next body (bytes), a FramingError, or None at end of input."""
        buf = self._buf
        while True:
            if self._resync and not self._skip_to_marker():
                return None
            # The usual frame, `Content-Length: N` alone and whole in the buffer: no header parsing.
            if buf.startswith(b"Content-Length: "):
                end = buf.find(b"\r\n\r\n", 16, 40)
                if end > 16:
                    digits = buf[16:end]
                    if digits.isdigit():
                        start = end + 4
                        stop = start + int(digits)
                        if stop - start <= self.max_body_bytes and len(buf) >= stop:
                            body = bytes(buf[start:stop])
                            del buf[:stop]
                            return body
            end, sep = _find_header_end(self._buf)
            if end < 0 or end > _MAX_HEADER_BYTES:
                if len(self._buf) > _MAX_HEADER_BYTES:
                    self._resync = True
                    del self._buf[:1]
                    return FramingError(errors.PARSE_ERROR, "Invalid message framing: no blank line after "
                                        "%d bytes of headers; expected 'Content-Length: N' then CRLF CRLF."
                                        % _MAX_HEADER_BYTES)
                if not self._fill():
                    if bytes(self._buf).strip():
                        del self._buf[:]
                        return FramingError(errors.PARSE_ERROR, "Invalid message framing: input ended inside "
                                            "a header block.")
                    return None
                continue
            header = bytes(self._buf[:end])
            del self._buf[:end + sep]
            length, problem = self._parse_header(header)
            if problem is not None:
                # The body's length is unknown: skip to the next header rather than misreading the body.
                self._resync = True
                return FramingError(errors.PARSE_ERROR, "Invalid message framing: " + problem)
            if length > self.max_body_bytes:
                return self._skip_body(length)
            while len(self._buf) < length:
                if not self._fill(length - len(self._buf)):
                    got = len(self._buf)
                    del self._buf[:]
                    return FramingError(errors.PARSE_ERROR, "Invalid message framing: input ended after %d of "
                                        "%d body bytes." % (got, length))
            body = bytes(self._buf[:length])
            del self._buf[:length]
            return body

    def _parse_header(self, header):
        length = None
        for raw in header.split(b"\n"):
            line = raw.strip(b"\r \t")
            if not line:
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                return None, "header line %r is not 'Name: value'." % _short(line)
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                if not value.isdigit():
                    return None, ("Content-Length %r is not a non-negative integer." % _short(value))
                if length is not None and int(value) != length:
                    return None, "two different Content-Length headers."
                length = int(value)
            elif name == b"content-type":
                lowered = value.lower()
                if b"charset=" in lowered and b"utf-8" not in lowered and b"utf8" not in lowered:
                    return None, "only UTF-8 bodies are supported (got Content-Type %r)." % _short(value)
        if length is None:
            return None, "missing Content-Length header (got %r)." % _short(header)
        return length, None

    def _skip_body(self, length):
        prefix = b""
        remaining = length
        while True:
            take = min(remaining, len(self._buf))
            if len(prefix) < 1024:
                prefix += bytes(self._buf[:min(take, 1024 - len(prefix))])
            del self._buf[:take]
            remaining -= take
            if remaining == 0 or not self._fill(min(remaining, 1 << 20)):
                break
        return FramingError(errors.MESSAGE_TOO_LARGE, "Message body of %d bytes exceeds the limit of %d bytes "
                            "(limits.maxMessageBytes in the service config); it was skipped."
                            % (length, self.max_body_bytes), _guess_id(prefix))


def _short(value):
    text = value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class MessageWriter(object):
    """Frames and writes whole messages; one lock so concurrent threads never interleave bytes.

    The thread that called `hold()` (the reader) has its messages collected instead, and written together by
    `flush()`, which it calls before it may wait (for input, for other threads): the replies to all the requests
    one read brought in leave in one write. Other threads' messages are written at once."""

    def __init__(self, write):
        self._write = write
        self._lock = threading.Lock()
        self.closed = False
        self._held = []
        self._holder = None

    def hold(self):
        self._holder = threading.get_ident()

    def flush(self):
        held = self._held
        if not held:
            return True
        data = held[0] if len(held) == 1 else b"".join(held)
        del held[:]
        return self._send(data)

    def write_body(self, body):
        data = b"Content-Length: %d\r\n\r\n" % len(body) + body
        if self._holder is not None and self._holder == threading.get_ident():
            self._held.append(data)
            return not self.closed
        return self._send(data)

    def _send(self, data):
        with self._lock:
            if self.closed:
                return False
            try:
                self._write(data)
            except (OSError, ValueError):
                # The client went away; the read loop sees end of input and ends the process.
                self.closed = True
                return False
        return True
