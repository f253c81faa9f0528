/**
 * Events on the wire (Redis and NATS): a batch of events as the JSON of their Schema encoding.
 *
 * Every event's encoding is the event itself (strings, numbers, and a progress value that is
 * any JSON), so a batch whose events have the shapes the schema names is written with
 * `JSON.stringify` at once; any other batch goes through the schema (which drops excess keys
 * and rejects what does not match).
 *
 * @internal
 */
import { Either, Schema, SchemaAST } from "effect"
import { JobEvent } from "../../JobEvent.js"

const Batch = Schema.Array(JobEvent)
const encode = Schema.encodeSync(Schema.parseJson(Batch))
const decode = Schema.decodeUnknownEither(Schema.parseJson(Batch))

/** what `typeof` a field's value may give ("any": anything), with "undefined" where it is optional */
interface Kinds {
  readonly fields: ReadonlyMap<string, ReadonlySet<string> | "any">
  /** the fields an event must have */
  readonly required: ReadonlyArray<string>
}

/** per event tag, its fields' kinds, read from the schema; a field of another kind is not listed */
const kindsByTag: ReadonlyMap<string, Kinds> = (() => {
  const kindsOf = (ast: SchemaAST.AST, into: Set<string>): boolean => {
    switch (ast._tag) {
      case "StringKeyword":
        return into.add("string"), true
      case "NumberKeyword":
        return into.add("number"), true
      case "UndefinedKeyword":
        return into.add("undefined"), true
      case "Union":
        return ast.types.every((member) => kindsOf(member, into))
      default:
        return false
    }
  }
  const byTag = new Map<string, Kinds>()
  for (const member of JobEvent.members) {
    const ast = member.ast
    if (!SchemaAST.isTypeLiteral(ast) || ast.indexSignatures.length > 0) continue
    let tag: string | undefined
    const fields = new Map<string, ReadonlySet<string> | "any">()
    const required: Array<string> = []
    for (const signature of ast.propertySignatures) {
      const name = String(signature.name)
      if (name === "_tag") {
        if (SchemaAST.isLiteral(signature.type) && typeof signature.type.literal === "string") tag = signature.type.literal
        continue
      }
      if (!signature.isOptional) required.push(name)
      if (signature.type._tag === "UnknownKeyword") {
        fields.set(name, "any")
        continue
      }
      const into = new Set<string>()
      if (signature.isOptional) into.add("undefined")
      if (kindsOf(signature.type, into)) fields.set(name, into)
    }
    if (tag !== undefined) byTag.set(tag, { fields, required })
  }
  return byTag
})()

/** whether an event's encoding is the event itself: every key named by its tag's schema, every value of its kind */
const isPlain = (event: JobEvent): boolean => {
  const kinds = kindsByTag.get(event._tag)
  if (kinds === undefined) return false
  for (const key of kinds.required) if (!(key in event)) return false
  for (const key in event) {
    if (key === "_tag") continue
    const kind = kinds.fields.get(key)
    if (kind === undefined) return false
    if (kind !== "any" && !kind.has(typeof (event as unknown as Record<string, unknown>)[key])) return false
  }
  return true
}

/** the JSON text of a batch of events */
export const encodeBatch = (events: ReadonlyArray<JobEvent>): string =>
  events.every(isPlain) ? JSON.stringify(events) : encode(events)

/** the events of a batch; none when it does not decode (another version, or not ours) */
export const decodeBatch = (text: string): ReadonlyArray<JobEvent> => Either.getOrElse(decode(text), () => [])
