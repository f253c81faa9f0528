/**
 * Encoding of job messages. The `JobMessage` schema has no transformations (its type is its
 * encoded form, up to brands), so encoding is `JSON.stringify` and decoding is `JSON.parse`
 * followed by the schema's validation.
 *
 * @internal
 */
import { Either, ParseResult, Schema } from "effect"
import { JobMessage } from "../Job.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** @internal */
export const utf8 = (text: string): Uint8Array => encoder.encode(text)

/** @internal */
export const fromUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes)

/** @internal */
export const encodeMessage = (message: JobMessage): Uint8Array => encoder.encode(JSON.stringify(message))

const validate = Schema.decodeUnknownEither(JobMessage, { onExcessProperty: "ignore" })

/** @internal */
export const decodeMessage = (bytes: Uint8Array): Either.Either<JobMessage, string> => {
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(bytes))
  } catch (cause) {
    return Either.left(`not JSON: ${String(cause)}`)
  }
  return Either.mapLeft(validate(json), (e) => ParseResult.TreeFormatter.formatErrorSync(e))
}

/** @internal */
export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** @internal */
export const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"))
