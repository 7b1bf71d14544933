// SPDX-License-Identifier: Apache-2.0
/* A PKCS#11 module that forwards to a real one and injects faults on command.
 */
/*
 * Environment:
 *   P11FAULT_MODULE   the real module (default SoftHSMv2)
 *   P11FAULT_CONTROL  a control file, looked at on every call
 *   P11FAULT_LOG      optional: one line appended per injected fault
 *   P11FAULT_TRACE    optional: one line appended per call and its result
 *   P11FAULT_PEAK     optional: the most calls that were in a delay at once
 *                     (how many signatures a caller keeps in flight),
 *                     rewritten as a decimal number each time it grows
 *
 * Control file, one rule a line ('#' starts a comment):
 *   C_Sign=CKR_DEVICE_REMOVED    fail C_Sign with that CK_RV (a name from
 *                                the table below, or a number: 0x32, 50)
 *   *=CKR_GENERAL_ERROR          fail every function (but C_Finalize, which
 *                                only fails when named: a process must be
 *                                able to shut the real module down)
 *   delay_ms=200                 sleep before every call
 *   C_Sign.delay_ms=200          sleep before that function only
 *   count=3                      inject only the next 3 faults, then none
 * A missing or empty file injects nothing. A faulted call is not forwarded.
 * The file is parsed again (and count re-armed) when its inode, size, mtime
 * or ctime change, or its bytes do; to re-arm count with the same text,
 * write the file to a temp name and rename it over the control file.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define P11FAULT_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define CONTROL_MAX 8192
#define RULES_MAX 128

#define EXPORT __attribute__((visibility("default")))

/*
 * Every v2.40 function but C_GetFunctionList: name, what its first argument
 * is and how a failure ends its operation (enum kind), parameters, arguments.
 */
