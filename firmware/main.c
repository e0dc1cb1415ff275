/* ottboxd: wiring only. Options, the provisioning subcommands, and the daemon's life:
 * open the store, start services, wait for a signal, stop in order. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access/access.h"
#include "access/entitle.h"
#include "access/token.h"
#include "api/api.h"
#include "cloud/cloud.h"
#include "cloud/webhooks.h"
#include "core/err.h"
#include "core/events.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"
#include "core/version.h"
#include "engine/engine.h"
#include "generated/autoconf.h"
#include "hw.h"
#include "store/store.h"

#define MODULE "main"

/* Exit codes: 0 done, 1 failed at run time, 2 wrong usage. */
enum { EXIT_USAGE = 2 };

struct options {
	const char *data_dir;
	const char *listen;
	const char *listen_tls;
	const char *www_dir;
	char www_default[PATH_MAX];
	bool log_level_given;       /* --log-level wins over the stored setting at start */
	bool demo_channel;          /* --demo-channel: a test-pattern channel on a new box */
	const char *enroll_file;    /* --enroll-file: the board's control-plane enrollment */
	enum ob_log_level log_level;
};

struct command {
	const char *group;   /* "user", or NULL for a one-word command */
	const char *name;
	const char *usage;
	bool needs_store;
	int (*run)(struct options *opts, struct ob_store *store, int argc, char **argv);
};

static void usage(FILE *out);

/* On a box without channels, stores a demo channel from the built-in test pattern with the
 * default ladder, started at once and at every start: the first thing a new user sees is a
 * live ABR channel. */
static void add_demo_channel(struct ob_store *store)
{
	struct ob_audit audit = { .actor = "system", .action = "channel.create", .target = "demo" };
	json_t *channels = ob_store_doc_list(store, OB_STORE_CHANNELS);
	json_t *demo;
	char err[256];

	if (json_array_size(channels) > 0) {
		json_decref(channels);
		return;
	}
	json_decref(channels);
	demo = json_pack("{s:s, s:s, s:{s:s}, s:b}", "id", "demo", "name", "Demo (test pattern)",
			 "input", "url", "test://pattern?size=1280x720&rate=30&type=moving",
			 "autostart", 1);
	if (demo && ob_engine_channel_validate(demo, err, sizeof(err)) == 0) {
		ob_engine_channel_fill_defaults(demo);
		if (ob_store_doc_put(store, OB_STORE_CHANNELS, demo, true, &audit) == 0)
			ob_info(MODULE, "created the demo channel: /live/demo/master.m3u8");
	}
	json_decref(demo);
}

static int run_daemon(struct options *opts)
{
	struct ob_api_config config = {
		.data_dir = opts->data_dir,
		.listen = opts->listen,
		.listen_tls = opts->listen_tls,
		.www_dir = opts->www_dir,
		.threads = CONFIG_HTTP_THREADS,
	};
	struct ob_store *store = NULL;
	struct ob_engine *engine = NULL;
	struct ob_entitle *entitle = NULL;
#ifdef CONFIG_CLOUD_SYNC
	struct ob_cloud *cloud = NULL;
	struct ob_cloud_webhooks *webhooks = NULL;
#endif
	struct ob_api *api = NULL;
	char err[1024];
	sigset_t signals;
	int sig = 0;
	int ret;

	/* Block the stop signals in every thread; this one waits for them with sigwait. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	ob_info(MODULE, "ottboxd %s starting, data directory %s", OB_VERSION, opts->data_dir);
	ret = ob_store_open(opts->data_dir, &store, err, sizeof(err));
	if (ret != 0) {
		ob_error(MODULE, "%s", err);
		return 1;
	}
	if (opts->log_level_given)
		ob_log_set_level(opts->log_level);
	ob_info(MODULE, "store %s/%s at schema version %d", opts->data_dir, OB_STORE_FILE,
		ob_store_schema_version(store));
	ret = ob_access_bootstrap_admin(store, opts->data_dir, stdout);
	if (ret != 0) {
		ob_error(MODULE, "cannot create the first admin user: %s", ob_strerror(ret));
		goto out_close_store;
	}
	ret = ob_events_start(ob_store_events_last_seq(store), ob_store_events_sink, store);
	if (ret != 0) {
		ob_error(MODULE, "cannot start the event log: %s", ob_strerror(ret));
		goto out_close_store;
	}
	ret = ob_engine_create(store, opts->data_dir, &engine);
	if (ret != 0) {
		ob_error(MODULE, "cannot start the engine: %s", ob_strerror(ret));
		goto out_stop_events;
	}
	config.engine = engine;
	if (opts->demo_channel)
		add_demo_channel(store);
	entitle = ob_access_entitle_new(0);
	if (!entitle) {
		ret = OB_ENOMEM;
		ob_error(MODULE, "out of memory for the playback access state");
		goto out_free_entitle;
	}
#ifdef CONFIG_CLOUD_SYNC
	{
		/* Before the access state loads and channels start: a bundle left in its health
		 * check by the last stop is rolled back first. */
		struct ob_cloud_deps deps = {
			.store = store,
			.engine = engine,
			.entitle = entitle,
			.data_dir = opts->data_dir,
			.enroll_file = opts->enroll_file,
		};

		ret = ob_cloud_start(&deps, &cloud, err, sizeof(err));
		if (ret != 0) {
			ob_error(MODULE, "%s", err);
			goto out_free_entitle;
		}
		config.cloud = cloud;
	}
	/* Lifecycle webhooks, sent as this device: what the last run left pending goes now. */
	ret = ob_cloud_webhooks_start(store, ob_cloud_box_id(cloud), &webhooks);
	if (ret != 0) {
		ob_error(MODULE, "cannot start the webhook sender: %s", ob_strerror(ret));
		goto out_stop_cloud;
	}
