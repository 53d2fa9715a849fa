//! One execution ID per event: `E_` and a ULID whose 48-bit time is the message's
//! `timestamp` (milliseconds) and whose 80 random bits are the first 80 bits of the
//! SHA-256 of the event's dedup key. Meta's redelivery carries the same message, so it
//! maps to the same ID, and the endpoint finds the execution already there.

use sha2::{Digest, Sha256};
use ulid::Ulid;

pub fn for_event(dedup_key: &str, timestamp: &Option<String>) -> String {
    let millis = timestamp
        .as_deref()
        .and_then(|t| t.parse::<u64>().ok())
        .and_then(|seconds| seconds.checked_mul(1000))
        .filter(|ms| *ms < 1 << 48)
        .unwrap_or(0);
    let digest = Sha256::digest(dedup_key.as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    format!(
        "E_{}",
        Ulid::from_parts(millis, u128::from_be_bytes(random))
    )
}

#[cfg(test)]
mod tests {
    use super::for_event;

    #[test]
    fn the_same_key_is_the_same_id_and_another_key_another() {
        let ts = Some("1733000000".to_owned());
        let a = for_event("wamid.A", &ts);
        assert_eq!(a, for_event("wamid.A", &ts));
        assert_ne!(a, for_event("wamid.B", &ts));
        assert!(a.starts_with("E_") && a.len() == 28, "{a}");
        assert_eq!(for_event("wamid.A", &Some("x".into())).len(), 28);
    }
}
