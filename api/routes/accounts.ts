import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { topUp } from '../../billing/top-up';
import { insertAccount, selectAccount } from '../../db/accounts';
import { selectRecentLedgerEntries } from '../../db/ledger';
import { BusinessError, BusinessRuleError, ContentionError } from '../../domain/errors';
import { HttpError } from '../http-errors';
import {
  accountAnswer,
  accountDetailsAnswer,
  accountIdParams,
  createAccountSchema,
  creditAnswer,
  creditSchema,
  errorResponses,
  creditHeaders,
} from '../schemas';

const tags = ['accounts'];
const openAccount = {
  body: createAccountSchema,
  tags,
  summary: 'Open an account (idempotent)',
  response: {
    201: accountAnswer.describe('Created'),
    200: accountAnswer.describe('It exists, with this opening balance'),
    ...errorResponses(400, 401, 409, 413, 415, 422),
  },
};
const credit = {
  params: accountIdParams,
  body: creditSchema,
  headers: creditHeaders,
  tags,
  summary: 'Top up an account (idempotent per Idempotency-Key)',
  description:
    'The same Idempotency-Key on the same account with the same amount applies once (201, then 200); with another amount it is 409 IdempotencyKeyConflict.',
  response: { 201: creditAnswer.describe('Applied'), 200: creditAnswer.describe('Already applied'), ...errorResponses(400, 401, 404, 409, 413, 415, 422) },
};
const readAccount = {
  params: accountIdParams,
  tags,
  summary: 'Balance, version and the last 20 ledger entries',
  response: { 200: accountDetailsAnswer, ...errorResponses(400, 401, 404) },
};

/** Maps the balance change's typed failures to answers; anything else goes to the error handler. */
function topUpError(err: unknown, accountId: string, key: string): unknown {
  if (err instanceof ContentionError) {
    return new HttpError(503, 'Contention', `account ${accountId} is changing too fast; retry with the same Idempotency-Key`, { 'retry-after': '1' });
  }
  const type = err instanceof BusinessRuleError ? err.type : undefined;
  if (type === BusinessError.UnknownAccount) return new HttpError(404, 'AccountNotFound', `no account ${accountId}`);
  if (type === BusinessError.IdempotencyKeyConflict) {
    return new HttpError(409, 'IdempotencyKeyConflict', `Idempotency-Key ${key} was already used on account ${accountId} for a different amount`);
  }
  // The account's balance, not the request, is what refuses it: the same top-up on another account applies.
  if (type === BusinessError.BalanceLimitExceeded) return new HttpError(409, 'BalanceLimitExceeded', (err as Error).message);
  if (type === BusinessError.DataError) return new HttpError(422, 'ValueRefused', 'a value is outside what the database accepts');
  return err;
}

export function registerAccountRoutes(app: FastifyInstance): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post('/accounts', { schema: openAccount }, async (request, reply) => {
    const { accountId, openingBalanceCents } = request.body;
    const created = await insertAccount(app.db, { id: accountId, openingBalanceCents });
    const account = (await selectAccount(app.db, accountId))!;
    if (!created && account.opening_balance_cents !== openingBalanceCents) {
      throw new HttpError(409, 'AccountExists', `account ${accountId} exists with a different opening balance`);
    }
    return reply.code(created ? 201 : 200).send({ accountId, balanceCents: account.balance_cents, version: account.version, created });
  });

  routes.post('/accounts/:accountId/credits', { schema: credit }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const { accountId } = request.params;
    const result = await topUp(app.db, { accountId, amountCents: request.body.amountCents, requestKey: key }).catch((err: unknown) => {
      throw topUpError(err, accountId, key);
    });
    return reply.code(result.applied ? 201 : 200).send({ accountId, applied: result.applied, balanceAfterCents: result.balanceAfterCents });
  });

  routes.get('/accounts/:accountId', { schema: readAccount }, async (request) => {
    const account = await selectAccount(app.db, request.params.accountId);
    if (!account) throw new HttpError(404, 'AccountNotFound', `no account ${request.params.accountId}`);
    const entries = await selectRecentLedgerEntries(app.db, account.id, 20);
    return {
      accountId: account.id,
      balanceCents: account.balance_cents,
      openingBalanceCents: account.opening_balance_cents,
      version: account.version,
      recentLedgerEntries: entries.map((e) => ({
        key: e.idempotency_key,
        orderId: e.order_id,
        kind: e.kind,
        amountCents: e.amount_cents,
        balanceAfterCents: e.balance_after_cents,
        at: e.created_at.toISOString(),
      })),
    };
  });
}
