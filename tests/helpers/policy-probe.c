/* SPDX-License-Identifier: MIT */
/*
 * policy-probe: launched as the gateway, it reports what the sandbox left
 * it, as "key=value" lines on stdout (machine-checkable by the tests).
 *
 *   policy-probe report [PID]   identity, /proc/self/status fields,
 *                               limits, environment names, and the result
 *                               of every attempt (errno name, "ok", or how
 *                               a child died); PID is a stand-in for the
 *                               sync agent (ptrace, /proc/PID/mem);
 *                               "agent" finds the real one (tenant-sync,
 *                               a child of PID 1) and reports agent_pid
 *   policy-probe denied         call a denied syscall (keyctl) and report;
 *                               with action = kill it dies of SIGSYS first
 *   policy-probe hold FILE      become non-dumpable (like the sync agent),
 *                               write FILE, wait to be killed
 *
 * Attempts that could succeed against a broken sandbox are made in a
 * forked child where they would change this process (clone with
 * namespaces, foreign syscall ABIs).
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

static const char *res(long r)
{
	static char buf[64];

	if (r >= 0)
		return "ok";
	(void)snprintf(buf, sizeof(buf), "%s", strerrorname_np(errno));
	return buf;
}

/* How a child ended: "exit:N" or "signal:NAME". */
static const char *ended(pid_t pid)
{
	static char buf[64];
	int st;

	if (pid < 0)
		return res(-1);
	if (waitpid(pid, &st, 0) < 0)
		return res(-1);
	if (WIFSIGNALED(st))
		(void)snprintf(buf, sizeof(buf), "signal:%s",
			       sigabbrev_np(WTERMSIG(st)));
	else
		(void)snprintf(buf, sizeof(buf), "exit:%d", WEXITSTATUS(st));
	return buf;
}

static void status_fields(void)
{
	static const char *const want[] = {
	    "CapInh", "CapPrm",	    "CapEff",  "CapBnd",
	    "CapAmb", "NoNewPrivs", "Seccomp", "Groups",
	};
	char line[512];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		char *v;
		if (!colon)
			continue;
		*colon = '\0';
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			if (strcmp(line, want[i]) != 0)
				continue;
			v = colon + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			/* Groups is a list; trailing blank trimmed. */
			for (size_t n = strlen(v); n && v[n - 1] == ' '; n--)
				v[n - 1] = '\0';
			printf("status.%s=%s\n", line, v);
		}
	}
	fclose(f);
}

static const char *ptrace_attach(pid_t pid)
{
	long r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
	const char *s = res(r);

	if (r == 0) {
		int st;
		(void)waitpid(pid, &st, __WALL);
		(void)ptrace(PTRACE_DETACH, pid, NULL, NULL);
	}
	return s;
}

static const char *open_proc(pid_t pid, const char *what)
{
	char path[64];
	int fd;
	char c;

	(void)snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return res(-1);
	/* environ opens for anyone; reading it is the check (ptrace). */
	if (read(fd, &c, 1) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return res(-1);
	}
	close(fd);
	return "ok";
}

static const char *vm_read(pid_t pid)
{
	char buf[8];
	struct iovec local = {buf, sizeof(buf)};
	struct iovec remote = {(void *)0x400000, sizeof(buf)};

	return res(process_vm_readv(pid, &local, 1, &remote, 1, 0));
}

static const char *try_capset(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{0}};

	d[0].effective = d[0].permitted = 1u << CAP_SYS_ADMIN;
	return res(syscall(SYS_capset, &h, d));
}

/* clone(CLONE_NEWUSER): the child would just exit. */
static const char *clone_newuser(void)
{
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);

	if (r == 0)
		_exit(0);
	if (r > 0) {
		(void)waitpid((pid_t)r, NULL, 0);
		return "ok";
	}
	return res(-1);
}

static const char *clone3_probe(void)
{
	/* An invalid (zero-size) argument: EINVAL when allowed. */
	return res(syscall(SYS_clone3, NULL, 0));
}

static void *thread_fn(void *arg)
{
	return arg;
}

static const char *thread_probe(void)
{
	pthread_t t;
	int r = pthread_create(&t, NULL, thread_fn, NULL);

	if (r != 0) {
		errno = r;
		return res(-1);
	}
	(void)pthread_join(t, NULL);
	return "ok";
}

static const char *fork_exec(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = {"true", NULL};
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	return ended(pid);
}

/* A syscall through the x32 ABI (getpid), in a child. */
static const char *x32_probe(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		(void)syscall(__X32_SYSCALL_BIT | SYS_getpid);
		_exit(0);
	}
	return ended(pid);
}

/* A syscall through the i386 ABI (int 0x80, getpid = 20), in a child. */
static const char *i386_probe(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		long ret;
		__asm__ volatile("int $0x80"
				 : "=a"(ret)
				 : "a"(20L)
				 : "memory", "cc");
		(void)ret;
		_exit(0);
	}
	return ended(pid);
}

static int lo_up(void)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int up;

	if (s < 0)
		return -1;
	(void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	up = ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ? -1 : !!(ifr.ifr_flags & IFF_UP);
	close(s);
	return up;
}

