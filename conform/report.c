/* echolab-conform's outputs for machines and people: JUnit XML, JSON, and a
 * self-contained HTML page (Autobahn|Testsuite's report is the model: the
 * cases by category, the verdict coloured, each failure's transcript
 * expandable, the section of the protocol named). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "conform.h"
#include "json.h"

const char *const el_conf_categories[] = {"proto", "conc", "robust", "life", "wire", NULL};

void el_conf_replay(const struct el_conf_opts *o, const char *id, char *out, size_t len)
{
	/* Each word quoted as the shell reads it back, so that the line
	 * pastes: a command with quotes of its own keeps them. */
	char port[80], max_line[32];
	if (strchr(o->host, ':'))
		snprintf(port, sizeof(port), "[%s]:%u", o->host, o->port);
	else
		snprintf(port, sizeof(port), "%s:%u", o->host, o->port);
	snprintf(max_line, sizeof(max_line), "%ld", o->max_line);
	char timeout[32], skew[32];
	snprintf(timeout, sizeof(timeout), "%g", o->timeout_s);
	snprintf(skew, sizeof(skew), "%g", o->skew_s);
	char *w[13];
	int n = 0;
	w[n++] = (char *)o->self;
	w[n++] = o->server_cmd ? "--server-cmd" : "--target";
	w[n++] = o->server_cmd ? (char *)o->server_cmd : port;
	if (o->raw)
		w[n++] = "--raw";
	if (o->max_line != 8192) {
		w[n++] = "--max-line";
		w[n++] = max_line;
	}
	/* The bounds a verdict depends on, when not the defaults. */
	if (o->timeout_s != 5) {
		w[n++] = "--timeout";
		w[n++] = timeout;
	}
	if (o->skew_s != 2) {
		w[n++] = "--skew";
		w[n++] = skew;
	}
	w[n++] = "--cases";
	w[n++] = (char *)id;
	el_cli_shell_line(out, len, n, w);
}

void el_conf_print_line(FILE *out, const struct el_conf_opts *o, const struct el_conf_result *r, bool quiet)
{
	if (quiet && r->verdict != EL_CONF_FAIL)
		return;
	fprintf(out, "%-4s %s  %s", el_conf_verdict_name(r->verdict), r->c->id, r->c->title);
	if (r->reason[0])
		fprintf(out, ": %s", r->reason);
	fputc('\n', out);
	if (r->verdict == EL_CONF_FAIL) {
		fprintf(out, "     section: %s\n", r->c->section);
		for (const char *p = r->transcript; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(out, "     | %.*s\n", (int)len, p);
			p += len + (nl != NULL);
		}
		char replay[8192];
		el_conf_replay(o, r->c->id, replay, sizeof(replay));
		fprintf(out, "     replay: %s\n", replay);
	}
	fflush(out);
}

static void xml_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch < 0x20 && ch != '\n' && ch != '\t')
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

static void json_text(FILE *f, const char *s)
{
	el_json_cstring(f, s);
}

/* The verdicts; a server that could not be reached is one failure, as on
 * the last line. */
static void counts(const struct el_conf_report *r, int c[4])
{
	c[0] = c[1] = c[2] = c[3] = 0;
	for (size_t i = 0; i < r->n; i++)
		c[r->res[i].verdict]++;
	c[EL_CONF_FAIL] += r->error != NULL;
}

/* Passed as the last line counts it: info (a measured behaviour the
 * protocol allows) is a pass, so that every output gives one number. */
static int passed(const int c[4])
{
	return c[EL_CONF_OK] + c[EL_CONF_INFO];
}