#define P11_FUNCS(X)                                                           \
	X(C_Initialize, NONE, (void *a), (a))                                  \
	X(C_Finalize, NONE, (void *a), (a))                                    \
	X(C_GetInfo, NONE, (CK_INFO_PTR a), (a))                               \
	X(C_GetSlotList, NONE, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c), \
	  (a, b, c))                                                           \
	X(C_GetSlotInfo, SLOT, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))     \
	X(C_GetTokenInfo, SLOT, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))   \
	X(C_WaitForSlotEvent, NONE, (CK_FLAGS a, CK_SLOT_ID_PTR b, void *c),   \
	  (a, b, c))                                                           \
	X(C_GetMechanismList, SLOT,                                            \
	  (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, CK_ULONG_PTR c), (a, b, c))  \
	X(C_GetMechanismInfo, SLOT,                                            \
	  (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c),        \
	  (a, b, c))                                                           \
	X(C_InitToken, SLOT,                                                   \
	  (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d),    \
	  (a, b, c, d))                                                        \
	X(C_InitPIN, SES,                                                      \
	  (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c), (a, b, c))     \
	X(C_SetPIN, SES,                                                       \
	  (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c,                 \
	   CK_UTF8CHAR_PTR d, CK_ULONG e),                                     \
	  (a, b, c, d, e))                                                     \
	X(C_OpenSession, SLOT,                                                 \
	  (CK_SLOT_ID a, CK_FLAGS b, void *c, CK_NOTIFY d,                     \
	   CK_SESSION_HANDLE_PTR e),                                           \
	  (a, b, c, d, e))                                                     \
	X(C_CloseSession, SES, (CK_SESSION_HANDLE a), (a))                     \
	X(C_CloseAllSessions, SLOT, (CK_SLOT_ID a), (a))                       \
	X(C_GetSessionInfo, SES, (CK_SESSION_HANDLE a, CK_SESSION_INFO_PTR b), \
	  (a, b))                                                              \
	X(C_GetOperationState, SES,                                            \
	  (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c))     \
	X(C_SetOperationState, SES,                                            \
	  (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, \
	   CK_OBJECT_HANDLE e),                                                \
	  (a, b, c, d, e))                                                     \
	X(C_Login, SES,                                                        \
	  (CK_SESSION_HANDLE a, CK_USER_TYPE b, CK_UTF8CHAR_PTR c,             \
	   CK_ULONG d),                                                        \
	  (a, b, c, d))                                                        \
	X(C_Logout, SES, (CK_SESSION_HANDLE a), (a))                           \
	X(C_CreateObject, SES,                                                 \
	  (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c,                \
	   CK_OBJECT_HANDLE_PTR d),                                            \
	  (a, b, c, d))                                                        \
	X(C_CopyObject, SES,                                                   \
	  (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,        \
	   CK_ULONG d, CK_OBJECT_HANDLE_PTR e),                                \
	  (a, b, c, d, e))                                                     \
	X(C_DestroyObject, SES, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b),     \
	  (a, b))                                                              \
	X(C_GetObjectSize, SES,                                                \
	  (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c),           \
	  (a, b, c))                                                           \
	X(C_GetAttributeValue, SES,                                            \
	  (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,        \
	   CK_ULONG d),                                                        \
	  (a, b, c, d))                                                        \
	X(C_SetAttributeValue, SES,                                            \
	  (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c,        \
	   CK_ULONG d),                                                        \
	  (a, b, c, d))                                                        \
	X(C_FindObjectsInit, SES,                                              \
	  (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c), (a, b, c))    \
	X(C_FindObjects, SES,                                                  \
	  (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE_PTR b, CK_ULONG c,            \
	   CK_ULONG_PTR d),                                                    \
	  (a, b, c, d))                                                        \
	X(C_FindObjectsFinal, SES, (CK_SESSION_HANDLE a), (a))                 \
	X(C_EncryptInit, SES,                                                  \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),       \
	  (a, b, c))                                                           \
	X(C_Encrypt, IO, BUF_IO_PARAMS, BUF_IO_ARGS)                           \
	X(C_EncryptUpdate, IOU, BUF_IO_PARAMS, BUF_IO_ARGS)                    \
	X(C_EncryptFinal, OUT, BUF_OUT_PARAMS, BUF_OUT_ARGS)                   \
	X(C_DecryptInit, SES,                                                  \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),       \
	  (a, b, c))                                                           \
	X(C_Decrypt, IO, BUF_IO_PARAMS, BUF_IO_ARGS)                           \
	X(C_DecryptUpdate, IOU, BUF_IO_PARAMS, BUF_IO_ARGS)                    \
	X(C_DecryptFinal, OUT, BUF_OUT_PARAMS, BUF_OUT_ARGS)                   \
	X(C_DigestInit, SES, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b),        \
	  (a, b))                                                              \
	X(C_Digest, IO, BUF_IO_PARAMS, BUF_IO_ARGS)                            \
	X(C_DigestUpdate, UPD, BUF_IN_PARAMS, BUF_IN_ARGS)                     \
	X(C_DigestKey, UPD, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b)) \
	X(C_DigestFinal, OUT, BUF_OUT_PARAMS, BUF_OUT_ARGS)                    \
	X(C_SignInit, SES,                                                     \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),       \
	  (a, b, c))                                                           \
	X(C_Sign, IO, BUF_IO_PARAMS, BUF_IO_ARGS)                              \
	X(C_SignUpdate, UPD, BUF_IN_PARAMS, BUF_IN_ARGS)                       \
	X(C_SignFinal, OUT, BUF_OUT_PARAMS, BUF_OUT_ARGS)                      \
	X(C_SignRecoverInit, SES,                                              \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),       \
	  (a, b, c))                                                           \
	X(C_SignRecover, IO, BUF_IO_PARAMS, BUF_IO_ARGS)                       \
	X(C_VerifyInit, SES,                                                   \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),       \
	  (a, b, c))                                                           \
	X(C_Verify, FWD,                                                       \
	  (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,      \
	   CK_ULONG e),                                                        \
	  (a, b, c, d, e))                                                     \
	X(C_VerifyUpdate, UPD, BUF_IN_PARAMS, BUF_IN_ARGS)                     \
	X(C_VerifyFinal, FWD, BUF_IN_PARAMS, BUF_IN_ARGS)                      \
	X(C_VerifyRecoverInit, SES,                                            \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),       \
	  (a, b, c))                                                           \
	X(C_VerifyRecover, IO, BUF_IO_PARAMS, BUF_IO_ARGS)                     \
	X(C_DigestEncryptUpdate, SES, BUF_IO_PARAMS, BUF_IO_ARGS)              \
	X(C_DecryptDigestUpdate, SES, BUF_IO_PARAMS, BUF_IO_ARGS)              \
	X(C_SignEncryptUpdate, SES, BUF_IO_PARAMS, BUF_IO_ARGS)                \
	X(C_DecryptVerifyUpdate, SES, BUF_IO_PARAMS, BUF_IO_ARGS)              \
	X(C_GenerateKey, SES,                                                  \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,        \
	   CK_ULONG d, CK_OBJECT_HANDLE_PTR e),                                \
	  (a, b, c, d, e))                                                     \
	X(C_GenerateKeyPair, SES,                                              \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c,        \
	   CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f, CK_OBJECT_HANDLE_PTR g, \
	   CK_OBJECT_HANDLE_PTR h),                                            \
	  (a, b, c, d, e, f, g, h))                                            \
	X(C_WrapKey, SES,                                                      \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,        \
	   CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f),                 \
	  (a, b, c, d, e, f))                                                  \
	X(C_UnwrapKey, SES,                                                    \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,        \
	   CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG g,          \
	   CK_OBJECT_HANDLE_PTR h),                                            \
	  (a, b, c, d, e, f, g, h))                                            \
	X(C_DeriveKey, SES,                                                    \
	  (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c,        \
	   CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f),            \
	  (a, b, c, d, e, f))                                                  \
	X(C_SeedRandom, SES, BUF_IN_PARAMS, BUF_IN_ARGS)                       \
	X(C_GenerateRandom, SES, BUF_IN_PARAMS, BUF_IN_ARGS)                   \
	X(C_GetFunctionStatus, SES, (CK_SESSION_HANDLE a), (a))                \
	X(C_CancelFunction, SES, (CK_SESSION_HANDLE a), (a))

