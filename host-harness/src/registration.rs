//! The registration store: where the host keeps a trigger's registration between
//! `new-registration` and `disable`, as a workflow host would. It is what `enable`
//! verifies against, what the webhook endpoint's handshake checks, and what `disable`
//! removes.
//!
//! The registration holds a secret (the verify token): files are created with mode
//! 0600, never overwritten, and `Debug` and [`Registration::redacted`] hide the token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use whatsapp_connector::secret::Secret;

pub use whatsapp_connector::registration::Registration;

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
    pub fn verify_token(&self) -> Option<Secret<String>> {
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
