/**
 * A binary min-heap ordered by a numeric key, with insertion order breaking ties.
 * @internal
 */
export class Heap<A> {
  private keys: Array<number> = []
  private seqs: Array<number> = []
  private values: Array<A> = []
  private seq = 0

  get size(): number {
    return this.values.length
  }

  push(key: number, value: A): void {
    this.keys.push(key)
    this.seqs.push(this.seq++)
    this.values.push(value)
    this.up(this.values.length - 1)
  }

  /** the smallest key, or undefined when empty */
  peekKey(): number | undefined {
    return this.keys[0]
  }

  peek(): A | undefined {
    return this.values[0]
  }

  pop(): A | undefined {
    const n = this.values.length
    if (n === 0) return undefined
    const top = this.values[0]
    const lastKey = this.keys.pop()!
    const lastSeq = this.seqs.pop()!
    const lastValue = this.values.pop()!
    if (n > 1) {
      this.keys[0] = lastKey
      this.seqs[0] = lastSeq
      this.values[0] = lastValue
      this.down(0)
    }
    return top
  }

  /** every element with its key, in no particular order */
  *entries(): IterableIterator<readonly [number, A]> {
    for (let i = 0; i < this.values.length; i++) yield [this.keys[i]!, this.values[i]!]
  }

  private less(i: number, j: number): boolean {
    const ki = this.keys[i]!
    const kj = this.keys[j]!
    return ki < kj || (ki === kj && this.seqs[i]! < this.seqs[j]!)
  }

  private swap(i: number, j: number): void {
    const k = this.keys[i]!
    this.keys[i] = this.keys[j]!
    this.keys[j] = k
    const s = this.seqs[i]!
    this.seqs[i] = this.seqs[j]!
    this.seqs[j] = s
    const v = this.values[i]!
    this.values[i] = this.values[j]!
    this.values[j] = v
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(i, parent)) return
      this.swap(i, parent)
      i = parent
    }
  }

  private down(i: number): void {
    const n = this.values.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && this.less(l, m)) m = l
      if (r < n && this.less(r, m)) m = r
      if (m === i) return
      this.swap(i, m)
      i = m
    }
  }
}

/**
 * A FIFO queue with O(1) push and shift (an array with a moving head, compacted as it drains).
 * @internal
 */
export class Fifo<A> {
  private items: Array<A | undefined> = []
  private head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(value: A): void {
    this.items.push(value)
  }

  peek(): A | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined
  }

  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const value = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return value
  }

  *[Symbol.iterator](): IterableIterator<A> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!
  }
}
