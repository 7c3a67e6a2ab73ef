#include "cli.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "framer.h"
#include "io.h"
#include "reply.h"
#include "version.h"

_Atomic int el_srv_stopping;

/* The write end of the stop pipe, for the signal handler only. */
static _Atomic int stop_pipe_wfd = -1;

static const char usage_text[] =
	"usage: echolab-server --model MODEL [--bind ADDR] [--port N] [--backlog N]\n"
	"                      [--raw] [--quiet] [--max-line N] [--max-conns N]\n"
	"                      [--idle-timeout SECONDS] [--workers N]\n"
	"       echolab-server --list-models\n"
	"\n"
	"An echo server of the echolab protocol (docs/protocol.md): each message\n"
	"(a line ended by LF or CRLF) is answered with\n"
	"    [TIME] [ADDR] [PORT] [MSG]\n"
	"and logged on standard output. Messages of other lines start with '# '.\n"
	"\n"
	"  --model MODEL        concurrency model (see --list-models)\n"
	"  --bind ADDR          address to listen on (default 127.0.0.1; '::' is\n"
	"                       dual-stack)\n"
	"  --port N             port (default 1234; 0: the kernel chooses)\n"
	"  --backlog N          listen(2) backlog, 0..65535 (default 128)\n"
	"  --raw                echo bytes verbatim (RFC 862), no framing or log\n"
	"  --quiet              no log on standard output\n"
	"  --max-line N         longest message in bytes, 1..1048576 (default 8192)\n"
	"  --max-conns N        connections served at once; others get '! busy'\n"
	"                       (default 0: no limit but the system's)\n"
	"  --idle-timeout S     close a connection idle for S seconds (decimals\n"
	"                       allowed; default 0: never)\n"
	"  --workers N          workers of the pooled models, 1..1024 (default:\n"
	"                       number of CPUs)\n"
	"  --list-models        print the models, one a line: the name, a TAB,\n"
	"                       its traits (e.g. process-per-connection)\n"
	"  --help               this text\n"
	"  --version            the version, and the git checkout it was built from\n"
	"\n"
	"When ready it prints one line on standard error:\n"
	"    listening on 127.0.0.1:41234 model=iterative backlog=128\n"
	"SIGINT or SIGTERM stops it (exit 0). Exit 1: runtime failure; 2: usage.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "echolab-server: %s\n", text);
	return -EINVAL;
}

