/* Entitlement decisions: one immutable state (policy, key ring, revocations, content classes)
 * behind a read-write lock and replaced whole; a set-associative cache of tokens whose MAC
 * verified, tagged with the state's generation so a new state retires every cached decision
 * at once; viewer sessions; counters; rate-limited denial logs. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/entitle.h"
#include "core/err.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"
#include "store/store.h"

#define MODULE "access"
#define CACHE_WAYS 4
#define LOCK_STRIPES 64
#define VIEWER_SLOTS 4096            /* a power of two */
#define VIEWER_PROBES 16
#define VIEWER_SESSIONS 16           /* the policy's max_sessions_per_viewer is at most this */
#define LOG_INTERVAL_MS 10000
#define CONTENT_ID_MAX 32
#define PATH_ECHO_MAX 96

/* ---- sets of strings ---- */

struct string_set {
	char **items;
	size_t count;
	size_t capacity;
};

static int set_add(struct string_set *set, const char *value)
{
	char *copy;

	if (set->count == set->capacity) {
		size_t capacity = set->capacity ? set->capacity * 2 : 16;
		char **items = realloc(set->items, capacity * sizeof(*items));

		if (!items)
			return OB_ENOMEM;
		set->items = items;
		set->capacity = capacity;
	}
	copy = strdup(value);
	if (!copy)
		return OB_ENOMEM;
	set->items[set->count++] = copy;
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_sort(struct string_set *set)
{
	if (set->count > 1)
		qsort(set->items, set->count, sizeof(*set->items), compare_strings);
}

static bool set_has(const struct string_set *set, const char *value)
{
	return set->count &&
	       bsearch(&value, set->items, set->count, sizeof(*set->items), compare_strings);
}

static void set_free(struct string_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		free(set->items[i]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

/* ---- the state ---- */

struct content {
	char id[CONTENT_ID_MAX + 1];
	enum ob_access_class access;
	char risk[OB_RISK_NAME_MAX + 1];
};

struct ob_entitle_state {
	struct ob_access_policy policy;
	struct ob_token_ring *ring;
	struct ob_token_key signing;      /* a copy of the signing key's secret */
	bool has_signing;
	struct string_set revoked_tokens;
	struct string_set revoked_viewers;
	struct content *content;          /* sorted by id once installed */
	size_t content_count;
	size_t content_capacity;
	uint64_t generation;              /* set when installed; never 0 */
};

struct ob_entitle_state *ob_access_entitle_state_new(const struct ob_access_policy *policy)
{
	struct ob_entitle_state *state = calloc(1, sizeof(*state));

	if (!state)
		return NULL;
	state->policy = *policy;
	state->ring = ob_access_token_ring_new();
	if (!state->ring) {
		free(state);
		return NULL;
	}
	return state;
}

int ob_access_entitle_state_add_key(struct ob_entitle_state *state,
				    const struct ob_token_key *key, bool signing)
{
	int ret = ob_access_token_ring_add(state->ring, key);

	if (ret == 0 && signing) {
		state->signing = *key;
		state->has_signing = true;
	}
	return ret;
}

static bool id_ok(const char *value)
{
	size_t len = value ? strlen(value) : 0;

	if (len == 0 || len > OB_VIEWER_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c <= 0x20 || c >= 0x7f || c == '~' || c == ',' || c == '=' || c == '&' ||
		    c == '%' || c == '"' || c == '\\' || c == '#' || c == '?' || c == '+')
			return false;
	}
	return true;
}

int ob_access_entitle_state_revoke(struct ob_entitle_state *state, enum ob_revoke_kind kind,
				   const char *value)
{
	if (!value || !*value || strlen(value) > OB_VIEWER_ID_MAX)
		return OB_EINVAL;
	return set_add(kind == OB_REVOKE_VIEWER ? &state->revoked_viewers : &state->revoked_tokens,
		       value);
}

int ob_access_entitle_state_add_content(struct ob_entitle_state *state, const char *id,
					enum ob_access_class access, const char *risk_class)
{
	struct content *c;

	if (!id || !ob_is_slug(id, CONTENT_ID_MAX) ||
	    (access != OB_CLASS_PUBLIC && access != OB_CLASS_PREMIUM))
		return OB_EINVAL;
	if (state->content_count == state->content_capacity) {
		size_t capacity = state->content_capacity ? state->content_capacity * 2 : 16;
		struct content *grown = realloc(state->content, capacity * sizeof(*grown));

		if (!grown)
			return OB_ENOMEM;
		state->content = grown;
		state->content_capacity = capacity;
	}
	c = &state->content[state->content_count++];
	memset(c, 0, sizeof(*c));
	ob_strlcpy(c->id, id, sizeof(c->id));
	c->access = access;
	ob_strlcpy(c->risk, risk_class && *risk_class ? risk_class : "", sizeof(c->risk));
	return 0;
}

void ob_access_entitle_state_free(struct ob_entitle_state **state)
{
	struct ob_entitle_state *s = *state;

	if (!s)
		return;
	ob_access_token_ring_free(&s->ring);
	ob_secure_zero(&s->signing, sizeof(s->signing));
	set_free(&s->revoked_tokens);
	set_free(&s->revoked_viewers);
	free(s->content);
	free(s);
	*state = NULL;
}

static int compare_content(const void *a, const void *b)
{
	return strcmp(((const struct content *)a)->id, ((const struct content *)b)->id);
}

static const struct content *find_content(const struct ob_entitle_state *state, const char *id)
{
	struct content key = { .access = OB_CLASS_UNKNOWN };

	if (!id || strlen(id) > CONTENT_ID_MAX || state->content_count == 0)
		return NULL;
	ob_strlcpy(key.id, id, sizeof(key.id));
	return bsearch(&key, state->content, state->content_count, sizeof(*state->content),
		       compare_content);
}

/* ---- the decision maker ---- */

struct cache_entry {
	uint64_t generation;     /* 0: empty */
	uint64_t hash;
	uint64_t last_used;
	char *text;              /* the token, owned */
	size_t len;
	struct ob_token token;   /* parsed from text: its spans point into it */
	char *url_path;          /* url mode: the normalised path its MAC covers, owned */
	bool revoked;
	char viewer[OB_VIEWER_ID_MAX + 1];
	uint64_t session;        /* the token id's hash (the token's without an id) */
};

struct viewer {
	char id[OB_VIEWER_ID_MAX + 1];
	uint64_t session[VIEWER_SESSIONS];
	int64_t seen_s[VIEWER_SESSIONS];   /* 0: slot unused */
};

struct ob_entitle {
	pthread_mutex_t reload_lock;       /* one reload at a time: read the store, install */
	pthread_rwlock_t state_lock;
	struct ob_entitle_state *state;
	uint64_t next_generation;          /* under state_lock (write) */
	uint64_t seed;

	struct cache_entry *entries;       /* sets × CACHE_WAYS */
	size_t sets;                       /* a power of two */
	pthread_mutex_t stripes[LOCK_STRIPES];
	atomic_uint_fast64_t tick;

	pthread_mutex_t viewers_lock;
	struct viewer *viewers;            /* VIEWER_SLOTS */

	atomic_uint_fast64_t allowed;
	atomic_uint_fast64_t denied[OB_ENTITLE_RESULT_COUNT];
	atomic_uint_fast64_t hits;
	atomic_uint_fast64_t misses;

	pthread_mutex_t log_lock;
	int64_t log_last_ms[OB_ENTITLE_RESULT_COUNT];
	uint64_t log_suppressed[OB_ENTITLE_RESULT_COUNT];
};

static const char *const reasons[] = {
	[OB_ENTITLE_OK] = "ok",
	[OB_ENTITLE_MISSING] = "missing",
	[OB_ENTITLE_MALFORMED] = "malformed",
	[OB_ENTITLE_EXPIRED] = "expired",
	[OB_ENTITLE_NOT_YET_VALID] = "not_yet_valid",
	[OB_ENTITLE_BAD_SIGNATURE] = "bad_signature",
	[OB_ENTITLE_OUTSIDE_ACL] = "outside_acl",
	[OB_ENTITLE_ADDRESS] = "address",
	[OB_ENTITLE_REVOKED] = "revoked",
	[OB_ENTITLE_TOO_MANY_SESSIONS] = "too_many_sessions",
};

const char *ob_access_entitle_reason(enum ob_entitle_result result)
{
	if ((unsigned)result >= OB_ARRAY_SIZE(reasons) || !reasons[result])
		return "unknown";
	return reasons[result];
}

static enum ob_entitle_result from_token(enum ob_token_result result)
{
	static const enum ob_entitle_result map[] = {
		[OB_TOKEN_OK] = OB_ENTITLE_OK,
		[OB_TOKEN_MISSING] = OB_ENTITLE_MISSING,
		[OB_TOKEN_MALFORMED] = OB_ENTITLE_MALFORMED,
		[OB_TOKEN_EXPIRED] = OB_ENTITLE_EXPIRED,
		[OB_TOKEN_NOT_YET_VALID] = OB_ENTITLE_NOT_YET_VALID,
		[OB_TOKEN_BAD_SIGNATURE] = OB_ENTITLE_BAD_SIGNATURE,
		[OB_TOKEN_OUTSIDE_ACL] = OB_ENTITLE_OUTSIDE_ACL,
		[OB_TOKEN_ADDRESS] = OB_ENTITLE_ADDRESS,
	};

	return (unsigned)result < OB_ARRAY_SIZE(map) ? map[result] : OB_ENTITLE_MALFORMED;
}

/* FNV-1a from a random basis, then a final mix: a client cannot aim many tokens at one
 * set without knowing the seed. */
static uint64_t hash_bytes(uint64_t seed, const char *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)data[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static size_t round_up_pow2(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

struct ob_entitle *ob_access_entitle_new(size_t cache_capacity)
{
	struct ob_entitle *ent = calloc(1, sizeof(*ent));
	struct ob_access_policy policy;

	if (!ent)
		return NULL;
	if (cache_capacity == 0)
		cache_capacity = OB_ENTITLE_CACHE_DEFAULT;
	ent->sets = round_up_pow2((cache_capacity + CACHE_WAYS - 1) / CACHE_WAYS);
	ent->entries = calloc(ent->sets * CACHE_WAYS, sizeof(*ent->entries));
	ent->viewers = calloc(VIEWER_SLOTS, sizeof(*ent->viewers));
	ob_access_policy_defaults(&policy);
	ent->state = ob_access_entitle_state_new(&policy);
	if (!ent->entries || !ent->viewers || !ent->state ||
	    ob_random_bytes(&ent->seed, sizeof(ent->seed)) != 0) {
		ob_access_entitle_state_free(&ent->state);
		free(ent->entries);
		free(ent->viewers);
		free(ent);
		return NULL;
	}
	ent->state->generation = ++ent->next_generation;
	pthread_rwlock_init(&ent->state_lock, NULL);
	pthread_mutex_init(&ent->reload_lock, NULL);
	for (size_t i = 0; i < LOCK_STRIPES; i++)
		pthread_mutex_init(&ent->stripes[i], NULL);
	pthread_mutex_init(&ent->viewers_lock, NULL);
	pthread_mutex_init(&ent->log_lock, NULL);
	return ent;
}

static void entry_clear(struct cache_entry *e)
{
	if (e->text)
		ob_secure_zero(e->text, e->len);
	free(e->text);
	free(e->url_path);
	memset(e, 0, sizeof(*e));
}

void ob_access_entitle_free(struct ob_entitle **ent)
{
	struct ob_entitle *e = *ent;

	if (!e)
		return;
	for (size_t i = 0; i < e->sets * CACHE_WAYS; i++)
		entry_clear(&e->entries[i]);
	free(e->entries);
	free(e->viewers);
	ob_access_entitle_state_free(&e->state);
	pthread_rwlock_destroy(&e->state_lock);
	pthread_mutex_destroy(&e->reload_lock);
	for (size_t i = 0; i < LOCK_STRIPES; i++)
		pthread_mutex_destroy(&e->stripes[i]);
	pthread_mutex_destroy(&e->viewers_lock);
	pthread_mutex_destroy(&e->log_lock);
	free(e);
	*ent = NULL;
}

void ob_access_entitle_install(struct ob_entitle *ent, struct ob_entitle_state **state)
{
	struct ob_entitle_state *old;
	struct ob_entitle_state *s = *state;

	set_sort(&s->revoked_tokens);
	set_sort(&s->revoked_viewers);
	if (s->content_count > 1)
		qsort(s->content, s->content_count, sizeof(*s->content), compare_content);
	pthread_rwlock_wrlock(&ent->state_lock);
	s->generation = ++ent->next_generation;
	old = ent->state;
	ent->state = s;
	pthread_rwlock_unlock(&ent->state_lock);
	*state = NULL;
	/* Entries of the old generation are dead: never matched again, replaced as sets fill. */
	ob_access_entitle_state_free(&old);
}

void ob_access_entitle_policy(struct ob_entitle *ent, struct ob_access_policy *out)
{
	pthread_rwlock_rdlock(&ent->state_lock);
	*out = ent->state->policy;
	pthread_rwlock_unlock(&ent->state_lock);
}

enum ob_access_class ob_access_entitle_content(struct ob_entitle *ent, const char *id,
					       char *out_risk)
{
	enum ob_access_class access = OB_CLASS_UNKNOWN;
	const struct content *c;

	pthread_rwlock_rdlock(&ent->state_lock);
	c = find_content(ent->state, id);
	if (c) {
		access = c->access;
		if (out_risk)
			ob_strlcpy(out_risk, c->risk[0] ? c->risk : ent->state->policy.default_risk,
				   OB_RISK_NAME_MAX + 1);
	}
	pthread_rwlock_unlock(&ent->state_lock);
	return access;
}

/* The viewer id in a token's data field: the value of its "viewer=" entry (entries are
 * separated by ','; the field is percent-decoded once first). Empty when there is none. */
static void viewer_of(const struct ob_token *token, char *out, size_t out_len)
{
	char data[OB_TOKEN_MAX_CHARS + 1];
	size_t n = 0;
	const char *p;

	out[0] = '\0';
	if (!token->data.ptr)
		return;
	for (size_t i = 0; i < token->data.len && n + 1 < sizeof(data); i++) {
		char c = token->data.ptr[i];

		if (c == '%' && i + 2 < token->data.len && ob_hex_digit(token->data.ptr[i + 1]) >= 0 &&
		    ob_hex_digit(token->data.ptr[i + 2]) >= 0) {
			c = (char)(ob_hex_digit(token->data.ptr[i + 1]) * 16 +
				   ob_hex_digit(token->data.ptr[i + 2]));
			i += 2;
		}
		data[n++] = c;
	}
	data[n] = '\0';
	for (p = data; *p; p += strcspn(p, ","), p += (*p == ',')) {
		size_t len = strcspn(p, ",");

		if (len > 7 && strncmp(p, "viewer=", 7) == 0 && len - 7 < out_len) {
			memcpy(out, p + 7, len - 7);
			out[len - 7] = '\0';
			if (!id_ok(out))
				out[0] = '\0';
			return;
		}
	}
}

static void fill_entry(struct cache_entry *e, const struct ob_entitle_state *state,
		       uint64_t seed)
{
	char id[OB_VIEWER_ID_MAX + 1] = "";

	viewer_of(&e->token, e->viewer, sizeof(e->viewer));
	if (e->token.id.ptr && e->token.id.len > 0 && e->token.id.len <= OB_VIEWER_ID_MAX) {
		memcpy(id, e->token.id.ptr, e->token.id.len);
		id[e->token.id.len] = '\0';
		e->session = hash_bytes(seed, id, e->token.id.len);
	} else {
		e->session = e->hash;
	}
	e->revoked = (id[0] && set_has(&state->revoked_tokens, id)) ||
		     (e->viewer[0] && set_has(&state->revoked_viewers, e->viewer));
}

/* What the cache says: the checks after the MAC for a cached token. */
struct facts {
	enum ob_entitle_result result;
	int64_t expiry;
	char viewer[OB_VIEWER_ID_MAX + 1];
	uint64_t session;
};

static enum ob_entitle_result judge(const struct ob_entitle_state *state,
				    const struct ob_token_policy *tp,
				    const struct cache_entry *e, const char *npath,
				    const struct ob_token_request *treq, const char *client)
{
	enum ob_entitle_result r = from_token(ob_access_token_check_claims(tp, &e->token, npath,
									    treq));

	if (r != OB_ENTITLE_OK)
		return r;
	if (e->revoked)
		return OB_ENTITLE_REVOKED;
	if (state->policy.network_count &&
	    !ob_access_network_match(state->policy.networks, state->policy.network_count, client))
		return OB_ENTITLE_ADDRESS;
	return OB_ENTITLE_OK;
}

/* Looks the token up; on a hit judges it and fills *f. False on a miss. The stripe lock
 * keeps the entry alive while it is read. */
static bool cache_lookup(struct ob_entitle *ent, const struct ob_entitle_state *state,
			 const struct ob_token_policy *tp, uint64_t hash,
			 const struct ob_entitle_request *req, const char *npath,
			 const struct ob_token_request *treq, struct facts *f)
{
	size_t set = hash & (ent->sets - 1);
	pthread_mutex_t *lock = &ent->stripes[set % LOCK_STRIPES];
	struct cache_entry *ways = &ent->entries[set * CACHE_WAYS];
	bool hit = false;

	pthread_mutex_lock(lock);
	for (size_t w = 0; w < CACHE_WAYS; w++) {
		struct cache_entry *e = &ways[w];

		if (e->generation != state->generation || e->hash != hash ||
		    e->len != req->token_len || memcmp(e->text, req->token, e->len) != 0)
			continue;
		/* A url-mode token's MAC covers one path: another path needs the MAC again. */
		if (!e->token.acl.ptr && (!npath || !e->url_path || strcmp(e->url_path, npath) != 0))
			break;
		e->last_used = atomic_fetch_add(&ent->tick, 1) + 1;
		f->result = judge(state, tp, e, npath, treq, req->client_addr);
		f->expiry = e->token.expiry;
		memcpy(f->viewer, e->viewer, sizeof(f->viewer));
		f->session = e->session;
		hit = true;
		break;
	}
	pthread_mutex_unlock(lock);
	return hit;
}

/* Verifies the MAC and, when a ring key made it, caches the token. Fills *f. */
static void cache_fill(struct ob_entitle *ent, const struct ob_entitle_state *state,
		       const struct ob_token_policy *tp, uint64_t hash,
		       const struct ob_entitle_request *req, const char *npath,
		       const struct ob_token_request *treq, struct facts *f)
{
	struct ob_token_verdict verdict;
	enum ob_token_result tr = ob_access_token_verify(tp, req->token, req->token_len, treq,
							 &verdict);
	struct cache_entry fresh = { 0 };
	size_t set = hash & (ent->sets - 1);
	pthread_mutex_t *lock = &ent->stripes[set % LOCK_STRIPES];
	struct cache_entry *ways = &ent->entries[set * CACHE_WAYS];
	struct cache_entry *victim = &ways[0];

	f->result = from_token(tr);
	f->expiry = verdict.token.expiry;
	if (verdict.key_index < 0)
		return;
	fresh.text = malloc(req->token_len);
	fresh.url_path = !verdict.token.acl.ptr && npath ? strdup(npath) : NULL;
	if (!fresh.text || (!verdict.token.acl.ptr && npath && !fresh.url_path) ||
	    (memcpy(fresh.text, req->token, req->token_len),
	     ob_access_token_parse(fresh.text, req->token_len, &fresh.token) != 0)) {
		/* Out of memory: decide without caching. */
		struct cache_entry e = { .token = verdict.token, .hash = hash };

		fill_entry(&e, state, ent->seed);
		if (f->result == OB_ENTITLE_OK)
			f->result = judge(state, tp, &e, npath, treq, req->client_addr);
		memcpy(f->viewer, e.viewer, sizeof(f->viewer));
		f->session = e.session;
		free(fresh.text);
		free(fresh.url_path);
		return;
	}
	fresh.len = req->token_len;
	fresh.hash = hash;
	fresh.generation = state->generation;
	fill_entry(&fresh, state, ent->seed);
	/* The MAC and claims were checked by verify; the rest as on a hit. */
	if (f->result == OB_ENTITLE_OK)
		f->result = judge(state, tp, &fresh, npath, treq, req->client_addr);
	memcpy(f->viewer, fresh.viewer, sizeof(f->viewer));
	f->session = fresh.session;
	fresh.last_used = atomic_fetch_add(&ent->tick, 1) + 1;
	pthread_mutex_lock(lock);
	for (size_t w = 0; w < CACHE_WAYS; w++) {
		struct cache_entry *e = &ways[w];

		if (e->generation == state->generation && e->hash == hash &&
		    e->len == fresh.len && memcmp(e->text, fresh.text, fresh.len) == 0) {
			victim = e;  /* another thread cached it meanwhile (or another url) */
			break;
		}
		if (e->generation != state->generation) {
			victim = e;
			break;
		}
		if (e->last_used < victim->last_used)
			victim = e;
	}
	entry_clear(victim);
	*victim = fresh;
	pthread_mutex_unlock(lock);
}

/* Counts the session of a viewer; false when the viewer already has max other sessions
 * active. A full table admits (the viewer is not at fault) and says so in the log. */
/* The few policy figures a decision needs after the state lock is let go. */
struct limits {
	int max_sessions_per_viewer;
	int64_t session_idle_s;
	int64_t skew_s;
	enum ob_token_transport transport;
};

static bool session_admit(struct ob_entitle *ent, const struct limits *policy,
			  const char *viewer, uint64_t session, int64_t now_s)
{
	size_t start = hash_bytes(ent->seed, viewer, strlen(viewer)) & (VIEWER_SLOTS - 1);
	struct viewer *slot = NULL;
	struct viewer *spare = NULL;
	bool admit = true;
	int active = 0;
	int free_at = -1;

	pthread_mutex_lock(&ent->viewers_lock);
	for (size_t probe = 0; probe < VIEWER_PROBES; probe++) {
		struct viewer *v = &ent->viewers[(start + probe) & (VIEWER_SLOTS - 1)];
		bool idle = true;

		if (strcmp(v->id, viewer) == 0) {
			slot = v;
			break;
		}
		for (int i = 0; i < VIEWER_SESSIONS && idle; i++)
			idle = v->seen_s[i] == 0 || now_s - v->seen_s[i] >= policy->session_idle_s;
		if (idle && !spare)
			spare = v;
		if (v->id[0] == '\0')
			break;
	}
	if (!slot) {
		if (!spare) {
			pthread_mutex_unlock(&ent->viewers_lock);
			ob_warn(MODULE, "the session table is full: viewer \"%s\" plays unlimited",
				viewer);
			return true;
		}
		slot = spare;
		memset(slot, 0, sizeof(*slot));
		ob_strlcpy(slot->id, viewer, sizeof(slot->id));
	}
	for (int i = 0; i < VIEWER_SESSIONS; i++) {
		bool live = slot->seen_s[i] != 0 && now_s - slot->seen_s[i] < policy->session_idle_s;

		if (live && slot->session[i] == session) {
			slot->seen_s[i] = now_s;
			goto out_unlock;
		}
		if (live)
			active++;
		else if (free_at < 0)
			free_at = i;
	}
	if (active >= policy->max_sessions_per_viewer || free_at < 0) {
		admit = false;
	} else {
		slot->session[free_at] = session;
		slot->seen_s[free_at] = now_s;
	}
out_unlock:
	pthread_mutex_unlock(&ent->viewers_lock);
	return admit;
}

static void describe(enum ob_entitle_result r, const struct facts *f,
		     const struct limits *policy, char *out, size_t out_len)
{
	char when[32] = "";

	if (f->expiry > 0)
		ob_time_iso8601(f->expiry * 1000, when, sizeof(when));
	switch (r) {
	case OB_ENTITLE_OK:
		snprintf(out, out_len, "ok");
		break;
	case OB_ENTITLE_MISSING:
		snprintf(out, out_len,
			 "this content needs a playback token: add ?__token__=TOKEN to the URL "
			 "(the service you watch through issues them)");
		break;
	case OB_ENTITLE_MALFORMED:
		snprintf(out, out_len,
			 "the playback token is not an EdgeAuth 2.0 token (fields ip, st, exp, acl "
			 "or url, id, data, hmac joined by '~'); get a new one");
		break;
	case OB_ENTITLE_EXPIRED:
		snprintf(out, out_len, "the playback token expired at %s; get a new one", when);
		break;
	case OB_ENTITLE_NOT_YET_VALID:
		snprintf(out, out_len,
			 "the playback token is not valid yet (its st is ahead of this box's clock "
			 "by more than %llds); check the issuer's clock",
			 (long long)policy->skew_s);
		break;
	case OB_ENTITLE_BAD_SIGNATURE:
		snprintf(out, out_len,
			 "the playback token was not signed by a key this box has (a retired key, "
			 "another key or a changed field); get a new one");
		break;
	case OB_ENTITLE_OUTSIDE_ACL:
		snprintf(out, out_len, "the playback token does not cover this path");
		break;
	case OB_ENTITLE_ADDRESS:
		snprintf(out, out_len,
			 "this address may not play: the token is bound to another address, or "
			 "the address is outside the networks allowed to play");
		break;
	case OB_ENTITLE_REVOKED:
		snprintf(out, out_len, "the playback token or its viewer was revoked");
		break;
	case OB_ENTITLE_TOO_MANY_SESSIONS:
		snprintf(out, out_len,
			 "viewer \"%s\" already plays on %d other session(s), the most allowed; "
			 "stop one and try again in %llds",
			 f->viewer, policy->max_sessions_per_viewer,
			 (long long)policy->session_idle_s);
		break;
	default:
		snprintf(out, out_len, "refused");
	}
}

/* One line per reason every LOG_INTERVAL_MS at most, with how many were left out. */
static void log_denial(struct ob_entitle *ent, enum ob_entitle_result r,
		       const struct ob_entitle_request *req)
{
	int64_t now = ob_time_mono_ms();
	uint64_t suppressed = 0;
	bool print = false;
	char path[PATH_ECHO_MAX + 1];
	size_t n = 0;

	pthread_mutex_lock(&ent->log_lock);
	if (ent->log_last_ms[r] == 0 || now - ent->log_last_ms[r] >= LOG_INTERVAL_MS) {
		print = true;
		suppressed = ent->log_suppressed[r];
		ent->log_suppressed[r] = 0;
		ent->log_last_ms[r] = now;
	} else {
		ent->log_suppressed[r]++;
	}
	pthread_mutex_unlock(&ent->log_lock);
	if (!print)
		return;
	for (const char *p = req->path ? req->path : ""; *p && n < PATH_ECHO_MAX; p++, n++)
		path[n] = (*p < 0x20 || *p > 0x7e) ? '?' : *p;
	path[n] = '\0';
	if (suppressed)
		ob_info(MODULE, "denied %s to %s: %s (and %" PRIu64 " more %s denials in the last "
			"%d s)", path, req->client_addr ? req->client_addr : "?",
			ob_access_entitle_reason(r), suppressed, ob_access_entitle_reason(r),
			LOG_INTERVAL_MS / 1000);
	else
		ob_info(MODULE, "denied %s to %s: %s", path,
			req->client_addr ? req->client_addr : "?", ob_access_entitle_reason(r));
}

enum ob_entitle_result ob_access_entitle_check(struct ob_entitle *ent,
					       const struct ob_entitle_request *request,
					       struct ob_entitle_decision *out)
{
	char npath[OB_TOKEN_PATH_MAX + 1];
	const char *normalized = NULL;
	struct facts f = { .result = OB_ENTITLE_MISSING };
	struct limits policy;
	bool hit = false;
	bool looked_up = false;

	memset(out, 0, sizeof(*out));
	/* Only a token is matched against the path: a request without one costs no more. */
	if (request->token && request->token_len > 0 && request->path &&
	    ob_access_token_path_normalize(request->path, npath, sizeof(npath)) == 0)
		normalized = npath;
	pthread_rwlock_rdlock(&ent->state_lock);
	policy.max_sessions_per_viewer = ent->state->policy.max_sessions_per_viewer;
	policy.session_idle_s = ent->state->policy.session_idle_s;
	policy.skew_s = ent->state->policy.skew_s;
	policy.transport = ent->state->policy.transport;
	if (request->unreadable || (request->token && request->token_len > OB_TOKEN_MAX_CHARS)) {
		f.result = OB_ENTITLE_MALFORMED;
	} else if (request->token && request->token_len > 0) {
		const struct ob_entitle_state *state = ent->state;
		struct ob_token_policy tp = {
			.ring = state->ring,
			.skew_s = state->policy.skew_s,
			.skip_address_check = !state->policy.check_address,
		};
		struct ob_token_request treq = {
			.path = request->path,
			.client_addr = request->client_addr,
			.now_s = request->now_s,
		};
		uint64_t hash = hash_bytes(ent->seed, request->token, request->token_len);

		looked_up = true;
		hit = cache_lookup(ent, state, &tp, hash, request, normalized, &treq, &f);
		if (!hit)
			cache_fill(ent, state, &tp, hash, request, normalized, &treq, &f);
	}
	pthread_rwlock_unlock(&ent->state_lock);
	if (f.result == OB_ENTITLE_OK && policy.max_sessions_per_viewer > 0 && f.viewer[0] &&
	    !session_admit(ent, &policy, f.viewer, f.session, request->now_s))
		f.result = OB_ENTITLE_TOO_MANY_SESSIONS;
	if (looked_up)
		atomic_fetch_add(hit ? &ent->hits : &ent->misses, 1);
	out->result = f.result;
	out->expiry = f.expiry;
	out->cached = hit;
	out->transport = policy.transport;
	describe(f.result, &f, &policy, out->message, sizeof(out->message));
	if (f.result == OB_ENTITLE_OK) {
		atomic_fetch_add(&ent->allowed, 1);
	} else {
		atomic_fetch_add(&ent->denied[f.result], 1);
		log_denial(ent, f.result, request);
	}
	return f.result;
}

int ob_access_content_path(const char *path, bool *premium, char *id, size_t id_len)
{
	static const char live[] = "/live/";
	size_t len;

	*premium = strncmp(path, OB_PREMIUM_PREFIX "/", strlen(OB_PREMIUM_PREFIX) + 1) == 0;
	if (*premium)
		path += strlen(OB_PREMIUM_PREFIX);
	if (strncmp(path, live, strlen(live)) != 0)
		return OB_EINVAL;
	path += strlen(live);
	len = strcspn(path, "/");
	if (len == 0 || len >= id_len)
		return OB_EINVAL;
	memcpy(id, path, len);
	id[len] = '\0';
	return ob_is_slug(id, CONTENT_ID_MAX) ? 0 : OB_EINVAL;
}

int ob_access_entitle_issue(struct ob_entitle *ent, const struct ob_entitle_issue *request,
			    struct ob_entitle_issued *out, char *err, size_t err_len)
{
	char id[CONTENT_ID_MAX + 1];
	char data[OB_VIEWER_ID_MAX + 16] = "";
	char npath[OB_TOKEN_PATH_MAX + 1];
	const struct ob_entitle_state *state;
	const struct content *content;
	const struct ob_risk_class *risk;
	struct ob_token_params params = { 0 };
	bool premium;
	int ret = OB_EINVAL;

	memset(out, 0, sizeof(*out));
	if (!request->path ||
	    ob_access_token_path_normalize(request->path, npath, sizeof(npath)) != 0 ||
	    ob_access_content_path(npath, &premium, id, sizeof(id)) != 0) {
		snprintf(err, err_len,
			 "path: must be a premium channel's playback path, such as "
			 "/premium/live/CHANNEL/master.m3u8");
		return OB_EINVAL;
	}
	if (request->viewer_id && *request->viewer_id && !id_ok(request->viewer_id)) {
		snprintf(err, err_len,
			 "viewer_id: 1 to %d printable characters without spaces, '~', ',', '=', "
			 "'&', '%%', '\"', '\\', '#', '?' or '+'", OB_VIEWER_ID_MAX);
		return OB_EINVAL;
	}
	if (request->session_id && *request->session_id && !id_ok(request->session_id)) {
		snprintf(err, err_len,
			 "session_id: 1 to %d printable characters without spaces, '~', ',', '=', "
			 "'&', '%%', '\"', '\\', '#', '?' or '+'", OB_VIEWER_ID_MAX);
		return OB_EINVAL;
	}
	pthread_rwlock_rdlock(&ent->state_lock);
	state = ent->state;
	content = find_content(state, id);
	if (!content) {
		snprintf(err, err_len, "path: there is no channel \"%s\"", id);
		goto out_unlock;
	}
	if (content->access != OB_CLASS_PREMIUM || !premium) {
		snprintf(err, err_len,
			 content->access == OB_CLASS_PREMIUM
				 ? "path: channel \"%s\" is premium: its path starts with "
				   OB_PREMIUM_PREFIX "/live/"
				 : "path: channel \"%s\" is public: it plays without a token", id);
		goto out_unlock;
	}
	ob_strlcpy(out->risk_class,
		   request->risk_class && *request->risk_class ? request->risk_class
		   : content->risk[0] ? content->risk : state->policy.default_risk,
		   sizeof(out->risk_class));
	risk = ob_access_policy_risk(&state->policy, out->risk_class);
	if (!risk) {
		snprintf(err, err_len, "risk_class: the policy has no risk class \"%s\"",
			 out->risk_class);
		goto out_unlock;
	}
	out->ttl_s = request->ttl_s > 0 ? request->ttl_s : risk->ttl_s;
	if (out->ttl_s > risk->max_ttl_s) {
		snprintf(err, err_len,
			 "ttl_seconds: %lld is above the %lld seconds risk class \"%s\" allows",
			 (long long)out->ttl_s, (long long)risk->max_ttl_s, risk->name);
		goto out_unlock;
	}
	if (!state->has_signing) {
		snprintf(err, err_len,
			 "there is no token key: add one with POST /api/v1/access/keys");
		ret = OB_ENOTFOUND;
		goto out_unlock;
	}
	if (request->session_id && *request->session_id)
		ob_strlcpy(out->token_id, request->session_id, sizeof(out->token_id));
	else if ((ret = ob_random_hex(out->token_id, 8)) != 0)
		goto out_unlock;
	if (request->viewer_id && *request->viewer_id)
		snprintf(data, sizeof(data), "viewer=%s", request->viewer_id);
	snprintf(out->acl, sizeof(out->acl), OB_PREMIUM_PREFIX "/live/%s/*", id);
	params.window_s = out->ttl_s;
	params.acl = out->acl;
	params.ip = request->ip;
	params.id = out->token_id;
	params.data = data[0] ? data : NULL;
	ret = ob_access_token_issue(&state->signing, &params, request->now_s, out->token,
				    sizeof(out->token), err, err_len);
	if (ret == 0) {
		out->expiry = request->now_s + out->ttl_s;
		ob_strlcpy(out->key_id, state->signing.id, sizeof(out->key_id));
	}
out_unlock:
	pthread_rwlock_unlock(&ent->state_lock);
	return ret;
}

json_t *ob_access_entitle_stats(struct ob_entitle *ent)
{
	json_t *denied = json_object();
	size_t entries = 0;
	size_t sessions = 0;
	size_t keys;
	uint64_t generation;
	int64_t now_s = ob_time_wall_ms() / 1000;
	int64_t idle;

	for (int r = OB_ENTITLE_OK + 1; r < OB_ENTITLE_RESULT_COUNT; r++)
		json_object_set_new(denied, reasons[r],
				    json_integer((json_int_t)atomic_load(&ent->denied[r])));
	pthread_rwlock_rdlock(&ent->state_lock);
	generation = ent->state->generation;
	keys = ob_access_token_ring_count(ent->state->ring);
	idle = ent->state->policy.session_idle_s;
	pthread_rwlock_unlock(&ent->state_lock);
	for (size_t s = 0; s < ent->sets; s++) {
		pthread_mutex_t *lock = &ent->stripes[s % LOCK_STRIPES];

		pthread_mutex_lock(lock);
		for (size_t w = 0; w < CACHE_WAYS; w++)
			entries += ent->entries[s * CACHE_WAYS + w].generation == generation;
		pthread_mutex_unlock(lock);
	}
	pthread_mutex_lock(&ent->viewers_lock);
	for (size_t v = 0; v < VIEWER_SLOTS; v++)
		for (int i = 0; i < VIEWER_SESSIONS; i++)
			sessions += ent->viewers[v].seen_s[i] != 0 &&
				    now_s - ent->viewers[v].seen_s[i] < idle;
	pthread_mutex_unlock(&ent->viewers_lock);
	return json_pack("{s:I, s:o, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I}", "allowed",
			 (json_int_t)atomic_load(&ent->allowed), "denied", denied, "cache",
			 "entries", (json_int_t)entries, "capacity",
			 (json_int_t)(ent->sets * CACHE_WAYS), "hits",
			 (json_int_t)atomic_load(&ent->hits), "misses",
			 (json_int_t)atomic_load(&ent->misses), "sessions", (json_int_t)sessions,
			 "keys", (json_int_t)keys, "generation", (json_int_t)generation);
}

/* ---- building the state from the store ---- */

static int load_keys(struct ob_entitle_state *state, struct ob_store *store, char *err,
		     size_t err_len)
{
	struct ob_access_key_row rows[OB_ACCESS_KEYS_MAX];
	size_t count = 0;
	int ret = ob_store_access_keys_load(store, rows, OB_ARRAY_SIZE(rows), &count);

	for (size_t i = 0; ret == 0 && i < count; i++) {
		struct ob_token_key key = { 0 };

		ob_strlcpy(key.id, rows[i].id, sizeof(key.id));
		memcpy(key.secret, rows[i].secret, rows[i].secret_len);
		key.secret_len = rows[i].secret_len;
		ret = ob_access_entitle_state_add_key(state, &key, rows[i].signing);
		if (ret != 0)
			snprintf(err, err_len, "token key \"%s\" cannot be used: %s", rows[i].id,
				 ob_strerror(ret));
		ob_secure_zero(&key, sizeof(key));
	}
	ob_secure_zero(rows, sizeof(rows));
	return ret;
}

static int load_revocations(struct ob_entitle_state *state, struct ob_store *store)
{
	json_t *list = ob_store_access_revocation_list(store, ob_time_wall_ms());
	json_t *item;
	size_t i;
	int ret = list ? 0 : OB_ENOMEM;

	json_array_foreach(list, i, item) {
		const char *token = json_string_value(json_object_get(item, "token_id"));
		const char *viewer = json_string_value(json_object_get(item, "viewer_id"));

		if (token)
			ret = ob_access_entitle_state_revoke(state, OB_REVOKE_TOKEN, token);
		else if (viewer)
			ret = ob_access_entitle_state_revoke(state, OB_REVOKE_VIEWER, viewer);
		if (ret == OB_EINVAL)
			ret = 0; /* a value no token can carry revokes nothing */
		if (ret != 0)
			break;
	}
	json_decref(list);
	return ret;
}

static int load_content(struct ob_entitle_state *state, struct ob_store *store)
{
	json_t *channels = ob_store_doc_list(store, OB_STORE_CHANNELS);
	json_t *channel;
	size_t i;
	int ret = channels ? 0 : OB_ENOMEM;

	json_array_foreach(channels, i, channel) {
		const char *access = json_string_value(json_object_get(channel, "access"));

		ret = ob_access_entitle_state_add_content(
			state, json_string_value(json_object_get(channel, "id")),
			access && strcmp(access, "premium") == 0 ? OB_CLASS_PREMIUM : OB_CLASS_PUBLIC,
			json_string_value(json_object_get(channel, "risk_class")));
		if (ret == OB_EINVAL)
			ret = 0; /* not a servable id: the origin refuses it anyway */
		if (ret != 0)
			break;
	}
	json_decref(channels);
	return ret;
}

int ob_access_entitle_reload(struct ob_entitle *ent, struct ob_store *store, char *err,
			     size_t err_len)
{
	struct ob_access_policy policy;
	struct ob_entitle_state *state = NULL;
	json_t *doc = NULL;
	int ret;

	err[0] = '\0';
	pthread_mutex_lock(&ent->reload_lock);
	ret = ob_store_access_policy_get(store, &doc);
	if (ret == 0 && doc)
		ret = ob_access_policy_from_json(doc, &policy, err, err_len);
	else if (ret == 0)
		ob_access_policy_defaults(&policy);
	json_decref(doc);
	if (ret != 0)
		goto fail;
	state = ob_access_entitle_state_new(&policy);
	if (!state) {
		ret = OB_ENOMEM;
		goto fail;
	}
	ret = load_keys(state, store, err, err_len);
	if (ret == 0)
		ret = load_revocations(state, store);
	if (ret == 0)
		ret = load_content(state, store);
	if (ret != 0)
		goto fail;
	ob_access_entitle_install(ent, &state);
	pthread_mutex_unlock(&ent->reload_lock);
	return 0;

fail:
	pthread_mutex_unlock(&ent->reload_lock);
	if (!err[0])
		snprintf(err, err_len, "the access policy cannot be loaded: %s", ob_strerror(ret));
	ob_access_entitle_state_free(&state);
	return ret;
}
