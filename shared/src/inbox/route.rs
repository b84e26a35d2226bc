//! Which read a request asks for: the route, its path parameters and its query, checked whole
//! before anything is read (docs/CONTRACT.md, "The read API (3)"). Every way a request can be
//! wrong is an [`ApiError`] naming the parameter to blame.

use crate::read::customer::{email_key, phone_key};
pub use crate::read::query::{Customer, Filters, Order};

use super::error::ApiError;

pub const DEFAULT_CONVERSATIONS_LIMIT: u32 = 25;
pub const DEFAULT_MESSAGES_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

/// A read, as the request asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /conversations`
    Conversations(ListConversations),
    /// `GET /conversations/{provider}/{conversation_id}`
    Conversation(ConversationRef),
    /// `GET /conversations/{provider}/{conversation_id}/messages`
    Messages(ListMessages),
    /// `GET /customers?phone=…` or `?email=…`
    Customers(Customer),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRef {
    /// A registered provider value.
    pub provider: String,
    pub conversation_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListConversations {
    pub filters: Filters,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListMessages {
    pub conversation: ConversationRef,
    pub order: Order,
    pub include_raw: bool,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// The read `method`, `path` and `query` ask for. `provider_known` says whether a provider
/// value is registered. HEAD is answered as GET (without the body, by the caller).
pub fn route(
    method: &str,
    path: &str,
    query: &[(String, String)],
    provider_known: impl Fn(&str) -> bool,
) -> Result<Route, ApiError> {
    let segments = segments(path)?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let route = match segments.as_slice() {
        ["conversations"] => Shape::Conversations,
        ["conversations", provider, conversation] => Shape::Conversation(provider, conversation),
        ["conversations", provider, conversation, "messages"] => {
            Shape::Messages(provider, conversation)
        }
        ["customers"] => Shape::Customers,
        _ => return Err(ApiError::NotFound("no such route".into())),
    };
    if !matches!(method, "GET" | "HEAD") {
        return Err(ApiError::MethodNotAllowed);
    }
    let query = Query::new(query)?;
    let conversation = |provider: &str, conversation_id: &str| {
        if !provider_known(provider) {
            return Err(ApiError::bad("provider", "not a provider value"));
        }
        if conversation_id.is_empty() {
            return Err(ApiError::bad("conversation_id", "empty"));
        }
        Ok(ConversationRef {
            provider: provider.to_string(),
            conversation_id: conversation_id.to_string(),
        })
    };
    match route {
        Shape::Conversations => {
            query.only(&[
                "provider",
                "account_id",
                "channel",
                "awaiting_reply",
                "limit",
                "cursor",
            ])?;
            let provider = query.text("provider")?;
            if let Some(provider) = &provider {
                if !provider_known(provider) {
                    return Err(ApiError::bad("provider", "not a provider value"));
                }
            }
            let awaiting_reply = match query.text("awaiting_reply")?.as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(_) => return Err(ApiError::bad("awaiting_reply", "expected true or false")),
            };
            Ok(Route::Conversations(ListConversations {
                filters: Filters {
                    provider,
                    account_id: query.text("account_id")?,
                    channel: query.text("channel")?,
                    awaiting_reply,
                },
                limit: query.limit(DEFAULT_CONVERSATIONS_LIMIT)?,
                cursor: query.text("cursor")?,
            }))
        }
        Shape::Conversation(provider, id) => {
            query.only(&[])?;
            Ok(Route::Conversation(conversation(provider, id)?))
        }
        Shape::Messages(provider, id) => {
            query.only(&["order", "include", "limit", "cursor"])?;
            let order = match query.text("order")?.as_deref() {
                None | Some("desc") => Order::Desc,
                Some("asc") => Order::Asc,
                Some(_) => return Err(ApiError::bad("order", "expected asc or desc")),
            };
            let include_raw = match query.text("include")?.as_deref() {
                None => false,
                Some("raw") => true,
                Some(_) => return Err(ApiError::bad("include", "expected raw")),
            };
            Ok(Route::Messages(ListMessages {
                conversation: conversation(provider, id)?,
                order,
                include_raw,
                limit: query.limit(DEFAULT_MESSAGES_LIMIT)?,
                cursor: query.text("cursor")?,
            }))
        }
        Shape::Customers => {
            query.only(&["phone", "email"])?;
            match (query.text("phone")?, query.text("email")?) {
                (Some(phone), None) => phone_key(&phone)
                    .map(|digits| Route::Customers(Customer::Phone(digits)))
                    .ok_or_else(|| ApiError::bad("phone", "has no digits")),
                (None, Some(email)) => email_key(&email)
                    .map(|key| Route::Customers(Customer::Email(key)))
                    .ok_or_else(|| ApiError::bad("email", "not an address")),
                (Some(_), Some(_)) => Err(ApiError::bad("phone", "give phone or email, not both")),
                (None, None) => Err(ApiError::bad("phone", "give phone or email")),
            }
        }
    }
}

enum Shape<'a> {
    Conversations,
    Conversation(&'a str, &'a str),
    Messages(&'a str, &'a str),
    Customers,
}

/// The path's segments, each percent-decoded (after splitting, so that an encoded `/` stays in
/// its conversation id). A trailing `/` is ignored.
fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/').map(percent_decode).collect()
}

fn percent_decode(segment: &str) -> Result<String, ApiError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ApiError::NotFound("malformed percent-encoding in the path".into())
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::NotFound("the path is not UTF-8 once decoded".into()))
}

/// Query parameters, each given at most once.
struct Query<'q>(&'q [(String, String)]);

