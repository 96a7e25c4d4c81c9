import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATAPLANEAPI_CONFIG, withDataplaneapiConfig } from './dataplaneapi.ts';

const peers = ['-f', '/var/run/haproxy-peer-sync/peers.cfg'];

test("the API's file is loaded last, where haproxyCommand put its flags (command or args)", () => {
  const fromCommand = withDataplaneapiConfig({ name: 'h' }, { command: ['haproxy', '-W', ...peers], args: undefined });
  assert.deepEqual(fromCommand, { command: ['haproxy', '-W', ...peers, '-f', DATAPLANEAPI_CONFIG], args: undefined });
  const fromArgs = withDataplaneapiConfig(
    { name: 'h', args: ['-f', 'a.cfg'] },
    { command: undefined, args: ['-f', 'a.cfg', ...peers] },
  );
  assert.deepEqual(fromArgs, { command: undefined, args: ['-f', 'a.cfg', ...peers, '-f', DATAPLANEAPI_CONFIG] });
});

test('a command haproxyCommand left alone gets the file appended; one that loads it already is left alone', () => {
  const complete = ['haproxy', '-W', '-db', ...peers];
  assert.deepEqual(withDataplaneapiConfig({ name: 'h', command: complete }, { command: undefined, args: undefined }), {
    command: [...complete, '-f', DATAPLANEAPI_CONFIG],
    args: undefined,
  });
  const withFile = [...complete, '-f', DATAPLANEAPI_CONFIG];
  assert.deepEqual(withDataplaneapiConfig({ name: 'h', command: withFile }, { command: undefined, args: undefined }), {
    command: undefined,
    args: undefined,
  });
});