#endif
	/* Premium content is refused until the policy, keys and channels are in memory. */
	ret = ob_access_entitle_reload(entitle, store, err, sizeof(err));
	if (ret != 0) {
		ob_error(MODULE, "cannot load the playback access state: %s", err);
		goto out_stop_cloud;
	}
	config.entitle = entitle;
	ret = ob_api_start(&config, store, &api, err, sizeof(err));
	if (ret != 0) {
		ob_error(MODULE, "%s", err);
		goto out_stop_cloud;
	}
	ob_event_publish(OB_EVENT_INFO, "box.started", NULL,
			 json_pack("{s:s}", "version", OB_VERSION), "the box started (ottboxd %s)",
			 OB_VERSION);
	ob_engine_autostart(engine);
	ob_info(MODULE, "ready");
	while (sigwait(&signals, &sig) != 0)
		;
	ob_info(MODULE, "%s received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	ob_event_publish(OB_EVENT_INFO, "box.stopping", NULL, NULL, "the box is stopping (%s)",
			 sig == SIGTERM ? "SIGTERM" : "SIGINT");
	ob_api_stop(&api);
out_stop_cloud:
#ifdef CONFIG_CLOUD_SYNC
	ob_cloud_webhooks_stop(&webhooks);
	ob_cloud_stop(&cloud);
#endif
out_free_entitle:
	ob_access_entitle_free(&entitle);
	/* Channels end their playlists before the store closes. */
	ob_engine_destroy(&engine);
out_stop_events:
	/* The channels' last events reach the store before it closes. */
	ob_events_stop();
out_close_store:
	ob_store_close(&store);
	ob_info(MODULE, ret == 0 ? "stopped cleanly" : "stopped after an error");
	return ret == 0 ? 0 : 1;
}

/* Reads one line from stdin without its newline. */
static int read_password_stdin(char *out, size_t len)
{
	size_t n;

	if (!fgets(out, (int)len, stdin))
		return OB_EINVAL;
	n = strcspn(out, "\r\n");
	if (out[n] == '\0' && n == len - 1)
		return OB_ETOOBIG;
	out[n] = '\0';
	return 0;
}

static const struct option user_add_options[] = {
	{ "role", required_argument, NULL, 'r' },
	{ "password-stdin", no_argument, NULL, 'p' },
	{ "must-change", no_argument, NULL, 'm' },
	{ NULL, 0, NULL, 0 },
};

