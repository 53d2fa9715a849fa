//! Action "Send Interactive": reply buttons, a list, or a call-to-action URL button, with
//! an optional text header and footer. `{"type":"interactive","interactive":{"type",
//! "header"?, "body", "footer"?, "action"}}`.
//!
//! Limits from Meta's references ("Interactive reply buttons messages", "Interactive
//! list messages", "Interactive CTA URL button messages"), in characters:

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use crate::graph::{Credentials, Error, GraphRequest};
use crate::outgoing::{self, Addressee};

/// Header text (all three forms).
pub const MAX_HEADER_CHARS: usize = 60;
/// Footer text (all three forms).
pub const MAX_FOOTER_CHARS: usize = 60;
/// Body text of reply buttons and of a CTA URL button.
pub const MAX_BODY_CHARS: usize = 1024;
/// Body text of a list: Meta's list reference allows 4096 (reply buttons: 1024).
pub const MAX_LIST_BODY_CHARS: usize = 4096;
/// Reply buttons per message.
pub const MAX_BUTTONS: usize = 3;
/// A reply button's ID.
pub const MAX_BUTTON_ID_CHARS: usize = 256;
/// A reply button's title.
pub const MAX_BUTTON_TITLE_CHARS: usize = 20;
/// The label of the button that opens a list.
pub const MAX_LIST_BUTTON_CHARS: usize = 20;
/// Sections of a list.
pub const MAX_SECTIONS: usize = 10;
/// Rows of a list, all sections together.
pub const MAX_ROWS: usize = 10;
/// A section's title.
pub const MAX_SECTION_TITLE_CHARS: usize = 24;
/// A row's ID.
pub const MAX_ROW_ID_CHARS: usize = 200;
/// A row's title.
pub const MAX_ROW_TITLE_CHARS: usize = 24;
/// A row's description.
pub const MAX_ROW_DESCRIPTION_CHARS: usize = 72;
/// A CTA URL button's display text.
pub const MAX_DISPLAY_TEXT_CHARS: usize = 20;
/// A CTA URL button's URL.
pub const MAX_URL_CHARS: usize = 2000;

/// A reply button.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReplyButton<'a> {
    pub id: &'a str,
    pub title: &'a str,
}

/// A row of a list.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Row<'a> {
    pub id: &'a str,
    pub title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
}

/// A section of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Section<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    pub rows: Vec<Row<'a>>,
}

/// The three forms.
#[derive(Debug, Clone)]
pub enum Form<'a> {
    ReplyButtons(Vec<ReplyButton<'a>>),
    List {
        button: &'a str,
        sections: Vec<Section<'a>>,
    },
    CtaUrl {
        display_text: &'a str,
        url: &'a str,
    },
}

/// The action's properties.
#[derive(Debug, Clone)]
pub struct InteractiveInput<'a> {
    pub to: Addressee<'a>,
    pub form: Form<'a>,
    pub header_text: Option<&'a str>,
    pub body: &'a str,
    pub footer: Option<&'a str>,
}

/// `interactive`: what every form shares (a text header, the body, a footer) around its
/// `action`. Send Flow builds the same frame around its own action.
#[derive(Serialize)]
pub(crate) struct Interactive<'a, A> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<Header<'a>>,
    body: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    footer: Option<Text<'a>>,
    action: A,
}

impl<'a, A> Interactive<'a, A> {
    /// Checks the header (at most 60 characters), the footer (60) and the body (1 to
    /// `body_max`), and frames `action` with them.
    pub(crate) fn framed(
        kind: &'static str,
        header_text: Option<&'a str>,
        body: &'a str,
        body_max: usize,
        footer: Option<&'a str>,
        action: A,
    ) -> Result<Self, Error> {
        check_frame(header_text, body, body_max, footer)?;
        Ok(Self {
            kind,
            header: header_text.map(|text| Header { kind: "text", text }),
            body: Text { text: body },
            footer: footer.map(|text| Text { text }),
            action,
        })
    }
}

/// The frame's limits: a header and a footer of at most 60 characters, a body of 1 to
/// `body_max`.
fn check_frame(
    header_text: Option<&str>,
    body: &str,
    body_max: usize,
    footer: Option<&str>,
) -> Result<(), Error> {
    outgoing::optional_chars("header-text", header_text, MAX_HEADER_CHARS)?;
    outgoing::optional_chars("footer", footer, MAX_FOOTER_CHARS)?;
    outgoing::chars("body", body, 1, body_max)
}

#[derive(Serialize)]
struct Header<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Action<'a> {
    Buttons {
        buttons: Vec<Button<'a>>,
    },
    List {
        button: &'a str,
        sections: &'a [Section<'a>],
    },
    CtaUrl {
        name: &'static str,
        parameters: CtaParameters<'a>,
    },
}

