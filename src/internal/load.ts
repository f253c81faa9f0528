/**
 * Loading a backend's modules when its layer is built rather than when the layer module is
 * imported, so that a missing client library is one clear, typed error naming what to install.
 *
 * @internal
 */

/** whether `cause` says that one of `packages` is not installed (ESM and CommonJS loaders) */
export const isMissingPackage = (cause: unknown, packages: ReadonlyArray<string>): boolean => {
  if (typeof cause !== "object" || cause === null) return false
  const { code, message } = cause as { readonly code?: unknown; readonly message?: unknown }
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false
  return typeof message === "string" && packages.some((name) => message.includes(`'${name}'`))
}
