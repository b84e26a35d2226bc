//! One read: the event read ([`crate::request`]), the route checked whole ([`super::route`]),
//! the table read through a [`ConversationReader`], the answer written as JSON — with cursors
//! bound to their request and presigned links to media copies — and one log line and one EMF
//! document for it.

use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::route::{route, Customer, ListConversations, ListMessages, Route};
use super::settings::InboxSettings;
use crate::error::Misconfigured;
use crate::providers::ProviderId;
use crate::read::cursor::{self, Binding, CursorError};
use crate::request::{PayloadVersion, Request};
use crate::response::HttpResponse;
use crate::storage::keys::{conversation_key, MESSAGE_PREFIX};
use crate::storage::{ConversationReader, StoredMessage};
use crate::telemetry::{metric, Metadata, Metric, MetricsSink};

/// How long a `download_url` works (the contract's 15 minutes).
pub const DOWNLOAD_URL_VALIDITY: Duration = Duration::from_secs(15 * 60);

/// A page of messages with their bodies (`include=raw`) is cut before its JSON passes this,
/// under Lambda's 6 MB answer; the cursor goes on from the last message kept.
const RAW_PAGE_BUDGET: usize = 5 * 1024 * 1024;

/// The function's name in logs and metrics.
const FUNCTION: &str = "inbox";

/// The read API's handler over `R`.
pub struct InboxHandler<R> {
    settings: Result<InboxSettings, Misconfigured>,
    reader: R,
    s3: aws_sdk_s3::Client,
    metrics: MetricsSink,
}

/// What a request came to: its answer and what its log line and metrics say of it.
struct Answered {
    status: u16,
    body: String,
    /// The route's template (`/conversations/{provider}/{conversation_id}`), `unknown` when
    /// none matched.
    route: &'static str,
    detail: Option<String>,
}

