/*
 * dnsloop: the resolver loop client of the test images, in C, so that it runs
 * on the C library's own resolver: built with gcc it is glibc's getaddrinfo
 * (through nsswitch.conf), built statically with musl-gcc it is musl's.
 *
 * Flags, the NAME=EXPECT arguments, the JSON lines it prints and its exit
 * status are documented in the Go package test/images/resolveloop, whose Go
 * build (test/images/cmd/dnsloop-go) behaves the same; keep the two in step.
 *
 *   gcc -O2 -pthread -o dnsloop dnsloop.c                 (glibc)
 *   musl-gcc -O2 -static -pthread -o dnsloop dnsloop.c    (musl)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifdef __GLIBC__
#define CLIENT "glibc"
#else
#define CLIENT "musl"
#endif

#define MAX_ADDRS 32
#define MAX_WORKERS 256
#define MAX_DURATION 86400.0
#define MAX_RATE 100000.0

struct addr {
	int family;
	unsigned char bytes[16];
};

struct target {
	const char *name;
	int any, nxdomain;
	int naddrs;
	struct addr addrs[MAX_ADDRS];
};

struct options {
	double rate, duration, report;
	long long count;
	int workers;
	const char *family;
	int ntargets;
	struct target *targets;
};

/* Everything the workers share, guarded by mu (output included). */
static struct {
	struct options o;
	struct timespec start_mono;
	pthread_mutex_t mu;
	long long next;
	long long lookups, ok, failed, wrong, max_ms;
	int active;
} st = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Set by SIGTERM/SIGINT: no new lookups, then the final line. */
static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
	(void)sig;
	stopping = 1;
}

static double mono_since_start(void) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - st.start_mono.tv_sec) + (double)(now.tv_nsec - st.start_mono.tv_nsec) / 1e9;
}

/* UTC wall-clock time as 2006-01-02T15:04:05.000Z. */
static void stamp(char *buf, size_t n) {
	struct timespec now;
	struct tm tm;
	char sec[32];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03ldZ", sec, now.tv_nsec / 1000000);
}

/* Writes s as a JSON string. */
static void put_json_string(FILE *f, const char *s) {
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void sleep_seconds(double s) {
	struct timespec ts;
	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL); /* EINTR (a signal) just ends the nap early */
}

static const char *eai_name(int rc) {
	switch (rc) {
	case EAI_AGAIN: return "EAI_AGAIN";
	case EAI_FAIL: return "EAI_FAIL";
	case EAI_NONAME: return "EAI_NONAME";
	case EAI_MEMORY: return "EAI_MEMORY";
	case EAI_SYSTEM: return "EAI_SYSTEM";
	case EAI_FAMILY: return "EAI_FAMILY";
	case EAI_SERVICE: return "EAI_SERVICE";
	case EAI_BADFLAGS: return "EAI_BADFLAGS";
#ifdef EAI_NODATA
	case EAI_NODATA: return "EAI_NODATA";
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
#endif
#ifdef EAI_OVERFLOW
	case EAI_OVERFLOW: return "EAI_OVERFLOW";
#endif
	default: return "EAI_OTHER";
	}
}

/* "Not found": NXDOMAIN, or the name has no address of the family asked. */
static int eai_not_found(int rc) {
	if (rc == EAI_NONAME)
		return 1;
#ifdef EAI_NODATA
	if (rc == EAI_NODATA)
		return 1;
#endif
#ifdef EAI_ADDRFAMILY
	if (rc == EAI_ADDRFAMILY)
		return 1;
#endif
	return 0;
}

static int addr_of(const struct sockaddr *sa, struct addr *a) {
	memset(a, 0, sizeof *a);
	a->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		memcpy(a->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 1;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(a->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 1;
	}
	return 0;
}

static int expected(const struct target *t, const struct addr *a) {
	for (int i = 0; i < t->naddrs; i++)
		if (t->addrs[i].family == a->family && memcmp(t->addrs[i].bytes, a->bytes, 16) == 0)
			return 1;
	return 0;
}

enum class { C_OK, C_FAILED, C_WRONG };

/* Resolves t once and judges the answer; reason is set unless C_OK. */
static enum class resolve(const struct target *t, char *reason, size_t n) {
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = strcmp(st.o.family, "4") == 0 ? AF_INET : strcmp(st.o.family, "6") == 0 ? AF_INET6 : AF_UNSPEC;
	/* One socket type, so each address is listed once. */
	hints.ai_socktype = SOCK_STREAM;
	errno = 0;
	int rc = getaddrinfo(t->name, NULL, &hints, &res);
	if (rc != 0) {
		if (eai_not_found(rc)) {
			if (t->nxdomain)
				return C_OK;
			snprintf(reason, n, "NXDOMAIN");
			return C_WRONG;
		}
		if (rc == EAI_SYSTEM)
			snprintf(reason, n, "%s: %s", eai_name(rc), strerror(errno));
		else
			snprintf(reason, n, "%s: %s", eai_name(rc), gai_strerror(rc));
		return C_FAILED;
	}
	enum class c = C_OK;
	int seen = 0;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		struct addr a;
		char text[INET6_ADDRSTRLEN];
		if (!addr_of(ai->ai_addr, &a))
			continue;
		seen++;
		inet_ntop(a.family, a.bytes, text, sizeof text);
		if (t->nxdomain) {
			snprintf(reason, n, "exists: %s", text);
			c = C_WRONG;
			break;
		}
		if (!t->any && !expected(t, &a)) {
			snprintf(reason, n, "unexpected address %s", text);
			c = C_WRONG;
			break;
		}
	}
	freeaddrinfo(res);
	if (c == C_OK && seen == 0 && !t->nxdomain) {
		snprintf(reason, n, "NXDOMAIN");
		c = C_WRONG;
	}
	return c;
}

