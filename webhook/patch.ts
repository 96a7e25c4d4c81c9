/**
 * Turns "original pod vs injected pod" into one RFC 6902 JSON patch, pure.
 *
 * Diffing the mutated pod against the original instead of writing operations by hand avoids the
 * classic injector bug where two operations both `add` the same absent array (the second replaces the
 * first): an absent `/spec/initContainers` becomes exactly one `add` of the whole array. Keys are
 * escaped per RFC 6901 (`/` → `~1`, `~` → `~0`), so annotation keys such as
 * `haproxy-peer-sync.io/status` are addressed correctly.
 * https://www.rfc-editor.org/rfc/rfc6902 · https://www.rfc-editor.org/rfc/rfc6901
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

export type { Operation } from 'fast-json-patch';

type Container = Record<string, unknown> | unknown[];

const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

/**
 * The operations that turn `original` into `mutated` (JSON documents); only additions and replacements
 * are expected. The same operations, in the same order, as fast-json-patch's `compare` (which this
 * replaced), but without its deep copy of every value it emits: that copy (a JSON round trip of the
 * injected containers) was the costliest step of an admission, and the patch is serialized at once.
 * So the operations' values are `mutated`'s own objects: serialize them, do not modify them.
 *
 * Objects shared by both documents are skipped without a look inside, which is what makes the
 * copy-on-write `mutate` of inject.ts cheap to diff.
 */
export function buildPatch(original: object, mutated: object): Operation[] {
  const operations: Operation[] = [];
  diff(original as Container, mutated as Container, '', operations);
  return operations;
}

function diff(before: Container, after: Container, path: string, out: Operation[]): void {
  if (before === after) return;
  const afterIsList = Array.isArray(after);
  const beforeKeys = Object.keys(before);
  const afterKeys = Object.keys(after);
  const a = after as Record<string, unknown>;
  const b = before as Record<string, unknown>;
  let removed = false;
  // Backwards, so that removals from a list keep the indexes of the operations still to come valid.
  for (let i = beforeKeys.length - 1; i >= 0; i--) {
    const key = beforeKeys[i] as string;
    const old = b[key];
    if (Object.hasOwn(after, key) && !(a[key] === undefined && old !== undefined && !afterIsList)) {
      const value = a[key];
      if (value === old) continue; // unchanged, or shared: no path to write
      const at = `${path}/${escapePointerSegment(key)}`;
      if (isContainer(old) && isContainer(value) && Array.isArray(old) === Array.isArray(value))
        diff(old, value, at, out);
      // A hole in a list is written as null, as JSON writes it.
      else out.push({ op: 'replace', path: at, value: value === undefined ? null : value });
    } else if (Array.isArray(before) === afterIsList) {
      out.push({ op: 'remove', path: `${path}/${escapePointerSegment(key)}` });
      removed = true;
    } else {
      out.push({ op: 'replace', path, value: after });
    }
  }
  if (!removed && afterKeys.length === beforeKeys.length) return;
  for (const key of afterKeys) {
    if (!Object.hasOwn(before, key) && a[key] !== undefined)
      out.push({ op: 'add', path: `${path}/${escapePointerSegment(key)}`, value: a[key] });
  }
}

/** Applies a patch to a copy of `doc` the way the apiserver does, throwing on an invalid operation. */
export function applyPatch<T extends object>(doc: T, patch: readonly Operation[]): T {
  return jsonpatch.applyPatch(structuredClone(doc), [...patch], true, false).newDocument;
}

/** RFC 6901 escaping of one path segment (exported for tests and for hand-built paths elsewhere). */
export function escapePointerSegment(segment: string): string {
  if (!segment.includes('~') && !segment.includes('/')) return segment;
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
