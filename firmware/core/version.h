/* The firmware's version, from VERSION and the build (git describe, set by the Makefile). */
#ifndef OB_CORE_VERSION_H
#define OB_CORE_VERSION_H

#ifndef OB_VERSION
#define OB_VERSION "0.0.0-unknown"
#endif

#ifndef OB_BUILD_ID
#define OB_BUILD_ID "unknown"
#endif

#endif
