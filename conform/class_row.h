/* What grading a class (class.c) hands its reports (class_report.c):
 * a submission's row. Internal to conform/. */
#ifndef EL_CLASS_ROW_H
#define EL_CLASS_ROW_H

#include <stdbool.h>
#include <stdint.h>

#include "class.h"

#define MAX_CATS 8

/* What a submission's grading sends back to the class (through a pipe:
 * one write, under PIPE_BUF). */
struct row {
	char name[128];
	int verdict;
	int passed, failed, skipped;
	int cat_passed[MAX_CATS], cat_failed[MAX_CATS];
	double build_s, grade_s, cpu_s;
	uint64_t outside;        /* packets toward outside, dropped */
	bool built, interrupted, reported;
	char detail[400];        /* why the verdict, one line */
	bool benched;            /* --bench: a figure was attempted */
	struct el_class_figure fig;
};

/* class.csv, class.json, class.html of n rows into co->out; refs: the
 * reference models' load figures (EL_CLASS_NREFS), NULL without --bench;
 * interrupted: the class was stopped before every submission was graded.
 * Returns 0, or -1 after saying which file failed. */
int el_class_write_reports(const struct el_class_opts *co, const struct row *rows, int n,
			   const struct el_class_figure *refs, bool interrupted);

#endif
