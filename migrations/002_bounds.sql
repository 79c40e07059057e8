-- The bounds of domain/limits.ts as the last line of defence: no stored amount or count can leave
-- the range where JavaScript numbers are exact (2^53), so nothing read back is ever misread. Balances
-- may pass the top-up limit (10^15) by refunds and cashback, never the ceiling (4 * 10^15).
alter table inventory
  alter column available type bigint,
  alter column provisioned type bigint,
  add constraint inventory_provisioned_exact check (provisioned <= 9007199254740991),
  add constraint inventory_available_bounded check (available <= provisioned);

alter table accounts
  add constraint accounts_balance_bounded check (balance_cents <= 4000000000000000),
  add constraint accounts_opening_bounded check (opening_balance_cents <= 1000000000000000);

alter table ledger
  add constraint ledger_amount_bounded check (amount_cents between -1000000000000000 and 1000000000000000),
  add constraint ledger_balance_after_bounded check (balance_after_cents between 0 and 4000000000000000);

alter table orders
  add constraint orders_total_bounded check (total_cents <= 1000000000000);
