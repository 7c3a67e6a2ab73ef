/* echolab-conform --class --bench CLIENTS: a load figure for each graded
 * submission and for echolab's reference models, by echolab-bench's own
 * cell (bench_run_cell), one at a time: a figure needs the machine to
 * itself, so the figures run after every submission was graded, never
 * beside grading or beside each other. */
#include "class.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "traits.h"

static const unsigned ref_traits[EL_CLASS_NREFS] = {EL_TRAIT_SEQUENTIAL, EL_TRAIT_PROCESS_PER_CONNECTION,
						    EL_TRAIT_THREAD_PER_CONNECTION};

static double epoch_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* The sandbox's start for the bench's server by command. */
static int start_in_sandbox(void *arg, struct el_sup *s, const char *cmd, const char *host, unsigned port,
			    const char *out_path, const char *err_path, char *why, size_t whylen)
{
	int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
	int out = open(out_path, flags, 0644), err = open(err_path, flags, 0644);
	int rc = el_conf_start_sandboxed(arg, s, cmd, host, port, out, err, 10000, why, whylen);
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	return rc;
}

/* One cell: model (an echolab model, or by command when cmd is not NULL)
 * at co->bench_clients, into dir/bench. */
static void run_figure(const struct el_class_opts *co, const char *dir, const char *model, const char *cmd,
		       struct el_sbx *sbx, struct el_class_figure *f)
{
	struct bench_cfg cfg = {
		.server = co->server_bin,
		.monitor = co->monitor_bin,
		.nmodels = 1,
		.ncounts = 1,
		.repeats = 1,
		.duration_s = EL_CLASS_BENCH_S,
		.warmup_s = EL_CLASS_BENCH_WARMUP_S,
		.interval_s = 0.5,
		.msg_size = 64,
		.stop = co->stop,
		.start_cmd = sbx ? start_in_sandbox : NULL,
		.start_cmd_arg = sbx,
	};
	snprintf(cfg.models[0], sizeof(cfg.models[0]), "%s", model);
	cfg.cmds[0] = cmd;
	cfg.counts[0] = co->bench_clients;
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", dir);
	struct bench_cell c = {.clients = co->bench_clients};
	snprintf(c.model, sizeof(c.model), "%s", model);
	snprintf(c.cell_dir, sizeof(c.cell_dir), "bench");
	f->t_start = epoch_s();
	bench_run_cell(&cfg, &c, 0);
	f->t_end = epoch_s();
	if (!c.ran) {
		snprintf(f->note, sizeof(f->note), "did not run: %.250s", c.failure);
		return;
	}
	const struct el_load_result *r = &c.load;
	f->ran = true;
	f->msgs_s = r->window_s > 0 ? (double)r->messages / r->window_s : 0;
	f->p99_us = r->hist.total ? el_hist_percentile(&r->hist, 99) : 0;
	f->errors = (long long)r->errors_total;
	if (c.short_run)
		snprintf(f->note, sizeof(f->note), "%ld of %ld clients answered before the window", c.reached,
			 c.clients);
	else if (c.server_died)
		snprintf(f->note, sizeof(f->note), "the server died during the figure");
	else if (!r->valid)
		snprintf(f->note, sizeof(f->note), "invalid: %s", r->nreasons ? r->reasons[0] : "");
}

