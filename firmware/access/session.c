#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/util.h"

struct session_slot {
	bool used;
	unsigned char id_sha256[32]; /* the id itself is never kept */
	struct ob_session_info info;
};

struct ob_sessions {
	pthread_mutex_t lock;
	size_t capacity;
	struct session_slot *slots;
};

static void hash_id(const char *id, unsigned char out[32])
{
	mbedtls_sha256_ret((const unsigned char *)id, strlen(id), out, 0);
}

struct ob_sessions *ob_access_sessions_new(size_t capacity)
{
	struct ob_sessions *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->slots = calloc(capacity, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	s->capacity = capacity;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void ob_access_sessions_free(struct ob_sessions **sessions)
{
	struct ob_sessions *s = *sessions;

	if (!s)
		return;
	ob_secure_zero(s->slots, s->capacity * sizeof(*s->slots));
	free(s->slots);
	pthread_mutex_destroy(&s->lock);
	free(s);
	*sessions = NULL;
}

static struct session_slot *find_locked(struct ob_sessions *s, const unsigned char sha[32])
{
	struct session_slot *found = NULL;

	/* Visit every slot so the time does not depend on where (or whether) it matches. */
	for (size_t i = 0; i < s->capacity; i++)
		if (s->slots[i].used && ob_ct_equal(s->slots[i].id_sha256, sha, 32))
			found = &s->slots[i];
	return found;
}

int ob_access_session_create(struct ob_sessions *s, struct ob_session_info *info,
			     int64_t now_ms, char *id_out)
{
	struct session_slot *slot = NULL;
	int ret;

	ret = ob_random_base64url(id_out, OB_SESSION_ID_CHARS + 1, 16);
	if (ret == 0)
		ret = ob_random_hex(info->csrf, OB_CSRF_CHARS / 2);
	if (ret != 0)
		return ret;
	info->created_ms = now_ms;
	info->last_seen_ms = now_ms;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->capacity; i++) {
		if (!s->slots[i].used) {
			slot = &s->slots[i];
			break;
		}
		if (!slot || s->slots[i].info.last_seen_ms < slot->info.last_seen_ms)
			slot = &s->slots[i];
	}
	if (slot) {
		slot->used = true;
		hash_id(id_out, slot->id_sha256);
		slot->info = *info;
	} else {
		ret = OB_ENOMEM;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int lookup(struct ob_sessions *s, const char *id, int64_t now_ms, int64_t idle_ms,
		  int64_t absolute_ms, bool touch, struct ob_session_info *out)
{
	unsigned char sha[32];
	struct session_slot *slot;
	int ret = OB_EAUTH;

	if (strlen(id) != OB_SESSION_ID_CHARS)
		return OB_EAUTH;
	hash_id(id, sha);
	pthread_mutex_lock(&s->lock);
	slot = find_locked(s, sha);
	if (!slot)
		goto out_unlock;
	if (now_ms - slot->info.last_seen_ms > idle_ms ||
	    now_ms - slot->info.created_ms > absolute_ms) {
		ob_secure_zero(slot, sizeof(*slot));
		goto out_unlock;
	}
	if (touch)
		slot->info.last_seen_ms = now_ms;
	if (out)
		*out = slot->info;
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int ob_access_session_lookup(struct ob_sessions *s, const char *id, int64_t now_ms,
			     int64_t idle_ms, int64_t absolute_ms, struct ob_session_info *out)
{
	return lookup(s, id, now_ms, idle_ms, absolute_ms, true, out);
}

int ob_access_session_alive(struct ob_sessions *s, const char *id, int64_t now_ms,
			    int64_t idle_ms, int64_t absolute_ms)
{
	return lookup(s, id, now_ms, idle_ms, absolute_ms, false, NULL);
}

int ob_access_session_destroy(struct ob_sessions *s, const char *id)
{
	unsigned char sha[32];
	struct session_slot *slot;

	hash_id(id, sha);
	pthread_mutex_lock(&s->lock);
	slot = find_locked(s, sha);
	if (slot)
		ob_secure_zero(slot, sizeof(*slot));
	pthread_mutex_unlock(&s->lock);
	return slot ? 0 : OB_ENOTFOUND;
}

int ob_access_sessions_drop_user(struct ob_sessions *s, int64_t user_id, const char *keep_id)
{
	unsigned char keep[32] = { 0 };
	int dropped = 0;

	if (keep_id)
		hash_id(keep_id, keep);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->capacity; i++) {
		struct session_slot *slot = &s->slots[i];

		if (!slot->used || slot->info.user_id != user_id)
			continue;
		if (keep_id && ob_ct_equal(slot->id_sha256, keep, 32))
			continue;
		ob_secure_zero(slot, sizeof(*slot));
		dropped++;
	}
	pthread_mutex_unlock(&s->lock);
	return dropped;
}

int ob_access_session_password_changed(struct ob_sessions *s, const char *id)
{
	unsigned char sha[32];
	struct session_slot *slot;

	hash_id(id, sha);
	pthread_mutex_lock(&s->lock);
	slot = find_locked(s, sha);
	if (slot)
		slot->info.must_change_password = false;
	pthread_mutex_unlock(&s->lock);
	return slot ? 0 : OB_ENOTFOUND;
}

size_t ob_access_sessions_count(struct ob_sessions *s)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->capacity; i++)
		n += s->slots[i].used;
	pthread_mutex_unlock(&s->lock);
	return n;
}
