/* rstore_lua.c: the server-side scripts of the shared rate store.  Each
 * decision is one script run atomically in Redis, so boxes that ask at
 * the same instant see each other's counts and reservations.
 *
 * Keys (P = rate_store_prefix, NAME lowercased; every key expires by
 * itself once its window is over):
 *   P um:NAME   user's messages, daily window: hash of minute -> count,
 *               "t" = total of live buckets, "l" = newest bucket
 *   P ur:NAME   user's unique recipients: zset of recipient hash (hex)
 *               -> minute last sent to; live while minute > now - 1441
 *   P upm:NAME  user's pending message of each open transaction: zset of
 *               transaction id -> when it was reserved (seconds)
 *   P upr:NAME  user's pending new unique recipients: "id:n" -> when
 *   P cd:NAME   customer's recipients, daily window (as um)
 *   P ck:NAME   customer's recipients, 10-minute window, second buckets
 *   P cp:NAME   customer's pending recipients: "id:n" -> when
 *   P names     "u NAME" / "c NAME" -> last count (seconds), for stats
 *   P susp      the operator's suspensions ("user A", "customer C")
 *   P susp:v    a counter bumped at every change of P susp
 *   P epoch     a random value, set once, never expiring: gone or
 *               another, Redis lost its data (lib/rstore_epoch.h)
 * The windows are those of the counters file (ARCHITECTURE.md "Rate
 * counters"): 1441 one-minute buckets, 600 one-second buckets.  Time is
 * the Redis server's (TIME), so boxes with skewed clocks share one.
 * A pending entry counts in each window as a count made when it was
 * reserved would, until its commit or release takes it out: a box that
 * dies with a transaction open (whose client may still have its message
 * queued) leaves it counted, never less. */
#include "rstore_lua.h"
#include "rstore_int.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clock: the time given, else the Redis server's. */
#define LUA_CLOCK \
	"local function clock(a)\n" \
	"  if a ~= '' then return tonumber(a) end\n" \
	"  return tonumber(redis.call('TIME')[1])\n" \
	"end\n"

/* adv: move window k to bucket b (w buckets), dropping what fell out;
 * returns the live total.  add: count n in bucket b (an older bucket
 * still in the window when b is in the past: a replayed count). */
#define LUA_WINDOW \
	"local function adv(k, b, w)\n" \
	"  local l = tonumber(redis.call('HGET', k, 'l'))\n" \
	"  if not l then return 0, b end\n" \
	"  local t = tonumber(redis.call('HGET', k, 't')) or 0\n" \
	"  if b <= l then return t, l end\n" \
	"  if b - l >= w then redis.call('DEL', k) return 0, b end\n" \
	"  for i = l - w + 1, b - w do\n" \
	"    local v = redis.call('HGET', k, i)\n" \
	"    if v then t = t - tonumber(v) redis.call('HDEL', k, i) end\n" \
	"  end\n" \
	"  redis.call('HSET', k, 'l', b, 't', t)\n" \
	"  return t, b\n" \
	"end\n" \
	"local function add(k, b, w, n, ttl)\n" \
	"  local t, l = adv(k, b, w)\n" \
	"  if b <= l - w then return end\n" \
	"  if b > l then l = b end\n" \
	"  redis.call('HINCRBY', k, math.min(b, l), n)\n" \
	"  redis.call('HSET', k, 'l', l, 't', t + n)\n" \
	"  redis.call('EXPIRE', k, ttl)\n" \
	"end\n" \
	LUA_CLOCK

/* KEYS um ur upm upr cd ck cp; ARGV hasu hasc now id n hash umsg intxn
 * lim_msgs lim_rcpts lim_daily lim_peak.  {verdict, unew}: 0 ok,
 * 1 user daily, 2 customer daily, 3 customer peak.  Pending entries
 * live (day) from second `dlo` on, in the peak window from now - 599. */
static const char lua_rcpt[] = LUA_WINDOW
	"local hasu, hasc = ARGV[1] == '1', ARGV[2] == '1'\n"
	"local now = clock(ARGV[3])\n"
	"local mn, id, n, h = math.floor(now / 60), ARGV[4], ARGV[5], ARGV[6]\n"
	"local umsg, intxn = tonumber(ARGV[7]), ARGV[8] == '1'\n"
	"local lm, lr, ld, lp = tonumber(ARGV[9]), tonumber(ARGV[10]),"
	" tonumber(ARGV[11]), tonumber(ARGV[12])\n"
	"local dlo, ttl = (mn - 1440) * 60, 86400 + 180\n"
	"local function pending(k, lo)\n"
	"  redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. dlo)\n"
	"  return redis.call('ZCOUNT', k, lo, '+inf')\n"
	"end\n"
	"local unew = 0\n"
	"if hasu then\n"
	"  local t = adv(KEYS[1], mn, 1441)\n"
	"  if lm > 0 and t + pending(KEYS[3], dlo) + umsg > lm then"
	" return {1, 0} end\n"
	"  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', mn - 1441)\n"
	"  if not intxn and not redis.call('ZSCORE', KEYS[2], h) then"
	" unew = 1 end\n"
	"  if unew == 1 then\n"
	"    if lr > 0 and redis.call('ZCARD', KEYS[2]) +"
	" pending(KEYS[4], dlo) + 1 > lr then return {1, 0} end\n"
	"  end\n"
	"end\n"
	"if hasc then\n"
	"  if ld > 0 and adv(KEYS[5], mn, 1441) + pending(KEYS[7], dlo) + 1 > ld"
	" then return {2, 0} end\n"
	"  if lp > 0 and adv(KEYS[6], now, 600) + pending(KEYS[7], now - 599) +"
	" 1 > lp then return {3, 0} end\n"
	"end\n"
	"if hasu and umsg == 1 then redis.call('ZADD', KEYS[3], now, id)"
	" redis.call('EXPIRE', KEYS[3], ttl) end\n"
	"if hasu and unew == 1 then redis.call('ZADD', KEYS[4], now, id .. ':' .. n)"
	" redis.call('EXPIRE', KEYS[4], ttl) end\n"
	"if hasc then redis.call('ZADD', KEYS[7], now, id .. ':' .. n)"
	" redis.call('EXPIRE', KEYS[7], ttl) end\n"
	"return {0, unew}\n";

