/* The HTTP side of the box: REST /api/v1, the static console and the playback origin
 * (/live/). Served by CivetWeb worker threads. */
#ifndef OB_API_API_H
#define OB_API_API_H

#include <stddef.h>
#include <stdio.h>

struct ob_store;
struct ob_api;
struct ob_engine;
struct ob_entitle;
struct ob_cloud;

struct ob_api_config {
	const char *data_dir;   /* TLS material in DATA_DIR/tls, live channels in DATA_DIR/live */
	const char *listen;     /* "ADDR:PORT" for HTTP, or NULL/"" for none */
	const char *listen_tls; /* "ADDR:PORT" for HTTPS, or NULL/"" for none */
	const char *www_dir;    /* the console's static files, or NULL for none */
	int threads;            /* CivetWeb worker threads */
	struct ob_engine *engine; /* runs the channels (borrowed; outlives the server) */
	struct ob_entitle *entitle; /* playback decisions, loaded from the store (borrowed;
				     * outlives the server) */
	struct ob_cloud *cloud;   /* control-plane sync, or NULL when compiled out (borrowed) */
};

/* Starts the HTTP server on the borrowed store (which must outlive it). Returns 0, or an
 * OB_E* code with a message for the operator in err. */
int ob_api_start(const struct ob_api_config *config, struct ob_store *store,
		 struct ob_api **out, char *err, size_t err_len);

/* Stops the server: waits for requests in flight and joins the worker threads. Sets *api
 * to NULL. */
void ob_api_stop(struct ob_api **api);

/* Writes "METHOD PATH" for every route the API serves, one per line. */
void ob_api_routes_print(FILE *out);

/* Makes DATA_DIR/tls/server.pem (an ECDSA P-256 key and a self-signed certificate for
 * host_name, localhost and 127.0.0.1, valid ten years) unless it exists. Writes the path
 * to path_out. */
int ob_api_tls_ensure_cert(const char *data_dir, const char *host_name, char *path_out,
			   size_t path_len, char *err, size_t err_len);

#endif
