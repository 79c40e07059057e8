/**
 * Failure types that no retry can fix. Activities throw ApplicationFailures of these types and the
 * workflow lists them in `nonRetryableErrorTypes`; this module is shared by both, so it stays pure.
 */
export const BusinessError = {
  OutOfStock: 'OutOfStock',
  UnknownSku: 'UnknownSku',
  InsufficientFunds: 'InsufficientFunds',
  UnknownAccount: 'UnknownAccount',
  /** The step's compensation already ran (empty rollback): a late action must not apply. */
  StepFenced: 'StepFenced',
  /** The order already ended the other way (confirmed vs cancelled). */
  OrderClosed: 'OrderClosed',
  InvalidOrder: 'InvalidOrder',
  InvalidRefund: 'InvalidRefund',
  UnknownOrder: 'UnknownOrder',
  /** Only a confirmed order can be refunded. */
  OrderNotRefundable: 'OrderNotRefundable',
  /** The refund would take what the order's refunds return past what it paid. */
  RefundExceedsPaid: 'RefundExceedsPaid',
  /** A refund's saga does not match the refund stored under its ID. */
  RefundIdConflict: 'RefundIdConflict',
  /** A balance change would take the account past Limits.maxBalanceCents. */
  BalanceLimitExceeded: 'BalanceLimitExceeded',
  /** An idempotency key came back with other content (another account, kind or amount). */
  IdempotencyKeyConflict: 'IdempotencyKeyConflict',
  /** PostgreSQL refused a value (SQLSTATE class 22): the same write fails on every retry. */
  DataError: 'DataError',
} as const;

export type BusinessErrorType = (typeof BusinessError)[keyof typeof BusinessError];

export const businessErrorTypes: string[] = Object.values(BusinessError);

/** Lost optimistic-lock races after the in-activity retries: retryable by Temporal. */
export const VersionConflictType = 'VersionConflict';

/** A business rule refused the change; the same request fails the same way on every retry. */
export class BusinessRuleError extends Error {
  override name = 'BusinessRuleError';
  constructor(
    readonly type: BusinessErrorType,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Optimistic-lock races still lost after the in-process retries: the same request may pass later. */
export class ContentionError extends Error {
  override name = 'ContentionError';
  readonly type = VersionConflictType;
}