impl<R: ConversationReader> InboxHandler<R> {
    pub fn new(
        settings: Result<InboxSettings, Misconfigured>,
        reader: R,
        s3: aws_sdk_s3::Client,
    ) -> Self {
        InboxHandler {
            settings,
            reader,
            s3,
            metrics: MetricsSink::stdout(),
        }
    }

    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// The answer to one event. Never an error: anything that goes wrong is an HTTP answer.
    pub async fn handle_event(&self, event: &[u8]) -> HttpResponse {
        let started = Instant::now();
        let (answered, version, request) = match Request::from_event(event) {
            Ok(request) => (
                self.answer(&request).await,
                request.payload_version,
                Some(request),
            ),
            Err(rejected) => {
                let error = ApiError::bad("event", rejected.to_string());
                (failure("unknown", error), PayloadVersion::V2, None)
            }
        };
        let head = request
            .as_ref()
            .and_then(|r| r.method.as_deref())
            .is_some_and(|m| m == "HEAD");
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            function = FUNCTION,
            method = request.as_ref().and_then(|r| r.method.as_deref()),
            path = request.as_ref().and_then(|r| r.path.as_deref()),
            route = answered.route,
            status = answered.status,
            request_id = request.as_ref().and_then(|r| r.request_id.as_deref()),
            detail = answered.detail.as_deref(),
            duration_ms = (latency_ms * 1000.0).round() / 1000.0,
            "request handled"
        );
        self.metrics.write(&emf_request(
            answered.route,
            answered.status,
            latency_ms,
            chrono::Utc::now().timestamp_millis(),
        ));
        // HEAD is GET without the body.
        let body = if head { String::new() } else { answered.body };
        HttpResponse::json(answered.status, body, version)
    }

    async fn answer(&self, request: &Request) -> Answered {
        let Ok(settings) = &self.settings else {
            return failure("unknown", ApiError::Misconfigured);
        };
        let method = request.method.as_deref().unwrap_or("");
        let path = request.path.as_deref().unwrap_or("");
        let route = match route(method, path, request.query(), |p| {
            ProviderId::named(p).is_some()
        }) {
            Ok(route) => route,
            Err(error) => return failure("unknown", error),
        };
        let template = template(&route);
        let result = match route {
            Route::Conversations(list) => self.conversations(list).await,
            Route::Conversation(conversation) => {
                let pk = pk_of(&conversation.provider, &conversation.conversation_id);
                match self.reader.summary_of(&pk).await {
                    Ok(Some(summary)) => Ok(json!(summary)),
                    Ok(None) => Err(ApiError::NotFound("no such conversation".into())),
                    Err(e) => Err(ApiError::Unavailable(e.to_string())),
                }
            }
            Route::Messages(list) => self.messages(settings, list).await,
            Route::Customers(customer) => self.customers(&customer).await,
        };
        match result {
            Ok(body) => Answered {
                status: 200,
                body: body.to_string(),
                route: template,
                detail: None,
            },
            Err(error) => failure(template, error),
        }
    }

    async fn conversations(&self, list: ListConversations) -> Result<Value, ApiError> {
        let filters = &list.filters;
        let binding = Binding::new(
            template(&Route::Conversations(list.clone())),
            [
                ("provider", filters.provider.as_deref()),
                ("account_id", filters.account_id.as_deref()),
                ("channel", filters.channel.as_deref()),
                (
                    "awaiting_reply",
                    filters
                        .awaiting_reply
                        .map(|a| if a { "true" } else { "false" }),
                ),
            ],
        );
        // An activity key: `<time>#<provider>#<conversation id>`.
        let before = position(&binding, list.cursor.as_deref(), |p| {
            p.splitn(3, '#').count() == 3
        })?;
        let page = self
            .reader
            .list_conversations(filters, list.limit, before.as_deref())
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(json!({
            "conversations": page.summaries,
            "next_cursor": page.next_before.map(|b| cursor::encode(&binding, &b)),
        }))
    }

    async fn messages(
        &self,
        settings: &InboxSettings,
        list: ListMessages,
    ) -> Result<Value, ApiError> {
        let conversation = &list.conversation;
        let binding = Binding::new(
            template(&Route::Messages(list.clone())),
            [
                ("provider", Some(conversation.provider.as_str())),
                (
                    "conversation_id",
                    Some(conversation.conversation_id.as_str()),
                ),
                ("order", Some(list.order.as_str())),
            ],
        );
        let after = position(&binding, list.cursor.as_deref(), |p| {
            p.starts_with(MESSAGE_PREFIX)
        })?;
        let pk = pk_of(&conversation.provider, &conversation.conversation_id);
        let page = self
            .reader
            .list_messages(
                &pk,
                list.order,
                list.limit,
                after.as_deref(),
                list.include_raw,
            )
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        if after.is_none() && page.messages.is_empty() {
            return Err(ApiError::NotFound("no such conversation".into()));
        }
        let mut next_after = page.next_after;
        let mut messages = Vec::with_capacity(page.messages.len());
        let mut size = 0;
        let mut last_kept: Option<String> = None;
        for StoredMessage { sk, mut message } in page.messages {
            self.add_download_urls(&settings.media_bucket, &mut message)
                .await;
            let message = Value::Object(message);
            if list.include_raw {
                size += message.to_string().len();
                if size > RAW_PAGE_BUDGET && last_kept.is_some() {
                    // Cut for size: the next page starts after the last message kept.
                    next_after = last_kept;
                    break;
                }
            }
            last_kept = Some(sk);
            messages.push(message);
        }
        Ok(json!({
            "messages": messages,
            "next_cursor": next_after.map(|sk| cursor::encode(&binding, &sk)),
        }))
    }

    async fn customers(&self, customer: &Customer) -> Result<Value, ApiError> {
        let summaries = self
            .reader
            .customers(customer)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(json!({ "conversations": summaries }))
    }

    /// A presigned GET of each attachment's copy in the media bucket, as its `download_url`.
    async fn add_download_urls(&self, bucket: &str, message: &mut Map<String, Value>) {
        let Some(Value::Array(attachments)) = message.get_mut("attachments") else {
            return;
        };
        for attachment in attachments.iter_mut().filter_map(Value::as_object_mut) {
            let copy = attachment.get("stored").and_then(|stored| {
                Some((
                    stored.get("bucket")?.as_str()?,
                    stored.get("key")?.as_str()?,
                ))
            });
            let Some((stored_bucket, key)) = copy else {
                continue;
            };
            // Only the function's own bucket: the role may read nothing else.
            if stored_bucket != bucket {
                continue;
            }
            match self.presign(bucket, key).await {
                Ok(url) => {
                    attachment.insert("download_url".into(), Value::String(url));
                }
                Err(why) => tracing::warn!(key, error = %why, "could not presign a media copy"),
            }
        }
    }

    async fn presign(&self, bucket: &str, key: &str) -> Result<String, String> {
        let config =
            PresigningConfig::expires_in(DOWNLOAD_URL_VALIDITY).map_err(|e| e.to_string())?;
        let presigned = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
        Ok(presigned.uri().to_string())
    }
}

