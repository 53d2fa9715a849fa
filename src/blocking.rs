//! Actions "Block Users", "Unblock Users" and "List Blocked Users" (Meta's "Block users",
//! `/{phone-number-id}/block_users`): a blocked user cannot reach the business, and the
//! business cannot message them.
//!
//! - `POST` (block) and `DELETE` (unblock) take `{"messaging_product": "whatsapp",
//!   "block_users": [{"user"}]}`, at most 1000 users a request;
//! - they answer per user: `{"block_users": {"added_users" | "removed_users": [{input,
//!   wa_id}], "failed_users": [{input, wa_id?, errors: [{message, code, error_data:
//!   {details}}]}]}}`. A partial failure comes with HTTP 400 and error 139100 beside the
//!   lists: it is read as the per-user output, not as an error;
//! - `GET ?limit=&after=` pages through the blocklist.
//!
//! Meta blocks only users who wrote in the last 24 hours (a failed user's error then
//! says so), and keeps at most 64,000.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::graph::{self, Credentials, Error, GraphRequest, HttpResponse};
use crate::groups::{User, check_users};
use crate::webhook::wire::{self, Members};

/// Users one request blocks or unblocks.
pub const MAX_USERS: usize = 1000;
/// Most users one page of the blocklist lists.
pub const MAX_PAGE: u32 = 1000;

#[derive(Serialize)]
struct Body<'a> {
    messaging_product: &'static str,
    block_users: Vec<User<'a>>,
}

/// Actions "Block Users" (`block` true) and "Unblock Users".
pub fn prepare(
    credentials: Credentials<'_>,
    users: &[&str],
    block: bool,
) -> Result<GraphRequest, Error> {
    credentials.validate()?;
    check_users("users", users, MAX_USERS)?;
    let path = format!("{}/block_users", credentials.phone_number_id);
    let body = Body {
        messaging_product: "whatsapp",
        block_users: users.iter().map(|&user| User { user }).collect(),
    };
    Ok(if block {
        GraphRequest::post_json(&path, &body)
    } else {
        GraphRequest::delete_json(&path, &body)
    })
}

/// One of a failed user's errors, with the hint for its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub code: Option<i64>,
    pub message: Option<String>,
    pub details: Option<String>,
    pub hint: Option<String>,
}

/// One user's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserResult {
    pub input: String,
    pub wa_id: Option<String>,
    pub errors: Vec<UserError>,
}

/// The users done (blocked or unblocked) and those that failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub done: Vec<UserResult>,
    pub failed: Vec<UserResult>,
}

/// A JSON list's elements, raw; `None` when `raw` is not a list.
fn elements(raw: &RawValue) -> Option<Vec<&RawValue>> {
    serde_json::from_str(raw.get()).ok()
}

/// One `{input, wa_id?, errors?}`, read with the webhook's member reader (the guest
/// carries no second JSON reader for these answers).
fn user(raw: &RawValue) -> Option<UserResult> {
    let members = Members::of(raw.get())?;
    let errors = members
        .get("errors")
        .and_then(elements)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|error| {
            let error = Members::of(error.get())?;
            // Meta documents `code` as a number and shows it as a string in one example.
            let code = error.get("code").and_then(|code| match wire::string(code) {
                Some(text) => text.trim().parse().ok(),
                None => code.get().parse().ok(),
            });
            let details = error
                .get("error_data")
                .and_then(|data| Members::of(data.get()))
                .and_then(|data| data.string("details"));
            Some(UserError {
                hint: code.and_then(graph::hint).map(str::to_owned),
                code,
                message: error.string("message"),
                details,
            })
        })
        .collect();
    Some(UserResult {
        input: members.string("input")?,
        wa_id: members.string("wa_id"),
        errors,
    })
}

