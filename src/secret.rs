//! A value that must never be shown: its `Debug` is `[redacted]`, it has no `Display`,
//! and reading it takes an explicit [`Secret::expose`]. Tokens, app secrets and verify
//! tokens travel in it, so a `{:?}` in a log line or a panic message cannot leak one.

#[allow(unused_imports)]
use crate::prelude::*;

/// A secret value. Serialises as the value itself (a stored registration must keep its
/// token); everything that shows it to a person redacts it.
#[derive(Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for the one place that must use it (a header, an HMAC key, a compare).
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> core::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Secret<String> {
    /// Borrows the secret as a `Secret<&str>`.
    pub fn as_deref(&self) -> Secret<&str> {
        Secret(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_never_shows_the_value_and_serde_keeps_it() {
        let secret = Secret::from("hunter2");
        assert_eq!(
            format!("{secret:?} {:?}", Some(&secret)),
            "[redacted] Some([redacted])"
        );
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"hunter2\"");
        assert_eq!(secret.expose(), "hunter2");
    }
}
