//! A running server's HTTP API as the tests meet it: the answers they expect of it
//! (docs/http-api.md "Error codes") and, for tests that run `tessera serve` as a process, a small blocking client.
//!
//! An [`Answer`] is a status and a JSON body, whatever client got it: the assertions here
//! ([`assert_refused`], [`assert_session_revoked`]) serve the in-process server tests
//! (reqwest, async) and the process-level ones ([`Api`], ureq, blocking) alike, and so does
//! [`Tokens`], a login's or a refresh's TokenResponse with body delivery.

use std::time::Duration;

use serde_json::{json, Value};

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery staple";

/// A status and the JSON body (`null` when the body is not JSON).
pub type Answer = (u16, Value);

/// The tokens of a TokenResponse with body delivery (docs/http-api.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub sid: String,
}

/// The [`Tokens`] of a TokenResponse body; panics, showing the body, when one is missing.
#[track_caller]
pub fn tokens(body: &Value) -> Tokens {
    let text = |name: &str| {
        body[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .to_owned()
    };
    Tokens {
        access: text("access_token"),
        refresh: text("refresh_token"),
        sid: text("session_id"),
    }
}

/// Whether docs/http-api.md "Error codes" sends the client back to login with this error code
/// (`"login_required": true`).
pub fn sends_to_login(code: &str) -> bool {
    matches!(
        code,
        "refresh_token_expired"
            | "refresh_token_revoked"
            | "refresh_token_reused"
            | "invalid_refresh_token"
    )
}

/// Asserts an error answer of docs/http-api.md "Error codes": `status`, `error` = `code`, a non-empty
/// `error_description`, and `"login_required": true` exactly when the code sends the client
/// back to login. `context` (may be empty) leads the failure message.
#[track_caller]
pub fn assert_refused(answer: &Answer, status: u16, code: &str, context: &str) {
    let (got, body) = answer;
    let at = if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    };
    assert_eq!(*got, status, "{at}expected {status} {code}: {body}");
    assert_eq!(body["error"], code, "{at}{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{at}{body}"
    );
    assert_eq!(
        body.get("login_required") == Some(&json!(true)),
        sends_to_login(code),
        "{at}login_required: {body}"
    );
}

/// Asserts what a revoked session gets (docs/http-api.md "Error codes"): its refresh token refused with 401
/// `refresh_token_revoked` and `login_required`, its access tokens with 401
/// `invalid_token`. Either answer may be left out (`None`): a replica that learns of a
/// revocation late refuses the access token later than the refresh token.
#[track_caller]
pub fn assert_session_revoked(refresh: Option<&Answer>, access: Option<&Answer>, context: &str) {
    if let Some(answer) = refresh {
        assert_refused(answer, 401, "refresh_token_revoked", context);
    }
    if let Some(answer) = access {
        assert_refused(answer, 401, "invalid_token", context);
    }
}