/* The recurring shapes: data in, data in and out, data out. */
#define BUF_IN_PARAMS (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c)
#define BUF_IN_ARGS (a, b, c)
#define BUF_IO_PARAMS                                                          \
	(CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d,        \
	 CK_ULONG_PTR e)
#define BUF_IO_ARGS (a, b, c, d, e)
#define BUF_OUT_PARAMS (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c)
#define BUF_OUT_ARGS (a, b, c)

enum fn_id {
#define X(name, kind, params, args) FN_##name,
	P11_FUNCS(X)
#undef X
	    FN_COUNT_
};

static const char *const fn_names[] = {
#define X(name, kind, params, args) #name,
    P11_FUNCS(X)
#undef X
};

/*
 * What a fault does to the real module besides the CK_RV (PKCS#11 v2.40
 * section 5.2: an error from a function that processes data ends the
 * active operation, except CKR_BUFFER_TOO_SMALL):
 *   NONE  no session or slot argument: nothing
 *   SLOT  first argument is a slot; SES: a session; neither ends anything
 *   IO    single-part data in and out (C_Sign): forwarded, output dropped
 *   IOU   multi-part update with output: forwarded, then its Final
 *   OUT   a Final with output: forwarded, output dropped
 *   FWD   C_Verify, C_VerifyFinal: forwarded, result dropped
 *   UPD   update without output: forwarded, then its Final
 * CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT and CKR_TOKEN_NOT_RECOGNIZED
 * close every session of the slot (as a removed token would: the caller
 * must open sessions and log in again); CKR_SESSION_HANDLE_INVALID and
 * CKR_SESSION_CLOSED close that session. Dual-function updates
 * (C_DigestEncryptUpdate...) are not ended: nothing here uses them.
 */
