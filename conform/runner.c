/* The runner of echolab-conform's cases: an instance of the server per
 * settings (by command, in the sandbox, or a target already running), a
 * case run on it, and what a death of the server means for the case. A
 * helper of cases/helpers.c that finds the server wrong fails the case at
 * once (longjmp here, as Criterion's asserts do); the runner then closes
 * every client the case opened. */
#include "cases.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "reply.h"
#include "sandbox.h"

const char *el_conf_verdict_name(int v)
{
	static const char *const n[] = {"ok", "FAIL", "info", "skip"};
	return v >= 0 && v <= EL_CONF_SKIP ? n[v] : "?";
}

bool el_conf_selected(const char *patterns, const char *id)
{
	if (!patterns || !*patterns)
		return true;
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", patterns);
	bool any_positive = false, in = false;
	for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (p[0] == '!') {
			if (fnmatch(p + 1, id, 0) == 0)
				return false;
			continue;
		}
		any_positive = true;
		in = in || fnmatch(p, id, 0) == 0;
	}
	return in || !any_positive;
}

static const char *settings_line(const struct el_sup_settings *s, char *buf, size_t len)
{
	snprintf(buf, len, "max_line=%ld max_conns=%ld idle_timeout=%g backlog=%ld", s->max_line, s->max_conns,
		 s->idle_timeout, s->backlog);
	return buf;
}

void el_conf_runner_init(struct el_conf_runner *r, const struct el_conf_opts *o)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	snprintf(r->err_path, sizeof(r->err_path), "/tmp/echolab-conform-err.%d", (int)getpid());
	snprintf(r->out_path, sizeof(r->out_path), "/tmp/echolab-conform-out.%d", (int)getpid());
}

/* The settings case c asks for. */
static struct el_sup_settings settings_for(const struct el_conf_opts *o, const struct el_conf_case *c)
{
	struct el_sup_settings s = {
		.bind = "127.0.0.1",
		.backlog = c->backlog ? c->backlog : 128,
		.max_line = o->max_line,
		/* Above what any case opens at once, unless the case tests it. */
		.max_conns = c->max_conns ? c->max_conns : 2048,
		.idle_timeout = c->idle_timeout,
	};
	return s;
}

static bool same_settings(const struct el_sup_settings *a, const struct el_sup_settings *b)
{
	return a->backlog == b->backlog && a->max_line == b->max_line && a->max_conns == b->max_conns &&
	       a->idle_timeout == b->idle_timeout;
}

static void stop_instance(struct el_conf_runner *r)
{
	if (!r->up)
		return;
	el_sup_stop(&r->sup, SIGTERM, true, 3000 * (r->o->slow > 1 ? r->o->slow : 1), NULL);
	r->up = false;
}

/* What a signal that ended a server usually means, for a student reading
 * the grade: the cause before the symptom a client saw. */
static const struct {
	int sig;
	const char *means;
} death_hints[] = {
	{SIGPIPE, "usually a write to a connection its client had closed or reset, without send(2)'s "
		  "MSG_NOSIGNAL and without ignoring SIGPIPE (signal(SIGPIPE, SIG_IGN))"},
	{SIGSEGV, "an invalid memory access: a NULL, freed or wild pointer, or a buffer overrun"},
	{SIGBUS, "an invalid memory access: a misaligned or unmapped address"},
	{SIGABRT, "abort(): a failed assert(), or the C library found its heap corrupt (a double free, an overrun)"},
	{SIGFPE, "an arithmetic error: an integer division by zero"},
	{SIGKILL, "killed from outside: the kernel's OOM killer, or a resource limit"},
};

/* How a wait status ended the server: "died of SIGPIPE" or "exited with
 * status 3" into how, and what that usually means into *means (NULL when
 * nothing useful). Through a shell (via_shell), a status of 129..159 is
 * the shell's report that the server died of signal status - 128. */
static void describe_end(int status, bool via_shell, char *how, size_t howlen, const char **means)
{
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	if (!sig && via_shell && code > 128 && code < 128 + 32 && sigabbrev_np(code - 128))
		sig = code - 128;
	*means = NULL;
	char name[32];
	if (!sig)
		snprintf(how, howlen, "exited with status %d", code);
	else
		snprintf(how, howlen, "died of %s", el_sup_signal_name(sig, name, sizeof(name)));
	for (size_t i = 0; sig && i < sizeof(death_hints) / sizeof(death_hints[0]); i++)
		if (death_hints[i].sig == sig)
			*means = death_hints[i].means;
	/* Any other signal: at least its description (SIGUSR1's "User
	 * defined signal 1"). */
	size_t n = strlen(how);
	if (sig && !*means && n < howlen)
		snprintf(how + n, howlen - n, " (%s)", strsignal(sig));
}

