//! What the media actions share: moving a file's bytes in bounded chunks, and how that
//! fails. The bytes never sit whole in the component: each chunk is read, checked and
//! passed on before the next.

#[allow(unused_imports)]
use crate::prelude::*;

use sha2::{Digest as _, Sha256};

use crate::graph::Error;

/// Bytes moved per step: large enough that crossing into the host is rare, small enough
/// that the component's 16 MiB memory never notices a 100 MB file.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The bytes did not match what the Graph API said of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `sha256` or `file-size`.
    pub check: &'static str,
    pub expected: String,
    pub actual: String,
}

/// Why moving a file failed; in every case the destination holds no valid file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    /// An invalid input (no request made), or a failed Graph API call.
    Request(Error),
    /// A media URL that is not `https` on an allowed host: refused before any request.
    UrlRefused(String),
    /// The bytes do not match `sha256` or `file_size`.
    Mismatch(Mismatch),
    /// The host's stream failed, or the source's length was not the one announced.
    Stream(String),
}

impl From<Error> for TransferError {
    fn from(error: Error) -> Self {
        TransferError::Request(error)
    }
}

impl TransferError {
    /// Replaces every occurrence of `secret` in the error's text.
    pub fn redact(&mut self, secret: &str) {
        match self {
            TransferError::Request(error) => error.redact(secret),
            TransferError::UrlRefused(text) | TransferError::Stream(text) => {
                if !secret.is_empty() && text.contains(secret) {
                    *text = text.replace(secret, "[redacted]");
                }
            }
            TransferError::Mismatch(_) => {}
        }
    }
}

/// Counts and hashes bytes as they pass, and says at the end whether they were the
/// file the Graph API described: exactly `expected_size` bytes with `expected_sha256`.
pub struct Integrity {
    hasher: Sha256,
    received: u64,
    expected_size: u64,
}

impl Integrity {
    pub fn new(expected_size: u64) -> Self {
        Self {
            hasher: Sha256::new(),
            received: 0,
            expected_size,
        }
    }

    /// Takes the next chunk. Refuses, as soon as it is known, a body longer than
    /// announced, so that a server that never stops is not read to the end.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), TransferError> {
        self.received += chunk.len() as u64;
        if self.received > self.expected_size {
            return Err(self.size_mismatch("more"));
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Bytes taken so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// After the last chunk: the size, then the hash (`expected_sha256` in hex, any
    /// case).
    pub fn finish(self, expected_sha256: &str) -> Result<(), TransferError> {
        if self.received != self.expected_size {
            return Err(self.size_mismatch(""));
        }
        let actual = hex::encode(self.hasher.finalize());
        if !actual.eq_ignore_ascii_case(expected_sha256) {
            return Err(TransferError::Mismatch(Mismatch {
                check: "sha256",
                expected: expected_sha256.to_owned(),
                actual,
            }));
        }
        Ok(())
    }

    fn size_mismatch(&self, more: &str) -> TransferError {
        let actual = match more {
            "" => self.received.to_string(),
            _ => format!("more than {}", self.expected_size),
        };
        TransferError::Mismatch(Mismatch {
            check: "file-size",
            expected: self.expected_size.to_string(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn the_right_bytes_pass_in_any_chunking() {
        let mut integrity = Integrity::new(3);
        integrity.update(b"a").unwrap();
        integrity.update(b"").unwrap();
        integrity.update(b"bc").unwrap();
        assert_eq!(integrity.received(), 3);
        integrity.finish(&ABC_SHA256.to_uppercase()).unwrap();
    }

    #[test]
    fn a_wrong_hash_or_size_is_a_mismatch() {
        let mut integrity = Integrity::new(3);
        integrity.update(b"abd").unwrap();
        let Err(TransferError::Mismatch(m)) = integrity.finish(ABC_SHA256) else {
            panic!("a different byte must fail");
        };
        assert_eq!((m.check, m.expected.as_str()), ("sha256", ABC_SHA256));

        let mut short = Integrity::new(4);
        short.update(b"abc").unwrap();
        let Err(TransferError::Mismatch(m)) = short.finish(ABC_SHA256) else {
            panic!("a short body must fail");
        };
        assert_eq!(
            (m.check, m.expected.as_str(), m.actual.as_str()),
            ("file-size", "4", "3")
        );

        let mut long = Integrity::new(2);
        let Err(TransferError::Mismatch(m)) = long.update(b"abc") else {
            panic!("a long body must fail at once");
        };
        assert_eq!(m.actual, "more than 2");
    }

    #[test]
    fn redaction_reaches_every_text() {
        let mut e = TransferError::Stream("token EAAx leaked".into());
        e.redact("EAAx");
        assert_eq!(e, TransferError::Stream("token [redacted] leaked".into()));
        let mut e = TransferError::Request(Error::Transport {
            message: "EAAx".into(),
        });
        e.redact("EAAx");
        assert!(!format!("{e:?}").contains("EAAx"));
    }
}
