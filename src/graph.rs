//! The Graph API: where requests go, and what its answers mean.
//!
//! Requests are described here as plain data ([`GraphRequest`]) so that building and
//! classifying them is testable natively; only `http_client` (wasm32) sends them.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::secret::Secret;

/// The only host the component talks to.
pub const GRAPH_HOST: &str = "graph.facebook.com";
/// The Graph API version every call uses (also in `component.json`).
pub const GRAPH_VERSION: &str = "v27.0";

/// Most bytes of a Graph API answer the component reads; its answers are small.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// HTTP methods the connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    /// With a JSON body: unblocking users, removing group participants.
    Delete,
}

/// A Graph API call, minus the credentials (added by the sender from the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRequest {
    pub method: Method,
    /// Path and query, starting with `/vNN.0/`.
    pub path_and_query: String,
    /// A JSON body, sent with `Content-Type: application/json`.
    pub json_body: Option<Vec<u8>>,
}

impl GraphRequest {
    /// `GET /vNN.0/{path}`.
    pub fn get(path: &str) -> Self {
        Self {
            method: Method::Get,
            path_and_query: format!("/{GRAPH_VERSION}/{path}"),
            json_body: None,
        }
    }

    /// `POST /vNN.0/{path}` with a JSON body.
    pub fn post_json(path: &str, body: &impl serde::Serialize) -> Self {
        Self {
            method: Method::Post,
            path_and_query: format!("/{GRAPH_VERSION}/{path}"),
            // Serialising plain structs of strings cannot fail.
            json_body: Some(serde_json::to_vec(body).unwrap_or_default()),
        }
    }
}

impl GraphRequest {
    /// `DELETE /vNN.0/{path}` with a JSON body.
    pub fn delete_json(path: &str, body: &impl serde::Serialize) -> Self {
        Self {
            method: Method::Delete,
            ..Self::post_json(path, body)
        }
    }
}

/// What came back over HTTP.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

/// An error the Graph API answered with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphError {
    pub status: u16,
    pub message: String,
    pub error_type: Option<String>,
    pub code: Option<i64>,
    pub error_subcode: Option<i64>,
    pub details: Option<String>,
    pub fbtrace_id: Option<String>,
    pub retryable: bool,
    /// What a workflow author can do about it, for the codes they meet (see [`hint`]).
    pub hint: Option<String>,
}

/// Why a Graph API call failed; mirrors the WIT `error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    InvalidInput {
        field: &'static str,
        reason: String,
    },
    Unauthorized(Box<GraphError>),
    RateLimited {
        error: Box<GraphError>,
        retry_after: Option<u32>,
    },
    Graph(Box<GraphError>),
    Transport {
        message: String,
    },
    UnexpectedResponse {
        status: u16,
        reason: String,
        retryable: bool,
    },
}

impl Error {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// Replaces every occurrence of `secret` in the error's text. Defence in depth: no
    /// code path puts a credential in an error, and this keeps it so even if an
    /// answer echoes one back.
    pub fn redact(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let scrub = |s: &mut String| {
            if s.contains(secret) {
                *s = s.replace(secret, "[redacted]");
            }
        };
        let scrub_graph = |e: &mut GraphError| {
            scrub(&mut e.message);
            // `hint` comes from our own table: it never holds a secret.
            for s in [&mut e.details, &mut e.error_type, &mut e.fbtrace_id]
                .into_iter()
                .flatten()
            {
                scrub(s);
            }
        };
        match self {
            Error::InvalidInput { reason, .. } => scrub(reason),
            Error::Unauthorized(e) | Error::Graph(e) | Error::RateLimited { error: e, .. } => {
                scrub_graph(e)
            }
            Error::Transport { message } => scrub(message),
            Error::UnexpectedResponse { reason, .. } => scrub(reason),
        }
    }
}

/// The connection's credentials, borrowed for one call. The token is a [`Secret`]: no
/// `Debug` of this type can show it.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub token: Secret<&'a str>,
    pub phone_number_id: &'a str,
}