const struct el_model *el_srv_find_model(const char *name)
{
	for (const struct el_model *m = el_models; m->name; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

enum { O_MODEL = 256, O_BIND, O_PORT, O_BACKLOG, O_RAW, O_QUIET, O_MAX_LINE, O_MAX_CONNS, O_IDLE, O_WORKERS,
       O_LIST, O_HELP, O_VERSION };

/* The options with a number into cfg. Returns 0, or -EINVAL after saying
 * why. */
static int parse_number_option(int opt, const char *arg, struct el_srv_config *cfg)
{
	long v;
	double s;
	switch (opt) {
	case O_PORT:
		if (!el_cli_parse_long(arg, 0, 65535, &v))
			return usage_error("bad --port '%s': expected 0..65535", arg);
		cfg->port = (unsigned)v;
		return 0;
	case O_BACKLOG:
		if (!el_cli_parse_long(arg, 0, 65535, &v))
			return usage_error("bad --backlog '%s': expected 0..65535", arg);
		cfg->backlog = (int)v;
		return 0;
	case O_MAX_LINE:
		if (!el_cli_parse_long(arg, 1, EL_FRAMER_MAX_LINE_LIMIT, &v))
			return usage_error("bad --max-line '%s': expected 1..1048576", arg);
		cfg->max_line = (size_t)v;
		return 0;
	case O_MAX_CONNS:
		if (!el_cli_parse_long(arg, 0, 10000000, &v))
			return usage_error("bad --max-conns '%s': expected 0..10000000", arg);
		cfg->max_conns = v;
		return 0;
	case O_IDLE:
		if (!el_cli_parse_num(arg, 0, 31536000, &s))
			return usage_error("bad --idle-timeout '%s': expected seconds, 0..31536000", arg);
		cfg->idle_timeout_ms = (int64_t)ceil(s * 1000);
		return 0;
	default: /* O_WORKERS */
		if (!el_cli_parse_long(arg, 1, 1024, &v))
			return usage_error("bad --workers '%s': expected 1..1024", arg);
		cfg->workers = (int)v;
		return 0;
	}
}

int el_srv_parse_args(int argc, char **argv, struct el_srv_config *cfg)
{
	static const struct option opts[] = {
		{"model", required_argument, NULL, O_MODEL},         {"bind", required_argument, NULL, O_BIND},
		{"port", required_argument, NULL, O_PORT},           {"backlog", required_argument, NULL, O_BACKLOG},
		{"raw", no_argument, NULL, O_RAW},                   {"quiet", no_argument, NULL, O_QUIET},
		{"max-line", required_argument, NULL, O_MAX_LINE},   {"max-conns", required_argument, NULL, O_MAX_CONNS},
		{"idle-timeout", required_argument, NULL, O_IDLE},   {"workers", required_argument, NULL, O_WORKERS},
		{"list-models", no_argument, NULL, O_LIST},          {"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},           {NULL, 0, NULL, 0},
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	*cfg = (struct el_srv_config){
		.bind = "127.0.0.1",
		.port = 1234,
		.backlog = 128,
		.max_line = EL_FRAMER_MAX_LINE_DEFAULT,
		.workers = ncpu > 0 ? (int)(ncpu > 1024 ? 1024 : ncpu) : 1,
	};
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case O_MODEL: cfg->model = optarg; break;
		case O_BIND: cfg->bind = optarg; break;
		case O_RAW: cfg->raw = true; break;
		case O_QUIET: cfg->quiet = true; break;
		case O_PORT:
		case O_BACKLOG:
		case O_MAX_LINE:
		case O_MAX_CONNS:
		case O_IDLE:
		case O_WORKERS:
			if (parse_number_option(opt, optarg, cfg) < 0)
				return -EINVAL;
			break;
		case O_LIST:
			for (const struct el_model *m = el_models; m->name; m++)
				printf("%s\t%s\n", m->name, m->traits);
			return 1;
		case O_HELP: fputs(usage_text, stdout); return 1;
		case O_VERSION: el_version_print("echolab-server"); return 1;
		case ':': return usage_error("option '%s' needs a value (see --help)", argv[optind - 1]);
		default: return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s' (see --help)", argv[optind]);
	if (!cfg->model)
		return usage_error("--model is required (see --list-models)");
	if (!el_srv_find_model(cfg->model))
		return usage_error("unknown model '%s' (see --list-models)", cfg->model);
	return 0;
}

_Atomic int el_srv_stop_sender;

static void on_stop_signal(int sig)
{
	int saved = errno;
	el_srv_stopping = sig;
	if (stop_pipe_wfd >= 0) {
		char b = 1;
		/* The pipe is never drained, so one byte is enough; a full pipe
		 * (impossible with one byte per signal) would be harmless. */
		ssize_t n = write(stop_pipe_wfd, &b, 1);
		(void)n;
	}
	errno = saved;
}

/* Who sent the stop: a stop nobody expected is then explained. */
static void on_stop_siginfo(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	el_srv_stop_sender = si ? si->si_pid : 0;
	on_stop_signal(sig);
}

/* SIGINT and SIGTERM in a multi-threaded server: one thread takes them
 * with sigwaitinfo, every other thread blocks them. A handler is not
 * enough there: under ThreadSanitizer a stop sent to a server whose main
 * thread was about to wait in pthread_join was at times held back by the
 * runtime and never handed to the handler, and every thread slept on
 * (decisions.md, 28). */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

/* The taker writes the stop pipe under this lock, which el_srv_finish
 * takes before it closes the pipe: no write can reach a reused fd. */
static pthread_mutex_t taker_lock = PTHREAD_MUTEX_INITIALIZER;

static void *take_stop_signals(void *arg)
{
	(void)arg;
	sigset_t set;
	stop_signals(&set);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig <= 0)
			continue;
		pthread_mutex_lock(&taker_lock);
		on_stop_siginfo(sig, &si, NULL);
		pthread_mutex_unlock(&taker_lock);
	}
	return NULL;
}

/* Run once, by the thread that starts the server's first thread (the
 * main thread): if the taker cannot start, the handler stays in charge. */
static void start_stop_taker(void)
{
	sigset_t set, old;
	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_t t;
	if (pthread_create(&t, &attr, take_stop_signals, NULL) != 0)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

static int install_signals(struct el_srv *srv)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	srv->stop_fd = fds[0];
	srv->stop_wfd = fds[1];
	stop_pipe_wfd = fds[1];

	/* No SA_RESTART: a blocked accept or poll returns EINTR at once. */
	struct sigaction sa = {.sa_sigaction = on_stop_siginfo, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A client that goes away mid-reply must cost one connection, never
	 * the server: every socket write also passes MSG_NOSIGNAL. */
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);
	return 0;
}

static int open_listener(struct el_srv *srv, const struct el_srv_config *cfg)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	char port[8];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo *res;
	int rc = getaddrinfo(cfg->bind, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "echolab-server: bad --bind address '%s': %s\n", cfg->bind,
			gai_strerror(rc));
		return -EINVAL;
	}
	/* Non-blocking: a client that resets between poll(2) saying readable
	 * and accept(2) must not leave a model blocked in accept. */
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "echolab-server: socket: %s\n", strerror(errno));
		goto out;
	}
	int one = 1, zero = 0;
	/* SO_REUSEADDR lets a restarted server bind while old connections sit
	 * in TIME_WAIT; it never lets two servers listen on one port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		rc = -errno;
		fprintf(stderr, "echolab-server: bind %s port %u: %s\n", cfg->bind, cfg->port,
			strerror(errno));
		goto fail;
	}
	if (listen(fd, cfg->backlog) < 0) {
		rc = -errno;
		fprintf(stderr, "echolab-server: listen: %s\n", strerror(errno));
		goto fail;
	}
	srv->listen_fd = fd;
	freeaddrinfo(res);
	return 0;
fail:
	close(fd);
out:
	freeaddrinfo(res);
	return rc;
}

/* Fds a server needs besides its connections: standard streams, the
 * listener, the stop pipe, event-loop instances. */
