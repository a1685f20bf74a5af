/* Types of bin/cli-bundle.js (plain JavaScript, so that the bins can load it without tsx). */

export declare const MANIFEST_NAME: string
export declare const MANIFEST_FORMAT: number

/** [mtimeMs, size] of a file when the bundle was built. */
export type RecordedFile = readonly [number, number]

/** Size and mtime of each file, by its path relative to root; throws if one is missing. */
export declare const recordFiles: (root: string, paths: Iterable<string>) => Record<string, RecordedFile>

/** The build in dir if it is up to date with the files it was built from (its `program` module, default helios), else why it is stale. */
export declare const checkBundle: (
  dir: string,
  program?: "helios" | "helios-master" | "helios-agent",
) => { readonly entry: string; readonly stale?: undefined } | { readonly stale: string; readonly entry?: undefined }
