-- sql/migrations/0004_user_names.sql: version 4, user names compared exactly.
--
-- app_user.username was VARCHAR in the database's utf8mb4_bin collation, which
-- is PAD SPACE in MariaDB: "admin  " equalled "admin", logged in as admin, and
-- counted failed logins under a name of its own. VARBINARY compares every byte
-- (no padding in MariaDB or MySQL). Names are ASCII by rule (sql/users.h), so
-- the values do not change. Applied by `shardcronctl db migrate`.

ALTER TABLE app_user MODIFY username VARBINARY(64) NOT NULL;