static int cmd_user_add(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	struct ob_audit audit = { .actor = "cli", .action = "user.create" };
	struct ob_user user = { 0 };
	char password[1024];
	char err[256];
	const char *role = NULL;
	bool from_stdin = false;
	unsigned perms;
	int c;
	int ret;

	(void)opts;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", user_add_options, NULL)) != -1) {
		if (c == 'r')
			role = optarg;
		else if (c == 'p')
			from_stdin = true;
		else if (c == 'm')
			user.must_change_password = true;
		else
			return EXIT_USAGE;
	}
	if (optind != argc - 1 || !role || !from_stdin) {
		fprintf(stderr, "usage: ottboxd user add NAME --role ROLE --password-stdin "
				"[--must-change]\n");
		return EXIT_USAGE;
	}
	if (ob_store_user_name_check(argv[optind], err, sizeof(err)) != 0 ||
	    ob_access_role_perms(role, &perms) != 0) {
		if (ob_access_role_perms(role, &perms) != 0)
			snprintf(err, sizeof(err), "role: must be one of %s", ob_access_role_names());
		fprintf(stderr, "ottboxd: %s\n", err);
		return EXIT_USAGE;
	}
	if (read_password_stdin(password, sizeof(password)) != 0) {
		fprintf(stderr, "ottboxd: give the password as one line on standard input\n");
		return EXIT_USAGE;
	}
	ret = ob_access_password_policy(password, argv[optind], err, sizeof(err));
	if (ret != 0) {
		fprintf(stderr, "ottboxd: %s\n", err);
		ret = EXIT_USAGE;
		goto out;
	}
	ob_strlcpy(user.name, argv[optind], sizeof(user.name));
	ob_strlcpy(user.role, role, sizeof(user.role));
	audit.target = user.name;
	ret = ob_access_password_hash(password, user.password_hash, sizeof(user.password_hash));
	if (ret == 0)
		ret = ob_store_user_create(store, &user, &audit);
	if (ret == OB_EEXIST) {
		fprintf(stderr, "ottboxd: a user \"%s\" already exists\n", user.name);
		ret = 1;
	} else if (ret != 0) {
		fprintf(stderr, "ottboxd: the user could not be created: %s\n", ob_strerror(ret));
		ret = 1;
	} else {
		printf("user \"%s\" created with role %s\n", user.name, user.role);
	}
out:
	ob_secure_zero(password, sizeof(password));
	ob_secure_zero(&user, sizeof(user));
	return ret;
}

static int cmd_user_passwd(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	struct ob_audit audit = { .actor = "cli", .action = "user.password_change" };
	struct ob_user user;
	char password[1024];
	char err[256];
	int ret;

	(void)opts;
	if (argc != 3 || strcmp(argv[2], "--password-stdin") != 0) {
		fprintf(stderr, "usage: ottboxd user passwd NAME --password-stdin\n");
		return EXIT_USAGE;
	}
	if (ob_store_user_get(store, argv[1], &user) != 0) {
		fprintf(stderr, "ottboxd: no user named \"%s\"\n", argv[1]);
		return 1;
	}
	if (read_password_stdin(password, sizeof(password)) != 0) {
		fprintf(stderr, "ottboxd: give the password as one line on standard input\n");
		return EXIT_USAGE;
	}
	ret = ob_access_password_policy(password, user.name, err, sizeof(err));
	if (ret != 0) {
		fprintf(stderr, "ottboxd: %s\n", err);
		ret = EXIT_USAGE;
		goto out;
	}
	audit.target = user.name;
	user.must_change_password = false;
	user.disabled = false;
	ret = ob_access_password_hash(password, user.password_hash, sizeof(user.password_hash));
	if (ret == 0)
		ret = ob_store_user_update(store, &user, &audit);
	if (ret != 0) {
		fprintf(stderr, "ottboxd: the password could not be changed: %s\n", ob_strerror(ret));
		ret = 1;
	} else {
		printf("password of \"%s\" changed (sessions on a running box end at its restart)\n",
		       user.name);
	}
out:
	ob_secure_zero(password, sizeof(password));
	ob_secure_zero(&user, sizeof(user));
	return ret;
}

static int print_json(json_t *value)
{
	int ret = json_dumpf(value, stdout, JSON_INDENT(2)) == 0 ? 0 : 1;

	putchar('\n');
	json_decref(value);
	return ret;
}

static int cmd_user_list(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	(void)opts;
	(void)argc;
	(void)argv;
	return print_json(ob_store_user_list(store));
}

static const struct option apikey_options[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "role", required_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 },
};

