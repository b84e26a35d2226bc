//! The Lambda runtime glue: a function's whole `main`, and the loop that hands each raw event
//! to the [`Handler`] and its answer back.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

use crate::config::Settings;
use crate::handler::Handler;
use crate::providers::Provider;
use crate::response::HttpResponse;
use crate::storage::{dynamodb_client, DynamoDbStore, MessageStore};

/// A provider's function, from start to finish: logging, settings and the DynamoDB client are
/// made once, during init, then invocations are served until the runtime stops.
pub async fn run<P: Provider>() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let settings = Settings::<P>::from_env();
    let table = settings
        .as_ref()
        .map(|s| s.table_name.clone())
        .unwrap_or_default();
    let store = DynamoDbStore::for_function(dynamodb_client(), table).await;
    serve(Handler::new(settings, store)).await
}

/// Serves invocations until the runtime stops. The handler reads the event itself (see
/// [`crate::request`]), so any JSON the runtime delivers gets an HTTP answer, never an error.
pub async fn serve<P: Provider, S: MessageStore + 'static>(
    handler: Handler<P, S>,
) -> Result<(), lambda_runtime::Error> {
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let handler = Arc::clone(&handler);
        async move {
            Ok::<HttpResponse, Infallible>(
                handler.handle_event(event.payload.get().as_bytes()).await,
            )
        }
    }))
    .await
}
