/* Injected io_uring faults for the uring model: a test hook, the fault
 * shim's counterpart (conformance/faultshim.c). The shim makes libc's
 * socket calls fail; the uring model's reads, writes and accepts are
 * io_uring operations that no LD_PRELOAD sees. With the same setting,
 *
 *   ECHOLAB_FAULTS=seed=N,rate=P[,report=FILE]
 *
 * each receive, send and accept about to be submitted is, with probability
 * P (0 < P <= 0.5), submitted short (a receive or send of fewer bytes:
 * the short counts the kernel may return) or replaced by a no-op whose
 * completion the model reads as -EINTR, -EAGAIN or -ENOBUFS (receives and
 * sends), or -EMFILE, -ENFILE or -ENOBUFS (accepts, whose connection then
 * waits in the queue as the kernel leaves it). No operation sees more
 * than two in a row, as no kernel fault persists. What was injected is
 * appended to FILE at exit, a line in the shim's format. -ECONNRESET is
 * not injected: it ends a connection for good, and the suites' abrupt
 * closes make real ones. */
#ifndef EL_URING_FAULTS_H
#define EL_URING_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads ECHOLAB_FAULTS once. Returns true when faults are on; the caller
 * then says so loudly (it is a test hook). */
bool el_uf_init(void);

/* A per-ring random state from the seed and the ring's index. */
uint64_t el_uf_rng(unsigned ring);

/* For a receive or send of len bytes about to be submitted: 0 to submit
 * it as it is, a length under len to submit it short, or a negative errno
 * to replace it with a no-op completed as that error. */
long el_uf_recv(uint64_t *rng, size_t len);
long el_uf_send(uint64_t *rng, size_t len);

/* For an accept about to be submitted: 0, or a negative errno as above. */
long el_uf_accept(uint64_t *rng);

#endif
