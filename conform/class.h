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
	const char *command;      /* the command line, for the reports */
	volatile sig_atomic_t *stop;
};

/* Grades every folder of co->dir. Prints a line a submission and the
 * reports' paths. Returns 0 when the class was graded and its report
 * written, 1 when it could not be (one line on stderr), 130 after Ctrl-C
 * (the report of what was graded written). */
int el_class_grade(const struct el_class_opts *co);

#endif
