/**
 * How the CLI prints: aligned tables and `key: value` blocks for people, JSON for scripts.
 *
 * @internal
 */
import { Option } from "effect"

/** an aligned table: a header row, then rows; the last column is not padded */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

/** `key: value` lines, keys aligned; undefined values are left out */
export const fields = (entries: ReadonlyArray<readonly [string, string | undefined]>): string => {
  const shown = entries.filter((e): e is readonly [string, string] => e[1] !== undefined)
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1))
  return shown.map(([k, v]) => (v.includes("\n") ? `${k}:\n${indent(v)}` : `${`${k}:`.padEnd(width)} ${v}`)).join("\n")
}

const indent = (text: string) => text.split("\n").map((l) => `  ${l}`).join("\n")

/** an epoch-milliseconds time as ISO 8601 (UTC), or "-" */
export const time = (at: number | undefined): string => (at === undefined ? "-" : new Date(at).toISOString())

/** a count, or "-" when the backend cannot tell */
export const count = (n: number | undefined): string => (n === undefined ? "-" : String(n))

/** shortens text to one line of at most `max` characters */
export const short = (text: string, max = 60): string => {
  const one = text.replace(/\s+/g, " ")
  return one.length > max ? `${one.slice(0, max - 1)}…` : one
}

/** JSON for scripts: options become their value or null, bytes their UTF-8 text */
export const json = (value: unknown): string =>
  JSON.stringify(value, (_, v) => {
    if (Option.isOption(v)) return Option.getOrNull(v)
    if (v instanceof Uint8Array) return new TextDecoder().decode(v)
    return v
  })

/** bytes as text: pretty JSON when they are JSON */
export const bytesText = (bytes: Uint8Array): string => {
  const text = new TextDecoder().decode(bytes)
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}
