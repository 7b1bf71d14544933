// SPDX-License-Identifier: Apache-2.0
/* The outbox: a read-write view of BACKING that signs files on close. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ob_digest.h"
#include "ob_dirtime.h"
#include "ob_file.h"
#include "ob_inode.h"
#include "ob_ops.h"
#include "ob_sign.h"
#include "ob_stamp.h"
#include "outbox.h"
#include "signetfs/layout.h"
#include "signetfs/log.h"
#include "signetfs/state.h"

size_t ob_name_max(const struct outbox *ob)
{
	return ob->no_sign ? SFS_NAME_MAX_STORED : SFS_NAME_MAX_SIGNED;
}

int ob_bk_name(struct outbox *ob, const char *name, char *bname, bool create)
{
	size_t len = strlen(name);

	if (create && len > ob_name_max(ob))
		return -ENAMETOOLONG;
	return sfs_name_to_backing(name, len, bname, &len);
}

int ob_view_name(const char *bname, char *name)
{
	size_t len;

	/* Signatures, their temp files: BACKING's slots are not shown. */
	return sfs_name_from_backing(bname, strlen(bname), name, &len);
}

/* Writers allowed by policy (per subtree); the groups only when needed. */
static bool policy_allows(struct outbox *ob, fuse_req_t req, const char *rel)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	const struct sfs_config *cfg = ob_conf(ob)->cfg;
	const struct sfs_rule *r;
	gid_t groups[256];
	int n;

	if (policy_match(cfg, rel, &r))
		return false; /* too deep to evaluate: refused */
	if (policy_may_write(cfg, r, c->uid, c->gid, NULL, 0, ob->mounter))
		return true;
	n = fuse_req_getgroups(req, (int)ARRAY_SIZE(groups), groups);
	if (n <= 0)
		return false;
	if (n > (int)ARRAY_SIZE(groups))
		n = (int)ARRAY_SIZE(groups);
	return policy_may_write(cfg, r, c->uid, c->gid, groups, n, ob->mounter);
}

bool ob_writer_allowed(struct outbox *ob, fuse_req_t req, const char *op,
		       struct bk_inode *i, const char *name)
{
	struct sfs_writer w;
	char rel[PATH_MAX], why[96];
	size_t len = 0;
	int ret;

	ret = name ? bk_child_relpath(&ob->bk, i, name, rel, &len)
		   : bk_relpath(&ob->bk, i, rel, &len);
	if (ret) {
		rel[0] = '\0';
		len = 0;
	}
	/*
	 * No name (an unlinked file still open): nothing can be signed for
	 * it, the root's rule decides. A path that cannot be told (longer
	 * than PATH_MAX below BACKING, not below it) is not judged by the
	 * root's rule in its stead: refused.
	 */
	if ((ret == 0 || ret == -ENOENT) && policy_allows(ob, req, rel))
		return true;
	ob_writer_of(ob, req, &w);
	if (ret == 0 || ret == -ENOENT)
		snprintf(why, sizeof(why), "%s: uid %u may not write here", op,
			 (unsigned)w.uid);
	else
		snprintf(why, sizeof(why), "%s: no path below BACKING: %s", op,
			 strerror(-ret));
	sfs_stats_add(&ob->stats, SFS_C_SIGN_REFUSED, 1);
	ob_audit(ob, "policy-denied", rel, len, -1, NULL, &w, why);
	return false;
}

int ob_pin_parent_for_write(struct outbox *ob, fuse_req_t req, const char *op,
			    struct bk_inode *p, const char *name)
{
	if (!ob_writer_allowed(ob, req, op, p, name))
		return -EACCES;
	return bk_pin(&ob->bk, p);
}

