//! Actions on groups (Groups API, for Official Business Accounts): create one, read or
//! reset its invite link, remove participants. Shapes and limits from Meta's "Group
//! management" reference:
//!
//! - `POST /{phone-number-id}/groups` with `{"messaging_product": "whatsapp", "subject"
//!   (at most 128 characters, trimmed by Meta), "description"? (at most 2048),
//!   "join_approval_mode"? ("auto_approve", the default, or "approval_required")}`
//!   answers `{"messaging_product", "request_id"}`: the group itself arrives later, as a
//!   `group_lifecycle_update` webhook carrying that `request_id`;
//! - `GET /{group-id}/invite_link` and `POST /{group-id}/invite_link` (a new link) answer
//!   `{"messaging_product", "invite_link"}`;
//! - `DELETE /{group-id}/participants` with `{"messaging_product", "participants":
//!   [{"user"}]}`; each removal's result arrives as a `group_participants_update` webhook.
//!
//! A group ID goes into the URL's path, so it is checked strictly
//! ([`identity::validate_group_id`]).

#[allow(unused_imports)]
use crate::prelude::*;

use serde::{Deserialize, Serialize};

use crate::graph::{self, Credentials, Error, GraphRequest, HttpResponse};
use crate::identity;
use crate::outgoing;

/// A group's subject.
pub const MAX_SUBJECT_CHARS: usize = 128;
/// A group's description.
pub const MAX_DESCRIPTION_CHARS: usize = 2048;

/// Whether people who open the invite link join at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinApproval {
    AutoApprove,
    ApprovalRequired,
}

#[derive(Serialize)]
struct Create<'a> {
    messaging_product: &'static str,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    join_approval_mode: Option<&'static str>,
}

#[derive(Serialize)]
struct Product {
    messaging_product: &'static str,
}

#[derive(Serialize)]
struct Remove<'a> {
    messaging_product: &'static str,
    participants: Vec<User<'a>>,
}

/// `{"user": …}`, as the Groups and Block Users APIs take a person.
#[derive(Serialize)]
pub(crate) struct User<'a> {
    pub user: &'a str,
}

/// A person the business names: a `+` number, or a WhatsApp ID (digits). The error
/// names `field`.
pub(crate) fn check_user(field: &'static str, user: &str) -> Result<(), Error> {
    let digits = user.strip_prefix('+').unwrap_or(user);
    let ok = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(Error::invalid(
            field,
            format!(
                "{user:?} is neither a phone number (+ and 7 to 15 digits, e.g. +16505551234) nor a WhatsApp ID (digits)"
            ),
        ));
    }
    Ok(())
}

/// Each of `users` checked, and none given twice.
pub(crate) fn check_users(field: &'static str, users: &[&str], most: usize) -> Result<(), Error> {
    if users.is_empty() || users.len() > most {
        return Err(Error::invalid(
            field,
            format!("has {} entries; give 1 to {most}", users.len()),
        ));
    }
    for (i, user) in users.iter().enumerate() {
        check_user(field, user)?;
        if users[..i].contains(user) {
            return Err(Error::invalid(field, format!("{user:?} is given twice")));
        }
    }
    Ok(())
}

fn group_path(credentials: Credentials<'_>, group_id: &str, edge: &str) -> Result<String, Error> {
    credentials.validate()?;
    identity::validate_group_id(group_id).map_err(|reason| Error::invalid("group-id", reason))?;
    Ok(format!("{group_id}/{edge}"))
}

/// Action "Create Group".
pub fn prepare_create(
    credentials: Credentials<'_>,
    subject: &str,
    description: Option<&str>,
    join: Option<JoinApproval>,
) -> Result<GraphRequest, Error> {
    credentials.validate()?;
    outgoing::chars("subject", subject, 1, MAX_SUBJECT_CHARS)?;
    outgoing::optional_chars("description", description, MAX_DESCRIPTION_CHARS)?;
    Ok(GraphRequest::post_json(
        &format!("{}/groups", credentials.phone_number_id),
        &Create {
            messaging_product: "whatsapp",
            subject,
            description,
            join_approval_mode: join.map(|j| match j {
                JoinApproval::AutoApprove => "auto_approve",
                JoinApproval::ApprovalRequired => "approval_required",
            }),
        },
    ))
}

/// `{"request_id"}` of a creation.
pub fn parse_created(response: &HttpResponse) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Created {
        request_id: String,
    }
    graph::parse_answer::<Created>(response).map(|c| c.request_id)
}

/// Actions "Get Group Invite Link" (`reset` false) and "Reset Group Invite Link".
pub fn prepare_invite_link(
    credentials: Credentials<'_>,
    group_id: &str,
    reset: bool,
) -> Result<GraphRequest, Error> {
    let path = group_path(credentials, group_id, "invite_link")?;
    Ok(if reset {
        GraphRequest::post_json(
            &path,
            &Product {
                messaging_product: "whatsapp",
            },
        )
    } else {
        GraphRequest::get(&path)
    })
}

/// `{"invite_link"}`.
pub fn parse_invite_link(response: &HttpResponse) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Link {
        invite_link: String,
    }
    graph::parse_answer::<Link>(response).map(|l| l.invite_link)
}

/// Most participants one removal names; Meta's groups are far smaller.
pub const MAX_PARTICIPANTS: usize = 1024;