static int cmd_apikey_create(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	struct ob_audit audit = { .actor = "cli", .action = "apikey.create" };
	struct ob_apikey key = { 0 };
	char token[OB_APIKEY_TOKEN_MAX];
	const char *name = NULL;
	const char *role = NULL;
	unsigned perms;
	int c;
	int ret;

	(void)opts;
	optind = 0;
	while ((c = getopt_long(argc, argv, "", apikey_options, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 'r')
			role = optarg;
		else
			return EXIT_USAGE;
	}
	if (optind != argc || !name || !role) {
		fprintf(stderr, "usage: ottboxd apikey create --name NAME --role ROLE\n");
		return EXIT_USAGE;
	}
	if (ob_access_role_perms(role, &perms) != 0) {
		fprintf(stderr, "ottboxd: role: must be one of %s\n", ob_access_role_names());
		return EXIT_USAGE;
	}
	if (ob_utf8_chars(name) < 1 || ob_utf8_chars(name) > OB_APIKEY_NAME_CHARS) {
		fprintf(stderr, "ottboxd: name: must be 1 to %d printable characters\n",
			OB_APIKEY_NAME_CHARS);
		return EXIT_USAGE;
	}
	ob_strlcpy(key.name, name, sizeof(key.name));
	ob_strlcpy(key.role, role, sizeof(key.role));
	ob_strlcpy(key.created_by, "cli", sizeof(key.created_by));
	ret = ob_access_apikey_generate(key.id, token, sizeof(token), key.secret_sha256);
	audit.target = key.id;
	if (ret == 0)
		ret = ob_store_apikey_create(store, &key, &audit);
	if (ret != 0) {
		fprintf(stderr, "ottboxd: the key could not be created: %s\n", ob_strerror(ret));
		ret = 1;
	} else {
		/* The key on stdout alone, so scripts can capture it; the note on stderr. */
		printf("%s\n", token);
		fprintf(stderr, "API key %s (\"%s\", role %s) created; it is shown only this once\n",
			key.id, key.name, key.role);
	}
	ob_secure_zero(token, sizeof(token));
	return ret;
}

static int cmd_apikey_list(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	(void)opts;
	(void)argc;
	(void)argv;
	return print_json(ob_store_apikey_list(store));
}

static int cmd_apikey_revoke(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	struct ob_audit audit = { .actor = "cli", .action = "apikey.delete" };
	int ret;

	(void)opts;
	if (argc != 2) {
		fprintf(stderr, "usage: ottboxd apikey revoke ID\n");
		return EXIT_USAGE;
	}
	audit.target = argv[1];
	ret = ob_store_apikey_delete(store, argv[1], &audit);
	if (ret == OB_ENOTFOUND)
		fprintf(stderr, "ottboxd: no API key with id \"%s\"\n", argv[1]);
	else if (ret != 0)
		fprintf(stderr, "ottboxd: the key could not be revoked: %s\n", ob_strerror(ret));
	else
		printf("API key %s revoked\n", argv[1]);
	return ret == 0 ? 0 : 1;
}

static int cmd_store_check(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	/* ob_store_open already ran quick_check and refused a damaged store. */
	printf("store %s/%s: ok, schema version %d of %d\n", opts->data_dir, OB_STORE_FILE,
	       ob_store_schema_version(store), ob_store_schema_latest());
	return 0;
}

static int cmd_store_backup(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	char err[512];

	(void)opts;
	if (argc != 2) {
		fprintf(stderr, "usage: ottboxd store backup FILE\n");
		return EXIT_USAGE;
	}
	if (ob_store_backup(store, argv[1], err, sizeof(err)) != 0) {
		fprintf(stderr, "ottboxd: %s\n", err);
		return 1;
	}
	printf("store copied to %s\n", argv[1]);
	return 0;
}

static int cmd_routes(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	(void)opts;
	(void)store;
	(void)argc;
	(void)argv;
	ob_api_routes_print(stdout);
	return 0;
}

static int cmd_probe(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	(void)opts;
	(void)store;
	(void)argc;
	(void)argv;
	return print_json(ob_hw_probe_all());
}

static int cmd_version(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	(void)opts;
	(void)store;
	(void)argc;
	(void)argv;
	printf("ottboxd %s (%s)\nbuild options: %s\n", OB_VERSION, OB_BUILD_ID, OB_BUILD_OPTIONS);
	return 0;
}

static const struct option transcode_options[] = {
	{ "ladder", required_argument, NULL, 'l' },
	{ "out", required_argument, NULL, 'o' },
	{ "segment-seconds", required_argument, NULL, 's' },
	{ NULL, 0, NULL, 0 },
};

/* The engine and packager once over a file, as fast as the machine allows: for measuring
 * and for making VOD renditions. */
static int cmd_transcode(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	const char *ladder_id = "720p-3";
	const char *out_dir = NULL;
	int segment_seconds = 4;
	json_t *ladder;
	char err[1024];
	int64_t started;
	int c;
	int ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", transcode_options, NULL)) != -1) {
		if (c == 'l')
			ladder_id = optarg;
		else if (c == 'o')
			out_dir = optarg;
		else if (c == 's')
			segment_seconds = atoi(optarg);
		else
			return EXIT_USAGE;
	}
	if (optind != argc - 1 || !out_dir || segment_seconds < 2 || segment_seconds > 6) {
		fprintf(stderr, "usage: ottboxd transcode INPUT --ladder NAME --out DIR "
				"[--segment-seconds 2..6]\n");
		return EXIT_USAGE;
	}
	ladder = ob_engine_ladder_preset(ladder_id);
	if (!ladder) {
		ret = ob_store_open(opts->data_dir, &store, err, sizeof(err));
		if (ret == 0)
			ret = ob_store_doc_get(store, OB_STORE_LADDERS, ladder_id, &ladder);
		ob_store_close(&store);
		if (ret != 0) {
			fprintf(stderr, "ottboxd: no ladder \"%s\" (built-in: 1080p-5, 720p-3; or a "
					"stored one in %s)\n",
				ladder_id, opts->data_dir);
			return 1;
		}
	}
	ob_engine_ladder_fill_defaults(ladder);
	started = ob_time_mono_ms();
	ret = ob_engine_transcode(argv[optind], ladder, segment_seconds, out_dir, err,
				  sizeof(err));
	json_decref(ladder);
	if (ret != 0) {
		fprintf(stderr, "ottboxd: transcode failed: %s\n", err[0] ? err : ob_strerror(ret));
		return 1;
	}
	fprintf(stderr, "ottboxd: %s transcoded with ladder %s into %s in %.2f s\n", argv[optind],
		ladder_id, out_dir, (double)(ob_time_mono_ms() - started) / 1000.0);
	return 0;
}

