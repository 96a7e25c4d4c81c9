#!/usr/bin/env node
// One CLI for every role, so one container image serves the webhook, the sidecar and the init container.
// Each role's main.ts owns its flags, process.env and exit code; this file only dispatches.

const roles: Record<string, { summary: string; load: () => Promise<{ main: (argv: string[]) => Promise<void> }> }> = {
  syncer: {
    summary: "sidecar: keep this replica's HAProxy peers section equal to the live replica set",
    load: () => import('../syncer/main.ts'),
  },
  webhook: {
    summary: 'mutating admission webhook: inject the syncer into labelled pods',
    load: () => import('../webhook/main.ts'),
  },
  init: {
    summary: 'init container: write Data Plane API credentials and the first peers file',
    load: () => import('../init/main.ts'),
  },
  cli: {
    summary: "one command on HAProxy's master CLI, for troubleshooting (kubectl exec … -c haproxy-peer-sync)",
    load: () => import('../cli/main.ts'),
  },
  status: {
    summary: 'one line per replica of a workload (through the apiserver); exit 0 only when all are ready and agree',
    load: () => import('../cli/status.ts'),
  },
};

const [role, ...rest] = process.argv.slice(2);
const usage = [
  'usage: haproxy-peer-sync <role> [flags]   (haproxy-peer-sync <role> --help for its flags)',
  '',
  ...Object.entries(roles).map(([name, r]) => `  ${name.padEnd(8)} ${r.summary}`),
].join('\n');

if (role === undefined || role === '--help' || role === '-h' || role === 'help') {
  console.log(usage);
} else {
  const entry = roles[role];
  if (entry === undefined) {
    console.error(`haproxy-peer-sync: unknown role "${role}"\n\n${usage}`);
    process.exitCode = 2;
  } else {
    await (await entry.load()).main(rest);
  }
}