/// A blocking client for a server on loopback: every status is an answer, not an error;
/// each request bounded in time; never through a proxy. Clones share connections.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    /// A client of the server at `base` (`http://127.0.0.1:PORT`); requests time out after
    /// 10 s.
    pub fn new(base: &str) -> Api {
        Api::with_timeout(base, Duration::from_secs(10))
    }

    /// As [`new`](Api::new), with requests bounded by `timeout`.
    pub fn with_timeout(base: &str, timeout: Duration) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .proxy(None)
            .build()
            .new_agent();
        Api {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The underlying client, for requests the methods here do not make (headers of one's
    /// own, headers of the answer); [`answer`] reads what it gets.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// `GET path`, with a Bearer token if given; `Err` when no HTTP answer came.
    pub fn try_get(&self, path: &str, bearer: Option<&str>) -> Result<Answer, ureq::Error> {
        read(with_bearer(self.agent.get(self.url(path)), bearer).call())
    }

    /// `GET path`, with a Bearer token if given.
    #[track_caller]
    pub fn get(&self, path: &str, bearer: Option<&str>) -> Answer {
        self.try_get(path, bearer)
            .unwrap_or_else(|e| panic!("GET {}: {e}", self.url(path)))
    }

    /// `POST path` with a JSON body; `Err` when no HTTP answer came.
    pub fn try_post_json(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<Answer, ureq::Error> {
        read(
            with_bearer(self.agent.post(self.url(path)), bearer)
                .content_type("application/json")
                .send(body.to_string()),
        )
    }

    /// `POST path` with a JSON body, with a Bearer token if given.
    #[track_caller]
    pub fn post_json(&self, path: &str, bearer: Option<&str>, body: &Value) -> Answer {
        self.try_post_json(path, bearer, body)
            .unwrap_or_else(|e| panic!("POST {}: {e}", self.url(path)))
    }

    /// `POST path` with a form body (`a=b&c=d`), with a Bearer token if given.
    #[track_caller]
    pub fn post_form(&self, path: &str, bearer: Option<&str>, form: &str) -> Answer {
        read(
            with_bearer(self.agent.post(self.url(path)), bearer)
                .content_type("application/x-www-form-urlencoded")
                .send(form),
        )
        .unwrap_or_else(|e| panic!("POST {}: {e}", self.url(path)))
    }

    /// `DELETE path` with a Bearer token.
    #[track_caller]
    pub fn delete(&self, path: &str, bearer: &str) -> Answer {
        read(with_bearer(self.agent.delete(self.url(path)), Some(bearer)).call())
            .unwrap_or_else(|e| panic!("DELETE {}: {e}", self.url(path)))
    }

    /// Signs up `username` with [`PASSWORD`]; its id.
    #[track_caller]
    pub fn signup(&self, username: &str) -> String {
        let (status, body) = self.post_json(
            "/v1/users",
            None,
            &json!({"username": username, "password": PASSWORD}),
        );
        assert_eq!(status, 201, "signup of {username} at {}: {body}", self.base);
        body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {body}"))
            .to_owned()
    }

    /// Logs `username` in with [`PASSWORD`], the refresh token in the body.
    #[track_caller]
    pub fn login(&self, username: &str) -> Tokens {
        let (status, body) = self.post_json(
            "/v1/login",
            None,
            &json!({"username": username, "password": PASSWORD, "delivery": "body"}),
        );
        assert_eq!(status, 200, "login of {username} at {}: {body}", self.base);
        tokens(&body)
    }

    /// `POST /v1/token/refresh` with the token in the body; `Err` when no HTTP answer came
    /// (or it broke off before its end).
    pub fn try_refresh(&self, refresh: &str) -> Result<Answer, ureq::Error> {
        self.try_post_json(
            "/v1/token/refresh",
            None,
            &json!({ "refresh_token": refresh }),
        )
    }

    /// `POST /v1/token/refresh` with the token in the body.
    #[track_caller]
    pub fn refresh(&self, refresh: &str) -> Answer {
        self.post_json(
            "/v1/token/refresh",
            None,
            &json!({ "refresh_token": refresh }),
        )
    }

    /// `GET /v1/me` with `access` as the Bearer token.
    #[track_caller]
    pub fn me(&self, access: &str) -> Answer {
        self.get("/v1/me", Some(access))
    }
}

/// `request` with `Authorization: Bearer` when there is a token.
fn with_bearer<B>(
    request: ureq::RequestBuilder<B>,
    bearer: Option<&str>,
) -> ureq::RequestBuilder<B> {
    match bearer {
        Some(token) => request.header("authorization", format!("Bearer {token}")),
        None => request,
    }
}

/// The status and JSON body of a response, read to its end.
pub fn answer(response: ureq::http::Response<ureq::Body>) -> Answer {
    read(Ok(response)).unwrap_or_else(|e| panic!("reading an answer: {e}"))
}

fn read(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, ureq::Error> {
    let mut response = sent?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string()?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{assert_refused, assert_session_revoked, tokens};

    #[test]
    fn a_revoked_session_is_recognised() {
        let refresh = (
            401,
            json!({"error": "refresh_token_revoked", "error_description": "revoked",
                   "login_required": true}),
        );
        let access = (
            401,
            json!({"error": "invalid_token", "error_description": "revoked"}),
        );
        assert_session_revoked(Some(&refresh), Some(&access), "");
    }

    #[test]
    #[should_panic(expected = "login_required")]
    fn a_refusal_without_login_required_is_not_a_revoked_session() {
        let refresh = (
            401,
            json!({"error": "refresh_token_revoked", "error_description": "revoked"}),
        );
        assert_session_revoked(Some(&refresh), None, "");
    }

    #[test]
    #[should_panic(expected = "expected 401 invalid_token")]
    fn an_accepted_access_token_is_not_refused() {
        assert_refused(
            &(200, json!({"sub": "u"})),
            401,
            "invalid_token",
            "replica B",
        );
    }

    #[test]
    #[should_panic(expected = "no refresh_token")]
    fn tokens_need_body_delivery() {
        tokens(&json!({"access_token": "a", "session_id": "s"}));
    }
}