/* The transcript's line on the death: how, and the shell's own status
 * when the signal was read from it. */
static void note_end(struct el_conf_ctx *x, int status, const char *how)
{
	if (WIFEXITED(status) && strncmp(how, "died", 4) == 0)
		cf_note(x, "-- the server %s (its shell exited with status %d)", how, WEXITSTATUS(status));
	else
		cf_note(x, "-- the server %s", how);
}

/* Whether process pid is on its way out: PF_EXITING in its
 * /proc/PID/stat flags (set before its sockets close), or a zombie. */
static bool exiting(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	char state;
	unsigned flags;
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
		return false;
	return state == 'Z' || (flags & 0x4) != 0; /* PF_EXITING, include/linux/sched.h */
}

/* Whether the instance is dying: a server killed by a signal closes its
 * sockets, so that clients see resets, a moment before it can be reaped.
 * One run through a shell is the shell's child: the shell exits a moment
 * after it, and a shell with no child left is on its way out too. */
static bool dying(const struct el_conf_runner *r)
{
	if (exiting(r->sup.pid))
		return true;
	if (!el_sup_uses_shell(r->cmd))
		return false;
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)r->sup.pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool shell = fgets(comm, sizeof(comm), f) && strcmp(comm, "sh\n") == 0;
	fclose(f);
	if (!shell)
		return false; /* the command exec'd the server itself */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)r->sup.pid, (int)r->sup.pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	bool any = false, gone = true;
	int child;
	while (!any && fscanf(f, "%d", &child) == 1) {
		gone = false;
		any = exiting(child);
	}
	fclose(f);
	return any || gone;
}

/* Whether the running instance is alive. One on its way out is waited
 * for (at most 2 s), so that a case does not pass its check a moment
 * before the death it caused. */
static bool instance_alive(struct el_conf_runner *r)
{
	if (!el_sup_alive(&r->sup))
		return false;
	for (int ms = 0; ms < 2000 && dying(r); ms += 5) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
		if (!el_sup_alive(&r->sup))
			return false;
	}
	return true;
}

/* The dead instance reaped (its group too), and remembered for the
 * cases after it. */
static void instance_died(struct el_conf_runner *r, const char *in, const char *how)
{
	snprintf(r->died_in, sizeof(r->died_in), "%s", in ? in : "");
	snprintf(r->died_how, sizeof(r->died_how), "%s", how);
	r->died_told = false;
	el_sup_stop(&r->sup, SIGKILL, true, 0, NULL);
	r->up = false;
}

int el_conf_runner_finish(struct el_conf_runner *r, char *why, size_t whylen)
{
	int rc = 0;
	/* A death after the last case's check is still a death. */
	if (r->up && r->last_case && !instance_alive(r)) {
		char how[128];
		const char *means;
		describe_end(r->sup.status, el_sup_uses_shell(r->cmd), how, sizeof(how), &means);
		snprintf(why, whylen, "the server %s after the last case (%s)%s%s", how, r->last_case,
			 means ? ": " : "", means ? means : "");
		el_sup_stop(&r->sup, SIGKILL, true, 0, NULL);
		r->up = false;
		rc = -1;
	}
	if (r->up) {
		int left = 0;
		el_sup_stop(&r->sup, SIGTERM, true, 3000 * (r->o->slow > 1 ? r->o->slow : 1), &left);
		r->up = false;
		if (left) {
			snprintf(why, whylen, "%d processes of the server were still there after SIGKILL", left);
			rc = -1;
		}
	}
	unlink(r->err_path);
	unlink(r->out_path);
	return rc;
}

