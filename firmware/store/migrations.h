/* The store's numbered schema migrations (private to the store). */
#ifndef OB_STORE_MIGRATIONS_H
#define OB_STORE_MIGRATIONS_H

/* How many migrations exist: the newest schema version. */
int ob_store_migration_count(void);

/* The SQL that brings the schema to `version` from version-1, or NULL when out of range. */
const char *ob_store_migration_sql(int version);

#endif
