/**
 * Turns "original pod vs injected pod" into one RFC 6902 JSON patch, pure.
 *
 * Diffing a mutated clone (fast-json-patch `compare`) instead of writing operations by hand avoids the
 * classic injector bug where two operations both `add` the same absent array (the second replaces the
 * first): an absent `/spec/initContainers` becomes exactly one `add` of the whole array. `compare`
 * escapes keys per RFC 6901 (`/` → `~1`, `~` → `~0`), so annotation keys such as
 * `haproxy-peer-sync.io/status` are addressed correctly.
 * https://www.rfc-editor.org/rfc/rfc6902 · https://www.rfc-editor.org/rfc/rfc6901
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

export type { Operation } from 'fast-json-patch';

/** The operations that turn `original` into `mutated`; only additions and replacements are expected. */
export function buildPatch(original: object, mutated: object): Operation[] {
  return jsonpatch.compare(original, mutated);
}

/** Applies a patch to a copy of `doc` the way the apiserver does, throwing on an invalid operation. */
export function applyPatch<T extends object>(doc: T, patch: readonly Operation[]): T {
  return jsonpatch.applyPatch(structuredClone(doc), [...patch], true, false).newDocument;
}

/** RFC 6901 escaping of one path segment (exported for tests and for hand-built paths elsewhere). */
export function escapePointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
