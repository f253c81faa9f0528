/**
 * The layout of the results bucket: its keys, and the binary frame a job's state is stored in
 * (status, time, the encoded `JobMessage`, and the result saved with the record, if any), so
 * one write records a state and its result together.
 *
 * ```
 * byte 0      format (2; 1 has no attempt: bytes 15-18 are missing, the attempt is 0)
 * byte 1      status code
 * byte 2      flags (1: a result follows the message)
 * bytes 3-10  at: float64, big-endian (epoch milliseconds of the record)
 * bytes 11-14 message length: uint32, big-endian
 * bytes 15-18 attempt: uint32, big-endian (the delivery that recorded it; 0 for none)
 * message, then result
 * ```
 *
 * @internal
 */
import type { Status } from "../../Job.js"

const statuses: ReadonlyArray<Status> = ["queued", "processing", "retrying", "successful", "failed", "cancelled"]

/** @internal */
export const jobStateKey = (idToken: string): string => `j.${idToken}`
/** @internal */
export const resultKey = (idToken: string): string => `r.${idToken}`
/** @internal */
export const indexPrefix = (index: "successful" | "failed"): string => (index === "successful" ? "x.s" : "x.f")
/** @internal */
export const indexKey = (index: "successful" | "failed", at: number, idToken: string): string =>
  `${indexPrefix(index)}.${Math.max(0, Math.round(at))}.${idToken}`
/** @internal */
export const valueKey = (keyToken: string): string => `c.${keyToken}`
/** @internal */
export const setKey = (keyToken: string): string => `m.${keyToken}`

/** @internal */
export interface JobState {
  readonly status: Status
  readonly at: number
  readonly message: Uint8Array
  readonly result: Uint8Array | undefined
  /** the attempt of the delivery that recorded this state; 0 when no delivery did (an enqueue, a cancel) */
  readonly attempt: number
}

const headers = [0, 15, 19]

/** @internal */
export const encodeState = (state: JobState): Uint8Array => {
  const result = state.result
  const header = headers[2]!
  const out = new Uint8Array(header + state.message.byteLength + (result?.byteLength ?? 0))
  const view = new DataView(out.buffer)
  out[0] = 2
  out[1] = statuses.indexOf(state.status)
  out[2] = result === undefined ? 0 : 1
  view.setFloat64(3, state.at)
  view.setUint32(11, state.message.byteLength)
  view.setUint32(15, state.attempt)
  out.set(state.message, header)
  if (result !== undefined) out.set(result, header + state.message.byteLength)
  return out
}

/**
 * The status in a frame, without decoding the rest.
 * @internal
 */
export const statusOf = (frame: Uint8Array): Status | undefined =>
  frame[0] === 1 || frame[0] === 2 ? statuses[frame[1]!] : undefined

/** @internal */
export const decodeState = (frame: Uint8Array): JobState | undefined => {
  const format = frame[0]
  if (format !== 1 && format !== 2) return undefined
  const header = headers[format]!
  if (frame.byteLength < header) return undefined
  const status = statuses[frame[1]!]
  if (status === undefined) return undefined
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  const length = view.getUint32(11)
  if (header + length > frame.byteLength) return undefined
  return {
    status,
    at: view.getFloat64(3),
    message: frame.subarray(header, header + length),
    result: frame[2] === 1 ? frame.subarray(header + length) : undefined,
    attempt: format === 2 ? view.getUint32(15) : 0
  }
}
