/* ottboxd: wiring only. Options, the provisioning subcommands, and the daemon's life:
 * open the store, start services, wait for a signal, stop in order. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/access.h"
#include "api/api.h"
#include "core/err.h"
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
	ret = ob_engine_create(store, opts->data_dir, &engine);
	if (ret != 0) {
		ob_error(MODULE, "cannot start the engine: %s", ob_strerror(ret));
		goto out_close_store;
	}
	config.engine = engine;
	if (opts->demo_channel)
		add_demo_channel(store);
	ret = ob_api_start(&config, store, &api, err, sizeof(err));
	if (ret != 0) {
		ob_error(MODULE, "%s", err);
		goto out_stop_engine;
	}
	ob_engine_autostart(engine);
	ob_info(MODULE, "ready");
	while (sigwait(&signals, &sig) != 0)
		;
	ob_info(MODULE, "%s received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	ob_api_stop(&api);
out_stop_engine:
	/* Channels end their playlists before the store closes. */
	ob_engine_destroy(&engine);
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