impl<'q> Query<'q> {
    fn new(query: &'q [(String, String)]) -> Result<Self, ApiError> {
        for (i, (name, value)) in query.iter().enumerate() {
            if query[..i].iter().any(|(n, v)| n == name && v != value) {
                return Err(ApiError::bad(name, "given more than once"));
            }
        }
        Ok(Query(query))
    }

    fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self
            .0
            .iter()
            .find(|(name, _)| !allowed.contains(&name.as_str()))
        {
            Some((name, _)) => Err(ApiError::bad(name, "not a parameter of this route")),
            None => Ok(()),
        }
    }

    /// A parameter's value; an empty one is an error rather than "not given".
    fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.iter().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, value)) if value.is_empty() => Err(ApiError::bad(name, "empty")),
            Some((_, value)) => Ok(Some(value.clone())),
        }
    }

    fn limit(&self, default: u32) -> Result<u32, ApiError> {
        match self.text("limit")? {
            None => Ok(default),
            Some(text) => match text.parse::<u32>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) && !text.starts_with('+') => {
                    Ok(limit)
                }
                _ => Err(ApiError::bad(
                    "limit",
                    "expected a whole number from 1 to 100",
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(provider: &str) -> bool {
        ["tiktok_shop", "partoo", "callbell"].contains(&provider)
    }

    fn get(path: &str, query: &[(&str, &str)]) -> Result<Route, ApiError> {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        route("GET", path, &query, known)
    }

    fn field(result: Result<Route, ApiError>) -> String {
        match result {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn routes_and_their_defaults() {
        assert_eq!(
            get("/conversations", &[]).unwrap(),
            Route::Conversations(ListConversations {
                filters: Filters::default(),
                limit: 25,
                cursor: None
            })
        );
        let Route::Messages(messages) = get("/conversations/partoo/42/messages", &[]).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (messages.order, messages.include_raw, messages.limit),
            (Order::Desc, false, 50)
        );
        assert_eq!(messages.conversation.conversation_id, "42");
        let Route::Messages(messages) = get(
            "/conversations/callbell/a%2Fb%20c/messages/",
            &[
                ("order", "asc"),
                ("include", "raw"),
                ("limit", "7"),
                ("cursor", "x.y"),
            ],
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(messages.conversation.conversation_id, "a/b c");
        assert_eq!(
            (messages.order, messages.include_raw, messages.limit),
            (Order::Asc, true, 7)
        );
        assert_eq!(messages.cursor.as_deref(), Some("x.y"));
        assert_eq!(
            get("/conversations/tiktok_shop/7", &[]).unwrap(),
            Route::Conversation(ConversationRef {
                provider: "tiktok_shop".into(),
                conversation_id: "7".into()
            })
        );
    }

    #[test]
    fn filters_combine() {
        let Route::Conversations(list) = get(
            "/conversations",
            &[
                ("provider", "partoo"),
                ("account_id", "9"),
                ("channel", "whatsapp"),
                ("awaiting_reply", "true"),
            ],
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            list.filters,
            Filters {
                provider: Some("partoo".into()),
                account_id: Some("9".into()),
                channel: Some("whatsapp".into()),
                awaiting_reply: Some(true),
            }
        );
    }

    #[test]
    fn customers_by_exactly_one_key() {
        assert_eq!(
            get("/customers", &[("phone", "+33 6 12 34 56 78")]).unwrap(),
            Route::Customers(Customer::Phone("33612345678".into()))
        );
        assert_eq!(
            get("/customers", &[("email", "Jane@Example.com")]).unwrap(),
            Route::Customers(Customer::Email("jane@example.com".into()))
        );
        assert_eq!(field(get("/customers", &[])), "phone");
        assert_eq!(
            field(get("/customers", &[("phone", "1"), ("email", "a@b")])),
            "phone"
        );
        assert_eq!(field(get("/customers", &[("email", "nobody")])), "email");
    }

    #[test]
    fn bad_parameters_name_themselves() {
        for limit in ["0", "101", "-1", "abc", "+5", "1.5", ""] {
            assert_eq!(
                field(get("/conversations", &[("limit", limit)])),
                "limit",
                "{limit}"
            );
        }
        assert_eq!(
            field(get("/conversations/partoo/1/messages", &[("order", "up")])),
            "order"
        );
        assert_eq!(
            field(get("/conversations", &[("provider", "whatsapp")])),
            "provider"
        );
        assert_eq!(field(get("/conversations/acme/1", &[])), "provider");
        assert_eq!(
            field(get("/conversations", &[("awaiting_reply", "yes")])),
            "awaiting_reply"
        );
        assert_eq!(field(get("/conversations", &[("colour", "red")])), "colour");
        assert_eq!(
            field(get("/conversations", &[("limit", "5"), ("limit", "6")])),
            "limit"
        );
        assert_eq!(
            field(get(
                "/conversations/partoo/1/messages",
                &[("include", "all")]
            )),
            "include"
        );
    }

    #[test]
    fn unknown_routes_and_other_methods() {
        for path in [
            "/",
            "/conversation",
            "/conversations/partoo",
            "/conversations/partoo/1/x",
            "/customers/1",
        ] {
            assert!(
                matches!(get(path, &[]), Err(ApiError::NotFound(_))),
                "{path}"
            );
        }
        assert!(matches!(
            route("POST", "/conversations", &[], known),
            Err(ApiError::MethodNotAllowed)
        ));
        assert!(matches!(
            route("DELETE", "/conversations/partoo/1", &[], known),
            Err(ApiError::MethodNotAllowed)
        ));
        assert!(route("HEAD", "/conversations", &[], known).is_ok());
        assert!(matches!(
            get("/conversations/partoo/%zz", &[]),
            Err(ApiError::NotFound(_))
        ));
    }
}
