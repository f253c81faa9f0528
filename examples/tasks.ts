/**
 * Task definitions the examples share: producers and workers import the same definitions.
 */
import { Schema } from "effect"
import { Task } from "tasqueue"

/** adds two numbers */
export const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})

/** waits, standing in for slow work */
export const Sleep = Task.make("sleep", {
  payload: Schema.Struct({ ms: Schema.Number })
})
