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
	/* 6: control-plane sync: enrollment, sync state, bundles with their undo, commands */
	"CREATE TABLE cloud_config ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  url TEXT,"                         /* NULL: air-gapped, bundles only by upload */
	"  ca_pem TEXT,"
	"  bundle_keys TEXT NOT NULL,"        /* JSON array of PEM public keys */
	"  enrollment_token TEXT,"            /* kept until the enrollment is answered */
	"  state TEXT NOT NULL CHECK (state IN ('enrolling', 'enrolled', 'airgapped')),"
	"  enrolled_ms INTEGER,"
	"  updated_ms INTEGER NOT NULL"
	");"
	"CREATE TABLE cloud_state ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  etag TEXT,"
	"  poll_interval_s INTEGER NOT NULL DEFAULT 60,"
	"  last_contact_ms INTEGER,"
	"  last_error TEXT,"
	"  last_error_ms INTEGER,"
	"  events_acked_seq INTEGER NOT NULL DEFAULT 0,"
	"  events_dropped INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE cloud_bundles ("
	"  generation INTEGER PRIMARY KEY,"
	"  status TEXT NOT NULL CHECK (status IN ('pending', 'applied', 'rolled_back')),"
	"  source TEXT NOT NULL CHECK (source IN ('poll', 'upload')),"
	"  etag TEXT,"
	"  jws TEXT NOT NULL,"
	"  undo TEXT,"                        /* what the apply replaced, for a rollback */
	"  error TEXT,"
	"  received_ms INTEGER NOT NULL,"
	"  applied_ms INTEGER"
	");"
	"CREATE TABLE cloud_commands ("
	"  id TEXT PRIMARY KEY,"
	"  generation INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),"
	"  detail TEXT,"
	"  at_ms INTEGER NOT NULL"
	");",
	/* 7: webhooks, their delivery outbox and each delivery's attempts */
	"CREATE TABLE webhooks ("
	"  id TEXT PRIMARY KEY,"
	"  url TEXT NOT NULL,"
	"  secret BLOB NOT NULL CHECK (length(secret) BETWEEN 16 AND 128),"
	"  events TEXT NOT NULL,"             /* JSON array of event types, or ["*"] */
	"  enabled INTEGER NOT NULL DEFAULT 1,"
	"  description TEXT,"
	"  cursor_seq INTEGER NOT NULL,"      /* events up to here were considered */
	"  dropped INTEGER NOT NULL DEFAULT 0," /* deliveries not queued: too many pending */
	"  created_by TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	");"
	"CREATE TABLE webhook_deliveries ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
	"  event_seq INTEGER NOT NULL,"       /* the event it tells of (a test: webhook.test) */
	"  type TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  payload TEXT NOT NULL,"
	"  idempotency_key TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  backoff_base INTEGER NOT NULL DEFAULT 0," /* attempts before a manual retry */
	"  next_attempt_ms INTEGER NOT NULL,"
	"  expires_ms INTEGER NOT NULL,"      /* failed when an attempt after it fails */
	"  last_status INTEGER,"
	"  last_error TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER"               /* delivered or given up */
	");"
	"CREATE INDEX webhook_deliveries_queue ON webhook_deliveries "
	"  (status, webhook_id, subject, id);"
	"CREATE INDEX webhook_deliveries_history ON webhook_deliveries (webhook_id, status, id);"
	"CREATE TABLE webhook_attempts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,"
	"  at_ms INTEGER NOT NULL,"
	"  duration_ms INTEGER NOT NULL,"
	"  http_status INTEGER,"              /* NULL when no answer came */
	"  error TEXT"
	");"
	"CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);",
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
