/**
 * Every `ts` block of README.md compiles against this repository (tasqueue resolves to src/
 * through the tsconfig paths), so the README cannot drift from the API.
 *
 * A block that is a fragment takes its imports and declarations from an HTML comment right
 * above it:
 *
 *   <!-- context:
 *   import { Effect } from "effect"
 *   export const program = Effect.gen(function*() {
 *   // snippet
 *   })
 *   -->
 *
 * The block's own imports go first, then the context, with the rest of the block in place of
 * the line `// snippet` (or after the context when it has no such line).
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Snippet {
  /** the README line of the opening fence */
  readonly line: number
  readonly source: string
}

const isImport = (line: string) => /^import\s/.test(line)

/** the `ts` blocks of a markdown text, each with its context applied */
export const snippets = (markdown: string): Array<Snippet> => {
  const lines = markdown.split("\n")
  const found: Array<Snippet> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    const end = lines.findIndex((l, j) => j > i && l.trim() === "```")
    if (end < 0) throw new Error(`README.md:${i + 1}: the ts block is not closed`)
    const block = lines.slice(i + 1, end)
    let context: Array<string> = []
    if (lines[i - 1]?.trim() === "-->") {
      const start = lines.lastIndexOf("<!-- context:", i - 1)
      if (start < 0) throw new Error(`README.md:${i + 1}: a comment ends above the block but no "<!-- context:" opens it`)
      context = lines.slice(start + 1, i - 1)
    }
    const body = block.filter((l) => !isImport(l))
    const at = context.findIndex((l) => l.trim() === "// snippet")
    const source = [
      ...block.filter(isImport),
      ...context.filter(isImport),
      ...(at < 0 ? [...context.filter((l) => !isImport(l)), ...body] : [
        ...context.slice(0, at).filter((l) => !isImport(l)),
        ...body,
        ...context.slice(at + 1)
      ])
    ]
    found.push({ line: i + 1, source: source.join("\n") + "\n" })
    i = end
  }
  return found
}

describe("README.md", () => {
  it("finds each block and applies its context", () => {
    const [plain, wrapped] = snippets([
      "```ts",
      "import { A } from \"a\"",
      "A",
      "```",
      "<!-- context:",
      "import { B } from \"b\"",
      "f(function() {",
      "// snippet",
      "})",
      "-->",
      "```ts",
      "import { C } from \"c\"",
      "B(C)",
      "```"
    ].join("\n"))
    assert.deepStrictEqual(plain, { line: 1, source: "import { A } from \"a\"\nA\n" })
    assert.deepStrictEqual(wrapped, {
      line: 11,
      source: "import { C } from \"c\"\nimport { B } from \"b\"\nf(function() {\nB(C)\n})\n"
    })
  })

  it("every ts block compiles", { timeout: 180_000 }, async () => {
    const found = snippets(readFileSync(join(root, "README.md"), "utf8"))
    assert.isAtLeast(found.length, 5)
    // inside the repository, so that node_modules and the tsconfig paths resolve
    const dir = mkdtempSync(join(root, ".readme-"))
    try {
      for (const s of found) writeFileSync(join(dir, `README.md-line-${s.line}.ts`), s.source)
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          extends: "../tsconfig.json",
          // a snippet shows a declaration without always using it
          compilerOptions: { noUnusedLocals: false, noUnusedParameters: false, noEmit: true },
          include: ["*.ts"]
        })
      )
      const output = await new Promise<string>((resolve) =>
        execFile(
          process.execPath,
          [join(root, "node_modules/typescript/bin/tsc"), "-p", dir, "--pretty", "false"],
          { encoding: "utf8" },
          (error, stdout, stderr) => resolve(error === null ? "" : `${stdout}${stderr}`)
        )
      )
      assert.strictEqual(output.replaceAll(`${dir}/`, ""), "")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
