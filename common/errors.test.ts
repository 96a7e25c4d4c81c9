import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiError,
  AppError,
  ConfigError,
  countedCodes,
  ERROR_CODES,
  ERRORS,
  errorMessage,
  HaproxyError,
  isErrorCode,
} from './errors.ts';

const ROOT = new URL('..', import.meta.url).pathname;
/** The folders whose code ships in the image (tsconfig.build.json's include). */
const PRODUCT = ['bin', 'cli', 'common', 'certs', 'webhook', 'syncer', 'init'];

/** Every product source file but the tests (and the catalogue itself unless asked), with its text. */
function productSources(opts: { catalogue?: boolean } = {}): { path: string; text: string }[] {
  const files: { path: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (
        path.endsWith('.ts') &&
        !path.endsWith('.test.ts') &&
        (opts.catalogue === true || path !== join('common', 'errors.ts'))
      ) {
        files.push({ path, text: readFileSync(join(ROOT, path), 'utf8') });
      }
    }
  };
  for (const dir of PRODUCT) walk(dir);
  return files;
}

test('every code of the catalogue is used by the product (thrown, answered, counted or reported)', () => {
  // The catalogue's own ConfigError counts: it is what the product throws for HPS_CONFIG.
  const used = new Set(
    productSources({ catalogue: true }).flatMap((f) =>
      [...f.text.matchAll(/\bERRORS\.(HPS_[A-Z0-9_]+)\b/g)].map((m) => m[1]),
    ),
  );
  assert.deepEqual(
    ERROR_CODES.filter((code) => !used.has(code)),
    [],
  );
  assert.deepEqual(
    [...used].filter((code) => code === undefined || !isErrorCode(code)),
    [],
  );
});

test('no HPS_ name is written outside the pod contract and the error catalogue, and no variable is named like a code', () => {
  const sources = productSources();
  const contract = join('common', 'contract.ts');
  const names = (f: { text: string }): string[] =>
    [...f.text.matchAll(/['"`](HPS_[A-Z0-9_]+)/g)].map((m) => m[1] ?? '');
  // Every other role derives a flag's variable (common/config.ts) or reads the contract's ENV.
  const strays = sources.filter((f) => f.path !== contract).flatMap((f) => names(f).map((n) => `${f.path}: ${n}`));
  assert.deepEqual(strays, []);
  const envNames = sources.filter((f) => f.path === contract).flatMap(names);
  assert.ok(envNames.includes('HPS_PEER_PORT') && envNames.includes('HPS_SERVICE'), 'the contract names its variables');
  assert.deepEqual(
    envNames.filter((n) => isErrorCode(n)),
    [],
  );
});

test("each entry: a stable code, a message, retryable; an HTTP status exactly for the webhook's answers", () => {
  for (const code of ERROR_CODES) {
    const spec = ERRORS[code];
    assert.equal(spec.code, code);
    assert.match(code, /^HPS_[A-Z0-9_]{1,40}$/, code);
    assert.ok(spec.message.length > 0, code);
    assert.equal(typeof spec.retryable, 'boolean', code);
    const httpStatus = (spec as { httpStatus?: number }).httpStatus;
    assert.equal(httpStatus !== undefined, countedCodes('webhook').includes(code), code);
    if (httpStatus !== undefined) assert.ok(httpStatus >= 400 && httpStatus <= 599, code);
  }
  assert.ok(Object.isFrozen(ERRORS) && Object.isFrozen(ERRORS.HPS_CONFIG));
});

test('an error takes its code and retryable from the catalogue; a throw site that knows better overrides retryable', () => {
  const timeout = new HaproxyError(ERRORS.HPS_RELOAD_TIMEOUT);
  assert.deepEqual(
    [timeout.code, timeout.retryable, timeout.message, timeout.name],
    ['HPS_RELOAD_TIMEOUT', true, ERRORS.HPS_RELOAD_TIMEOUT.message, 'HaproxyError'],
  );
  const cause = new Error('ECONNRESET');
  const notFound = new ApiError(ERRORS.HPS_KUBE_API, 'GET /api/v1/namespaces/x: 404', {
    status: 404,
    retryable: false,
    cause,
  });
  assert.deepEqual(
    [notFound.code, notFound.retryable, notFound.status, notFound.cause],
    ['HPS_KUBE_API', false, 404, cause],
  );
  assert.equal(new ApiError(ERRORS.HPS_KUBE_API, 'connect ECONNREFUSED').retryable, true);
  const config = new ConfigError(['--port: "x" is not a port', '--image: required']);
  assert.deepEqual(
    [config.code, config.retryable, config.message],
    ['HPS_CONFIG', false, '--port: "x" is not a port; --image: required'],
  );
  assert.ok(config instanceof AppError);
});

test('message templates, code lookups, and the codes each role counts', () => {
  assert.equal(
    errorMessage(ERRORS.HPS_CERT_SECRET_CONFLICT, 5),
    'the certificate Secret kept changing under us (5 conflicts in a row)',
  );
  assert.equal(
    errorMessage(ERRORS.HPS_BODY_TOO_LARGE, 3 * 1024 * 1024),
    "the body is larger than 3145728 bytes (3 MiB, the apiserver's own request limit)",
  );
  for (const code of ['HPS_RELOAD_FAILED', 'HPS_BAD_JSON']) assert.equal(isErrorCode(code), true, code);
  for (const code of ['HPS_NOPE', 'hps_bad_json', 'toString', '__proto__', 'FST_ERR_CTP_INVALID_MEDIA_TYPE', ''])
    assert.equal(isErrorCode(code), false, code);
  // What README's metrics tables promise: the syncer counts its reload and version failures and its
  // watch; the webhook the HTTP errors it answers with. No code is counted by both.
  for (const code of ['HPS_RELOAD_FAILED', 'HPS_HAPROXY_VERSION', 'HPS_WATCH'] as const)
    assert.ok(countedCodes('syncer').includes(code), code);
  for (const code of ['HPS_BAD_REVIEW', 'HPS_CONTENT_TYPE', 'HPS_BAD_JSON'] as const)
    assert.ok(countedCodes('webhook').includes(code), code);
  assert.deepEqual(
    countedCodes('syncer').filter((c) => countedCodes('webhook').includes(c)),
    [],
  );
});
