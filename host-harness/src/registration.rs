//! Where the host keeps a trigger's registration between `new-registration` and
//! `disable`, as a workflow host would: it is what `enable` verifies against, what the
//! webhook endpoint's handshake checks, and what `disable` removes.
//!
//! The registration holds a secret (the verify token): files are created with mode
//! 0600, never overwritten, and `Debug` and [`Registration::redacted`] hide the token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use crate::bindings::{self, Outcome, Properties, WebhookRequest, WebhookSecrets};
use crate::runtime::Connector;
use crate::stub_graph::Callback;

pub use whatsapp_connector::registration::Registration;

impl From<bindings::Registration> for Registration {
    fn from(r: bindings::Registration) -> Self {
        Self {
            phone_number_id: r.phone_number_id,
            callback_url: r.callback_url,
            verify_token: r.verify_token,
            created_at: r.created_at,
        }
    }
}

impl From<&Registration> for bindings::Registration {
    fn from(r: &Registration) -> Self {
        Self {
            phone_number_id: r.phone_number_id.clone(),
            callback_url: r.callback_url.clone(),
            verify_token: r.verify_token.clone(),
            created_at: r.created_at,
        }
    }
}

/// Where a registration is kept.
#[derive(Clone, Debug)]
pub enum RegistrationStore {
    /// In this process (the demo).
    Memory(Arc<Mutex<Option<Registration>>>),
    /// A JSON file (the CLI): `enable --out`, `serve --registration`, `disable
    /// --registration`.
    File(PathBuf),
}

impl RegistrationStore {
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// Keeps a new registration. A file is created with mode 0600 and never replaces an
    /// existing one: that one's token may still be needed to disable it.
    pub fn save_new(&self, registration: &Registration) -> anyhow::Result<()> {
        match self {
            Self::Memory(slot) => {
                *slot.lock().unwrap() = Some(registration.clone());
                Ok(())
            }
            Self::File(path) => write_new(path, registration),
        }
    }

    /// The registration kept now; `None` when there is none (yet).
    pub fn load(&self) -> anyhow::Result<Option<Registration>> {
        match self {
            Self::Memory(slot) => Ok(slot.lock().unwrap().clone()),
            Self::File(path) => match std::fs::read(path) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map(Some)
                    .with_context(|| format!("{} is not a registration", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
            },
        }
    }

    /// The verify token a handshake must present now.
    pub fn verify_token(&self) -> Option<String> {
        self.load().ok().flatten().map(|r| r.verify_token)
    }
}

fn write_new(path: &Path, registration: &Registration) -> anyhow::Result<()> {
    use std::io::Write as _;
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
    let mut bytes = serde_json::to_vec_pretty(registration)?;
    bytes.push(b'\n');
    file.write_all(&bytes)?;
    file.sync_all()?;
    Ok(())
}

/// A [`Callback`] for the stub Graph API that delivers Meta's verification GET to this
/// host's own webhook handler, in process, checked against the token in `store`: as if
/// the callback URL were served by this host.
pub fn in_process_callback(connector: Connector, store: RegistrationStore) -> Callback {
    Arc::new(move |_url, query| {
        let (connector, store) = (connector.clone(), store.clone());
        Box::pin(async move {
            let request = WebhookRequest {
                method: "GET".into(),
                headers: Vec::new(),
                query,
                body: Vec::new(),
            };
            let secrets = WebhookSecrets {
                app_secret: None,
                verify_token: store.verify_token(),
            };
            let properties = Properties {
                sender_number: None,
            };
            match connector
                .handle_webhook(&request, &properties, &secrets)
                .await
            {
                Ok(Ok(Outcome::Respond(r))) => Some((r.status, r.body)),
                Ok(Ok(Outcome::Events(_))) => Some((500, String::new())),
                Ok(Err(e)) => Some((crate::json::webhook_error_status(&e), String::new())),
                Err(_) => Some((500, String::new())),
            }
        })
    })
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
    fn files_are_private_and_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("registration-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("registration.json");
        let _ = std::fs::remove_file(&path);
        let store = RegistrationStore::File(path.clone());
        assert_eq!(store.load().unwrap(), None);
        store.save_new(&sample()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(store.load().unwrap(), Some(sample()));
        assert!(store.save_new(&sample()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_and_redacted_hide_the_token() {
        let r = sample();
        assert!(!format!("{r:?}").contains("SECRETtoken"));
        assert!(!r.redacted().to_string().contains("SECRETtoken"));
        assert_eq!(r.redacted()["callback_url"], "https://example.com/hook");
    }
}
