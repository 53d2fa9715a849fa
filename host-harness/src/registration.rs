//! Registrations and subscriptions: what the store (`store/`) keeps, between `enable`
//! and `disable`, for each phone number: its one registration and the subscriptions that
//! share it, as a workflow host would.
//!
//! Meta gives a phone number **one** alternate callback URL. So the first trigger
//! switched on for a number makes the registration (and the component points the
//! number's webhooks at it); every later one only adds a [`Subscription`] (its trigger,
//! properties and sink) without calling Meta; switching one off removes only its
//! subscription, and the last one out removes the callback. The webhook endpoint routes
//! each verified request to every subscription.
//!
//! A registration holds secrets (the verify token, maybe an app secret): `Debug` and
//! [`Registered::redacted`] hide them.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use whatsapp_connector::secret::Secret;

pub use whatsapp_connector::registration::Registration;

/// What a subscription runs: a trigger and its properties, as the WIT records name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "trigger", content = "properties", rename_all = "kebab-case")]
pub enum TriggerSpec {
    /// Trigger "Message received".
    MessageReceived {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender_number: Option<String>,
    },
    /// Trigger "Message status updated".
    StatusUpdated {
        /// `sent`, `delivered`, `read`, `failed`; empty: all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        statuses: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<String>,
    },
    /// Trigger "Message echoed".
    MessageEchoed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<String>,
    },
    /// Trigger "Marketing preference changed".
    PreferenceChanged {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<String>,
    },
    /// Trigger "Group updated".
    GroupUpdated {
        /// `lifecycle`, `participants`, `settings`, `status`; empty: all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        updates: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<String>,
    },
}

/// The sink of a subscription whose events go to the endpoint's own sink (`serve`'s
/// standard output).
pub const DEFAULT_SINK: &str = "-";

/// A sink naming a Redis stream: `redis-stream:NAME` (with a Redis store only).
pub const STREAM_PREFIX: &str = "redis-stream:";

/// A Redis stream sink's default `MAXLEN ~`.
pub const DEFAULT_STREAM_MAX_LEN: u64 = 1_000_000;

/// Where a subscription's events go, as its `sink` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// `-`: `serve`'s standard output.
    Stdout,
    /// A file of JSON lines, appended.
    File(std::path::PathBuf),
    /// One signed POST per event (`https://…`, or `http://` to loopback).
    Http(String),
    /// A Redis stream, written in the webhook's own commit.
    Stream(String),
}

impl Sink {
    pub fn parse(sink: &str) -> Self {
        if sink == DEFAULT_SINK {
            Sink::Stdout
        } else if let Some(name) = sink.strip_prefix(STREAM_PREFIX) {
            Sink::Stream(name.to_owned())
        } else if sink.starts_with("https://") || sink.starts_with("http://") {
            Sink::Http(sink.to_owned())
        } else {
            Sink::File(sink.into())
        }
    }

    /// Written by `serve` itself, in order: a file or its standard output.
    pub fn is_local(&self) -> bool {
        matches!(self, Sink::Stdout | Sink::File(_))
    }
}

/// A static header sent with every HTTP delivery (its value is a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticHeader {
    pub name: String,
    pub value: Secret<String>,
}

/// An HTTP sink's secrets: its Standard Webhooks signing secret, and what receivers
/// that cannot check an HMAC check instead. Kept only where the store protects them
/// (sealed in Redis); `Debug` and [`Registered::redacted`] hide them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpDelivery {
    /// `whsec_…`.
    pub signing_secret: Secret<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<StaticHeader>,
    /// `user:password`, taken from the sink URL's user info (the URL is stored without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<Secret<String>>,
}

/// A receiver answered 410 Gone: the subscription's deliveries stopped until `redrive`
/// resumes them (its events wait in the store meanwhile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gone {
    /// Unix seconds.
    pub since: u64,
    pub reason: String,
}

/// One workflow's trigger on the phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Unique within the store, never reused.
    pub id: String,
    #[serde(flatten)]
    pub trigger: TriggerSpec,
    /// Where its events go ([`Sink::parse`]): a file (JSON lines, appended),
    /// [`DEFAULT_SINK`], an HTTP(S) URL or a Redis stream.
    pub sink: String,
    /// An HTTP sink's secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<HttpDelivery>,
    /// A Redis stream sink's `MAXLEN ~`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_max_len: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone: Option<Gone>,
}

