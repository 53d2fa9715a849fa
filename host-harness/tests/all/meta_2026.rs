//! Meta's documented webhooks of late 2026 through `serve`: a Flow's answers (readable
//! and not), an edit, a deletion, a group's message and a group send's statuses, an echo
//! from the Business app, marketing opt-outs and opt-ins, each group webhook, and a batch
//! of all of them. Each kind of subscription writes exactly the events `host-harness
//! trigger` gives for the same files, so the gateway, the CLI and (in the Node tests) the
//! Node host agree.

use crate::end_to_end_lifecycle::{PUBLIC_ORIGIN, fake_meta};
use crate::subscriptions::{enable, lines};
use crate::*;
use host_harness::bindings::WebhookSecrets;
use host_harness::fakes::loopback::Client;
use host_harness::fakes::{signed_post, webhook_post};
use host_harness::registration::TriggerSpec;
use host_harness::triggers::{Handled, Trigger};
use host_harness::{Allocation, COMPONENT_PATH, Connector, Limits};
use serde_json::Value;

/// Every fixture this round added, each with IDs of its own.
pub(crate) const FIXTURES: [&str; 18] = [
    "flow_nfm_reply.json",
    "flow_nfm_reply_not_json.json",
    "edit_message.json",
    "revoke_message.json",
    "group_text_message.json",
    "group_statuses.json",
    "group_statuses_read_aggregated.json",
    "group_statuses_participants.json",
    "smb_message_echo.json",
    "user_preferences_stop.json",
    "user_preferences_resume.json",
    "group_lifecycle_create.json",
    "group_lifecycle_create_failed.json",
    "group_participants_join.json",
    "group_settings_update.json",
    "group_status_suspend.json",
    "mixed_2026_batch.json",
    "message_and_status.json",
];

/// Each kind of subscription: its `enable` flags, the trigger they name, its events
/// file's name, and how many events the fixtures give it.
fn kinds() -> [(&'static [&'static str], TriggerSpec, &'static str, usize); 5] {
    [
        (
            &[],
            TriggerSpec::MessageReceived {
                sender_number: None,
            },
            "messages.jsonl",
            7,
        ),
        (
            &["--statuses"],
            TriggerSpec::StatusUpdated {
                statuses: vec![],
                recipient: None,
            },
            "statuses.jsonl",
            9,
        ),
        (
            &["--echoes"],
            TriggerSpec::MessageEchoed { recipient: None },
            "echoes.jsonl",
            2,
        ),
        (
            &["--preferences"],
            TriggerSpec::PreferenceChanged { customer: None },
            "preferences.jsonl",
            3,
        ),
        (
            &["--groups"],
            TriggerSpec::GroupUpdated {
                updates: vec![],
                group_id: None,
            },
            "groups.jsonl",
            6,
        ),
    ]
}

/// What the trigger `spec` names gives for every fixture, in order: the component run in
/// process, through the same code as `host-harness trigger`.
async fn trigger_events(connector: &Connector, spec: &TriggerSpec) -> Vec<Value> {
    let trigger = Trigger::from_spec(spec).unwrap();
    let secrets = WebhookSecrets {
        app_secret: None,
        verify_token: None,
    };
    let mut events = Vec::new();
    for name in FIXTURES {
        let request = webhook_post(std::fs::read(fixture(name)).unwrap(), &[]);
        match trigger.handle(connector, &request, &secrets).await {
            Ok(Ok(Ok(Handled::Events(e)))) => {
                events.extend(e.to_json().unwrap().as_array().unwrap().iter().cloned())
            }
            _ => panic!("{name}: not events"),
        }
    }
    events
}

#[tokio::test]
async fn meta_s_2026_examples_through_serve_are_the_trigger_s_events() {
    let dir = scratch_dir("meta-2026");
    let store = dir.join("state");
    let store = store.to_str().unwrap();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let server = start_serve(&["--store", store, "--app-secret", APP_SECRET]);
    let (_meta, meta_server) = fake_meta(server.address).await;
    let url = format!("{PUBLIC_ORIGIN}/whatsapp/number");
    for (flags, _, events, _) in kinds() {
        let events = file(events);
        let mut args = flags.to_vec();
        args.extend(["--events", &events]);
        enable(&meta_server, store, &url, &args).await;
    }
    // serve routes new subscriptions within a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let mut client = Client::connect(server.address).await.unwrap();
    for name in FIXTURES {
        let body = std::fs::read(fixture(name)).unwrap();
        let answer = client
            .webhook("/whatsapp/number", signed_post(body, APP_SECRET))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{name}: {}", answer.text());
    }
    let connector = Connector::load(
        std::path::Path::new(COMPONENT_PATH),
        Limits::default(),
        Allocation::default(),
    )
    .unwrap();
    for (flags, spec, events, count) in kinds() {
        let expected = trigger_events(&connector, &spec).await;
        assert_eq!(expected.len(), count, "{flags:?}");
        let written = lines(std::path::Path::new(&file(events)), count);
        assert_eq!(written, expected, "{flags:?}");
    }
}
