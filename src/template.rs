//! Action "Send Template": an approved message template, the only message that reaches
//! a customer outside the 24-hour window since they last wrote (Meta answers 131047 to
//! anything else). `{"type":"template","template":{"name","language":{"code"},
//! "components":[header?, body?, button…]}}`.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use crate::graph::{Credentials, Error, GraphRequest};
use crate::outgoing::{self, Addressee};

/// Most characters of a template name (Meta: lowercase letters, digits, underscores).
pub const MAX_NAME_CHARS: usize = 512;
/// Most characters of a text parameter.
pub const MAX_PARAMETER_CHARS: usize = 32_768;
/// Most characters of a quick-reply payload or a URL-button suffix.
pub const MAX_BUTTON_PARAMETER_CHARS: usize = 2_000;
/// A text header's parameter: Meta's template header holds at most 60 characters
/// ("Message templates", components: header, text).
pub const MAX_HEADER_TEXT_CHARS: usize = 60;
/// Most characters of a media link.
pub const MAX_LINK_CHARS: usize = 2_000;
/// Template buttons are numbered 0 to 9.
pub const MAX_BUTTON_INDEX: u8 = 9;

/// A body parameter: positional (`{{1}}`), or named (`{{order_id}}`) with its name.
#[derive(Debug, Clone, Copy)]
pub struct Parameter<'a> {
    pub name: Option<&'a str>,
    pub text: &'a str,
}

/// Where a header's media is: an uploaded media ID or an `https` link.
#[derive(Debug, Clone, Copy)]
pub enum MediaSource<'a> {
    Id(&'a str),
    Link(&'a str),
}

/// The header parameter.
#[derive(Debug, Clone, Copy)]
pub enum Header<'a> {
    Text(&'a str),
    Image(MediaSource<'a>),
    Video(MediaSource<'a>),
    Document(MediaSource<'a>),
}

/// A button's parameter, by the button's index in the template.
#[derive(Debug, Clone, Copy)]
pub enum Button<'a> {
    /// A quick-reply button's payload, returned in the webhook when tapped.
    QuickReply { index: u8, payload: &'a str },
    /// The variable suffix of a URL button's URL.
    Url { index: u8, suffix: &'a str },
    /// A FLOW button's token and first screen's data (the JSON text of an object).
    Flow {
        index: u8,
        token: Option<&'a str>,
        data: Option<&'a str>,
    },
}

/// Sending through the Marketing Messages API for WhatsApp
/// (`POST /{phone-number-id}/marketing_messages`, Meta's reference "Marketing Messages
/// API for WhatsApp"): the same body as `/messages`, plus two optional members.
#[derive(Debug, Clone, Copy, Default)]
pub struct Marketing {
    /// `product_policy`: `CLOUD_API_FALLBACK` or `STRICT`.
    pub product_policy: Option<ProductPolicy>,
    /// `message_activity_sharing`.
    pub message_activity_sharing: Option<bool>,
}

/// `product_policy` of the Marketing Messages API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductPolicy {
    CloudApiFallback,
    Strict,
}

/// The action's properties.
#[derive(Debug, Clone)]
pub struct TemplateInput<'a> {
    pub to: Addressee<'a>,
    pub template_name: &'a str,
    pub language_code: &'a str,
    pub body_parameters: Vec<Parameter<'a>>,
    pub header: Option<Header<'a>>,
    pub buttons: Vec<Button<'a>>,
    /// Through the Marketing Messages API instead of `/messages`.
    pub marketing: Option<Marketing>,
}

#[derive(Serialize)]
struct Template<'a> {
    name: &'a str,
    language: Language<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component<'a>>,
}

#[derive(Serialize)]
struct Language<'a> {
    code: &'a str,
}

#[derive(Serialize)]
struct Component<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<String>,
    parameters: Vec<Value<'a>>,
}

/// One parameter as Meta takes it: `{"type": "text", "text": …}`, `{"type": "image",
/// "image": {"id" | "link"}}`, `{"type": "payload", "payload": …}`.
#[derive(Serialize)]
struct Value<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<Media<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    video: Option<Media<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<Media<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<FlowButtonAction<'a>>,
}

/// A FLOW button's `action`: `{"flow_token"?, "flow_action_data"?}`.
#[derive(Serialize)]
struct FlowButtonAction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_action_data: Option<&'a serde_json::value::RawValue>,
}

impl<'a> Value<'a> {
    fn of(kind: &'static str) -> Self {
        Self {
            kind,
            text: None,
            parameter_name: None,
            payload: None,
            image: None,
            video: None,
            document: None,
            action: None,
        }
    }
}

