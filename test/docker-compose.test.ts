import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema, loadConfig } from '../config';
import { Topics, topicSpecs } from '../messaging/topics';
import { searchAttributes } from '../contract/search-attributes';

// Checks of docker-compose.yml and the Dockerfile without a Docker engine: the file as written, and the
// project as a Compose implementation (compose-go, docker/compose-validate) loads it.

const repoRoot = path.resolve(__dirname, '..');
const versions = Object.fromEntries(
  readFileSync(path.join(repoRoot, 'tools/stack/versions.env'), 'utf8')
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
const oneShotServices = ['temporal-schema', 'temporal-admin-tools', 'kafka-init'] as const;
const expectedServices = ['postgresql', 'temporal-schema', 'temporal', 'temporal-admin-tools', 'temporal-ui', 'kafka', 'kafka-init', ...appServices];
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

/** .stack/toolchain.env, written by tools/stack/toolchain.sh. */
function readToolchainEnv(): Record<string, string> {
  const file = path.join(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'), 'toolchain.env');
  if (!existsSync(file)) throw new Error(`${file} is missing; run: npm run toolchain`);
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

interface ServerConfig {
  persistence: {
    numHistoryShards: number;
    defaultStore: string;
    visibilityStore: string;
    datastores: Record<string, { sql?: { pluginName: string; databaseName: string; connectAddr: string; user: string; password: string } }>;
  };
  services: Record<string, { rpc: { grpcPort: number; httpPort?: number; bindOnIP: string } } | undefined>;
}

/** Renders the template forms docker/temporal-server.yaml uses: {{ env "X" }} and {{ env "X" | default "Y" }}. */
function renderServerConfig(text: string, env: Record<string, string>): string {
  const rendered = text.replace(
    /\{\{\s*env "([A-Z_]+)"(?:\s*\|\s*default "([^"]*)")?\s*\}\}/g,
    (_m, name: string, fallback?: string) => env[name] || (fallback ?? ''),
  );
  if (rendered.includes('{{')) throw new Error(`template form this test cannot render: ${/\{\{.*?\}\}/.exec(rendered)?.[0]}`);
  return rendered;
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
    expect(dependencies(service('temporal'))).toMatchObject({ postgresql: 'service_healthy', 'temporal-schema': 'service_completed_successfully' });
    expect(dependencies(service('temporal-schema'))).toMatchObject({ postgresql: 'service_healthy' });
  });

  it('pins every image to an explicit version', () => {
    for (const [name, svc] of Object.entries(services)) {
      expect(svc.image, `${name} has no image`).toBeDefined();
      expect(isPinned(svc.image!), `${name} image ${svc.image} is not pinned`).toBe(true);
    }
    expect(composeText).not.toMatch(/:latest\b/);
  });

  it('runs the Temporal Server and UI that the embedded dev server runs, without the retired auto-setup image', () => {
    const toolchain = readToolchainEnv();
    const reported = spawnSync(toolchain.TEMPORAL_BIN!, ['--version'], { encoding: 'utf8' }).stdout;
    const match = /\(Server (\d+\.\d+\.\d+), UI (\d+\.\d+\.\d+)\)/.exec(reported);
    expect(match, `temporal --version said: ${reported}`).not.toBeNull();
    const [, server, ui] = match!;
    expect(service('temporal').image).toBe(`temporalio/server:${server}`);
    expect(service('temporal-schema').image).toBe(`temporalio/admin-tools:${server}`);
    expect(service('temporal-admin-tools').image).toBe(`temporalio/admin-tools:${server}`);
    expect(service('temporal-ui').image).toBe(`temporalio/ui:${ui}`);
    // The opt-in TEMPORAL_PERSISTENCE=postgres stack builds the same versions.
    expect(versions.TEMPORAL_SERVER_VERSION).toBe(server);
    expect(versions.TEMPORAL_UI_VERSION).toBe(ui);
    expect(composeText).not.toMatch(/auto-setup/);
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
  });

  it('configures temporalio/server for PostgreSQL 15: both stores on the postgres12 plugin, in the databases the schema job prepares', () => {
    const temporal = service('temporal');
    const env = environment(temporal);
    const target = env.TEMPORAL_SERVER_CONFIG_FILE_PATH!;
    const mount = (temporal.volumes ?? []).find((v): v is string => typeof v === 'string' && v.split(':')[1] === target);
    expect(mount, `nothing mounted at TEMPORAL_SERVER_CONFIG_FILE_PATH ${target}`).toBeDefined();
    const text = readFileSync(path.join(repoRoot, mount!.split(':')[0]!), 'utf8');
    expect(text.split('\n').slice(0, 5).join('\n')).toMatch(/^# enable-template$/m);
    const config = parse(renderServerConfig(text, { ...env, BIND_ON_IP: '172.18.0.5' })) as ServerConfig;

    const postgres = environment(service('postgresql'));
    const { persistence } = config;
    expect(persistence.datastores[persistence.defaultStore]?.sql?.databaseName).toBe('temporal');
    expect(persistence.datastores[persistence.visibilityStore]?.sql?.databaseName).toBe('temporal_visibility');
    for (const store of [persistence.defaultStore, persistence.visibilityStore]) {
      const sql = persistence.datastores[store]?.sql;
      expect(sql, `datastore ${store} is not SQL`).toBeDefined();
      expect(sql).toMatchObject({
        pluginName: 'postgres12',
        connectAddr: 'postgresql:5432',
        user: postgres.POSTGRES_USER,
        password: postgres.POSTGRES_PASSWORD,
      });
    }
    expect(persistence.numHistoryShards).toBe(4); // fixed for the life of existing volumes
    expect(config.services.frontend?.rpc.grpcPort).toBe(7233);
    expect(config.services.frontend?.rpc.bindOnIP).toBe('172.18.0.5');
    // The healthcheck asks the frontend's HTTP port.
    expect(JSON.stringify(temporal.healthcheck?.test)).toContain(`temporal:${config.services.frontend?.rpc.httpPort}/`);

    const schema = service('temporal-schema');
    expect(environment(schema)).toMatchObject({
      SQL_PLUGIN: 'postgres12',
      SQL_HOST: 'postgresql',
      SQL_PORT: '5432',
      SQL_USER: postgres.POSTGRES_USER,
      SQL_PASSWORD: postgres.POSTGRES_PASSWORD,
    });
    const script = commandText(schema);
    expect(script).toMatch(/for pair in temporal:temporal temporal_visibility:visibility;/);
    expect(script).toContain('create-database');
    expect(script).toContain('setup-schema -v 0.0');
    expect(script).toContain('update-schema --schema-name "postgresql/v12/$$schema"');
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

  it('registers the namespace and the search attributes the workflows use', () => {
    const script = commandText(service('temporal-admin-tools'));
    expect(script).toMatch(/^\s*ns=default$/m);
    expect(loadConfig(Object.fromEntries(Object.entries(environment(service('worker'))).map(([k, v]) => [k, interpolateUnset(v)]))).TEMPORAL_NAMESPACE).toBe(
      'default',
    );
    expect(script).toMatch(/namespace create --namespace "\$\$ns"/);
    expect(script).toMatch(/search-attribute create --namespace "\$\$ns" --name "\$\$1" --type "\$\$2"/);
    for (const [name, type] of Object.entries(searchAttributes)) {
      expect(script, name).toMatch(new RegExp(`\\b${name}\\s+(--type\\s+)?${type}\\b`));
    }
  });
});

describe('docker-compose.yml loaded by compose-go (docker/compose-validate)', () => {
  const validate = (file: string) => {
    const bin = readToolchainEnv().COMPOSE_VALIDATE_BIN;
    if (!bin || !existsSync(bin)) throw new Error('COMPOSE_VALIDATE_BIN in toolchain.env points nowhere; run: npm run toolchain');
    return spawnSync(bin, [file], { encoding: 'utf8', timeout: 30_000 });
  };

  it('loads, interpolates, normalises and passes the consistency checks, as docker compose would', () => {
    const result = validate(path.join(repoRoot, 'docker-compose.yml'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const project = JSON.parse(result.stdout) as {
      name: string;
      services: Record<string, { volumes?: { type: string; source: string }[]; depends_on?: Record<string, { condition: string }> }>;
    };
    expect(project.name).toBe('saga-orchestrator');
    expect(Object.keys(project.services).sort()).toEqual([...expectedServices].sort());
    // Docker would create a missing bind source as an empty directory; every one must exist.
    const binds = Object.values(project.services).flatMap((svc) => (svc.volumes ?? []).filter((v) => v.type === 'bind'));
    expect(binds.length).toBeGreaterThanOrEqual(2);
    for (const bind of binds) expect(existsSync(bind.source), bind.source).toBe(true);
    expect(project.services.temporal?.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
  });

  it('fails on a broken service reference', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'compose-broken-'));
    try {
      const broken = composeText.replace(/^( {6})temporal-schema:\n( {8}condition: service_completed_successfully)$/m, '$1temporal-schemas:\n$2');
      expect(broken).not.toBe(composeText);
      const file = path.join(scratch, 'docker-compose.yml');
      writeFileSync(file, broken);
      const result = validate(file);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/service "temporal" depends on undefined service "temporal-schemas"/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('fails on a key the Compose Specification does not define', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'compose-broken-'));
    try {
      const file = path.join(scratch, 'docker-compose.yml');
      writeFileSync(file, composeText.replace(/^( {4})restart: "no"$/m, '$1restart: "no"\n$1retsart: "no"'));
      const result = validate(file);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/retsart/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
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
    // The Node CI's second pass runs (tools/stack/node.sh).
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
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.stack', '.git', 'dist', 'tools', 'test']));
  });
});
