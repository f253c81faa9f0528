/**
 * Events on the wire (Redis and NATS): a batch of events as the JSON of their Schema encoding.
 *
 * @internal
 */
import { Either, Schema } from "effect"
import { JobEvent } from "../../JobEvent.js"

const Batch = Schema.Array(JobEvent)
const encode = Schema.encodeSync(Schema.parseJson(Batch))
const decode = Schema.decodeUnknownEither(Schema.parseJson(Batch))

/** the JSON text of a batch of events */
export const encodeBatch = (events: ReadonlyArray<JobEvent>): string => encode(events)

/** the events of a batch; none when it does not decode (another version, or not ours) */
export const decodeBatch = (text: string): ReadonlyArray<JobEvent> => Either.getOrElse(decode(text), () => [])