impl Subscription {
    /// The JSON form without secrets: the names of static headers, not their values.
    pub fn redacted(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(Subscription {
            delivery: None,
            ..self.clone()
        })
        .unwrap_or_default();
        if let Some(delivery) = &self.delivery {
            let mut shown = serde_json::json!({"signing_secret": "[redacted]"});
            if !delivery.headers.is_empty() {
                shown["headers"] = delivery.headers.iter().map(|h| h.name.clone()).collect();
            }
            if delivery.basic_auth.is_some() {
                shown["basic_auth"] = "[redacted]".into();
            }
            value["delivery"] = shown;
        }
        value
    }
}

/// Everything the store keeps for a phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub registration: Registration,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// The number the next subscription's ID gets.
    #[serde(default = "first_id")]
    pub next_subscription: u64,
    /// This number's own Meta app secret (numbers under different Meta apps); `None`:
    /// `serve --app-secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<Secret<String>>,
    /// Made once per registration, never reused: it keeps the deduplication keys and
    /// outboxes of a registration apart from those of an earlier one for the same
    /// number, whose subscription IDs started at 1 too.
    #[serde(default = "new_namespace")]
    pub namespace: String,
    /// Meta has not yet confirmed the callback (the `enable` that made the registration
    /// did not finish): the next `enable` calls Meta again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

fn first_id() -> u64 {
    1
}

/// 16 random hex digits.
pub fn new_namespace() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the system's random source");
    hex::encode(bytes)
}

impl Registered {
    /// A registration with no subscription yet.
    pub fn new(registration: Registration) -> Self {
        Self {
            registration,
            subscriptions: Vec::new(),
            next_subscription: first_id(),
            app_secret: None,
            namespace: new_namespace(),
            pending: false,
        }
    }

    /// Adds a subscription; its new ID.
    pub fn subscribe(&mut self, trigger: TriggerSpec, sink: String) -> String {
        let id = self.next_subscription.to_string();
        self.next_subscription += 1;
        self.subscriptions.push(Subscription {
            id: id.clone(),
            trigger,
            sink,
            delivery: None,
            stream_max_len: None,
            gone: None,
        });
        id
    }

    /// The subscription with this ID.
    pub fn subscription_mut(&mut self, id: &str) -> Option<&mut Subscription> {
        self.subscriptions.iter_mut().find(|s| s.id == id)
    }

    /// Removes a subscription; false when there is none with that ID.
    pub fn unsubscribe(&mut self, id: &str) -> bool {
        let before = self.subscriptions.len();
        self.subscriptions.retain(|s| s.id != id);
        self.subscriptions.len() != before
    }

    /// The key under which the store keeps a subscription's deduplication keys and
    /// outbox: unique across numbers and registrations.
    pub fn subscription_key(&self, id: &str) -> String {
        format!(
            "{}/{}/{id}",
            self.registration.phone_number_id, self.namespace
        )
    }

    /// The path of the callback URL: where `serve` routes this number's webhooks.
    pub fn path(&self) -> String {
        callback_path(&self.registration.callback_url)
    }

    /// The JSON form without secrets.
    pub fn redacted(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "registration": self.registration.redacted(),
            "path": self.path(),
            "subscriptions": self.subscriptions.iter().map(Subscription::redacted).collect::<Vec<_>>(),
        });
        if self.app_secret.is_some() {
            value["app_secret"] = "[redacted]".into();
        }
        if self.pending {
            value["pending"] = "Meta has not confirmed the callback: run enable again".into();
        }
        value
    }
}

/// The path of a callback URL (`https://host/a/b?x` → `/a/b`; `/` when it has none).
pub fn callback_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("/", |at| &rest[at..]);
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if path.is_empty() {
        "/".into()
    } else {
        path.to_owned()
    }
}

/// The file's two forms: 0.2.x's, and the bare registration `enable` wrote before
/// subscriptions existed (read as a registration with none).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Registered(Registered),
    Bare(Registration),
}

/// The largest registration file read: one holds a URL, a token and a few
/// subscriptions, so anything near this is not one.
pub const MAX_REGISTRATION_FILE: u64 = 1 << 20;

/// Reads a registration file written by 0.2.x's `enable --out` (to import it into a
/// store). Only a regular file of at most [`MAX_REGISTRATION_FILE`] bytes is read.
pub fn read_file(path: &Path) -> anyhow::Result<Registered> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    let mut bytes = Vec::new();
    file.take(MAX_REGISTRATION_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REGISTRATION_FILE {
        anyhow::bail!("{} is larger than a registration can be", path.display());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Stored::Registered(registered)) => Ok(registered),
        Ok(Stored::Bare(registration)) => Ok(Registered::new(registration)),
        Err(e) => Err(e).with_context(|| format!("{} is not a registration", path.display())),
    }
}