#define KEY_FILE_MAX 1024

/* Reads one hex secret from a file ("-": standard input), surrounding blanks ignored. Keys
 * come from a file, not an argument: arguments are readable by every local user in
 * /proc/PID/cmdline and `ps`, and stay in shell history. */
static int read_token_key(const char *path, int index, struct ob_token_key *key)
{
	char *text = NULL;
	size_t len = 0;
	char id[16];
	char *start;
	int ret;

	if (strcmp(path, "-") == 0) {
		text = calloc(1, KEY_FILE_MAX + 1);
		ret = text ? 0 : OB_ENOMEM;
		if (ret == 0) {
			len = fread(text, 1, KEY_FILE_MAX + 1, stdin);
			ret = len > KEY_FILE_MAX ? OB_ETOOBIG : 0;
			text[len > KEY_FILE_MAX ? KEY_FILE_MAX : len] = '\0';
		}
	} else {
		ret = ob_read_file(path, KEY_FILE_MAX, &text, &len);
	}
	if (ret != 0) {
		fprintf(stderr, "ottboxd: key file %s: %s\n", path, ob_strerror(ret));
		goto out;
	}
	start = text + strspn(text, " \t\r\n");
	start[strcspn(start, " \t\r\n")] = '\0';
	snprintf(id, sizeof(id), "key%d", index);
	ret = ob_access_token_key_from_hex(id, start, key);
	if (ret != 0)
		fprintf(stderr, "ottboxd: key file %s: must hold one secret of %d to %d hex digits "
				"(an even number)\n",
			path, 2 * OB_TOKEN_KEY_MIN_BYTES, 2 * OB_TOKEN_KEY_MAX_BYTES);
out:
	if (text) {
		ob_secure_zero(text, len);
		free(text);
	}
	return ret;
}

/* Seconds since the epoch (or a lifetime) from an option: digits only. */
static int parse_seconds_option(const char *name, const char *text, int64_t *out)
{
	char *end;
	long long value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end || errno != 0 || value < 0) {
		fprintf(stderr, "ottboxd: --%s: must be a number of seconds\n", name);
		return OB_EINVAL;
	}
	*out = value;
	return 0;
}