static void print_counts(const char *event) {
	char ts[64];
	stamp(ts, sizeof ts);
	double el = mono_since_start();
	pthread_mutex_lock(&st.mu);
	printf("{\"event\":\"%s\",\"time\":\"%s\",\"elapsed\":%.3f,\"lookups\":%lld,\"ok\":%lld,\"failed\":%lld,"
	       "\"wrong\":%lld,\"max_ms\":%lld}\n",
	       event, ts, el, st.lookups, st.ok, st.failed, st.wrong, st.max_ms);
	fflush(stdout);
	pthread_mutex_unlock(&st.mu);
}

static void record(const struct target *t, enum class c, const char *reason, long long ms) {
	char ts[64];
	stamp(ts, sizeof ts);
	double el = mono_since_start();
	pthread_mutex_lock(&st.mu);
	st.lookups++;
	if (ms > st.max_ms)
		st.max_ms = ms;
	if (c == C_OK) {
		st.ok++;
	} else {
		if (c == C_FAILED)
			st.failed++;
		else
			st.wrong++;
		printf("{\"event\":\"failure\",\"time\":\"%s\",\"elapsed\":%.3f,\"name\":", ts, el);
		put_json_string(stdout, t->name);
		printf(",\"class\":\"%s\",\"reason\":", c == C_FAILED ? "failed" : "wrong");
		put_json_string(stdout, reason);
		printf(",\"ms\":%lld}\n", ms);
		fflush(stdout);
	}
	pthread_mutex_unlock(&st.mu);
}

/* Hands out lookup k, due k/rate seconds after start, while count and time last. */
static const struct target *claim(double *due) {
	const struct target *t = NULL;
	pthread_mutex_lock(&st.mu);
	long long k = st.next;
	double at = (double)k / st.o.rate;
	if (!stopping && (st.o.count == 0 || k < st.o.count) && at < st.o.duration) {
		st.next++;
		t = &st.o.targets[k % st.o.ntargets];
		*due = at;
	}
	pthread_mutex_unlock(&st.mu);
	return t;
}

static void *worker(void *arg) {
	(void)arg;
	const struct target *t;
	double due;
	while ((t = claim(&due)) != NULL) {
		/* Nap in short steps so SIGTERM is noticed promptly. */
		for (double wait; !stopping && (wait = due - mono_since_start()) > 0;)
			sleep_seconds(wait < 0.1 ? wait : 0.1);
		if (stopping)
			break;
		char reason[512] = "";
		double began = mono_since_start();
		enum class c = resolve(t, reason, sizeof reason);
		long long ms = (long long)((mono_since_start() - began) * 1000);
		record(t, c, reason, ms);
	}
	pthread_mutex_lock(&st.mu);
	st.active--;
	pthread_mutex_unlock(&st.mu);
	return NULL;
}

static int usage(const char *msg, const char *arg) {
	if (msg != NULL)
		fprintf(stderr, "dnsloop: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	fprintf(stderr,
	        "usage: dnsloop [flags] NAME=EXPECT... (EXPECT: any, NXDOMAIN or ADDR[,ADDR])\n"
	        "  -rate N      lookups per second over all names (default 10)\n"
	        "  -duration S  seconds to run, at most 86400 (default 60)\n"
	        "  -count N     stop after N lookups, 0: no count limit (default 0)\n"
	        "  -workers N   lookups in flight at most (default 8)\n"
	        "  -report S    seconds between report lines (default 5)\n"
	        "  -family F    4, 6 or any (default any)\n");
	return 2;
}

