import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema, loadConfig } from '../config';
import { Topics, topicSpecs } from '../messaging/topics';
import { searchAttributes } from '../contract/search-attributes';

// Static checks of docker-compose.yml and the Dockerfile: no Docker engine is needed.

const repoRoot = path.resolve(__dirname, '..');
const versions = Object.fromEntries(
  readFileSync(path.join(repoRoot, 'stack/versions.env'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z0-9_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

type Scalar = string | number | boolean | null;
type PortSpec = string | number | { target: number; published?: string | number; host_ip?: string };

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, Scalar> | string[];
  ports?: PortSpec[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  deploy?: { replicas?: number };
  restart?: string;
  container_name?: string;
}

interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const composeText = readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8');
// Compose resolves YAML merge keys (<<: *anchor); so must we.
const compose = parse(composeText, { merge: true }) as ComposeFile;
const services = compose.services ?? {};

const appServices = ['api', 'worker', 'consumer'] as const;
const oneShotServices = ['temporal-admin-tools', 'kafka-init'] as const;
const expectedServices = ['postgresql', 'temporal', 'temporal-admin-tools', 'temporal-ui', 'kafka', 'kafka-init', ...appServices];
const longRunning = Object.keys(services).filter((name) => !(oneShotServices as readonly string[]).includes(name));

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

/** The tag of an image reference, or undefined when it has none (which means :latest). */
function imageTag(ref: string): string | undefined {
  const withoutDigest = ref.split('@')[0]!;
  const nameStart = withoutDigest.lastIndexOf('/') + 1;
  const colon = withoutDigest.indexOf(':', nameStart);
  return colon === -1 ? undefined : withoutDigest.slice(colon + 1);
}

/** Pinned means an explicit version tag down to at least major.minor: not latest, not a floating major. */
function isPinned(ref: string): boolean {
  if (ref.includes('$')) return false;
  const tag = imageTag(ref);
  return tag !== undefined && tag !== 'latest' && /^v?\d+\.\d+/.test(tag);
}

/** Host ports a service publishes, from short ("8233:8080", "127.0.0.1:5432:5432") or long syntax. */
function hostPorts(svc: Service): number[] {
  return (svc.ports ?? []).flatMap((port): number[] => {
    if (typeof port === 'object') return port.published === undefined ? [] : [Number(port.published)];
    const parts = String(port).split('/')[0]!.split(':');
    return parts.length < 2 ? [] : [Number(parts[parts.length - 2])];
  });
}

function environment(svc: Service): Record<string, string> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) throw new Error('write environment as a map so its keys can be checked');
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

/** What Compose would pass with the variable unset: ${VAR:-default} -> default, ${VAR} -> '', $$ -> $. */
function interpolateUnset(value: string): string {
  return value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}/g, (_match, fallback: string | undefined) => fallback ?? '').replace(/\$\$/g, '$');
}

function commandText(svc: Service): string {
  const part = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(' ') : (value ?? ''));
  return `${part(svc.entrypoint)} ${part(svc.command)}`;
}

function dependencies(svc: Service): Record<string, string> {
  const deps = svc.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition ?? 'service_started']));
}

describe('pinning helpers', () => {
  it('tell pinned references from floating ones', () => {
    expect(imageTag('postgres')).toBeUndefined();
    expect(imageTag('localhost:5000/app')).toBeUndefined();
    expect(imageTag('localhost:5000/app:1.2.3')).toBe('1.2.3');
    expect(isPinned('postgres')).toBe(false);
    expect(isPinned('postgres:latest')).toBe(false);
    expect(isPinned('postgres:15')).toBe(false);
    expect(isPinned('postgres:${PG_VERSION}')).toBe(false);
    expect(isPinned('postgres:15.10')).toBe(true);
    expect(isPinned('temporalio/admin-tools:1.27.2-tctl-1.18.2-cli-1.3.0')).toBe(true);
  });
});