/* The last line the server wrote on stderr, for a reason. */
static void last_err_line(const char *path, char *out, size_t len)
{
	out[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[256];
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n')
			snprintf(out, len, "%.*s", (int)strcspn(line, "\n"), line);
	fclose(f);
}

/* Why case c cannot run here, or NULL. */
static const char *cannot_run(const struct el_conf_opts *o, const struct el_conf_case *c, char *buf,
			      size_t len)
{
	if ((c->needs & EL_CONF_ANNOTATED) && o->raw)
		return "annotated mode only (the server is graded with --raw)";
	if ((c->needs & EL_CONF_RAW) && !o->raw)
		return "raw mode only (--raw)";
	if ((c->needs & EL_CONF_LOG) && !o->server_cmd)
		return "needs the server's standard output: use --server-cmd";
	if ((c->needs & (EL_CONF_OWN | EL_CONF_STARTED)) && !o->server_cmd)
		return "needs a server the tool starts (--server-cmd), not --target";
	const struct {
		unsigned need;
		const char *name;
	} ph[] = {{EL_CONF_MAX_CONNS, "max_conns"}, {EL_CONF_IDLE, "idle_timeout"}, {EL_CONF_BACKLOG, "backlog"}};
	for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++) {
		if (!(c->needs & ph[i].need))
			continue;
		if (!o->server_cmd) {
			snprintf(buf, len, "needs the server started with {%s}; a --target's settings are unknown",
				 ph[i].name);
			return buf;
		}
		if (!el_sup_has(o->server_cmd, ph[i].name)) {
			snprintf(buf, len, "the server command has no {%s}", ph[i].name);
			return buf;
		}
	}
	if ((c->needs & EL_CONF_ROOT) && geteuid() != 0)
		return "packet capture needs root (or CAP_NET_RAW)";
	return NULL;
}

/* Scales a wait by how slow this run is (valgrind: 20). */
static int runner_ms(const struct el_conf_runner *r, int ms)
{
	return ms * (r->o->slow > 1 ? r->o->slow : 1);
}

/* In the child, before exec: into the sandbox, or exit 126 saying why. */
static void enter_sandbox(void *arg)
{
	int rc = el_sbx_enter_child(arg);
	if (rc < 0) {
		dprintf(2, "echolab-conform: entering the sandbox: %s\n", strerror(-rc));
		_exit(126);
	}
}

static int signal_sandbox(void *arg, int sig)
{
	return el_sbx_signal(arg, sig);
}

int el_conf_start_sandboxed(struct el_sbx *sbx, struct el_sup *sup, const char *cmd, const char *host,
			    unsigned port, int out_fd, int err_fd, int timeout_ms, char *why, size_t whylen)
{
	static char wrapped[16384];
	if (el_sbx_wrap(sbx, cmd, wrapped, sizeof(wrapped)) < 0) {
		snprintf(why, whylen, "the command is too long for the sandbox");
		return -ENAMETOOLONG;
	}
	struct el_sup_spec sp = {.cmd = wrapped, .out_fd = out_fd, .err_fd = err_fd, .host = host, .port = port,
				 .timeout_ms = timeout_ms, .setup = enter_sandbox, .setup_arg = sbx,
				 .signal = signal_sandbox, .signal_arg = sbx};
	return el_sup_start(sup, &sp, why, whylen);
}

