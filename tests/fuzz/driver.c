/* driver.c: a plain main() for the libFuzzer-style targets, so that gcc
 * (no -fsanitize=fuzzer) can build and run them too.  It runs every file
 * named (or every file in a directory named) once, then, with -t or -n,
 * feeds mutations of those inputs for a bounded time and count.  It has
 * no coverage feedback: it is the fallback, libFuzzer is the real thing.
 *
 *   fuzz_x [-t seconds] [-n runs] [-s seed] [-m maxlen] [file|dir ...] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DRV_MAXSEEDS 256

struct seed {
	uint8_t *data;
	size_t len;
};

static struct seed drv_seeds[DRV_MAXSEEDS];
static size_t drv_nseeds;

static void drv_load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f || drv_nseeds == DRV_MAXSEEDS) {
		if (f)
			fclose(f);
		return;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && n >= 0 && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		drv_seeds[drv_nseeds].data = buf;
		drv_seeds[drv_nseeds++].len = (size_t)n;
	} else {
		free(buf);
	}
	fclose(f);
}

static void drv_load(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (stat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		drv_load_file(path);
		return;
	}
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL) {
		char p[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		drv_load_file(p);
	}
	if (d)
		closedir(d);
}

/* Bytes that matter to our parsers, picked more often than chance. */
static const char drv_magic[] = "<>@:,.\"\\\r\n\t 0123456789=/[]-%!#_abzAZ\0\x80\xff";

/* One random change to buf (len in *n, room for max bytes). */
static void drv_mutate_once(uint8_t *buf, size_t *n, size_t max)
{
	size_t pos = *n ? (size_t)rand() % *n : 0, k;
	switch (rand() % 7) {
	case 0: /* flip a bit */
		if (*n)
			buf[pos] ^= (uint8_t)(1u << (rand() % 8));
		break;
	case 1: /* random byte */
		if (*n)
			buf[pos] = (uint8_t)rand();
		break;
	case 2: /* magic byte */
		if (*n)
			buf[pos] = (uint8_t)drv_magic[rand() % (sizeof drv_magic - 1)];
		break;
	case 3: /* insert a magic byte */
		if (*n < max) {
			memmove(buf + pos + 1, buf + pos, *n - pos);
			buf[pos] = (uint8_t)drv_magic[rand() % (sizeof drv_magic - 1)];
			(*n)++;
		}
		break;
	case 4: /* delete a range */
		k = *n - pos ? 1 + (size_t)rand() % (*n - pos) % 16 : 0;
		memmove(buf + pos, buf + pos + k, *n - pos - k);
		*n -= k;
		break;
	case 5: /* duplicate a range */
		k = *n - pos ? 1 + (size_t)rand() % (*n - pos) : 0;
		if (k && *n + k <= max) {
			memmove(buf + pos + k, buf + pos, *n - pos);
			*n += k;
		}
		break;
	default: /* splice in the start of another seed */
		if (drv_nseeds) {
			const struct seed *s = &drv_seeds[rand() % drv_nseeds];
			k = s->len < max - pos ? s->len : max - pos;
			if (k > 0)
				k = (size_t)rand() % k + 1;
			memcpy(buf + pos, s->data, k);
			if (pos + k > *n)
				*n = pos + k;
		}
		break;
	}
}

static long drv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

int main(int argc, char **argv)
{
	long seconds = 0, runs = 0, maxlen = 4096, done = 0, start;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	uint8_t *buf;
	int c;

	while ((c = getopt(argc, argv, "t:n:s:m:")) != -1) {
		if (c == 't')
			seconds = atol(optarg);
		else if (c == 'n')
			runs = atol(optarg);
		else if (c == 's')
			seed = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'm')
			maxlen = atol(optarg);
		else
			return 2;
	}
	if (maxlen < 1)
		maxlen = 1;
	for (int i = optind; i < argc; i++)
		drv_load(argv[i]);
	for (size_t i = 0; i < drv_nseeds; i++)
		LLVMFuzzerTestOneInput(drv_seeds[i].data, drv_seeds[i].len);
	printf("%s: %zu seed inputs ok\n", argv[0], drv_nseeds);
	if (!seconds && !runs)
		return 0;
	srand(seed);
	buf = malloc((size_t)maxlen);
	start = drv_now();
	while ((!runs || done < runs) &&
	       (!seconds || drv_now() - start < seconds)) {
		size_t n = 0;
		if (drv_nseeds && rand() % 8) {
			const struct seed *s = &drv_seeds[rand() % drv_nseeds];
			n = s->len < (size_t)maxlen ? s->len : (size_t)maxlen;
			memcpy(buf, s->data, n);
		}
		for (int m = 1 + rand() % 8; m > 0; m--)
			drv_mutate_once(buf, &n, (size_t)maxlen);
		/* an exact-size copy so that ASan sees any over-read */
		uint8_t *in = malloc(n ? n : 1);
		memcpy(in, buf, n);
		LLVMFuzzerTestOneInput(in, n);
		free(in);
		done++;
	}
	printf("%s: %ld mutated runs in %lds (seed %u), no crash\n", argv[0],
	       done, drv_now() - start, seed);
	free(buf);
	return 0;
}
