// SPDX-License-Identifier: Apache-2.0
/* signetfs audit verify|show: check or read an audit log. */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli.h"
#include "signetfs/audit.h"
#include "signetfs/config.h"
#include "signetfs/policy.h"
#include "signetfs/verify.h"

enum { OPT_TRUST = 256, OPT_LIVE, OPT_SINCE, OPT_EVENT, OPT_PATH, OPT_PIN };

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: signetfs audit verify --config CONF [--signer-sha256 "
	    "HEX]... "
	    "[--live] LOG\n"
	    "       signetfs audit verify --trust CA.pem --signer-sha256 "
	    "HEX... "
	    "[--live] LOG\n"
	    "       signetfs audit show [--path GLOB] [--since TIME] "
	    "[--event EVENT] LOG\n\n"
	    "verify checks the hash chain (every record carries the SHA-256 "
	    "of the line\nbefore it), the sequence numbers and every signed "
	    "checkpoint: a checkpoint\nsignature covers its whole line and "
	    "the lines its own session wrote, and\nis accepted only from "
	    "the log's keys: those CONF names ([signetfs] and\n[rule] "
	    "cert), or each --signer-sha256 (the SHA-256 of a certificate's "
	    "DER).\nEvery line must be sealed by a checkpoint of the session "
	    "that wrote it and\nevery session must end with a final one "
	    "(--live: writers still running may\nhave lines not sealed "
	    "yet). It names the first bad line. Exit 0 intact, 1 not,\n"
	    "2 usage (also: a checkpoint and no key named).\n\n"
	    "show prints records as a table. TIME is RFC 3339 (UTC), a "
	    "prefix such as\n2026-11-29 or 2026-11-29T10 works. EVENT is "
	    "one of");
	/* The list --event is checked against, so this cannot go stale. */
	for (size_t i = 0, col = 50; audit_events[i]; i++) {
		size_t n = strlen(audit_events[i]);
		bool wrap = col + 2 + n > 79;

		fprintf(f, "%s%s%s", i ? "," : "", wrap ? "\n" : " ",
			audit_events[i]);
		col = (wrap ? 0 : col + 2) + n;
	}
	fputs(".\n", f);
}

/* The keys whose checkpoints count: CONF's, and each --signer-sha256. */
static int verify_keys(const char *conf, struct sfs_config **cfg,
		       uint8_t (**pins)[32], size_t *n)
{
	struct sfs_error err = {0};
	uint8_t(*more)[32] = NULL, (*all)[32];
	size_t n_more = 0;

	if (!conf)
		return 0;
	if (config_load(conf, cfg, &err) ||
	    audit_config_pins(*cfg, &more, &n_more, &err)) {
		cli_error("audit", "%s", err.msg);
		return -EINVAL;
	}
	all = realloc(*pins, (*n + n_more) * 32 + 1);
	if (!all) {
		free(more);
		return -ENOMEM;
	}
	if (n_more)
		memcpy(all[*n], more, n_more * 32);
	*pins = all;
	*n += n_more;
	free(more);
	return 0;
}

static int report(const char *log, const char *conf,
		  const struct audit_verify_result *res)
{
	char lost[96] = "";

	if (res->need_pins) {
		cli_error(
		    "audit",
		    "%s: line %zu is a checkpoint, and no key "
		    "is named whose checkpoints to accept: %s",
		    log, res->bad_line,
		    conf ? "the config names no key certificate (cert =); "
			   "add --signer-sha256 HEX"
			 : "with --trust, name each key allowed to seal "
			   "this log with --signer-sha256 HEX (the SHA-256 "
			   "of its certificate), or use --config CONF");
		return SFS_EXIT_USAGE;
	}
	if (res->bad_line) {
		printf("FAIL %s: line %zu: %s\n", log, res->bad_line,
		       res->reason);
		return SFS_EXIT_REFUSED;
	}
	/* Intact, and honest about what it could not hold (audit-log.md). */
	if (res->lost)
		snprintf(lost, sizeof(lost),
			 "%llu records lost (see its records-lost lines), ",
			 (unsigned long long)res->lost);
	if (res->sealed)
		printf("OK %s: %zu records, %zu checkpoints, %zu sessions, "
		       "%ssealed\n",
		       log, res->lines, res->checkpoints, res->sessions, lost);
	else
		printf("OK %s: %zu records, %zu checkpoints, %zu sessions, "
		       "%sopen (live): %zu lines await their session's "
		       "checkpoint\n",
		       log, res->lines, res->checkpoints, res->sessions, lost,
		       res->unsealed);
	return SFS_EXIT_OK;
}

