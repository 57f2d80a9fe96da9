/**
 * The version every program prints (`--version`, the worker's start-up line): package.json's, so that one edit
 * changes all of them. The bundles carry it inlined; nothing reads package.json at run time.
 */
import packageJson from "../../package.json" with { type: "json" }

export const VERSION: string = packageJson.version
