/**
 * What a workflow is, as stored: a tree of groups and chains whose leaves are job specs with
 * their ids, and how it ended. Pure functions over the tree: validation, giving jobs their ids,
 * paths, the jobs whose results a node passes on, and the status read off the jobs.
 *
 * @internal
 */
import { Option, Schema } from "effect"
import type { JobSpec, Status } from "../../Job.js"
import { isTerminal, JobSpec as JobSpecSchema } from "../../Job.js"

/** A node of a workflow as stored. */
export type Node =
  | { readonly _tag: "job"; readonly id: string; readonly spec: JobSpec }
  | { readonly _tag: "group"; readonly children: ReadonlyArray<Node> }
  | { readonly _tag: "chain"; readonly children: ReadonlyArray<Node> }

type NodeEncoded =
  | { readonly _tag: "job"; readonly id: string; readonly spec: Schema.Schema.Encoded<typeof JobSpecSchema> }
  | { readonly _tag: "group"; readonly children: ReadonlyArray<NodeEncoded> }
  | { readonly _tag: "chain"; readonly children: ReadonlyArray<NodeEncoded> }

const NodeSchema: Schema.Schema<Node, NodeEncoded> = Schema.Union(
  Schema.Struct({ _tag: Schema.Literal("job"), id: Schema.String, spec: JobSpecSchema }),
  Schema.Struct({
    _tag: Schema.Literal("group"),
    children: Schema.Array(Schema.suspend((): Schema.Schema<Node, NodeEncoded> => NodeSchema))
  }),
  Schema.Struct({
    _tag: Schema.Literal("chain"),
    children: Schema.Array(Schema.suspend((): Schema.Schema<Node, NodeEncoded> => NodeSchema))
  })
)

/** A stored workflow. */
export const Definition = Schema.Struct({
  id: Schema.String,
  root: NodeSchema,
  createdAt: Schema.Number,
  /** the span of the call that enqueued the workflow (W3C `traceparent`), which its jobs carry */
  traceparent: Schema.optional(Schema.String)
})
export type Definition = typeof Definition.Type

/** How a workflow ended. */
export const End = Schema.Struct({
  status: Schema.Literal("successful", "failed", "cancelled"),
  at: Schema.Number,
  jobId: Schema.optional(Schema.String),
  task: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String)
})
export type End = typeof End.Type

/** A node before ids are given: what the public constructors build. */
export type Draft =
  | { readonly _tag: "job"; readonly spec: JobSpec }
  | { readonly _tag: "group"; readonly children: ReadonlyArray<Draft> }
  | { readonly _tag: "chain"; readonly children: ReadonlyArray<Draft> }

/** the key of a workflow's definition in the results store */
export const definitionKey = (id: string) => `wf:${id}`
/** the key of a workflow's end (written once: the first end wins) */
export const endKey = (id: string) => `wf:${id}:end`
/** the key of the set of a group's finished members */
export const doneKey = (id: string, path: string) => `wf:${id}:done:${path}`

/** why a draft cannot run, if it cannot: an empty group, a chain of fewer than two steps */
export const validate = (draft: Draft): string | undefined => {
  if (draft._tag === "job") return undefined
  if (draft._tag === "group" && draft.children.length === 0) return "a group needs at least one job"
  if (draft._tag === "chain" && draft.children.length < 2) return "a chain needs at least two steps"
  for (const child of draft.children) {
    const invalid = validate(child)
    if (invalid !== undefined) return invalid
  }
  return undefined
}

/** the path of the i-th child of the node at `path` ("" is the root; "0.2" its first child's third) */
export const childPath = (path: string, i: number) => (path === "" ? `${i}` : `${path}.${i}`)

/** the path of a node's parent; undefined for the root */
export const parentPath = (path: string): string | undefined =>
  path === "" ? undefined : path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : ""

/** a node's index among its parent's children */
export const indexIn = (path: string) => Number(path.slice(path.lastIndexOf(".") + 1))

/** gives every job of a draft its id: the one in its options, or `<workflow id>/<path>` */
export const assignIds = (workflowId: string, draft: Draft, path = ""): Node =>
  draft._tag === "job"
    ? { _tag: "job", id: draft.spec.opts.id ?? `${workflowId}/${path === "" ? "job" : path}`, spec: draft.spec }
    : { _tag: draft._tag, children: draft.children.map((child, i) => assignIds(workflowId, child, childPath(path, i))) }

/** the node at `path` */
export const nodeAt = (root: Node, path: string): Node | undefined => {
  if (path === "") return root
  let node: Node | undefined = root
  for (const part of path.split(".")) {
    if (node === undefined || node._tag === "job") return undefined
    node = node.children[Number(part)]
  }
  return node
}

/** the jobs of a node, in order */
export const leaves = (node: Node): Array<{ readonly id: string; readonly spec: JobSpec }> =>
  node._tag === "job" ? [node] : node.children.flatMap(leaves)

/** the jobs whose results are a node's output: a job's own; a chain's last step's; all of a group's */
export const outputLeaves = (node: Node): Array<string> =>
  node._tag === "job"
    ? [node.id]
    : node._tag === "chain"
    ? outputLeaves(node.children[node.children.length - 1]!)
    : node.children.flatMap(outputLeaves)

/** whether a node's output is one result (passed on as `prevJobResult`) or a list (`prevJobResults`) */
export const isSingle = (node: Node): boolean =>
  node._tag === "job" ? true : node._tag === "chain" ? isSingle(node.children[node.children.length - 1]!) : false

/** the status of a workflow from its end and its jobs' statuses */
export const workflowStatus = (
  end: Option.Option<End>,
  jobs: ReadonlyArray<{ readonly status: Option.Option<Status> }>
): Status =>
  Option.isSome(end)
    ? end.value.status
    : jobs.some((j) => Option.isSome(j.status) && j.status.value !== "queued" && !isTerminal(j.status.value))
    ? "processing"
    : jobs.some((j) => Option.exists(j.status, isTerminal))
    ? "processing"
    : "queued"
