/**
 * Mode dataplaneapi against real HAProxy 2.6 and 3.0: the files the real init container writes
 * (`haproxy-peer-sync init --mode dataplaneapi`) are accepted by `haproxy -c` together with a user's
 * configuration and the peers file, exactly as the webhook wires them (`-W … -f <user> -f peers.cfg -f
 * credentials/dataplaneapi.cfg`); the peers file alone passes the check the Data Plane API runs on its
 * `config_file`; and HAProxy's master, started that way, starts the program, lists it in `show proc`
 * (which the syncer still reads right) and keeps it across a reload.
 *
 * The Data Plane API itself cannot be obtained on this machine, so the program HAProxy starts here is a
 * stand-in: a shell script that records its arguments and sleeps. It answers no API call; what is
 * tested is HAProxy's side (the program section) and ours (the files), not the API.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { HAPROXY_VERSIONS, haproxyBinary, userConfig, waitFor } from './harness/haproxy.ts';
import { socketCommand } from '../syncer/haproxy-socket.ts';
import { parseShowProc } from '../syncer/show-proc.ts';

const cli = fileURLToPath(new URL('../bin/haproxy-peer-sync.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'hps-dpapi-haproxy-'));
const children = new Set<ChildProcess>();
after(async () => {
  for (const child of children) {
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await sleep(100);
  rmSync(root, { recursive: true, force: true });
});

/**
 * The stand-in for the Data Plane API: logs "<pid> <args>" when it starts and "<pid> USR1" for each
 * SIGUSR1, then waits until killed. HAProxy's master sends SIGUSR1 to a program it keeps across a
 * reload; the real API handles it (it reconnects to the new worker), so the stand-in survives it too.
 */
function standIn(dir: string): { binary: string; log: () => string[] } {
  const binary = join(dir, 'bin', 'dataplaneapi');
  const file = join(dir, 'program.log');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(
    binary,
    `#!/bin/sh\necho "$$ $*" >> ${file}\ntrap 'echo "$$ USR1" >> ${file}' USR1\nwhile :; do sleep 3600 & wait $!; done\n`,
  );
  chmodSync(binary, 0o755);
  return {
    binary,
    log: () => {
      try {
        return readFileSync(file, 'utf8').trim().split('\n');
      } catch {
        return [];
      }
    },
  };
}

/** The `# programs` block of `show proc`: name → pid. */
function programs(showProc: string): Map<string, number> {
  const out = new Map<string, number>();
  const block = showProc.split(/^# programs\s*$/m)[1] ?? '';
  for (const m of block.matchAll(/^(\d+)\s+(\S+)/gm)) out.set(m[2] ?? '', Number(m[1]));
  return out;
}

HAPROXY_VERSIONS.forEach((version, i) => {
  test(`HAProxy ${version}: the generated files pass haproxy -c with a user's configuration, and the master runs the program across a reload`, async () => {
    const { binary: haproxy, reported } = haproxyBinary(version);
    const dir = join(root, version);
    mkdirSync(dir);
    const run = join(dir, 'run');
    const podIp = `127.0.0.${210 + i}`;
    const api = standIn(dir);
    const init = spawnSync(process.execPath, [cli, 'init'], {
      encoding: 'utf8',
      env: {
        PATH: process.env['PATH'] ?? '',
        POD_NAME: 'haproxy-0',
        POD_IP: podIp,
        HPS_RUNTIME_DIR: run,
        HPS_MODE: 'dataplaneapi',
        HPS_DATAPLANEAPI_BINARY: api.binary,
      },
    });
    assert.equal(init.status, 0, init.stderr);
    const user = join(dir, 'user.cfg');
    writeFileSync(user, userConfig());
    const files = ['-f', user, '-f', join(run, 'peers.cfg'), '-f', join(run, 'credentials/dataplaneapi.cfg')];
    const env = { ...process.env, POD_IP: podIp };

    const check = spawnSync(haproxy, ['-W', '-c', ...files], { encoding: 'utf8', env });
    const checkOutput = check.stdout + check.stderr;
    assert.equal(check.status, 0, `haproxy ${reported} -c refused the files:\n${checkOutput}`);
    assert.doesNotMatch(checkOutput, /\[(ALERT|WARNING)\]/, checkOutput);
    // Data Plane API before v3.4 validates its config_file (the peers file) alone.
    const alone = spawnSync(haproxy, ['-c', '-f', join(run, 'peers.cfg')], { encoding: 'utf8' });
    assert.equal(alone.status, 0, alone.stdout + alone.stderr);

    // As the injected container runs it.
    const masterSocket = join(run, 'master.sock');
    let output = '';
    const child = spawn(haproxy, ['-W', '-db', '-S', `${masterSocket},mode,600`, ...files], {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const master = (command: string): Promise<string> => socketCommand(masterSocket, command);
    try {
      const first = await waitFor(
        `HAProxy ${reported} with the program section`,
        async () => {
          const text = await master('show proc').catch(() => undefined);
          return text !== undefined && programs(text).has('dataplaneapi') ? text : undefined;
        },
        10_000,
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${output}`);
      });
      const programPid = programs(first).get('dataplaneapi');
      const before = parseShowProc(first);
      assert.equal(before?.workers.length, 1, 'the program is not counted as a worker');
      const started = await waitFor('the program to start', () => api.log()[0]);
      assert.equal(
        started,
        `${programPid} -f ${join(run, 'credentials/dataplaneapi.yml')}`,
        'HAProxy started the API with its YAML file',
      );

      await master('reload');
      const reloaded = await waitFor('the reload', async () => {
        const proc = parseShowProc(await master('show proc'));
        return proc !== undefined &&
          proc.reloads >= 1 &&
          proc.workers.length === 1 &&
          proc.workers[0] !== before?.workers[0]
          ? proc
          : undefined;
      });
      assert.equal(reloaded.failed, 0, output);
      // no option start-on-reload: the same process goes on, told of the reload by SIGUSR1, never started again.
      await waitFor('SIGUSR1 to the program', () => api.log().includes(`${programPid} USR1`) || undefined);
      assert.doesNotThrow(() => process.kill(programPid ?? 0, 0), `the program ${programPid} still runs:\n${output}`);
      assert.deepEqual(
        api.log().filter((line) => !line.endsWith(' USR1')),
        [started],
        'started once',
      );
      assert.doesNotMatch(output, /program 'dataplaneapi' .*exited/, output);
    } finally {
      try {
        process.kill(-(child.pid ?? 0), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  });
});
