// A fixed-capacity FIFO, shared by the telemetry's recent events, the telemetry reader and the metrics
// panel's chart history. No imports: the webview bundle uses it too.

/** A fixed-capacity FIFO: pushing onto a full buffer drops the oldest item. */
export class RingBuffer<T> {
  private readonly items: (T | undefined)[];
  private head = 0; // index of the oldest item
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    this.items[(this.head + this.size) % this.capacity] = item;
    if (this.size < this.capacity) this.size++;
    else this.head = (this.head + 1) % this.capacity;
  }

  /** The i-th item from the oldest (0) to the newest (length - 1). */
  at(i: number): T | undefined {
    return i >= 0 && i < this.size ? this.items[(this.head + i) % this.capacity] : undefined;
  }

  last(): T | undefined {
    return this.at(this.size - 1);
  }

  /** Drops the oldest item. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return item;
  }

  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.items[(this.head + i) % this.capacity] as T);
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.size = 0;
  }
}