enum kind { K_NONE, K_SLOT, K_SES, K_IO, K_IOU, K_OUT, K_FWD, K_UPD };

static const enum kind fn_kinds[] = {
#define X(name, kind, params, args) K_##kind,
    P11_FUNCS(X)
#undef X
};

static const struct {
	const char *name;
	CK_RV rv;
} rv_names[] = {
    {"CKR_OK", CKR_OK},
    {"CKR_GENERAL_ERROR", CKR_GENERAL_ERROR},
    {"CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED},
    {"CKR_HOST_MEMORY", CKR_HOST_MEMORY},
    {"CKR_DEVICE_ERROR", CKR_DEVICE_ERROR},
    {"CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY},
    {"CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED},
    {"CKR_SESSION_CLOSED", CKR_SESSION_CLOSED},
    {"CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID},
    {"CKR_SESSION_COUNT", CKR_SESSION_COUNT},
    {"CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT},
    {"CKR_TOKEN_NOT_RECOGNIZED", CKR_TOKEN_NOT_RECOGNIZED},
    {"CKR_PIN_INCORRECT", CKR_PIN_INCORRECT},
    {"CKR_PIN_LOCKED", CKR_PIN_LOCKED},
    {"CKR_PIN_EXPIRED", CKR_PIN_EXPIRED},
    {"CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN},
    {"CKR_KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID},
    {"CKR_OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID},
    {"CKR_OPERATION_NOT_INITIALIZED", CKR_OPERATION_NOT_INITIALIZED},
    {"CKR_CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED},
};

struct rule {
	int fn; /* an enum fn_id, or -1 for every function */
	bool fail;
	CK_RV rv;
	unsigned long delay_ms;
};

/* The parsed control file; all of it under ctl_lock. */
struct control {
	bool have;	/* a file was read */
	struct stat st; /* what it looked like when read */
	struct timespec read_at;
	char text[CONTROL_MAX];
	size_t len;
	struct rule rules[RULES_MAX];
	size_t n_rules;
	unsigned long delay_ms; /* for every call */
	bool counted;		/* count= given */
	unsigned long left;	/* faults still to inject when counted */
};

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct control ctl;

/*
 * Calls into the real module hold this for reading; closing sessions to
 * emulate a removal holds it for writing. SoftHSM crashes when a session
 * is closed while another thread is inside a call on it, and a fault
 * module must not add crashes of its own.
 */
static pthread_rwlock_t real_lock = PTHREAD_RWLOCK_INITIALIZER;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static void *real_dl;
static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST ours;

static int fn_lookup(const char *name, size_t len)
{
	for (int i = 0; i < FN_COUNT_; i++)
		if (strlen(fn_names[i]) == len &&
		    !memcmp(fn_names[i], name, len))
			return i;
	return -2;
}

static bool rv_parse(const char *s, CK_RV *rv)
{
	char *end;

	for (size_t i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++) {
		if (!strcmp(rv_names[i].name, s)) {
			*rv = rv_names[i].rv;
			return true;
		}
	}
	errno = 0;
	*rv = strtoul(s, &end, 0);
	return !errno && end != s && !*end;
}

static bool ulong_parse(const char *s, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return !errno && end != s && !*end;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* One "KEY=VALUE" line; a line we do not understand is reported, skipped. */
static void parse_line_locked(char *line)
{
	char *eq, *key, *val, *dot;
	struct rule r = {.fn = -1};
	unsigned long n;

	line = trim(line);
	if (!*line || *line == '#')
		return;
	eq = strchr(line, '=');
	if (!eq)
		goto bad;
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (!strcmp(key, "count")) {
		if (!ulong_parse(val, &ctl.left))
			goto bad;
		ctl.counted = true;
		return;
	}
	if (!strcmp(key, "delay_ms")) {
		if (!ulong_parse(val, &ctl.delay_ms))
			goto bad;
		return;
	}
	dot = strchr(key, '.');
	if (dot && !strcmp(dot, ".delay_ms")) {
		if (!ulong_parse(val, &n))
			goto bad;
		r.delay_ms = n;
	} else {
		dot = key + strlen(key);
		r.fail = true;
		if (!rv_parse(val, &r.rv))
			goto bad;
	}
	if (!(dot - key == 1 && *key == '*')) {
		r.fn = fn_lookup(key, (size_t)(dot - key));
		if (r.fn < 0)
			goto bad;
	}
	if (ctl.n_rules < RULES_MAX)
		ctl.rules[ctl.n_rules++] = r;
	return;
bad:
	fprintf(stderr, "p11fault: ignoring control line '%s'\n", line);
}

static void parse_locked(void)
{
	char buf[CONTROL_MAX + 1], *line, *save = NULL;

	ctl.n_rules = 0;
	ctl.delay_ms = 0;
	ctl.counted = false;
	ctl.left = 0;
	memcpy(buf, ctl.text, ctl.len);
	buf[ctl.len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		parse_line_locked(line);
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Timestamps tick with the kernel's coarse clock, so a file rewritten
 * within one tick of our last read may look unchanged: until the file
 * is older than our read by a second, compare its bytes too (git's
 * "racy clean" rule).
 */
static bool maybe_racy(const struct stat *st, const struct timespec *read_at)
{
	return read_at->tv_sec <= st->st_mtim.tv_sec + 1;
}

static void refresh_locked(void)
{
	const char *path = getenv("P11FAULT_CONTROL");
	char text[CONTROL_MAX];
	struct stat st;
	ssize_t got = 0;
	bool changed;
	int fd;

	fd = path && *path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		ctl.have = false;
		ctl.len = 0;
		ctl.n_rules = 0;
		ctl.delay_ms = 0;
		ctl.counted = false;
		return;
	}
	if (ctl.have && same_stat(&st, &ctl.st) &&
	    !maybe_racy(&st, &ctl.read_at)) {
		close(fd);
		return;
	}
	got = pread(fd, text, sizeof(text), 0);
	close(fd);
	if (got < 0)
		got = 0;
	changed = !ctl.have || !same_stat(&st, &ctl.st) ||
		  (size_t)got != ctl.len || memcmp(text, ctl.text, (size_t)got);
	ctl.st = st;
	clock_gettime(CLOCK_REALTIME, &ctl.read_at);
	ctl.have = true;
	/* Same bytes, same inode: keep the count where it is. */
	if (!changed)
		return;
	memcpy(ctl.text, text, (size_t)got);
	ctl.len = (size_t)got;
	parse_locked();
}

static void log_fault(const char *fn, CK_RV rv)
{
	const char *path = getenv("P11FAULT_LOG");
	char line[128];
	int fd, n;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%d %s 0x%lx\n", (int)getpid(), fn,
		     (unsigned long)rv);
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

static void trace(int fn, unsigned long arg, CK_RV rv, bool injected)
{
	const char *path = getenv("P11FAULT_TRACE");
	char line[160];
	int fd, n;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%d %lx %s(%lu) = 0x%lx%s\n",
		     (int)getpid(), (unsigned long)pthread_self(), fn_names[fn],
		     arg, (unsigned long)rv, injected ? " injected" : "");
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(ms / 1000),
	    .tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Calls sleeping in a delay now, and the most there were (P11FAULT_PEAK). */
static unsigned long in_delay, peak_delay;

static void delay_call(unsigned long ms)
{
	const char *path = getenv("P11FAULT_PEAK");

	pthread_mutex_lock(&ctl_lock);
	/* Written under the lock: a smaller peak never lands last. */
	if (++in_delay > peak_delay) {
		FILE *f = path && *path ? fopen(path, "we") : NULL;

		peak_delay = in_delay;
		if (f) {
			fprintf(f, "%lu\n", peak_delay);
			fclose(f);
		}
	}
	pthread_mutex_unlock(&ctl_lock);
	sleep_ms(ms);
	pthread_mutex_lock(&ctl_lock);
	in_delay--;
	pthread_mutex_unlock(&ctl_lock);
}

/* Decide a call's fate: true and *rv when it is to fail. */
static bool fault_for(int fn, CK_RV *rv)
{
	const struct rule *specific = NULL, *any = NULL, *hit;
	unsigned long delay;

	pthread_mutex_lock(&ctl_lock);
	refresh_locked();
	delay = ctl.delay_ms;
	for (size_t i = 0; i < ctl.n_rules; i++) {
		const struct rule *r = &ctl.rules[i];

		if (r->fn != fn && (r->fn != -1 || fn == FN_C_Finalize))
			continue;
		if (!r->fail)
			delay += r->delay_ms;
		else if (r->fn == fn)
			specific = r;
		else
			any = r;
	}
	/* A rule naming the function wins over '*'. */
	hit = specific ? specific : any;
	if (hit && ctl.counted) {
		if (ctl.left)
			ctl.left--;
		else
			hit = NULL;
	}
	if (hit)
		*rv = hit->rv;
	pthread_mutex_unlock(&ctl_lock);
	if (delay)
		delay_call(delay);
	if (hit)
		log_fault(fn_names[fn], *rv);
	return hit != NULL;
}

/* Run a Final-shaped call to its end with a scratch buffer. */
static void out_end(CK_RV (*f)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR),
		    CK_SESSION_HANDLE s)
{
	CK_ULONG len = 0;
	CK_BYTE_PTR buf;

	if (f(s, NULL, &len) != CKR_OK)
		return;
	buf = malloc(len ? len : 1);
	if (buf)
		f(s, buf, &len);
	free(buf);
}

/* A single-part call: a length query (NULL output) does not end it. */
static void io_end(CK_RV (*f)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG,
			      CK_BYTE_PTR, CK_ULONG_PTR),
		   CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
		   CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	CK_ULONG cap = out_len ? *out_len : 0, len = 0;
	CK_BYTE_PTR buf;

	if (out) {
		f(s, in, in_len, out, out_len);
		memset(out, 0, cap); /* the caller gets nothing */
		*out_len = cap;
		return;
	}
	if (f(s, in, in_len, NULL, &len) != CKR_OK)
		return;
	buf = malloc(len ? len : 1);
	if (buf)
		f(s, in, in_len, buf, &len);
	free(buf);
}

/* End a multi-part operation after a faulted update. */
static void family_end(int fn, CK_SESSION_HANDLE s)
{
	CK_BYTE zero = 0;

	switch (fn) {
	case FN_C_EncryptUpdate:
		out_end(real->C_EncryptFinal, s);
		break;
	case FN_C_DecryptUpdate:
		out_end(real->C_DecryptFinal, s);
		break;
	case FN_C_DigestUpdate:
	case FN_C_DigestKey:
		out_end(real->C_DigestFinal, s);
		break;
	case FN_C_SignUpdate:
		out_end(real->C_SignFinal, s);
		break;
	case FN_C_VerifyUpdate:
		real->C_VerifyFinal(s, &zero, 1);
		break;
	}
}

/* A removed token or a dead session: make it so in the real module. */
static bool kill_sessions(int fn, unsigned long first, CK_RV rv)
{
	enum kind k = fn_kinds[fn];
	CK_SESSION_INFO info;
	CK_SLOT_ID slot;

	bool closed = false;

	if (k == K_NONE || fn == FN_C_CloseSession ||
	    fn == FN_C_CloseAllSessions)
		return false;
	if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) {
		if (k == K_SLOT)
			return false;
		pthread_rwlock_wrlock(&real_lock);
		real->C_CloseSession(first);
		pthread_rwlock_unlock(&real_lock);
		return true;
	}
	if (rv != CKR_DEVICE_REMOVED && rv != CKR_TOKEN_NOT_PRESENT &&
	    rv != CKR_TOKEN_NOT_RECOGNIZED)
		return false;
	pthread_rwlock_wrlock(&real_lock);
	slot = first;
	if (k == K_SLOT || real->C_GetSessionInfo(first, &info) == CKR_OK) {
		if (k != K_SLOT)
			slot = info.slotID;
		real->C_CloseAllSessions(slot);
		closed = true;
	}
	pthread_rwlock_unlock(&real_lock);
	return closed;
}

/* C_WaitForSlotEvent may block for good: it must not hold real_lock. */
static void real_enter(int fn)
{
	if (fn != FN_C_WaitForSlotEvent)
		pthread_rwlock_rdlock(&real_lock);
}

static void real_leave(int fn)
{
	if (fn != FN_C_WaitForSlotEvent)
		pthread_rwlock_unlock(&real_lock);
}

#define END_NONE(name, args)                                                   \
	do {                                                                   \
	} while (0)
#define END_SLOT(name, args)                                                   \
	do {                                                                   \
	} while (0)
#define END_SES(name, args)                                                    \
	do {                                                                   \
	} while (0)
#define END_IO(name, args) io_end(real->name, a, b, c, d, e)
#define END_IOU(name, args)                                                    \
	do {                                                                   \
		io_end(real->name, a, b, c, d, e);                             \
		family_end(FN_##name, a);                                      \
	} while (0)
#define END_OUT(name, args)                                                    \
	do {                                                                   \
		CK_ULONG cap_ = c ? *c : 0;                                    \
                                                                               \
		if (!b) {                                                      \
			out_end(real->name, a);                                \
			break;                                                 \
		}                                                              \
		real->name args;                                               \
		memset(b, 0, cap_);                                            \
		*c = cap_;                                                     \
	} while (0)
#define END_FWD(name, args) real->name args
#define END_UPD(name, args)                                                    \
	do {                                                                   \
		real->name args;                                               \
		family_end(FN_##name, a);                                      \
	} while (0)

/* The wrappers: fault or delay on command, then forward. */
#define X(name, kind, params, args)                                            \
	static CK_RV w_##name params                                           \
	{                                                                      \
		unsigned long first = (unsigned long)(uintptr_t)a;             \
		CK_RV rv;                                                      \
                                                                               \
		if (fault_for(FN_##name, &rv)) {                               \
			if (!kill_sessions(FN_##name, first, rv)) {            \
				real_enter(FN_##name);                         \
				END_##kind(name, args);                        \
				real_leave(FN_##name);                         \
			}                                                      \
			trace(FN_##name, first, rv, true);                     \
			return rv;                                             \
		}                                                              \
		real_enter(FN_##name);                                         \
		rv =                                                           \
		    real->name ? real->name args : CKR_FUNCTION_NOT_SUPPORTED; \
		real_leave(FN_##name);                                         \
		trace(FN_##name, first, rv, false);                            \
		return rv;                                                     \
	}
P11_FUNCS(X)
#undef X

static void load_real(void)
{
	const char *path = getenv("P11FAULT_MODULE");
	CK_C_GetFunctionList get;

	if (!path || !*path)
		path = P11FAULT_DEFAULT_MODULE;
	real_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!real_dl) {
		fprintf(stderr, "p11fault: %s\n", dlerror());
		return;
	}
	get = (CK_C_GetFunctionList)dlsym(real_dl, "C_GetFunctionList");
	if (!get || get(&real) != CKR_OK || !real) {
		fprintf(stderr, "p11fault: %s has no usable function list\n",
			path);
		real = NULL;
		return;
	}
	ours.version = real->version;
#define X(name, kind, params, args) ours.name = w_##name;
	P11_FUNCS(X)
#undef X
	ours.C_GetFunctionList = C_GetFunctionList;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (!list)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&load_once, load_real);
	if (!real)
		return CKR_GENERAL_ERROR;
	*list = &ours;
	return CKR_OK;
}

static void __attribute__((destructor)) p11fault_unload(void)
{
	if (real_dl)
		dlclose(real_dl);
}
