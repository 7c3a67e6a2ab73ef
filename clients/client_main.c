/* echolab-client: sends messages to an echolab server and prints each reply
 * with its round-trip time (docs/interface.md). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "framer.h"
#include "io.h"
#include "json.h"
#include "reply.h"
#include "version.h"

#define usage_error(what, arg) el_cli_usage("echolab-client", "%s '%s'", what, arg)

static const char usage_text[] =
	"usage: echolab-client [--host H] [--port N] [--message M] [--count K]\n"
	"                      [--raw] [--timeout SECONDS] [--json]\n"
	"\n"
	"Sends messages to an echolab server and prints each reply, a TAB and\n"
	"its round-trip time:\n"
	"    [2026-11-23T22:34:05.971296Z] [127.0.0.1] [52340] [hello]\trtt_us=87\n"
	"\n"
	"  --host H        server name or address (default 127.0.0.1)\n"
	"  --port N        server port (default 1234)\n"
	"  --message M     send M instead of reading lines from standard input\n"
	"  --count K       with --message: send it K times (default 1)\n"
	"  --raw           the server runs with --raw: expect the bytes back\n"
	"  --timeout S     give up on a reply after S seconds (default 10)\n"
	"  --json          one JSON object a reply instead (JSON Lines): seq,\n"
	"                  rtt_us, echoed (the reply carries the message), reply,\n"
	"                  and time, addr, port, message parsed from it\n"
	"  --help          this text\n"
	"  --version       the version, and the git checkout it was built from\n"
	"\n"
	"Without --message each line of standard input is one message.\n"
	"Exit 0 when every message got its reply, 1 otherwise, 2 on bad usage.\n";

struct config {
	const char *host;
	unsigned port;
	const char *message;
	long count;
	bool raw;
	bool json;
	int timeout_ms;
};

/* The options' ids (cli.h: an enum from EL_CLI_OPT_FIRST). */
enum {
	O_HOST = EL_CLI_OPT_FIRST, O_PORT, O_MESSAGE, O_COUNT, O_RAW, O_TIMEOUT, O_HELP, O_VERSION, O_JSON,
};

static int parse_args(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, O_HOST}, {"port", required_argument, NULL, O_PORT},
		{"message", required_argument, NULL, O_MESSAGE}, {"count", required_argument, NULL, O_COUNT},
		{"raw", no_argument, NULL, O_RAW}, {"timeout", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, O_HELP}, {"version", no_argument, NULL, O_VERSION},
		{"json", no_argument, NULL, O_JSON}, {NULL, 0, NULL, 0},
	};
	*cfg = (struct config){.host = "127.0.0.1", .port = 1234, .count = 1, .timeout_ms = 10000};
	bool have_count = false;
	opterr = 0;
	int opt;
	long v;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case O_HOST:
			cfg->host = optarg;
			break;
		case O_PORT:
			if (!el_cli_parse_long(optarg, 1, 65535, &v))
				return usage_error("bad --port", optarg);
			cfg->port = (unsigned)v;
			break;
		case O_MESSAGE:
			cfg->message = optarg;
			break;
		case O_COUNT:
			if (!el_cli_parse_long(optarg, 1, 1000000000, &v))
				return usage_error("bad --count", optarg);
			cfg->count = v;
			have_count = true;
			break;
		case O_RAW:
			cfg->raw = true;
			break;
		case O_JSON:
			cfg->json = true;
			break;
		case O_TIMEOUT: {
			char *end;
			double s = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(s) || s <= 0 || s > 86400)
				return usage_error("bad --timeout", optarg);
			cfg->timeout_ms = (int)ceil(s * 1000);
			break;
		}
		case O_HELP:
			fputs(usage_text, stdout);
			return 1;
		case O_VERSION:
			el_version_print("echolab-client");
			return 1;
		case ':':
			return usage_error("option needs a value:", argv[optind - 1]);
		default:
			return usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (have_count && !cfg->message) {
		fprintf(stderr, "echolab-client: --count needs --message (see --help)\n");
		return 2;
	}
	if (cfg->message && strchr(cfg->message, '\n')) {
		fprintf(stderr, "echolab-client: --message must not contain a newline\n");
		return 2;
	}
	return 0;
}

struct session {
	const struct config *cfg;
	int fd;
	struct el_lines lines;
	long sent, answered;
	bool mismatch;
	uint8_t *frame; /* message + LF */
	size_t frame_cap;
};

/* Reads exactly len bytes (raw mode). Returns 0 or -errno / -ETIMEDOUT, or
 * -ECONNRESET if the server closed first. */
static int read_exact(struct session *s, uint8_t *out, size_t len, int64_t deadline)
{
	while (len > 0) {
		const uint8_t *line;
		size_t rest = 0;
		/* The line reader buffers; in raw mode take its bytes as they are. */
		ssize_t n = el_lines_next(&s->lines, &line, &rest, deadline);
		if (n == 0 && rest == 0)
			return -ECONNRESET;
		size_t got = n > 0 ? (size_t)n : rest;
		if (n < 0)
			return (int)n;
		size_t take = got < len ? got : len;
		memcpy(out, line, take);
		/* Give back what belongs to the next reply. */
		if (n > 0)
			s->lines.off -= got - take;
		else
			s->lines.off += take;
		out += take;
		len -= take;
	}
	return 0;
}

/* Prints one reply: the line (or the bytes) and its RTT, or with --json
 * one object; r is the parsed reply, or NULL (raw mode, an error line). */
