//! The shared store: Redis, through `redis-rs`'s `ConnectionManager` (one multiplexed
//! connection per process, reconnected on failure, cheap to clone).
//!
//! Keys (`wa:` prefix):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `wa:registrations` | hash | phone number ID → registration JSON, secrets sealed |
//! | `wa:version` | integer | bumped by every registration change |
//! | `wa:seen:{subscription}:{dedup key}` | string, `EX` TTL | a deduplication key |
//! | `wa:outbox:{subscription}` | stream | undelivered events: line `e`, deduplication key `k` |
//! | `wa:retry:{subscription}` | sorted set | events set aside for another attempt, by due time (ms) |
//! | `wa:retrying:{subscription}` | hash | those events (ID → JSON with their attempts) |
//! | `wa:dead:{subscription}` | hash | dead letters (ID → JSON with the last failure) |
//! | any stream a `redis-stream:` sink names | stream | `event`, `dedup_key`, `webhook_id`; `MAXLEN ~` |
//! | `wa:cursor:{subscription}` | string | the sink file's length at the last acknowledgement |
//! | `wa:claim:{subscription}` | string, `PX` | which instance delivers the subscription now |
//!
//! A webhook costs **one** round trip: [`COMMIT`] checks and records every event's key
//! and appends the fresh events to their outboxes in one script, which Redis runs
//! atomically, so two instances handling the same redelivery at the same moment make one
//! event. "Durable" means what the server's persistence makes it: with `appendonly yes`
//! and `appendfsync always`, an acknowledged commit survives a Redis crash; with
//! `everysec` the last second may be lost (see docs/gateway.md).
//!
//! `rediss://` connects with TLS (rustls): the server's certificate is checked against
//! the Web PKI's roots, or the CA in `WHATSAPP_REDIS_CA_CERT`.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, IntoConnectionInfo as _, Script};

use super::seal::Key;
use super::{Change, DeadLetter, Depth, Entry, Outbox, Pending, Settlement, Store};
use crate::registration::Registered;

/// The environment variable with the Redis password, when the URL carries none.
pub const PASSWORD_VARIABLE: &str = "WHATSAPP_REDIS_PASSWORD";
/// The environment variable naming a PEM file of the CA that signed a `rediss://`
/// server's certificate, when it is a private one (by default: the Web PKI's roots).
pub const CA_VARIABLE: &str = "WHATSAPP_REDIS_CA_CERT";

/// How long one command may take before the store counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

const REGISTRATIONS: &str = "wa:registrations";
const VERSION: &str = "wa:version";

/// KEYS: per event, its `seen` key then where it goes (its outbox, or a stream sink).
/// ARGV[1]: the TTL in seconds; then per event four: its line, its deduplication key,
/// the stream's `MAXLEN ~` ('' for an outbox) and its webhook ID. Returns 1 (fresh) or 0
/// (duplicate) per event.
const COMMIT: &str = r"
local fresh = {}
for i = 1, #KEYS / 2 do
  local a = 2 + (i - 1) * 4
  if redis.call('SET', KEYS[2 * i - 1], '1', 'NX', 'EX', ARGV[1]) then
    if ARGV[a + 2] == '' then
      redis.call('XADD', KEYS[2 * i], '*', 'e', ARGV[a], 'k', ARGV[a + 1])
    else
      redis.call('XADD', KEYS[2 * i], 'MAXLEN', '~', ARGV[a + 2], '*',
        'event', ARGV[a], 'dedup_key', ARGV[a + 1], 'webhook_id', ARGV[a + 3])
    end
    fresh[i] = 1
  else
    fresh[i] = 0
  end
end
return fresh
";

/// KEYS: the outbox, the retry schedule (sorted set), the retry records (hash), the
/// dead letters (hash). ARGV[1]: the outbox's first ID to keep ('' keeps all); then a
/// count and that many IDs done with; a count and that many (ID, due ms, record); a
/// count and that many (ID, record) dead.
const SETTLE: &str = r"
if ARGV[1] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1]) end
local i = 2
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('ZREM', KEYS[2], ARGV[i]); redis.call('HDEL', KEYS[3], ARGV[i]); i = i + 1
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i]); redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
  i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]); i = i + 2
