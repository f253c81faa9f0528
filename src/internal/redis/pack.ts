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
  let buffer = Buffer.allocUnsafe(Math.max(64, sizeHint))
  // array 32 header first: 0xdd and the count, written by `done`
  let end = 5
  let count = 0
  /** grows the buffer so that `bytes` more fit */
  const makeRoom = (bytes: number) => {
    if (end + bytes <= buffer.length) return
    const larger = Buffer.allocUnsafe(Math.max(buffer.length * 2, end + bytes))
    buffer.copy(larger, 0, 0, end)
    buffer = larger
  }
  return {
    string: (value) => {
      // a UTF-8 code unit takes at most 3 bytes
      makeRoom(5 + value.length * 3)
      const written = buffer.write(value, end + 5, "utf8")
      buffer[end] = 0xdb
      buffer.writeUInt32BE(written, end + 1)
      end += 5 + written
      count++
    },
    bytes: (value) => {
      makeRoom(5 + value.length)
      buffer[end] = 0xdb
      buffer.writeUInt32BE(value.length, end + 1)
      buffer.set(value, end + 5)
      end += 5 + value.length
      count++
    },
    done: () => {
      buffer[0] = 0xdd
      buffer.writeUInt32BE(count, 1)
      return buffer.subarray(0, end)
    }
  }
}
