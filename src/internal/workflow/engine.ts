/**
 * The workflow engine: groups, chains and their nesting, built on Broker and Results only.
 *
 * A workflow is stored once, at enqueue, as a definition: a tree whose leaves are job specs
 * with their ids (`<workflow id>/<path>` unless given), kept under `wf:<id>` (created with the
 * jobs it starts with, in one step where the store can: see guardedEnqueue.ts). Each job of it
 * carries `meta.workflow = { id, node: path }`. When a job of the workflow reaches a final state
 * the server calls `onFinal`, which walks up the tree:
 *
 * - a job that is the last unfinished member of a group completes the group. The members that
 *   finished are counted with `Results.add` (a set: atomic, idempotent), so of two members that
 *   finish at the same moment exactly one sees the group complete;
 * - a finished step of a chain starts the next step, which receives the step's results, unless
 *   the workflow ended (the check and the enqueue one step where the store can);
 * - the root finishing ends the workflow (`wf:<id>:end`, written with `create`: first end wins).
 *
 * Where the walk needs nothing read from the store, `stepOf` plans it as one step that the
 * worker hands with the job's settle to a store that can apply it there (see finalStep.ts).
 *
 * A job that fails for good ends the workflow as failed and cancels the jobs still waiting;
 * workers skip jobs of an ended workflow. Every step is safe to repeat (ids are derived,
 * counting is idempotent), which is what redelivery after a crash needs.
 *
 * @internal
 */
import { Clock, Effect, Either, Option, ParseResult, Schema } from "effect"
import type { Broker, BrokerError } from "../../Broker.js"
import type { InvalidPayload, JobMessage, Status } from "../../Job.js"
import type { Results, ResultsError } from "../../Results.js"
import { WorkflowExists, WorkflowNotFound } from "../../TasqueueError.js"
import { decodeMessage, fromUtf8, toBase64, utf8 } from "../codec.js"
import { dueAt, makeMessage } from "../messages.js"
import type { Guard } from "../guardedEnqueue.js"
import type { Hooks } from "../server/hooks.js"
import type { PendingMessage, Producer } from "../server/producer.js"
import type { FinalStep } from "../finalStep.js"
import type { Node } from "./definition.js"
import {
  childPath,
  Definition,
  definitionKey,
  doneKey,
  End,
  endKey,
  indexIn,
  isSingle,
  leaves,
  nodeAt,
  outputLeaves,
  parentPath
} from "./definition.js"

type Input = { readonly prevJobResult?: string; readonly prevJobResults?: ReadonlyArray<string> }

/** What the engine needs from the server. */
export interface Deps {
  readonly results: Results["Type"]
  readonly broker: Broker["Type"]
  /**
   * encodes and writes messages (idempotent by id; `newRun` runs a finished job again), unless
   * `guard` stops it (false then; see guardedEnqueue.ts)
   */
  readonly enqueueMessages: (
    items: ReadonlyArray<PendingMessage>,
    newRun: boolean,
    guard?: Guard
  ) => Effect.Effect<boolean, BrokerError | ResultsError | InvalidPayload>
  /** the `queued` records and messages of a next step carried by a settle (see finalStep.ts) */
  readonly encodeQueued: Producer["encodeQueued"]
  readonly hooks: Hooks
}

const decodeDefinition = Schema.decodeUnknownEither(Schema.parseJson(Definition))
const decodeEnd = Schema.decodeUnknownEither(Schema.parseJson(End))
const encodeJson = (value: unknown) => utf8(JSON.stringify(value))