describe('docker-compose.yml', () => {
  it('defines every service of the stack', () => {
    expect(Object.keys(services).sort()).toEqual([...expectedServices].sort());
  });

  it('publishes the documented host ports', () => {
    expect(hostPorts(service('api'))).toEqual([3000]);
    expect(hostPorts(service('temporal'))).toEqual([7233]);
    expect(hostPorts(service('temporal-ui'))).toEqual([8233]);
    expect(hostPorts(service('kafka'))).toEqual([9092]);
    expect(hostPorts(service('postgresql'))).toEqual([5432]);
    expect(service('temporal-ui').ports).toContain('8233:8080');
  });

  it('runs three workers that can coexist', () => {
    const worker = service('worker');
    expect(worker.deploy?.replicas).toBe(3);
    // Replicas cannot share a fixed container name or host port.
    expect(worker.container_name).toBeUndefined();
    expect(hostPorts(worker)).toEqual([]);
  });

  it('gives every long-running service a healthcheck', () => {
    expect(longRunning.length).toBeGreaterThanOrEqual(7);
    for (const name of longRunning) {
      const check = service(name).healthcheck;
      expect(check?.disable, name).not.toBe(true);
      const test = check?.test;
      expect(Array.isArray(test), `${name} healthcheck.test should be a list`).toBe(true);
      const [kind, ...rest] = test as string[];
      expect(['CMD', 'CMD-SHELL'], `${name} healthcheck`).toContain(kind);
      expect(rest.join(' ').trim(), `${name} healthcheck`).not.toBe('');
    }
  });

  it('orders start-up with valid depends_on conditions', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependencies(svc))) {
        expect(services[dep], `${name} depends on unknown service ${dep}`).toBeDefined();
        if (condition === 'service_healthy') expect(services[dep]?.healthcheck, `${dep} needs a healthcheck`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(oneShotServices).toContain(dep);
      }
    }
    for (const oneShot of oneShotServices) {
      expect(service(oneShot).restart, `${oneShot} must not restart`).toBe('no');
      const waiters = Object.values(services).filter((svc) => dependencies(svc)[oneShot] === 'service_completed_successfully');
      expect(waiters.length, `nobody waits for ${oneShot}`).toBeGreaterThan(0);
    }
    expect(dependencies(service('api'))).toMatchObject({
      postgresql: 'service_healthy',
      temporal: 'service_healthy',
      'temporal-admin-tools': 'service_completed_successfully',
    });
    expect(dependencies(service('consumer'))).toMatchObject({ 'kafka-init': 'service_completed_successfully' });
    expect(dependencies(service('temporal'))).toMatchObject({ postgresql: 'service_healthy' });
  });

  it('pins every image to an explicit version', () => {
    for (const [name, svc] of Object.entries(services)) {
      expect(svc.image, `${name} has no image`).toBeDefined();
      expect(isPinned(svc.image!), `${name} image ${svc.image} is not pinned`).toBe(true);
    }
    expect(composeText).not.toMatch(/:latest\b/);
  });

  it('sets only configuration keys that config.ts reads, with values it accepts', () => {
    const known = Object.keys(configSchema.shape);
    for (const name of appServices) {
      const env = environment(service(name));
      expect(Object.keys(env).length, name).toBeGreaterThan(0);
      for (const key of Object.keys(env)) expect(known, `${name} sets unknown variable ${key}`).toContain(key);
      const resolved = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, interpolateUnset(value)]));
      const config = loadConfig(resolved);
      expect(config.TEMPORAL_ADDRESS, name).toBe('temporal:7233');
      expect(config.DATABASE_URL, name).toBe('postgres://postgres:postgres@postgresql:5432/orders');
      expect(config.KAFKA_BROKERS, name).toEqual(['kafka:19092']);
    }
    const api = loadConfig(Object.fromEntries(Object.entries(environment(service('api'))).map(([k, v]) => [k, interpolateUnset(v)])));
    expect(api.API_HOST).toBe('0.0.0.0');
    expect(api.API_PORT).toBe(3000);
  });

  it('builds the app services from the Dockerfile and runs the package scripts', () => {
    for (const name of appServices) {
      const build = service(name).build;
      const context = typeof build === 'string' ? build : build?.context;
      expect(context, `${name} build context`).toBe('.');
    }
    const api = commandText(service('api'));
    expect(api).toMatch(/npm run migrate\s*&&.*npm run api/);
    expect(commandText(service('worker'))).toContain('npm run worker');
    expect(commandText(service('consumer'))).toContain('npm run consumer');
  });

  it('creates the orders database for the app next to Temporal', () => {
    const postgres = service('postgresql');
    const mount = (postgres.volumes ?? []).find((v): v is string => typeof v === 'string' && v.includes('/docker-entrypoint-initdb.d/'));
    expect(mount).toBeDefined();
    const source = mount!.split(':')[0]!;
    expect(path.normalize(source)).toBe(path.normalize('./docker/postgres-init.sql'));
    expect(readFileSync(path.join(repoRoot, source), 'utf8')).toMatch(/CREATE DATABASE orders\b/i);
    const temporal = environment(service('temporal'));
    expect(temporal).toMatchObject({ DB: 'postgres12', DB_PORT: '5432', POSTGRES_SEEDS: 'postgresql' });
    expect(temporal.POSTGRES_PWD).toBe(environment(postgres).POSTGRES_PASSWORD);
    expect(temporal.POSTGRES_USER).toBe(environment(postgres).POSTGRES_USER);
  });

  it('keeps postgres and kafka data in named volumes', () => {
    const named = Object.keys(compose.volumes ?? {});
    const usesNamed = (svc: Service, target: string) =>
      (svc.volumes ?? []).some((v) => typeof v === 'string' && named.includes(v.split(':')[0]!) && v.split(':')[1] === target);
    expect(usesNamed(service('postgresql'), '/var/lib/postgresql/data')).toBe(true);
    const kafkaDir = environment(service('kafka')).KAFKA_LOG_DIRS!;
    expect(usesNamed(service('kafka'), kafkaDir)).toBe(true);
  });

  it('configures a single KRaft node with production durability switches', () => {
    const env = environment(service('kafka'));
    expect(env).toMatchObject({
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE: 'false',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      KAFKA_MIN_INSYNC_REPLICAS: '1',
      KAFKA_DEFAULT_REPLICATION_FACTOR: '1',
    });
    // Containers reach the broker as kafka:19092 (KAFKA_BROKERS), the host as localhost:9092.
    const advertised = env.KAFKA_ADVERTISED_LISTENERS!.split(',').map((l) => l.split('://')[1]);
    expect(advertised).toEqual(expect.arrayContaining(['kafka:19092', 'localhost:9092']));
    expect(composeText).toMatch(/replication factor 3/i);
    expect(composeText).toMatch(/min\.insync\.replicas 2/i);
  });

  it('creates exactly the topics of messaging/topics.ts with their durability settings', () => {
    const script = commandText(service('kafka-init'));
    const creates = script.split('\n').filter((line) => /kafka-topics\.sh\b.*--create\b/.test(line));
    const topics = creates.map((line) => /--topic\s+(\S+)/.exec(line)?.[1]);
    expect([...topics].sort()).toEqual(Object.values(Topics).sort());
    for (const spec of topicSpecs()) {
      const line = creates.find((l) => new RegExp(`--topic\\s+${spec.topic.replace(/\./g, '\\.')}(\\s|$)`).test(l))!;
      expect(line, spec.topic).toContain('--if-not-exists');
      expect(line, spec.topic).toContain('--bootstrap-server kafka:19092');
      expect(line, spec.topic).toMatch(new RegExp(`--partitions\\s+${spec.numPartitions}\\b`));
      expect(line, spec.topic).toMatch(new RegExp(`--replication-factor\\s+${spec.replicationFactor}\\b`));
      for (const entry of spec.configEntries ?? []) expect(line, spec.topic).toContain(`--config ${entry.name}=${entry.value}`);
    }
  });

  it('registers the search attributes the workflows use', () => {
    const script = commandText(service('temporal-admin-tools'));
    expect(script).toContain('temporal operator search-attribute create');
    for (const [name, type] of Object.entries(searchAttributes)) {
      expect(script, name).toMatch(new RegExp(`\\b${name}\\s+(--type\\s+)?${type}\\b`));
    }
  });
});

describe('Dockerfile', () => {
  const dockerfilePath = path.join(repoRoot, 'Dockerfile');

  it('exists, pins its base image and drops root', () => {
    expect(existsSync(dockerfilePath)).toBe(true);
    const text = readFileSync(dockerfilePath, 'utf8');
    const bases = [...text.matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)/gim)].map((m) => m[1]!);
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(isPinned(base), `FROM ${base}`).toBe(true);
    // The Node CI's second pass runs (stack/node.sh).
    expect(bases[0]).toBe(`node:${versions.NODE24_VERSION}-bookworm-slim`);
    const users = [...text.matchAll(/^USER\s+(\S+)/gim)].map((m) => m[1]!);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(text).toMatch(/^RUN npm install --omit=dev --no-save\b/m); // the locked versions, without dev tools
    expect(text).toMatch(/^CMD \["npm", "run", "api"\]/m);
  });

  it('keeps host state out of the build context', () => {
    const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.stack', '.git', 'dist']));
  });
});
