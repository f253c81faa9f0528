/**
 * Watches the fibers started under it and tells how deep the deepest live one's stack is. A
 * loop that goes round inside a region it never leaves (an `uninterruptibleMask` around its
 * own recursion) keeps one frame per turn: a long-lived server fiber doing that grows its
 * memory with every job it handles. The depth is read from the fiber's internal `_stack`:
 * Effect has no public accessor for it, and this is a test of exactly that.
 */
import type { Exit, Fiber } from "effect"
import { Effect, Supervisor } from "effect"

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
