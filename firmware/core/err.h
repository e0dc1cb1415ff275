/* Error codes shared by every module: 0 is success, a negative OB_E* is a failure. */
#ifndef OB_CORE_ERR_H
#define OB_CORE_ERR_H

enum ob_err {
	OB_OK = 0,
	OB_EINVAL = -1,      /* a value given by the caller is not acceptable */
	OB_ENOMEM = -2,      /* out of memory */
	OB_EIO = -3,         /* the operating system or a library failed an I/O operation */
	OB_ENOTFOUND = -4,   /* the named thing does not exist */
	OB_EEXIST = -5,      /* the thing to create already exists */
	OB_EAUTH = -6,       /* credentials missing or wrong */
	OB_EPERM = -7,       /* authenticated, but not allowed */
	OB_ECORRUPT = -8,    /* stored data failed an integrity check */
	OB_EBUSY = -9,       /* try again later (locked, rate-limited) */
	OB_ETOOBIG = -10,    /* input larger than the limit */
	OB_ECONFLICT = -11,  /* the request contradicts the current state */
	OB_EUNSUPPORTED = -12, /* compiled out or not available on this box */
	OB_EINTERNAL = -13,  /* a bug: an invariant did not hold */
};

/* A static, human-readable description of an OB_E* code (never NULL). */
const char *ob_strerror(int err);

/* A stable machine-readable name of an OB_E* code, as used in API errors. */
const char *ob_errname(int err);

#endif
