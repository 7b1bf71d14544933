/* SPDX-License-Identifier: Apache-2.0 */
/* Open, read and release of files and their .sig. */
#ifndef SIGNETFS_INBOX_IB_FILE_H
#define SIGNETFS_INBOX_IB_FILE_H

#include "fuse/sfuse.h"

struct inbox;

int inbox_file_init(void);
/* Teardown: free the handles whose RELEASE the unmount dropped (fuse/sfuse.h).
 */
void inbox_files_shutdown(struct inbox *ib);
void inbox_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void inbox_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void inbox_op_release(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);

#endif
