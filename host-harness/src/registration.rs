//! The registration store: where the host keeps, between `enable` and `disable`, the
//! phone number's one registration and the subscriptions that share it, as a workflow
//! host would.
//!
//! Meta gives a phone number **one** alternate callback URL. So the first trigger
//! switched on for a number makes the registration (and the component points the
//! number's webhooks at it); every later one only adds a [`Subscription`] (its trigger,
//! properties and sink) without calling Meta; switching one off removes only its
//! subscription, and the last one out removes the callback. The webhook endpoint routes
//! each verified request to every subscription.
//!
//! The store holds a secret (the verify token): files are written with mode 0600, a new
//! one never replaces an existing one, and updates replace the file atomically (write a
//! temporary file, then rename), so a crash never leaves half a file. `Debug` and
//! [`Registration::redacted`] hide the token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
}

/// The sink of a subscription whose events go to the endpoint's own sink (`serve`'s
/// standard output).
pub const DEFAULT_SINK: &str = "-";

/// One workflow's trigger on the phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Unique within the store, never reused.
    pub id: String,
    #[serde(flatten)]
    pub trigger: TriggerSpec,
    /// Where its events go: a file (JSON lines, appended) or [`DEFAULT_SINK`].
    pub sink: String,
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
}

fn first_id() -> u64 {
    1
}

impl Registered {
    /// A registration with no subscription yet.
    pub fn new(registration: Registration) -> Self {
        Self {
            registration,
            subscriptions: Vec::new(),
            next_subscription: first_id(),
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
        });
        id
    }

    /// Removes a subscription; false when there is none with that ID.
    pub fn unsubscribe(&mut self, id: &str) -> bool {
        let before = self.subscriptions.len();
        self.subscriptions.retain(|s| s.id != id);
        self.subscriptions.len() != before
    }

    /// The JSON form without the verify token.
    pub fn redacted(&self) -> serde_json::Value {
        serde_json::json!({
            "registration": self.registration.redacted(),
            "subscriptions": self.subscriptions,
        })
    }
}

/// The file's two forms: today's, and the bare registration `enable` wrote before
/// subscriptions existed (read as a registration with none).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Registered(Registered),
    Bare(Registration),
}

/// Where the registration and its subscriptions are kept.
#[derive(Clone, Debug)]
pub enum RegistrationStore {
    /// In this process (the demo, tests).
    Memory(Arc<Mutex<Option<Registered>>>),
    /// A JSON file (the CLI): `enable --out`, `serve --registration`, `disable
    /// --registration`.
    File(PathBuf),
}

impl RegistrationStore {
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// Keeps a new registration, with no subscription. A file is created with mode
    /// 0600 and never replaces an existing one: that one's token may still be needed
    /// to disable it.
    pub fn save_new(&self, registration: &Registration) -> anyhow::Result<()> {
        self.create(&Registered::new(registration.clone()))
    }

    /// Keeps a new registration and its subscriptions (never replacing one).
    pub fn create(&self, registered: &Registered) -> anyhow::Result<()> {
        match self {
            Self::Memory(slot) => {
                *slot.lock().unwrap() = Some(registered.clone());
                Ok(())
            }
            Self::File(path) => write_new(path, registered),
        }
    }

