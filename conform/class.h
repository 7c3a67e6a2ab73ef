/* echolab-conform --class DIR and --sandbox (docs/conform.md): a
 * submission's folder is copied into a scratch folder of its own, built
 * and graded there inside a sandbox (sandbox.h); a class is every folder
 * of DIR graded so, a process each, into one report (class.html,
 * class.csv, class.json) and each student's own (OUT/NAME/). */
#ifndef EL_CLASS_H
#define EL_CLASS_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "conform.h"
#include "sandbox.h"

/* A submission's copy: work/submission, sandboxed unless asked not to. */
struct el_sub {
	char work[64];          /* the scratch folder (mkdtemp) */
	char dir[PATH_MAX];     /* the copy, where its commands run */
	struct el_sbx *sbx;     /* NULL when unsandboxed */
};

/* Copies src into a scratch folder and, when sandboxed, makes a sandbox of
 * limits lim over the copy, named name. Returns 0, or -errno with one line
 * in why. */
int el_sub_open(struct el_sub *u, const char *src, const char *name, bool sandboxed,
		const struct el_sbx_limits *lim, char *why, size_t whylen);
/* Runs cmd in the copy (inside the sandbox, or as a process group of its
 * own in the copy when unsandboxed, held to lim's wall time), its output
 * into log_fd. r says how it ended. Returns 0 or -errno. */
int el_sub_run(struct el_sub *u, const char *cmd, const struct el_sbx_limits *lim, int log_fd,
	       struct el_sbx_result *r);
/* Kills what is left, removes the sandbox and the copy. */
void el_sub_close(struct el_sub *u);

/* The class's verdicts (docs/interface.md fixes their names). */
enum el_class_verdict {
	EL_CLASS_GRADED,
	EL_CLASS_BUILD_FAILED,
	EL_CLASS_NEVER_LISTENED,
	EL_CLASS_CRASHED,
	EL_CLASS_PROCESS_LIMIT,
	EL_CLASS_MEMORY_LIMIT,
	EL_CLASS_TIME_LIMIT,
	EL_CLASS_NVERDICTS
};
const char *el_class_verdict_name(int v);

struct el_class_opts {
	struct el_conf_opts conf; /* the grading's: server_cmd, raw, ... */
	const char *cases;        /* --cases, or NULL */
	const char *dir;          /* --class DIR */
	const char *out;          /* --out OUT */
	const char *build;        /* --build CMD */
	struct el_sbx_limits lim; /* each phase's wall time, the CPU time of the whole */
	int jobs;                 /* submissions graded at once */
	bool unsandboxed;         /* --unsandboxed */
	long bench_clients;       /* --bench CLIENTS; 0: no load figures */
	const char *server_bin;   /* echolab-server, for the reference models */
	const char *monitor_bin;  /* echolab-monitor, for the figures */
	const char *command;      /* the command line, for the reports */
	volatile sig_atomic_t *stop;
};

/* A load figure (--bench): co->bench_clients clients in a closed loop,
 * 64-byte messages, measured EL_CLASS_BENCH_S after a warm-up, by
 * echolab-bench's cell, its files in OUT/NAME/bench/. */
#define EL_CLASS_BENCH_S 3.0
#define EL_CLASS_BENCH_WARMUP_S 1.0
struct el_class_figure {
	bool ran;
	double msgs_s, p99_us;
	long long errors;
	double t_start, t_end; /* its wall-clock window (s since the epoch) */
	char model[32];        /* a reference's: the model it measured */
	char note[320];        /* why it has none, or what marks it */
};
/* The reference models, echolab-server's, measured beside the class: the
 * lab's three, by trait (one connection at a time, a process and a thread
 * per connection: iterative, fork and thread). */
#define EL_CLASS_NREFS 3
/* Each reference model's figure, one after another, in this process, into
 * OUT/reference-MODEL/bench/. */
void el_class_bench_refs(const struct el_class_opts *co, struct el_class_figure *refs);
/* Submission name's figure, in a process of its own: copied, built again
 * and served in a sandbox of its own (unless co->unsandboxed). */
void el_class_bench_one(const struct el_class_opts *co, const char *name, int index, struct el_class_figure *f);

/* Grades every folder of co->dir. Prints a line a submission and the
 * reports' paths. Returns 0 when the class was graded and its report
 * written, 1 when it could not be (one line on stderr), 130 after Ctrl-C
 * (the report of what was graded written). */
int el_class_grade(const struct el_class_opts *co);

#endif
