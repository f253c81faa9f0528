/**
 * Task definitions: a name with the schema of its payload and, optionally, the schema of its
 * result. A definition has no handler, so producers and workers can share it; workers attach
 * the handler with `Server.register`.
 *
 * @since 0.1.0
 */
import type { Schema } from "effect"
import { Pipeable } from "effect"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("tasqueue/Task")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A task: its name (what job messages refer to), the schema that decodes its payload and the
 * schema that encodes the value its handler returns. Both schemas must encode to JSON values.
 *
 * @since 0.1.0
 * @category models
 */
export interface Task<
  out Name extends string,
  in out Payload extends Schema.Schema.AnyNoContext,
  in out Result extends Schema.Schema.AnyNoContext | undefined = undefined
> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly payload: Payload
  readonly result: Result
}

/**
 * @since 0.1.0
 */
export declare namespace Task {
  /**
   * Any task definition.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Any {
    readonly [TypeId]: TypeId
    readonly name: string
    readonly payload: Schema.Schema.AnyNoContext
    readonly result: Schema.Schema.AnyNoContext | undefined
  }

  /**
   * The decoded payload a handler receives.
   *
   * @since 0.1.0
   * @category models
   */
  export type Payload<T extends Any> = Schema.Schema.Type<T["payload"]>

  /**
   * The value a handler returns: the result schema's type, or `void` for a task without one.
   *
   * @since 0.1.0
   * @category models
   */
  export type Success<T extends Any> = T["result"] extends Schema.Schema.AnyNoContext
    ? Schema.Schema.Type<T["result"]>
    : void

  /**
   * What `Server.getResult` gives back: the decoded result, or the raw bytes the handler saved
   * with `JobCtx.save` for a task without a result schema.
   *
   * @since 0.1.0
   * @category models
   */
  export type Result<T extends Any> = T["result"] extends Schema.Schema.AnyNoContext
    ? Schema.Schema.Type<T["result"]>
    : Uint8Array
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return Pipeable.pipeArguments(this, arguments)
  }
}

/**
 * Defines a task.
 *
 * @example
 * ```ts
 * const Add = Task.make("add", {
 *   payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
 *   result: Schema.Struct({ result: Schema.Number })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Payload extends Schema.Schema.AnyNoContext,
  Result extends Schema.Schema.AnyNoContext | undefined = undefined
>(
  name: Name,
  schemas: { readonly payload: Payload; readonly result?: Result }
): Task<Name, Payload, Result> => {
  if (name.length === 0) throw new TypeError("Task.make: a task needs a non-empty name")
  const self = Object.create(Proto)
  self.name = name
  self.payload = schemas.payload
  self.result = schemas.result
  return self
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isTask = (u: unknown): u is Task.Any => typeof u === "object" && u !== null && TypeId in u