static int audit_verify_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"trust", required_argument, NULL, OPT_TRUST},
	    {"signer-sha256", required_argument, NULL, OPT_PIN},
	    {"live", no_argument, NULL, OPT_LIVE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct audit_verify_opts o = {0};
	struct sfs_trust_config tc = {0};
	struct sfs_config *cfg = NULL;
	struct sfs_verifier *v = NULL;
	struct audit_verify_result res;
	struct sfs_error err = {0};
	const char *conf = NULL, *trust = NULL;
	uint8_t(*pins)[32] = NULL;
	size_t n_pins = 0;
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
		case OPT_PIN:
			if (policy_parse_pins(optarg, &pins, &n_pins)) {
				cli_error("audit",
					  "--signer-sha256 %s: not a "
					  "SHA-256 in hex",
					  optarg);
				goto out;
			}
			break;
		case OPT_LIVE:
			o.live = true;
			break;
		case 'h':
			usage(stdout);
			ret = SFS_EXIT_OK;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (argc - optind != 1 || (!conf && !trust)) {
		usage(stderr);
		goto out;
	}
	if (verify_keys(conf, &cfg, &pins, &n_pins))
		goto out;
	if (cfg)
		tc = cfg->trust;
	if (trust)
		tc.cafile = (char *)trust;
	if (verifier_new(&tc, &v, &err)) {
		cli_error("audit", "%s", err.msg);
		goto out;
	}
	o.keys = (struct audit_keys){v, (const uint8_t(*)[32])pins, n_pins};
	c = audit_verify_log(argv[optind], &o, &res);
	if (c < 0)
		cli_error("audit", "%s: %s", argv[optind], strerror(-c));
	else
		ret = report(argv[optind], conf, &res);
out:
	free(pins);
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

/* A field, or "-" when the record has none: the columns stay put. */
static const char *cell(struct json_object *o, const char *k)
{
	const char *v = field(o, k);

	return *v ? v : "-";
}

#define SHOW_FORMAT "%-27s %6s %-14s %-40s %10s %-16s %-40s %s\n"

static void show_line(struct json_object *o)
{
	struct json_object *w;
	char who[160] = "-", sha[17] = "-";
	const char *s = field(o, "sha256");

	if (json_object_object_get_ex(o, "writer", &w))
		snprintf(who, sizeof(who), "%s(%s) pid %s %s", field(w, "user"),
			 field(w, "uid"), field(w, "pid"), field(w, "exe"));
	if (*s)
		snprintf(sha, sizeof(sha), "%.16s", s);
	printf(SHOW_FORMAT, cell(o, "time"), cell(o, "seq"), cell(o, "event"),
	       cell(o, "path"), cell(o, "size"), sha, who, cell(o, "reason"));
}

/*
 * --since: RFC 3339 in UTC as the log writes it, or a prefix of one
 * (2026-11-29, 2026-11-29T10). The prefix must have the shape of
 * TIME_SHAPE and, completed with its rest, be a real time. A time in
 * whole seconds ("...T10:00:00Z") is taken as its prefix without the Z:
 * the log's times have microseconds, and "...:00.5Z" is after it.
 */
#define TIME_SHAPE "0000-01-01T00:00:00.000000Z"
#define WHOLE_SECONDS 19 /* strlen("0000-01-01T00:00:00") */

static bool since_valid(char *since)
{
	size_t n = strlen(since);
	char full[sizeof(TIME_SHAPE)];
	const char *end;
	struct tm tm;

	if (n == WHOLE_SECONDS + 1 && since[WHOLE_SECONDS] == 'Z')
		since[--n] = '\0';
	if (n < 4 || n > strlen(TIME_SHAPE))
		return false;
	for (size_t i = 0; i < n; i++) {
		bool digit = TIME_SHAPE[i] >= '0' && TIME_SHAPE[i] <= '9';

		if (digit ? !isdigit((unsigned char)since[i])
			  : since[i] != TIME_SHAPE[i])
			return false;
	}
	memcpy(full, since, n);
	memcpy(full + n, TIME_SHAPE + n, sizeof(full) - n);
	memset(&tm, 0, sizeof(tm));
	end = strptime(full, "%Y-%m-%dT%H:%M:%S", &tm);
	return end && *end == '.';
}

/* --event and --since are checked before the log is read: exit 2. */
static int show_check(char *since, const char *event)
{
	if (event && !audit_event_known(event)) {
		fprintf(stderr,
			"signetfs: audit: --event %s: not an event; "
			"one of:",
			event);
		for (size_t i = 0; audit_events[i]; i++)
			fprintf(stderr, " %s", audit_events[i]);
		fputc('\n', stderr);
		return -1;
	}
	if (since && !since_valid(since)) {
		cli_error("audit",
			  "--since %s: not a time; RFC 3339 in UTC "
			  "(2026-11-29T10:00:00Z) or a prefix of one "
			  "(2026-11-29, 2026-11-29T10)",
			  since);
		return -1;
	}
	return 0;
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
	const char *glob = NULL, *event = NULL;
	char *since = NULL;
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
	if (argc - optind != 1 || show_check(since, event)) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	f = fopen(argv[optind], "re");
	if (!f) {
		cli_error("audit", "%s: %s", argv[optind], strerror(errno));
		return SFS_EXIT_USAGE;
	}
	printf(SHOW_FORMAT, "TIME", "SEQ", "EVENT", "PATH", "SIZE", "SHA256",
	       "WRITER", "REASON");
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