/// Action "Remove Group Participants".
pub fn prepare_remove(
    credentials: Credentials<'_>,
    group_id: &str,
    participants: &[&str],
) -> Result<GraphRequest, Error> {
    let path = group_path(credentials, group_id, "participants")?;
    check_users("participants", participants, MAX_PARTICIPANTS)?;
    Ok(GraphRequest::delete_json(
        &path,
        &Remove {
            messaging_product: "whatsapp",
            participants: participants.iter().map(|&user| User { user }).collect(),
        },
    ))
}

/// Any 2xx answer with a JSON body: the removal was accepted; its result arrives by
/// webhook.
pub fn parse_removed(response: &HttpResponse) -> Result<(), Error> {
    graph::parse_answer::<serde::de::IgnoredAny>(response).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Method;
    use crate::secret::Secret;
    use serde_json::json;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "1",
    };
    const GROUP: &str = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD";

    fn body(request: &GraphRequest) -> serde_json::Value {
        serde_json::from_slice(request.json_body.as_ref().unwrap()).unwrap()
    }

    fn field(result: Result<GraphRequest, Error>) -> &'static str {
        match result {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn each_request_in_meta_s_shape() {
        let create = prepare_create(
            CREDS,
            "Spring sale VIPs",
            Some("Early access"),
            Some(JoinApproval::ApprovalRequired),
        )
        .unwrap();
        assert_eq!(
            (create.method, create.path_and_query.as_str()),
            (Method::Post, "/v27.0/1/groups")
        );
        assert_eq!(
            body(&create),
            json!({"messaging_product": "whatsapp", "subject": "Spring sale VIPs", "description": "Early access", "join_approval_mode": "approval_required"})
        );
        let get = prepare_invite_link(CREDS, GROUP, false).unwrap();
        assert_eq!((get.method, get.json_body.is_none()), (Method::Get, true));
        assert_eq!(get.path_and_query, format!("/v27.0/{GROUP}/invite_link"));
        let reset = prepare_invite_link(CREDS, GROUP, true).unwrap();
        assert_eq!(reset.method, Method::Post);
        assert_eq!(body(&reset), json!({"messaging_product": "whatsapp"}));
        let remove = prepare_remove(CREDS, GROUP, &["+16505551234", "16505559876"]).unwrap();
        assert_eq!(remove.method, Method::Delete);
        assert_eq!(
            remove.path_and_query,
            format!("/v27.0/{GROUP}/participants")
        );
        assert_eq!(
            body(&remove),
            json!({"messaging_product": "whatsapp", "participants": [{"user": "+16505551234"}, {"user": "16505559876"}]})
        );
    }

    #[test]
    fn every_limit_and_every_bad_id_is_refused_before_any_request() {
        let subject = "s".repeat(MAX_SUBJECT_CHARS);
        assert!(prepare_create(CREDS, &subject, None, None).is_ok());
        let subject = "s".repeat(MAX_SUBJECT_CHARS + 1);
        assert_eq!(
            field(prepare_create(CREDS, &subject, None, None)),
            "subject"
        );
        assert_eq!(field(prepare_create(CREDS, "  ", None, None)), "subject");
        let description = "d".repeat(MAX_DESCRIPTION_CHARS);
        assert!(prepare_create(CREDS, "S", Some(&description), None).is_ok());
        let description = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
        assert_eq!(
            field(prepare_create(CREDS, "S", Some(&description), None)),
            "description"
        );
        for bad in ["", "a/b", "a?b", "../x", "a b", "%2F", &"g".repeat(257)] {
            assert_eq!(
                field(prepare_invite_link(CREDS, bad, false)),
                "group-id",
                "{bad:?}"
            );
        }
        assert!(prepare_invite_link(CREDS, &"g".repeat(256), true).is_ok());
        let many: Vec<String> = (0..=MAX_PARTICIPANTS)
            .map(|i| format!("+1650555{i:04}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(prepare_remove(CREDS, GROUP, &many[..MAX_PARTICIPANTS]).is_ok());
        assert_eq!(field(prepare_remove(CREDS, GROUP, &many)), "participants");
        assert_eq!(field(prepare_remove(CREDS, GROUP, &[])), "participants");
        assert_eq!(
            field(prepare_remove(CREDS, GROUP, &["+1 650"])),
            "participants"
        );
        assert_eq!(
            field(prepare_remove(CREDS, GROUP, &["US.1349"])),
            "participants"
        );
        assert_eq!(
            field(prepare_remove(
                CREDS,
                GROUP,
                &["+16505551234", "+16505551234"]
            )),
            "participants"
        );
    }

    #[test]
    fn answers_are_read() {
        let answer = |body: &str| HttpResponse {
            status: 200,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(
            parse_created(&answer(
                r#"{"messaging_product":"whatsapp","request_id":"R1"}"#
            ))
            .unwrap(),
            "R1"
        );
        assert_eq!(
            parse_invite_link(&answer(
                r#"{"messaging_product":"whatsapp","invite_link":"https://chat.whatsapp.com/X"}"#
            ))
            .unwrap(),
            "https://chat.whatsapp.com/X"
        );
        assert!(matches!(
            parse_created(&answer(r#"{"messaging_product":"whatsapp"}"#)),
            Err(Error::UnexpectedResponse { .. })
        ));
        parse_removed(&answer(r#"{"success":true}"#)).unwrap();
    }
}