/* KEYS um ur upm upr cd ck cp names [done]; ARGV hasu hasc now id
 * npend count user cust hash...  Count a message: 1 for the user and its
 * recipients (a recipient's minute only moves forward), count recipients
 * for the customer; the transaction's pending entries id:1..npend go (id
 * "" = a replayed count that reserved nothing).  With the key done (the
 * transaction's, made from its id), a message is counted once: a commit
 * Redis ran after the box stopped waiting for it is replayed from the
 * journal, and that run counts nothing (returns 1). */
static const char lua_commit[] = LUA_WINDOW
	"local hasu, hasc = ARGV[1] == '1', ARGV[2] == '1'\n"
	"local now = clock(ARGV[3])\n"
	"local mn, id = math.floor(now / 60), ARGV[4]\n"
	"local np, n = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
	"local day = 86400 + 180\n"
	"if id ~= '' and KEYS[9] and"
	" not redis.call('SET', KEYS[9], '1', 'NX', 'EX', day) then\n"
	"  return 1\n"
	"end\n"
	"if id ~= '' then\n"
	"  redis.call('ZREM', KEYS[3], id)\n"
	"  for i = 1, np do\n"
	"    redis.call('ZREM', KEYS[4], id .. ':' .. i)\n"
	"    redis.call('ZREM', KEYS[7], id .. ':' .. i)\n"
	"  end\n"
	"end\n"
	"if hasu then\n"
	"  add(KEYS[1], mn, 1441, 1, day)\n"
	"  for i = 9, #ARGV do redis.call('ZADD', KEYS[2], 'GT', mn, ARGV[i]) end\n"
	"  if #ARGV >= 9 then redis.call('EXPIRE', KEYS[2], day) end\n"
	"  redis.call('ZADD', KEYS[8], 'GT', now, 'u ' .. ARGV[7])\n"
	"end\n"
	"if hasc and n > 0 then\n"
	"  add(KEYS[5], mn, 1441, n, day)\n"
	"  add(KEYS[6], now, 600, n, 660)\n"
	"  redis.call('ZADD', KEYS[8], 'GT', now, 'c ' .. ARGV[8])\n"
	"end\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - day)\n"
	"redis.call('EXPIRE', KEYS[8], day)\n"
	"return 0\n";

/* KEYS upm upr cp; ARGV id n: a transaction ends without a message. */
static const char lua_release[] =
	"redis.call('ZREM', KEYS[1], ARGV[1])\n"
	"for i = 1, tonumber(ARGV[2]) do\n"
	"  redis.call('ZREM', KEYS[2], ARGV[1] .. ':' .. i)\n"
	"  redis.call('ZREM', KEYS[3], ARGV[1] .. ':' .. i)\n"
	"end\n"
	"return 0\n";

/* KEYS um ur cd ck upm upr cp; ARGV now.  The live counts and oldest
 * live bucket of one user and one customer (relayctl stats,
 * relay-metrics), what open transactions reserved included (as the
 * checks count it): {msgs, msgs_oldest_min, rcpts, rcpts_oldest_min,
 * cust_day, day_oldest_min, cust_peak, peak_oldest_sec}, -1 for no
 * bucket.  It writes nothing: live(k, b, w) is what adv would leave
 * (buckets <= b - w out), read without moving the window, so that every
 * box's status page and scrapes add no writes to the shared store (the
 * next rcpt or commit script moves the window as before). */