/// Checks an HTTP sink when it is made: `https://`, or `http://` to a loopback address
/// (elsewhere only with `allow_http`, which the caller warns about). Gives the URL to
/// store, without its user info, and that user info (`user:password`) for Basic auth.
/// No error repeats the URL's password.
pub fn check_http_sink(
    url: &str,
    allow_http: bool,
) -> anyhow::Result<(String, Option<Secret<String>>)> {
    let mut parsed = url::Url::parse(url)
        .ok()
        .context("the events URL is not a valid URL")?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => anyhow::bail!("the events URL has no host"),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback || allow_http => {}
        "http" => anyhow::bail!(
            "the events URL is http:// to a host that is not loopback: events and their \
             signatures would cross the network in clear; use https://, or \
             --events-allow-http if you must"
        ),
        _ => anyhow::bail!("the events URL must be https:// (or http:// to loopback)"),
    }
    let basic = (!parsed.username().is_empty() || parsed.password().is_some()).then(|| {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Secret::new(format!(
            "{}:{}",
            decode(parsed.username()),
            decode(parsed.password().unwrap_or(""))
        ))
    });
    // Cannot fail on a URL with a host.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_fragment(None);
    Ok((parsed.into(), basic))
}

/// Checks a Redis stream sink's name (`redis-stream:NAME`): the store must be Redis,
/// and the name must not be one of the store's own keys.
pub fn check_stream_sink(name: &str, redis_store: bool) -> anyhow::Result<()> {
    if !redis_store {
        anyhow::bail!("a Redis stream sink needs a Redis store (--store redis://…)");
    }
    if name.is_empty()
        || name.len() > 200
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        anyhow::bail!("a stream's name is 1 to 200 characters, without spaces");
    }
    if name.starts_with("wa:") {
        anyhow::bail!("stream names starting with wa: are the store's own");
    }
    Ok(())
}

/// File systems whose files are the kernel's, not data: an events file there would
/// fail at every write, or do something else entirely.
const PSEUDO_FILE_SYSTEMS: &[&str] = &["/proc", "/sys", "/dev"];

