/**
 * A writer of one MessagePack array of strings, which the Lua scripts read with Redis'
 * built-in `cmsgpack.unpack`. Many small values per job (ids, statuses, times, encoded
 * messages) then travel as one argument: the client neither builds nor frames them one by one,
 * and Redis parses one bulk string instead of dozens.
 *
 * Every value is written as a str 32 (Lua strings are bytes: encoded messages pass unchanged).
 *
 * @internal
 */

/** @internal */
export interface Packer {
  /** appends a string, UTF-8 encoded */
  readonly string: (value: string) => void
  /** appends bytes */
  readonly bytes: (value: Uint8Array) => void
  /** the array, as the bytes of one script argument */
  readonly done: () => Buffer
}

/** @internal */
export const packer = (sizeHint = 4096): Packer => {
  let buf = Buffer.allocUnsafe(Math.max(64, sizeHint))
  // array 32 header first: 0xdd and the count, written by `done`
  let pos = 5
  let count = 0
  const room = (n: number) => {
    if (pos + n <= buf.length) return
    const next = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n))
    buf.copy(next, 0, 0, pos)
    buf = next
  }
  return {
    string: (value) => {
      room(5 + value.length * 3)
      const n = buf.write(value, pos + 5, "utf8")
      buf[pos] = 0xdb
      buf.writeUInt32BE(n, pos + 1)
      pos += 5 + n
      count++
    },
    bytes: (value) => {
      room(5 + value.length)
      buf[pos] = 0xdb
      buf.writeUInt32BE(value.length, pos + 1)
      buf.set(value, pos + 5)
      pos += 5 + value.length
      count++
    },
    done: () => {
      buf[0] = 0xdd
      buf.writeUInt32BE(count, 1)
      return buf.subarray(0, pos)
    }
  }
}