static void ob_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct outbox *ob = userdata;

	/*
	 * Defaults chosen by measurement (docs/outbox.md); -o overrides.
	 * Writeback cache: 3x on warm reads, never slower on writes. Splice:
	 * writes must pass through memory to be hashed, and splice_read
	 * showed no gain on reads here.
	 */
	if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* The kernel applies the caller's umask (ob_setup: ours is 0). */
	conn->want &= ~(unsigned)FUSE_CAP_DONT_MASK;
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
				  FUSE_CAP_SPLICE_READ);
	conn->max_write = OB_MAX_WRITE;
	sfuse_apply_conn_opts(conn);
	ob->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
	/* Mounted by now: the device its shared mappings show. */
	ob_find_fuse_dev(ob);
	if (ob_proc_dir() < 0)
		sfs_warn("cannot open /proc, which the writer checks read");
}

/*
 * No name maps onto a signature slot (layout.h), so slots cannot be looked
 * up. A name longer than this mount can sign is ENAMETOOLONG unless it
 * exists (made in BACKING directly): statfs says so (f_namemax).
 */
static void ob_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct outbox *ob = ob_of(req);
	char bname[NAME_MAX + 1];
	struct fuse_entry_param e;
	int ret;

	ret = ob_bk_name(ob, name, bname, false);
	if (ret == 0)
		ret = bk_lookup(&ob->bk, bk_inode(&ob->bk, parent), bname, &e,
				NULL);
	if (ret == -ENOENT && strlen(name) > ob_name_max(ob))
		ret = -ENAMETOOLONG;
	sfuse_reply_entry(req, ret, &e);
}

static void ob_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	struct outbox *ob = ob_of(req);

	bk_forget(&ob->bk, bk_inode(&ob->bk, ino), n);
	fuse_reply_none(req);
}

static void ob_op_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	bk_op_forget_multi(&ob_of(req)->bk, count, forgets);
	fuse_reply_none(req);
}

static void ob_op_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	bk_op_getattr(&ob->bk, req, bk_inode(&ob->bk, ino));
}

static void ob_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct outbox *ob = ob_of(req);

	bk_op_statfs(&ob->bk, req, ob_name_max(ob));
}

/*
 * Operations that decide by policy, sign or verify run with one
 * configuration from start to end, whatever a reload does meanwhile: each
 * pins it here (ob_op_enter) and lets go after its reply (outbox_conf.c).
 * ob is read before the reply, which frees req.
 */
static void pinned_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			   int valid, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_setattr(req, ino, attr, valid, fi);
	ob_op_leave(ob);
}

static void pinned_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_mkdir(req, parent, name, mode);
	ob_op_leave(ob);
}

static void pinned_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_unlink(req, parent, name);
	ob_op_leave(ob);
}

static void pinned_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_rmdir(req, parent, name);
	ob_op_leave(ob);
}

static void pinned_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_rename(req, parent, name, newparent, newname, flags);
	ob_op_leave(ob);
}

static void pinned_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_open(req, ino, fi);
	ob_op_leave(ob);
}

static void pinned_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			  mode_t mode, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_create(req, parent, name, mode, fi);
	ob_op_leave(ob);
}

static void pinned_flush(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_flush(req, ino, fi);
	ob_op_leave(ob);
}

static void pinned_release(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_release(req, ino, fi);
	ob_op_leave(ob);
}

static void pinned_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_setxattr(req, ino, name, value, size, flags);
	ob_op_leave(ob);
}

static void pinned_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_getxattr(req, ino, name, size);
	ob_op_leave(ob);
}

static void pinned_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct outbox *ob = ob_of(req);

	ob_op_enter(ob);
	ob_op_removexattr(req, ino, name);
	ob_op_leave(ob);
}