/* Appends one --acl entry to the '!'-separated list. */
static int add_acl_entry(char *acl, size_t acl_len, const char *entry)
{
	size_t used = strlen(acl);

	if (snprintf(acl + used, acl_len - used, "%s%s", used ? "!" : "", entry) >=
	    (int)(acl_len - used)) {
		fprintf(stderr, "ottboxd: --acl: the list is too long\n");
		return OB_ETOOBIG;
	}
	return 0;
}

static const struct option token_issue_options[] = {
	{ "key-file", required_argument, NULL, 'k' },
	{ "acl", required_argument, NULL, 'a' },
	{ "url", required_argument, NULL, 'u' },
	{ "start", required_argument, NULL, 's' },
	{ "window", required_argument, NULL, 'w' },
	{ "exp", required_argument, NULL, 'e' },
	{ "id", required_argument, NULL, 'i' },
	{ "data", required_argument, NULL, 'd' },
	{ "ip", required_argument, NULL, 'I' },
	{ "escape-early", no_argument, NULL, 'E' },
	{ "now", required_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 },
};

#define TOKEN_ISSUE_USAGE \
	"token-issue --key-file PATH (--acl ACL... | --url PATH) (--window S | --exp T) " \
	"[--start now|T] [--id ID] [--data DATA] [--ip ADDR] [--escape-early] [--now T]"

/* Issues a playback token the way Akamai's EdgeAuth generators do, for a paywall's tests,
 * a CDN's setup, or by hand. */
static int cmd_token_issue(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	struct ob_token_params params = { 0 };
	struct ob_token_key key;
	char acl[OB_TOKEN_MAX_CHARS + 1] = "";
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];
	const char *key_file = NULL;
	const char *start = NULL;
	int64_t now = time(NULL);
	int ret = 0;
	int c;

	(void)opts;
	(void)store;
	optind = 0;
	while (ret == 0 && (c = getopt_long(argc, argv, "", token_issue_options, NULL)) != -1) {
		if (c == 'k')
			key_file = optarg;
		else if (c == 'a')
			ret = add_acl_entry(acl, sizeof(acl), optarg);
		else if (c == 'u')
			params.url = optarg;
		else if (c == 's')
			start = optarg;
		else if (c == 'w')
			ret = parse_seconds_option("window", optarg, &params.window_s);
		else if (c == 'e')
			ret = parse_seconds_option("exp", optarg, &params.expiry);
		else if (c == 'i')
			params.id = optarg;
		else if (c == 'd')
			params.data = optarg;
		else if (c == 'I')
			params.ip = optarg;
		else if (c == 'E')
			params.escape_early = true;
		else if (c == 'n')
			ret = parse_seconds_option("now", optarg, &now);
		else
			ret = OB_EINVAL;
	}
	if (ret != 0 || optind != argc || !key_file) {
		fprintf(stderr, "usage: ottboxd " TOKEN_ISSUE_USAGE "\n");
		return EXIT_USAGE;
	}
	params.acl = acl;
	if (start) {
		params.has_start = true;
		if (strcmp(start, "now") == 0)
			params.start = now;
		else if (parse_seconds_option("start", start, &params.start) != 0)
			return EXIT_USAGE;
	}
	if (read_token_key(key_file, 1, &key) != 0)
		return EXIT_USAGE;
	ret = ob_access_token_issue(&key, &params, now, token, sizeof(token), err, sizeof(err));
	ob_secure_zero(&key, sizeof(key));
	if (ret != 0) {
		fprintf(stderr, "ottboxd: no token issued: %s\n", err);
		return EXIT_USAGE;
	}
	printf("%s\n", token);
	return 0;
}

static const struct option token_verify_options[] = {
	{ "key-file", required_argument, NULL, 'k' },
	{ "path", required_argument, NULL, 'p' },
	{ "ip", required_argument, NULL, 'I' },
	{ "now", required_argument, NULL, 'n' },
	{ "skew", required_argument, NULL, 's' },
	{ "escape-early", no_argument, NULL, 'E' },
	{ NULL, 0, NULL, 0 },
};

#define TOKEN_VERIFY_USAGE \
	"token-verify TOKEN --key-file PATH... --path PATH [--ip ADDR] [--now T] [--skew S] " \
	"[--escape-early]"

/* Decides on a token as the origin will: prints the reason ("ok", "expired", ...); exit 0
 * when it opens the path, 1 when denied. */