#define NOFILE_RESERVE 32

/* Raises the soft RLIMIT_NOFILE to the hard limit, since every connection
 * is an fd. Returns the limit now in force (-1: unknown). */
static long raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = cur;
	}
	return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

int el_srv_start(struct el_srv *srv, const struct el_srv_config *cfg)
{
	*srv = (struct el_srv){
		.cfg = *cfg,
		.listen_fd = -1,
		.stop_fd = -1,
		.stop_wfd = -1,
		.log_fd = cfg->quiet ? -1 : STDOUT_FILENO,
	};
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->drained, NULL);
	const char *hook = getenv("ECHOLAB_TEST_FAIL_SPAWN");
	if (hook)
		srv->fail_spawn_every = strtol(hook, NULL, 10);
	int rc = install_signals(srv);
	if (rc < 0) {
		fprintf(stderr, "echolab-server: pipe: %s\n", strerror(-rc));
		return rc;
	}
	rc = open_listener(srv, cfg);
	if (rc < 0) {
		el_srv_finish(srv);
		return rc;
	}

	long nofile = raise_nofile();

	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	getsockname(srv->listen_fd, (struct sockaddr *)&ss, &len);
	char addr[EL_ADDR_STRLEN];
	unsigned port;
	el_addr_format((struct sockaddr *)&ss, addr, &port);
	const char *l = ss.ss_family == AF_INET6 ? "[" : "", *r = ss.ss_family == AF_INET6 ? "]" : "";
	fprintf(stderr, "listening on %s%s%s:%u model=%s backlog=%d\n", l, addr, r, port, cfg->model,
		cfg->backlog);
	fflush(stderr);
	/* A test hook that an inherited environment could turn on in
	 * production says so, on stderr and in the log. */
	if (srv->fail_spawn_every > 0) {
		fprintf(stderr,
			"echolab-server: WARNING: ECHOLAB_TEST_FAIL_SPAWN=%ld is set: every %ldth fork(2) or "
			"pthread_create(3) fails on purpose (a test hook; unset it)\n",
			(long)srv->fail_spawn_every, (long)srv->fail_spawn_every);
		fflush(stderr);
		el_srv_logf(srv, "WARNING: ECHOLAB_TEST_FAIL_SPAWN=%ld is set: spawns fail on purpose",
			    (long)srv->fail_spawn_every);
	}
	/* After the ready line, which must be the first line on stderr. Each
	 * connection costs one fd; a few more are the server's own. */
	if (nofile > 0 && cfg->max_conns > 0 && cfg->max_conns > nofile - NOFILE_RESERVE) {
		fprintf(stderr,
			"echolab-server: RLIMIT_NOFILE is %ld (hard limit), lower than --max-conns %ld "
			"needs; accepting pauses when fds run out\n",
			nofile, cfg->max_conns);
		fflush(stderr);
	}
	return 0;
}

void el_srv_finish(struct el_srv *srv)
{
	pthread_mutex_lock(&taker_lock);
	stop_pipe_wfd = -1;
	pthread_mutex_unlock(&taker_lock);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->stop_wfd >= 0)
		close(srv->stop_wfd);
	srv->listen_fd = srv->stop_fd = srv->stop_wfd = -1;
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->drained);
}