/// `{"id": …}` or `{"link": …}`.
#[derive(Serialize)]
pub(crate) struct Media<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
}

impl<'a> Media<'a> {
    pub(crate) fn of(source: MediaSource<'a>) -> Self {
        match source {
            MediaSource::Id(id) => Self {
                id: Some(id),
                link: None,
            },
            MediaSource::Link(link) => Self {
                id: None,
                link: Some(link),
            },
        }
    }
}

/// A media source is an ID (digits) or an `https` link.
pub(crate) fn check_media(field: &'static str, source: MediaSource<'_>) -> Result<(), Error> {
    match source {
        MediaSource::Id(id) => {
            outgoing::chars(field, id, 1, 64)?;
            if !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid(field, "a media ID holds only digits"));
            }
            Ok(())
        }
        MediaSource::Link(link) => outgoing::https_link(field, link, MAX_LINK_CHARS),
    }
}

/// A text parameter: Meta refuses new lines, tabs and more than four spaces in a row in
/// one, so they are refused here first, before any request.
fn check_text_parameter(field: &'static str, text: &str) -> Result<(), Error> {
    outgoing::chars(field, text, 1, MAX_PARAMETER_CHARS)?;
    if text.contains(['\n', '\r', '\t']) || text.contains("     ") {
        return Err(Error::invalid(
            field,
            "contains a new line, a tab or more than four spaces in a row, which template parameters cannot",
        ));
    }
    Ok(())
}

