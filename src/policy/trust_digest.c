// SPDX-License-Identifier: Apache-2.0
/* The trust epoch: one digest of everything a verdict rests on but the file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signetfs/config.h"
#include "signetfs/digest.h"
#include "signetfs/policy.h"

/* Large enough for any trust store or CRL, small enough to read whole. */
#define PART_MAX (64u << 20)

/*
 * FILE whole, following symlinks as OpenSSL does when it loads them (a
 * hashed trust directory is made of links). -EINVAL: not a regular file.
 */
static int read_followed(int dirfd, const char *file, uint8_t **buf,
			 size_t *len)
{
	int fd = openat(dirfd, file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if ((uint64_t)st.st_size > PART_MAX)
		ret = -EFBIG;
	*buf = ret ? NULL : malloc((size_t)st.st_size + 1);
	if (!ret && !*buf)
		ret = -ENOMEM;
	if (!ret)
		ret = sfs_full_pread(fd, *buf, (size_t)st.st_size + 1, 0, len);
	if (!ret && *len > (size_t)st.st_size)
		ret = -EAGAIN; /* grew while read: try at the next reload */
	close(fd);
	if (ret) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}

/* A tag, the length and the bytes of FILE (or none), into h. */
static int add_file(struct sfs_hash *h, const char *tag, int dirfd,
		    const char *file)
{
	uint8_t *buf = NULL;
	uint64_t n = 0;
	size_t len = 0;
	int ret = 0;

	if (file) {
		ret = read_followed(dirfd, file, &buf, &len);
		if (ret)
			return ret;
	}
	n = file ? len + 1 : 0; /* 0: not configured */
	sfs_hash_update(h, tag, strlen(tag) + 1);
	sfs_hash_update(h, &n, sizeof(n));
	if (buf)
		sfs_hash_update(h, buf, len);
	free(buf);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every regular file of a trust directory, by name, with its name. */
static int add_dir(struct sfs_hash *h, const char *dir)
{
	struct dirent **ents = NULL;
	int n, fd, ret = 0;

	if (!dir)
		return add_file(h, "trust-dir", AT_FDCWD, NULL);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	n = fd < 0 ? -1 : scandir(dir, &ents, NULL, by_name);
	if (n < 0)
		ret = -errno;
	for (int i = 0; i < n; i++) {
		int r = add_file(h, ents[i]->d_name, fd, ents[i]->d_name);

		/* Not a regular file (".", a subdirectory): not read. */
		if (r && r != -EINVAL && !ret)
			ret = r;
		free(ents[i]);
	}
	free(ents);
	if (fd >= 0)
		close(fd);
	return ret;
}

int config_trust_digest(const struct sfs_config *cfg, uint8_t out[32])
{
	struct sfs_hash *h = sfs_hash_new(SFS_MD_SHA256);
	struct sfs_digest d;
	int ret;

	if (!h)
		return -ENOMEM;
	/* The config's bytes hold the policy: rules, pins, validity. */
	ret = add_file(h, "config", AT_FDCWD, cfg->path);
	if (!ret)
		ret = add_file(h, "trust", AT_FDCWD, cfg->trust.cafile);
	if (!ret)
		ret = add_dir(h, cfg->trust.capath);
	if (!ret)
		ret = add_file(h, "crl", AT_FDCWD, cfg->trust.crlfile);
	/* A timestamp moves the chain's validity: its anchors count too. */
	if (!ret)
		ret = add_file(h, "tsa-trust", AT_FDCWD, cfg->tsa.trust);
	for (size_t k = 0; !ret && k < cfg->n_rules; k++)
		ret = add_file(h, "rule tsa-trust", AT_FDCWD,
			       cfg->rules[k].tsa.trust);
	if (!ret)
		ret = sfs_hash_final(h, &d);
	if (!ret)
		memcpy(out, d.bytes, 32);
	sfs_hash_free(h);
	return ret;
}