int el_conf_write_junit(FILE *f, const struct el_conf_report *r)
{
	int c[4];
	counts(r, c);
	double total = 0;
	for (size_t i = 0; i < r->n; i++)
		total += r->res[i].seconds;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
	fprintf(f, "  <testsuite name=\"echolab-conform\" tests=\"%zu\" failures=\"%d\" skipped=\"%d\" "
		   "errors=\"0\" time=\"%.3f\" timestamp=\"",
		r->n + (r->error != NULL), c[EL_CONF_FAIL], c[EL_CONF_SKIP], total);
	xml_text(f, r->started_at);
	fprintf(f, "\">\n");
	/* No case ran: one failing testcase says why, so that a CI system
	 * shows a failure rather than an empty suite. */
	if (r->error) {
		fprintf(f, "    <testcase classname=\"echolab-conform\" name=\"server\" time=\"0\">\n"
			   "      <failure message=\"");
		xml_text(f, r->error);
		fprintf(f, "\" type=\"the server\">");
		xml_text(f, r->error);
		fprintf(f, "</failure>\n    </testcase>\n");
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct el_conf_result *x = &r->res[i];
		char cls[64];
		snprintf(cls, sizeof(cls), "%.*s", (int)strcspn(x->c->id, "."), x->c->id);
		fprintf(f, "    <testcase classname=\"echolab-conform.%s\" name=\"", cls);
		xml_text(f, x->c->id);
		fprintf(f, "\" time=\"%.3f\">\n", x->seconds);
		if (x->verdict == EL_CONF_FAIL) {
			char replay[8192];
			el_conf_replay(r->o, x->c->id, replay, sizeof(replay));
			fprintf(f, "      <failure message=\"");
			xml_text(f, x->reason);
			fprintf(f, "\" type=\"");
			xml_text(f, x->c->section);
			fprintf(f, "\">");
			xml_text(f, x->transcript);
			fprintf(f, "replay: ");
			xml_text(f, replay);
			fprintf(f, "</failure>\n");
		} else if (x->verdict == EL_CONF_SKIP) {
			fprintf(f, "      <skipped message=\"");
			xml_text(f, x->reason);
			fprintf(f, "\"/>\n");
		} else if (x->verdict == EL_CONF_INFO) {
			fprintf(f, "      <system-out>");
			xml_text(f, x->reason);
			fprintf(f, "</system-out>\n");
		}
		fprintf(f, "    </testcase>\n");
	}
	fprintf(f, "  </testsuite>\n</testsuites>\n");
	return ferror(f) ? -1 : 0;
}

