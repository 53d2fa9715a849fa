//! `component.json` against the real `.wasm`: the manifest a workflow host reads must
//! name exactly what the component exports, property for property.

use std::collections::BTreeSet;

use host_harness::wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use serde_json::Value;

fn manifest() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/component.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn names(values: &Value) -> BTreeSet<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .or_else(|| v["name"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The exported function `interface#function` of the component.
fn exported_func(interface: &str, function: &str) -> ComponentFunc {
    let connector = crate::connector();
    let ty = connector.component_type();
    let engine = connector.engine();
    let instance = match ty.get_export(engine, interface).map(|e| e.ty) {
        Some(ComponentItem::ComponentInstance(instance)) => instance,
        other => panic!("{interface} is not an exported instance: {other:?}"),
    };
    match instance.get_export(engine, function).map(|e| e.ty) {
        Some(ComponentItem::ComponentFunc(func)) => func,
        other => panic!("{interface}#{function} is not an exported function: {other:?}"),
    }
}

fn record_fields(func: &ComponentFunc, param: &str) -> BTreeSet<String> {
    let (_, ty) = func
        .params()
        .find(|(name, _)| *name == param)
        .unwrap_or_else(|| panic!("no parameter {param}"));
    let Type::Record(record) = ty else {
        panic!("{param} is not a record")
    };
    record.fields().map(|f| f.name.to_owned()).collect()
}

#[test]
fn the_exports_are_the_manifests() {
    let connector = crate::connector();
    let ty = connector.component_type();
    let exports: BTreeSet<String> = ty
        .exports(connector.engine())
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(exports, names(&manifest()["wit"]["exports"]));
    let imports: BTreeSet<String> = ty
        .imports(connector.engine())
        .map(|(name, _)| name.to_owned())
        .collect();
    // Every import, not a subset: a host must provide each of them, so the manifest names
    // them all (the guest is no_std: of `wasi:cli` only the environment).
    assert_eq!(imports, names(&manifest()["wit"]["imports"]));
    // The Graph API, and the media hosts the component lets a download's token go to.
    let mut hosts = vec![format!("https://{}", whatsapp_connector::graph::GRAPH_HOST)];
    hosts.extend(
        whatsapp_connector::media_download::MEDIA_HOSTS
            .iter()
            .map(|h| format!("https://{h}")),
    );
    assert_eq!(manifest()["allowedOutboundHosts"], serde_json::json!(hosts));
    assert_eq!(
        manifest()["graphApi"]["version"],
        whatsapp_connector::graph::GRAPH_VERSION
    );
}

#[test]
fn every_property_matches_a_wit_field() {
    let manifest = manifest();
    let actions = manifest["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 17, "every action has its manifest entry");
    for action in actions {
        let func = exported_func(
            action["interface"].as_str().unwrap(),
            action["function"].as_str().unwrap(),
        );
        assert_eq!(
            record_fields(&func, "connection"),
            names(&manifest["connection"]["properties"]),
            "{}",
            action["name"]
        );
        assert_eq!(
            record_fields(&func, "input"),
            names(&action["properties"]),
            "{}",
            action["name"]
        );
    }
    // Every exported interface is the connection's, a trigger's or an action's.
    let interfaces = |list: &Value| -> BTreeSet<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|a| a["interface"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut listed = interfaces(&manifest["actions"]);
    listed.extend(interfaces(&manifest["triggers"]));
    listed.insert(
        manifest["connection"]["interface"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert_eq!(manifest["triggers"].as_array().unwrap().len(), 5);
    assert_eq!(listed, names(&manifest["wit"]["exports"]));

    for trigger in manifest["triggers"].as_array().unwrap() {
        let handle = exported_func(
            trigger["interface"].as_str().unwrap(),
            trigger["function"].as_str().unwrap(),
        );
        assert_eq!(
            record_fields(&handle, "properties"),
            names(&trigger["properties"]),
            "{}",
            trigger["name"]
        );
    }

    let connection = &manifest["connection"];
    let test = exported_func(
        connection["interface"].as_str().unwrap(),
        connection["test"]["function"].as_str().unwrap(),
    );
    assert_eq!(
        record_fields(&test, "connection"),
        names(&connection["properties"])
    );
}

/// A property's attribute in the manifest: `attribute` of property `name` of `action`.
fn attribute(action: &str, name: &str, attribute: &str) -> Value {
    let manifest = manifest();
    let action = manifest["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == action)
        .unwrap_or_else(|| panic!("no action {action}"))
        .clone();
    let property = action["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{action}: no property {name}"))
        .clone();
    property[attribute].clone()
}

#[test]
fn the_limits_are_the_components() {
    use whatsapp_connector::{flow, interactive, location, media, outgoing, send, template};
    let cases: [(&str, &str, &str, f64); 19] = [
        (
            "send-flow",
            "flow-cta",
            "maxLength",
            flow::MAX_CTA_CHARS as f64,
        ),
        (
            "send-flow",
            "flow-token",
            "maxLength",
            flow::MAX_TOKEN_CHARS as f64,
        ),
        (
            "send-flow",
            "header-text",
            "maxLength",
            interactive::MAX_HEADER_CHARS as f64,
        ),
        (
            "send-flow",
            "body",
            "maxLength",
            interactive::MAX_BODY_CHARS as f64,
        ),
        (
            "send-flow",
            "footer",
            "maxLength",
            interactive::MAX_FOOTER_CHARS as f64,
        ),
        (
            "send-message",
            "message",
            "maxLength",
            send::MAX_MESSAGE_CHARS as f64,
        ),
        (
            "send-message",
            "reply-to",
            "maxLength",
            outgoing::MAX_MESSAGE_ID_CHARS as f64,
        ),
        (
            "send-template",
            "template-name",
            "maxLength",
            template::MAX_NAME_CHARS as f64,
        ),
        (
            "send-media",
            "caption",
            "maxLength",
            media::MAX_CAPTION_CHARS as f64,
        ),
        (
            "send-media",
            "filename",
            "maxLength",
            media::MAX_FILENAME_CHARS as f64,
        ),
        (
            "send-media",
            "link",
            "maxLength",
            template::MAX_LINK_CHARS as f64,
        ),
        (
            "send-interactive",
            "header-text",
            "maxLength",
            interactive::MAX_HEADER_CHARS as f64,
        ),
        (
            "send-interactive",
            "footer",
            "maxLength",
            interactive::MAX_FOOTER_CHARS as f64,
        ),
        (
            "send-interactive",
            "body",
            "maxLength",
            interactive::MAX_LIST_BODY_CHARS as f64,
        ),
        (
            "send-reaction",
            "emoji",
            "maxLength",
            whatsapp_connector::reaction::MAX_EMOJI_SCALARS as f64,
        ),
        (
            "send-location",
            "name",
            "maxLength",
            location::MAX_NAME_CHARS as f64,
        ),
        (
            "send-location",
            "address",
            "maxLength",
            location::MAX_ADDRESS_CHARS as f64,
        ),
        ("send-location", "latitude", "maximum", 90.0),
        ("send-location", "longitude", "minimum", -180.0),
    ];
    for (action, property, key, expected) in cases {
        assert_eq!(
            attribute(action, property, key).as_f64(),
            Some(expected),
            "{action}.{property}.{key}"
        );
    }
    // The limits written in the form's description are the component's.
    let form = attribute("send-interactive", "form", "description");
    let form = form.as_str().unwrap();
    for limit in [
        interactive::MAX_BUTTONS,
        interactive::MAX_BUTTON_ID_CHARS,
        interactive::MAX_BUTTON_TITLE_CHARS,
        interactive::MAX_ROW_ID_CHARS,
        interactive::MAX_ROW_DESCRIPTION_CHARS,
        interactive::MAX_SECTIONS,
    ] {
        assert!(form.contains(&limit.to_string()), "{limit} not in {form}");
    }
    // The group and blocklist actions' limits.
    use whatsapp_connector::{blocking, groups};
    for (action, property, key, expected) in [
        (
            "create-group",
            "subject",
            "maxLength",
            groups::MAX_SUBJECT_CHARS,
        ),
        (
            "create-group",
            "description",
            "maxLength",
            groups::MAX_DESCRIPTION_CHARS,
        ),
        (
            "remove-group-participants",
            "participants",
            "maxItems",
            groups::MAX_PARTICIPANTS,
        ),
        ("block-users", "users", "maxItems", blocking::MAX_USERS),
        ("unblock-users", "users", "maxItems", blocking::MAX_USERS),
        (
            "list-blocked-users",
            "limit",
            "maximum",
            blocking::MAX_PAGE as usize,
        ),
        (
            "get-group-invite-link",
            "group-id",
            "maxLength",
            whatsapp_connector::identity::MAX_GROUP_ID_CHARS,
        ),
    ] {
        assert_eq!(
            attribute(action, property, key).as_u64(),
            Some(expected as u64),
            "{action}.{property}.{key}"
        );
    }
    // So are the Flow's, written in its descriptions.
    let which = attribute("send-flow", "flow", "description");
    assert!(
        which
            .as_str()
            .unwrap()
            .contains(&flow::MAX_NAME_CHARS.to_string())
    );
    let action = attribute("send-flow", "flow-action", "description");
    assert!(
        action
            .as_str()
            .unwrap()
            .contains(&flow::MAX_SCREEN_CHARS.to_string())
    );
    // The hinted error codes are the component's table.
    for code in manifest()["errorHints"]["codes"].as_array().unwrap() {
        let code = code.as_i64().unwrap();
        assert!(whatsapp_connector::graph::hint(code).is_some(), "{code}");
    }
}

#[test]
fn upload_limits_and_types_are_the_components() {
    use whatsapp_connector::media::MediaKind;
    use whatsapp_connector::media_upload::{MAX_STATIC_STICKER_BYTES, MIME_TYPES, max_bytes};
    let limits = attribute("upload-media", "mime-type", "options");
    let offered: Vec<&str> = limits
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let accepted: Vec<&str> = MIME_TYPES.iter().map(|(m, _)| *m).collect();
    assert_eq!(offered, accepted);
    let manifest = manifest();
    let upload = manifest["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "upload-media")
        .unwrap();
    let limits = &upload["limits"];
    for (name, kind) in [
        ("image", MediaKind::Image),
        ("audio", MediaKind::Audio),
        ("video", MediaKind::Video),
        ("document", MediaKind::Document),
        ("animatedSticker", MediaKind::Sticker),
    ] {
        assert_eq!(limits[name].as_u64(), Some(max_bytes(kind)), "{name}");
    }
    assert_eq!(limits["sticker"].as_u64(), Some(MAX_STATIC_STICKER_BYTES));
    assert_eq!(
        attribute("upload-media", "filename", "maxLength").as_u64(),
        Some(whatsapp_connector::media_upload::MAX_FILENAME_CHARS as u64)
    );
}

#[test]
fn the_artifact_is_a_small_component() {
    let wasm = std::fs::read(host_harness::COMPONENT_PATH).unwrap();
    // A component's preamble: magic, then version 0x0d and layer 1 (a core module has layer 0).
    assert_eq!(&wasm[..8], b"\0asm\x0d\x00\x01\x00", "not a component");
    // A guard against accidental growth, not a target: seventeen actions, five triggers
    // and the lenient webhook reader put it near 725 KiB (each feature's cost is
    // measured in docs/performance.md).
    assert!(
        wasm.len() < 800 * 1024,
        "the component grew to {} bytes",
        wasm.len()
    );
}

/// The record or enum a function returns on success.
fn ok_type(func: &ComponentFunc) -> Type {
    match func.results().next() {
        Some(Type::Result(result)) => result.ok().expect("a success type"),
        other => panic!("not a result: {other:?}"),
    }
}

fn keys(object: &Value) -> BTreeSet<String> {
    object.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn the_lifecycle_is_the_components() {
    let manifest = manifest();
    let trigger = &manifest["triggers"][0];
    let interface = trigger["interface"].as_str().unwrap();
    let lifecycle = &trigger["lifecycle"];
    let func = |key: &str| exported_func(interface, lifecycle[key].as_str().unwrap());
    let schema = keys(&lifecycle["registration"]["properties"]);

    let new_registration = func("newRegistration");
    assert_eq!(
        record_fields(&new_registration, "properties"),
        names(&trigger["properties"])
    );
    let Type::Record(registration) = ok_type(&new_registration) else {
        panic!("new-registration does not return a record")
    };
    let fields: BTreeSet<String> = registration.fields().map(|f| f.name.to_owned()).collect();
    assert_eq!(fields, schema);
    assert_eq!(record_fields(&func("enable"), "registration"), schema);

    let disable = func("disable");
    assert_eq!(record_fields(&disable, "registration"), schema);
    let Type::Enum(removal) = ok_type(&disable) else {
        panic!("disable does not return an enum")
    };
    let cases: Vec<&str> = removal.names().collect();
    let listed: Vec<&str> = lifecycle["removal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cases, listed);
    assert_eq!(
        lifecycle["webhookUrl"]["maxLength"],
        whatsapp_connector::registration::MAX_CALLBACK_URL_CHARS
    );
}

#[test]
fn the_status_and_group_triggers_offer_the_components_cases() {
    for (name, property, names) in [
        (
            "status-updated",
            "statuses",
            ["sent", "delivered", "read", "failed"].as_slice(),
        ),
        (
            "group-updated",
            "fields",
            ["lifecycle", "participants", "settings", "status"].as_slice(),
        ),
    ] {
        let manifest = manifest();
        let trigger = manifest["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone();
        let func = exported_func(
            trigger["interface"].as_str().unwrap(),
            trigger["function"].as_str().unwrap(),
        );
        let (_, Type::Record(properties)) =
            func.params().find(|(n, _)| *n == "properties").unwrap()
        else {
            panic!("properties is not a record")
        };
        let field = properties.fields().find(|f| f.name == property).unwrap();
        let Type::List(list) = field.ty else {
            panic!("{property} is not a list")
        };
        let Type::Enum(kinds) = list.ty() else {
            panic!("{property} is not a list of an enum")
        };
        let cases: Vec<&str> = kinds.names().collect();
        assert_eq!(cases, names, "{name}");
        let offered = &trigger["properties"][0];
        assert_eq!(offered["name"], property);
        assert_eq!(offered["options"], serde_json::json!(cases), "{name}");
    }
    // The host's names for the group updates are the component's.
    for (i, field) in whatsapp_connector::group_updates::GroupField::ALL
        .iter()
        .enumerate()
    {
        let listed = &manifest()["triggers"][4]["output"]["properties"]["entry"]["properties"]["changes"]
            ["properties"]["field"]["enum"][i];
        assert_eq!(listed, field.name());
    }
}
