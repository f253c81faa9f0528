/**
 * The Lua scripts as files (src/internal/redis/lua/*.lua) and their embedding in
 * lua/scripts.generated.ts: the committed module is what scripts/embed-lua.ts makes of the files
 * today, each script's header names what it reads, and includes resolve once each. Needs no
 * Redis: every Redis suite runs the scripts themselves.
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Scripts from "../../src/internal/redis/scripts.js"
import { embed, generate, generatedFile, keyCount, luaDir, resolveIncludes } from "../../scripts/embed-lua.js"

const ownText = (name: string) => readFileSync(join(luaDir, `${name}.lua`), "utf8")
const scriptName = (s: Scripts.Script) => s.name.charAt(8).toLowerCase() + s.name.slice(9)

describe("Redis Lua scripts", () => {
  it("the generated module is up to date with the .lua files (else run npm run lua)", () => {
    assert.strictEqual(readFileSync(generatedFile, "utf8"), generate())
  })

  it("the generated module needs nothing at run time", () => {
    assert.notMatch(readFileSync(generatedFile, "utf8"), /^import /m)
  })

  it("each script's header names every KEYS[i] and ARGV[i] its own code reads by number", () => {
    for (const s of Scripts.all) {
      const text = ownText(scriptName(s))
      const header = /^--\[\[[\s\S]*?\]\]/.exec(text)![0]
      const code = text.slice(header.length)
      for (const [, table, index] of code.matchAll(/(KEYS|ARGV)\[(\d+)\]/g)) {
        assert.match(header, new RegExp(`^\\s*${table}\\[${index}\\]`, "m"), `${s.name}: ${table}[${index}] is not in its header`)
      }
      assert.strictEqual(s.keys, keyCount(s.name, text))
    }
  })

  it("every script is defined, and every include comes in once", () => {
    assert.strictEqual(Scripts.all.length, 21)
    for (const s of Scripts.all) {
      assert.notInclude(s.lua, "@include", s.name)
      const functions = [...s.lua.matchAll(/local function (\w+)/g)].map((m) => m[1])
      assert.deepStrictEqual(functions, [...new Set(functions)], `${s.name} defines a function twice`)
    }
    assert.include(Scripts.settle.lua, "local function recordOne")
    assert.include(Scripts.settle.lua, "local function claim")
    assert.include(Scripts.enqueueRecorded.lua, "local function recordOne")
    assert.include(Scripts.enqueueRecorded.lua, "local function put")
  })

  it("an include cycle is an error, not a loop", () => {
    const dir = mkdtempSync(join(tmpdir(), "tasqueue-lua-"))
    try {
      writeFileSync(join(dir, "a.lua"), `--- @include "b"\n`)
      writeFileSync(join(dir, "b.lua"), `--- @include "a"\n`)
      assert.throws(() => resolveIncludes(join(dir, "a.lua")), /cycle/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a key the header does not name is an error", () => {
    assert.throws(() => keyCount("bad", `--[[\n  KEYS[1] a\n]]\nredis.call('GET', KEYS[2])\n`), /KEYS\[2\]/)
    assert.strictEqual(keyCount("good", `--[[\n  KEYS[1] a\n  KEYS[2] b\n]]\nredis.call('GET', KEYS[2])\n`), 2)
  })

  it("a key the header does not name is an error in an included file too", () => {
    const dir = mkdtempSync(join(tmpdir(), "tasqueue-lua-"))
    try {
      writeFileSync(join(dir, "a.lua"), `--[[\n  KEYS[1] a\n]]\n--- @include "b"\nredis.call('GET', KEYS[1])\n`)
      writeFileSync(join(dir, "b.lua"), `redis.call('GET', KEYS[2])\n`)
      assert.throws(() => embed("a", join(dir, "a.lua")), /KEYS\[2\] is not named/)
      writeFileSync(join(dir, "b.lua"), `redis.call('GET', KEYS[1])\n`)
      assert.strictEqual(embed("a", join(dir, "a.lua")).keys, 1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