/// Checks a subscription's sink when it is made, and gives the form to store: `-`, or an
/// absolute path (a relative one is resolved against the working directory of the
/// command that made it) whose directory exists, which is a regular file if it exists,
/// and which is not under `/proc`, `/sys`, `/dev` or `protected` (the store's own
/// directory).
pub fn check_sink(sink: &str, protected: Option<&Path>) -> anyhow::Result<String> {
    if sink == DEFAULT_SINK {
        return Ok(sink.to_owned());
    }
    if sink.is_empty() {
        anyhow::bail!("the events file is empty: give a path, or - for serve's standard output");
    }
    let path = std::path::absolute(sink).with_context(|| format!("cannot resolve {sink}"))?;
    let real = |p: &Path| {
        // The deepest existing ancestor, resolved: symbolic links cannot hide where it is.
        let mut existing = p.to_path_buf();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (
                existing.file_name().map(ToOwned::to_owned),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut resolved = std::fs::canonicalize(&existing).unwrap_or(existing);
        resolved.extend(rest.iter().rev());
        resolved
    };
    let resolved = real(&path);
    for pseudo in PSEUDO_FILE_SYSTEMS {
        if resolved.starts_with(pseudo) {
            anyhow::bail!(
                "{} is under {pseudo}: not a place for events",
                path.display()
            );
        }
    }
    if let Some(store) = protected
        && resolved.starts_with(real(&std::path::absolute(store)?))
    {
        anyhow::bail!("{} is inside the store's directory", path.display());
    }
    match std::fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => {
            anyhow::bail!("{} exists and is not a regular file", path.display())
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = path.parent().unwrap_or(Path::new("/"));
            if !parent.is_dir() {
                anyhow::bail!("{} is not a directory", parent.display());
            }
        }
        Err(e) => return Err(e).with_context(|| format!("cannot check {}", path.display())),
    }
    path.to_str()
        .map(str::to_owned)
        .context("the events file's path is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Registration {
        Registration {
            phone_number_id: "1".into(),
            callback_url: "https://example.com/hook".into(),
            verify_token: "SECRETtoken".into(),
            created_at: 7,
        }
    }

    #[test]
    fn subscription_ids_are_never_reused_and_keys_differ_per_registration() {
        let mut registered = Registered::new(sample());
        let a = registered.subscribe(
            TriggerSpec::MessageReceived {
                sender_number: Some("+15550101234".into()),
            },
            "a.jsonl".into(),
        );
        let b = registered.subscribe(
            TriggerSpec::StatusUpdated {
                statuses: vec!["failed".into()],
                recipient: None,
            },
            DEFAULT_SINK.into(),
        );
        assert_eq!((a.as_str(), b.as_str()), ("1", "2"));
        assert!(registered.unsubscribe("1") && !registered.unsubscribe("1"));
        let c = registered.subscribe(
            TriggerSpec::MessageReceived {
                sender_number: None,
            },
            "c.jsonl".into(),
        );
        assert_eq!(c, "3", "an ID is never reused");
        let again = Registered::new(sample());
        assert_ne!(
            registered.subscription_key("1"),
            again.subscription_key("1"),
            "a new registration of the same number starts a new namespace"
        );
    }

    #[test]
    fn files_of_0_2_are_read_bounded_and_only_when_regular() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("old.json");
        std::fs::write(&bare, serde_json::to_vec(&sample()).unwrap()).unwrap();
        let read = read_file(&bare).unwrap();
        assert_eq!(read.registration, sample());
        assert!(read.subscriptions.is_empty() && !read.namespace.is_empty());

        let with = dir.path().join("registration.json");
        let json = serde_json::json!({
            "registration": sample(),
            "subscriptions": [{"id": "2", "trigger": "message-received", "properties": {}, "sink": "-"}],
            "next_subscription": 3,
        });
        std::fs::write(&with, json.to_string()).unwrap();
        let read = read_file(&with).unwrap();
        assert_eq!(
            (read.subscriptions[0].id.as_str(), read.next_subscription),
            ("2", 3)
        );

        assert!(read_file(dir.path()).is_err(), "a directory");
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_REGISTRATION_FILE as usize + 1]).unwrap();
        let error = read_file(&big).unwrap_err().to_string();
        assert!(error.contains("larger"), "{error}");
        #[cfg(unix)]
        assert!(read_file(Path::new("/dev/zero")).is_err());
    }

    #[test]
    fn sinks_are_checked_and_stored_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let check = |sink: &str| check_sink(sink, Some(&dir.path().join("state")));
        assert_eq!(check("-").unwrap(), "-");
        assert!(check("").is_err());
        assert!(check(dir.path().to_str().unwrap()).is_err(), "a directory");
        let missing = dir.path().join("no/such/dir/events.jsonl");
        assert!(check(missing.to_str().unwrap()).is_err());
        #[cfg(unix)]
        {
            assert!(check("/dev/null").is_err(), "a device");
            assert!(check("/proc/self/status").is_err(), "a kernel file");
            assert!(check("/proc/self/new.jsonl").is_err());
            assert!(check("/sys/kernel/events.jsonl").is_err());
        }
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let inside = dir.path().join("state/state.sqlite3");
        assert!(
            check(inside.to_str().unwrap()).is_err(),
            "the store's own files"
        );
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(dir.path().join("state"), &link).unwrap();
            let through = link.join("x.jsonl");
            assert!(check(through.to_str().unwrap()).is_err(), "through a link");
        }
        let file = dir.path().join("events.jsonl");
        assert_eq!(
            check(file.to_str().unwrap()).unwrap(),
            file.to_str().unwrap()
        );
        let relative = check("events.jsonl").unwrap();
        assert!(Path::new(&relative).is_absolute(), "{relative}");
    }

    #[test]
    fn the_path_is_the_callback_urls() {
        assert_eq!(
            callback_path("https://gw.example.com/whatsapp/1065?x=1"),
            "/whatsapp/1065"
        );
        assert_eq!(callback_path("https://gw.example.com"), "/");
        assert_eq!(callback_path("https://gw.example.com/"), "/");
    }

    #[test]
    fn debug_and_redacted_hide_the_secrets() {
        let mut r = Registered::new(sample());
        r.app_secret = Some("APPsecretValue".into());
        for shown in [format!("{r:?}"), r.redacted().to_string()] {
            assert!(
                !shown.contains("SECRETtoken") && !shown.contains("APPsecretValue"),
                "{shown}"
            );
        }
        assert_eq!(
            r.redacted()["registration"]["callback_url"],
            "https://example.com/hook"
        );
    }
}
