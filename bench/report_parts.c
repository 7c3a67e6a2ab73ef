/* What every mode's report is made of: the machine it ran on, the head
 * of report.md and report.html, files in the results directory, and the
 * plots (gnuplot: SVG inlined in the HTML, PNG beside it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "procstat.h"

void bench_machine(char *buf, size_t len)
{
	struct utsname u;
	uname(&u);
	char text[4096];
	struct el_proc_meminfo m = {0};
	if (el_proc_read("/proc/meminfo", text, sizeof(text)) > 0)
		el_proc_parse_meminfo(text, &m);
	char model[128] = "";
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			const char *v = strchr(line, ':');
			if (v) {
				snprintf(model, sizeof(model), "%s", v + 2);
				model[strcspn(model, "\n")] = 0;
			}
			break;
		}
	}
	if (f)
		fclose(f);
	snprintf(buf, len, "%ld CPUs%s%s%s, %s %s, %.1f GiB of memory",
		 sysconf(_SC_NPROCESSORS_ONLN), model[0] ? " (" : "", model, model[0] ? ")" : "",
		 u.sysname, u.release, (double)m.total_kib / (1024.0 * 1024.0));
}

FILE *bench_open_in(const struct bench_cfg *cfg, const char *name)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", cfg->dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "echolab-bench: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

bool bench_gnuplot(const char *dir, const char *script)
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(126);
		/* Its warnings ("empty x range" for one client count, ten
		 * times) are for whoever reads the plots' script, not for the
		 * terminal: they go to gnuplot.log beside it. */
		int log = open("gnuplot.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log >= 0 && dup2(log, 2) < 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		fprintf(stderr, "echolab-bench: gnuplot is not installed: no plots (apt-get install gnuplot-nox)\n");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "echolab-bench: gnuplot failed on %s/%s (its messages: %s/gnuplot.log)\n", dir,
			script, dir);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Each plot twice: SVG for the HTML, PNG beside it. */
void bench_plot_both(FILE *f, const char *name, const char *body)
{
	fprintf(f, "set terminal svg size 820,480 dynamic font 'sans,11' background '#ffffff'\n"
		   "set output '%s.svg'\n%s\n",
		name, body);
	fprintf(f, "set terminal pngcairo size 820,480 font 'sans,10'\nset output '%s.png'\n%s\n", name,
		body);
	fprintf(f, "unset output\n");
}

void bench_inline_svg(FILE *f, const struct bench_cfg *cfg, const char *name)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s.svg", cfg->dir, name);
	FILE *in = fopen(path, "r");
	if (!in) {
		/* Shown as a missing image: a reader (and ci/browser-check)
		 * sees the hole instead of a report silently short of a plot. */
		fprintf(f, "<figure><img src=\"%s.svg\" alt=\"%s: no plot\"><figcaption>%s.svg is missing"
			   "</figcaption></figure>\n", name, name, name);
		return;
	}
	char buf[8192];
	size_t n;
	bool skipping = true; /* drop the XML prolog and DOCTYPE */
	fprintf(f, "<figure>\n");
	while ((n = fread(buf, 1, sizeof(buf) - 1, in)) > 0) {
		buf[n] = 0;
		const char *p = buf;
		if (skipping) {
			const char *svg = strstr(buf, "<svg");
			if (!svg)
				continue;
			p = svg;
			skipping = false;
		}
		fputs(p, f);
	}
	fclose(in);
	fprintf(f, "<figcaption><a href=\"%s.png\">%s.png</a></figcaption></figure>\n", name, name);
}

/* s with &, <, > and " escaped for HTML. */
static void html_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