end
return 1
";

/// KEYS: the retry schedule, the retry records. ARGV: now (ms), limit. The records due.
const DUE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
";

/// KEYS: the dead letters, the retry schedule, the retry records. ARGV: now (ms), then
/// (ID, record) pairs. Moves each letter still dead; how many moved.
const REDRIVE: &str = r"
local moved = 0
for i = 2, #ARGV, 2 do
  if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
";

/// KEYS: the registrations hash, the version. ARGV: phone, expected ('' absent, else 'v'
/// followed by the record), new (same encoding). 1 when swapped.
const SWAP: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
local expected = ARGV[2]
if expected == '' then
  if current then return 0 end
elseif current ~= string.sub(expected, 2) then
  return 0
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(ARGV[3], 2))
end
redis.call('INCR', KEYS[2])
return 1
";

/// KEYS: the claim. ARGV: holder, TTL in ms. 1 when the holder has it now.
const CLAIM: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Redis; see the module's documentation.
pub struct RedisStore {
    connection: ConnectionManager,
    described: String,
    dedup_ttl: Duration,
    key: Key,
    commit: Script,
    swap: Script,
    claim: Script,
    settle: Script,
    due: Script,
    redrive: Script,
}

/// The URL without its user info (a password may be there).
pub fn describe_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => "redis".into(),
    }
}

