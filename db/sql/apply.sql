-- name: apply_lock_accepted
-- The accepted repairs of a dataset, locked, oldest first.
SELECT id, row_key, column_name, old_value, new_value FROM mendb.repairs
WHERE dataset = %(dataset)s AND status = 'accepted'
ORDER BY id ASC
FOR UPDATE;

-- name: apply_lock_applied
-- The applied repairs of a dataset (all, or those of `ids`), locked, newest first so
-- that repairs stacked on one cell unwind in order.
SELECT id, row_key, column_name, old_value, new_value FROM mendb.repairs
WHERE dataset = %(dataset)s AND status = 'applied'
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
ORDER BY id DESC
FOR UPDATE;

-- name: apply_cell_holds
-- Whether the target cell still holds the expected value, compared in the column's
-- type; locks the row.
SELECT {column} IS NOT DISTINCT FROM %(expected)s FROM {table} WHERE {key} = %(row_key)s
FOR UPDATE;

-- name: apply_write_cell
UPDATE {table} SET {column} = %(value)s WHERE {key} = %(row_key)s;

-- name: apply_mark_applied
UPDATE mendb.repairs SET status = 'applied', applied_txid = txid_current()
WHERE id = %(repair_id)s;

-- name: apply_mark_reverted
UPDATE mendb.repairs SET status = 'reverted', reverted_txid = txid_current()
WHERE id = %(repair_id)s;

-- name: apply_mark_stale
UPDATE mendb.repairs SET status = 'stale' WHERE id = %(repair_id)s;