static const struct fuse_lowlevel_ops ob_ops = {
    .init = ob_op_init,
    .lookup = ob_op_lookup,
    .forget = ob_op_forget,
    .forget_multi = ob_op_forget_multi,
    .getattr = ob_op_getattr,
    .setattr = pinned_setattr,
    .readlink = ob_op_readlink,
    .mknod = ob_op_mknod,
    .mkdir = pinned_mkdir,
    .unlink = pinned_unlink,
    .rmdir = pinned_rmdir,
    .symlink = ob_op_symlink,
    .rename = pinned_rename,
    .link = ob_op_link,
    .open = pinned_open,
    .read = ob_op_read,
    .write = ob_op_write,
    .flush = pinned_flush,
    .release = pinned_release,
    .fsync = ob_op_fsync,
    .opendir = ob_op_opendir,
    .readdir = ob_op_readdir,
    .readdirplus = ob_op_readdirplus,
    .releasedir = ob_op_releasedir,
    .fsyncdir = ob_op_fsyncdir,
    .statfs = ob_op_statfs,
    .setxattr = pinned_setxattr,
    .getxattr = pinned_getxattr,
    .listxattr = ob_op_listxattr,
    .removexattr = pinned_removexattr,
    .create = pinned_create,
    .fallocate = ob_op_fallocate,
    .lseek = ob_op_lseek,
};

static int ob_teardown(void *userdata)
{
	struct outbox *ob = userdata;
	int ret = 0;
	struct sfuse_handle *h;
	struct ob_file *f;

	/* Handles whose RELEASE the unmount dropped (fuse/sfuse.h). */
	while ((h = sfuse_handle_pop(&ob->files))) {
		f = SFUSE_HANDLE_OF(h, struct ob_file, link);
		close(f->fd);
		ob_file_free(f);
	}
	while ((h = sfuse_handle_pop(&ob->dirs)))
		bk_closedir(SFUSE_HANDLE_OF(h, struct bk_dir, link));

	/* Before the audit log closes: what is still queued is recorded. */
	ob_stamper_stop(ob);
	if (ob->audit) {
		ob_audit(ob, "unmount", NULL, 0, -1, NULL, NULL, ob->mount_id);
		ret = audit_close(ob->audit);
		ob->audit = NULL;
	}
	state_close(ob->state);
	ob->state = NULL;
	if (ob->confs.cur)
		sfuse_current_destroy(&ob->confs);
	ob_conf_release(ob->conf0); /* after the audit log's checkpoint */
	ob->conf0 = NULL;
	bk_destroy(&ob->bk);
	/* After bk_destroy: freeing the inodes' digests fills it. */
	ob_rdigest_pool_drain();
	/* After bk_destroy: freeing the inodes stashes some. */
	free(ob->failed);
	ob->failed = NULL;
	ob->n_failed = ob->cap_failed = 0;
	return ret;
}

static int ob_setup(void *userdata, struct sfs_error *err)
{
	struct outbox *ob = userdata;
	const struct sfs_config *cfg = ob->cfg;
	struct sfs_keyring *ring;
	int ret;

	if (!ob->no_sign && cfg->strict_modes) {
		ret = ob_check_backing_modes(ob->args->backing, err);
		if (ret)
			goto fail;
	}
	ret = bk_init(&ob->bk, ob->args->backing);
	if (ret) {
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "%s: %s",
			      ob->args->backing, strerror(-ret));
		goto fail;
	}
	/* Strict: a directory of another filesystem below BACKING is not ours.
	 */
	ob->bk.one_dev = !ob->no_sign && cfg->strict_modes;
	ob->bk.priv_free = ob_inode_free;
	ob->bk.priv_detach = ob_inode_detach;
	/* In the serving process: its key is read by it alone. */
	if (!ob->no_sign && cfg->state_dir) {
		ret = state_open(cfg->state_dir, ob->args->backing,
				 STATE_OUTBOX, 0, &ob->state, err);
		if (ret)
			goto fail;
	}
	/* Borrowed: the caller frees the mount-time config after us. */
	ret = ob_conf_new(ob, (struct sfs_config *)cfg, false, &ob->conf0, err);
	if (ret)
		goto fail;
	/* conf0's first reference stays ours, a second is the one in force. */
	atomic_fetch_add(&ob->conf0->ref.refs, 1);
	sfuse_current_init(&ob->confs, &ob->conf0->ref);
	ring = ob->conf0->ring;
	if (cfg->audit_log) {
		ret = audit_open_config(
		    cfg, ring ? keyring_default(ring) : NULL, &ob->audit);
		if (ret) {
			sfs_error_set(err, ret, SFS_EXIT_USAGE,
				      "audit log %s: %s", cfg->audit_log,
				      strerror(-ret));
			goto fail;
		}
		ob_audit(ob, "mount", NULL, 0, -1, NULL, NULL, ob->mount_id);
	}
	/*
	 * The kernel has applied the caller's umask to the mode of every
	 * create and mkdir it sends (FUSE_CAP_DONT_MASK is not asked for, as
	 * in passthrough_hp): the daemon's own (022 from a shell) must not
	 * apply on top of it, or umask 0 and mode 0666 give 0644. What the
	 * daemon creates for itself names its mode: .sig files (the file's
	 * read bits, fchmod'ed), the audit log and log file (0640).
	 */
	umask(0);
	if (!ob->no_sign) {
		ret = ob_stamper_start(ob);
		if (ret) {
			sfs_error_set(err, ret, SFS_EXIT_USAGE,
				      "cannot start the timestamp thread: %s",
				      strerror(-ret));
			goto fail;
		}
	}
	return 0;
