/**
 * The wire form of event batches: events of the shapes the schema names are written as they
 * are (no schema pass), with the same JSON as the schema gives; anything else goes through
 * the schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import type { JobEvent as Event } from "../../src/JobEvent.js"
import { JobEvent } from "../../src/JobEvent.js"
import { decodeBatch, encodeBatch } from "../../src/internal/events/codec.js"

const bySchema = Schema.encodeSync(Schema.parseJson(Schema.Array(JobEvent)))
const common = { id: "j1", task: "t", queue: "q", at: 1700000000000 }
const events: ReadonlyArray<Event> = [
  { _tag: "Enqueued", ...common },
  { _tag: "Enqueued", ...common, runAt: 1700000001000, workflowId: "w" },
  { _tag: "Started", ...common, attempt: 1 },
  { _tag: "Progress", ...common, attempt: 1, progress: { done: 3, of: [1, "x", null] } },
  { _tag: "Retrying", ...common, attempt: 1, retry: 1, delay: 250, error: "boom" },
  { _tag: "Succeeded", ...common, attempt: 2, workflowId: undefined },
  { _tag: "Failed", ...common, attempt: 3, error: "for good" },
  { _tag: "Cancelled", ...common, workflowId: "w" },
  { _tag: "DeadLettered", ...common, task: "", reason: "undecodable" }
]

describe("events on the wire", () => {
  it("a batch of every kind of event: the same JSON as the schema's, and it decodes back", () => {
    const text = encodeBatch(events)
    // the same JSON, its keys perhaps in another order
    assert.deepStrictEqual(JSON.parse(text), JSON.parse(bySchema(events)))
    assert.deepStrictEqual(decodeBatch(text), JSON.parse(JSON.stringify(events)))
  })

  it("an excess key goes through the schema (dropped); a wrong type or a missing field is refused", () => {
    const excess = { _tag: "Started", ...common, attempt: 1, secret: "x" } as Event
    assert.strictEqual(encodeBatch([excess]), bySchema([{ _tag: "Started", ...common, attempt: 1 }]))
    assert.throws(() => encodeBatch([{ _tag: "Started", ...common, attempt: "1" } as unknown as Event]))
    assert.throws(() => encodeBatch([{ _tag: "Failed", ...common, attempt: 1 } as unknown as Event]))
  })
})