static int parse_target(char *arg, struct target *t) {
	char *eq = strchr(arg, '=');
	memset(t, 0, sizeof *t);
	if (eq == NULL || eq == arg || eq[1] == '\0')
		return 0;
	*eq = '\0';
	t->name = arg;
	char *expect = eq + 1;
	if (strcmp(expect, "any") == 0) {
		t->any = 1;
		return 1;
	}
	if (strcmp(expect, "NXDOMAIN") == 0) {
		t->nxdomain = 1;
		return 1;
	}
	for (char *save = NULL, *s = strtok_r(expect, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
		struct addr *a = &t->addrs[t->naddrs];
		if (t->naddrs == MAX_ADDRS)
			return 0;
		if (inet_pton(AF_INET, s, a->bytes) == 1)
			a->family = AF_INET;
		else if (inet_pton(AF_INET6, s, a->bytes) == 1)
			a->family = AF_INET6;
		else
			return 0;
		t->naddrs++;
	}
	return t->naddrs > 0;
}

static int parse_number(const char *s, double *out) {
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0';
}

int main(int argc, char **argv) {
	struct options o = {.rate = 10, .duration = 60, .report = 5, .count = 0, .workers = 8, .family = "any"};
	o.targets = calloc((size_t)argc, sizeof *o.targets);
	if (o.targets == NULL)
		return 2;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (a[0] != '-') {
			if (!parse_target(a, &o.targets[o.ntargets]))
				return usage("want NAME=EXPECT (EXPECT: any, NXDOMAIN or ADDR[,ADDR])", argv[i]);
			o.ntargets++;
			continue;
		}
		char *flag = a + (a[1] == '-' ? 2 : 1);
		if (strcmp(flag, "h") == 0 || strcmp(flag, "help") == 0)
			return usage(NULL, NULL);
		char *val = strchr(flag, '=');
		if (val != NULL) {
			*val++ = '\0';
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			return usage("flag needs a value", a);
		}
		double num = 0;
		int isnum = parse_number(val, &num);
		if (strcmp(flag, "family") == 0) {
			o.family = val;
		} else if (!isnum) {
			return usage("bad value", val);
		} else if (strcmp(flag, "rate") == 0) {
			o.rate = num;
		} else if (strcmp(flag, "duration") == 0) {
			o.duration = num;
		} else if (strcmp(flag, "report") == 0) {
			o.report = num;
		} else if (strcmp(flag, "count") == 0 && num == (long long)num) {
			o.count = (long long)num;
		} else if (strcmp(flag, "workers") == 0 && num == (int)num) {
			o.workers = (int)num;
		} else {
			return usage("unknown flag or bad value", a);
		}
	}
	if (o.ntargets == 0)
		return usage("no NAME=EXPECT given", NULL);
	if (!(o.rate > 0 && o.rate <= MAX_RATE))
		return usage("-rate: want 0 < rate <= 100000", NULL);
	if (!(o.duration > 0 && o.duration <= MAX_DURATION))
		return usage("-duration: want 0 < duration <= 86400", NULL);
	if (o.count < 0)
		return usage("-count: want >= 0", NULL);
	if (o.workers < 1 || o.workers > MAX_WORKERS)
		return usage("-workers: want 1..256", NULL);
	if (!(o.report > 0))
		return usage("-report: want > 0", NULL);
	if (strcmp(o.family, "4") != 0 && strcmp(o.family, "6") != 0 && strcmp(o.family, "any") != 0)
		return usage("-family: want 4, 6 or any", o.family);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	st.o = o;
	clock_gettime(CLOCK_MONOTONIC, &st.start_mono);
	printf("{\"event\":\"start\",\"client\":\"%s\",\"rate\":%g,\"duration\":%g,\"count\":%lld,\"workers\":%d,"
	       "\"family\":\"%s\",\"names\":%d}\n",
	       CLIENT, o.rate, o.duration, o.count, o.workers, o.family, o.ntargets);
	fflush(stdout);

	pthread_t tids[MAX_WORKERS];
	int started = 0;
	for (; started < o.workers; started++) {
		pthread_mutex_lock(&st.mu);
		st.active++;
		pthread_mutex_unlock(&st.mu);
		if (pthread_create(&tids[started], NULL, worker, NULL) != 0) {
			pthread_mutex_lock(&st.mu);
			st.active--;
			pthread_mutex_unlock(&st.mu);
			break;
		}
	}
	if (started == 0) {
		fprintf(stderr, "dnsloop: cannot start a worker thread\n");
		return 2;
	}
	/* Report every o.report seconds until the workers are done. */
	double next_report = o.report;
	for (;;) {
		pthread_mutex_lock(&st.mu);
		int active = st.active;
		pthread_mutex_unlock(&st.mu);
		if (active == 0)
			break;
		if (mono_since_start() >= next_report) {
			print_counts("report");
			next_report += o.report;
		}
		sleep_seconds(0.05);
	}
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	print_counts("final");
	return st.failed > 0 || st.wrong > 0 ? 1 : 0;
}