static int cmd_token_verify(struct options *opts, struct ob_store *store, int argc, char **argv)
{
	struct ob_token_request request = { .now_s = time(NULL) };
	struct ob_token_policy policy = { .skew_s = OB_TOKEN_SKEW_DEFAULT_S };
	struct ob_token_verdict verdict;
	struct ob_token_ring *ring = NULL;
	struct ob_token_key key;
	const char *key_files[OB_TOKEN_RING_MAX];
	enum ob_token_result result;
	size_t n_keys = 0;
	int ret = 0;
	int c;

	(void)opts;
	(void)store;
	optind = 0;
	while (ret == 0 && (c = getopt_long(argc, argv, "", token_verify_options, NULL)) != -1) {
		if (c == 'k' && n_keys < OB_TOKEN_RING_MAX)
			key_files[n_keys++] = optarg;
		else if (c == 'p')
			request.path = optarg;
		else if (c == 'I')
			request.client_addr = optarg;
		else if (c == 'n')
			ret = parse_seconds_option("now", optarg, &request.now_s);
		else if (c == 's')
			ret = parse_seconds_option("skew", optarg, &policy.skew_s);
		else if (c == 'E')
			policy.escape_url = true;
		else
			ret = OB_EINVAL;
	}
	if (ret != 0 || optind != argc - 1 || n_keys == 0 || !request.path ||
	    policy.skew_s > OB_TOKEN_SKEW_MAX_S) {
		fprintf(stderr, "usage: ottboxd " TOKEN_VERIFY_USAGE "\n"
				"  (at most %d key files; skew at most %d s)\n",
			OB_TOKEN_RING_MAX, OB_TOKEN_SKEW_MAX_S);
		return EXIT_USAGE;
	}
	ring = ob_access_token_ring_new();
	if (!ring)
		return 1;
	for (size_t i = 0; i < n_keys && ret == 0; i++) {
		ret = read_token_key(key_files[i], (int)i + 1, &key);
		if (ret == 0)
			ret = ob_access_token_ring_add(ring, &key);
		ob_secure_zero(&key, sizeof(key));
	}
	if (ret != 0) {
		ob_access_token_ring_free(&ring);
		return EXIT_USAGE;
	}
	policy.ring = ring;
	result = ob_access_token_verify(&policy, argv[optind], strlen(argv[optind]), &request,
					&verdict);
	printf("%s\n", ob_access_token_reason(result));
	if (result == OB_TOKEN_OK)
		fprintf(stderr, "ottboxd: token opens %s (signed with %s, key %d of %zu)\n",
			request.path, key_files[verdict.key_index], verdict.key_index + 1, n_keys);
	else
		fprintf(stderr, "ottboxd: token denied for %s: %s\n", request.path,
			ob_access_token_reason(result));
	ob_access_token_ring_free(&ring);
	return result == OB_TOKEN_OK ? 0 : 1;
}

static const struct command commands[] = {
	{ "user", "add", "user add NAME --role ROLE --password-stdin [--must-change]", true,
	  cmd_user_add },
	{ "user", "passwd", "user passwd NAME --password-stdin", true, cmd_user_passwd },
	{ "user", "list", "user list", true, cmd_user_list },
	{ "apikey", "create", "apikey create --name NAME --role ROLE", true, cmd_apikey_create },
	{ "apikey", "list", "apikey list", true, cmd_apikey_list },
	{ "apikey", "revoke", "apikey revoke ID", true, cmd_apikey_revoke },
	{ "store", "check", "store check", true, cmd_store_check },
	{ "store", "backup", "store backup FILE", true, cmd_store_backup },
	{ NULL, "routes", "routes", false, cmd_routes },
	{ NULL, "probe", "probe", false, cmd_probe },
	{ NULL, "transcode", "transcode INPUT --ladder NAME --out DIR [--segment-seconds N]", false,
	  cmd_transcode },
	{ NULL, "token-issue", TOKEN_ISSUE_USAGE, false, cmd_token_issue },
	{ NULL, "token-verify", TOKEN_VERIFY_USAGE, false, cmd_token_verify },
	{ NULL, "version", "version", false, cmd_version },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ottboxd [--data-dir DIR] [--listen ADDR:PORT] [--listen-tls ADDR:PORT]\n"
		"               [--www DIR] [--log-level error|warn|info|debug] [COMMAND ...]\n"
		"\n"
		"Without a command, runs the box until SIGTERM or SIGINT.\n"
		"  --data-dir DIR          store and TLS material (default %s)\n"
		"  --listen ADDR:PORT      plain HTTP (default %s; \"\" for none)\n"
		"  --listen-tls ADDR:PORT  HTTPS with DIR/tls/server.pem, made on first use\n"
		"  --www DIR               the console's files (default: next to the binary)\n"
		"  --demo-channel          on a box without channels, add a test-pattern channel\n"
#ifdef CONFIG_CLOUD_SYNC
		"  --enroll-file FILE      on a box not enrolled, enroll with the control plane FILE\n"
		"                          names (default " CONFIG_CLOUD_ENROLL_FILE "; \"\" for none)\n"
#endif
		"\nCommands (work whether or not the box is running):\n",
		CONFIG_DEFAULT_DATA_DIR, CONFIG_DEFAULT_LISTEN);
	for (size_t i = 0; i < OB_ARRAY_SIZE(commands); i++)
		fprintf(out, "  ottboxd %s\n", commands[i].usage);
	fprintf(out, "\nRoles: %s.\n", ob_access_role_names());
}