void el_class_bench_refs(const struct el_class_opts *co, struct el_class_figure *refs)
{
	struct el_model_info list[32];
	char why[256] = "no echolab-server beside echolab-conform";
	int n = co->server_bin ? el_models_list(co->server_bin, list, 32, why, sizeof(why)) : -1;
	/* Named by their traits until a model is found (a stop may come
	 * first: the reports still name every reference). */
	for (int i = 0; i < EL_CLASS_NREFS; i++) {
		memset(&refs[i], 0, sizeof(refs[i]));
		char words[64];
		el_traits_format(ref_traits[i], ",", words, sizeof(words));
		snprintf(refs[i].model, sizeof(refs[i].model), "(%.28s)", words);
	}
	for (int i = 0; i < EL_CLASS_NREFS && !*co->stop; i++) {
		struct el_class_figure *f = &refs[i];
		const struct el_model_info *m = NULL;
		for (int k = 0; k < n && !m; k++)
			if ((list[k].traits & ref_traits[i]) == ref_traits[i])
				m = &list[k];
		if (!m) {
			snprintf(f->note, sizeof(f->note), "%.250s", n < 0 ? why : "echolab-server has no such model");
			continue;
		}
		snprintf(f->model, sizeof(f->model), "%s", m->name);
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/reference-%s", co->out, m->name);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(f->note, sizeof(f->note), "%.200s: %s", dir, strerror(errno));
			continue;
		}
		run_figure(co, dir, m->name, NULL, NULL, f);
	}
}

/* In the figure's own process: copy, build, figure, all in a fresh
 * sandbox (the grading's is gone with its process). */
static void figure_one(const struct el_class_opts *co, const char *name, int index, struct el_class_figure *f)
{
	char own[PATH_MAX], src[PATH_MAX], why[512] = "", sbx_name[32], log[PATH_MAX + 32];
	snprintf(own, sizeof(own), "%s/%s", co->out, name);
	snprintf(src, sizeof(src), "%s/%s", co->dir, name);
	snprintf(sbx_name, sizeof(sbx_name), "b%d", index);
	struct el_sub u;
	if (el_sub_open(&u, src, sbx_name, !co->unsandboxed, &co->lim, why, sizeof(why)) < 0) {
		snprintf(f->note, sizeof(f->note), "the grader: %s", why);
		return;
	}
	snprintf(log, sizeof(log), "%s/bench-build.log", own);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct el_sbx_result br;
	int rc = el_sub_run(&u, co->build, &co->lim, fd, &br);
	if (fd >= 0)
		close(fd);
	if (rc < 0 || br.end != EL_SBX_EXITED || br.code != 0) {
		snprintf(f->note, sizeof(f->note), "its second build failed (bench-build.log)");
	} else if (u.sbx && el_sbx_enter_net(u.sbx) < 0) {
		snprintf(f->note, sizeof(f->note), "the grader could not enter the sandbox's network");
	} else if (!u.sbx && chdir(u.dir) < 0) {
		snprintf(f->note, sizeof(f->note), "chdir %.200s: %s", u.dir, strerror(errno));
	} else {
		run_figure(co, own, name, co->conf.server_cmd, u.sbx, f);
		if (u.sbx)
			el_sbx_leave_net(u.sbx);
	}
	el_sub_close(&u);
}

static volatile sig_atomic_t *figure_stop;

static void on_figure_signal(int sig)
{
	(void)sig;
	*figure_stop = 1;
}

void el_class_bench_one(const struct el_class_opts *co, const char *name, int index, struct el_class_figure *f)
{
	memset(f, 0, sizeof(*f));
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(f->note, sizeof(f->note), "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(f->note, sizeof(f->note), "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		figure_stop = co->stop;
		struct sigaction sa = {.sa_handler = on_figure_signal};
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		struct el_class_figure mine = {0};
		figure_one(co, name, index, &mine);
		ssize_t w = write(p[1], &mine, sizeof(mine));
		_exit(w == (ssize_t)sizeof(mine) ? 0 : 1);
	}
	close(p[1]);
	bool passed_on = false;
	int st = 0;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			break;
		/* Ctrl-C: the figure stops its load and its server. */
		if (*co->stop && !passed_on) {
			kill(pid, SIGINT);
			passed_on = true;
		}
	}
	if (read(p[0], f, sizeof(*f)) != (ssize_t)sizeof(*f)) {
		memset(f, 0, sizeof(*f));
		snprintf(f->note, sizeof(f->note), "the grader's own process for it failed (wait status %d)", st);
	}
	close(p[0]);
}
