/* The sandbox against the commands a student's submission might run: each
 * limit kills, each escape fails, and afterwards nothing of it is left.
 * Run by safety-net (meson.build): a pid namespace and, on cgroup v1, a
 * pids and memory cgroup above every sandbox made here. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

static char dir[64], why[256];

/* A fresh folder for the sandbox, under /tmp (which the sandbox does not
 * see: it has a /tmp of its own). */
static void setup(void)
{
	char reason[256];
	if (el_sbx_check(reason, sizeof(reason)) < 0)
		cr_skip_test("%s", reason);
	snprintf(dir, sizeof(dir), "/tmp/echolab-sbx-test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	if (!dir[0])
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(sandbox, .init = setup, .fini = teardown, .timeout = 120);

/* Runs cmd in a sandbox of limits lim over dir; its output into out. */
static struct el_sbx_result run(const char *name, const char *cmd, struct el_sbx_limits lim, char *out, size_t len)
{
	struct el_sbx *s = el_sbx_create(name, dir, &lim, why, sizeof(why));
	cr_assert_not_null(s, "%s", why);
	char log[128];
	snprintf(log, sizeof(log), "%s.log", dir);
	int fd = open(log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	pid_t pid = el_sbx_spawn(s, cmd, fd);
	cr_assert_gt(pid, 0);
	struct el_sbx_result r;
	cr_assert_eq(el_sbx_wait(s, pid, &r), 0);
	cr_expect_eq(el_sbx_kill_all(s), 0, "%s: processes left after the command", name);
	el_sbx_destroy(s);
	ssize_t n = pread(fd, out, len - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(log);
	return r;
}

/* The live processes of uid EL_SBX_UID on this machine (in this pid
 * namespace). */
static int nobody_procs(void)
{
	DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300];
		struct stat st;
		snprintf(path, sizeof(path), "/proc/%s", e->d_name);
		if (e->d_name[0] < '1' || e->d_name[0] > '9' || stat(path, &st) != 0 || st.st_uid != EL_SBX_UID)
			continue;
		/* A zombie is dead: its parent has yet to reap it. */
		char stat_path[320], line[512];
		snprintf(stat_path, sizeof(stat_path), "%s/stat", path);
		FILE *f = fopen(stat_path, "r");
		char *close_paren = f && fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		if (f)
			fclose(f);
		if (!close_paren || close_paren[2] != 'Z')
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* nobody_procs once it is back to before, or after 2 s: a process
 * killed leaves its cgroup as it begins to exit, a moment before /proc
 * shows it dead (beside a CPU hog, 2 runs of 20 counted one such). */
static int nobody_procs_settled(int before)
{
	int n = nobody_procs();
	for (int i = 0; i < 100 && n > before; i++) {
		usleep(20000);
		n = nobody_procs();
	}
	return n;
}

Test(sandbox, a_command_runs_as_nobody_in_its_folder_and_sees_no_more)
{
	static char out[4096];
	struct el_sbx_result r = run("who", "id -u; pwd; echo made > made; ls /work /root /home 2>&1 | head -3",
				     EL_SBX_LIMITS_DEFAULT, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_EXITED, "%s: %s", el_sbx_end_name(r.end), out);
	cr_expect(strncmp(out, "65534\n" EL_SBX_DIR "\n", strlen("65534\n" EL_SBX_DIR "\n")) == 0, "%s", out);
	cr_expect_not_null(strstr(out, "/work"), "%s", out);
	cr_expect_null(strstr(out, "main"), "the host's /work is visible: %s", out);
	char made[96];
	snprintf(made, sizeof(made), "%s/made", dir);
	cr_expect_eq(access(made, F_OK), 0, "it could not write its own folder: %s", out);
}

Test(sandbox, a_fork_bomb_is_held_at_the_process_limit_and_leaves_nothing)
{
	static char out[4096];
	int before = nobody_procs();
	struct el_sbx_limits lim = {.pids = 32, .memory_mib = 128, .cpu_s = 20, .wall_s = 5};
	struct el_sbx_result r = run("bomb", "b() { b | b & }; b; sleep 2", lim, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_PROCESS_LIMIT, "%s (pids.max hit %llu times)", el_sbx_end_name(r.end),
		     (unsigned long long)r.ev.pids_max);
	cr_expect_eq(nobody_procs_settled(before), before, "processes of the bomb are left");
}

Test(sandbox, a_memory_hog_is_killed_at_the_memory_limit)
{
	static char out[4096];
	struct el_sbx_limits lim = {.pids = 32, .memory_mib = 32, .cpu_s = 20, .wall_s = 20};
	/* tail holds a whole line, and /dev/zero has no LF. */
	struct el_sbx_result r = run("hog", "head -c 300000000 /dev/zero | tail", lim, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_MEMORY_LIMIT, "%s: %s", el_sbx_end_name(r.end), out);
	cr_expect_gt(r.ev.oom_kills, 0);
}

Test(sandbox, a_spinner_is_killed_at_the_cpu_limit)
{
	static char out[4096];
	struct el_sbx_limits lim = {.pids = 32, .memory_mib = 64, .cpu_s = 1, .wall_s = 30};
	struct el_sbx_result r = run("spin", "while :; do :; done", lim, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_CPU_LIMIT, "%s: %s", el_sbx_end_name(r.end), out);
	cr_expect_geq(r.ev.cpu_s, 1.0);
	cr_expect_lt(r.wall_s, 20, "killed only after %.1f s", r.wall_s);
}

Test(sandbox, a_sleeper_is_killed_at_the_wall_clock_limit)
{
	static char out[4096];
	struct el_sbx_limits lim = {.pids = 32, .memory_mib = 64, .cpu_s = 10, .wall_s = 1};
	struct el_sbx_result r = run("sleep", "sleep 60", lim, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_WALL_LIMIT, "%s: %s", el_sbx_end_name(r.end), out);
	cr_expect_lt(r.wall_s, 10);
}

Test(sandbox, a_double_forked_daemon_dies_with_its_command)
{
	static char out[4096];
	int before = nobody_procs();
	struct el_sbx_result r =
		run("daemon", "(setsid sh -c 'sleep 300' > /dev/null 2>&1 &); echo started", EL_SBX_LIMITS_DEFAULT, out,
		    sizeof(out));
	cr_expect_eq(r.end, EL_SBX_EXITED, "%s: %s", el_sbx_end_name(r.end), out);
	cr_expect_eq(nobody_procs_settled(before), before, "the daemon outlived its sandbox");
}

/* A process of the sandbox's own uid outside it, which kill(-1) would
 * reach from anywhere but a pid namespace of its own. */
Test(sandbox, kill_minus_one_reaches_nothing_outside)
{
	static char out[4096];
	pid_t victim = fork();
	cr_assert_geq(victim, 0);
	if (victim == 0) {
		if (setresgid(EL_SBX_GID, EL_SBX_GID, EL_SBX_GID) < 0 || setresuid(EL_SBX_UID, EL_SBX_UID, EL_SBX_UID) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	struct el_sbx_result r = run("killer", "kill -9 -1; echo done", EL_SBX_LIMITS_DEFAULT, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_EXITED, "%s: %s", el_sbx_end_name(r.end), out);
	int st;
	cr_expect_eq(waitpid(victim, &st, WNOHANG), 0, "kill(-1) inside reached a process outside");
	kill(victim, SIGKILL);
	waitpid(victim, &st, 0);
}

Test(sandbox, writes_outside_its_folder_and_reads_of_another_fail)
{
	static char out[4096];
	/* Another submission's folder, beside this one. */
	char other[96], secret[128], cmd[512];
	snprintf(other, sizeof(other), "%s-other", dir);
	cr_assert_eq(mkdir(other, 0755), 0);
	snprintf(secret, sizeof(secret), "%s/answer.c", other);
	FILE *f = fopen(secret, "w");
	cr_assert_not_null(f);
	fputs("the other student's code\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "echo x > /etc/echolab-evil; echo x > /usr/echolab-evil; echo x > /tmp/echolab-evil; "
		 "cat '%s' > stolen; cat ../*/answer.c >> stolen; true",
		 secret);
	struct el_sbx_result r = run("escape", cmd, EL_SBX_LIMITS_DEFAULT, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_EXITED, "%s: %s", el_sbx_end_name(r.end), out);
	cr_expect_neq(access("/etc/echolab-evil", F_OK), 0, "it wrote /etc");
	cr_expect_neq(access("/usr/echolab-evil", F_OK), 0, "it wrote /usr");
	cr_expect_neq(access("/tmp/echolab-evil", F_OK), 0, "it wrote the host's /tmp");
	char stolen[128], buf[256] = "";
	snprintf(stolen, sizeof(stolen), "%s/stolen", dir);
	f = fopen(stolen, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fclose(f);
	}
	cr_expect_null(strstr(buf, "other student"), "it read another submission: %s", buf);
	unlink(secret);
	rmdir(other);
}

/* The outside is a listener of this test on the host's loopback: a
 * connect to it from inside reaches the sandbox's own loopback (refused),
 * and one toward an address outside goes into the trap and is counted. */
Test(sandbox, connecting_outside_reaches_nothing_and_is_counted)
{
	static char out[4096];
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 8), 0);
	socklen_t len = sizeof(a);
	getsockname(lfd, (struct sockaddr *)&a, &len);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import socket\n"
		 "for host in ('127.0.0.1', '192.0.2.1'):\n"
		 "    s = socket.socket(); s.settimeout(1)\n"
		 "    try: s.connect((host, %u)); print(host, 'connected')\n"
		 "    except OSError as e: print(host, e)\n\"",
		 ntohs(a.sin_port));
	struct el_sbx_result r = run("outside", cmd, EL_SBX_LIMITS_DEFAULT, out, sizeof(out));
	cr_expect_eq(r.end, EL_SBX_EXITED, "%s: %s", el_sbx_end_name(r.end), out);
	cr_expect_null(strstr(out, "connected"), "%s", out);
	cr_expect_gt(r.ev.outside, 0, "no packet toward outside counted: %s", out);
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	cr_expect_eq(poll(&p, 1, 100), 0, "the host's listener was reached from inside");
	close(lfd);
}

/* The grader enters the namespace and reaches a server inside. */
Test(sandbox, the_grader_reaches_a_server_inside)
{
	struct el_sbx *s = el_sbx_create("server", dir, NULL, why, sizeof(why));
	cr_assert_not_null(s, "%s", why);
	pid_t pid = el_sbx_spawn(s,
				 "exec python3 -c \"import socket\n"
				 "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
				 "l.bind(('127.0.0.1', 7007)); l.listen(1)\n"
				 "c = l.accept()[0]; c.sendall(c.recv(100))\n\"",
				 -1);
	cr_assert_gt(pid, 0);
	cr_assert_eq(el_sbx_enter_net(s), 0);
	int fd = -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7007), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int i = 0; i < 100 && fd < 0; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(fd);
			fd = -1;
			usleep(50000);
		}
	}
	cr_assert_eq(el_sbx_leave_net(s), 0);
	cr_assert_geq(fd, 0, "the server inside never listened");
	cr_assert_eq(write(fd, "hello\n", 6), 6);
	char buf[16] = "";
	cr_expect_eq(read(fd, buf, sizeof(buf)), 6);
	cr_expect_str_eq(buf, "hello\n");
	close(fd);
	struct el_sbx_result r;
	cr_expect_eq(el_sbx_wait(s, pid, &r), 0);
	el_sbx_destroy(s);
}

