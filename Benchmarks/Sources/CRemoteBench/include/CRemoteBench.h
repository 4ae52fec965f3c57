// CRemoteBench: the one glibc call remote-vs-redis needs that Swift's Glibc module hides behind
// _GNU_SOURCE (sched_setaffinity and its CPU_SET macros).
#ifndef CREMOTEBENCH_H
#define CREMOTEBENCH_H

/// Pins the calling thread to one CPU: sched_setaffinity(0, {cpu}). Returns 0, or -1 with errno set.
int CRemoteBench_pin_to_cpu(int cpu);

#endif