bool el_srv_conn_acquire(struct el_srv *srv)
{
	pthread_mutex_lock(&srv->lock);
	bool ok = srv->cfg.max_conns == 0 || srv->live < srv->cfg.max_conns;
	if (ok)
		srv->live++;
	pthread_mutex_unlock(&srv->lock);
	return ok;
}

void el_srv_conn_release(struct el_srv *srv)
{
	pthread_mutex_lock(&srv->lock);
	if (--srv->live == 0)
		pthread_cond_broadcast(&srv->drained);
	pthread_mutex_unlock(&srv->lock);
}

long el_srv_wait_drained(struct el_srv *srv, int64_t deadline_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	int64_t left = deadline_ms - el_io_now_ms();
	if (left < 0)
		left = 0;
	until.tv_sec += left / 1000;
	until.tv_nsec += (left % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&srv->lock);
	while (srv->live > 0 && pthread_cond_timedwait(&srv->drained, &srv->lock, &until) == 0)
		;
	long live = srv->live;
	pthread_mutex_unlock(&srv->lock);
	return live;
}

bool el_srv_spawn_fails(struct el_srv *srv)
{
	srv->spawns++;
	return srv->fail_spawn_every > 0 && srv->spawns % srv->fail_spawn_every == 0;
}

/* EAGAIN from fork(2) and pthread_create(3) is a transient shortage (a
 * moment at the process or thread limit): two more tries, 1 ms and 4 ms
 * later, before the caller gives up on this spawn. */
static const int spawn_retry_us[] = {1000, 4000};

int el_srv_thread(struct el_srv *srv, pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
		  void *arg)
{
	if (el_srv_spawn_fails(srv))
		return EAGAIN;
	static pthread_once_t taker = PTHREAD_ONCE_INIT;
	pthread_once(&taker, start_stop_taker);
	/* Every new thread starts with the stop signals blocked. */
	sigset_t stops, old;
	stop_signals(&stops);
	pthread_sigmask(SIG_BLOCK, &stops, &old);
	int err = pthread_create(t, attr, fn, arg);
	for (size_t i = 0; err == EAGAIN && i < sizeof(spawn_retry_us) / sizeof(*spawn_retry_us); i++) {
		usleep((useconds_t)spawn_retry_us[i]);
		err = pthread_create(t, attr, fn, arg);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

void el_srv_pin_thread(pthread_t t, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu % CPU_SETSIZE, &set);
	pthread_setaffinity_np(t, sizeof(set), &set);
}

int el_srv_accept_loop(struct el_srv *srv, el_srv_handler handle, void *arg, int extra_fd,
		       void (*on_extra)(void *arg))
{
	while (!el_srv_should_stop(srv)) {
		struct pollfd pfds[3] = {
			{.fd = srv->listen_fd, .events = POLLIN},
			{.fd = srv->stop_fd, .events = POLLIN},
			{.fd = extra_fd, .events = POLLIN},
		};
		if (el_io_poll(pfds, 3, -1, false) <= 0)
			continue;
		if (pfds[2].revents & POLLIN)
			on_extra(arg);
		if (!(pfds[0].revents & POLLIN) || el_srv_should_stop(srv))
			continue;
		struct sockaddr_storage peer;
		int fd = el_srv_accept(srv, &peer);
		if (fd == -EMFILE) {
			el_srv_pause(srv, EL_SRV_ACCEPT_PAUSE_MS);
			continue;
		}
		if (fd == -EAGAIN)
			continue;
		if (fd < 0) {
			fprintf(stderr, "echolab-server: accept: %s\n", strerror(-fd));
			return 1;
		}
		if (!el_srv_conn_acquire(srv)) {
			el_srv_reject_busy(srv, fd, (struct sockaddr *)&peer);
			continue;
		}
		int rc = handle(arg, fd, &peer);
		if (rc < 0) {
			el_srv_conn_release(srv);
			el_srv_logf(srv, "cannot serve a connection: %s", strerror(-rc));
			el_srv_reject_busy(srv, fd, (struct sockaddr *)&peer);
		}
	}
	return 0;
}

int el_srv_private_stop(struct el_srv *srv)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	close(srv->stop_fd);
	close(srv->stop_wfd);
	srv->stop_fd = fds[0];
	srv->stop_wfd = fds[1];
	stop_pipe_wfd = fds[1];
	/* A stop that reached the parent before the fork stays in force. */
	if (el_srv_stopping)
		on_stop_signal(el_srv_stopping);
	return 0;
}