/// The per-user answer: on 2xx, or on a 4xx that carries the lists (a partial failure).
/// Any other answer is the error it means.
pub fn parse_outcome(response: &HttpResponse) -> Result<Outcome, Error> {
    let lists = core::str::from_utf8(&response.body)
        .ok()
        .and_then(Members::of)
        .and_then(|answer| answer.get("block_users"))
        .and_then(|lists| Members::of(lists.get()));
    let success = (200..300).contains(&response.status);
    let lists = match lists {
        Some(lists) if success || (400..500).contains(&response.status) => lists,
        _ if success => {
            return Err(Error::UnexpectedResponse {
                status: response.status,
                reason: "the body has no `block_users` object".into(),
                retryable: false,
            });
        }
        _ => return Err(graph::classify_error(response)),
    };
    let list = |key: &str| -> Result<Vec<UserResult>, Error> {
        let Some(raw) = lists.get(key) else {
            return Ok(Vec::new());
        };
        elements(raw)
            .and_then(|users| users.into_iter().map(user).collect::<Option<Vec<_>>>())
            .ok_or_else(|| Error::UnexpectedResponse {
                status: response.status,
                reason: format!("`block_users.{key}` is not a list of users"),
                retryable: false,
            })
    };
    let mut done = list("added_users")?;
    done.extend(list("removed_users")?);
    Ok(Outcome {
        done,
        failed: list("failed_users")?,
    })
}

/// Action "List Blocked Users".
pub fn prepare_list(
    credentials: Credentials<'_>,
    limit: Option<u32>,
    after: Option<&str>,
) -> Result<GraphRequest, Error> {
    credentials.validate()?;
    let mut query = String::new();
    if let Some(limit) = limit {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("is {limit}; a page lists 1 to {MAX_PAGE} users"),
            ));
        }
        query.push_str(&format!("?limit={limit}"));
    }
    if let Some(after) = after {
        // A cursor is Meta's opaque base64: anything else would change the query.
        let ok = !after.is_empty()
            && after.len() <= 1024
            && after
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='));
        if !ok {
            return Err(Error::invalid(
                "after",
                "is not a cursor Meta gave (letters, digits, '-', '_' and '=')",
            ));
        }
        query.push(if query.is_empty() { '?' } else { '&' });
        query.push_str("after=");
        query.push_str(after);
    }
    Ok(GraphRequest::get(&format!(
        "{}/block_users{query}",
        credentials.phone_number_id
    )))
}

/// One page of the blocklist: the users' WhatsApp IDs, and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub wa_ids: Vec<String>,
    pub after: Option<String>,
}

