#include "store/migrations.h"

#include "core/util.h"

/* Numbered schema migrations: entry i takes the store from version i to i+1. Never edit a
 * migration that has shipped; add the next one. */
static const char *const migrations[] = {
	/* 1: settings, admin users, API keys, audit log */
	"CREATE TABLE settings ("
	"  name TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	");"
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  role TEXT NOT NULL,"
	"  password_hash TEXT NOT NULL,"
	"  must_change_password INTEGER NOT NULL DEFAULT 0,"
	"  disabled INTEGER NOT NULL DEFAULT 0,"
	"  created_ms INTEGER NOT NULL,"
	"  password_changed_ms INTEGER NOT NULL,"
	"  last_login_ms INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE apikeys ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),"
	"  created_by TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL"
	");"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at_ms INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  remote_addr TEXT,"
	"  action TEXT NOT NULL,"
	"  target TEXT,"
	"  result TEXT NOT NULL,"
	"  detail TEXT"
	");"
	"CREATE INDEX audit_at ON audit(at_ms);",
	/* 2: operator ladders (the built-in ones live in the firmware) */
	"CREATE TABLE ladders ("
	"  id TEXT PRIMARY KEY,"
	"  document TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	");",
	/* 3: channels */
	"CREATE TABLE channels ("
	"  id TEXT PRIMARY KEY,"
	"  document TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	");",
	/* 4: playback access: token keys, the entitlement policy, revocations */
	"CREATE TABLE access_keys ("
	"  id TEXT PRIMARY KEY,"
	"  secret BLOB NOT NULL CHECK (length(secret) BETWEEN 8 AND 64),"
	"  fingerprint TEXT NOT NULL,"
	"  signing INTEGER NOT NULL DEFAULT 0,"
	"  source TEXT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL"
	");"
	"CREATE TABLE access_policy ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  document TEXT NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	");"
	"CREATE TABLE access_revocations ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  kind TEXT NOT NULL CHECK (kind IN ('token', 'viewer')),"
	"  value TEXT NOT NULL,"
	"  reason TEXT,"
	"  created_by TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  expires_ms INTEGER,"
	"  UNIQUE (kind, value)"
	");",
	/* 5: the event log the console and webhooks read (bounded by count) */
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY,"
	"  at_ms INTEGER NOT NULL,"
	"  level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 2),"
	"  kind TEXT NOT NULL,"
	"  channel TEXT,"
	"  message TEXT NOT NULL,"
	"  data TEXT NOT NULL DEFAULT '{}'"
	");"
	"CREATE INDEX events_by_channel ON events (channel, seq);",
};

int ob_store_migration_count(void)
{
	return (int)OB_ARRAY_SIZE(migrations);
}

const char *ob_store_migration_sql(int version)
{
	if (version < 1 || version > ob_store_migration_count())
		return NULL;
	return migrations[version - 1];
}
