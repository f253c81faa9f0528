/**
 * Watches the fibers started under it and tells how deep the deepest live one's stack is. A
 * loop that goes round inside a region it never leaves (an `uninterruptibleMask` around its
 * own recursion) keeps one frame per turn: a long-lived server fiber doing that grows its
 * memory with every job it handles. The depth is read from the fiber's internal `_stack`:
 * Effect has no public accessor for it, and this is a test of exactly that.
 */
import type { Exit } from "effect"
import { Effect, Fiber, Supervisor } from "effect"
import type * as Job from "../../src/Job.js"
import type * as Server from "../../src/Server.js"

export class FiberStacks extends Supervisor.AbstractSupervisor<void> {
  readonly live = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  value = Effect.void
  override onStart(
    _context: unknown,
    _effect: unknown,
    _parent: unknown,
    fiber: Fiber.RuntimeFiber<any, any>
  ): void {
    this.live.add(fiber)
  }
  override onEnd(_exit: Exit.Exit<unknown, unknown>, fiber: Fiber.RuntimeFiber<any, any>): void {
    this.live.delete(fiber)
  }
  /** the length of the deepest stack of the fibers alive now */
  deepest(): number {
    let max = 0
    for (const fiber of this.live) {
      const stack = (fiber as unknown as { readonly _stack?: ReadonlyArray<unknown> })._stack
      if (stack === undefined) throw new Error("FiberRuntime has no _stack any more: update this helper")
      max = Math.max(max, stack.length)
    }
    return max
  }
}

/**
 * Runs `server` with its fibers watched, enqueues the jobs `job(i)` makes one at a time (each
 * awaited, and checked successful), and gives the deepest stack of the server's fibers alive
 * after the last one: each fiber of the server goes round at least once per job.
 */
export const deepestAfter = (
  server: Server.Server["Type"],
  n: number,
  job: (i: number) => Effect.Effect<Job.Job, unknown>
): Effect.Effect<number, unknown> =>
  Effect.gen(function*() {
    const stacks = new FiberStacks()
    const worker = yield* Effect.fork(Effect.supervised(server.start, stacks))
    for (let i = 0; i < n; i++) {
      const id = yield* server.enqueue(yield* job(i))
      const done = yield* server.awaitJob(id)
      if (done.meta.status !== "successful") return yield* Effect.die(`job ${id} is ${done.meta.status}`)
    }
    const deepest = stacks.deepest()
    yield* Fiber.interrupt(worker)
    return deepest
  })
