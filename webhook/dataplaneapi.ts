/**
 * Mode `dataplaneapi`, the webhook's part, pure: HAProxy loads one more file, written by the init
 * container, that holds the Data Plane API's userlist and the `program` section with which HAProxy's
 * master starts the API (init/render.ts); the init container is told the mode, the API's URL and, when
 * the pod names one, the API's executable. The executable must be in the HAProxy image (an image that
 * bundles it, such as haproxytech's): that image is the user's choice, we add no binary to the pod.
 *
 * Not exercised against a live Data Plane API by this project's tests: the API cannot be obtained on
 * the machines that run them. What is tested: `haproxy -c` accepts the generated files, the real
 * apiserver admits the injected pod, the syncer's requests (test/dataplaneapi-*.test.ts).
 * https://docs.haproxy.org/3.0/configuration.html#3.7 (program)
 */
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { dataplaneapiUrl, ENV, runtimePaths } from '../common/contract.ts';

/** The file HAProxy loads in this mode: the pod contract's userlist file, which also starts the API. */
export const DATAPLANEAPI_CONFIG = runtimePaths().userlist;

/**
 * The HAProxy container's command line with `-f` {@link DATAPLANEAPI_CONFIG} after everything else
 * (the peers file included), given what haproxyCommand made of it (undefined: that field unchanged).
 * Appended to `args` when the container has any, as haproxyCommand does, so an image's
 * ENTRYPOINT/command split stays as the user wrote it; nothing is added when the file is already there.
 */
export function withDataplaneapiConfig(
  container: V1Container,
  argv: { command: string[] | undefined; args: string[] | undefined },
): { command: string[] | undefined; args: string[] | undefined } {
  const command = argv.command ?? container.command ?? [];
  const args = argv.args ?? container.args ?? [];
  const all = [...command, ...args];
  if (all.some((arg, i) => arg === '-f' && all[i + 1] === DATAPLANEAPI_CONFIG)) return argv;
  const extra = ['-f', DATAPLANEAPI_CONFIG];
  return args.length > 0
    ? { command: argv.command, args: [...args, ...extra] }
    : { command: [...command, ...extra], args: argv.args };
}

/** What the init container needs to write the API's files: the mode, where the API listens, its executable if the pod names one. */
export function dataplaneapiInitEnv(port: number, binary: string | undefined): V1EnvVar[] {
  return [
    { name: ENV.mode, value: 'dataplaneapi' },
    { name: ENV.dataplaneapiUrl, value: dataplaneapiUrl(port) },
    ...(binary === undefined ? [] : [{ name: ENV.dataplaneapiBinary, value: binary }]),
  ];
}