static void print_reply(const struct session *s, const uint8_t *reply, size_t len, const struct el_reply *r,
			bool echoed, int64_t rtt)
{
	if (!s->cfg->json) {
		fwrite(reply, 1, len, stdout);
		printf("\trtt_us=%lld\n", (long long)rtt);
		fflush(stdout);
		return;
	}
	printf("{\"seq\":%ld,\"rtt_us\":%lld,\"echoed\":%s,\"reply\":", s->sent, (long long)rtt,
	       echoed ? "true" : "false");
	el_json_string(stdout, reply, len);
	if (r) {
		char when[EL_TIME_LEN + 1];
		el_time_format(&r->time, when);
		printf(",\"time\":\"%s\",\"addr\":", when);
		el_json_cstring(stdout, r->addr);
		printf(",\"port\":%u,\"message\":", r->port);
		el_json_string(stdout, r->msg, r->msg_len);
	}
	printf("}\n");
	fflush(stdout);
}

/* Sends one message and prints its reply. Returns 0, or 1 after printing
 * why on stderr. */
static int exchange(struct session *s, const char *msg, size_t len)
{
	if (len + 1 > s->frame_cap) {
		s->frame_cap = len + 1;
		free(s->frame);
		s->frame = malloc(s->frame_cap);
		if (!s->frame) {
			fprintf(stderr, "echolab-client: out of memory\n");
			return 1;
		}
	}
	memcpy(s->frame, msg, len);
	s->frame[len] = '\n';

	int64_t t0 = el_io_now_us();
	int rc = el_io_write_all(s->fd, s->frame, len + 1, -1);
	if (rc < 0) {
		fprintf(stderr, "echolab-client: send: %s\n", strerror(-rc));
		return 1;
	}
	s->sent++;
	int64_t deadline = el_io_now_ms() + s->cfg->timeout_ms;

	if (s->cfg->raw) {
		uint8_t *back = malloc(len + 1);
		rc = back ? read_exact(s, back, len + 1, deadline) : -ENOMEM;
		int64_t rtt = el_io_now_us() - t0;
		if (rc == 0) {
			bool same = memcmp(back, s->frame, len + 1) == 0;
			if (!same) {
				fprintf(stderr, "echolab-client: the server's bytes differ from the message\n");
				s->mismatch = true;
			}
			print_reply(s, back, len, NULL, same, rtt);
			s->answered++;
		}
		free(back);
		if (rc == 0)
			return 0;
	} else {
		const uint8_t *line;
		size_t rest = 0;
		ssize_t n = el_lines_next(&s->lines, &line, &rest, deadline);
		int64_t rtt = el_io_now_us() - t0;
		if (n > 0) {
			unsigned long limit;
			if (el_reply_parse_error(line, (size_t)n, &limit) == EL_REPLY_BUSY) {
				fprintf(stderr, "echolab-client: server busy (it answered \"! busy\")\n");
				return 1;
			}
			struct el_reply r;
			int prc = el_reply_parse(line, (size_t)n, &r);
			bool same = prc == 0 && r.msg_len == len && memcmp(r.msg, msg, len) == 0;
			if (prc == 0 && !same) {
				fprintf(stderr, "echolab-client: the reply does not echo the message\n");
				s->mismatch = true;
			} else if (prc < 0 && prc != EL_REPLY_ESERVER) {
				fprintf(stderr, "echolab-client: malformed reply: %s\n", el_reply_strerror(prc));
				s->mismatch = true;
			}
			print_reply(s, line, (size_t)n - 1, prc == 0 ? &r : NULL, same, rtt);
			s->answered++;
			return 0;
		}
		rc = n == 0 ? -ECONNRESET : (int)n;
	}

	if (rc == -ECONNRESET)
		fprintf(stderr, "echolab-client: the server closed the connection after %ld of %ld replies\n",
			s->answered, s->sent);
	else if (rc == -ETIMEDOUT)
		fprintf(stderr, "echolab-client: no reply within %d ms\n", s->cfg->timeout_ms);
	else if (rc == -EMSGSIZE)
		fprintf(stderr, "echolab-client: reply line too long\n");
	else
		fprintf(stderr, "echolab-client: receive: %s\n", strerror(-rc));
	return 1;
}

int main(int argc, char **argv)
{
	struct config cfg;
	int rc = parse_args(argc, argv, &cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	signal(SIGPIPE, SIG_IGN);

	char err[256];
	int fd = el_client_connect(cfg.host, cfg.port, cfg.timeout_ms, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "echolab-client: %s\n", err);
		return 1;
	}
	struct session s = {.cfg = &cfg, .fd = fd};
	/* A reply holds the message and about 80 bytes; the server's limit is
	 * at most 1 MiB. */
	if (el_lines_init(&s.lines, fd, EL_FRAMER_MAX_LINE_LIMIT + 256) < 0) {
		fprintf(stderr, "echolab-client: out of memory\n");
		close(fd);
		return 1;
	}

	rc = 0;
	if (cfg.message) {
		for (long i = 0; i < cfg.count && rc == 0; i++)
			rc = exchange(&s, cfg.message, strlen(cfg.message));
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
			/* LF or CRLF ends a line of input, as it ends a message. */
			if (n > 0 && line[n - 1] == '\n')
				n--;
			if (n > 0 && line[n - 1] == '\r')
				n--;
			rc = exchange(&s, line, (size_t)n);
		}
		free(line);
	}
	if (rc == 0)
		shutdown(fd, SHUT_WR);
	if (rc == 0 && s.mismatch)
		rc = 1;
	free(s.frame);
	el_lines_finish(&s.lines);
	close(fd);
	return rc;
}
