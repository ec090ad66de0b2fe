-- sql/migrations/0006_reserved.sql: version 6 is the alerts' migration, written
-- beside this one; this placeholder holds the number so that 0007 applies in
-- order on this line of work, and is replaced by the real 0006 when they meet.
DO 0;
