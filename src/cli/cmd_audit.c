// SPDX-License-Identifier: Apache-2.0
/* signetfs audit verify|show: check or read an audit log. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "signetfs/audit.h"
#include "signetfs/config.h"
#include "signetfs/verify.h"

enum { OPT_TRUST = 256, OPT_LIVE, OPT_SINCE, OPT_EVENT, OPT_PATH };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signetfs audit verify (--config CONF | --trust CA.pem) "
		"[--live] LOG\n"
		"       signetfs audit show [--path GLOB] [--since TIME] "
		"[--event EVENT] LOG\n\n"
		"verify checks the hash chain (every record carries the SHA-256 "
		"of the line\nbefore it), the sequence numbers and every signed "
		"checkpoint, and that the log\nends with a final checkpoint "
		"(--live: a log still being written may end\nunsealed). It "
		"names the first bad line. Exit 0 intact, 1 not, 2 usage.\n\n"
		"show prints records as a table. TIME is RFC 3339 (UTC), a "
		"prefix such as\n2026-11-29 or 2026-11-29T10 works.\n");
}

static int audit_verify_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"trust", required_argument, NULL, OPT_TRUST},
		{"live", no_argument, NULL, OPT_LIVE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sfs_trust_config tc = {0};
	struct sfs_config *cfg = NULL;
	struct sfs_verifier *v = NULL;
	struct audit_verify_result res;
	struct sfs_error err = {0};
	const char *conf = NULL, *trust = NULL;
	bool live = false;
	int c, ret = SFS_EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case OPT_TRUST:
			trust = optarg;
			break;
		case OPT_LIVE:
			live = true;
			break;
		case 'h':
			usage(stdout);
			return SFS_EXIT_OK;
		default:
			usage(stderr);
			return SFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || (!conf && !trust)) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	if (conf) {
		if (config_load(conf, &cfg, &err)) {
			cli_error("audit", "%s", err.msg);
			return SFS_EXIT_USAGE;
		}
		tc = cfg->trust;
	}
	if (trust)
		tc.cafile = (char *)trust;
	if (verifier_new(&tc, &v, &err)) {
		cli_error("audit", "%s", err.msg);
		goto out;
	}
	c = audit_verify_file(argv[optind], v, live, &res);
	if (c < 0) {
		cli_error("audit", "%s: %s", argv[optind], strerror(-c));
		goto out;
	}
	if (c == 0) {
		printf("OK %s: %zu records, %zu checkpoints%s\n", argv[optind],
		       res.lines, res.checkpoints,
		       res.sealed ? ", sealed" : ", open (live)");
		ret = SFS_EXIT_OK;
	} else {
		printf("FAIL %s: line %zu: %s\n", argv[optind], res.bad_line,
		       res.reason);
		ret = SFS_EXIT_REFUSED;
	}
out:
	verifier_free(v);
	config_free(cfg);
	return ret;
}

static const char *field(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v))
		return "";
	return json_object_get_string(v);
}

static void show_line(struct json_object *o)
{
	struct json_object *w;
	char who[160] = "", sha[17] = "";
	const char *s = field(o, "sha256");

	if (json_object_object_get_ex(o, "writer", &w))
		snprintf(who, sizeof(who), "%s(%s) pid %s %s",
			 field(w, "user"), field(w, "uid"), field(w, "pid"),
			 field(w, "exe"));
	snprintf(sha, sizeof(sha), "%.16s", s);
	printf("%-27s %6s %-14s %-40s %10s %-16s %s%s%s\n", field(o, "time"),
	       field(o, "seq"), field(o, "event"), field(o, "path"),
	       field(o, "size"), sha, who, *field(o, "reason") ? " — " : "",
	       field(o, "reason"));
}

static int audit_show_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"path", required_argument, NULL, OPT_PATH},
		{"since", required_argument, NULL, OPT_SINCE},
		{"event", required_argument, NULL, OPT_EVENT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *glob = NULL, *since = NULL, *event = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PATH:
			glob = optarg;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_EVENT:
			event = optarg;
			break;
		case 'h':
			usage(stdout);
			return SFS_EXIT_OK;
		default:
			usage(stderr);
			return SFS_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	f = fopen(argv[optind], "re");
	if (!f) {
		cli_error("audit", "%s: %s", argv[optind], strerror(errno));
		return SFS_EXIT_USAGE;
	}
	printf("%-27s %6s %-14s %-40s %10s %-16s %s\n", "TIME", "SEQ", "EVENT",
	       "PATH", "SIZE", "SHA256", "WRITER");
	while ((n = getline(&line, &cap, f)) > 0) {
		struct json_object *o = json_tokener_parse(line);

		if (!o) {
			printf("(unparseable line)\n");
			continue;
		}
		if ((!glob || fnmatch(glob, field(o, "path"), 0) == 0) &&
		    (!since || strcmp(field(o, "time"), since) >= 0) &&
		    (!event || strcmp(field(o, "event"), event) == 0))
			show_line(o);
		json_object_put(o);
	}
	free(line);
	fclose(f);
	return SFS_EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return SFS_EXIT_OK;
	}
	if (!strcmp(argv[1], "verify"))
		return audit_verify_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return audit_show_cmd(argc - 1, argv + 1);
	usage(stderr);
	return SFS_EXIT_USAGE;
}
