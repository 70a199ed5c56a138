// The shared limit's state in Redis, and the two Lua scripts that read and change it. Every change runs
// inside one script, so it is atomic against every other host; the scripts read Redis's clock (TIME), so
// hosts with skewed clocks agree on when a lease ends.
//
// Keys (the `{name}` hash tag keeps them in one slot):
//   aios:cluster:{name}:leases  sorted set  host id -> lease end (ms, Redis time)
//   aios:cluster:{name}:held    hash        host id -> slots it holds
//   aios:cluster:{name}:queue   sorted set  "<host id>|<rank>" -> when that entry started waiting (ms)
//   aios:cluster:{name}:want    hash        "<host id>|<rank>" -> commands of that priority waiting there
//   aios:cluster:{name}:labels  hash        host id -> a label for people ("host · pid 123")
// and the channel aios:cluster:{name}:events ("freed|<host id>", "wanted|<host id>").
// rank: 0 HIGH, 1 NORMAL, 2 LOW. Every key expires 3 leases after the last call, so a cluster nobody uses
// leaves nothing behind.

/** Key names and the channel of one cluster, in the order the scripts take them. */
export function clusterKeys(name: string): { keys: [string, string, string, string, string]; channel: string } {
  const p = `aios:cluster:{${name}}:`;
  return { keys: [`${p}leases`, `${p}held`, `${p}queue`, `${p}want`, `${p}labels`], channel: `${p}events` };
}

// Common prologue: Redis time in ms, and expired hosts removed with everything they held or wanted.
const PURGE = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, h in ipairs(dead) do
  redis.call('HDEL', KEYS[2], h)
  redis.call('HDEL', KEYS[5], h)
  for r = 0, 2 do
    redis.call('ZREM', KEYS[3], h .. '|' .. r)
    redis.call('HDEL', KEYS[4], h .. '|' .. r)
  end
  redis.call('ZREM', KEYS[1], h)
end
`;

/**
 * One host's whole state in one call: it keeps `keep` slots (what it runs, plus idle ones it keeps), has
 * `wantH/N/L` commands waiting, and is given what the waiting room lets it have.
 *
 * ARGV: host id, label, limit, leaseMs, keep, wantH, wantN, wantL, agingMs, channel
 * Returns: grant, slots in use in the cluster after it, commands waiting on other hosts, own commands still
 * waiting, ms until the next lease of another host ends (-1: none), hosts with a lease, 1 if this host had a
 * record before the call (0: new, or its lease had expired).
 *
 * The waiting room: entries in order of (rank, start of waiting), except that an entry that has waited
 * agingMs or longer goes first (oldest first) whatever its rank. Free slots go down that order; other hosts'
 * entries ahead of this host's keep theirs. An entry given part of what it wants goes to the back of its
 * rank (starts waiting again now), so hosts with a backlog take turns.
 */
export const SYNC_SCRIPT = `${PURGE}
local host = ARGV[1]
local limit = tonumber(ARGV[3])
local leaseMs = tonumber(ARGV[4])
local keep = tonumber(ARGV[5])
local aging = tonumber(ARGV[9])
local prevRaw = redis.call('HGET', KEYS[2], host)
local known = 0
if prevRaw or redis.call('ZSCORE', KEYS[1], host) then known = 1 end
local prev = tonumber(prevRaw or '0')
local grew = false
for r = 0, 2 do
  local e = host .. '|' .. r
  local w = tonumber(ARGV[6 + r])
  local old = tonumber(redis.call('HGET', KEYS[4], e) or '0')
  if w > 0 then
    if old == 0 then redis.call('ZADD', KEYS[3], now, e) end
    if w > old then grew = true end
    redis.call('HSET', KEYS[4], e, w)
  elseif old > 0 then
    redis.call('ZREM', KEYS[3], e)
    redis.call('HDEL', KEYS[4], e)
  end
end
local inUse = keep
local held = redis.call('HGETALL', KEYS[2])
for i = 1, #held, 2 do
  if held[i] ~= host then inUse = inUse + tonumber(held[i + 1]) end
end
local free = limit - inUse
local raw = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
local order = {}
for i = 1, #raw, 2 do
  local e = raw[i]
  local at = tonumber(raw[i + 1])
  local sep = string.find(e, '|', 1, true)
  local rank = tonumber(string.sub(e, sep + 1))
  local key = (rank + 1) * 1e14 + at
  if aging > 0 and now - at >= aging then key = at end
  order[#order + 1] = { e = e, h = string.sub(e, 1, sep - 1), key = key }
end
table.sort(order, function(a, b)
  if a.key ~= b.key then return a.key < b.key end
  return a.e < b.e
end)
local avail = free
local grant = 0
local othersWant = 0
local remaining = 0
for _, x in ipairs(order) do
  local w = tonumber(redis.call('HGET', KEYS[4], x.e) or '0')
  if x.h == host then
    local g = math.min(w, math.max(avail, 0))
    avail = avail - g
    grant = grant + g
    remaining = remaining + w - g
    if g == w then
      redis.call('ZREM', KEYS[3], x.e)
      redis.call('HDEL', KEYS[4], x.e)
    elseif g > 0 then
      redis.call('HSET', KEYS[4], x.e, w - g)
      redis.call('ZADD', KEYS[3], now, x.e)
    end
  else
    othersWant = othersWant + w
    avail = avail - w
  end
end
local mine = keep + grant
if mine > 0 or remaining > 0 then
  redis.call('HSET', KEYS[2], host, mine)
  redis.call('ZADD', KEYS[1], now + leaseMs, host)
  redis.call('HSET', KEYS[5], host, ARGV[2])
else
  redis.call('HDEL', KEYS[2], host)
  redis.call('ZREM', KEYS[1], host)
  redis.call('HDEL', KEYS[5], host)
end
inUse = inUse + grant
if (keep < prev or #dead > 0) and limit - inUse > 0 and othersWant > 0 then
  redis.call('PUBLISH', ARGV[10], 'freed|' .. host)
end
if remaining > 0 and grew then redis.call('PUBLISH', ARGV[10], 'wanted|' .. host) end
local nextEnd = -1
local ends = redis.call('ZRANGE', KEYS[1], 0, 1, 'WITHSCORES')
for i = 1, #ends, 2 do
  if ends[i] ~= host and nextEnd < 0 then nextEnd = math.max(0, tonumber(ends[i + 1]) - now) end
end
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], leaseMs * 3) end
return { grant, inUse, othersWant, remaining, nextEnd, redis.call('ZCARD', KEYS[1]), known }
`;

/**
 * Every host with a lease: id, label, slots held, ms until its lease ends, commands waiting (HIGH, NORMAL,
 * LOW), flattened: { n, id1, label1, held1, leftMs1, h1, n1, l1, id2, … }. Expired hosts are purged first.
 */
export const HOLDERS_SCRIPT = `${PURGE}
local out = { 0 }
local leases = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #leases, 2 do
  local h = leases[i]
  out[#out + 1] = h
  out[#out + 1] = redis.call('HGET', KEYS[5], h) or ''
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[2], h) or '0')
  out[#out + 1] = math.max(0, tonumber(leases[i + 1]) - now)
  for r = 0, 2 do out[#out + 1] = tonumber(redis.call('HGET', KEYS[4], h .. '|' .. r) or '0') end
  out[1] = out[1] + 1
end
return out
`;
