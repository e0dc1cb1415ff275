#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "core/err.h"

#define FORGET_AFTER_MS (24LL * 3600 * 1000)

struct limit_entry {
	bool used;
	unsigned char key_sha256[32]; /* keys are addresses and names: fixed size, no copies */
	int failures;
	int64_t last_failure_ms;
	int64_t blocked_until_ms;
};

struct ob_ratelimit {
	pthread_mutex_t lock;
	size_t capacity;
	struct limit_entry *entries;
};

struct ob_ratelimit *ob_access_ratelimit_new(size_t capacity)
{
	struct ob_ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	rl->entries = calloc(capacity, sizeof(*rl->entries));
	if (!rl->entries) {
		free(rl);
		return NULL;
	}
	rl->capacity = capacity;
	pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void ob_access_ratelimit_free(struct ob_ratelimit **rlp)
{
	struct ob_ratelimit *rl = *rlp;

	if (!rl)
		return;
	free(rl->entries);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
	*rlp = NULL;
}

static struct limit_entry *find(struct ob_ratelimit *rl, const unsigned char sha[32])
{
	for (size_t i = 0; i < rl->capacity; i++)
		if (rl->entries[i].used && memcmp(rl->entries[i].key_sha256, sha, 32) == 0)
			return &rl->entries[i];
	return NULL;
}

int ob_access_ratelimit_check(struct ob_ratelimit *rl, const char *key, int64_t now_ms,
			      int64_t *retry_after_ms)
{
	unsigned char sha[32];
	struct limit_entry *e;
	int ret = 0;

	mbedtls_sha256_ret((const unsigned char *)key, strlen(key), sha, 0);
	pthread_mutex_lock(&rl->lock);
	e = find(rl, sha);
	if (e && e->blocked_until_ms > now_ms) {
		*retry_after_ms = e->blocked_until_ms - now_ms;
		ret = OB_EBUSY;
	}
	pthread_mutex_unlock(&rl->lock);
	return ret;
}

void ob_access_ratelimit_failure(struct ob_ratelimit *rl, const char *key, int64_t now_ms,
				 int free_attempts, int64_t max_backoff_ms)
{
	unsigned char sha[32];
	struct limit_entry *e;

	mbedtls_sha256_ret((const unsigned char *)key, strlen(key), sha, 0);
	pthread_mutex_lock(&rl->lock);
	e = find(rl, sha);
	if (e && now_ms - e->last_failure_ms > FORGET_AFTER_MS)
		e->failures = 0;
	if (!e) {
		/* Take a free slot, else the entry whose last failure is oldest. */
		for (size_t i = 0; i < rl->capacity; i++) {
			struct limit_entry *c = &rl->entries[i];

			if (!c->used) {
				e = c;
				break;
			}
			if (!e || c->last_failure_ms < e->last_failure_ms)
				e = c;
		}
		if (!e)
			goto out_unlock;
		memset(e, 0, sizeof(*e));
		e->used = true;
		memcpy(e->key_sha256, sha, 32);
	}
	e->failures++;
	e->last_failure_ms = now_ms;
	if (e->failures >= free_attempts) {
		int doublings = e->failures - free_attempts;
		int64_t wait = 1000;

		while (doublings-- > 0 && wait < max_backoff_ms)
			wait *= 2;
		if (wait > max_backoff_ms)
			wait = max_backoff_ms;
		e->blocked_until_ms = now_ms + wait;
	}
out_unlock:
	pthread_mutex_unlock(&rl->lock);
}

void ob_access_ratelimit_success(struct ob_ratelimit *rl, const char *key)
{
	unsigned char sha[32];
	struct limit_entry *e;

	mbedtls_sha256_ret((const unsigned char *)key, strlen(key), sha, 0);
	pthread_mutex_lock(&rl->lock);
	e = find(rl, sha);
	if (e)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&rl->lock);
}
