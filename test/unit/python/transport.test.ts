// FramedMessageWriter: one whole frame per write, in call order, readable by vscode-jsonrpc's own reader, and
// write failures reported the way vscode-languageclient's error handler expects (error, message, count).
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Message, RequestMessage } from 'vscode-jsonrpc';
import { FramedMessageWriter, serviceTransports } from '../../../src/python/transport';

const request = (id: number, params: unknown): RequestMessage => ({ jsonrpc: '2.0', id, method: 'aios/execute', params: params as object });

/** A stream that keeps each write's bytes as they arrive. */
function recorder(): { stream: Writable; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), 'utf8'));
      done();
    },
  });
  return { stream, writes };
}

describe('FramedMessageWriter', () => {
  it('writes each message as one Content-Length frame in one write, with the length in UTF-8 bytes', async () => {
    const { stream, writes } = recorder();
    const writer = new FramedMessageWriter(stream);
    const messages = [request(1, { text: 'ascii' }), request(2, { text: 'wörld ✓ 𝄞' }), request(3, {})];
    await Promise.all(messages.map((m) => writer.write(m)));
    assert.equal(writes.length, messages.length);
    writes.forEach((frame, i) => {
      const text = frame.toString('utf8');
      const match = /^Content-Length: (\d+)\r\n\r\n/.exec(text);
      assert.ok(match, `frame ${i} starts with its header: ${JSON.stringify(text.slice(0, 40))}`);
      const body = frame.subarray(Buffer.byteLength(match[0]));
      assert.equal(body.length, Number(match[1]));
      assert.deepEqual(JSON.parse(body.toString('utf8')), messages[i]);
    });
  });

  it('sends the frames written in one turn in one writev, whole and in order, and the next turn in another', async () => {
    const calls: string[][] = [];
    const stream = new Writable({
      writev(chunks, done) {
        calls.push(chunks.map((c) => (Buffer.isBuffer(c.chunk) ? c.chunk.toString('utf8') : String(c.chunk))));
        done();
      },
    });
    const writer = new FramedMessageWriter(stream);
    await Promise.all([1, 2, 3].map((i) => writer.write(request(i, { i }))));
    await writer.write(request(4, {}));
    assert.deepEqual(
      calls.map((frames) => frames.map((f) => (JSON.parse(f.slice(f.indexOf('\r\n\r\n') + 4)) as RequestMessage).id)),
      [[1, 2, 3], [4]],
    );
  });

  it("is read back whole and in order by vscode-jsonrpc's StreamMessageReader", async () => {
    const pipe = new PassThrough();
    const { reader, writer } = serviceTransports(pipe, pipe);
    const received: Message[] = [];
    const all = new Promise<void>((resolve) => {
      reader.listen((m) => {
        received.push(m);
        if (received.length === 100) resolve();
      });
    });
    const sent = Array.from({ length: 100 }, (_, i) => request(i, { i, text: 'é'.repeat(i) }));
    for (const m of sent) void writer.write(m);
    await all;
    assert.deepEqual(received, sent);
    reader.dispose();
  });

  it('rejects a message that cannot be encoded and reports it uncounted, without writing anything', async () => {
    const { stream, writes } = recorder();
    const writer = new FramedMessageWriter(stream);
    const reported: unknown[][] = [];
    writer.onError((e) => reported.push(e));
    const bad = request(7, { big: 10n });
    await assert.rejects(writer.write(bad), /BigInt/);
    assert.equal(writes.length, 0);
    assert.equal(reported.length, 1);
    assert.equal(reported[0][1], bad);
    // Uncounted: the language client's handler must not shut the service down over bad messages.
    assert.equal(reported[0][2], undefined);
    await writer.write(request(8, {})); // still usable
    assert.equal(writes.length, 1);
  });

  it('rejects writes to a failed stream and counts the failures; a closed stream fires onClose', async () => {
    const stream = new Writable({
      write(_chunk, _encoding, done) {
        done(new Error('EPIPE: the service went away'));
      },
    });
    const writer = new FramedMessageWriter(stream);
    const counts: Array<number | undefined> = [];
    writer.onError(([, , count]) => counts.push(count));
    const closed = new Promise<void>((resolve) => writer.onClose(resolve));
    await assert.rejects(writer.write(request(1, {})), /EPIPE/);
    await closed; // the test times out if onClose never fires
    assert.ok(counts.includes(1), `the failed write was counted: ${JSON.stringify(counts)}`);
  });
});
