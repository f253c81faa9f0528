/**
 * Test helper: a tracer that keeps every span it makes. Its spans have W3C-shaped ids, take the
 * trace id and the sampled flag of their parent (like a parent-based sampler), and record how
 * they ended.
 */
import type { Context, Exit, Option } from "effect"
import { Tracer } from "effect"

const hex = (length: number) => {
  let out = ""
  for (let i = 0; i < length; i++) out += "0123456789abcdef"[Math.floor(Math.random() * 16)]
  return out
}

export class TestSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId = hex(16)
  readonly traceId: string
  readonly sampled: boolean
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  links: Array<Tracer.SpanLink>
  exit: Exit.Exit<unknown, unknown> | undefined
  onEnd: ((span: TestSpan) => void) | undefined
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind
  ) {
    this.traceId = parent._tag === "Some" ? parent.value.traceId : hex(32)
    this.sampled = parent._tag === "Some" ? parent.value.sampled : true
    this.status = { _tag: "Started", startTime }
    this.links = [...links]
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>) {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
    this.exit = exit
    this.onEnd?.(this)
  }
  attribute(key: string, value: unknown) {
    this.attributes.set(key, value)
  }
  event() {}
  addLinks(links: ReadonlyArray<Tracer.SpanLink>) {
    this.links.push(...links)
  }
  /** the id of the parent span, if any */
  get parentId(): string | undefined {
    return this.parent._tag === "Some" ? this.parent.value.spanId : undefined
  }
}

/** what a span is, as plain data (to print from a child process) */
export const toJson = (span: TestSpan) => ({
  name: span.name,
  kind: span.kind,
  traceId: span.traceId,
  spanId: span.spanId,
  parentId: span.parentId,
  sampled: span.sampled,
  attributes: Object.fromEntries(span.attributes)
})

/** a tracer and the spans it made, in order of start; `onEnd` sees each span that ends */
export const make = (onEnd?: (span: TestSpan) => void) => {
  const spans: Array<TestSpan> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const span = new TestSpan(name, parent, context, links, startTime, kind)
      span.onEnd = onEnd
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans, named: (name: string) => spans.filter((s) => s.name === name) }
}
