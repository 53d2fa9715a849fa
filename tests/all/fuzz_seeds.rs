//! The fuzz targets' bodies over their seed corpora (`fuzz/seeds/`), in a normal
//! `cargo test`: CI compiles and exercises them although cargo-fuzz needs nightly, so they
//! cannot rot unseen. Each seed must pass the target's own assertions.

use std::path::Path;

use crate::{fuzz_signature, fuzz_webhook};

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn the_webhook_target_passes_its_seed_corpus() {
    let seeds = seeds("webhook");
    assert!(seeds.len() >= 60, "{} seeds", seeds.len());
    for (name, data) in &seeds {
        let outcome = std::panic::catch_unwind(|| fuzz_webhook::run(data));
        assert!(outcome.is_ok(), "seed {name} failed the webhook target");
    }
    // The seeds reach both sides of the oracle.
    let readings: Vec<fuzz_webhook::Reading> = seeds
        .iter()
        .map(|(_, d)| fuzz_webhook::read(&d[1..]))
        .collect();
    assert!(readings.contains(&fuzz_webhook::Reading::NotWebhook));
    assert!(readings.contains(&fuzz_webhook::Reading::Webhook(2)));
    assert!(readings.contains(&fuzz_webhook::Reading::Unknown));
}

#[test]
fn the_signature_target_passes_its_seed_corpus() {
    let seeds = seeds("signature");
    assert!(seeds.len() >= 6, "{} seeds", seeds.len());
    for (name, data) in &seeds {
        let outcome = std::panic::catch_unwind(|| fuzz_signature::run(data));
        assert!(outcome.is_ok(), "seed {name} failed the signature target");
    }
}

#[test]
fn the_oracle_is_the_one_the_targets_assert_against() {
    // A mutation the trigger must accept, and one it must refuse, read the same way.
    let body = crate::fixture("mixed_identities_and_status.json");
    assert_eq!(fuzz_webhook::read(&body), fuzz_webhook::Reading::Webhook(2));
    assert_eq!(fuzz_webhook::read(b"[]"), fuzz_webhook::Reading::NotWebhook);
    assert!(fuzz_webhook::has_duplicate_keys(br#"{"a":1,"a":2}"#));
    assert!(!fuzz_webhook::has_duplicate_keys(br#"{"a":{"a":1}}"#));
}