#[derive(Serialize)]
struct Button<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reply: ReplyButton<'a>,
}

#[derive(Serialize)]
struct CtaParameters<'a> {
    display_text: &'a str,
    url: &'a str,
}

fn check_unique<'a>(
    field: &'static str,
    what: &str,
    values: impl Iterator<Item = &'a str>,
) -> Result<(), Error> {
    let mut seen: Vec<&str> = Vec::new();
    for value in values {
        if seen.contains(&value) {
            return Err(Error::invalid(
                field,
                format!("{what} {value:?} is given twice; each must be unique"),
            ));
        }
        seen.push(value);
    }
    Ok(())
}

/// Validates every input and builds the request. Nothing is sent when any is invalid.
pub fn prepare(
    credentials: Credentials<'_>,
    input: &InteractiveInput<'_>,
) -> Result<GraphRequest, Error> {
    let to = outgoing::address(credentials, input.to)?;
    to.not_to_a_group("an interactive message")?;
    let body_max = match input.form {
        Form::List { .. } => MAX_LIST_BODY_CHARS,
        _ => MAX_BODY_CHARS,
    };
    // The frame's checks come first: a bad header is reported before a bad button.
    check_frame(input.header_text, input.body, body_max, input.footer)?;
    let (kind, action) = match &input.form {
        Form::ReplyButtons(buttons) => {
            if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                return Err(Error::invalid(
                    "buttons",
                    format!(
                        "has {} buttons; reply buttons are 1 to {MAX_BUTTONS}",
                        buttons.len()
                    ),
                ));
            }
            for button in buttons {
                outgoing::chars("buttons", button.id, 1, MAX_BUTTON_ID_CHARS)?;
                outgoing::chars("buttons", button.title, 1, MAX_BUTTON_TITLE_CHARS)?;
            }
            check_unique("buttons", "the button ID", buttons.iter().map(|b| b.id))?;
            check_unique(
                "buttons",
                "the button title",
                buttons.iter().map(|b| b.title),
            )?;
            let buttons = buttons
                .iter()
                .map(|&reply| Button {
                    kind: "reply",
                    reply,
                })
                .collect();
            ("button", Action::Buttons { buttons })
        }
        Form::List { button, sections } => {
            outgoing::chars("list-button", button, 1, MAX_LIST_BUTTON_CHARS)?;
            if sections.is_empty() || sections.len() > MAX_SECTIONS {
                return Err(Error::invalid(
                    "sections",
                    format!(
                        "has {} sections; a list has 1 to {MAX_SECTIONS}",
                        sections.len()
                    ),
                ));
            }
            let rows = sections.iter().map(|s| s.rows.len()).sum::<usize>();
            if rows > MAX_ROWS {
                return Err(Error::invalid(
                    "sections",
                    format!(
                        "has {rows} rows; a list has at most {MAX_ROWS}, all sections together"
                    ),
                ));
            }
            for section in sections {
                if section.rows.is_empty() {
                    return Err(Error::invalid(
                        "sections",
                        "every section needs at least one row",
                    ));
                }
                match section.title {
                    Some(title) => outgoing::chars("sections", title, 1, MAX_SECTION_TITLE_CHARS)?,
                    None if sections.len() > 1 => {
                        return Err(Error::invalid(
                            "sections",
                            "every section needs a title when there are several",
                        ));
                    }
                    None => {}
                }
                for row in &section.rows {
                    outgoing::chars("sections", row.id, 1, MAX_ROW_ID_CHARS)?;
                    outgoing::chars("sections", row.title, 1, MAX_ROW_TITLE_CHARS)?;
                    outgoing::optional_chars(
                        "sections",
                        row.description,
                        MAX_ROW_DESCRIPTION_CHARS,
                    )?;
                }
            }
            check_unique(
                "sections",
                "the row ID",
                sections.iter().flat_map(|s| s.rows.iter().map(|r| r.id)),
            )?;
            ("list", Action::List { button, sections })
        }
        Form::CtaUrl { display_text, url } => {
            outgoing::chars("display-text", display_text, 1, MAX_DISPLAY_TEXT_CHARS)?;
            outgoing::https_link("url", url, MAX_URL_CHARS)?;
            let parameters = CtaParameters { display_text, url };
            (
                "cta_url",
                Action::CtaUrl {
                    name: "cta_url",
                    parameters,
                },
            )
        }
    };
    let interactive = Interactive::framed(
        kind,
        input.header_text,
        input.body,
        body_max,
        input.footer,
        action,
    )?;
    Ok(to.request("interactive", &interactive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "1",
    };

    fn input<'a>(form: Form<'a>) -> InteractiveInput<'a> {
        InteractiveInput {
            to: Addressee {
                send_message_to: "+15550101234",
                reply_to: None,
            },
            form,
            header_text: None,
            body: "Pick one",
            footer: None,
        }
    }

    fn interactive(input: &InteractiveInput<'_>) -> serde_json::Value {
        let body: serde_json::Value =
            serde_json::from_slice(&prepare(CREDS, input).unwrap().json_body.unwrap()).unwrap();
        body["interactive"].clone()
    }

    #[test]
    fn the_three_forms_in_meta_s_shape() {
        let buttons = InteractiveInput {
            header_text: Some("Order #1234"),
            footer: Some("Lucky Shrub"),
            ..input(Form::ReplyButtons(vec![
                ReplyButton {
                    id: "yes",
                    title: "Yes",
                },
                ReplyButton {
                    id: "no",
                    title: "No",
                },
            ]))
        };
        assert_eq!(
            interactive(&buttons),
            json!({"type": "button", "header": {"type": "text", "text": "Order #1234"}, "body": {"text": "Pick one"}, "footer": {"text": "Lucky Shrub"},
                   "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}, {"type": "reply", "reply": {"id": "no", "title": "No"}}]}})
        );
        let list = input(Form::List {
            button: "Shipping",
            sections: vec![Section {
                title: None,
                rows: vec![Row {
                    id: "fast",
                    title: "Express",
                    description: Some("1 day"),
                }],
            }],
        });
        assert_eq!(
            interactive(&list),
            json!({"type": "list", "body": {"text": "Pick one"},
                   "action": {"button": "Shipping", "sections": [{"rows": [{"id": "fast", "title": "Express", "description": "1 day"}]}]}})
        );
        let cta = input(Form::CtaUrl {
            display_text: "Track",
            url: "https://example.com/t/1",
        });
        assert_eq!(
            interactive(&cta),
            json!({"type": "cta_url", "body": {"text": "Pick one"},
                   "action": {"name": "cta_url", "parameters": {"display_text": "Track", "url": "https://example.com/t/1"}}})
        );
    }

    #[test]
    fn limits_at_their_edges() {
        let field = |input: InteractiveInput<'_>| match prepare(CREDS, &input) {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let button = |id, title| ReplyButton { id, title };
        let four = vec![
            button("a", "A"),
            button("b", "B"),
            button("c", "C"),
            button("d", "D"),
        ];
        assert_eq!(field(input(Form::ReplyButtons(four))), "buttons");
        assert_eq!(field(input(Form::ReplyButtons(vec![]))), "buttons");
        let same = vec![button("a", "A"), button("a", "B")];
        assert_eq!(field(input(Form::ReplyButtons(same))), "buttons");
        let title_20 = "😀".repeat(20);
        let title_21 = "😀".repeat(21);
        assert!(
            prepare(
                CREDS,
                &input(Form::ReplyButtons(vec![button("a", &title_20)]))
            )
            .is_ok()
        );
        assert_eq!(
            field(input(Form::ReplyButtons(vec![button("a", &title_21)]))),
            "buttons"
        );
        let rows = |n: usize| {
            (0..n)
                .map(|i| Row {
                    id: [
                        "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10",
                    ][i],
                    title: "t",
                    description: None,
                })
                .collect::<Vec<_>>()
        };
        let list = |rows| Form::List {
            button: "Go",
            sections: vec![Section {
                title: Some("S"),
                rows,
            }],
        };
        assert!(prepare(CREDS, &input(list(rows(10)))).is_ok());
        assert_eq!(field(input(list(rows(11)))), "sections");
        let untitled = Form::List {
            button: "Go",
            sections: vec![
                Section {
                    title: None,
                    rows: rows(1),
                },
                Section {
                    title: None,
                    rows: rows(1),
                },
            ],
        };
        assert_eq!(field(input(untitled)), "sections");
        let body_4096 = "é".repeat(4096);
        assert!(
            prepare(
                CREDS,
                &InteractiveInput {
                    body: &body_4096,
                    ..input(list(rows(1)))
                }
            )
            .is_ok()
        );
        assert_eq!(
            field(InteractiveInput {
                body: &body_4096,
                ..input(Form::ReplyButtons(vec![button("a", "A")]))
            }),
            "body"
        );
        assert_eq!(
            field(input(Form::CtaUrl {
                display_text: "Track",
                url: "http://example.com"
            })),
            "url"
        );
        let header_61 = "h".repeat(61);
        assert_eq!(
            field(InteractiveInput {
                header_text: Some(&header_61),
                ..input(list(rows(1)))
            }),
            "header-text"
        );
    }
}
