// The byte-level transport to the Python service. vscode-jsonrpc's StreamMessageWriter encodes each message
// through a chain of promises, then writes the header, waits for that write's callback and writes the body:
// two writes, so the service reads a lone header before the body arrives. One framed write from the calling
// turn made round trips to a floor server faster in 15 of 16 runs, up to 1.43x (bench/README.md). Reading
// stays with vscode-jsonrpc's StreamMessageReader.
import type { Writable } from 'node:stream';
import { AbstractMessageWriter, type Message, type MessageWriter } from 'vscode-jsonrpc';
import { StreamMessageReader, type MessageReader } from 'vscode-jsonrpc/node';

/** Writes each message as one `Content-Length` frame, in call order; a turn's frames go out together. */
export class FramedMessageWriter extends AbstractMessageWriter implements MessageWriter {
  private errorCount = 0;
  private corked = false;

  constructor(private readonly stream: Writable) {
    super();
    stream.on('error', (error: Error) => this.fireError(error));
    stream.on('close', () => this.fireClose());
  }

  write(msg: Message): Promise<void> {
    let frame: string;
    try {
      const body = JSON.stringify(msg);
      frame = `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n\r\n${body}`;
    } catch (error) {
      // E.g. a BigInt or a cycle in the params: this message's fault, not the pipe's. Reported without a
      // count (as vscode-jsonrpc's writer does), so the client's error handler never shuts down over it.
      this.fireError(error, msg);
      return Promise.reject(error);
    }
    // The requests of one turn (a batch, a burst) leave in one writev: a pipe write costs ~30 µs of the
    // host's time under load, more than the rest of a command's path (bench/README.md, batches).
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    return new Promise((resolve, reject) => {
      this.stream.write(frame, 'utf8', (error) => {
        if (error) this.failed(error, msg).catch(reject);
        else resolve();
      });
    });
  }

  end(): void {
    this.stream.end();
  }

  private failed(error: unknown, msg: Message): Promise<never> {
    // A failed write: with the count, vscode-languageclient's error handler decides when to give up.
    this.fireError(error, msg, ++this.errorCount);
    return Promise.reject(error);
  }
}

/** The reader and writer for a service process's stdout and stdin. */
export function serviceTransports(stdout: NodeJS.ReadableStream, stdin: Writable): { reader: MessageReader; writer: MessageWriter } {
  return { reader: new StreamMessageReader(stdout), writer: new FramedMessageWriter(stdin) };
}