/* el_sbx_check in a child that prepare (returning false: skip, errno
 * saying why) made unfit first; "RC REASON", or "skip WHY", into buf. */
static void check_in_child(bool (*prepare)(void), char *buf, size_t len)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (!prepare()) {
			dprintf(p[1], "skip %s", strerror(errno));
			_exit(0);
		}
		char reason[512];
		int rc = el_sbx_check(reason, sizeof(reason));
		dprintf(p[1], "%d %s", rc, reason);
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	close(p[0]);
	waitpid(pid, NULL, 0);
}

static bool not_root(void)
{
	return setresuid(EL_SBX_UID, EL_SBX_UID, EL_SBX_UID) == 0;
}

/* Without root, one line names what is missing. */
Test(sandbox, without_root_one_line_says_so)
{
	char buf[600];
	check_in_child(not_root, buf, sizeof(buf));
	cr_assert_neq(strncmp(buf, "skip ", 5), 0, "cannot drop root: %s", buf + 5);
	cr_expect_eq(atoi(buf), -ENOTSUP, "%s", buf);
	cr_expect_not_null(strstr(buf, "needs root"), "%s", buf);
	cr_expect_null(strchr(buf, '\n'), "more than one line: %s", buf);
}

/* An empty /sys/fs/cgroup, in a mount namespace of its own. */
static bool no_cgroups(void)
{
	return unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	       mount("none", "/sys/fs/cgroup", "tmpfs", 0, NULL) == 0;
}

