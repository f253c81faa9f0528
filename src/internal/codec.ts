/**
 * Encoding of job messages. The `JobMessage` schema has no transformations (its type is its
 * encoded form, up to brands), so encoding is `JSON.stringify` and decoding is `JSON.parse`
 * followed by the schema's validation.
 *
 * Two caches keep the hot path cheap: a job's spec never changes while its meta does at each
 * status, so the spec's JSON is kept per spec object and spliced in; and bytes this process
 * encoded map back to their message, so bytes that come back unchanged (the Memory broker
 * hands out the very bytes it was given) are not parsed again. Messages are never mutated.
 *
 * @internal
 */
import { Either, ParseResult, Schema } from "effect"
import type { Status } from "../Job.js"
import { JobMessage } from "../Job.js"
import type { JobRecord } from "../Results.js"

const decoder = new TextDecoder()

/** UTF-8 bytes of a string (a Buffer: from Node's pool for small strings, faster than TextEncoder) */
export const utf8 = (text: string): Uint8Array => Buffer.from(text, "utf8")

/** @internal */
export const fromUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes)

const specJson = new WeakMap<object, string>()
const decoded = new WeakMap<Uint8Array, JobMessage>()

/** encodes a message (for the results store) */
export const encodeMessage = (message: JobMessage): Uint8Array => {
  let job = specJson.get(message.job)
  if (job === undefined) {
    job = JSON.stringify(message.job)
    specJson.set(message.job, job)
  }
  return utf8(`{"meta":${JSON.stringify(message.meta)},"job":${job}}`)
}

/**
 * encodes a message for a broker and remembers it, so that the same bytes delivered back to
 * this process decode without parsing (only for broker bodies: remembering every stored state
 * would only burden the garbage collector)
 */
export const encodeBody = (message: JobMessage): Uint8Array => {
  const bytes = encodeMessage(message)
  decoded.set(bytes, message)
  return bytes
}

const validate = Schema.decodeUnknownEither(JobMessage, { onExcessProperty: "ignore" })

type Check = (u: unknown) => boolean
const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const isString: Check = (u) => typeof u === "string"
const isNonEmpty: Check = (u) => typeof u === "string" && u.length > 0
const isNumber: Check = (u) => typeof u === "number"
const isCount: Check = (u) => typeof u === "number" && Number.isInteger(u) && u >= 0
const isAny: Check = () => true
const isStatus: Check = (u) =>
  u === "queued" || u === "processing" || u === "retrying" || u === "successful" || u === "failed" || u === "cancelled"
const isIds: Check = (u) => Array.isArray(u) && u.every(isNonEmpty)
const isStrings: Check = (u) => Array.isArray(u) && u.every(isString)

/** a struct check: every key known and valid, every required key present; no other key */
const struct = (fields: Record<string, Check>, required: ReadonlyArray<string>): Check => (u) => {
  if (!isRecord(u)) return false
  for (const key of required) if (!(key in u)) return false
  for (const key in u) {
    if (!Object.prototype.hasOwnProperty.call(u, key)) continue
    const check = fields[key]
    if (check === undefined || !check(u[key])) return false
  }
  return true
}

const isOpts = struct({
  id: isNonEmpty,
  queue: isNonEmpty,
  maxRetries: isCount,
  schedule: isString,
  timeZone: isString,
  eta: isNumber,
  delay: (u) => typeof u === "number" && u >= 0,
  timeout: (u) => typeof u === "number" && u > 0
}, ["queue", "maxRetries"])

/**
 * The common shape of a message, checked by hand: what it accepts, the `JobMessage` schema
 * accepts as it is (the check is the schema's, restricted: no excess keys, no follow-up specs,
 * no `lastError`); anything else goes to the schema. Parsing a message is on every job's path,
 * and the schema's decoder allocated more than the rest of the job.
 *
 * @internal
 */
