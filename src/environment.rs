//! Secrets a host may leave to the component's environment (`wasi:cli/environment`)
//! instead of passing them as parameters.
//!
//! Why: a workflow engine records every call's parameters (Obelisk keeps them in its
//! database and shows them in its CLI and UI), so a token passed as a parameter is a
//! token at rest in the engine's log. Obelisk instead puts secrets in an activity's
//! environment: the access token as a placeholder that it swaps for the real one only
//! in a request to an allowed host, the webhook secrets as they are. A caller opts in
//! per value by passing it empty; a value given is always used as given, so a host that
//! gives no environment (`host-harness`, the Node package) sees no change.

#[allow(unused_imports)]
use crate::prelude::*;

/// Read for an empty `connection.system-user-access-token`.
pub const ACCESS_TOKEN: &str = "WHATSAPP_ACCESS_TOKEN";
/// Read for a `webhook-secrets.app-secret` that is present and empty.
pub const APP_SECRET: &str = "WHATSAPP_APP_SECRET";
/// Read for a `webhook-secrets.verify-token` that is present and empty.
pub const VERIFY_TOKEN: &str = "WHATSAPP_VERIFY_TOKEN";

/// `given`, or when it is empty, the variable `name` (empty when unset). `lookup` is
/// asked only for an empty value; what it answers is checked like any given value (an
/// empty token is still `invalid-input`, an empty app secret still means no check).
pub fn or_environment(
    given: String,
    name: &str,
    lookup: impl FnOnce(&str) -> Option<String>,
) -> String {
    if given.is_empty() {
        lookup(name).unwrap_or_default()
    } else {
        given
    }
}

/// An optional secret: absent stays absent (a host that set none meant none), present
/// and empty is read from `name`.
pub fn optional_or_environment(
    given: Option<String>,
    name: &str,
    lookup: impl FnOnce(&str) -> Option<String>,
) -> Option<String> {
    given.map(|value| or_environment(value, name, lookup))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_value_is_read_from_the_environment() {
        let asked = core::cell::Cell::new(0);
        let lookup = |name: &str| {
            asked.set(asked.get() + 1);
            (name == ACCESS_TOKEN).then(|| "from-env".to_owned())
        };
        assert_eq!(
            or_environment("given".into(), ACCESS_TOKEN, lookup),
            "given"
        );
        assert_eq!(
            asked.get(),
            0,
            "a given value never consults the environment"
        );
        assert_eq!(
            or_environment(String::new(), ACCESS_TOKEN, lookup),
            "from-env"
        );
        assert_eq!(or_environment(String::new(), APP_SECRET, lookup), "");
    }

    #[test]
    fn an_absent_secret_stays_absent() {
        let lookup = |_: &str| -> Option<String> { panic!("absent must not be looked up") };
        assert_eq!(optional_or_environment(None, APP_SECRET, lookup), None);
        assert_eq!(
            optional_or_environment(Some(String::new()), VERIFY_TOKEN, |_| Some("vt".into())),
            Some("vt".into())
        );
    }
}
