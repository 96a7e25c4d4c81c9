import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMISSION_API_VERSION, serializeReview, type AdmissionResponse } from './review.ts';

/** The reference: the envelope as JSON.stringify writes it. */
const stringified = (response: AdmissionResponse): string =>
  JSON.stringify({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response });

test('serializeReview writes what JSON.stringify writes of the envelope, byte for byte', () => {
  const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/a', value: '"patch":""' }])).toString('base64');
  const responses: AdmissionResponse[] = [
    { uid: 'u-1', allowed: true },
    { uid: 'u-2', allowed: true, patchType: 'JSONPatch', patch },
    { uid: '"patch":"" \\ " \u2028 é', allowed: true, patchType: 'JSONPatch', patch, warnings: ['"patch":""', 'w'] },
    { uid: 'u-3', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'no "patch":"" here' } },
    { uid: 'u-4', allowed: true, patchType: 'JSONPatch', patch: '' },
  ];
  for (const response of responses) assert.equal(serializeReview(response), stringified(response), response.uid);
});
