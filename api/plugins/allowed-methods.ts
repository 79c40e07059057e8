import type { FastifyInstance, RouteOptions } from 'fastify';

/** The methods each route path answers, so that a request for a known path with another method gets 405 and Allow, not 404. */
export class AllowedMethods {
  private readonly routes = new Map<string, { path: RegExp; methods: Set<string> }>();

  add({ url, method }: Pick<RouteOptions, 'url' | 'method'>): void {
    const entry = this.routes.get(url) ?? { path: pathPattern(url), methods: new Set<string>() };
    for (const m of Array.isArray(method) ? method : [method]) entry.methods.add(m.toUpperCase());
    this.routes.set(url, entry);
  }

  /** The methods a request path answers (OPTIONS included), or none when no route has this path. */
  of(url: string): string[] {
    const path = url.split('?', 1)[0]!;
    const methods = new Set<string>();
    for (const route of this.routes.values()) if (route.path.test(path)) for (const m of route.methods) methods.add(m);
    if (methods.size === 0) return [];
    methods.add('OPTIONS');
    return [...methods].sort();
  }
}

/** `/orders/:orderId` → one path segment per parameter; `*` → the rest of the path. */
function pathPattern(url: string): RegExp {
  const source = url
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/** Records every route as it is added; register before the routes. */
export function trackAllowedMethods(app: FastifyInstance): AllowedMethods {
  const allowed = new AllowedMethods();
  app.addHook('onRoute', (route) => allowed.add(route));
  return allowed;
}
