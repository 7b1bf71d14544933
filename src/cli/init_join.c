// SPDX-License-Identifier: Apache-2.0
/* signetfs init --join: EXISTING's token store, development CA and module. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "init.h"
#include "signetfs/config.h"
#include "signetfs/util.h"

/* directories.tokendir of a softhsm2.conf ("key = value" lines). */
static char *softhsm_tokendir(const char *conf)
{
	static const char key[] = "directories.tokendir";
	char line[PATH_MAX + 64], *dir = NULL;
	FILE *f = fopen(conf, "re");

	if (!f)
		return NULL;
	while (!dir && fgets(line, sizeof(line), f)) {
		char *v = line + strspn(line, " \t"), *end;

		if (strncmp(v, key, sizeof(key) - 1))
			continue;
		v += sizeof(key) - 1;
		v += strspn(v, " \t");
		if (*v++ != '=')
			continue;
		v += strspn(v, " \t");
		end = v + strcspn(v, "\r\n");
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = '\0';
		if (*v)
			dir = strdup(v);
	}
	fclose(f);
	return dir;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The entries of the token directory FD. */
static int store_list(int fd, char ***out, size_t *nout)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	char **v = NULL, **nv;
	size_t n = 0;
	int ret = 0;

	if (!d) {
		ret = -errno;
		if (dfd >= 0)
			close(dfd);
		return ret;
	}
	rewinddir(d); /* the dup shares the offset of an earlier listing */
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		v = nv;
		if (!(v[n] = strdup(e->d_name))) {
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (ret) {
		names_free(v, n);
		return ret;
	}
	*out = v;
	*nout = n;
	return 0;
}

/*
 * After a failed join: remove what C_InitToken added to the store
 * (SoftHSM keeps each token in a directory of its own), so the label
 * can be used again. The lock kept other joins out meanwhile; tools
 * such as softhsm2-util do not take it.
 */
void init_store_undo(const struct init_join *j)
{
	char **now = NULL, path[PATH_MAX];
	size_t n = 0;

	if (store_list(j->store_fd, &now, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		bool old = false;

		for (size_t k = 0; k < j->nbefore && !old; k++)
			old = !strcmp(now[i], j->before[k]);
		if (old)
			continue;
		snprintf(path, sizeof(path), "%s/%s", j->tokendir, now[i]);
		if (nftw(path, init_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
			cli_error("init", "cannot remove the new token %s: %s",
				  path, strerror(errno));
	}
	names_free(now, n);
}

/* EXISTING's CA: the key must be the certificate's. */
static int join_ca(struct init_join *j)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/ca.key", j->abs);
	f = fopen(p, "re");
	if (f) {
		j->ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (j->ca_key) {
		snprintf(p, sizeof(p), "%s/ca.pem", j->abs);
		f = fopen(p, "re");
		if (f) {
			j->ca = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
	}
	if (!j->ca || X509_check_private_key(j->ca, j->ca_key) != 1) {
		cli_error("init",
			  "cannot use the development CA of %s: %s is "
			  "missing, unreadable or not ca.pem's key",
			  j->abs, p);
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

/* EXISTING's module: the store is in that module's format. */
static int join_module(struct init_join *j)
{
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/signetfs.conf", j->abs);
	if (config_load(p, &cfg, &err)) {
		cli_error("init", "%s (or name the module with --module)",
			  err.msg);
		return -EINVAL;
	}
	j->module =
	    strdup(cfg->key.module ? cfg->key.module : SFS_DEFAULT_MODULE);
	config_free(cfg);
	return j->module ? 0 : -ENOMEM;
}

/* Take what --join needs from EXISTING, and lock its token store. */
int init_join_open(const struct init_opts *o, struct init_join *j)
{
	int ret;

	j->abs = realpath(o->join, NULL);
	if (!j->abs) {
		ret = -errno;
		cli_error("init", "--join %s: %s", o->join, strerror(-ret));
		return ret;
	}
	if (asprintf(&j->conf, "%s/softhsm2.conf", j->abs) < 0) {
		j->conf = NULL;
		return -ENOMEM;
	}
	j->tokendir = softhsm_tokendir(j->conf);
	if (!j->tokendir) {
		cli_error("init",
			  "%s names no directories.tokendir: is %s "
			  "a directory that signetfs init made?",
			  j->conf, o->join);
		return -EINVAL;
	}
	ret = join_ca(j);
	if (!ret && !o->module)
		ret = join_module(j);
	if (ret)
		return ret;
	j->store_fd = open(j->tokendir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->store_fd < 0 || flock(j->store_fd, LOCK_EX) < 0) {
		ret = -errno;
		cli_error("init", "token store %s: %s", j->tokendir,
			  strerror(-ret));
		return ret;
	}
	return store_list(j->store_fd, &j->before, &j->nbefore);
}

void init_join_close(struct init_join *j)
{
	if (j->store_fd >= 0)
		close(j->store_fd); /* and so unlock */
	names_free(j->before, j->nbefore);
	EVP_PKEY_free(j->ca_key);
	X509_free(j->ca);
	free(j->abs);
	free(j->conf);
	free(j->module);
	free(j->tokendir);
}