int el_conf_write_json(FILE *f, const struct el_conf_report *r)
{
	int c[4];
	counts(r, c);
	fprintf(f, "{\n  \"tool\": \"echolab-conform\",\n  \"command\": ");
	json_text(f, r->command);
	fprintf(f, ",\n  \"started_at\": ");
	json_text(f, r->started_at);
	fprintf(f, ",\n  \"mode\": \"%s\",\n  \"max_line\": %ld,\n", r->o->raw ? "raw" : "annotated",
		r->o->max_line);
	/* "info": how many of the passed were info. */
	fprintf(f, "  \"passed\": %d,\n  \"failed\": %d,\n  \"skipped\": %d,\n  \"info\": %d,\n  \"error\": ",
		passed(c), c[EL_CONF_FAIL], c[EL_CONF_SKIP], c[EL_CONF_INFO]);
	if (r->error)
		json_text(f, r->error);
	else
		fputs("null", f);
	fputs(",\n  \"cases\": [\n", f);
	for (size_t i = 0; i < r->n; i++) {
		const struct el_conf_result *x = &r->res[i];
		fprintf(f, "    {\"id\": ");
		json_text(f, x->c->id);
		fprintf(f, ", \"title\": ");
		json_text(f, x->c->title);
		fprintf(f, ", \"section\": ");
		json_text(f, x->c->section);
		fprintf(f, ", \"verdict\": \"%s\", \"seconds\": %.3f, \"reason\": ",
			x->verdict == EL_CONF_FAIL ? "fail" : el_conf_verdict_name(x->verdict), x->seconds);
		json_text(f, x->reason);
		if (x->verdict == EL_CONF_FAIL) {
			char replay[8192];
			el_conf_replay(r->o, x->c->id, replay, sizeof(replay));
			fprintf(f, ", \"transcript\": ");
			json_text(f, x->transcript);
			fprintf(f, ", \"replay\": ");
			json_text(f, replay);
		}
		fprintf(f, "}%s\n", i + 1 < r->n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return ferror(f) ? -1 : 0;
}

void el_conf_html_text(FILE *f, const char *s)
{
	xml_text(f, s);
}

/* The section's anchor in docs/protocol.md as GitHub renders it. */
static void anchor(FILE *f, const char *section)
{
	for (const char *p = section; *p; p++) {
		char ch = *p;
		if (ch >= 'A' && ch <= 'Z')
			fputc(ch - 'A' + 'a', f);
		else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')
			fputc(ch, f);
		else if (ch == ' ')
			fputc('-', f);
	}
}

int el_conf_write_html(FILE *f, const struct el_conf_report *r)
{
	int c[4];
	counts(r, c);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		   "<title>echolab-conform: %d passed, %d failed, %d skipped</title>\n",
		passed(c), c[EL_CONF_FAIL], c[EL_CONF_SKIP]);
	fputs("<style>\n"
	      "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em;color:#222}\n"
	      "table{border-collapse:collapse;width:100%}td,th{padding:.3em .5em;border-bottom:1px solid #ddd;"
	      "text-align:left;vertical-align:top}\n"
	      ".ok{background:#d9f2d9}.FAIL{background:#f8c9c9;font-weight:bold}.info{background:#dbe8fb}"
	      ".skip{background:#eee;color:#666}\n"
	      "td.v{width:4em;text-align:center}code,pre{font:13px/1.35 ui-monospace,monospace}"
	      "pre{white-space:pre-wrap;word-break:break-all;background:#fafafa;padding:.5em;border:1px solid #ddd}\n"
	      "h2{margin-top:1.5em}.sum span{display:inline-block;padding:.2em .6em;margin-right:.4em}\n"
	      "@media (max-width:40em){td.s,th.s{display:none}}\n"
	      "</style></head><body>\n",
	      f);
	fputs("<h1>echolab-conform</h1>\n<p><code>", f);
	el_conf_html_text(f, r->command);
	fputs("</code><br>started ", f);
	el_conf_html_text(f, r->started_at);
	fprintf(f, ", %s mode, max-line %ld</p>\n", r->o->raw ? "raw" : "annotated", r->o->max_line);
	/* The terminal's last line, info counted as passed and said so. */
	fprintf(f, "<p class=\"sum\"><span class=\"ok\">%d passed", passed(c));
	if (c[EL_CONF_INFO])
		fprintf(f, " (%d of them info)", c[EL_CONF_INFO]);
	fprintf(f, ",</span> <span class=\"FAIL\">%d failed,</span> <span class=\"skip\">%d skipped</span></p>\n",
		c[EL_CONF_FAIL], c[EL_CONF_SKIP]);
	if (r->error) {
		fputs("<p class=\"FAIL\">", f);
		el_conf_html_text(f, r->error);
		fputs("</p>\n", f);
	}
	const char *const *cats = el_conf_categories;
	for (size_t k = 0; cats[k]; k++) {
		size_t len = strlen(cats[k]);
		bool any = false;
		for (size_t i = 0; i < r->n; i++) {
			const struct el_conf_result *x = &r->res[i];
			if (strncmp(x->c->id, cats[k], len) != 0 || x->c->id[len] != '.')
				continue;
			if (!any)
				fprintf(f, "<h2>%s</h2>\n<table><tr><th>verdict</th><th>case</th><th>what</th>"
					   "<th class=\"s\">section</th></tr>\n",
					cats[k]);
			any = true;
			const char *v = el_conf_verdict_name(x->verdict);
			fprintf(f, "<tr><td class=\"v %s\">%s</td><td><code id=\"", v, v);
			el_conf_html_text(f, x->c->id);
			fputs("\">", f);
			el_conf_html_text(f, x->c->id);
			fputs("</code></td><td>", f);
			el_conf_html_text(f, x->c->title);
			if (x->reason[0]) {
				fputs("<br><i>", f);
				el_conf_html_text(f, x->reason);
				fputs("</i>", f);
			}
			if (x->verdict == EL_CONF_FAIL) {
				char replay[8192];
				el_conf_replay(r->o, x->c->id, replay, sizeof(replay));
				fputs("<details><summary>transcript</summary><pre>", f);
				el_conf_html_text(f, x->transcript);
				fputs("</pre><p>replay: <code>", f);
				el_conf_html_text(f, replay);
				fputs("</code></p></details>", f);
			}
			fputs("</td><td class=\"s\">", f);
			if (strncmp(x->c->section, "docs/", 5) == 0) {
				el_conf_html_text(f, x->c->section);
			} else {
				fputs("<a href=\"#spec-", f);
				anchor(f, x->c->section);
				fputs("\">", f);
				el_conf_html_text(f, x->c->section);
				fputs("</a>", f);
			}
			fputs("</td></tr>\n", f);
		}
		if (any)
			fputs("</table>\n", f);
	}
	/* The protocol itself, so that the links above work offline. */
	fputs("<h2 id=\"spec\">docs/protocol.md</h2>\n", f);
	for (const char *p = el_conf_protocol_md; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(len < 1000 ? len : 1000), p);
		if (strncmp(line, "## ", 3) == 0) {
			fputs("<h3 id=\"spec-", f);
			anchor(f, line + 3);
			fputs("\">", f);
			el_conf_html_text(f, line + 3);
			fputs("</h3>\n", f);
		} else if (strncmp(line, "# ", 2) != 0) {
			el_conf_html_text(f, line);
			fputs(line[0] ? "<br>\n" : "<br>\n", f);
		}
		p += len + (nl != NULL);
	}
	fputs("</body></html>\n", f);
	return ferror(f) ? -1 : 0;
}
