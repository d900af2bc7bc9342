INSERT INTO high_value_transactions
SELECT transaction_id, user_id, amount, currency, ts
FROM transactions
WHERE amount > 500
