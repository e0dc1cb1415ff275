#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/err.h"
#include "place.h"
#include "core/util.h"
#include "core/version.h"
#include "generated/autoconf.h"

static json_t *uptime(const struct ob_api *api)
{
	return json_integer((ob_time_mono_ms() - api->started_mono_ms) / 1000);
}

void ob_api_get_health(struct ob_req *req)
{
	ob_api_reply_json(req, 200,
			  json_pack("{s:s, s:s, s:o}", "status", "ok", "version", OB_VERSION,
				    "uptime_s", uptime(req->api)));
}

/* Reads "Key:   value kB" lines of /proc/meminfo or /proc/self/status, in bytes. */
static long long proc_kib_field(const char *path, const char *key)
{
	char line[256];
	size_t key_len = strlen(key);
	long long value = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, key_len) == 0 && line[key_len] == ':') {
			value = strtoll(line + key_len + 1, NULL, 10) * 1024;
			break;
		}
	}
	fclose(f);
	return value;
}

static json_t *cpu_info(void)
{
	char model[256] = "unknown";
	double load[3] = { 0, 0, 0 };
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (f) {
		char line[512];

		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');

			if (strncmp(line, "model name", 10) == 0 && colon) {
				colon += 1 + strspn(colon + 1, " \t");
				colon[strcspn(colon, "\n")] = '\0';
				ob_strlcpy(model, colon, sizeof(model));
				break;
			}
		}
		fclose(f);
	}
	getloadavg(load, 3);
	return json_pack("{s:s, s:I, s:[f, f, f]}", "model", model, "cores",
			 (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "load_average", load[0], load[1],
			 load[2]);
}

static json_t *storage_info(const char *dir)
{
	struct statvfs vfs;

	if (statvfs(dir, &vfs) != 0)
		return json_pack("{s:s, s:s}", "path", dir, "error", "statvfs failed");
	return json_pack("{s:s, s:I, s:I}", "path", dir, "total_bytes",
			 (json_int_t)vfs.f_blocks * (json_int_t)vfs.f_frsize, "available_bytes",
			 (json_int_t)vfs.f_bavail * (json_int_t)vfs.f_frsize);
}

static json_t *build_options(void)
{
	json_t *out = json_array();
	char options[] = OB_BUILD_OPTIONS;
	char *save = NULL;

	for (char *tok = strtok_r(options, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		json_array_append_new(out, json_string(tok));
	return out;
}

/* The box's probe report (drivers-glue keeps it), an empty list when out of memory. */
static json_t *hardware_report(void)
{
	json_t *report = ob_hw_report(false);

	return report ? report : json_array();
}

void ob_api_get_hardware(struct ob_req *req)
{
	const char *query = req->info->query_string;
	char refresh[8] = "";
	char probed_at[32];
	int64_t probed_ms = 0;
	json_t *backends;
	json_t *load;

	if ((query && mg_get_var(query, strlen(query), "refresh", refresh, sizeof(refresh)) < -1) ||
	    (refresh[0] && strcmp(refresh, "0") != 0 && strcmp(refresh, "1") != 0)) {
		ob_api_reply_error(req, 400, "invalid", "refresh: must be 0 or 1");
		return;
	}
	backends = ob_hw_report_at(strcmp(refresh, "1") == 0, &probed_ms);
	if (!backends) {
		ob_api_reply_err(req, OB_ENOMEM, "the hardware could not be probed");
		return;
	}
	load = ob_hw_load();
	ob_time_iso8601(probed_ms, probed_at, sizeof(probed_at));
	ob_api_reply_json(req, 200,
			  json_pack("{s:s, s:o, s:o}", "probed_at", probed_at, "backends", backends,
				    "load", load ? load : json_array()));
}

/* The aggregate "cpu" line of /proc/stat: busy and total jiffies. 0 or OB_EIO. */
static int read_cpu_sample(struct ob_cpu_sample *out)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7])
		  : 0;

	if (f)
		fclose(f);
	if (n < 4)
		return OB_EIO;
	out->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	out->busy = out->total - v[3] - v[4]; /* all but idle and iowait */
	return 0;
}

json_t *ob_api_system_load(struct ob_api *api, struct ob_cpu_sample *cpu_prev)
{
	struct ob_cpu_sample now;
	double load[3] = { 0, 0, 0 };
	json_t *busy = json_null();
	json_t *hw = ob_hw_load();

	if (read_cpu_sample(&now) == 0) {
		if (cpu_prev->total && now.total > cpu_prev->total)
			busy = json_real(100.0 * (double)(now.busy - cpu_prev->busy) /
					 (double)(now.total - cpu_prev->total));
		*cpu_prev = now;
	}
	getloadavg(load, 3);
	return json_pack("{s:o, s:{s:I, s:[f, f, f], s:o}, s:{s:I, s:I, s:I}, s:o}", "uptime_s",
			 uptime(api), "cpu", "cores", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN),
			 "load_average", load[0], load[1], load[2], "busy_percent", busy, "memory",
			 "total_bytes", (json_int_t)proc_kib_field("/proc/meminfo", "MemTotal"),
			 "available_bytes",
			 (json_int_t)proc_kib_field("/proc/meminfo", "MemAvailable"),
			 "process_rss_bytes", (json_int_t)proc_kib_field("/proc/self/status", "VmRSS"),
			 "hardware_load", hw ? hw : json_array());
}

/* HTTPS as the box serves it: whether it is on, where, and its certificate. */
static json_t *tls_info(const struct ob_api *api)
{
	json_t *cert;

	if (!api->tls_listen[0])
		return json_pack("{s:b, s:n, s:n}", "enabled", 0, "listen", "certificate");
#ifdef CONFIG_HTTPS
	cert = ob_api_tls_cert_info(api->tls_cert);
#else
	cert = NULL; /* never reached: without HTTPS there is no listen address */
#endif
	return json_pack("{s:b, s:s, s:o, s:s}", "enabled", 1, "listen", api->tls_listen,
			 "certificate", cert ? cert : json_null(), "certificate_path",
			 api->tls_cert);
}

void ob_api_get_system(struct ob_req *req)
{
	struct ob_api *api = req->api;
	struct utsname uts;
	char started[32];
	json_t *settings = ob_store_settings_get(api->store);

	uname(&uts);
	ob_time_iso8601(api->started_wall_ms, started, sizeof(started));
	ob_api_reply_json(
		req, 200,
		json_pack("{s:s, s:O?, s:s, s:o, s:s, s:o, s:{s:s, s:s, s:s}, s:o, "
			  "s:{s:I, s:I, s:I}, s:o, s:{s:i, s:i}, s:o, s:o}",
			  "version", OB_VERSION, "box_name", json_object_get(settings, "box_name"),
			  "build", OB_BUILD_ID, "build_options", build_options(), "started_at",
			  started, "uptime_s", uptime(api), "os", "kernel", uts.release, "machine",
			  uts.machine, "hostname", uts.nodename, "cpu", cpu_info(), "memory",
			  "total_bytes", (json_int_t)proc_kib_field("/proc/meminfo", "MemTotal"),
			  "available_bytes",
			  (json_int_t)proc_kib_field("/proc/meminfo", "MemAvailable"),
			  "process_rss_bytes", (json_int_t)proc_kib_field("/proc/self/status", "VmRSS"),
			  "storage", storage_info(api->data_dir), "store", "schema_version",
			  ob_store_schema_version(api->store), "schema_latest",
			  ob_store_schema_latest(), "hardware", hardware_report(), "tls",
			  tls_info(api)));
	json_decref(settings);
}