fail:
	ob_teardown(ob);
	return ret ? ret : -EIO;
}

static void make_mount_id(struct outbox *ob)
{
	uint64_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint64_t)ob->started.tv_nsec ^ (uint64_t)getpid() << 32;
	sfs_hex((const uint8_t *)&rnd, sizeof(rnd), ob->mount_id);
}

int outbox_main(const struct sfs_config *cfg, const struct sfs_mount_args *a)
{
	struct sfs_mount_args args = *a;
	struct outbox *ob = calloc(1, sizeof(*ob));
	struct sfuse_spec spec = {
	    .ops = &ob_ops,
	    .ops_size = sizeof(ob_ops),
	    .userdata = ob,
	    .subtype = "signetfs-outbox",
	    .setup = ob_setup,
	    .teardown = ob_teardown,
	    .reload = ob_reload,
	};
	char *opts = NULL;
	int ret;

	if (!ob)
		return SFS_EXIT_USAGE;
	/* The kernel checks modes: needed with allow_other, cheap without. */
	if (asprintf(&opts, "default_permissions%s%s",
		     a->fuse_opts && *a->fuse_opts ? "," : "",
		     a->fuse_opts ? a->fuse_opts : "") < 0) {
		free(ob);
		return SFS_EXIT_USAGE;
	}
	args.fuse_opts = opts;
	ob->cfg = cfg;
	/* The daemon changes to / when it detaches. */
	ob->cfg_path = realpath(cfg->path, NULL);
	ob->mnt_abs = realpath(a->mountpoint, NULL);
	if (!ob->cfg_path || !ob->mnt_abs) {
		free(ob->cfg_path);
		free(ob->mnt_abs);
		free(opts);
		free(ob);
		return SFS_EXIT_USAGE;
	}
	ob->args = &args;
	ob->no_sign = a->no_sign;
	ob->mounter = getuid();
	clock_gettime(CLOCK_REALTIME, &ob->started);
	make_mount_id(ob);
	pthread_rwlock_init(&ob->ns_lock, NULL);
	pthread_mutex_init(&ob->names.lock, NULL);
	pthread_mutex_init(&ob->failed_lock, NULL);
	ob_dirtimes_init(ob);
	pthread_mutex_init(&ob->files.lock, NULL);
	pthread_mutex_init(&ob->dirs.lock, NULL);
	ob_names_reset(ob);
	ret = sfuse_run(&spec, &args);
	pthread_mutex_destroy(&ob->dirs.lock);
	pthread_mutex_destroy(&ob->files.lock);
	ob_dirtimes_destroy(ob);
	pthread_mutex_destroy(&ob->failed_lock);
	pthread_mutex_destroy(&ob->names.lock);
	free(ob->cfg_path);
	free(ob->mnt_abs);
	pthread_rwlock_destroy(&ob->ns_lock);
	free(opts);
	free(ob);
	return ret;
}