void bench_report_head(FILE *f, bool html, const struct bench_cfg *cfg, const char *title, const char *heading)
{
	char machine[512], when[64];
	bench_machine(machine, sizeof(machine));
	time_t now = time(NULL);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	if (!html) {
		fprintf(f, "# %s\n\nMachine: %s. Finished %s.\n\nCommand: `%s`\n\n", heading, machine, when,
			cfg->command);
		for (int i = 0; i < cfg->nmodels; i++)
			if (cfg->cmds[i])
				fprintf(f, "Server **%s**: started by `%s` (not an echolab model).\n\n", cfg->models[i],
					cfg->cmds[i]);
		if (cfg->raw)
			fprintf(f, "Raw mode: the servers echo the bytes (echolab's models with --raw).\n\n");
		if (cfg->session > 0)
			fprintf(f, "Workload: sessions of %ld message%s: each client connects, sends them one at a "
				   "time, closes and connects again; summary.csv has sessions/s and the connect and "
				   "first-reply percentiles.\n\n", cfg->session, cfg->session == 1 ? "" : "s");
		if (cfg->target_host && cfg->target_monitor)
			fprintf(f, "Target: the server already running at %s port %u; its CPU and memory from "
				   "echolab-monitor's CSV `%s`, each cell's rows by wall-clock time.\n\n",
				cfg->target_host, cfg->target_port, cfg->target_monitor);
		else if (cfg->target_host)
			fprintf(f, "Target: the server already running at %s port %u, measured from the client side "
				   "only (its CPU and memory columns are not measured).\n\n",
				cfg->target_host, cfg->target_port);
		else
			fprintf(f, "Placement: %s.\n\n", cfg->placement);
		return;
	}
	/* On a phone's width the page never scrolls sideways: a wide table
	 * scrolls inside itself, plots shrink, long commands wrap. */
	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" "
		   "content=\"width=device-width, initial-scale=1\"><title>%s</title>\n<style>body{"
		   "font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}table{border-collapse:"
		   "collapse;margin:1em 0;display:block;max-width:100%%;overflow-x:auto}td,th{border:1px solid "
		   "#ccc;padding:.2em .5em;text-align:right}td:first-child,th:first-child{text-align:left}"
		   "code{background:#f4f4f4;overflow-wrap:anywhere}figure{margin:1em 0}"
		   "svg,img{max-width:100%%;height:auto}</style></head><body>\n",
		title);
	fprintf(f, "<h1>%s</h1>\n<p>Machine: %s. Finished %s.</p>\n<p>Command: <code>", heading, machine, when);
	html_text(f, cfg->command);
	fprintf(f, "</code></p>\n");
	for (int i = 0; i < cfg->nmodels; i++) {
		if (!cfg->cmds[i])
			continue;
		fprintf(f, "<p>Server <b>");
		html_text(f, cfg->models[i]);
		fprintf(f, "</b>: started by <code>");
		html_text(f, cfg->cmds[i]);
		fprintf(f, "</code> (not an echolab model).</p>\n");
	}
	if (cfg->raw)
		fprintf(f, "<p>Raw mode: the servers echo the bytes (echolab's models with --raw).</p>\n");
	if (cfg->session > 0)
		fprintf(f, "<p>Workload: sessions of %ld message%s: each client connects, sends them one at a time, "
			   "closes and connects again; summary.csv has sessions/s and the connect and first-reply "
			   "percentiles.</p>\n", cfg->session, cfg->session == 1 ? "" : "s");
	if (cfg->target_host) {
		fprintf(f, "<p>Target: the server already running at ");
		html_text(f, cfg->target_host);
		if (cfg->target_monitor) {
			fprintf(f, " port %u; its CPU and memory from echolab-monitor's CSV <code>", cfg->target_port);
			html_text(f, cfg->target_monitor);
			fprintf(f, "</code>, each cell's rows by wall-clock time.</p>\n");
		} else {
			fprintf(f, " port %u, measured from the client side only (its CPU and memory columns are "
				   "not measured).</p>\n", cfg->target_port);
		}
	} else {
		fprintf(f, "<p>Placement: %s.</p>\n", cfg->placement);
	}
}