export const make = (deps: Deps) => {
  const { results } = deps
  /** definitions never change: keep the recent ones */
  const cache = new Map<string, Definition>()
  const remember = (definition: Definition) => {
    cache.set(definition.id, definition)
    if (cache.size > 10_000) cache.delete(cache.keys().next().value!)
  }

  const load = (id: string) =>
    Effect.suspend(() => {
      const cached = cache.get(id)
      if (cached !== undefined) return Effect.succeed(cached)
      return Effect.flatMap(results.get(definitionKey(id)), (bytes) => {
        if (Option.isNone(bytes)) return Effect.fail(new WorkflowNotFound({ id, message: `workflow ${id} not found` }))
        const decoded = decodeDefinition(fromUtf8(bytes.value))
        if (Either.isLeft(decoded)) {
          return Effect.die(new Error(`workflow ${id}: stored definition does not decode: ${
            ParseResult.TreeFormatter.formatErrorSync(decoded.left)
          }`))
        }
        remember(decoded.right)
        return Effect.succeed(decoded.right)
      })
    })

  const getEnd = (id: string) =>
    Effect.map(results.get(endKey(id)), Option.flatMap((bytes) => Either.getRight(decodeEnd(fromUtf8(bytes)))))

  /** the messages that start `node`: every job that can run at once, with the input */
  const starting = (definition: Definition, node: Node, path: string, input: Input, now: number): Array<PendingMessage> => {
    switch (node._tag) {
      case "job": {
        const workflow = { id: definition.id, node: path }
        const message = makeMessage(
          node.spec,
          node.id,
          now,
          definition.traceparent === undefined
            ? { workflow, ...input }
            : { workflow, ...input, traceparent: definition.traceparent }
        )
        return [{ message, runAt: dueAt(node.spec, now) }]
      }
      case "group":
        return node.children.flatMap((child, i) => starting(definition, child, childPath(path, i), input, now))
      case "chain":
        return starting(definition, node.children[0]!, childPath(path, 0), input, now)
    }
  }

  /**
   * stores a workflow and enqueues the jobs it starts with: one step where the store can (the
   * definition created with the enqueue, see guardedEnqueue.ts); nothing when it exists already
   */
  const enqueue = Effect.fnUntraced(function*(definition: Definition) {
    const created = yield* deps.enqueueMessages(
      starting(definition, definition.root, "", {}, definition.createdAt),
      false,
      { _tag: "create", key: definitionKey(definition.id), value: encodeJson(definition) }
    )
    if (!created) {
      return yield* Effect.fail(new WorkflowExists({ id: definition.id, message: `workflow ${definition.id} exists already` }))
    }
    remember(definition)
  })

  /** the output of a finished node, as the next step's input */
  const outputOf = (node: Node) =>
    Effect.map(results.getResults(outputLeaves(node)), (list): Input => {
      const encoded = list.map((r) => toBase64(Option.getOrElse(r, () => new Uint8Array())))
      return isSingle(node) ? { prevJobResult: encoded[0]! } : { prevJobResults: encoded }
    })

  const end = (id: string, value: End) => results.create(endKey(id), encodeJson(value))

  /** marks the waiting jobs of a workflow cancelled and takes them out of their queues */
  const cancelWaiting = Effect.fnUntraced(function*(definition: Definition) {
    const jobs = leaves(definition.root)
    const stored = yield* results.getJobs(jobs.map((j) => j.id))
    const now = yield* Clock.currentTimeMillis
    const records: Array<{ id: string; status: Status; message: Uint8Array; at: number }> = []
    const removals: Array<{ queue: string; id: string }> = []
    const messages: Array<JobMessage> = []
    stored.forEach((bytes) => {
      const message = Option.flatMap(bytes, (b) => Either.getRight(decodeMessage(b)))
      if (Option.isNone(message)) return
      const { meta } = message.value
      if (meta.status !== "queued" && meta.status !== "retrying") return
      const cancelled: JobMessage = { meta: { ...meta, status: "cancelled", finishedAt: now }, job: message.value.job }
      records.push({ id: meta.id, status: "cancelled", message: encodeJson(cancelled), at: now })
      messages.push(cancelled)
      removals.push({ queue: meta.queue, id: meta.id })
    })
    if (records.length > 0) yield* results.record(records)
    yield* Effect.forEach(removals, ({ id, queue }) => deps.broker.remove(queue, id), { discard: true })
    yield* deps.hooks.cancelled(messages, now)
  })

  /**
   * What follows a final state of a workflow's job. `result`, when given, is the result the job's
   * final record stored (passed on to a next chain step without reading it back).
   */
  const onFinal = Effect.fnUntraced(function*(
    message: JobMessage,
    status: Status,
    recovering: boolean,
    result?: Uint8Array
  ) {
    const ref = message.meta.workflow
    if (ref === undefined || status === "cancelled") return
    const definition = yield* load(ref.id)
    const now = yield* Clock.currentTimeMillis
    if (status === "failed") {
      const ended = yield* end(ref.id, {
        status: "failed",
        at: now,
        jobId: message.meta.id,
        task: message.job.task,
        error: message.meta.prevErr
      })
      if (ended || recovering) yield* cancelWaiting(definition)
      return
    }
    // the end is checked only as a next step starts: counting a group's member or ending the
    // workflow (first end wins) needs no check
    let path = ref.node
    for (;;) {
      const parent = parentPath(path)
      if (parent === undefined) {
        yield* end(ref.id, { status: "successful", at: now })
        return
      }
      const parentNode = nodeAt(definition.root, parent)!
      if (parentNode._tag === "group") {
        const size = yield* results.add(doneKey(ref.id, parent), `${indexIn(path)}`)
        if (size < parentNode.children.length) return
        path = parent
        continue
      }
      if (parentNode._tag === "chain") {
        const i = indexIn(path)
        if (i === parentNode.children.length - 1) {
          path = parent
          continue
        }
        const step = parentNode.children[i]!
        const input = step._tag === "job" && path === ref.node && result !== undefined
          ? { prevJobResult: toBase64(result) }
          : yield* outputOf(step)
        const next = childPath(parent, i + 1)
        // not once the workflow ended: the check and the enqueue one step where the store can
        yield* deps.enqueueMessages(
          starting(definition, parentNode.children[i + 1]!, next, input, now),
          !recovering,
          { _tag: "unless", key: endKey(ref.id) }
        )
        return
      }
      return yield* Effect.dieMessage(`workflow ${ref.id}: node ${parent} is not a group or chain`)
    }
  })

  /**
   * What the success of a workflow's job leads to, as one step that goes with its settle (see
   * finalStep.ts), when it needs nothing read from the store: the workflow's end (after
   * counting the job in its group, if the job completes at most one group on the way up), or
   * the next step of its chain when the step that finished is this job (its result is the next
   * step's input) and the next step's jobs share this job's queue. Undefined otherwise (and when
   * the definition is not in this process' cache): `onFinal` goes step by step then.
   */
  const stepOf = (message: JobMessage, result: Uint8Array | undefined, now: number): FinalStep | undefined => {
    const ref = message.meta.workflow
    const definition = ref === undefined ? undefined : cache.get(ref.id)
    if (ref === undefined || definition === undefined) return undefined
    let path = ref.node
    let group: { key: string; member: string; size: number } | undefined
    for (;;) {
      const parent = parentPath(path)
      if (parent === undefined) {
        return { _tag: "end", group, key: endKey(ref.id), value: encodeJson({ status: "successful", at: now }) }
      }
      const parentNode = nodeAt(definition.root, parent)
      if (parentNode?._tag === "group") {
        if (group !== undefined) return undefined
        group = { key: doneKey(ref.id, parent), member: `${indexIn(path)}`, size: parentNode.children.length }
        path = parent
        continue
      }
      if (parentNode?._tag !== "chain") return undefined
      const i = indexIn(path)
      if (i === parentNode.children.length - 1) {
        path = parent
        continue
      }
      if (path !== ref.node || result === undefined) return undefined
      const items = starting(definition, parentNode.children[i + 1]!, childPath(parent, i + 1), { prevJobResult: toBase64(result) }, now)
      if (items.some((item) => item.message.meta.queue !== message.meta.queue)) return undefined
      const encoded = deps.encodeQueued(items, now)
      return encoded === undefined ? undefined : { _tag: "next", guard: endKey(ref.id), items, ...encoded }
    }
  }

  /** cancels a workflow: it ends as cancelled (unless it ended already) and its waiting jobs are cancelled */
  const cancel = Effect.fnUntraced(function*(id: string) {
    const definition = yield* load(id)
    const now = yield* Clock.currentTimeMillis
    const ended = yield* end(id, { status: "cancelled", at: now })
    if (ended) yield* cancelWaiting(definition)
    return ended
  })

  /** the statuses of a workflow's jobs, in order; none for a job not enqueued yet */
  const jobStatuses = Effect.fnUntraced(function*(definition: Definition) {
    const jobs = leaves(definition.root)
    const stored = yield* results.getJobs(jobs.map((j) => j.id))
    return jobs.map((job, i) => ({
      id: job.id,
      task: job.spec.task,
      status: Option.flatMap(stored[i]!, (b) => Either.getRight(decodeMessage(b))).pipe(
        Option.map((m) => m.meta.status)
      )
    }))
  })

  return { enqueue, onFinal, stepOf, cancel, load, getEnd, jobStatuses }
}

export type Engine = ReturnType<typeof make>
