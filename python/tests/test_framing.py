import io
import json
import threading
import unittest

from aios_service import errors
from aios_service.framing import FramingError, MessageReader, MessageWriter, _guess_id
from tests.support import frame


def reader_for(data, chunk=None, limit=8 * 1024 * 1024):
    stream = io.BytesIO(data)
    if chunk is None:
        return MessageReader(stream.read, limit)
    return MessageReader(lambda n: stream.read(min(n, chunk)), limit)


def read_all(reader):
    out = []
    while True:
        item = reader.read_message()
        if item is None:
            return out
        out.append(item)


class ReaderTest(unittest.TestCase):
    def test_reads_consecutive_messages_in_any_chunking(self):
        data = frame({"a": 1}) + frame({"b": "é"}) + frame(b"")
        for chunk in (None, 1, 3, 7):
            self.assertEqual(read_all(reader_for(data, chunk)),
                             [b'{"a": 1}', json.dumps({"b": "é"}).encode(), b""], chunk)

    def test_extra_headers_and_lf_only_line_ends_are_accepted(self):
        body = b'{"x":1}'
        data = (b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: 7\r\n\r\n" + body +
                b"Content-Length: 7\n\n" + body)
        self.assertEqual(read_all(reader_for(data)), [body, body])

    def test_non_numeric_length_is_an_error_and_the_next_message_still_reads(self):
        data = b"Content-Length: abc\r\n\r\n{\"junk\":1}" + frame({"ok": True})
        items = read_all(reader_for(data))
        self.assertIsInstance(items[0], FramingError)
        self.assertEqual(items[0].code, errors.PARSE_ERROR)
        self.assertIn("'abc' is not a non-negative integer", items[0].message)
        self.assertEqual(items[1:], [b'{"ok": true}'])

    def test_negative_and_missing_length(self):
        for bad in (b"Content-Length: -5\r\n\r\n", b"X-Other: 1\r\n\r\n", b"garbage line\r\n\r\n"):
            items = read_all(reader_for(bad + b"{}" + frame({"n": 1})))
            self.assertIsInstance(items[0], FramingError, bad)
            self.assertEqual(items[1:], [b'{"n": 1}'], bad)
        self.assertIn("missing Content-Length", read_all(reader_for(b"X: 1\r\n\r\n"))[0].message)

    def test_conflicting_lengths_and_foreign_charset(self):
        items = read_all(reader_for(b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"))
        self.assertIn("two different", items[0].message)
        items = read_all(reader_for(b"Content-Type: text/plain; charset=latin-1\r\nContent-Length: 2\r\n\r\n{}"))
        self.assertIn("UTF-8", items[0].message)

    def test_oversized_body_is_skipped_with_the_id_recovered(self):
        big = json.dumps({"jsonrpc": "2.0", "id": 42, "method": "aios/execute", "params": {"x": "y" * 5000}})
        data = frame(big.encode()) + frame({"after": 1})
        for chunk in (None, 100):
            items = read_all(reader_for(data, chunk, limit=1024))
            self.assertEqual(items[0].code, errors.MESSAGE_TOO_LARGE)
            self.assertEqual(items[0].request_id, 42)
            self.assertIn("exceeds the limit of 1024", items[0].message)
            self.assertEqual(items[1:], [b'{"after": 1}'])

    def test_guess_id(self):
        self.assertEqual(_guess_id(b'{"jsonrpc":"2.0","id": "abc","method"'), "abc")
        self.assertEqual(_guess_id(b'{"id":-7,'), -7)
        self.assertIsNone(_guess_id(b'{"method":"x"'))
        self.assertIsNone(_guess_id(b'{"id":null}'))

    def test_truncated_input(self):
        items = read_all(reader_for(b"Content-Length: 10\r\n\r\n{}"))
        self.assertEqual(len(items), 1)
        self.assertIn("input ended after 2 of 10", items[0].message)
        items = read_all(reader_for(b"Content-Length: 10\r\n"))
        self.assertIn("inside a header block", items[0].message)
        self.assertEqual(read_all(reader_for(b"")), [])

    def test_endless_header_block_is_bounded(self):
        items = read_all(reader_for(b"x" * 20000 + frame({"k": 1})))
        self.assertIsInstance(items[0], FramingError)
        self.assertIn("no blank line", items[0].message)
        self.assertEqual(items[-1], b'{"k": 1}')


class WriterTest(unittest.TestCase):
    def test_concurrent_writes_never_interleave(self):
        out = io.BytesIO()
        lock = threading.Lock()

        def slow_write(data):  # write in two halves to give interleaving every chance
            half = len(data) // 2
            with lock:
                out.write(data[:half])
            with lock:
                out.write(data[half:])
        writer = MessageWriter(slow_write)
        bodies = [json.dumps({"t": t, "i": i, "pad": "p" * (t * 50)}).encode() for t in range(8) for i in range(50)]
        threads = [threading.Thread(target=lambda bs=bodies[t::8]: [writer.write_body(b) for b in bs])
                   for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = read_all(reader_for(out.getvalue()))
        self.assertEqual(sorted(got), sorted(bodies))

    def test_a_failing_stream_closes_quietly(self):
        def broken(data):
            raise OSError("broken pipe")
        writer = MessageWriter(broken)
        self.assertFalse(writer.write_body(b"{}"))
        self.assertTrue(writer.closed)
        self.assertFalse(writer.write_body(b"{}"))


if __name__ == "__main__":
    unittest.main()