static void limits(void)
{
	static const struct {
		const char *name;
		int res;
	} l[] = {
	    {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},
	    {"core", RLIMIT_CORE},     {"as", RLIMIT_AS},
	    {"stack", RLIMIT_STACK},   {"cpu", RLIMIT_CPU},
	};

	for (size_t i = 0; i < sizeof(l) / sizeof(l[0]); i++) {
		struct rlimit rl;
		if (getrlimit(l[i].res, &rl) < 0)
			continue;
		printf("rlimit.%s=", l[i].name);
		if (rl.rlim_cur == RLIM_INFINITY)
			printf("unlimited:");
		else
			printf("%llu:", (unsigned long long)rl.rlim_cur);
		if (rl.rlim_max == RLIM_INFINITY)
			printf("unlimited\n");
		else
			printf("%llu\n", (unsigned long long)rl.rlim_max);
	}
}

static int report(pid_t target)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	char cwd[4096];
	mode_t um = umask(0);

	(void)umask(um);
	(void)getresuid(&ru, &eu, &su);
	(void)getresgid(&rg, &eg, &sg);
	printf("uid=%u,%u,%u\n", ru, eu, su);
	printf("gid=%u,%u,%u\n", rg, eg, sg);
	printf("pid=%d\n", (int)getpid());
	status_fields();
	limits();
	printf("umask=%04o\n", (unsigned)um);
	printf("cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	printf("lo_up=%d\n", lo_up());
	printf("dumpable=%d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	/* Whole entries: a leaked secret shows up in the test log, which
	 * holds only the tests' fake values. */
	for (char **e = environ; *e; e++)
		printf("env=%s\n", *e);

	printf("ptrace_pid1=%s\n", ptrace_attach(1));
	printf("open_pid1_environ=%s\n", open_proc(1, "environ"));
	printf("open_pid1_mem=%s\n", open_proc(1, "mem"));
	printf("vm_read_pid1=%s\n", vm_read(1));
	/* As a subreaper's child, the parent is tenant-init itself. */
	printf("ptrace_parent=%s\n", ptrace_attach(getppid()));
	printf("open_parent_mem=%s\n", open_proc(getppid(), "mem"));
	if (target > 0) {
		printf("ptrace_target=%s\n", ptrace_attach(target));
		printf("open_target_environ=%s\n",
		       open_proc(target, "environ"));
		printf("open_target_mem=%s\n", open_proc(target, "mem"));
		printf("vm_read_target=%s\n", vm_read(target));
	}
	printf("setuid0=%s\n", res(setuid(0)));
	printf("setgid0=%s\n", res(setgid(0)));
	printf("setgroups=%s\n", res(setgroups(0, NULL)));
	printf("capset=%s\n", try_capset());
	printf("keyctl=%s\n", res(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */,
					  -3 /* SESSION */, 0)));
	printf("perf_event_open=%s\n",
	       res(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)));
	printf("userfaultfd=%s\n", res(syscall(SYS_userfaultfd, O_CLOEXEC)));
	printf("bpf=%s\n", res(syscall(SYS_bpf, 0, NULL, 0)));
	printf("mount=%s\n",
	       res(syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL)));
	printf("unshare_user=%s\n", res(unshare(CLONE_NEWUSER)));
	printf("clone_newuser=%s\n", clone_newuser());
	printf("clone3=%s\n", clone3_probe());
	printf("io_uring_setup=%s\n",
	       res(syscall(SYS_io_uring_setup, 1, NULL)));
	printf("thread=%s\n", thread_probe());
	printf("fork_exec=%s\n", fork_exec());
	printf("x32=%s\n", x32_probe());
	printf("i386=%s\n", i386_probe());
	printf("done=1\n");
	return 0;
}

/*
 * The real sync agent, as the gateway would find it: the process named
 * tenant-sync among PID 1's children (/proc/1/task/1/children and the
 * comm files are world-readable). 0 when there is none.
 */
static pid_t find_agent(void)
{
	FILE *f = fopen("/proc/1/task/1/children", "re");
	int pid;
	pid_t found = 0;

	if (!f)
		return 0;
	while (!found && fscanf(f, "%d", &pid) == 1) {
		char path[64], comm[32] = "";
		FILE *c;
		(void)snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		c = fopen(path, "re");
		if (c && fgets(comm, sizeof(comm), c) &&
		    strcmp(comm, "tenant-sync\n") == 0)
			found = pid;
		if (c)
			fclose(c);
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "report") == 0 &&
	    strcmp(argv[2], "agent") == 0) {
		pid_t agent = find_agent();
		printf("agent_pid=%d\n", (int)agent);
		return report(agent);
	}
	if (argc >= 2 && strcmp(argv[1], "report") == 0)
		return report(argc >= 3 ? (pid_t)atoi(argv[2]) : 0);
	if (argc >= 2 && strcmp(argv[1], "denied") == 0) {
		printf("keyctl=%s\n", res(syscall(SYS_keyctl, 0, -3, 0)));
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "hold") == 0) {
		FILE *f;
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			return 1;
		f = fopen(argv[2], "we");
		if (!f)
			return 1;
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
		for (;;)
			pause();
	}
	fprintf(stderr, "usage: policy-probe report [PID|agent] | denied | "
			"hold FILE\n");
	return 2;
}