export const isPlainMessage = struct({
  meta: struct({
    id: isNonEmpty,
    status: isStatus,
    queue: isNonEmpty,
    onSuccessIds: isIds,
    onErrorIds: isIds,
    schedule: isString,
    seriesId: isNonEmpty,
    scheduledAt: isNumber,
    maxRetry: isCount,
    retried: isCount,
    retryAt: isNumber,
    prevErr: isString,
    enqueuedAt: isNumber,
    processedAt: isNumber,
    finishedAt: isNumber,
    prevJobResult: isString,
    prevJobResults: isStrings,
    workflow: struct({ id: isString, node: isString }, ["id", "node"]),
    progress: isAny,
    traceparent: isString
  }, ["id", "status", "queue", "onSuccessIds", "onErrorIds", "maxRetry", "retried", "enqueuedAt"]),
  job: struct({ task: isString, payload: isAny, opts: isOpts }, ["task", "payload", "opts"])
}, ["meta", "job"])

/** @internal */
export const decodeMessage = (bytes: Uint8Array): Either.Either<JobMessage, string> => {
  const known = decoded.get(bytes)
  if (known !== undefined) return Either.right(known)
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(bytes))
  } catch (cause) {
    return Either.left(`not JSON: ${String(cause)}`)
  }
  if (isPlainMessage(json)) return Either.right(json as JobMessage)
  const result = validate(json)
  return Either.isLeft(result)
    ? Either.left(ParseResult.TreeFormatter.formatErrorSync(result.left))
    : Either.right(result.right)
}

/** @internal */
export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** @internal */
export const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"))

/** the key under which a record built by `jobRecord` keeps its message, unencoded */
const source: unique symbol = Symbol.for("tasqueue/record/source")

/**
 * A record of a job's state whose `message` is encoded only when read: a store in this process
 * (Memory) keeps the message itself and encodes it only when it is asked for it; others read
 * `message` and get the bytes, encoded once. A class (the getter on its prototype): an object
 * literal with a getter and a symbol key was a slow, per-record shape on the hot path.
 */
class LazyRecord implements JobRecord {
  readonly [source]: JobMessage
  readonly id: string
  constructor(
    message: JobMessage,
    readonly status: Status,
    readonly at: number,
    readonly attempt: number | undefined,
    readonly result: Uint8Array | undefined,
    private encoded: Uint8Array | undefined,
    /** see `successPatch` */
    readonly patch = false
  ) {
    this[source] = message
    this.id = message.meta.id
  }
  get message(): Uint8Array {
    return this.encoded ??= encodeMessage(this[source])
  }
}

/** a record of `message` in `status` (see `LazyRecord`); given `bytes`, those are the encoding */
export const jobRecord = (
  message: JobMessage,
  status: Status,
  at: number,
  attempt?: number,
  result?: Uint8Array,
  bytes?: Uint8Array
): JobRecord => new LazyRecord(message, status, at, attempt, result, bytes)

/**
 * The `successful` record of an attempt whose message is the job's state as its delivery
 * carried it (or as this attempt recorded it since) with only `status`, `processedAt` and
 * `finishedAt` (= `at`) changed. A store that keeps the job's state as it was may write the
 * record as a patch of those fields rather than the whole message again (Redis: see
 * lua/includes/record.lua); the record reads as any other.
 */
export const successPatch = (message: JobMessage, at: number, attempt: number, result: Uint8Array | undefined): JobRecord =>
  new LazyRecord(message, "successful", at, attempt, result, undefined, true)

/** the attempt's start of a record built by `successPatch`, else undefined (write it whole) */
export const patchOf = (record: JobRecord): number | undefined =>
  record instanceof LazyRecord && record.patch ? record[source].meta.processedAt : undefined

/** the message of a record built by `jobRecord`, else undefined */
export const sourceOf = (record: JobRecord): JobMessage | undefined => (record as { [source]?: JobMessage })[source]

const cachedDecoders = new WeakMap<Schema.Schema.AnyNoContext, (json: string) => Either.Either<unknown, ParseResult.ParseError>>()

/** a decoder of JSON text by `schema` (built once per schema: a task's result decoder) */
export const decoderOf = (schema: Schema.Schema.AnyNoContext) => {
  let decode = cachedDecoders.get(schema)
  if (decode === undefined) {
    decode = Schema.decodeUnknownEither(Schema.parseJson(schema as Schema.Schema<unknown, unknown>))
    cachedDecoders.set(schema, decode)
  }
  return decode
}