static int run_command(struct options *opts, int argc, char **argv)
{
	struct ob_store *store = NULL;
	const struct command *cmd = NULL;
	int skip = 1;
	int ret;

	for (size_t i = 0; i < OB_ARRAY_SIZE(commands) && !cmd; i++) {
		if (!commands[i].group && strcmp(commands[i].name, argv[0]) == 0)
			cmd = &commands[i];
		else if (commands[i].group && argc > 1 && strcmp(commands[i].group, argv[0]) == 0 &&
			 strcmp(commands[i].name, argv[1]) == 0)
			cmd = &commands[i], skip = 2;
	}
	if (!cmd) {
		fprintf(stderr, "ottboxd: unknown command \"%s%s%s\"\n\n", argv[0],
			argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cmd->needs_store) {
		char err[1024];

		ret = ob_store_open(opts->data_dir, &store, err, sizeof(err));
		if (ret != 0) {
			fprintf(stderr, "ottboxd: %s\n", err);
			return 1;
		}
	}
	/* The command sees its own words: argv[0] is its name. */
	ret = cmd->run(opts, store, argc - skip + 1, argv + skip - 1);
	ob_store_close(&store);
	return ret;
}

static void default_www_dir(struct options *opts)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	/* BINDIR/../share/ottbox/www, as `make` and the image lay it out. */
	if (snprintf(opts->www_default, sizeof(opts->www_default), "%s/../share/ottbox/www", exe) <
		    (int)sizeof(opts->www_default) &&
	    access(opts->www_default, R_OK) == 0)
		opts->www_dir = opts->www_default;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "listen-tls", required_argument, NULL, 't' },
		{ "www", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "demo-channel", no_argument, NULL, 'D' },
		{ "enroll-file", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct options opts = {
		.data_dir = CONFIG_DEFAULT_DATA_DIR,
		.listen = CONFIG_DEFAULT_LISTEN,
#ifdef CONFIG_DEFAULT_LISTEN_TLS
		.listen_tls = CONFIG_DEFAULT_LISTEN_TLS,
#endif
#ifdef CONFIG_CLOUD_SYNC
		.enroll_file = CONFIG_CLOUD_ENROLL_FILE,
#endif
	};
	int c;
	int ret;

	default_www_dir(&opts);
	/* "+": options end at the first command word; the command parses the rest. */
	while ((c = getopt_long(argc, argv, "+h", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			opts.data_dir = optarg;
			break;
		case 'l':
			opts.listen = optarg;
			break;
		case 't':
			opts.listen_tls = optarg;
			break;
		case 'w':
			opts.www_dir = optarg;
			break;
		case 'v':
			if (ob_log_level_parse(optarg, &opts.log_level) != 0) {
				fprintf(stderr, "ottboxd: --log-level must be error, warn, info or debug\n");
				return EXIT_USAGE;
			}
			opts.log_level_given = true;
			ob_log_set_level(opts.log_level);
			break;
		case 'D':
			opts.demo_channel = true;
			break;
		case 'E':
			opts.enroll_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return cmd_version(&opts, NULL, 0, NULL);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	ob_engine_log_setup();
	if (ob_random_init() != 0) {
		fprintf(stderr, "ottboxd: the random generator could not be seeded\n");
		return 1;
	}
	if (optind < argc)
		ret = run_command(&opts, argc - optind, argv + optind);
	else
		ret = run_daemon(&opts);
	ob_random_free();
	return ret;
}
