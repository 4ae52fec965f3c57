// libTmemRunPreload.so has no API: it works through its constructor when loaded with LD_PRELOAD and
// $TMEM_RUN_SOCKET set (see preload.c and docs/RUN.md). This header exists because SwiftPM wants one.
#ifndef CTMEMRUNPRELOAD_H
#define CTMEMRUNPRELOAD_H
#endif