impl RedisStore {
    /// Connects, and checks that every stored secret opens with `key`: an instance
    /// without the right key refuses to start rather than fail each request.
    pub async fn connect(url: &str, dedup_ttl: Duration, key: Key) -> anyhow::Result<Self> {
        let described = describe_url(url);
        let mut info = url
            .into_connection_info()
            .with_context(|| format!("{described} is not a Redis URL"))?;
        if info.redis_settings().password().is_none()
            && let Ok(password) = std::env::var(PASSWORD_VARIABLE)
        {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = match std::env::var_os(CA_VARIABLE) {
            Some(path) if url.starts_with("rediss://") => {
                let root_cert = std::fs::read(&path).with_context(|| {
                    format!(
                        "cannot read {CA_VARIABLE} ({})",
                        std::path::Path::new(&path).display()
                    )
                })?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
            }
            _ => redis::Client::open(info),
        }
        .with_context(|| format!("cannot use {described}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .with_context(|| format!("cannot connect to {described}"))?;
        let store = Self {
            connection,
            described,
            dedup_ttl,
            key,
            commit: Script::new(COMMIT),
            swap: Script::new(SWAP),
            claim: Script::new(CLAIM),
            settle: Script::new(SETTLE),
            due: Script::new(DUE),
            redrive: Script::new(REDRIVE),
        };
        store.registrations().await?;
        Ok(store)
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    fn decode(&self, phone: &str, record: &str) -> anyhow::Result<Registered> {
        let value = serde_json::from_str(record).context("a stored registration is damaged")?;
        let value = self.key.open(value, phone)?;
        Ok(serde_json::from_value(value)?)
    }

    fn encode(&self, registered: &Registered) -> anyhow::Result<String> {
        let phone = &registered.registration.phone_number_id;
        Ok(self
            .key
            .seal(serde_json::to_value(registered)?, phone)?
            .to_string())
    }

    fn unreachable(&self) -> impl Fn(redis::RedisError) -> anyhow::Error + '_ {
        move |e| anyhow::anyhow!("{} did not answer: {e}", self.described)
    }
}

/// A Redis stream ID's next one (`5-3` → `5-4`): XTRIM's MINID keeps IDs from it on.
fn next_id(id: &str) -> anyhow::Result<String> {
    let (ms, seq) = id.split_once('-').context("not a stream ID")?;
    let seq: u64 = seq.parse().context("not a stream ID")?;
    Ok(format!("{ms}-{}", seq + 1))
}

#[async_trait]
impl Store for RedisStore {
    fn describe(&self) -> String {
        format!("Redis store at {}", self.described)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        Ok(())
    }

    async fn registrations(&self) -> anyhow::Result<Vec<Registered>> {
        let records: Vec<(String, String)> = self
            .connection()
            .hgetall(REGISTRATIONS)
            .await
            .map_err(self.unreachable())?;
        let mut registered = records
            .iter()
            .map(|(phone, record)| self.decode(phone, record))
            .collect::<anyhow::Result<Vec<_>>>()?;
        registered.sort_by(|a, b| {
            a.registration
                .phone_number_id
                .cmp(&b.registration.phone_number_id)
        });
        Ok(registered)
    }

    async fn version(&self) -> anyhow::Result<u64> {
        let version: Option<u64> = self
            .connection()
            .get(VERSION)
            .await
            .map_err(self.unreachable())?;
        Ok(version.unwrap_or(0))
    }

    async fn update(
        &self,
        phone_number_id: &str,
        change: Change<'_>,
    ) -> anyhow::Result<Option<Registered>> {
        loop {
            let raw: Option<String> = self
                .connection()
                .hget(REGISTRATIONS, phone_number_id)
                .await
                .map_err(self.unreachable())?;
            let current = raw
                .as_deref()
                .map(|r| self.decode(phone_number_id, r))
                .transpose()?;
            let next = change(current)?;
            let encoded = next.as_ref().map(|r| self.encode(r)).transpose()?;
            let tagged = |v: Option<String>| v.map_or(String::new(), |v| format!("v{v}"));
            let swapped: i64 = self
                .swap
                .key(REGISTRATIONS)
                .key(VERSION)
                .arg(phone_number_id)
                .arg(tagged(raw))
                .arg(tagged(encoded))
                .invoke_async(&mut self.connection())
                .await
                .map_err(self.unreachable())?;
            if swapped == 1 {
                return Ok(next);
            }
        }
    }

    async fn commit(&self, events: Vec<Pending>) -> anyhow::Result<Vec<bool>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.commit.prepare_invoke();
        invocation.arg(self.dedup_ttl.as_secs().max(1));
        for event in &events {
            invocation.key(format!(
                "wa:seen:{}:{}",
                event.subscription, event.dedup_key
            ));
            match &event.stream {
                None => invocation
                    .key(format!("wa:outbox:{}", event.subscription))
                    .arg(&event.line[..])
                    .arg(&event.dedup_key)
                    .arg("")
                    .arg(""),
                Some(stream) => invocation
                    .key(&stream.key)
                    .arg(event.line.strip_suffix(b"\n").unwrap_or(&event.line))
                    .arg(&event.dedup_key)
                    .arg(stream.max_len.max(1))
                    .arg(crate::standard_webhooks::webhook_id(
                        &event.subscription,
                        &event.dedup_key,
                    )),
            };
        }
        let fresh: Vec<i64> = invocation
            .invoke_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        Ok(fresh.into_iter().map(|f| f == 1).collect())
    }

    async fn outbox(&self, subscription: &str, limit: usize) -> anyhow::Result<Outbox> {
        let (offset, entries): (Option<u64>, redis::streams::StreamRangeReply) = redis::pipe()
            .get(format!("wa:cursor:{subscription}"))
            .xrange_count(format!("wa:outbox:{subscription}"), "-", "+", limit)
            .query_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        let entries = entries
            .ids
            .into_iter()
            .map(|entry| {
                let line: Vec<u8> = entry.get("e").context("an outbox entry has no event")?;
                let dedup_key: String = entry.get("k").unwrap_or_default();
                Ok(Entry {
                    id: entry.id,
                    dedup_key,
                    line,
                    attempt: 0,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Outbox { offset, entries })
    }

    async fn acknowledge(
        &self,
        subscription: &str,
        through: Option<&str>,
        offset: Option<u64>,
    ) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(through) = through {
            pipe.cmd("XTRIM")
                .arg(format!("wa:outbox:{subscription}"))
                .arg("MINID")
                .arg(next_id(through)?)
                .ignore();
        }
        match offset {
            Some(offset) => pipe
                .set(format!("wa:cursor:{subscription}"), offset)
                .ignore(),
            None => pipe.del(format!("wa:cursor:{subscription}")).ignore(),
        };
        let () = pipe
            .query_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        Ok(())
    }

    async fn due(
        &self,
        subscription: &str,
        now_ms: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<Entry>> {
        let records: Vec<Option<String>> = self
            .due
            .key(format!("wa:retry:{subscription}"))
            .key(format!("wa:retrying:{subscription}"))
            .arg(now_ms)
            .arg(limit)
            .invoke_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        records
            .iter()
            .flatten()
            .map(|r| serde_json::from_str(r).context("an event set aside is damaged"))
            .collect()
    }

    async fn settle(&self, subscription: &str, settlement: Settlement) -> anyhow::Result<()> {
        let mut invocation = self.settle.prepare_invoke();
        invocation
            .key(format!("wa:outbox:{subscription}"))
            .key(format!("wa:retry:{subscription}"))
            .key(format!("wa:retrying:{subscription}"))
            .key(format!("wa:dead:{subscription}"));
        match &settlement.through {
            Some(through) => invocation.arg(next_id(through)?),
            None => invocation.arg(""),
        };
        invocation.arg(settlement.done.len());
        for id in &settlement.done {
            invocation.arg(id);
        }
        invocation.arg(settlement.later.len());
        for (entry, due) in &settlement.later {
            invocation
                .arg(&entry.id)
                .arg(*due)
                .arg(serde_json::to_string(entry)?);
        }
        invocation.arg(settlement.dead.len());
        for letter in &settlement.dead {
            invocation
                .arg(&letter.entry.id)
                .arg(serde_json::to_string(letter)?);
        }
        let _: i64 = invocation
            .invoke_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        Ok(())
    }

    async fn dead_letters(&self, subscription: &str) -> anyhow::Result<Vec<DeadLetter>> {
        let records: Vec<(String, String)> = self
            .connection()
            .hgetall(format!("wa:dead:{subscription}"))
            .await
            .map_err(self.unreachable())?;
        let mut letters = records
            .iter()
            .map(|(_, r)| serde_json::from_str(r).context("a dead letter is damaged"))
            .collect::<anyhow::Result<Vec<DeadLetter>>>()?;
        letters.sort_by(|a, b| (a.at, &a.entry.id).cmp(&(b.at, &b.entry.id)));
        Ok(letters)
    }

    async fn redrive(&self, subscription: &str, ids: Option<Vec<String>>) -> anyhow::Result<usize> {
        let letters = self.dead_letters(subscription).await?;
        let mut invocation = self.redrive.prepare_invoke();
        invocation
            .key(format!("wa:dead:{subscription}"))
            .key(format!("wa:retry:{subscription}"))
            .key(format!("wa:retrying:{subscription}"))
            .arg(super::now_ms());
        for letter in letters
            .into_iter()
            .filter(|l| ids.as_ref().is_none_or(|ids| ids.contains(&l.entry.id)))
        {
            let entry = Entry {
                attempt: 0,
                ..letter.entry
            };
            invocation
                .arg(&entry.id)
                .arg(serde_json::to_string(&entry)?);
        }
        let moved: usize = invocation
            .invoke_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        Ok(moved)
    }

    async fn depth(&self, subscription: &str) -> anyhow::Result<Depth> {
        let (outbox, retrying, dead): (u64, u64, u64) = redis::pipe()
            .xlen(format!("wa:outbox:{subscription}"))
            .zcard(format!("wa:retry:{subscription}"))
            .hlen(format!("wa:dead:{subscription}"))
            .query_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        Ok(Depth {
            outbox,
            retrying,
            dead,
        })
    }

    fn has_streams(&self) -> bool {
        true
    }

    async fn claim(&self, subscription: &str, holder: &str, ttl: Duration) -> anyhow::Result<bool> {
        let claimed: i64 = self
            .claim
            .key(format!("wa:claim:{subscription}"))
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.connection())
            .await
            .map_err(self.unreachable())?;
        Ok(claimed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_described_url_shows_no_password() {
        assert_eq!(
            describe_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            describe_url("rediss://user:p@ss@host:1/2"),
            "rediss://host:1/2"
        );
        assert_eq!(next_id("17-4").unwrap(), "17-5");
    }
}