    /// Replaces what is kept (a subscription added or removed), atomically.
    pub fn update(&self, registered: &Registered) -> anyhow::Result<()> {
        match self {
            Self::Memory(slot) => {
                *slot.lock().unwrap() = Some(registered.clone());
                Ok(())
            }
            Self::File(path) => {
                let directory = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent,
                    _ => Path::new("."),
                };
                // `tempfile` creates it with mode 0600, and `persist` renames it over
                // the old file in one step.
                let mut file = tempfile::NamedTempFile::new_in(directory)
                    .with_context(|| format!("cannot write in {}", directory.display()))?;
                write_json(file.as_file_mut(), registered)?;
                file.persist(path)
                    .map_err(|e| anyhow::Error::from(e.error))
                    .with_context(|| format!("cannot replace {}", path.display()))?;
                Ok(())
            }
        }
    }

    /// Forgets the registration (the last subscription went, the callback is removed).
    pub fn remove(&self) -> anyhow::Result<()> {
        match self {
            Self::Memory(slot) => {
                *slot.lock().unwrap() = None;
                Ok(())
            }
            Self::File(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("cannot remove {}", path.display()))
                }
                _ => Ok(()),
            },
        }
    }

    /// What is kept now; `None` when there is nothing (yet).
    pub fn load(&self) -> anyhow::Result<Option<Registered>> {
        match self {
            Self::Memory(slot) => Ok(slot.lock().unwrap().clone()),
            Self::File(path) => match std::fs::read(path) {
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(Stored::Registered(registered)) => Ok(Some(registered)),
                    Ok(Stored::Bare(registration)) => Ok(Some(Registered::new(registration))),
                    Err(e) => {
                        Err(e).with_context(|| format!("{} is not a registration", path.display()))
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
            },
        }
    }

    /// A stamp that changes when a file store changes (its modification time and
    /// length), so that a reader need not parse it again when it did not; `None` for a
    /// store in memory, which is cheap to read.
    pub fn stamp(&self) -> Option<(Option<std::time::SystemTime>, u64)> {
        match self {
            Self::Memory(_) => None,
            Self::File(path) => Some(match std::fs::metadata(path) {
                Ok(meta) => (meta.modified().ok(), meta.len()),
                Err(_) => (None, 0),
            }),
        }
    }

    /// Holds the store for one read-modify-write (`enable`, `disable`) until the guard
    /// is dropped: two workflows switched on at once must both end up subscribed. A
    /// file store is locked through `<file>.lock` (an advisory lock, kept on disk);
    /// readers (`serve`) need no lock, since updates replace the file whole.
    pub fn lock(&self) -> anyhow::Result<StoreLock> {
        match self {
            Self::Memory(_) => Ok(StoreLock { _file: None }),
            Self::File(path) => {
                let mut lock_path = path.clone().into_os_string();
                lock_path.push(".lock");
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(false);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let file = options
                    .open(&lock_path)
                    .with_context(|| format!("cannot open {}", lock_path.display()))?;
                file.lock()
                    .with_context(|| format!("cannot lock {}", lock_path.display()))?;
                Ok(StoreLock { _file: Some(file) })
            }
        }
    }

    /// The verify token a handshake must present now.
    pub fn verify_token(&self) -> Option<Secret<String>> {
        self.load()
            .ok()
            .flatten()
            .map(|r| r.registration.verify_token)
    }
}

/// A held [`RegistrationStore::lock`]; released when dropped (closing the file releases
/// the lock).
pub struct StoreLock {
    _file: Option<std::fs::File>,
}

fn write_json(file: &mut std::fs::File, registered: &Registered) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut bytes = serde_json::to_vec_pretty(registered)?;
    bytes.push(b'\n');
    file.write_all(&bytes)?;
    file.sync_all()?;
    Ok(())
}

fn write_new(path: &Path, registered: &Registered) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create {} (an existing registration is never overwritten)",
            path.display()
        )
    })?;
    write_json(&mut file, registered)
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

    fn private(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }

    #[test]
    fn files_are_private_never_overwritten_and_updated_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registration.json");
        let store = RegistrationStore::File(path.clone());
        assert_eq!(store.load().unwrap(), None);
        store.save_new(&sample()).unwrap();
        private(&path);
        let mut registered = store.load().unwrap().unwrap();
        assert_eq!(registered, Registered::new(sample()));
        assert!(store.save_new(&sample()).is_err());

        let before = store.stamp();
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
        store.update(&registered).unwrap();
        private(&path);
        assert_ne!(store.stamp(), before);
        assert_eq!(store.load().unwrap().as_ref(), Some(&registered));

        assert!(registered.unsubscribe("1") && !registered.unsubscribe("1"));
        let c = registered.subscribe(
            TriggerSpec::MessageReceived {
                sender_number: None,
            },
            "c.jsonl".into(),
        );
        assert_eq!(c, "3", "an ID is never reused");
        store.remove().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn a_bare_registration_reads_as_one_without_subscriptions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.json");
        std::fs::write(&path, serde_json::to_vec(&sample()).unwrap()).unwrap();
        let store = RegistrationStore::File(path);
        assert_eq!(store.load().unwrap(), Some(Registered::new(sample())));
    }

    #[test]
    fn debug_and_redacted_hide_the_token() {
        let r = Registered::new(sample());
        assert!(!format!("{r:?}").contains("SECRETtoken"));
        assert!(!r.redacted().to_string().contains("SECRETtoken"));
        assert_eq!(
            r.redacted()["registration"]["callback_url"],
            "https://example.com/hook"
        );
    }
}
