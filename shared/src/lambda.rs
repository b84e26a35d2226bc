//! The Lambda runtime glue: a function's whole `main`, and the loop that hands each raw event
//! to the [`Handler`] and its answer back.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

use crate::config::{process_env, Settings};
use crate::handler::Handler;
use crate::providers::Provider;
use crate::response::Answer;
use crate::spool::{max_receives, sqs_client_on, SqsSpool};
use crate::storage::{dynamodb_client_on, https_client, DynamoDbStore, MessageStore};

/// The functions' allocator. A warm invocation makes about 550 allocations (the SDK's request,
/// its signing, hyper's buffers, the item); glibc's malloc and free spent about 240 instructions
/// on each, a sixth of the invocation, where mimalloc's thread-local free lists take a fraction.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A provider's function, from start to finish: logging, settings, the DynamoDB client and —
/// when `SPOOL_QUEUE_URL` is set — the SQS client are made once, during init (neither sends
/// anything then), then invocations are served until the runtime stops.
pub async fn run<P: Provider>() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let settings = Settings::<P>::from_env();
    let table = settings
        .as_ref()
        .map(|s| s.table_name.clone())
        .unwrap_or_default();
    // One HTTP client (connection pools, TLS set-up) for both AWS clients.
    let http = https_client();
    let store = DynamoDbStore::for_function(dynamodb_client_on(http.clone()), table).await;
    let receives = process_env("SPOOL_MAX_RECEIVES").filter(|r| !r.trim().is_empty());
    let max_receives = max_receives(receives.as_deref());
    if receives.is_some_and(|r| r.trim().parse::<u32>().ok() != Some(max_receives)) {
        tracing::warn!(
            max_receives,
            "SPOOL_MAX_RECEIVES is not a positive number; using the default"
        );
    }
    let mut handler = Handler::new(settings, store).with_max_receives(max_receives);
    if let Some(queue_url) = process_env("SPOOL_QUEUE_URL").filter(|u| !u.trim().is_empty()) {
        let spool = SqsSpool::new(sqs_client_on(http), queue_url.trim());
        handler = handler.with_spool(Arc::new(spool));
    }
    serve(handler).await
}

/// Serves invocations until the runtime stops. The handler reads the event itself (see
/// [`crate::request`]), so any JSON the runtime delivers gets an answer — HTTP, or a batch
/// response for the spool queue's events — never an error.
pub async fn serve<P: Provider, S: MessageStore + 'static>(
    handler: Handler<P, S>,
) -> Result<(), lambda_runtime::Error> {
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = Arc::clone(&handler);
        async move {
            Ok::<Answer, Infallible>(invocation(&handler, event.payload.get().as_bytes()).await)
        }
    }))
    .await
}

/// The handler's answer to one event, as a boxed future from a call that is never inlined.
/// Otherwise a function's `main` nests the whole invocation — the SDK's request futures
/// included — into one type, and in release builds (MIR inlining) laying that type out
/// outgrows rustc's query depth limit. One allocation an invocation.
#[inline(never)]
fn invocation<'a, P: Provider, S: MessageStore + 'static>(
    handler: &'a Handler<P, S>,
    event: &'a [u8],
) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
    Box::pin(handler.handle_invocation(event))
}