impl Credentials<'_> {
    /// Checks both connection properties before any request is built.
    pub fn validate(&self) -> Result<(), Error> {
        let token = *self.token.expose();
        if token.trim().is_empty() {
            return Err(Error::invalid("system-user-access-token", "is empty"));
        }
        // A token travels in a header: whitespace or control characters would corrupt
        // it or inject other headers.
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "system-user-access-token",
                "contains whitespace or control characters",
            ));
        }
        if self.phone_number_id.is_empty() {
            return Err(Error::invalid("phone-number-id", "is empty"));
        }
        if !self.phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("phone-number-id", "must be all digits"));
        }
        Ok(())
    }
}

/// Graph error code: a business-scoped user ID is not a valid recipient for this
/// message (some authentication templates, for example).
pub const BSUID_NOT_SUPPORTED: i64 = 131062;

/// Advice for the Graph error codes a workflow author meets, in one table. Codes and
/// meanings from Meta's "Error codes" page
/// (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
pub fn hint(code: i64) -> Option<&'static str> {
    Some(match code {
        BSUID_NOT_SUPPORTED => {
            "this message type needs a phone number: send it to the user's +number, not to their business-scoped user ID"
        }
        131047 => {
            "more than 24 hours have passed since the customer last wrote: only a template message can reach them now"
        }
        131026 => {
            "the message is undeliverable: the number may not be on WhatsApp, or the user has not accepted the latest terms"
        }
        131051 => "this message type is not supported",
        131052 => "the media could not be downloaded from the user's message",
        131053 => "the media could not be uploaded: check its type and size",
        131056 => {
            "too many messages to the same user in a short time (pair rate limit): wait before sending again"
        }
        131009 | 100 => {
            "a parameter is invalid or missing: check the inputs against Meta's reference"
        }
        132000 => {
            "the number of template parameters does not match the template: give exactly as many as it has placeholders"
        }
        132001 => {
            "the template does not exist in this language: check the name and the language code (e.g. en_US)"
        }
        131049 => {
            "Meta limits how many marketing messages one user receives: wait before sending this user another marketing template, and do not retry it at once"
        }
        130497 => {
            "marketing messages cannot be sent to users in this country: send a utility or authentication template, or none"
        }
        131050 => {
            "the user stopped marketing messages from this business: do not send marketing templates until they opt back in (Meta reports both with the user_preferences webhook)"
        }
        131063 => {
            "marketing messages are turned off for this business on the Cloud API: turn them on in WhatsApp Manager, or send through the Marketing Messages API"
        }
        139100 => {
            "some users could not be blocked or unblocked: see each failed user's errors (Meta blocks only users who wrote in the last 24 hours)"
        }
        139101 => "the blocklist is full (64,000 users): unblock some users before blocking more",
        139102 => "the blocklist was being changed by another request at the same time: retry",
        139103 => "Meta could not update the blocklist: retry later",
        132012 => {
            "a template parameter has the wrong format: check each parameter's type against the template"
        }
        _ => return None,
    })
}

/// Graph error codes that mean "the access token is not valid".
const UNAUTHORIZED_CODES: [i64; 2] = [190, 102];
/// Graph error codes that mean "slow down": app, account, pair and spam rate limits.
const RATE_LIMIT_CODES: [i64; 5] = [4, 80007, 130429, 131048, 131056];

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    #[serde(rename = "type")]
    error_type: Option<String>,
    code: Option<i64>,
    error_subcode: Option<i64>,
    error_data: Option<ErrorData>,
    fbtrace_id: Option<String>,
    is_transient: Option<bool>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

/// Turns an answer into the documented success type `T`, or into the error it means.
pub fn parse_answer<T: DeserializeOwned>(response: &HttpResponse) -> Result<T, Error> {
    if !(200..300).contains(&response.status) {
        return Err(classify_error(response));
    }
    serde_json::from_slice(&response.body).map_err(|e| Error::UnexpectedResponse {
        status: response.status,
        reason: format!("the body is not the documented JSON: {e}"),
        retryable: false,
    })
}