/* A machine without the cgroups the sandbox needs: one line names both
 * kinds it looked for, and the check refuses. */
Test(sandbox, without_cgroups_one_line_says_so)
{
	char buf[600];
	check_in_child(no_cgroups, buf, sizeof(buf));
	if (strncmp(buf, "skip ", 5) == 0)
		cr_skip_test("no mount namespace of its own to hide the cgroups in: %s", buf + 5);
	cr_expect_eq(atoi(buf), -ENOTSUP, "%s", buf);
	cr_expect_not_null(strstr(buf, "needs cgroups"), "%s", buf);
	cr_expect_not_null(strstr(buf, "v2 with pids and memory"), "%s", buf);
	cr_expect_not_null(strstr(buf, "v1 with pids, memory, cpuacct and freezer"), "%s", buf);
	cr_expect_null(strchr(buf, '\n'), "more than one line: %s", buf);
}

/* A supervisor's way in: its child calls el_sbx_enter_child, then runs
 * the command el_sbx_wrap wrote; quotes in the command survive. */
Test(sandbox, a_wrapped_command_runs_inside_as_given)
{
	struct el_sbx *s = el_sbx_create("wrap", dir, NULL, why, sizeof(why));
	cr_assert_not_null(s, "%s", why);
	static char line[8192];
	cr_assert_eq(el_sbx_wrap(s, "printf '%s %s\\n' \"it's\" \"$(id -u)\" > said", line, sizeof(line)), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (el_sbx_enter_child(s) < 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, line);
	el_sbx_destroy(s);
	char path[96], buf[64] = "";
	snprintf(path, sizeof(path), "%s/said", dir);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "nothing written: %s", line);
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_expect_str_eq(buf, "it's 65534\n");
}
