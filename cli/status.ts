/**
 * `haproxy-peer-sync status`: one line per replica of an injected workload — ready, peers declared vs
 * expected, links established, table entries, last reload, last error — read from each syncer's
 * /status through the apiserver's pod proxy, so it works from wherever kubectl does. Exit 0 only when
 * every replica is ready and they agree (cli/status-view.ts), 1 otherwise, 2 on bad usage.
 *
 * RBAC of the person running it, in the namespace: `list` on pods, `get` on pods/proxy, and `get` on
 * the workload named (deployments, statefulsets or daemonsets in the apps group).
 * https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls
 */
import { parseArgs } from 'node:util';
import type { V1LabelSelector, V1Pod, V1PodList } from '@kubernetes/client-node';
import { CONTRACT_DEFAULTS } from '../common/contract.ts';
import { ApiError, ConfigError } from '../common/errors.ts';
import { defaultAccess, getJson, kubeconfigAccess, type KubeAccess } from '../common/kube-client.ts';
import { INJECT_LABEL, NAMES } from '../webhook/annotations.ts';
import { printable, readStatus, renderStatus, selectorString, verdict, type ReplicaRow } from './status-view.ts';

const USAGE = `usage: haproxy-peer-sync status [-n NAMESPACE] [-l SELECTOR | WORKLOAD] [--kubeconfig FILE]

  One line per replica: pod, ready, peers declared in HAProxy / expected from the EndpointSlices, links
  established / remote peers declared, table entries (the section's tables), last reload, last error.
  Read from each syncer's /status through the apiserver's pod proxy. Exit 0 only when every replica is
  ready and all agree (same peers, every link up, same entry count); 1 otherwise; 2 on bad usage.

  WORKLOAD          deployment/NAME, statefulset/NAME or daemonset/NAME (NAME alone: a Deployment)
  -n, --namespace   default: the kubeconfig context's namespace, else "default"
  -l, --selector    label selector of the pods (default: ${INJECT_LABEL}=true)
  --kubeconfig      default: KUBECONFIG, else ~/.kube/config, else the in-cluster service account
  --timeout         seconds to wait for each replica's answer (default 5)

  RBAC: list pods, get pods/proxy (and get the workload named) in the namespace.`;

const WORKLOADS: Readonly<Record<string, string>> = {
  deployment: 'deployments',
  statefulset: 'statefulsets',
  daemonset: 'daemonsets',
};

class UsageError extends Error {}

interface Args {
  readonly namespace: string | undefined;
  readonly selector: string | undefined;
  readonly workload: { readonly resource: string; readonly name: string } | undefined;
  readonly kubeconfig: string | undefined;
  readonly timeoutMs: number;
}

function parse(argv: string[]): Args | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        selector: { type: 'string', short: 'l' },
        kubeconfig: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  if (parsed.positionals.length > 1) throw new UsageError(`one workload at most, not ${parsed.positionals.join(' ')}`);
  const [target] = parsed.positionals;
  if (target !== undefined && v.selector !== undefined) throw new UsageError('give a workload or --selector, not both');
  let workload: Args['workload'];
  if (target !== undefined) {
    const [kind, name] = target.includes('/') ? target.split('/', 2) : ['deployment', target];
    const resource = WORKLOADS[(kind ?? '').toLowerCase()];
    if (resource === undefined || name === undefined || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
      throw new UsageError(
        `workload "${printable(target, 80)}": expected deployment/NAME, statefulset/NAME or daemonset/NAME`,
      );
    }
    workload = { resource, name };
  }
  if (v.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v.namespace))
    throw new UsageError(`--namespace "${printable(v.namespace, 80)}" is not a namespace name`);
  const timeout = v.timeout === undefined ? 5 : Number(v.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 300)
    throw new UsageError(`--timeout "${printable(v.timeout ?? '', 20)}": seconds, more than 0 and at most 300`);
  return {
    namespace: v.namespace,
    selector: v.selector,
    workload,
    kubeconfig: v.kubeconfig,
    timeoutMs: timeout * 1000,
  };
}

/** The syncer's health port as the webhook declared it on the pod (`hps-health`), or undefined when the pod is not injected. */
function healthPort(pod: V1Pod): number | undefined {
  const syncer = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
    (c) => c.name === NAMES.syncer,
  );
  if (syncer === undefined) return undefined;
  return syncer.ports?.find((p) => p.name === NAMES.healthPortName)?.containerPort ?? CONTRACT_DEFAULTS.healthPort;
}

async function row(access: KubeAccess, namespace: string, pod: V1Pod, timeoutMs: number): Promise<ReplicaRow> {
  const name = pod.metadata?.name ?? '';
  const terminating = pod.metadata?.deletionTimestamp !== undefined;
  const port = healthPort(pod);
  if (port === undefined) return { pod: name, terminating, problem: 'not injected (no syncer container)' };
  if (pod.status?.podIP === undefined || pod.status.phase !== 'Running')
    return { pod: name, terminating, problem: `not running yet (${pod.status?.phase ?? 'no status'})` };
  const path = `/api/v1/namespaces/${namespace}/pods/${encodeURIComponent(`${name}:${port}`)}/proxy/status`;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const doc = readStatus(await getJson<unknown>(access, path, signal));
    return typeof doc === 'string' ? { pod: name, terminating, problem: doc } : { pod: name, terminating, status: doc };
  } catch (err) {
    return {
      pod: name,
      terminating,
      problem: signal.aborted
        ? `no answer within ${timeoutMs / 1000} s`
        : `/status: ${printable((err as Error).message, 160)}`,
    };
  }
}

/** Entry point of the `status` role (see bin/haproxy-peer-sync.ts). */
export async function main(argv: string[]): Promise<void> {
  let args: Args | 'help';
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`haproxy-peer-sync status: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (args === 'help') {
    console.log(USAGE);
    return;
  }
  try {
    const access =
      args.kubeconfig !== undefined ? await kubeconfigAccess(args.kubeconfig) : await defaultAccess(process.env);
    const namespace = args.namespace ?? access.namespace ?? 'default';
    let selector = args.selector ?? `${INJECT_LABEL}=true`;
    if (args.workload !== undefined) {
      const w = await getJson<{ spec?: { selector?: V1LabelSelector } }>(
        access,
        `/apis/apps/v1/namespaces/${namespace}/${args.workload.resource}/${args.workload.name}`,
      );
      const fromWorkload = selectorString(w.spec?.selector);
      if (fromWorkload === undefined)
        throw new ConfigError([
          `${args.workload.resource}/${args.workload.name} has no selector this command can read`,
        ]);
      selector = fromWorkload;
    }
    const pods = (
      await getJson<V1PodList>(
        access,
        `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`,
      )
    ).items.sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
    const rows = await Promise.all(pods.map((p) => row(access, namespace, p, args.timeoutMs)));
    process.stdout.write(`namespace ${namespace}, pods ${selector}\n\n${renderStatus(rows, new Date())}`);
    process.exitCode = verdict(rows).agree ? 0 : 1;
  } catch (err) {
    // A selector the apiserver refuses, a workload that does not exist: the user's to fix (2); the rest is 1.
    const usage = err instanceof ConfigError || (err instanceof ApiError && (err.status === 400 || err.status === 404));
    console.error(`haproxy-peer-sync status: ${printable((err as Error).message, 500)}`);
    process.exitCode = usage ? 2 : 1;
  }
}
