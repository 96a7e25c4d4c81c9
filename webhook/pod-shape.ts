/**
 * Is the object in a Pod AdmissionReview shaped like a Pod where the webhook looks? Pure.
 *
 * The apiserver decodes every pod into its typed schema before it calls a webhook, so from a real
 * apiserver every field below already has its Kubernetes type; the one exception is
 * `spec.containers`, which has no `omitempty` and arrives as `null` for a pod without containers.
 * Anything else (a `null` volume, a number among the containers, a label that is not a string) comes
 * from another caller. The injection code (inject.ts, drain.ts, haproxy-command.ts) reads these fields
 * as the Kubernetes types say, so this check runs before it, and its answer names every field to fix.
 *
 * Only the fields the webhook reads, or copies into what it writes, are checked; every other field is
 * passed through untouched and left to the apiserver's own validation, which runs after the webhooks.
 * https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 */

/** The JSON types a checked field may have. `null` is never one: the apiserver omits empty fields. */
type Shape =
  | 'string'
  | 'integer'
  /** Any object: the webhook copies it or tests that it is there, never reads inside it. */
  | 'object'
  | { readonly fields: Readonly<Record<string, Shape>>; readonly required?: readonly string[] }
  | { readonly listOf: Shape }
  | { readonly mapOfStrings: true };

const securityContextFields = { runAsUser: 'integer', runAsGroup: 'integer' } as const;

const container: Shape = {
  fields: {
    name: 'string',
    command: { listOf: 'string' },
    args: { listOf: 'string' },
    env: { listOf: { fields: { name: 'string' }, required: ['name'] } },
    volumeMounts: { listOf: { fields: { name: 'string', mountPath: 'string' }, required: ['name', 'mountPath'] } },
    ports: { listOf: { fields: { name: 'string', containerPort: 'integer' } } },
    lifecycle: { fields: { preStop: 'object', postStart: 'object' } },
    securityContext: { fields: securityContextFields },
    restartPolicy: 'string',
  },
  required: ['name'],
};

const POD: Shape = {
  fields: {
    metadata: {
      fields: {
        name: 'string',
        generateName: 'string',
        namespace: 'string',
        labels: { mapOfStrings: true },
        annotations: { mapOfStrings: true },
      },
    },
    spec: {
      fields: {
        containers: { listOf: container },
        initContainers: { listOf: container },
        volumes: { listOf: { fields: { name: 'string' }, required: ['name'] } },
        securityContext: { fields: { ...securityContextFields, supplementalGroups: { listOf: 'integer' } } },
        serviceAccountName: 'string',
        terminationGracePeriodSeconds: 'integer',
      },
      required: ['containers'],
    },
  },
  required: ['spec'],
};

/** At most this many problems are listed (then a count of the rest): the answer stays readable. */
export const MAX_LISTED_PROBLEMS = 5;

/**
 * The problems of `object` as a Pod, each naming the field (`spec.volumes[0] is null`), at most
 * {@link MAX_LISTED_PROBLEMS} of them plus a count of the rest; empty when the webhook can read it.
 * Iterates lists and maps once, so its cost is linear in the fields it checks.
 */
export function podShapeProblems(object: unknown): string[] {
  const problems: string[] = [];
  check(object, POD, [], problems);
  if (problems.length <= MAX_LISTED_PROBLEMS) return problems;
  const rest = problems.length - MAX_LISTED_PROBLEMS;
  return [
    ...problems.slice(0, MAX_LISTED_PROBLEMS),
    problems.length >= MAX_COUNTED_PROBLEMS ? `and at least ${rest} more` : `and ${rest} more`,
  ];
}

/** A cap on the work for absurd inputs (a list of a million nulls): the count of the rest stops there. */
const MAX_COUNTED_PROBLEMS = 1000;

/**
 * Where the check is: field names and list indexes from the pod down, pushed and popped as it walks.
 * The path is written out only for a problem: this check runs on every admission, and building every
 * field's path as a string cost more heap than the rest of the admission's own work (17 KB, measured).
 */
type Path = Array<string | number>;

/** `spec.containers[0].env[2]`; `` for the pod itself. */
function render(path: Path): string {
  let out = '';
  for (const segment of path)
    out = typeof segment === 'number' ? `${out}[${segment}]` : out === '' ? segment : `${out}.${segment}`;
  return out;
}

function check(value: unknown, shape: Shape, path: Path, problems: string[]): void {
  if (problems.length >= MAX_COUNTED_PROBLEMS) return;
  if (value === undefined) {
    problems.push(`${path.length === 0 ? 'the pod' : render(path)} is missing`);
    return;
  }
  if (value === null || !hasType(value, shape)) {
    problems.push(`${path.length === 0 ? 'the pod' : render(path)} must be ${expected(shape)}, not ${describe(value)}`);
    return;
  }
  if (typeof shape === 'string') return;
  if ('listOf' in shape) {
    const list = value as unknown[];
    for (let i = 0; i < list.length; i++) {
      path.push(i);
      check(list[i], shape.listOf, path, problems);
      path.pop();
    }
  } else if ('mapOfStrings' in shape) {
    const map = value as Record<string, unknown>;
    for (const key of Object.keys(map)) {
      const item = map[key];
      if (typeof item !== 'string')
        problems.push(`${render(path)}[${JSON.stringify(clip(key, 64))}] must be a string, not ${describe(item)}`);
    }
  } else {
    const fields = value as Record<string, unknown>;
    for (const key of shape.required ?? []) {
      if (fields[key] === undefined) problems.push(`${path.length === 0 ? '' : `${render(path)}.`}${key} is missing`);
    }
    for (const key in shape.fields) {
      if (Object.hasOwn(fields, key) && fields[key] !== undefined) {
        path.push(key);
        check(fields[key], shape.fields[key] as Shape, path, problems);
        path.pop();
      }
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function hasType(value: unknown, shape: Shape): boolean {
  if (shape === 'string') return typeof value === 'string';
  // Kubernetes integers are int32/int64; JSON numbers beyond 2^53 cannot be held exactly here anyway.
  if (shape === 'integer') return Number.isSafeInteger(value);
  if (typeof shape === 'object' && 'listOf' in shape) return Array.isArray(value);
  return isObject(value);
}

function expected(shape: Shape): string {
  if (shape === 'string') return 'a string';
  if (shape === 'integer') return 'an integer';
  if (typeof shape === 'object' && 'listOf' in shape) return 'a list';
  if (typeof shape === 'object' && 'mapOfStrings' in shape) return 'a map of strings';
  return 'an object';
}

/** What a value is, for a message: its type, and a short string or number as it is. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(clip(value, 64))}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  return 'an object';
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}…`;
}
