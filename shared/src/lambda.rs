//! The Lambda runtime glue: a function's whole `main`, and the loop that hands each raw event
//! to the [`WebhookHandler`] and its answer back.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

use crate::config::{Env, FunctionConfig};
use crate::handler::WebhookHandler;
use crate::providers::{Provider, Settings};
use crate::response::Answer;
use crate::spool::SqsSpool;
use crate::storage::{DynamoDbStore, MessageStore};

/// The functions' allocator. A warm invocation makes about 550 allocations (the SDK's request,
/// its signing, hyper's buffers, the item); glibc's malloc and free spent about 240 instructions
/// on each, a sixth of the invocation, where mimalloc's thread-local free lists take a fraction.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The C `pow`, for the functions' one call into libm: the SDK's retry back-off (`f64::powf`
/// in `StandardRetryStrategy`). Defined here, that call resolves inside the binary and, as
/// rustc links with `--as-needed`, libm.so is left out of the process: loaded, its
/// indirect-function resolvers and that one function kept ~0.3 MiB of its code resident in
/// every function (issue 19's peak RSS). `libm` is rust-lang's pure-Rust port of musl's; a
/// back-off's `2^attempt` needs nothing more of it. scripts/test.sh checks that no built
/// function needs libm.so.
#[cfg(feature = "own-pow")]
#[no_mangle]
pub extern "C" fn pow(base: f64, exponent: f64) -> f64 {
    libm::pow(base, exponent)
}

/// A provider's function, from start to finish: its configuration is read once (the shared
/// part and the provider's verifier), then logging, the DynamoDB client and — when
/// `SPOOL_QUEUE_URL` is set — the SQS client are made, during init (neither sends anything then
/// but the warm-up), then invocations are served until the runtime stops.
pub async fn run<P: Provider>() -> Result<(), lambda_runtime::Error> {
    let env = Env::process();
    let config = FunctionConfig::read(&env);
    crate::telemetry::init(&config.logs);
    let settings = Settings::<P>::read(&config, &env);
    let table = config.table_name.clone().unwrap_or_default();
    // One HTTP client (connection pools, TLS set-up) for both AWS clients.
    let http = config.aws.https_client();
    let client = config.aws.dynamodb_client(http.clone());
    let retention = settings.as_ref().ok().and_then(|s| s.retention);
    let store = DynamoDbStore::for_function(client, table, config.warm_up)
        .await
        .with_retention(retention);
    let spool = &config.spool;
    if spool.max_receives_unreadable {
        tracing::warn!(
            max_receives = spool.max_receives,
            "SPOOL_MAX_RECEIVES is not a positive number; using the default"
        );
    }
    let mut handler = WebhookHandler::new(settings, store).with_max_receives(spool.max_receives);
    if let Some(queue_url) = &spool.queue_url {
        let queue = SqsSpool::new(config.aws.sqs_client(http), queue_url);
        handler = handler.with_spool(Arc::new(queue));
    }
    serve(handler).await
}

/// Serves invocations until the runtime stops. The handler reads the event itself (see
/// [`crate::request`]), so any JSON the runtime delivers gets an answer — HTTP, or a batch
/// response for the spool queue's events — never an error.
pub(crate) async fn serve<P: Provider, S: MessageStore + 'static>(
    handler: WebhookHandler<P, S>,
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
    handler: &'a WebhookHandler<P, S>,
    event: &'a [u8],
) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
    Box::pin(handler.handle_invocation(event))
}