/// Validates every input and builds the request. Nothing is sent when any is invalid.
pub fn prepare(
    credentials: Credentials<'_>,
    input: &TemplateInput<'_>,
) -> Result<GraphRequest, Error> {
    let to = outgoing::address(credentials, input.to)?;
    outgoing::chars("template-name", input.template_name, 1, MAX_NAME_CHARS)?;
    if !input
        .template_name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::invalid(
            "template-name",
            "holds only lowercase letters, digits and underscores, as in Meta's template list",
        ));
    }
    let code = input.language_code;
    let (language, region) = code.split_once('_').unwrap_or((code, ""));
    let language_ok =
        (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok =
        region.is_empty() || (region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase()));
    if !language_ok || !region_ok {
        return Err(Error::invalid(
            "language-code",
            "is a language code like en or en_US, the one the template was approved in",
        ));
    }
    let named = input
        .body_parameters
        .iter()
        .filter(|p| p.name.is_some())
        .count();
    if named != 0 && named != input.body_parameters.len() {
        return Err(Error::invalid(
            "body-parameters",
            "are either all positional or all named, not both",
        ));
    }
    let mut components = Vec::new();
    if let Some(header) = input.header {
        let mut value = match header {
            Header::Text(text) => {
                check_text_parameter("header", text)?;
                outgoing::chars("header", text, 1, MAX_HEADER_TEXT_CHARS)?;
                Value {
                    text: Some(text),
                    ..Value::of("text")
                }
            }
            Header::Image(source) | Header::Video(source) | Header::Document(source) => {
                check_media("header", source)?;
                match header {
                    Header::Image(_) => Value::of("image"),
                    Header::Video(_) => Value::of("video"),
                    _ => Value::of("document"),
                }
            }
        };
        match header {
            Header::Image(source) => value.image = Some(Media::of(source)),
            Header::Video(source) => value.video = Some(Media::of(source)),
            Header::Document(source) => value.document = Some(Media::of(source)),
            Header::Text(_) => {}
        }
        components.push(Component {
            kind: "header",
            sub_type: None,
            index: None,
            parameters: vec![value],
        });
    }
    if !input.body_parameters.is_empty() {
        let mut parameters = Vec::with_capacity(input.body_parameters.len());
        for parameter in &input.body_parameters {
            check_text_parameter("body-parameters", parameter.text)?;
            if let Some(name) = parameter.name {
                outgoing::chars("body-parameters", name, 1, 64)?;
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(Error::invalid(
                        "body-parameters",
                        "a parameter name holds only lowercase letters, digits and underscores",
                    ));
                }
            }
            parameters.push(Value {
                text: Some(parameter.text),
                parameter_name: parameter.name,
                ..Value::of("text")
            });
        }
        components.push(Component {
            kind: "body",
            sub_type: None,
            index: None,
            parameters,
        });
    }
    let mut indexes = Vec::new();
    for button in &input.buttons {
        let (index, sub_type, value) = match *button {
            Button::QuickReply { index, payload } => {
                outgoing::chars("buttons", payload, 1, MAX_BUTTON_PARAMETER_CHARS)?;
                let value = Value {
                    payload: Some(payload),
                    ..Value::of("payload")
                };
                (index, "quick_reply", value)
            }
            Button::Url { index, suffix } => {
                outgoing::chars("buttons", suffix, 1, MAX_BUTTON_PARAMETER_CHARS)?;
                let value = Value {
                    text: Some(suffix),
                    ..Value::of("text")
                };
                (index, "url", value)
            }
            Button::Flow { index, token, data } => {
                if let Some(token) = token {
                    crate::flow::check_token("buttons", token)?;
                }
                let data = data
                    .map(|data| crate::flow::object_data("buttons", data))
                    .transpose()?;
                let value = Value {
                    action: Some(FlowButtonAction {
                        flow_token: token,
                        flow_action_data: data,
                    }),
                    ..Value::of("action")
                };
                (index, "flow", value)
            }
        };
        if index > MAX_BUTTON_INDEX {
            return Err(Error::invalid(
                "buttons",
                format!(
                    "button index {index} is out of range: template buttons are numbered 0 to {MAX_BUTTON_INDEX}"
                ),
            ));
        }
        if indexes.contains(&index) {
            return Err(Error::invalid(
                "buttons",
                format!("button index {index} is given twice"),
            ));
        }
        indexes.push(index);
        components.push(Component {
            kind: "button",
            sub_type: Some(sub_type),
            index: Some(index.to_string()),
            parameters: vec![value],
        });
    }
    let template = Template {
        name: input.template_name,
        language: Language { code },
        components,
    };
    Ok(match input.marketing {
        None => to.request("template", &template),
        Some(marketing) => {
            // The Marketing Messages API sends to individuals only.
            to.not_to_a_group("a template through the Marketing Messages API")?;
            let mut extra = Vec::new();
            if let Some(policy) = marketing.product_policy {
                let policy = match policy {
                    ProductPolicy::CloudApiFallback => "CLOUD_API_FALLBACK",
                    ProductPolicy::Strict => "STRICT",
                };
                extra.push(("product_policy", outgoing::Member::Text(policy)));
            }
            if let Some(sharing) = marketing.message_activity_sharing {
                extra.push(("message_activity_sharing", outgoing::Member::Flag(sharing)));
            }
            to.request_to("marketing_messages", "template", &template, &extra)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "1",
    };

    fn input<'a>() -> TemplateInput<'a> {
        TemplateInput {
            to: Addressee {
                send_message_to: "+15550101234",
                reply_to: None,
            },
            template_name: "order_update",
            language_code: "en_US",
            body_parameters: vec![],
            header: None,
            buttons: vec![],
            marketing: None,
        }
    }

    fn json(input: &TemplateInput<'_>) -> serde_json::Value {
        serde_json::from_slice(&prepare(CREDS, input).unwrap().json_body.unwrap()).unwrap()
    }

    #[test]
    fn a_flow_button_carries_its_token_and_data() {
        let flow = TemplateInput {
            buttons: vec![
                Button::Flow {
                    index: 0,
                    token: Some("booking-42"),
                    data: Some(r#"{"name": "Pablo"}"#),
                },
                Button::Flow {
                    index: 1,
                    token: None,
                    data: None,
                },
            ],
            ..input()
        };
        assert_eq!(
            json(&flow)["template"]["components"],
            serde_json::json!([
                {"type": "button", "sub_type": "flow", "index": "0", "parameters": [
                    {"type": "action", "action": {"flow_token": "booking-42", "flow_action_data": {"name": "Pablo"}}}
                ]},
                {"type": "button", "sub_type": "flow", "index": "1", "parameters": [
                    {"type": "action", "action": {}}
                ]},
            ])
        );
        let bad = |token, data| {
            prepare(
                CREDS,
                &TemplateInput {
                    buttons: vec![Button::Flow {
                        index: 0,
                        token,
                        data,
                    }],
                    ..input()
                },
            )
        };
        let long = "t".repeat(crate::flow::MAX_TOKEN_CHARS + 1);
        for (token, data) in [
            (Some(long.as_str()), None),
            (None, Some("{}")),
            (None, Some("[1]")),
        ] {
            assert!(
                matches!(
                    bad(token, data),
                    Err(Error::InvalidInput {
                        field: "buttons",
                        ..
                    })
                ),
                "{data:?}"
            );
        }
    }

    #[test]
    fn the_marketing_messages_api_takes_the_same_body_and_two_options() {
        let plain = prepare(CREDS, &input()).unwrap();
        let marketing = prepare(
            CREDS,
            &TemplateInput {
                marketing: Some(Marketing::default()),
                ..input()
            },
        )
        .unwrap();
        assert_eq!(marketing.path_and_query, "/v27.0/1/marketing_messages");
        assert_eq!(marketing.json_body, plain.json_body);
        let options = TemplateInput {
            marketing: Some(Marketing {
                product_policy: Some(ProductPolicy::Strict),
                message_activity_sharing: Some(false),
            }),
            ..input()
        };
        let body = json(&options);
        assert_eq!(body["product_policy"], "STRICT");
        assert_eq!(body["message_activity_sharing"], false);
        assert_eq!(body["template"]["name"], "order_update");
    }

    #[test]
    fn every_component_in_meta_s_shape() {
        let full = TemplateInput {
            body_parameters: vec![
                Parameter {
                    name: None,
                    text: "Pablo",
                },
                Parameter {
                    name: None,
                    text: "#1234",
                },
            ],
            header: Some(Header::Image(MediaSource::Link(
                "https://example.com/a.png",
            ))),
            buttons: vec![
                Button::QuickReply {
                    index: 0,
                    payload: "STOP",
                },
                Button::Url {
                    index: 1,
                    suffix: "1234",
                },
            ],
            ..input()
        };
        assert_eq!(
            json(&full)["template"],
            serde_json::json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/a.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Pablo"}, {"type": "text", "text": "#1234"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]},
                {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "1234"}]},
            ]})
        );
        let named = TemplateInput {
            body_parameters: vec![Parameter {
                name: Some("order_id"),
                text: "1234",
            }],
            ..input()
        };
        assert_eq!(
            json(&named)["template"]["components"][0]["parameters"][0],
            serde_json::json!({"type": "text", "text": "1234", "parameter_name": "order_id"})
        );
        assert!(json(&input())["template"].get("components").is_none());
    }

    #[test]
    fn invalid_inputs_name_their_property() {
        let field = |input: TemplateInput<'_>| match prepare(CREDS, &input) {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(TemplateInput {
                template_name: "Order Update",
                ..input()
            }),
            "template-name"
        );
        assert_eq!(
            field(TemplateInput {
                language_code: "english",
                ..input()
            }),
            "language-code"
        );
        assert_eq!(
            field(TemplateInput {
                language_code: "en_us",
                ..input()
            }),
            "language-code"
        );
        let mixed = vec![
            Parameter {
                name: Some("a"),
                text: "x",
            },
            Parameter {
                name: None,
                text: "y",
            },
        ];
        assert_eq!(
            field(TemplateInput {
                body_parameters: mixed,
                ..input()
            }),
            "body-parameters"
        );
        let tab = vec![Parameter {
            name: None,
            text: "a\tb",
        }];
        assert_eq!(
            field(TemplateInput {
                body_parameters: tab,
                ..input()
            }),
            "body-parameters"
        );
        let twice = vec![
            Button::QuickReply {
                index: 0,
                payload: "a",
            },
            Button::Url {
                index: 0,
                suffix: "b",
            },
        ];
        assert_eq!(
            field(TemplateInput {
                buttons: twice,
                ..input()
            }),
            "buttons"
        );
        let far = vec![Button::QuickReply {
            index: 10,
            payload: "a",
        }];
        assert_eq!(
            field(TemplateInput {
                buttons: far,
                ..input()
            }),
            "buttons"
        );
        let http = Some(Header::Document(MediaSource::Link(
            "http://example.com/a.pdf",
        )));
        assert_eq!(
            field(TemplateInput {
                header: http,
                ..input()
            }),
            "header"
        );
        let letters = Some(Header::Video(MediaSource::Id("abc")));
        assert_eq!(
            field(TemplateInput {
                header: letters,
                ..input()
            }),
            "header"
        );
    }

    #[test]
    fn a_text_header_holds_at_most_60_characters() {
        let edge = "é".repeat(MAX_HEADER_TEXT_CHARS);
        let past = "é".repeat(MAX_HEADER_TEXT_CHARS + 1);
        let with = |text| TemplateInput {
            header: Some(Header::Text(text)),
            ..input()
        };
        assert!(prepare(CREDS, &with(&edge)).is_ok());
        match prepare(CREDS, &with(&past)) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "header"),
            other => panic!("{other:?}"),
        }
    }
}