/// `{"data": [{"wa_id"} …], "paging": {"cursors": {"after"}, "next"?}}`; `after` only
/// when Meta gives a next page.
pub fn parse_page(response: &HttpResponse) -> Result<Page, Error> {
    if !(200..300).contains(&response.status) {
        return Err(graph::classify_error(response));
    }
    let unexpected = |reason: &str| Error::UnexpectedResponse {
        status: response.status,
        reason: reason.into(),
        retryable: false,
    };
    let listed = core::str::from_utf8(&response.body)
        .ok()
        .and_then(Members::of)
        .ok_or_else(|| unexpected("the body is not a JSON object"))?;
    let data = match listed.get("data") {
        None => Vec::new(),
        Some(data) => elements(data).ok_or_else(|| unexpected("`data` is not a list"))?,
    };
    let mut wa_ids = Vec::new();
    for entry in data {
        let Some(entry) = Members::of(entry.get()) else {
            continue;
        };
        wa_ids.extend(entry.string("wa_id"));
        let blocked = entry
            .get("block_users")
            .and_then(elements)
            .unwrap_or_default();
        wa_ids.extend(
            blocked
                .into_iter()
                .filter_map(|b| Members::of(b.get())?.string("wa_id")),
        );
    }
    let paging = listed.get("paging").and_then(|p| Members::of(p.get()));
    let after = paging.and_then(|paging| {
        paging.get("next")?;
        Members::of(paging.get("cursors")?.get())?.string("after")
    });
    Ok(Page { wa_ids, after })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Method;
    use crate::secret::Secret;
    use serde_json::json;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "106540352242922",
    };

    fn answer(status: u16, body: serde_json::Value) -> HttpResponse {
        HttpResponse {
            status,
            retry_after: None,
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    #[test]
    fn block_and_unblock_in_meta_s_shape() {
        let block = prepare(CREDS, &["+16505551234"], true).unwrap();
        assert_eq!(block.method, Method::Post);
        assert_eq!(block.path_and_query, "/v27.0/106540352242922/block_users");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(block.json_body.as_ref().unwrap()).unwrap(),
            json!({"messaging_product": "whatsapp", "block_users": [{"user": "+16505551234"}]})
        );
        let unblock = prepare(CREDS, &["16505551234"], false).unwrap();
        assert_eq!(unblock.method, Method::Delete);
        assert_eq!(
            unblock.json_body,
            prepare(CREDS, &["16505551234"], true).unwrap().json_body
        );
    }

    #[test]
    fn the_user_limits() {
        let many: Vec<String> = (0..=MAX_USERS).map(|i| format!("+1650555{i:04}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(prepare(CREDS, &many[..MAX_USERS], true).is_ok());
        let refused = |users: &[&str]| match prepare(CREDS, users, true) {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "users");
                reason
            }
            other => panic!("{other:?}"),
        };
        assert!(refused(&many).contains("1001 entries"));
        assert!(refused(&[]).contains("0 entries"));
        assert!(refused(&["US.1349"]).contains("neither"));
    }

    #[test]
    fn a_partial_failure_is_per_user_results_with_hints() {
        let mixed = json!({
            "messaging_product": "whatsapp",
            "block_users": {
                "added_users": [{"input": "+16505551234", "wa_id": "16505551234"}],
                "failed_users": [{"input": "+16505559876", "wa_id": "16505559876", "errors": [
                    {"message": "Re-engagement required", "code": 131047, "error_data": {"details": "User has not messaged in the last 24 hours"}}
                ]}, {"input": "+1555", "errors": [{"message": "Invalid", "code": "100"}]}]
            },
            "error": {"message": "(#139100) Failed to block/unblock users", "type": "OAuthException", "code": 139100, "fbtrace_id": "T"}
        });
        let outcome = parse_outcome(&answer(400, mixed)).unwrap();
        assert_eq!(outcome.done.len(), 1);
        assert_eq!(outcome.done[0].wa_id.as_deref(), Some("16505551234"));
        assert_eq!(outcome.failed.len(), 2);
        let error = &outcome.failed[0].errors[0];
        assert_eq!(error.code, Some(131047));
        assert_eq!(
            error.details.as_deref(),
            Some("User has not messaged in the last 24 hours")
        );
        assert!(error.hint.as_deref().unwrap().contains("24 hours"));
        assert_eq!(outcome.failed[1].wa_id, None);
        assert_eq!(outcome.failed[1].errors[0].code, Some(100));
        // An error without the lists is an error, with its hint.
        let full =
            json!({"error": {"message": "(#139101) Blocklist limit reached", "code": 139101}});
        match parse_outcome(&answer(400, full)) {
            Err(Error::Graph(e)) => assert!(e.hint.unwrap().contains("64,000")),
            other => panic!("{other:?}"),
        }
        // Unblocking answers `removed_users`.
        let removed = json!({"messaging_product": "whatsapp", "block_users": {"removed_users": [{"input": "+16505551234", "wa_id": "16505551234"}]}});
        assert_eq!(parse_outcome(&answer(200, removed)).unwrap().done.len(), 1);
    }

    #[test]
    fn listing_pages_through_the_blocklist() {
        let list = prepare_list(CREDS, Some(50), Some("QVFIUk1")).unwrap();
        assert_eq!(
            list.path_and_query,
            "/v27.0/106540352242922/block_users?limit=50&after=QVFIUk1"
        );
        assert_eq!(
            prepare_list(CREDS, None, None).unwrap().path_and_query,
            "/v27.0/106540352242922/block_users"
        );
        assert!(prepare_list(CREDS, Some(MAX_PAGE), None).is_ok());
        for (limit, after) in [
            (Some(0), None),
            (Some(MAX_PAGE + 1), None),
            (None, Some("a&b=c")),
            (None, Some("")),
        ] {
            assert!(
                matches!(
                    prepare_list(CREDS, limit, after),
                    Err(Error::InvalidInput { .. })
                ),
                "{limit:?} {after:?}"
            );
        }
        let page = json!({"data": [{"messaging_product": "whatsapp", "wa_id": "16505551234"}, {"block_users": [{"input": "+1", "wa_id": "16505559876"}]}], "paging": {"cursors": {"after": "A", "before": "B"}, "next": "https://graph.facebook.com/…"}});
        assert_eq!(
            parse_page(&answer(200, page)).unwrap(),
            Page {
                wa_ids: vec!["16505551234".into(), "16505559876".into()],
                after: Some("A".into())
            }
        );
        let last = json!({"data": [], "paging": {"cursors": {"after": "A", "before": "B"}}});
        assert_eq!(parse_page(&answer(200, last)).unwrap(), Page::default());
    }
}
