import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { isOpenRoute } from './plugins/auth';

/** Marks, on an operation, a body the route takes as optional (its `bodyOptional` config); removed once read. */
const BODY_OPTIONAL = 'x-body-optional';
const SECURITY_SCHEME = 'apiKey';

type Document = { paths?: Record<string, Record<string, { requestBody?: { required?: boolean }; [BODY_OPTIONAL]?: boolean }>> };

/**
 * The published document, from the same zod schemas the routes validate with, plus what zod cannot say:
 * which bodies may be left out, and (with API_KEY set) that every route but the probes and the docs needs the key.
 */
export function openApiOptions({ apiKeySet }: { apiKeySet: boolean }): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      info: {
        title: 'saga-orchestrator',
        version: '0.1.0',
        description:
          'Orders and refunds as durable sagas. Every 4xx and 5xx answer is `{ error, message, details? }`; `error` is a stable code. ' +
          'A path that exists answers an unsupported method with 405 and `Allow`.',
      },
      ...(apiKeySet
        ? { components: { securitySchemes: { [SECURITY_SCHEME]: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API_KEY>' } } } }
        : {}),
    },
    transform: (input) => {
      const { schema, url } = jsonSchemaTransform(input);
      const extra: Record<string, unknown> = {};
      if (input.route.config?.bodyOptional) extra[BODY_OPTIONAL] = true;
      if (apiKeySet && !isOpenRoute(input.url)) extra.security = [{ [SECURITY_SCHEME]: [] }];
      return { schema: { ...schema, ...extra }, url };
    },
    transformObject: (document) => {
      const openapiObject = 'openapiObject' in document ? document.openapiObject : document.swaggerObject;
      for (const operations of Object.values((openapiObject as Document).paths ?? {})) {
        for (const operation of Object.values(operations)) {
          if (!operation[BODY_OPTIONAL]) continue;
          delete operation[BODY_OPTIONAL];
          if (operation.requestBody) operation.requestBody.required = false;
        }
      }
      return openapiObject;
    },
  };
}
