/**
 * The MutatingWebhookConfiguration has one source: deploy/mutatingwebhookconfiguration.yaml, what an
 * admin applies (its comments give the reason for every policy choice; webhook/registration.test.ts checks
 * it). Nothing at run time builds one. The harness-backed tests and the benchmark register that same
 * configuration on their own control plane, re-pointed at the webhook they started — this module
 * does only that re-pointing, so what they test is what ships.
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#webhook-configuration
 */
import { readFileSync } from 'node:fs';
import type { V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { parse } from 'yaml';

/** deploy/'s file, from this checkout. */
export const DEPLOYED_CONFIGURATION_FILE = new URL('../../deploy/mutatingwebhookconfiguration.yaml', import.meta.url);

/** deploy/'s MutatingWebhookConfiguration, as an admin applies it (a fresh copy at each call). */
export function deployedWebhookConfiguration(): V1MutatingWebhookConfiguration {
  return parse(readFileSync(DEPLOYED_CONFIGURATION_FILE, 'utf8')) as V1MutatingWebhookConfiguration;
}

function deployedWebhook(): V1MutatingWebhook {
  const hooks = deployedWebhookConfiguration().webhooks ?? [];
  const [hook] = hooks;
  if (hooks.length !== 1 || hook === undefined)
    throw new Error(`${DEPLOYED_CONFIGURATION_FILE.pathname}: expected exactly one webhook`);
  return hook;
}

/** The name of deploy/'s webhook (what the apiserver says when it denies a pod: `admission webhook "<name>" denied …`). */
export const WEBHOOK_NAME = deployedWebhook().name;

/** How a test re-points deploy/'s configuration at the webhook it started. */
export interface RegistrationOptions {
  /** metadata.name of the registered object. */
  readonly name: string;
  /** Where the apiserver calls: a Service of that control plane, or a URL (a webhook run on the host). */
  readonly target:
    | { readonly service: { readonly namespace: string; readonly name: string; readonly port?: number } }
    | { readonly url: string };
  /** Base64 PEM; left out when the caBundle sync under test is to fill it. */
  readonly caBundle?: string | undefined;
  /** Added to the namespaceSelector: fences the registration to the test's namespaces (or to none). */
  readonly namespaceLabels?: Readonly<Record<string, string>>;
  /** false: drop the objectSelector, so that every pod reaches the handler (which still skips unlabelled ones). */
  readonly objectSelector?: boolean;
  /** Another webhook name, to register the configuration twice. */
  readonly webhookName?: string;
}

/** deploy/'s configuration, every policy field as it ships, called at `target` and fenced as asked. */
export function mutatingWebhookConfiguration(opts: RegistrationOptions): V1MutatingWebhookConfiguration {
  const deployed = deployedWebhookConfiguration();
  const hook = deployedWebhook();
  const path = hook.clientConfig.service?.path ?? '/mutate';
  const { objectSelector, ...rest } = hook;
  const webhook: V1MutatingWebhook = {
    ...rest,
    name: opts.webhookName ?? hook.name,
    clientConfig: {
      ...('url' in opts.target
        ? { url: opts.target.url }
        : {
            service: {
              namespace: opts.target.service.namespace,
              name: opts.target.service.name,
              path,
              port: opts.target.service.port ?? hook.clientConfig.service?.port ?? 443,
            },
          }),
      ...(opts.caBundle ? { caBundle: opts.caBundle } : {}),
    },
    namespaceSelector: {
      ...hook.namespaceSelector,
      ...(opts.namespaceLabels
        ? { matchLabels: { ...hook.namespaceSelector?.matchLabels, ...opts.namespaceLabels } }
        : {}),
    },
    ...(opts.objectSelector === false || objectSelector === undefined ? {} : { objectSelector }),
  };
  return { ...deployed, metadata: { ...deployed.metadata, name: opts.name }, webhooks: [webhook] };
}
