/* A class's reports (class_row.h): class.csv, class.json and class.html,
 * a row per submission, the load figures of --bench beside them. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "class.h"
#include "class_row.h"
#include "json.h"

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('"', f);
}

static int ncats(void)
{
	int n = 0;
	while (el_conf_categories[n] && n < MAX_CATS)
		n++;
	return n;
}

static void write_csv(FILE *f, const struct row *rows, int n)
{
	fputs("submission,verdict,passed,failed,skipped", f);
	for (int k = 0; k < ncats(); k++)
		fprintf(f, ",%s_passed,%s_failed", el_conf_categories[k], el_conf_categories[k]);
	fputs(",build_s,grade_s,cpu_s,outside_packets,load_msgs_per_s,load_p99_us,interrupted,detail\n", f);
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		csv_field(f, r->name);
		fprintf(f, ",%s,%d,%d,%d", el_class_verdict_name(r->verdict), r->passed, r->failed, r->skipped);
		for (int k = 0; k < ncats(); k++)
			fprintf(f, ",%d,%d", r->cat_passed[k], r->cat_failed[k]);
		fprintf(f, ",%.2f,%.2f,%.2f,%llu,", r->build_s, r->grade_s, r->cpu_s, (unsigned long long)r->outside);
		if (r->fig.ran)
			fprintf(f, "%.0f,%.0f,", r->fig.msgs_s, r->fig.p99_us);
		else
			fputs(",,", f);
		fprintf(f, "%s,", r->interrupted ? "yes" : "no");
		csv_field(f, r->detail);
		fputc('\n', f);
	}
}

static void json_figure(FILE *f, const struct el_class_figure *g)
{
	if (g->ran)
		fprintf(f, "{\"msgs_per_s\": %.1f, \"p99_us\": %.0f, \"errors\": %lld, ", g->msgs_s, g->p99_us,
			g->errors);
	else
		fputs("{\"msgs_per_s\": null, \"p99_us\": null, \"errors\": null, ", f);
	fprintf(f, "\"start\": %.3f, \"end\": %.3f, \"note\": ", g->t_start, g->t_end);
	el_json_cstring(f, g->note);
	fputc('}', f);
}

static void html_figure(FILE *f, const struct el_class_figure *g)
{
	if (g->ran)
		fprintf(f, "%.0f msg/s, p99 %.0f us", g->msgs_s, g->p99_us);
	else
		fputs("none", f);
	if (g->note[0]) {
		fputs(" (", f);
		el_conf_html_text(f, g->note);
		fputc(')', f);
	}
}

static void write_json(FILE *f, const struct el_class_opts *co, const struct row *rows, int n,
		       const struct el_class_figure *refs, bool interrupted)
{
	fputs("{\"command\": ", f);
	el_json_cstring(f, co->command);
	fprintf(f, ", \"sandboxed\": %s, \"interrupted\": %s,\n \"limits\": {\"processes\": %ld, \"memory_mib\": %ld, "
		   "\"cpu_s\": %g, \"wall_s\": %g},\n \"submissions\": [\n",
		co->unsandboxed ? "false" : "true", interrupted ? "true" : "false", co->lim.pids, co->lim.memory_mib,
		co->lim.cpu_s, co->lim.wall_s);
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		fputs("  {\"submission\": ", f);
		el_json_cstring(f, r->name);
		fprintf(f, ", \"verdict\": \"%s\", \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"categories\": {",
			el_class_verdict_name(r->verdict), r->passed, r->failed, r->skipped);
		for (int k = 0; k < ncats(); k++)
			fprintf(f, "%s\"%s\": {\"passed\": %d, \"failed\": %d}", k ? ", " : "", el_conf_categories[k],
				r->cat_passed[k], r->cat_failed[k]);
		fprintf(f, "}, \"built\": %s, \"build_s\": %.3f, \"grade_s\": %.3f, \"cpu_s\": %.3f, "
			   "\"outside_packets\": %llu, \"interrupted\": %s, \"detail\": ",
			r->built ? "true" : "false", r->build_s, r->grade_s, r->cpu_s, (unsigned long long)r->outside,
			r->interrupted ? "true" : "false");
		el_json_cstring(f, r->detail);
		fputs(", \"load\": ", f);
		if (r->benched)
			json_figure(f, &r->fig);
		else
			fputs("null", f);
		fprintf(f, ", \"report\": %s}%s\n", r->reported ? "true" : "false", i + 1 < n ? "," : "");
	}
	fputs(" ],\n \"load\": ", f);
	if (refs) {
		fprintf(f, "{\"clients\": %ld, \"seconds\": %g, \"warmup_s\": %g, \"reference\": [", co->bench_clients,
			EL_CLASS_BENCH_S, EL_CLASS_BENCH_WARMUP_S);
		for (int i = 0; i < EL_CLASS_NREFS; i++) {
			fprintf(f, "%s\n  {\"model\": \"%s\", \"figure\": ", i ? "," : "", refs[i].model);
			json_figure(f, &refs[i]);
			fputc('}', f);
		}
		fputs("]}", f);
	} else {
		fputs("null", f);
	}
	fputs("\n}\n", f);
}

/* A link to a student's file: the name percent-encoded where a URL needs
 * it. */
