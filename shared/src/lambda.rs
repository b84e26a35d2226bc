//! The Lambda runtime glue: hand each raw event to the [`Handler`] and its answer back.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

use crate::handler::Handler;
use crate::response::HttpResponse;
use crate::store::MessageStore;

/// Serves invocations until the runtime stops. The handler reads the event itself (see
/// [`crate::request`]), so any JSON the runtime delivers gets an HTTP answer, never an error.
pub async fn serve<S: MessageStore + 'static>(
    handler: Handler<S>,
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
