import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import {
  dataplaneapiWorkDirs,
  passwordFrom,
  renderDataplaneapiHaproxyConfig,
  renderDataplaneapiYaml,
  renderUserlist,
} from './render.ts';

const files = {
  binary: '/usr/local/bin/dataplaneapi',
  yaml: '/run/hps/credentials/dataplaneapi.yml',
  userlist: '/run/hps/credentials/dataplaneapi.cfg',
  peers: '/run/hps/peers.cfg',
  masterSocket: '/run/hps/master.sock',
  workDir: '/run/hps/dataplaneapi',
};

test('the userlist holds the password for user admin', () => {
  assert.equal(renderUserlist('s3cret'), 'userlist haproxy-dataplaneapi\n    user admin insecure-password s3cret\n');
});

test('passwords need at least 128 bits and are base64url', () => {
  assert.throws(() => passwordFrom(new Uint8Array(15)), RangeError);
  assert.match(passwordFrom(new Uint8Array(24).fill(255)), /^[A-Za-z0-9_-]{32}$/);
});

test("HAProxy's file: the userlist, and a program section that starts the API with its YAML file and keeps it across reloads", () => {
  assert.equal(
    renderDataplaneapiHaproxyConfig('s3cret', files),
    '# Written by haproxy-peer-sync init (mode dataplaneapi). Do not edit.\n' +
      'userlist haproxy-dataplaneapi\n    user admin insecure-password s3cret\n\n' +
      'program dataplaneapi\n    command /usr/local/bin/dataplaneapi -f /run/hps/credentials/dataplaneapi.yml\n    no option start-on-reload\n',
  );
});

test("the API's YAML: listens where the syncer calls it, manages the peers file, reloads through the master socket, writes only under its work dir", () => {
  const text = renderDataplaneapiYaml({ host: '127.0.0.1', port: 5556 }, files);
  const doc = YAML.parse(text) as {
    config_version: number;
    dataplaneapi: {
      host: string;
      port: number;
      scheme: string[];
      userlist: Record<string, string>;
      transaction: Record<string, unknown>;
      resources: Record<string, string>;
    };
    haproxy: {
      config_file: string;
      master_runtime: string;
      master_worker_mode: boolean;
      reload: Record<string, unknown>;
    };
  };
  assert.equal(doc.config_version, 2);
  assert.deepEqual(
    [doc.dataplaneapi.host, doc.dataplaneapi.port, doc.dataplaneapi.scheme],
    ['127.0.0.1', 5556, ['http']],
  );
  assert.deepEqual(doc.dataplaneapi.userlist, { userlist: 'haproxy-dataplaneapi', userlist_file: files.userlist });
  assert.deepEqual(
    [doc.haproxy.config_file, doc.haproxy.master_runtime, doc.haproxy.master_worker_mode],
    [files.peers, files.masterSocket, true],
  );
  // The custom strategy (the default) refuses to start without both commands.
  assert.deepEqual(
    [doc.haproxy.reload['reload_strategy'], doc.haproxy.reload['reload_cmd'], doc.haproxy.reload['restart_cmd']],
    ['custom', 'kill -s USR2 1', 'kill -s USR2 1'],
  );
  const dirs = [...Object.entries(doc.dataplaneapi.transaction), ...Object.entries(doc.dataplaneapi.resources)]
    .filter(([k]) => k.endsWith('_dir'))
    .map(([, v]) => v);
  assert.deepEqual(
    dirs.sort(),
    Object.values(dataplaneapiWorkDirs(files.workDir)).sort(),
    'every directory it writes is one init creates',
  );
});