static void html_href(FILE *f, const char *name, const char *file)
{
	fputs("<a href=\"", f);
	for (const char *p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-_.~", ch))
			fputc(ch, f);
		else
			fprintf(f, "%%%02X", ch);
	}
	fprintf(f, "/%s\">", file);
}

static void write_html(FILE *f, const struct el_class_opts *co, const struct row *rows, int n,
		       const struct el_class_figure *refs, bool interrupted)
{
	int count[EL_CLASS_NVERDICTS] = {0};
	for (int i = 0; i < n; i++)
		count[rows[i].verdict]++;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		   "<title>echolab-conform: a class of %d</title>\n<style>\n"
		   "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:80em;padding:0 1em;color:#222}\n"
		   "table{border-collapse:collapse;width:100%%}td,th{padding:.3em .5em;border-bottom:1px solid #ddd;"
		   "text-align:left;vertical-align:top}\nth{cursor:pointer;user-select:none}th:after{content:' \\2195';"
		   "color:#aaa}\ntd.n{text-align:right;font-variant-numeric:tabular-nums}\n"
		   ".graded{background:#d9f2d9}.bad{background:#f8c9c9;font-weight:bold}\n"
		   "code{font:13px/1.35 ui-monospace,monospace}\n"
		   "@media (max-width:40em){.c,.t{display:none}}\n</style></head><body>\n"
		   "<h1>echolab-conform: a class of %d</h1>\n<p><code>",
		n, n);
	el_conf_html_text(f, co->command);
	fprintf(f, "</code><br>%s; limits: %ld processes, %ld MiB, %g s of CPU, %g s a phase%s</p>\n<p>",
		co->unsandboxed ? "<b>unsandboxed</b> (--unsandboxed)" : "each submission in a sandbox", co->lim.pids,
		co->lim.memory_mib, co->lim.cpu_s, co->lim.wall_s, interrupted ? "; <b>interrupted</b> (Ctrl-C)" : "");
	for (int v = 0; v < EL_CLASS_NVERDICTS; v++)
		if (count[v])
			fprintf(f, "%s%d %s", v ? " &middot; " : "", count[v], el_class_verdict_name(v));
	if (refs) {
		fprintf(f, "</p>\n<p>Load figures, one at a time with nothing beside them: %ld clients in a closed "
			   "loop, 64-byte messages, %g s after %g s of warm-up. Reference models (echolab-server): ",
			co->bench_clients, EL_CLASS_BENCH_S, EL_CLASS_BENCH_WARMUP_S);
		for (int i = 0; i < EL_CLASS_NREFS; i++) {
			fprintf(f, "%s<b>%s</b> ", i ? " &middot; " : "", refs[i].model);
			html_figure(f, &refs[i]);
		}
	}
	fputs("</p>\n<div style=\"overflow-x:auto\"><table id=\"class\"><thead><tr><th>submission</th><th>verdict</th><th>passed</th>"
	      "<th>failed</th><th>skipped</th>",
	      f);
	for (int k = 0; k < ncats(); k++)
		fprintf(f, "<th class=\"c\">%s</th>", el_conf_categories[k]);
	fputs("<th>build</th><th class=\"t\">seconds</th>", f);
	if (refs)
		fputs("<th>load</th>", f);
	fputs("<th>sandbox</th><th>detail</th></tr></thead><tbody>\n", f);
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		fputs("<tr><td>", f);
		if (r->reported) {
			html_href(f, r->name, "report.html");
			el_conf_html_text(f, r->name);
			fputs("</a>", f);
		} else {
			el_conf_html_text(f, r->name);
		}
		fprintf(f, "</td><td class=\"%s\">%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td>",
			r->verdict == EL_CLASS_GRADED ? "graded" : "bad", el_class_verdict_name(r->verdict), r->passed,
			r->failed, r->skipped);
		for (int k = 0; k < ncats(); k++) {
			int total = r->cat_passed[k] + r->cat_failed[k];
			if (total)
				fprintf(f, "<td class=\"n c\" data-v=\"%d\">%d/%d</td>", r->cat_passed[k], r->cat_passed[k],
					total);
			else
				fputs("<td class=\"n c\" data-v=\"-1\">-</td>", f);
		}
		fputs("<td>", f);
		html_href(f, r->name, "build.log");
		fprintf(f, "%s</a></td><td class=\"n t\">%.1f</td>", r->built ? "ok" : "failed", r->build_s + r->grade_s);
		if (refs) {
			fprintf(f, "<td data-v=\"%.0f\">", r->fig.ran ? r->fig.msgs_s : -1.0);
			if (r->benched)
				html_figure(f, &r->fig);
			else
				fputs("-", f);
			fputs("</td>", f);
		}
		fputs("<td>", f);
		if (r->outside)
			fprintf(f, "tried to reach outside: %llu packets dropped", (unsigned long long)r->outside);
		fprintf(f, "%s%.1f s CPU</td><td>", r->outside ? "; " : "", r->cpu_s);
		el_conf_html_text(f, r->detail);
		if (r->interrupted)
			fputs(" (interrupted)", f);
		fputs("</td></tr>\n", f);
	}
	/* Sorting by a column: numbers as numbers, "3/5" by its first. */
	fputs("</tbody></table></div>\n<script>\n"
	      "document.querySelectorAll('#class th').forEach(function(th,col){th.addEventListener('click',function(){\n"
	      "var tb=document.querySelector('#class tbody'),rows=Array.from(tb.rows),up=th.dataset.up!=='1';\n"
	      "th.dataset.up=up?'1':'0';function key(r){var c=r.cells[col],v=c.dataset.v!==undefined?c.dataset.v:c.textContent;"
	      "var x=parseFloat(v);return isNaN(x)?v.toLowerCase():x;}\n"
	      "rows.sort(function(a,b){var x=key(a),y=key(b);return (x<y?-1:x>y?1:0)*(up?1:-1);});"
	      "rows.forEach(function(r){tb.appendChild(r);});});});\n</script>\n</body></html>\n",
	      f);
}

/* class.csv, class.json, class.html into co->out. Returns 0 or -1. */
int el_class_write_reports(const struct el_class_opts *co, const struct row *rows, int n,
			   const struct el_class_figure *refs, bool interrupted)
{
	static const char *const files[] = {"class.csv", "class.json", "class.html"};
	int rc = 0;
	for (int i = 0; i < 3; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", co->out, files[i]);
		FILE *f = fopen(path, "w");
		if (!f) {
			fprintf(stderr, "echolab-conform: %s: %s\n", path, strerror(errno));
			rc = -1;
			continue;
		}
		if (i == 0)
			write_csv(f, rows, n);
		else if (i == 1)
			write_json(f, co, rows, n, refs, interrupted);
		else
			write_html(f, co, rows, n, refs, interrupted);
		if (fclose(f) != 0)
			rc = -1;
	}
	return rc;
}
