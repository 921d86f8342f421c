-- Run once by the postgres image on an empty volume: one database per service, each reached through its own
-- *_DATABASE_URL (compose.yaml). Each service creates its schema and runs its migrations there at start-up.
CREATE DATABASE users;
CREATE DATABASE orders;
CREATE DATABASE inventory;