fn pk_of(provider: &str, conversation_id: &str) -> String {
    let provider = ProviderId::named(provider).expect("the route checked the provider");
    conversation_key(provider, conversation_id)
}

/// The position a cursor names, if it is one of `binding` and `valid` takes it.
fn position(
    binding: &Binding,
    cursor: Option<&str>,
    valid: impl Fn(&str) -> bool,
) -> Result<Option<String>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let position = cursor::decode(binding, cursor).map_err(cursor_error)?;
    if !valid(&position) {
        return Err(cursor_error(CursorError::Malformed));
    }
    Ok(Some(position))
}

fn cursor_error(error: CursorError) -> ApiError {
    ApiError::bad("cursor", error.to_string())
}

/// A route's template, as bindings, logs and metrics name it.
fn template(route: &Route) -> &'static str {
    match route {
        Route::Conversations(_) => "/conversations",
        Route::Conversation(_) => "/conversations/{provider}/{conversation_id}",
        Route::Messages(_) => "/conversations/{provider}/{conversation_id}/messages",
        Route::Customers(_) => "/customers",
    }
}

fn failure(route: &'static str, error: ApiError) -> Answered {
    let detail = match &error {
        // The cause stays in the log; the caller is told to retry.
        ApiError::Unavailable(why) => Some(why.clone()),
        other => Some(other.to_string()),
    };
    Answered {
        status: error.status_code(),
        body: error.body().to_string(),
        route,
        detail,
    }
}

/// One read's metrics: `Requests` (count) and `Latency` (ms), per function and per function,
/// route and status.
fn emf_request(route: &str, status: u16, latency_ms: f64, timestamp_ms: i64) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Read<'a> {
        #[serde(rename = "_aws")]
        aws: Metadata,
        function: &'a str,
        route: &'a str,
        status: String,
        requests: u8,
        latency: f64,
    }
    const METRICS: &[Metric] = &[
        metric("Requests", "Count"),
        metric("Latency", "Milliseconds"),
    ];
    const DIMENSIONS: &[&[&str]] = &[&["Function"], &["Function", "Route", "Status"]];
    serde_json::to_string(&Read {
        aws: Metadata::new(timestamp_ms, DIMENSIONS, METRICS),
        function: FUNCTION,
        route,
        status: status.to_string(),
        requests: 1,
        latency: (latency_ms * 1000.0).round() / 1000.0,
    })
    .expect("an EMF document serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emf_document_counts_by_route_and_status() {
        let doc: Value = serde_json::from_str(&emf_request("/customers", 404, 1.23456, 5)).unwrap();
        assert_eq!(doc["Function"], "inbox");
        assert_eq!(doc["Route"], "/customers");
        assert_eq!(doc["Status"], "404");
        assert_eq!(doc["Requests"], 1);
        assert_eq!(doc["Latency"], 1.235);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"][1],
            json!(["Function", "Route", "Status"])
        );
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(doc.get(metric["Name"].as_str().unwrap()).is_some());
        }
    }
}