static int start_sandboxed(struct el_conf_runner *r, unsigned port, bool capture, char *why, size_t whylen)
{
	int out = capture ? open(r->out_path, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
	int err = open(r->err_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	int rc = el_conf_start_sandboxed(r->o->sbx, &r->sup, r->cmd, r->o->host, port, out, err,
					 runner_ms(r, 10000), why, whylen);
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	return rc;
}

/* Starts an instance of the command with the settings s (its port chosen
 * here, into s) as r's running one, its standard output into r->out_path
 * when capture (else /dev/null: the log of a long case is no one's
 * business). Returns 0, or -errno with the reason in why and the last line
 * the server wrote on stderr in last ("" when none). */
static int start_instance(struct el_conf_runner *r, struct el_sup_settings *s, bool capture, char *why,
			  size_t whylen, char *last, size_t lastlen)
{
	last[0] = 0;
	int port = el_sup_free_port();
	s->port = port > 0 ? (unsigned)port : 0;
	char bad[64] = "";
	int rc = el_sup_expand(r->o->server_cmd, s, r->cmd, sizeof(r->cmd), bad, sizeof(bad));
	if (rc < 0) {
		if (rc == -EINVAL)
			snprintf(why, whylen, "unknown placeholder %s", bad);
		else
			snprintf(why, whylen, "the command is too long");
		return rc;
	}
	const char *truncate[] = {r->err_path, capture ? r->out_path : NULL};
	for (size_t i = 0; i < 2 && truncate[i]; i++) {
		int fd = open(truncate[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	if (r->o->sbx)
		rc = start_sandboxed(r, s->port, capture, why, whylen);
	else
		rc = el_sup_start_cmd(&r->sup, r->cmd, r->o->host, s->port, capture ? r->out_path : NULL,
				      r->err_path, runner_ms(r, 10000), why, whylen);
	if (rc < 0) {
		last_err_line(r->err_path, last, lastlen);
		return rc;
	}
	r->up = true;
	r->cur = *s;
	r->capturing = capture;
	r->last_case = NULL;
	return 0;
}

/* The first selected case that can run here, or NULL. */
static const struct el_conf_case *first_to_run(const struct el_conf_opts *o, const char *patterns)
{
	char buf[256];
	for (size_t i = 0; i < el_conf_ncases; i++) {
		const struct el_conf_case *c = &el_conf_cases[i];
		if (el_conf_selected(patterns, c->id) && !cannot_run(o, c, buf, sizeof(buf)))
			return c;
	}
	return NULL;
}

int el_conf_runner_check(struct el_conf_runner *r, const char *patterns, char *why, size_t whylen)
{
	const struct el_conf_opts *o = r->o;
	const struct el_conf_case *c = first_to_run(o, patterns);
	if (!c)
		return 0;
	if (!o->server_cmd) {
		char err[256];
		int ms = runner_ms(r, (int)(o->timeout_s * 1000));
		int fd = el_client_connect(o->host, o->port, ms, err, sizeof(err));
		if (fd < 0) {
			bool v6 = strchr(o->host, ':') != NULL;
			snprintf(why, whylen, "no server at %s%s%s:%u: %s", v6 ? "[" : "", o->host, v6 ? "]" : "",
				 o->port, err);
			return fd;
		}
		close(fd);
		return 0;
	}
	/* With the settings the first case asks for, so that it goes on
	 * with this instance. */
	struct el_sup_settings s = settings_for(o, c);
	char reason[256], last[160];
	int rc = start_instance(r, &s, (c->needs & EL_CONF_LOG) != 0, reason, sizeof(reason), last, sizeof(last));
	r->untouched = rc == 0;
	if (rc < 0) {
		/* The supervisor's "the server exited ..." after "the server
		 * did not start: " reads better as "it exited ...". */
		const char *tail = strncmp(reason, "the server ", 11) == 0 ? reason + 11 : NULL;
		snprintf(why, whylen, "the server did not start: %s%s (command: %s%s%s)", tail ? "it " : "",
			 tail ? tail : reason, r->cmd, last[0] ? "; its stderr: " : "", last);
	}
	return rc;
}

/* The instance died during case x: the cause leads the reason (a client's
 * "Connection reset by peer" is what a death looks like, not why), then
 * what the case saw, if it failed. */
static void died_during(struct el_conf_runner *r, struct el_conf_ctx *x)
{
	char how[128], last[200], cause[512];
	const char *means;
	describe_end(r->sup.status, el_sup_uses_shell(r->cmd), how, sizeof(how), &means);
	last_err_line(r->err_path, last, sizeof(last));
	int n = snprintf(cause, sizeof(cause), "the server %s during the case%s%s", how, means ? ": " : "",
			 means ? means : "");
	if (last[0] && n > 0 && (size_t)n < sizeof(cause))
		snprintf(cause + n, sizeof(cause) - (size_t)n, " (its stderr: %s)", last);
	note_end(x, r->sup.status, how);
	if (x->verdict == EL_CONF_FAIL) {
		char symptom[sizeof(x->reason)];
		snprintf(symptom, sizeof(symptom), "%s", x->reason);
		snprintf(x->reason, sizeof(x->reason), "%.500s; then %.500s", cause, symptom);
	} else {
		snprintf(x->reason, sizeof(x->reason), "%s", cause);
	}
	x->verdict = EL_CONF_FAIL;
	instance_died(r, x->c->id, how);
}

/* The instance was found dead before case x began: x fails saying where
 * it died, without running on it; the next case starts a fresh one. */
static void already_dead(struct el_conf_runner *r, struct el_conf_ctx *x)
{
	char how[128];
	const char *means;
	describe_end(r->sup.status, el_sup_uses_shell(r->cmd), how, sizeof(how), &means);
	if (r->last_case)
		snprintf(x->reason, sizeof(x->reason), "the server was already dead: it %s after case %s%s%s", how,
			 r->last_case, means ? ": " : "", means ? means : "");
	else
		snprintf(x->reason, sizeof(x->reason), "the server was already dead: it %s before any case ran%s%s",
			 how, means ? ": " : "", means ? means : "");
	cf_note(x, "server: %s", r->cmd);
	note_end(x, r->sup.status, how);
	cf_note(x, "-- found dead before the case began; the next case starts a fresh instance");
	x->verdict = EL_CONF_FAIL;
	instance_died(r, r->last_case, how);
	r->died_told = true;
}

void el_conf_run(struct el_conf_runner *r, const struct el_conf_case *c, struct el_conf_result *res)
{
	const struct el_conf_opts *o = r->o;
	memset(res, 0, sizeof(*res));
	res->c = c;
	int64_t t0 = el_io_now_us();
	char buf[256];
	const char *why = cannot_run(o, c, buf, sizeof(buf));
	if (why) {
		res->verdict = EL_CONF_SKIP;
		snprintf(res->reason, sizeof(res->reason), "%s", why);
		return;
	}
	struct el_conf_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		res->verdict = EL_CONF_FAIL;
		snprintf(res->reason, sizeof(res->reason), "out of memory");
		return;
	}
	x->o = o;
	x->c = c;
	x->runner = r;
	x->host = o->host;
	x->port = o->port;
	x->set = settings_for(o, c);
	if (o->server_cmd) {
		if (r->up && !instance_alive(r)) {
			/* It died after the last case's check: this case would
			 * only see its corpse (refused connects, resets). */
			already_dead(r, x);
			goto done;
		}
		/* The instance the check started, no case run on it yet, is
		 * as fresh as one started now. */
		bool log = (c->needs & EL_CONF_LOG) != 0;
		bool fresh = ((c->needs & EL_CONF_OWN) && !r->untouched) || !r->up || !same_settings(&r->cur, &x->set) ||
			     (log && !r->capturing);
		r->untouched = false;
		if (r->up && fresh)
			stop_instance(r);
		if (!r->up) {
			char reason[256], last[160];
			if (start_instance(r, &x->set, log, reason, sizeof(reason), last, sizeof(last)) < 0) {
				res->verdict = EL_CONF_FAIL;
				snprintf(res->reason, sizeof(res->reason), "the server did not start: %.200s%s%.160s%s",
					 reason, last[0] ? " (its stderr: " : "", last, last[0] ? ")" : "");
				free(x);
				return;
			}
		}
		x->port = r->sup.port;
		x->sup = &r->sup;
		cf_note(x, "server: %s", r->cmd);
		if (r->died_in[0] && !r->died_told) {
			cf_note(x, "(a fresh instance: the last one %s in case %s)", r->died_how, r->died_in);
			r->died_told = true;
		}
		cf_note(x, "settings: %s", settings_line(&x->set, buf, sizeof(buf)));
	} else {
		cf_note(x, "target: %s port %u", o->host, o->port);
	}
	x->verdict = EL_CONF_OK;
	r->last_case = c->id;
	if (setjmp(x->fail) == 0)
		c->run(x);
	for (int i = 0; i < x->nclients; i++)
		el_conf_client_free(x->clients[i]);
	for (int i = 0; i < 8; i++)
		free(x->scratch[i]);
	/* A started server must have lived through the case. */
	if (x->sup && r->up && !x->stopped && !instance_alive(r))
		died_during(r, x);
	if ((c->needs & EL_CONF_OWN) || x->stopped)
		stop_instance(r);
done:
	res->verdict = x->verdict;
	snprintf(res->reason, sizeof(res->reason), "%s", x->reason);
	res->transcript = x->tr;
	res->seconds = (double)(el_io_now_us() - t0) / 1e6;
	free(x);
}

size_t el_conf_run_selected(struct el_conf_runner *r, const char *patterns, struct el_conf_result *res,
			    void (*each)(const struct el_conf_result *res, size_t i, void *arg), void *arg)
{
	size_t n = 0;
	for (size_t i = 0; i < el_conf_ncases && !(r->o->stop && *r->o->stop); i++) {
		if (!el_conf_selected(patterns, el_conf_cases[i].id))
			continue;
		el_conf_run(r, &el_conf_cases[i], &res[n]);
		if (each)
			each(&res[n], n, arg);
		n++;
	}
	return n;
}

size_t el_conf_nselected(const char *patterns)
{
	size_t n = 0;
	for (size_t i = 0; i < el_conf_ncases; i++)
		n += el_conf_selected(patterns, el_conf_cases[i].id);
	return n;
}
