// `npm run demo` is the README's main job: it must reach its first converged screen, and Ctrl-C must
// stop every process it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;

/** Every live process whose parent chain leads to `root`. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join('/proc', entry, 'stat'), 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone meanwhile */
    }
  }
  return [...parent.keys()].filter((pid) => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  });
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

test('npm run demo reaches its first converged screen and Ctrl-C leaves no process behind', async (t) => {
  const demo = spawn('bash', ['scripts/lab.sh', process.execPath, 'demo/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const seen = new Set<number>();
  const watch = setInterval(() => {
    if (demo.pid) for (const pid of descendants(demo.pid)) seen.add(pid);
  }, 500);
  let output = '';
  const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
  t.after(() => {
    clearInterval(watch);
    demo.kill('SIGKILL');
    for (const pid of seen) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });

  const converged = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 240_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (/3 replicas converged/.test(output) && /✔ converged/.test(output)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    demo.stdout.on('data', onData);
    demo.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  assert.ok(converged, `the demo did not reach a converged screen:\n${output.slice(-3000)}`);
  assert.match(output, /^KUBECONFIG=\/.+\/kubeconfig-host$/m, 'prints KUBECONFIG=<absolute path> on a line of its own');
  assert.match(
    output,
    /haproxy-\S+\s+10\.88\.\S+\s+yes\s+\S+\s+\S+\s+haproxy-\S+:ESTA\s+haproxy-\S+:ESTA/,
    'a replica row with two established peers',
  );
  assert.ok(seen.size >= 10, `the demo started its processes (saw ${seen.size})`);

  demo.kill('SIGINT');
  assert.equal(await exited, 0, `Ctrl-C exits 0:\n${output.slice(-2000)}`);
  clearInterval(watch);
  const left = [...seen].filter(alive);
  assert.deepEqual(
    left,
    [],
    `processes left behind: ${left
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        } catch {
          return String(pid);
        }
      })
      .join('\n')}`,
  );
});
