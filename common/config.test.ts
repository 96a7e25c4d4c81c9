import { test } from 'node:test';
import assert from 'node:assert/strict';
import { option, parse, parseOptions, renderHelp, redactOptions } from './config.ts';
import { ConfigError } from './errors.ts';

const specs = {
  service: option({
    flag: 'service',
    env: 'HPS_SERVICE',
    description: 'headless Service',
    parse: parse.dnsLabel,
    required: true,
  }),
  port: option({
    flag: 'peer-port',
    env: 'HPS_PEER_PORT',
    description: 'peer port',
    parse: parse.port,
    defaultValue: 10000,
  }),
  password: option({
    flag: 'password',
    env: 'HPS_PASSWORD',
    description: 'secret',
    parse: parse.string,
    secret: true,
    defaultValue: 'hunter2',
  }),
};

test('flags win over environment variables, defaults fill the rest', () => {
  const v = parseOptions(specs, ['--service=web'], { HPS_SERVICE: 'other', HPS_PEER_PORT: '1234' });
  assert.equal(v.service, 'web');
  assert.equal(v.port, 1234);
  assert.ok(Object.isFrozen(v));
});

test('every problem is reported at once, each naming its flag', () => {
  assert.throws(
    () => parseOptions(specs, ['--peer-port', 'abc', '--nope=1'], {}),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3);
      assert.match(err.message, /--peer-port: "abc" is not a port number/);
      assert.match(err.message, /unknown flag --nope/);
      assert.match(err.message, /--service is required/);
      return true;
    },
  );
});

test('help lists every flag with its variable and hides secret defaults', () => {
  const help = renderHelp('usage: x', specs);
  assert.match(help, /--peer-port\s+HPS_PEER_PORT\s+peer port \(default: 10000\)/);
  assert.doesNotMatch(help, /hunter2/);
  assert.equal(redactOptions(specs, { service: 's', port: 1, password: 'hunter2' }).password, '[redacted]');
});

test('durations accept ms, s and m', () => {
  assert.equal(parse.durationMs('250ms'), 250);
  assert.equal(parse.durationMs('2s'), 2000);
  assert.equal(parse.durationMs('1.5s'), 1500);
  assert.throws(() => parse.durationMs('soon'), /not a duration/);
});

test('IP addresses and absolute paths', () => {
  assert.equal(parse.ipAddress('10.244.0.5'), '10.244.0.5');
  assert.equal(parse.ipAddress('fd00::1'), 'fd00::1');
  assert.throws(() => parse.ipAddress('10.244.0'), /not an IP address/);
  assert.throws(() => parse.ipAddress('pod-a'), /not an IP address/);
  assert.equal(parse.absolutePath('/var/run/x/'), '/var/run/x');
  assert.equal(parse.absolutePath('/'), '/');
  assert.throws(() => parse.absolutePath('var/run'), /not an absolute path/);
});

test('a path HAProxy reads refuses spaces, which would split its configuration line', () => {
  assert.equal(parse.haproxyPath('/etc/haproxy/haproxy.cfg'), '/etc/haproxy/haproxy.cfg');
  assert.equal(parse.haproxyPath('/var/run/x/'), '/var/run/x');
  assert.throws(
    () => parse.haproxyPath('/etc/my haproxy.cfg'),
    /"\/etc\/my haproxy.cfg" is not an absolute path without spaces/,
  );
  assert.throws(() => parse.haproxyPath('haproxy.cfg'), /not an absolute path/);
});

test('a port names its range; 0 only where the option allows it', () => {
  assert.equal(parse.port('10000'), 10000);
  assert.throws(() => parse.port('abc'), /^Error: "abc" is not a port number \(1-65535\)$/);
  assert.throws(() => parse.port('65536'), /65536 is not a port number \(1-65535\)/);
  assert.throws(() => parse.port('0'), /0 is not a port number/);
  assert.equal(parse.portOrZero('0'), 0);
});