/// Maps a non-2xx answer to `unauthorized`, `rate-limited` or `graph`.
pub fn classify_error(response: &HttpResponse) -> Error {
    let status = response.status;
    let mut error = match serde_json::from_slice::<ErrorEnvelope>(&response.body) {
        Ok(ErrorEnvelope { error: body }) => GraphError {
            status,
            message: body
                .message
                .unwrap_or_else(|| format!("HTTP {status} without an error message")),
            error_type: body.error_type,
            code: body.code,
            error_subcode: body.error_subcode,
            details: body.error_data.and_then(|d| d.details),
            fbtrace_id: body.fbtrace_id,
            retryable: body.is_transient.unwrap_or(false),
            hint: None,
        },
        Err(_) => GraphError {
            status,
            message: format!("HTTP {status} with a body that is not a Graph API error"),
            ..GraphError::default()
        },
    };
    let code = error.code;
    error.hint = code.and_then(hint).map(str::to_owned);
    if code == Some(BSUID_NOT_SUPPORTED) {
        error.message = format!(
            "{}: this message type needs a phone number and cannot be sent to a business-scoped user ID",
            error.message
        );
    }
    let is = |codes: &[i64]| code.is_some_and(|c| codes.contains(&c));
    if status == 401 || is(&UNAUTHORIZED_CODES) {
        Error::Unauthorized(Box::new(error))
    } else if status == 429 || is(&RATE_LIMIT_CODES) {
        error.retryable = true;
        Error::RateLimited {
            error: Box::new(error),
            retry_after: response
                .retry_after
                .as_deref()
                .and_then(|s| s.trim().parse().ok()),
        }
    } else {
        error.retryable |= status >= 500;
        Error::Graph(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn graph_error_fields_are_kept() {
        let body = r#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_subcode":2655007,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list"},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let Error::Graph(e) = classify_error(&answer(400, body)) else {
            panic!("not a graph error")
        };
        assert_eq!(e.status, 400);
        assert_eq!(e.code, Some(131030));
        assert_eq!(e.error_subcode, Some(2655007));
        assert_eq!(e.error_type.as_deref(), Some("OAuthException"));
        assert_eq!(
            e.details.as_deref(),
            Some("Recipient phone number not in allowed list")
        );
        assert_eq!(e.fbtrace_id.as_deref(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
        assert!(!e.retryable);
    }

    #[test]
    fn codes_and_statuses_pick_the_variant() {
        let unauthorized = r#"{"error":{"message":"expired","code":190}}"#;
        assert!(matches!(
            classify_error(&answer(400, unauthorized)),
            Error::Unauthorized(_)
        ));
        assert!(matches!(
            classify_error(&answer(401, "")),
            Error::Unauthorized(_)
        ));
        let mut limited = answer(429, r#"{"error":{"message":"slow down","code":80007}}"#);
        limited.retry_after = Some("30".into());
        match classify_error(&limited) {
            Error::RateLimited { error, retry_after } => {
                assert_eq!(retry_after, Some(30));
                assert!(error.retryable);
            }
            other => panic!("{other:?}"),
        }
        let pair_limit = r#"{"error":{"message":"pair rate limit","code":131056}}"#;
        assert!(matches!(
            classify_error(&answer(400, pair_limit)),
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ));
        match classify_error(&answer(500, "<html>oops</html>")) {
            Error::Graph(e) => assert!(e.retryable && e.message.contains("500")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bsuid_recipient_that_is_not_supported_says_so() {
        let body = r#"{"error":{"message":"(#131062) Business-scoped User ID (BSUID) recipients not supported","type":"OAuthException","code":131062,"fbtrace_id":"T"}}"#;
        let Error::Graph(e) = classify_error(&answer(400, body)) else {
            panic!("not a graph error")
        };
        assert!(e.message.starts_with("(#131062)"), "{}", e.message);
        assert!(e.message.contains("needs a phone number"), "{}", e.message);
        assert!(e.hint.as_deref().unwrap().contains("+number"));
    }

    #[test]
    fn redact_scrubs_every_text_field() {
        let mut e = Error::Graph(Box::new(GraphError {
            message: "bad token SECRET".into(),
            details: Some("SECRET again".into()),
            ..GraphError::default()
        }));
        e.redact("SECRET");
        assert!(!format!("{e:?}").contains("SECRET"));
    }
}
