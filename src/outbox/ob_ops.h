/* SPDX-License-Identifier: Apache-2.0 */
/* The outbox operations implemented outside outbox.c, for its op table. */
#ifndef SIGNETFS_OUTBOX_OB_OPS_H
#define SIGNETFS_OUTBOX_OB_OPS_H

#include <sys/stat.h>
#include <sys/types.h>

#include "fuse/sfuse.h"

/* outbox_attr.c */
void ob_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		   struct fuse_file_info *fi);

/* outbox_file.c */
void ob_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ob_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi);
void ob_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void ob_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi);
void ob_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);
void ob_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		     off_t len, struct fuse_file_info *fi);
void ob_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi);

/* outbox_close.c */
void ob_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ob_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* outbox_ns.c */
void ob_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode);
void ob_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev);
void ob_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);
void ob_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void ob_op_readlink(fuse_req_t req, fuse_ino_t ino);
void ob_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ob_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ob_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ob_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void ob_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void ob_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void ob_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi);

/* outbox_xattr.c */
void ob_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void ob_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ob_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void ob_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* outbox_rename.c */
void ob_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname,
		  unsigned int flags);

#endif