pid_t el_srv_fork_worker(struct el_srv *srv, int (*fn)(struct el_srv *srv, void *arg), void *arg,
			 const int *close_fds)
{
	if (el_srv_spawn_fails(srv))
		return -EAGAIN;
	pid_t parent = getpid();
	pid_t pid = fork();
	for (size_t i = 0; pid < 0 && errno == EAGAIN && i < sizeof(spawn_retry_us) / sizeof(*spawn_retry_us);
	     i++) {
		usleep((useconds_t)spawn_retry_us[i]);
		pid = fork();
	}
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	/* A worker does not outlive its server: killed outright (SIGKILL),
	 * the parent cannot stop its children, so the kernel tells them. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	for (const int *fd = close_fds; fd && *fd >= 0; fd++)
		close(*fd);
	if (el_srv_private_stop(srv) < 0)
		_exit(1);
	/* _exit: the parent's stdio buffers and atexit handlers are not ours. */
	_exit(fn(srv, arg));
}

void el_srv_stop_children(const pid_t *pids, size_t n, int64_t deadline_ms)
{
	size_t left = 0;
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0 && kill(pids[i], SIGTERM) == 0)
			left++;
	bool killed = false;
	while (left > 0) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0) {
			for (size_t i = 0; i < n; i++)
				if (pids[i] == pid)
					left--;
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (!killed && el_io_now_ms() >= deadline_ms) {
			for (size_t i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			killed = true;
		}
		usleep(2000);
	}
}

bool el_srv_should_stop(const struct el_srv *srv)
{
	(void)srv;
	return el_srv_stopping != 0;
}

int el_srv_accept(struct el_srv *srv, struct sockaddr_storage *peer)
{
	socklen_t len = sizeof(*peer);
	int fd = accept4(srv->listen_fd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC);
	if (fd >= 0)
		return fd;
	switch (errno) {
	case EINTR:
	case EAGAIN:
	case ECONNABORTED:
	/* Linux hands a connection's pending network error to accept(2);
	 * accept(2) says to retry on these (and EPERM: a firewall rule). */
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case EPERM:
		return -EAGAIN;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		el_srv_logf(srv, "accept: %s (pausing %d ms)", strerror(errno), EL_SRV_ACCEPT_PAUSE_MS);
		return -EMFILE;
	default:
		return -errno;
	}
}

void el_srv_pause(struct el_srv *srv, int ms)
{
	struct pollfd pfd = {.fd = srv->stop_fd, .events = POLLIN};
	el_io_poll(&pfd, 1, el_io_now_ms() + ms, false);
}

int el_srv_accept_next(struct el_srv *srv, struct sockaddr_storage *peer)
{
	struct pollfd pfds[2] = {
		{.fd = srv->listen_fd, .events = POLLIN},
		{.fd = srv->stop_fd, .events = POLLIN},
	};
	int rc = el_io_poll(pfds, 2, -1, false);
	if (rc <= 0 || !(pfds[0].revents & POLLIN) || el_srv_should_stop(srv))
		return -EAGAIN;
	int fd = el_srv_accept(srv, peer);
	if (fd == -EMFILE)
		el_srv_pause(srv, EL_SRV_ACCEPT_PAUSE_MS);
	return fd;
}

void el_srv_reject_busy(struct el_srv *srv, int fd, const struct sockaddr *peer)
{
	static const char busy[] = "! busy\n";
	char addr[EL_ADDR_STRLEN] = "?";
	unsigned port = 0;
	el_addr_format(peer, addr, &port);
	el_srv_logf(srv, "busy %s %u max-conns=%ld", addr, port, srv->cfg.max_conns);

	el_io_set_nonblock(fd, true);
	/* A fresh socket takes 7 bytes at once, but a write may still be cut
	 * short or interrupted: finish it, for 100 ms at most. */
	el_io_write_all(fd, busy, sizeof(busy) - 1, el_io_now_ms() + 100);
	shutdown(fd, SHUT_WR);
	/* Closing a socket with unread bytes sends RST instead of FIN, and the
	 * RST could destroy "! busy" before the client reads it: read what the
	 * client already sent. */
	char sink[4096];
	while (el_io_read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
}

void el_srv_log_write(struct el_srv *srv, const void *line, size_t len)
{
	if (srv->log_fd < 0)
		return;
	/* One write(2) per line, so lines of concurrent connections never
	 * interleave; a failing log (closed stdout) must not stop serving. */
	el_io_write_all(srv->log_fd, line, len, -1);
}

void el_srv_logf(struct el_srv *srv, const char *fmt, ...)
{
	if (srv->log_fd < 0)
		return;
	char line[512] = "# ";
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line + 2, sizeof(line) - 3, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = 2 + ((size_t)n < sizeof(line) - 3 ? (size_t)n : sizeof(line) - 4);
	line[len++] = '\n';
	el_srv_log_write(srv, line, len);
}