static const char lua_stats[] = LUA_CLOCK
	"local now = clock(ARGV[1])\n"
	"local mn = math.floor(now / 60)\n"
	"local dlo = (mn - 1440) * 60\n"
	"local function live(k, b, w)\n"
	"  local l = tonumber(redis.call('HGET', k, 'l'))\n"
	"  if not l or b - l >= w then return 0, -1 end\n"
	"  local t = tonumber(redis.call('HGET', k, 't')) or 0\n"
	"  for i = l - w + 1, b - w do\n"
	"    local v = redis.call('HGET', k, i)\n"
	"    if v then t = t - tonumber(v) end\n"
	"  end\n"
	"  local o = -1\n"
	"  for _, f in ipairs(redis.call('HKEYS', k)) do\n"
	"    local v = tonumber(f)\n"
	"    if v and v > b - w and (o < 0 or v < o) then o = v end\n"
	"  end\n"
	"  return t, o\n"
	"end\n"
	"local function pend(k, lo)\n"
	"  return redis.call('ZCOUNT', k, lo, '+inf')\n"
	"end\n"
	"local um, umo = live(KEYS[1], mn, 1441)\n"
	"local ulo = '(' .. (mn - 1441)\n"
	"local ur = redis.call('ZCOUNT', KEYS[2], ulo, '+inf') +"
	" pend(KEYS[6], dlo)\n"
	"local first = redis.call('ZRANGEBYSCORE', KEYS[2], ulo, '+inf',"
	" 'WITHSCORES', 'LIMIT', 0, 1)\n"
	"local cd, cdo = live(KEYS[3], mn, 1441)\n"
	"local ck, cko = live(KEYS[4], now, 600)\n"
	"return {um + pend(KEYS[5], dlo), umo, ur, tonumber(first[2] or -1),"
	" cd + pend(KEYS[7], dlo), cdo, ck + pend(KEYS[7], now - 599), cko,"
	" now}\n";

static struct rstore_script scripts[RSTORE_SCRIPTS] = {
	[RSTORE_RCPT] = { lua_rcpt, "" },
	[RSTORE_COMMIT] = { lua_commit, "" },
	[RSTORE_RELEASE] = { lua_release, "" },
	[RSTORE_STATS] = { lua_stats, "" },
};
_Static_assert(RSTORE_SCRIPTS <= 8, "struct rstore's loaded[]");

const struct rstore_script *rstore_script(enum rstore_script_id id)
{
	struct rstore_script *s = &scripts[id];
	unsigned char md[SHA_DIGEST_LENGTH];

	if (!s->sha[0]) {
		SHA1((const unsigned char *)s->body, strlen(s->body), md);
		for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
			snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
	}
	return s;
}

int rstore_script_append(struct rstore *r, enum rstore_script_id id,
			 int eval, int nkeys, const char *const *keys,
			 int nargs, const char *const *args)
{
	const char **argv = malloc((3 + (size_t)nkeys + (size_t)nargs) *
				   sizeof *argv);
	char nk[16];
	int argc = 0, rc;

	if (!argv)
		return -1;
	snprintf(nk, sizeof nk, "%d", nkeys);
	argv[argc++] = eval ? "EVAL" : "EVALSHA";
	argv[argc++] = eval ? rstore_script(id)->body : rstore_script(id)->sha;
	argv[argc++] = nk;
	for (int i = 0; i < nkeys; i++)
		argv[argc++] = keys[i];
	for (int i = 0; i < nargs; i++)
		argv[argc++] = args[i];
	rc = rstore_append(r, argc, argv, NULL);
	free(argv);
	return rc;
}

int rstore_script_append_nowait(struct rstore *r, enum rstore_script_id id,
				int nkeys, const char *const *keys, int nargs,
				const char *const *args)
{
	unsigned long conn;
	int eval;

	rsi_drop_stale(r); /* then the script is EVAL on the new one */
	conn = rstore_conn_id(r);
	eval = !conn || r->loaded[id] != conn;
	if (rstore_script_append(r, id, eval, nkeys, keys, nargs, args) < 0) {
		rsi_batch_done(r);
		return -1;
	}
	if (conn)
		r->loaded[id] = conn; /* sent on it now, EVAL or known */
	return 0;
}

static int noscript(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_ERROR &&
	       !strncmp(rep->str, "NOSCRIPT", 8);
}

int rstore_script_run(struct rstore *r, enum rstore_script_id id,
		      int nkeys, const char *const *keys, int nargs,
		      const char *const *args, redisReply **out)
{
	for (int eval = 0; eval < 2; eval++) {
		if (rstore_script_append(r, id, eval, nkeys, keys, nargs,
					 args) < 0 ||
		    rstore_exec(r, out, 1) < 0)
			return -1;
		if (!noscript(*out)) {
			r->loaded[id] = rstore_conn_id(r);
			return 0;
		}
		freeReplyObject(*out);
		*out = NULL;
	}
	return -1;
}

void rstore_keys(char k[RK_N][RSTORE_KEY_MAX], const char *prefix,
		 const char *user, const char *cust)
{
	static const char *const kinds[RK_N] = { "um", "ur", "upm", "upr",
						  "cd", "ck", "cp", "names" };

	for (int i = 0; i < RK_N; i++)
		snprintf(k[i], RSTORE_KEY_MAX, "%.120s%s%s%.256s", prefix,
			 kinds[i], i == RK_NAMES ? "" : ":",
			 i == RK_NAMES ? "" : i < RK_CD ? user : cust);
}

void rstore_done_key(char k[RSTORE_KEY_MAX], const char *prefix,
		     const char *id)
{
	snprintf(k, RSTORE_KEY_MAX, "%.120sdone:%.200s", prefix, id);
}
