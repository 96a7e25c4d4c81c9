import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, parseFlags } from './flags.ts';

const spec = {
  runs: { kind: 'count', defaultValue: 3, min: 1, description: 'runs' },
  duration: { kind: 'number', defaultValue: 60, description: 's' },
  mode: { kind: 'string', defaultValue: 'cluster', choices: ['cluster', 'files'], description: 'mode' },
  'no-build': { kind: 'boolean', description: 'skip the build' },
  entry: { kind: 'string', description: 'path' },
} as const;

test('defaults, both spellings of a value, booleans', () => {
  assert.deepEqual(parseFlags(spec, []), {
    runs: 3,
    duration: 60,
    mode: 'cluster',
    'no-build': false,
    entry: undefined,
  });
  assert.deepEqual(parseFlags(spec, ['--runs', '5', '--duration=0.5', '--mode=files', '--no-build', '--entry=/x.js']), {
    runs: 5,
    duration: 0.5,
    mode: 'files',
    'no-build': true,
    entry: '/x.js',
  });
});

test('every bad flag is named at once', () => {
  assert.throws(
    () => parseFlags(spec, ['--runs=0', '--duration=abc', '--mode=cloud', '--fast', 'extra', '--entry']),
    (err: unknown) => {
      assert.ok(err instanceof FlagError);
      assert.deepEqual(
        err.problems.map((p) => p.split(':')[0]),
        ['--fast', 'extra', '--entry', '--runs', '--duration', '--mode'],
      );
      return true;
    },
  );
  assert.throws(() => parseFlags(spec, ['--runs=2.5']), /--runs: must be a whole number ≥ 1/);
});
